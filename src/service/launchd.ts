/**
 * The `launchd` backend: a LaunchAgent in the `gui/<uid>` domain, driven with
 * `launchctl bootstrap / bootout / kickstart [-k] / print`.
 *
 * launchd runs the job as *loaded*: a plist rewritten on disk takes effect only
 * after bootout + bootstrap (reload()). restart() is `kickstart -k`, which keeps
 * the job loaded, so an updater that dies mid-upgrade never leaves it unloaded.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import { run, sleep, type RunResult } from '../os/proc.js';
import { entryOfPid, firstLine, readTextOrNull, versionOfEntry, writeFileAtomicKeepMode } from './common.js';
import { definitionToPlist, parsePlist, plistToDefinition } from './plist.js';
import { installRecoveryAgent, uninstallRecoveryAgent, recoveryAgentProgram } from './recovery-agent.js';
import type { Backend, ServiceContext, ServiceManager, ServiceStatus, StopOptions } from './types.js';

export const DEFAULT_LAUNCHD_LABEL = 'ai.openclaw.gateway';
/** launchctl's "Could not find service" / ESRCH exits. */
const NOT_FOUND_CODES = new Set([3, 113]);

export function launchAgentsDir(env: NodeJS.ProcessEnv): string {
  const home = env['HOME'];
  if (!home) throw new OcError('ENVIRONMENT', 'HOME is not set; cannot locate ~/Library/LaunchAgents');
  return path.join(home, 'Library', 'LaunchAgents');
}

export interface LaunchctlPrint {
  pid: number | null;
  state: string | null;
  lastExitCode: string | null;
  program: string | null;
}

/** Parse the few fields we use from `launchctl print gui/<uid>/<label>`. */
export function parseLaunchctlPrint(text: string): LaunchctlPrint {
  // Top-level fields are indented by one tab; nested blocks (environment, ...) deeper.
  const field = (name: string): string | null => {
    const m = new RegExp(`^\\t${name} = (.*)$`, 'm').exec(text);
    return m ? m[1]!.trim() : null;
  };
  const pid = field('pid');
  return { pid: pid && /^\d+$/.test(pid) ? Number(pid) : null, state: field('state'), lastExitCode: field('last exit code'), program: field('program') };
}

export function createLaunchdManager(ctx: ServiceContext): ServiceManager {
  const label = ctx.label ?? DEFAULT_LAUNCHD_LABEL;
  if (!/^[A-Za-z0-9._-]+$/.test(label)) throw new OcError('INVALID_INPUT', `'${label}' is not a launchd label`);
  const definitionPath = ctx.definitionPath ?? path.join(launchAgentsDir(ctx.env), `${label}.plist`);
  const uid = ctx.uid ?? process.getuid?.() ?? 501;
  const domain = `gui/${uid}`;
  const target = `${domain}/${label}`;

  const launchctl = async (args: string[], timeoutMs = 30_000): Promise<RunResult> => {
    const r = await run('launchctl', args, { env: ctx.env, timeoutMs });
    if (r.error) {
      throw new OcError('SERVICE_ERROR', `cannot run launchctl: ${r.error.message}`, { hint: 'the launchd backend needs macOS; use --manager process' });
    }
    return r;
  };
  const fail = (what: string, r: RunResult): OcError =>
    new OcError('SERVICE_ERROR', `launchctl ${what} ${target} failed (exit ${r.code ?? r.signal}): ${firstLine(r.stderr || r.stdout)}`);

  async function loaded(): Promise<boolean> {
    const r = await launchctl(['print', target]);
    return r.code === 0;
  }

  async function requireDefinition(): Promise<void> {
    if ((await readTextOrNull(definitionPath)) === null) {
      throw new OcError('NOT_FOUND', `no LaunchAgent '${label}': ${definitionPath} does not exist`, {
        hint: 'check --label, or run oc-versions service install / adopt',
      });
    }
  }

  async function bootout(timeoutMs: number): Promise<void> {
    const r = await launchctl(['bootout', target], timeoutMs);
    if (r.code !== 0 && !NOT_FOUND_CODES.has(r.code ?? -1)) throw fail('bootout', r);
    // bootout returns before the label is gone on a busy host: wait for it.
    for (let i = 0; i < 50 && (await loaded()); i++) await sleep(100);
  }

  async function bootstrap(): Promise<void> {
    let last: RunResult | undefined;
    // "Bootstrap failed: 5: Input/output error" is often transient right after a bootout.
    for (let attempt = 0; attempt < 4; attempt++) {
      last = await launchctl(['bootstrap', domain, definitionPath]);
      if (last.code === 0) return;
      if (await loaded()) return;
      await sleep(250 * (attempt + 1));
    }
    throw fail('bootstrap', last!);
  }

  const mgr: ServiceManager = {
    kind: 'launchd',
    label,
    definitionPath,

    async readDefinition() {
      const text = await readTextOrNull(definitionPath);
      return text === null ? null : plistToDefinition(text, definitionPath);
    },

    async writeDefinition(def) {
      await writeFileAtomicKeepMode(definitionPath, definitionToPlist({ ...def, label }), 0o644);
    },

    async reload() {
      await bootout(60_000);
      await bootstrap();
    },

    async install(def) {
      await mgr.writeDefinition(def);
      if (def.stdoutPath) await fsp.mkdir(path.dirname(def.stdoutPath), { recursive: true });
      await mgr.reload();
    },

    async uninstall() {
      await bootout(60_000);
      await fsp.rm(definitionPath, { force: true });
    },

    async start() {
      await requireDefinition();
      if (!(await loaded())) return bootstrap();
      const r = await launchctl(['kickstart', target]);
      if (r.code !== 0) throw fail('kickstart', r);
    },

    async stop(o: StopOptions = {}) {
      // Unload: with KeepAlive, `launchctl stop/kill` would just be undone by launchd.
      await bootout((o.drainMs ?? 20_000) + 30_000);
    },

    async restart(o: StopOptions = {}) {
      await requireDefinition();
      if (!(await loaded())) return bootstrap();
      const r = await launchctl(['kickstart', '-k', target], (o.drainMs ?? 20_000) + 30_000);
      if (r.code !== 0) throw fail('kickstart -k', r);
    },

    async status(): Promise<ServiceStatus> {
      const installed = (await readTextOrNull(definitionPath)) !== null;
      const r = await launchctl(['print', target]);
      const p = r.code === 0 ? parseLaunchctlPrint(r.stdout) : null;
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
  adopt: {
    // The Label inside the plist names the job.
    async labelOf(definitionPath) {
      let text: string;
      try {
        text = await fsp.readFile(definitionPath, 'utf8');
      } catch {
        throw new OcError('NOT_FOUND', `${definitionPath} does not exist`);
      }
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
