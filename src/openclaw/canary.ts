/**
 * The canary (DESIGN.md step 4b, OPENCLAW_FACTS.md §7 "Canary"): before any downtime, the staged
 * version runs on a private copy of the OpenClaw state while the old gateway keeps serving.
 *
 * Order of operations (each a check in the result):
 *   1. record     canary/<id>.json {runnerPid, dir, port, pid, pgid, …} is written BEFORE the copy
 *                 dir exists and again right after the spawn, so `sweepCanary` can always find
 *                 what a killed runner left (a dir without a record is garbage by construction)
 *   2. copy       src/openclaw/state-copy.ts: the whole state dir beside it (clone, else a plain copy up
 *                 to canary.plainCopyMaxBytes; named in the record first) or the selective copy; config
 *                 with secret values as env references, SQLite databases as consolidated single files,
 *                 links re-pointed at the target; then the seal: HOME/XDG/TMPDIR in the canary's dir
 *   3. preflight  the target's own commands on the copy (config.canary.preflight), each with a
 *                 timeout; one it does not know ("unknown command/option") is `unsupported` and
 *                 skipped, a failure refuses before the gateway starts
 *   4. start      runtime node + the target's service entry + the service's gateway args, port and
 *                 bind replaced (free loopback port ≥ live + portOffset), in its own process group,
 *                 state/config env on the copy, channels/cron/auto-update/Bonjour off, the service's
 *                 other env (memory only), NODE_COMPILE_CACHE = layout.compileCache(version)
 *   5. probe      /startupz 200 "started" with the target version, then /readyz 200, both within
 *                 the allowance (measured start of the current version × factor, floored; else a
 *                 default); an exit, a wrong version or a foreign listener fails at once
 *   6. stop       SIGTERM to the process group, SIGKILL after stopGraceMs; then the copy dir and the
 *                 record are deleted, on success and on failure alike
 *
 * Invariants: nothing under the home holds a secret value (the config copy carries references,
 * the gateway's output is kept in memory and redacted before it leaves); the live state dir is
 * only read; only processes this module started are signalled, by process group, and a recorded
 * pid is signalled only after its start time and its argv/environ prove it is our canary.
 * runCanary never throws: it returns a result and the caller decides.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Config, PreflightCommand } from '../core/config.js';
import { writeJsonAtomic } from '../os/fs.js';
import { httpGet } from '../os/http.js';
import { fillUrl, type StageResult } from '../core/health.js';
import type { Layout } from '../core/layout.js';
import { isAlive, isGroupAlive, killGroup, ownsListener, pidsWithEnv, processArgvAnyOs, processEnviron, processStartTime, run, sleep, spawnGroupInMemory, type InMemoryChild } from '../os/proc.js';
import { resolveEntry } from '../core/store.js';
import { canClone, copyOpenClawState, stateSize, type StateCopy, type StateScope } from './state-copy.js';
import { SESSION_KEYS, sealEnv } from '../os/sealed-home.js';

/** Env marker carried by every canary process: how a sweep recognises one. */
export const CANARY_ENV = 'OC_VERSIONS_CANARY';

export interface CanaryInput {
  layout: Layout;
  /** runtimeNode, secretPattern, health URLs and the `canary` section are used. */
  config: Config;
  /** The staged, sealed target version (in versions/). */
  version: string;
  /** The live OpenClaw state dir (only read). */
  stateDir: string;
  /** The live config; default `<stateDir>/openclaw.json`. */
  configPath?: string | null;
  /** The port the live gateway serves on. */
  livePort: number;
  /** The service's program args after the entry, e.g. ['gateway', '--port', '18789']. */
  gatewayArgs?: readonly string[];
  /** The service's environment (inline + env files), in memory. */
  serviceEnv: Record<string, string>;
  /** How long the current version took to start (ms), when measured. */
  measuredStartMs?: number | null;
  /** Replaces secret values in text bound for output (the service's redactor). */
  redact: (text: string) => string;
  /** Transaction id (names the copy dir and the record); generated when absent. */
  id?: string;
}

export type CanaryCheckStatus = 'ok' | 'failed' | 'unsupported' | 'skipped';

export interface CanaryCheck {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
  status: CanaryCheckStatus;
}

export interface CanaryResult extends StageResult {
  name: 'canary';
  /** Spawn → /startupz started (ms); null when it never started. */
  startMs: number | null;
  allowanceMs: number;
  port: number | null;
  checks: CanaryCheck[];
  /** The canary gateway's last output lines, redacted. */
  log: string[];
  /** What it rehearsed on (null: it never got to copy the state). */
  scope: StateScope | null;
}

