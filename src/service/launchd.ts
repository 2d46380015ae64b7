/**
 * The `launchd` backend: a LaunchAgent in the `gui/<uid>` domain, driven with
 * `launchctl bootstrap / bootout / kickstart / enable / disable / print / print-disabled`.
 *
 * launchd runs the job as *loaded*: a plist rewritten on disk takes effect only
 * after bootout + bootstrap (reload()). What launchd really does, and what each step
 * below defends against (docs/service.md#launchd-behaviours, one row each):
 * - `bootout` is asynchronous: the job stays in `print` (state SIGTERMed) until it has
 *   drained or launchd SIGKILLs it after its ExitTimeOut. We wait for "not loaded" AND the
 *   old pid gone before anything else (a stop, a restore of state, a bootstrap).
 * - `bootstrap` fails with 5 while the old instance is still going away (we wait for it, then
 *   retry 5 for up to 30 s like OpenClaw), with 37 / "already exists" when it is loaded (we probe
 *   and accept our own plist), and with 5 when the label is disabled: we `enable` first and put
 *   the user's disabled override back afterwards, and say so.
 * - `kickstart -k` kills with SIGKILL: restart() drains instead (SIGTERM to the job's pid, wait
 *   up to the drain budget, then `kickstart`), and the label stays loaded throughout.
 * - no GUI session (SSH): `gui/<uid>` does not exist (125): every command refuses up front
 *   with one line and the fix, before anything is written.
 */
import fsp from 'node:fs/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromFsError, OcError } from '../errors.js';
import { isRunning, run, signalPid, sleep, type RunResult } from '../os/proc.js';
import { entryOfPid, firstLine, readTextOrNull, versionOfEntry, writeFileAtomicKeepMode } from './common.js';
import { plistXmlOf } from './bplist.js';
import { definitionToPlist, parsePlist, plistToDefinition } from './plist.js';
import { installRecoveryAgent, uninstallRecoveryAgent, recoveryAgentProgram } from './recovery-agent.js';
import type { Backend, ServiceContext, ServiceManager, ServiceStatus, StopOptions } from './types.js';

export const DEFAULT_LAUNCHD_LABEL = 'ai.openclaw.gateway';
/** launchctl's "Could not find service" (113) / "No such process" (3, bootout of a job not loaded). */
const NOT_FOUND_CODES = new Set([3, 113]);
/** "Domain does not support specified action" / "Could not find domain": no GUI login session. */
const NO_DOMAIN = 125;
/** "Input/output error": bootstrap while the old instance is still being booted out, or disabled. */
const EIO = 5;
/** "Operation already in progress": bootstrap of a loaded job, or two bootstraps racing. */
const ALREADY = 37;
/** "Operation now in progress": a bootout is already under way. */
const BOOTOUT_UNDER_WAY = 36;
/** launchd's ExitTimeOut when the plist names none (launchd.plist(5)). */
const DEFAULT_EXIT_TIMEOUT_S = 20;
/** How long bootstrap retries error 5 on a job that is not visibly going away (OpenClaw: 30 s). */
const BOOTSTRAP_RETRY_MS = 30_000;
/** Beyond the job's ExitTimeOut: launchd's own SIGKILL and reaping. */
const GONE_MARGIN_MS = 10_000;

export function launchAgentsDir(env: NodeJS.ProcessEnv): string {
  const home = env['HOME'];
  if (!home) throw new OcError('ENVIRONMENT', 'HOME is not set; cannot locate ~/Library/LaunchAgents');
  return path.join(home, 'Library', 'LaunchAgents');
}

/** A plist's XML text, binary plists converted (plutil where present); null when the file does not exist. */
async function readPlistXml(file: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromFsError(e, `reading ${file}`) ?? e;
  }
  return plistXmlOf(bytes, file, env);
}

export interface LaunchctlPrint {
  pid: number | null;
  state: string | null;
  lastExitCode: string | null;
  program: string | null;
  /** The plist the job was loaded from (`path =`). */
  path: string | null;
  /** `exit timeout =` (the loaded ExitTimeOut), seconds. */
  exitTimeoutS: number | null;
  runs: number | null;
  /** The loaded job's `environment = { K => V }` block (values as launchd prints them). */
  environment: Record<string, string>;
}