export interface CanaryRecord {
  id: string;
  version: string;
  runnerPid: number;
  runnerStart: string | null;
  dir: string;
  /**
   * The canary's scratch beside the live state dir (`<stateDir>.oc-canary.<id>`: its copy of the
   * state, its HOME, its TMPDIR), named here before it exists; null: none (then all of it is in `dir`).
   */
  beside?: string | null;
  port: number | null;
  pid: number | null;
  pgid: number | null;
  /** /proc start time of pid (null where unavailable). */
  procStart: string | null;
  startedAt: string | null;
}

export type ProgressFn = (msg: string) => void;

const LOG_LINES = 200;
const TAIL_IN_DETAIL = 12;
/** Service-identity and socket-activation env the canary must not inherit: it is not the service. */
const NOT_INHERITED = [
  'OPENCLAW_SERVICE_MARKER',
  'OPENCLAW_SERVICE_KIND',
  'OPENCLAW_LAUNCHD_LABEL',
  'OPENCLAW_SYSTEMD_UNIT',
  'OPENCLAW_WINDOWS_TASK_NAME',
  'LISTEN_FDS',
  'LISTEN_PID',
  'LISTEN_FDNAMES',
  'NOTIFY_SOCKET',
];
const UNKNOWN_COMMAND_RE = /unknown (command|option|subcommand)|unrecognized (command|option|arguments?)/i;
const FAILED_PREFLIGHT_RESULTS = new Set(['incompatible', 'indeterminate']);
/** Verdicts that say the target can open the copy (a migration at its start is what upgrades do). */
const PASSING_PREFLIGHT_RESULTS = new Set(['exact', 'startup-repairable', 'migration-required']);

function newCanaryId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `canary-${stamp}-${crypto.randomBytes(3).toString('hex')}`;
}

/** Allowance for /startupz + /readyz: measured start × factor, floored; else the default. */
export function canaryAllowanceMs(c: Config['canary'], measuredStartMs: number | null | undefined): number {
  if (measuredStartMs && measuredStartMs > 0) return Math.max(c.minAllowanceMs, Math.round(measuredStartMs * c.allowanceFactor));
  return c.defaultAllowanceMs;
}

/**
 * The service's gateway args with the port replaced (or added) and the bind forced to loopback
 * (added when absent: the copied config may say `gateway.bind: "lan"`, and the flag wins over it).
 */
export function canaryArgs(args: readonly string[] | undefined, port: number): string[] {
  const out = [...(args && args.length > 0 ? args : ['gateway'])];
  let hasPort = false;
  let hasBind = false;
  for (let i = 0; i < out.length; i++) {
    const a = out[i]!;
    if (a === '--port' && i + 1 < out.length) {
      out[++i] = String(port);
      hasPort = true;
    } else if (a.startsWith('--port=')) {
      out[i] = `--port=${port}`;
      hasPort = true;
    } else if (a === '--bind' && i + 1 < out.length) {
      out[++i] = 'loopback';
      hasBind = true;
    } else if (a.startsWith('--bind=')) {
      out[i] = '--bind=loopback';
      hasBind = true;
    }
  }
  if (!hasPort) out.push('--port', String(port));
  if (!hasBind) out.push('--bind', 'loopback');
  return out;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The first free loopback port at or above `from` (OpenClaw instances use base..base+110). */
export async function findCanaryPort(from: number, tries = 200): Promise<number | null> {
  for (let p = from; p < from + tries && p <= 65_535; p++) if (await portFree(p)) return p;
  return null;
}

/** Replace every value of `path` prefix `from` by `to` in env values (TMPDIR=<state>/tmp and the like). */
function rebaseEnv(env: Record<string, string>, from: string, to: string): void {
  for (const [k, v] of Object.entries(env)) {
    if (v === from || v.startsWith(from + path.sep)) env[k] = to + v.slice(from.length);
  }
}

/** SIGTERM the group, wait up to graceMs, then SIGKILL. Returns how it ended. */
async function stopGroup(pgid: number, graceMs: number, exited?: Promise<void>): Promise<string> {
  const t0 = Date.now();
  killGroup(pgid, 'SIGTERM');
  while (Date.now() - t0 < graceMs && isGroupAlive(pgid)) await sleep(50);
  if (!isGroupAlive(pgid)) {
    if (exited) await exited;
    return `stopped on SIGTERM in ${Date.now() - t0} ms`;
  }
  killGroup(pgid, 'SIGKILL');
  const t1 = Date.now();
  while (Date.now() - t1 < 5_000 && isGroupAlive(pgid)) await sleep(50);
  if (exited) await Promise.race([exited, sleep(2_000)]);
  return isGroupAlive(pgid) ? `still alive after SIGKILL` : `SIGKILLed after ${graceMs} ms without exiting`;
}

function fillArgs(args: readonly string[], vars: Record<string, string>): string[] {
  return args.map((a) => a.replace(/\{(db|agentId|stateDir|config|version)\}/g, (all, k: string) => vars[k] ?? all));
}

function lastLine(text: string): string {
  return (text.trim().split('\n').pop() ?? '').slice(0, 300);
}

/** A preflight command's verdict from its exit code, JSON and stderr. */
function judgePreflight(
  cmd: PreflightCommand,
  r: Awaited<ReturnType<typeof run>>,
  timeoutMs: number,
): { status: CanaryCheckStatus; detail: string } {
  if (r.error) return { status: 'failed', detail: `could not run: ${r.error.message}` };
  if (r.timedOut) return { status: 'failed', detail: `timed out after ${timeoutMs} ms` };
  let json: Record<string, unknown> | null = null;
  try {
    const parsed = JSON.parse(r.stdout) as unknown;
    if (parsed && typeof parsed === 'object') json = parsed as Record<string, unknown>;
  } catch {
    // not JSON
  }
  const result = typeof json?.['result'] === 'string' ? (json['result'] as string) : null;
  const reason = typeof json?.['reason'] === 'string' ? `: ${json['reason'] as string}` : '';
  const findings = Array.isArray(json?.['findings']) ? (json['findings'] as unknown[]) : [];
  const okCodes = cmd.okExitCodes ?? [0];
  // The verdict, not the exit code, decides (a release may exit non-zero on "migration-required").
  if (result && PASSING_PREFLIGHT_RESULTS.has(result)) return { status: 'ok', detail: `result ${result}${r.code ? ` (exit ${r.code})` : ''}` };
  if (r.code !== null && okCodes.includes(r.code)) {
    if (result && FAILED_PREFLIGHT_RESULTS.has(result)) return { status: 'failed', detail: `result ${result}${reason}` };
    if (json?.['ok'] === false) return { status: 'failed', detail: `ok: false${findings.length ? ` (${findings.length} finding(s))` : ''}` };
    return { status: 'ok', detail: result ? `result ${result}` : `exit ${r.code}` };
  }
  if (!json && UNKNOWN_COMMAND_RE.test(r.stderr)) return { status: 'unsupported', detail: `not known to this version: ${lastLine(r.stderr)}` };
  if (result) return { status: 'failed', detail: `exit ${r.code}, result ${result}${reason}` };
  if (findings.length) {
    const first = findings[0] as Record<string, unknown>;
    const msg = typeof first?.['message'] === 'string' ? first['message'] : JSON.stringify(first).slice(0, 200);
    return { status: 'failed', detail: `exit ${r.code}, ${findings.length} finding(s), first: ${msg}` };
  }
  const err = lastLine(r.stderr) || lastLine(r.stdout);
  return { status: 'failed', detail: `exit ${r.code}${err ? `: ${err}` : ''}` };
}

/**
 * Run the canary for `input.version`. Never throws; `ok: false` means refuse the upgrade (the old
 * gateway is untouched), with the failing check and the gateway's redacted log tail in `detail`.
 */
export async function runCanary(input: CanaryInput, onProgress: ProgressFn = () => {}): Promise<CanaryResult> {
  const t0 = Date.now();
  const { layout, config, version } = input;
  const c = config.canary;
  const allowanceMs = canaryAllowanceMs(c, input.measuredStartMs);
  const checks: CanaryCheck[] = [];
  const result = (ok: boolean, detail: string, extra: Partial<CanaryResult> = {}): CanaryResult => ({
    name: 'canary',
    ok,
    ms: Date.now() - t0,
    detail,
    startMs: null,
    allowanceMs,
    port: null,
    checks,
    log: [],
    scope: null,
    ...extra,
  });
  if (!c.enabled) return result(true, 'skipped: canary.enabled is false');

  let id: string;
  let dir: string;
  let recordFile: string;
  try {
    id = input.id ?? newCanaryId();
    dir = layout.canary(id);
    recordFile = layout.canaryRecord(id);
  } catch (e) {
    return result(false, `canary: ${(e as Error).message}`);
  }
  const secrets = new Set<string>();
  const redact = (text: string): string => {
    let out = input.redact(text);
    for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
    return out;
  };
  const record: CanaryRecord = {
    id,
    version,
    runnerPid: process.pid,
    runnerStart: processStartTime(process.pid),
    dir,
    beside: null,
    port: null,
    pid: null,
    pgid: null,
    procStart: null,
    startedAt: null,
  };
  const check = (name: string, status: CanaryCheckStatus, ms: number, detail: string): CanaryCheck => {
    const ck = { name, ok: status !== 'failed', ms, detail: redact(detail), status };
    checks.push(ck);
    return ck;
  };

  let gw: InMemoryChild | null = null;
  /** Where its state copy, HOME and TMPDIR live: beside the live state dir, else `dir` under the home. */
  let scratch = dir;
  let scope: StateScope | null = null;
  let scopeText = '';
  let port: number | null = null;
  let startMs: number | null = null;
  let verdict: { ok: boolean; detail: string };
  try {
    await fsp.mkdir(layout.canaryDir, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(recordFile, record, 0o600);
    await fsp.mkdir(dir, { mode: 0o700 });

    // 2. copy: the whole state beside it where it can (clone, else a small plain copy), else part of it
    onProgress(`canary: copying the OpenClaw state of ${input.stateDir}`);
    let copy: StateCopy;
    const tc = Date.now();
    let whole: { clone: boolean; exclude: readonly string[] } | null = null;
    let scopeWhy = '';
    try {
      ({ whole, why: scopeWhy } = await chooseScope(input.stateDir, c, id, record, recordFile));
      scratch = record.beside ?? dir;
      copy = await copyOpenClawState({
        layout,
        version,
        liveStateDir: input.stateDir,
        liveConfigPath: input.configPath ?? null,
        secretPattern: config.secretPattern,
        copyDir: path.join(scratch, 'state'),
        whole,
      });
    } catch (e) {
      check('copy state', 'failed', Date.now() - tc, (e as Error).message);
      return await finish({ ok: false, detail: `canary: copying the state failed: ${redact((e as Error).message)}` });
    }
    scope = copy.scope;
    scopeText = scopeWords(copy.scope, input.stateDir, whole?.exclude ?? [], scopeWhy);
    const secretKey = new RegExp(config.secretPattern, 'i');
    for (const v of Object.values(copy.secretEnv)) secrets.add(v);
    for (const [k, v] of [...Object.entries(copy.dotenv), ...Object.entries(input.serviceEnv)]) if (secretKey.test(k)) secrets.add(v);
    check(
      'copy state',
      'ok',
      Date.now() - tc,
      `${scopeText}: config ${copy.configPath ? `(${Object.keys(copy.secretEnv).length} secret value(s) as env references)` : 'absent'}; ` +
        `${copy.databases.length} database(s) ${copy.databases.map((d) => d.rel).join(', ')}; ` +
        `plugins ${copy.pluginDirs.join(', ') || '(none)'}; ${copy.relinked.length} link(s) re-pointed` +
        (copy.dangling.length ? `; dangling in ${version}: ${copy.dangling.join(', ')}` : ''),
    );

    // The canary's environment: the service's, with the state on the copy and the world switched off.
    const env: Record<string, string> = { ...copy.dotenv, ...input.serviceEnv };
    for (const k of NOT_INHERITED) delete env[k];
    rebaseEnv(env, path.resolve(input.stateDir), copy.stateDir);
    Object.assign(env, copy.secretEnv, {
      OPENCLAW_STATE_DIR: copy.stateDir,
      OPENCLAW_CONFIG_PATH: copy.configPath ?? path.join(copy.stateDir, 'openclaw.json'),
      OPENCLAW_SKIP_CHANNELS: '1',
      OPENCLAW_SKIP_CRON: '1',
      OPENCLAW_NO_AUTO_UPDATE: '1',
      OPENCLAW_DISABLE_BONJOUR: '1',
      OPENCLAW_SUPERVISOR_MODE: 'external',
      NODE_COMPILE_CACHE: layout.compileCache(version),
      [CANARY_ENV]: id,
    });
    env['PATH'] ??= '/usr/local/bin:/usr/bin:/bin';
    delete env['OPENCLAW_GATEWAY_PORT'];
    // Sealed: HOME, the XDG dirs and TMPDIR inside the canary's dir, no session bus, so a version
    // that rewrites its LaunchAgent, unit or profile at start rewrites the canary's own (issue 31).
    // What it needs of a home is its state dir at the default place.
    const ts = Date.now();
    const home = path.join(scratch, 'home');
    Object.assign(env, await sealEnv(env, home, path.join(scratch, 'tmp')));
    for (const k of SESSION_KEYS) delete env[k];
    await fsp.symlink(copy.stateDir, path.join(home, '.openclaw'));
    check('seal', 'ok', Date.now() - ts, `HOME=${home}, XDG_CONFIG_HOME/DATA/STATE/CACHE/RUNTIME_DIR and TMPDIR under ${scratch}; ~/.openclaw → the copy; session bus and agents not inherited`);

    const bin = resolveEntry(layout, version, 'bin');
    const entry = resolveEntry(layout, version, 'service') ?? bin;
    if (!bin || !entry) {
      check('entry', 'failed', 0, `${version} has no CLI bin / service entry in ${layout.version(version)}`);
      return await finish({ ok: false, detail: `canary: ${version} is not installed (no entry in ${layout.version(version)})` });
    }

    // 3. preflight
    let refused: string | null = null;
    for (const cmd of c.preflight) {
      const targets =
        cmd.perDatabase === undefined
          ? [null]
          : copy.databases.filter((d) => cmd.perDatabase === 'all' || d.kind === cmd.perDatabase);
      for (const db of targets) {
        const label = db ? `${cmd.name} ${db.rel}` : cmd.name;
        const timeoutMs = cmd.timeoutMs ?? c.timeoutMs;
        const args = fillArgs(cmd.args, {
          db: db?.copy ?? '',
          agentId: db?.agentId ?? '',
          stateDir: copy.stateDir,
          config: env['OPENCLAW_CONFIG_PATH']!,
          version,
        });
        onProgress(`canary: ${label}`);
        const r = await run(config.runtimeNode, [bin, ...args], { env, cwd: scratch, timeoutMs });
        const v = judgePreflight(cmd, r, timeoutMs);
        check(label, v.status, r.ms, v.detail);
        if (v.status === 'unsupported') break; // the command is unknown for every database alike
        if (v.status === 'failed') refused ??= db ? `${cmd.name} refused the database ${db.rel}: ${v.detail}` : `${cmd.name} failed: ${v.detail}`;
      }
    }
    if (refused) return await finish({ ok: false, detail: `canary: ${redact(refused)}` });

    // 4. start
    const tp = Date.now();
    port = await findCanaryPort(input.livePort + c.portOffset);
    if (port === null) {
      check('port', 'failed', Date.now() - tp, `no free loopback port at or above ${input.livePort + c.portOffset}`);
      return await finish({ ok: false, detail: `canary: no free loopback port at or above ${input.livePort + c.portOffset}` });
    }
    await fsp.mkdir(env['NODE_COMPILE_CACHE']!, { recursive: true, mode: 0o700 });
    const args = canaryArgs(input.gatewayArgs, port);
    onProgress(`canary: starting ${version} on 127.0.0.1:${port} (allowance ${allowanceMs} ms)`);
    const spawnedAt = Date.now();
    gw = spawnGroupInMemory(config.runtimeNode, [entry, ...args], { ...env, OPENCLAW_GATEWAY_PORT: String(port) }, scratch);
    Object.assign(record, { port, pid: gw.pid, pgid: gw.pid, procStart: processStartTime(gw.pid), startedAt: new Date().toISOString() });
    await writeJsonAtomic(recordFile, record, 0o600);

    // 5. probe
    const deadline = spawnedAt + allowanceMs;
    const startUrl = fillUrl(config.health.versionUrl, port);
    const readyUrl = fillUrl(config.health.readinessUrl ?? 'http://127.0.0.1:{port}/readyz', port);
    let why = 'no answer yet';
    let failedFast: string | null = null;
    while (Date.now() < deadline && startMs === null && !failedFast) {
      if (gw.exit) {
        failedFast = `the gateway exited (${gw.exit.signal ?? `code ${gw.exit.code}`}) before /startupz reported started`;
        break;
      }
      const res = await httpGet(startUrl, 2_000);
      if (!res) why = `${startUrl} did not answer`;
      else {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(res.body) as Record<string, unknown>;
        } catch {
          // not JSON
        }
        const reported = body[config.health.versionField];
        if (res.status !== 200 || (body['status'] !== undefined && body['status'] !== 'started')) {
          why = `${startUrl} answered ${res.status} ${String(body['status'] ?? '')}`.trim();
        } else if (reported !== version) {
          failedFast = `${startUrl} reports version ${JSON.stringify(reported)}, expected ${version}`;
        } else if (ownsListener(gw.pid, port).ok === false) {
          failedFast = `port ${port} is answered by a process that is not the canary`;
        } else startMs = Date.now() - spawnedAt;
      }
      if (startMs === null && !failedFast) await sleep(100);
    }
    if (startMs === null) {
      const reason = failedFast ?? `/startupz not started within ${allowanceMs} ms: ${why}`;
      check('startupz', 'failed', Date.now() - spawnedAt, reason);
      return await finish({ ok: false, detail: `canary: ${reason}` });
    }
    check('startupz', 'ok', startMs, `started, version ${version}, in ${startMs} ms`);
    const tr = Date.now();
    let readyWhy = 'no answer yet';
    let ready = false;
    while (Date.now() < deadline && !gw.exit) {
      const res = await httpGet(readyUrl, 2_000);
      if (res?.status === 200) {
        ready = true;
        break;
      }
      if (!res) readyWhy = `${readyUrl} did not answer`;
      else {
        let failing = '';
        try {
          const f = (JSON.parse(res.body) as { failing?: unknown }).failing;
          if (Array.isArray(f) && f.length) failing = `, failing: ${f.map(String).join(', ')}`;
        } catch {
          // not JSON
        }
        readyWhy = `${readyUrl} answered ${res.status}${failing}`;
      }
      await sleep(100);
    }
    if (!ready) {
      const reason = gw.exit ? `the gateway exited (${gw.exit.signal ?? `code ${gw.exit.code}`}) before /readyz answered 200` : `not ready within the ${allowanceMs} ms allowance: ${readyWhy}`;
      check('readyz', 'failed', Date.now() - tr, reason);
      return await finish({ ok: false, detail: `canary: ${reason}` });
    }
    check('readyz', 'ok', Date.now() - tr, `${readyUrl} → 200`);
    return await finish({ ok: true, detail: `canary: ${version} started on a copy of the state in ${startMs} ms (allowance ${allowanceMs} ms) and is ready` });
  } catch (e) {
    check('canary', 'failed', Date.now() - t0, (e as Error).message);
    return await finish({ ok: false, detail: `canary: ${redact((e as Error).message)}` });
  }

  /** Stop the gateway, delete the copy and the record, and build the result. */
  async function finish(v: { ok: boolean; detail: string }): Promise<CanaryResult> {
    verdict = v;
    let cleanupError: string | null = null;
    if (gw) {
      const ts = Date.now();
      const how = gw.exit ? `had exited (${gw.exit.signal ?? `code ${gw.exit.code}`})` : await stopGroup(gw.pid, c.stopGraceMs, gw.exited);
      // Children of an exited leader may still hold the group.
      if (gw.exit && isGroupAlive(gw.pid)) await stopGroup(gw.pid, c.stopGraceMs);
      check('stop', isGroupAlive(gw.pid) ? 'failed' : 'ok', Date.now() - ts, how);
    }
    try {
      await fsp.rm(dir, { recursive: true, force: true });
      if (record.beside) await fsp.rm(record.beside, { recursive: true, force: true });
      if (!gw || !isGroupAlive(gw.pid)) await fsp.rm(recordFile, { force: true });
    } catch (e) {
      cleanupError = (e as Error).message;
    }
    const log = gw ? gw.lines.slice(-LOG_LINES).map(redact) : [];
    let detail = verdict.detail;
    if (scopeText) detail += ` (rehearsed on ${scopeText})`;
    if (!verdict.ok && log.length) detail += `; gateway log ends: ${log.slice(-TAIL_IN_DETAIL).join(' | ')}`;
    if (cleanupError) detail += `; cleanup: ${cleanupError}`;
    const stopFailed = checks.some((x) => x.name === 'stop' && !x.ok);
    onProgress(`canary: ${verdict.ok && !stopFailed ? 'passed' : 'failed'} in ${Date.now() - t0} ms`);
    return result(verdict.ok && !stopFailed && !cleanupError, redact(detail), { startMs, port, log, scope });
  }
}

/**
 * The scratch of canary `id` beside the live state dir, on its filesystem, never under the home:
 * the state copy (`state/`), the sealed HOME (`home/`) and TMPDIR (`tmp/`). Beside, because a
 * version run there may write secret values (its environment has them) into what it thinks is its
 * home or state, and the state's own secret files are cloned into it: the user's home already holds
 * all of those, the oc-versions home must hold none (invariant 4).
 */
export function besideStateDir(stateDir: string, id: string): string {
  return `${path.resolve(stateDir)}.oc-canary.${id}`;
}

/** Create the scratch beside the state dir, named in the record first (a sweep finds it after a SIGKILL); null when it cannot be. */
async function makeBeside(stateDir: string, id: string, record: CanaryRecord, recordFile: string): Promise<{ dir: string | null; why: string }> {
  const beside = besideStateDir(stateDir, id);
  record.beside = beside;
  await writeJsonAtomic(recordFile, record, 0o600);
  try {
    await fsp.mkdir(beside, { mode: 0o700 });
    return { dir: beside, why: '' };
  } catch (e) {
    record.beside = null;
    await writeJsonAtomic(recordFile, record, 0o600);
    return { dir: null, why: `nothing can be written beside ${stateDir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
}

/**
 * Which scope the canary rehearses on (docs/upgrade-and-rollback.md#canary): the whole state as
 * copy-on-write clones when its filesystem clones; else the whole state copied plainly when it is
 * at most `plainCopyMaxBytes`; else (or when nothing can be written beside it) the selective copy.
 */
async function chooseScope(
  stateDir: string,
  c: Config['canary'],
  id: string,
  record: CanaryRecord,
  recordFile: string,
): Promise<{ whole: { clone: boolean; exclude: readonly string[] } | null; why: string }> {
  const beside = await makeBeside(stateDir, id, record, recordFile);
  if (!beside.dir) return { whole: null, why: beside.why };
  if (c.wholeState === false) return { whole: null, why: 'canary.wholeState is false' };
  if (!fs.existsSync(stateDir)) return { whole: null, why: `${stateDir} does not exist` };
  const exclude = Array.isArray(c.stateExclude) ? c.stateExclude : [];
  if (await canClone(stateDir, beside.dir)) return { whole: { clone: true, exclude }, why: '' };
  const limit = typeof c.plainCopyMaxBytes === 'number' ? c.plainCopyMaxBytes : 0;
  const size = await stateSize(stateDir, exclude, limit);
  if (size <= limit) return { whole: { clone: false, exclude }, why: `${mib(size)} MiB, at most canary.plainCopyMaxBytes ${mib(limit)} MiB` };
  return { whole: null, why: `its filesystem cannot clone and it is over canary.plainCopyMaxBytes (${mib(limit)} MiB)` };
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0);
}

/** The scope, said for the stage detail. */
function scopeWords(scope: StateScope, stateDir: string, exclude: readonly string[], why: string): string {
  const without = exclude.length ? `, without ${exclude.join(', ')}` : '';
  if (scope === 'whole-clone') return `the whole state of ${stateDir}, cloned copy-on-write beside it${without}`;
  if (scope === 'whole-copy') return `the whole state of ${stateDir}, copied beside it (its filesystem cannot clone; ${why})${without}`;
  return `part of the state of ${stateDir}: the config, the databases and the plugins (${why})`;
}

/**
 * Run `fn` with `env` sealed into a scratch dir (HOME, XDG dirs, TMPDIR; no session bus): for a
 * command of a version that is not serving yet outside the canary itself (the handoff probe).
 * Beside `stateDir` when there is one (as the canary's, and named in a record first: the next
 * sweep removes it after a SIGKILL), else `canary/<id>/` (no record: a sweep removes it as garbage).
 */
export async function withSealedScratch<T>(
  layout: Layout,
  id: string,
  stateDir: string | null,
  env: NodeJS.ProcessEnv,
  fn: (env: NodeJS.ProcessEnv, cwd: string) => Promise<T>,
): Promise<T> {
  const recordFile = layout.canaryRecord(id);
  const record: CanaryRecord = { id, version: '', runnerPid: process.pid, runnerStart: processStartTime(process.pid), dir: layout.canary(id), beside: null, port: null, pid: null, pgid: null, procStart: null, startedAt: null };
  let dir = record.dir;
  if (stateDir) {
    await fsp.mkdir(layout.canaryDir, { recursive: true, mode: 0o700 });
    dir = (await makeBeside(stateDir, id, record, recordFile)).dir ?? dir;
  }
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    return await fn(await sealEnv(env, path.join(dir, 'home'), path.join(dir, 'tmp')), dir);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.rm(recordFile, { force: true });
  }
}

function readRecord(file: string): CanaryRecord | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as CanaryRecord;
  } catch {
    return null;
  }
}

/** Is `pid` the canary of `rec`, not a process that reused its pid? */
async function isOurCanary(layout: Layout, rec: CanaryRecord, pid: number, recordedStart: string | null): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const start = processStartTime(pid);
  if (recordedStart !== null && start !== null && start !== recordedStart) return false;
  const environ = processEnviron(pid);
  if (environ) return environ.get(CANARY_ENV) === rec.id;
  // No /proc environ (macOS): the argv must run a file of the versions tree AND carry the canary's
  // port -- the live gateway also runs from versions/, and must never be mistaken for a canary.
  const argv = await processArgvAnyOs(pid);
  if (!argv || rec.port === null) return false;
  const port = String(rec.port);
  return argv.some((a) => a.startsWith(layout.versionsDir + path.sep)) && argv.some((a, i) => a === `--port=${port}` || (a === '--port' && argv[i + 1] === port));
}

export interface SweepReport {
  /** Canary ids whose record was handled. */
  swept: string[];
  /** Pids signalled (verified canaries only). */
  killed: number[];
  /** Dirs removed. */
  removed: string[];
  /** Ids left alone because their runner is still alive. */
  running: string[];
}

/**
 * Clean up after runners that died: for each record whose runner is gone, kill the canary's
 * process group if (and only if) it is still our canary, then delete its copy and its record.
 * Copy dirs without a record are garbage (the record is written first) and are removed.
 */
export async function sweepCanary(layout: Layout, opts: { graceMs?: number } = {}): Promise<SweepReport> {
  const report: SweepReport = { swept: [], killed: [], removed: [], running: [] };
  let names: string[];
  try {
    names = await fsp.readdir(layout.canaryDir);
  } catch {
    return report;
  }
  const recorded = new Set<string>();
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const id = name.slice(0, -'.json'.length);
    let recordFile: string;
    let dir: string;
    try {
      recordFile = layout.canaryRecord(id);
      dir = layout.canary(id);
    } catch {
      continue; // not a canary record name
    }
    recorded.add(id);
    const rec = readRecord(recordFile);
    if (rec && rec.id === id && rec.runnerPid !== process.pid && isAlive(rec.runnerPid)) {
      const start = processStartTime(rec.runnerPid);
      if (rec.runnerStart === null || start === null || start === rec.runnerStart) {
        report.running.push(id);
        continue;
      }
    }
    if (rec && rec.id === id) {
      const victims = new Set<number>();
      if (rec.pid && (await isOurCanary(layout, rec, rec.pid, rec.procStart))) victims.add(rec.pid);
      for (const pid of pidsWithEnv(CANARY_ENV, id)) if (await isOurCanary(layout, rec, pid, null)) victims.add(pid);
      for (const pid of victims) {
        // The leader is its group (spawned detached); other marked pids are signalled one by one.
        if (pid === rec.pgid) await stopGroup(pid, opts.graceMs ?? 3_000);
        else {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        report.killed.push(pid);
      }
    }
    if (fs.existsSync(dir)) {
      await fsp.rm(dir, { recursive: true, force: true });
      report.removed.push(dir);
    }
    // The scratch beside the live state: only a path of our own naming is ever removed.
    const beside = rec?.id === id && typeof rec.beside === 'string' ? rec.beside : null;
    if (beside && path.isAbsolute(beside) && path.basename(beside).endsWith(`.oc-canary.${id}`) && fs.existsSync(beside)) {
      await fsp.rm(beside, { recursive: true, force: true });
      report.removed.push(beside);
    }
    await fsp.rm(recordFile, { force: true });
    report.swept.push(id);
  }
  for (const name of names) {
    if (name.endsWith('.json') || recorded.has(name)) continue;
    const p = path.join(layout.canaryDir, name);
    try {
      if (!(await fsp.lstat(p)).isDirectory()) continue;
      layout.canary(name);
    } catch {
      continue;
    }
    await fsp.rm(p, { recursive: true, force: true });
    report.removed.push(p);
  }
  return report;
}