/** Parse the fields we use from `launchctl print gui/<uid>/<label>`. */
export function parseLaunchctlPrint(text: string): LaunchctlPrint {
  // Top-level fields are indented by one tab; nested blocks (environment, ...) deeper.
  const field = (name: string): string | null => {
    const m = new RegExp(`^\\t${name} = (.*)$`, 'm').exec(text);
    return m ? m[1]!.trim() : null;
  };
  const num = (v: string | null): number | null => (v && /^\d+(\.\d+)?$/.test(v) ? Number(v) : null);
  const environment: Record<string, string> = {};
  const block = /^\tenvironment = \{\n([\s\S]*?)^\t\}/m.exec(text);
  for (const line of block?.[1]?.split('\n') ?? []) {
    const m = /^\t\t([^=\s][^=]*?) => (.*)$/.exec(line);
    if (m) environment[m[1]!] = m[2]!;
  }
  const pid = num(field('pid'));
  return {
    pid: pid !== null && Number.isInteger(pid) ? pid : null,
    state: field('state'),
    lastExitCode: field('last exit code') ?? field('last terminating signal'),
    program: field('program'),
    path: field('path'),
    exitTimeoutS: num(field('exit timeout')),
    runs: num(field('runs')),
    environment,
  };
}

/** `launchctl print-disabled gui/<uid>`: whether `label` has a disabled override (`=> disabled`, or `=> true` before macOS 11). */
export function labelDisabled(printDisabled: string, label: string): boolean {
  for (const line of printDisabled.split('\n')) {
    const m = /^\s*"(.+)" => (\S+)\s*$/.exec(line);
    if (m && m[1] === label) return m[2] === 'disabled' || m[2] === 'true';
  }
  return false;
}

/** The job is on its way out (bootout under way): launchd shows the signal it sent. */
function goingAway(p: LaunchctlPrint): boolean {
  return /^SIG|exiting/i.test(p.state ?? '');
}

/**
 * PATH, HOME and TMPDIR for a fresh LaunchAgent: launchd gives a job only
 * /usr/bin:/bin:/usr/sbin:/sbin, so the gateway's children would not find Homebrew's tools.
 * Homebrew's bin directories come first where they exist (like OpenClaw's own service env).
 */
export function launchdBaseEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const prefixes = [...new Set([env['HOMEBREW_PREFIX'], '/opt/homebrew', '/usr/local'].filter((p): p is string => Boolean(p)))];
  const brew = prefixes.flatMap((p) => [path.join(p, 'bin'), path.join(p, 'sbin')]).filter((d) => fs.existsSync(d));
  const dirs = [...new Set([...brew, '/usr/bin', '/bin', '/usr/sbin', '/sbin'])];
  const out: Record<string, string> = { PATH: dirs.join(':') };
  if (env['HOME']) out['HOME'] = env['HOME'];
  out['TMPDIR'] = env['TMPDIR'] || os.tmpdir();
  return out;
}

export function createLaunchdManager(ctx: ServiceContext): ServiceManager {
  const label = ctx.label ?? DEFAULT_LAUNCHD_LABEL;
  if (!/^[A-Za-z0-9._-]+$/.test(label)) throw new OcError('INVALID_INPUT', `'${label}' is not a launchd label`);
  const definitionPath = ctx.definitionPath ?? path.join(launchAgentsDir(ctx.env), `${label}.plist`);
  const uid = ctx.uid ?? process.getuid?.() ?? 501;
  const domain = `gui/${uid}`;
  const target = `${domain}/${label}`;
  const note = ctx.note ?? (() => {});

  const launchctl = async (args: string[], timeoutMs = 30_000): Promise<RunResult> => {
    const r = await run('launchctl', args, { env: ctx.env, timeoutMs });
    if (r.error) {
      throw new OcError('SERVICE_ERROR', `cannot run launchctl: ${r.error.message}`, { hint: 'the launchd backend needs macOS; use --manager process' });
    }
    if (r.code === NO_DOMAIN || /could not find domain/i.test(r.stderr)) throw noGuiDomain();
    return r;
  };
  const noGuiDomain = (): OcError =>
    new OcError('SERVICE_ERROR', `launchd has no GUI session for this user (${domain} does not exist: no graphical login, e.g. over SSH); nothing was changed`, {
      hint: 'log in to this Mac graphically (a LaunchAgent runs in your login session) and retry, or use --manager process',
    });
  const fail = (what: string, r: RunResult): OcError =>
    new OcError('SERVICE_ERROR', `launchctl ${what} ${target} failed (exit ${r.code ?? r.signal}): ${firstLine(r.stderr || r.stdout)}`);

  let domainChecked = false;
  /** Before anything is written: the GUI domain exists (`launchctl print gui/<uid>`). */
  async function requireDomain(): Promise<void> {
    if (domainChecked) return;
    await launchctl(['print', domain]);
    domainChecked = true;
  }

  async function printJob(): Promise<LaunchctlPrint | null> {
    const r = await launchctl(['print', target]);
    return r.code === 0 ? parseLaunchctlPrint(r.stdout) : null;
  }

  async function requireDefinition(): Promise<void> {
    if ((await readTextOrNull(definitionPath)) === null) {
      throw new OcError('NOT_FOUND', `no LaunchAgent '${label}': ${definitionPath} does not exist`, {
        hint: 'check --label, or run oc-versions service install / adopt',
      });
    }
  }

  /** ocm's "stale" check: the job loaded under our label must be our plist. */
  async function requireOurPlist(p: LaunchctlPrint): Promise<void> {
    if (!p.path) return;
    const real = async (f: string): Promise<string> => fsp.realpath(f).catch(() => path.resolve(f));
    if ((await real(p.path)) !== (await real(definitionPath))) {
      throw new OcError('SERVICE_ERROR', `launchd has ${label} loaded from ${p.path}, not from ${definitionPath}`, {
        hint: `another plist uses this label: unload it (launchctl bootout ${target}) or choose another --label`,
      });
    }
  }

  /** Wait until launchd no longer has the job AND its old process is gone. */
  async function waitGone(pid: number | null, limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const p = await printJob();
      const pidGone = pid === null || !isRunning(pid);
      if (!p && pidGone) return;
      if (Date.now() > deadline) {
        throw new OcError('SERVICE_ERROR', `launchd still has ${label} ${p ? `loaded (state ${p.state ?? '?'})` : `process ${pid} running`} ${Math.round(limitMs / 1000)} s after bootout`, {
          hint: `check launchctl print ${target}; the gateway did not exit after SIGTERM and launchd's SIGKILL`,
        });
      }
      await sleep(100);
    }
  }

  async function bootout(budgetMs: number): Promise<void> {
    const before = await printJob();
    if (!before) return;
    const r = await launchctl(['bootout', target]);
    if (r.code !== 0 && r.code !== BOOTOUT_UNDER_WAY && !NOT_FOUND_CODES.has(r.code ?? -1)) throw fail('bootout', r);
    // Asynchronous: launchd SIGTERMs the job and SIGKILLs it after its ExitTimeOut.
    await waitGone(before.pid, Math.max(budgetMs, 1000 * (before.exitTimeoutS ?? DEFAULT_EXIT_TIMEOUT_S)) + GONE_MARGIN_MS);
  }

  /** launchd does not create the log files' directories: a job whose log dir is missing never starts. */
  async function ensureLogDirs(): Promise<void> {
    const text = await readPlistXml(definitionPath, ctx.env).catch(() => null);
    if (text === null) return;
    let doc: Record<string, unknown>;
    try {
      doc = parsePlist(text, definitionPath);
    } catch {
      return;
    }
    for (const k of ['StandardOutPath', 'StandardErrorPath']) {
      const f = doc[k];
      if (typeof f === 'string' && path.isAbsolute(f)) await fsp.mkdir(path.dirname(f), { recursive: true });
    }
  }

  async function bootstrap(): Promise<void> {
    await ensureLogDirs();
    const deadline = Date.now() + BOOTSTRAP_RETRY_MS;
    for (;;) {
      const r = await launchctl(['bootstrap', domain, definitionPath]);
      if (r.code === 0) break;
      const p = r.code === EIO || r.code === ALREADY || /already exists/i.test(r.stderr) ? await printJob() : null;
      if (p && goingAway(p)) {
        // The previous instance is still draining: bootstrap works once it is gone.
        await waitGone(p.pid, 1000 * (p.exitTimeoutS ?? DEFAULT_EXIT_TIMEOUT_S) + GONE_MARGIN_MS);
        continue;
      }
      if (p) {
        // Already loaded (37 / "already exists", or a racing bootstrap won): fine if it is ours.
        await requireOurPlist(p);
        break;
      }
      if ((r.code !== EIO && r.code !== ALREADY) || Date.now() > deadline) throw fail('bootstrap', r);
      await sleep(500);
    }
    await kickIfNotStarted();
  }

  /** A loaded job that has not started (no RunAtLoad, or a throttled respawn) is started now. */
  async function kickIfNotStarted(): Promise<void> {
    const p = await printJob();
    if (!p || p.pid !== null) return;
    if (p.runs === 0 || p.state === 'spawn scheduled') await kickstart();
  }

  async function kickstart(): Promise<void> {
    const r = await launchctl(['kickstart', target]);
    if (r.code !== 0) throw fail('kickstart', r);
  }

  /**
   * A disabled label (launchctl disable, OpenClaw's update parking, the app's toggle) refuses
   * bootstrap and kickstart: enable it for `what`, then put the user's override back.
   */
  async function withEnabled<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const r = await launchctl(['print-disabled', domain]);
    const disabled = r.code === 0 && labelDisabled(r.stdout, label);
    if (!disabled) return fn();
    const en = await launchctl(['enable', target]);
    if (en.code !== 0) throw fail('enable', en);
    try {
      return await fn();
    } finally {
      const dis = await launchctl(['disable', target]);
      note(
        dis.code === 0
          ? `${label} was disabled in launchd (launchctl disable): enabled it to ${what}, then disabled it again, so it will not start at your next login (launchctl enable ${target} to change that)`
          : `${label} was disabled in launchd: enabled it to ${what}, but could not disable it again (${firstLine(dis.stderr)}); run launchctl disable ${target} to put that back`,
      );
    }
  }

  /** SIGTERM the job's process and wait for it to drain (SIGKILL after the budget). The label stays loaded. */
  async function drainProcess(pid: number, drainMs: number): Promise<void> {
    signalPid(pid, 'SIGTERM');
    const deadline = Date.now() + drainMs;
    while (isRunning(pid) && Date.now() < deadline) await sleep(50);
    if (isRunning(pid)) {
      signalPid(pid, 'SIGKILL');
      while (isRunning(pid)) await sleep(50);
    }
  }

  /**
   * The loaded job (ours, not on its way out), or null after loading it: not loaded, or still
   * going away from a bootout (then wait for it to be gone first).
   */
  async function loadedElseBootstrap(): Promise<LaunchctlPrint | null> {
    const p = await printJob();
    if (p) await requireOurPlist(p);
    if (p && !goingAway(p)) return p;
    if (p) await waitGone(p.pid, 1000 * (p.exitTimeoutS ?? DEFAULT_EXIT_TIMEOUT_S) + GONE_MARGIN_MS);
    await bootstrap();
    return null;
  }

  const drainOf = (o: StopOptions): number => o.drainMs ?? ctx.drainMs ?? DEFAULT_EXIT_TIMEOUT_S * 1000;

  const mgr: ServiceManager = {
    kind: 'launchd',
    label,
    definitionPath,

    ready: requireDomain,

    async loadedEnv() {
      return (await printJob())?.environment ?? null;
    },

    async readDefinition() {
      const text = await readPlistXml(definitionPath, ctx.env);
      return text === null ? null : plistToDefinition(text, definitionPath);
    },

    async writeDefinition(def) {
      await requireDomain();
      await writeFileAtomicKeepMode(definitionPath, definitionToPlist({ ...def, label }), 0o644);
    },

    async reload() {
      await requireDomain();
      await withEnabled('load it', async () => {
        await bootout(drainOf({}));
        await bootstrap();
      });
    },

    async install(def) {
      await requireDomain();
      await mgr.writeDefinition(def);
      await mgr.reload();
    },

    async uninstall() {
      await requireDomain();
      await bootout(drainOf({}));
      await fsp.rm(definitionPath, { force: true });
    },

    async start() {
      await requireDomain();
      await requireDefinition();
      await withEnabled('start it', async () => {
        const p = await loadedElseBootstrap();
        if (p && p.pid === null) await kickstart();
      });
    },

    async stop(o: StopOptions = {}) {
      await requireDomain();
      // Unload: with KeepAlive, `launchctl stop/kill` would just be undone by launchd. The
      // drain is bounded by the job's ExitTimeOut (launchd SIGKILLs after it).
      await bootout(drainOf(o));
    },

    async restart(o: StopOptions = {}) {
      await requireDomain();
      await requireDefinition();
      await withEnabled('restart it', async () => {
        const p = await loadedElseBootstrap();
        if (!p) return;
        // Not `kickstart -k` (SIGKILL, no drain): SIGTERM, wait, then start it at once (KeepAlive
        // alone would wait out ThrottleInterval). The label stays loaded throughout.
        if (p.pid !== null) await drainProcess(p.pid, drainOf(o));
        await kickstart();
      });
    },

    async status(): Promise<ServiceStatus> {
      await requireDomain();
      const installed = (await readTextOrNull(definitionPath)) !== null;
      const p = await printJob();
      const pid = p?.pid ?? null;
      const entry = pid ? await entryOfPid(pid) : null;
      const log = installed ? (await mgr.readDefinition().catch(() => null))?.stderrPath : undefined;
      return {
        manager: 'launchd',
        label,
        installed,
        running: pid !== null && p?.state === 'running',
        pid,
        entry,
        version: versionOfEntry(entry, ctx.layout.versionsDir),
        definitionPath,
        state: p?.state ?? 'not loaded',
        ...(p?.lastExitCode ? { lastExitCode: p.lastExitCode } : {}),
        // Not running, and its last run exited non-zero (KeepAlive restarts it, throttled).
        ...(log ? { log } : {}),
        crashLoop: pid === null && /^-?\d+$/.test(p?.lastExitCode ?? '') && p?.lastExitCode !== '0',
      };
    },
  };
  return mgr;
}

export const launchdBackend: Backend = {
  kind: 'launchd',
  defaultLabel: DEFAULT_LAUNCHD_LABEL,
  create: (ctx) => createLaunchdManager(ctx),
  identityEnv: (label) => ({ OPENCLAW_LAUNCHD_LABEL: label }),
  defaultLogPath: (env) => path.join(path.dirname(launchAgentsDir(env)), 'Logs', 'openclaw', 'gateway.log'),
  restartAfterReload: false,
  freshEnv: launchdBaseEnv,
  adopt: {
    // The Label inside the plist names the job.
    async labelOf(definitionPath, env) {
      const text = await readPlistXml(definitionPath, env);
      if (text === null) throw new OcError('NOT_FOUND', `${definitionPath} does not exist`);
      const l = parsePlist(text, definitionPath)['Label'];
      if (typeof l !== 'string' || l === '') throw new OcError('INVALID_INPUT', `${definitionPath} has no Label`);
      return l;
    },
  },
  recoveryAgent: {
    install: (layout, config, env) => installRecoveryAgent(createLaunchdManager, layout, config, env),
    uninstall: (layout, env) => uninstallRecoveryAgent(createLaunchdManager, layout, env),
    program: (layout, env) => recoveryAgentProgram(createLaunchdManager, layout, env),
  },
};
