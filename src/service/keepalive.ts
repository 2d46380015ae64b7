/**
 * Keep-alive for the process backend (no service manager): a tiny supervisor,
 * `node dist/service/keepalive.js '<json>'`, started detached in its own process
 * group by `start()`, so it outlives the oc-versions command that started it.
 *
 * It runs the launcher (its own process group, as before), records the gateway in
 * the pidfile (pid + start time, the same record the backend reads), and when the
 * gateway exits unexpectedly starts it again after a backoff (doubling per restart
 * within the window, capped), until more than `burst` exits within `intervalMs`:
 * then it records `crash-loop` and stops, like systemd's start limit.
 *
 * An exit during the first `graceMs` of the very first start is not retried
 * (`failed-start`: the launcher cannot run at all; start() reports it).
 * oc-versions' own stop signals the supervisor first (SIGTERM: it exits without
 * restarting anything), then drains the gateway's group: a stop is never a crash.
 * Its state is `<home>/service/keepalive.json` (no env values: those stay in memory).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeepAliveConfig } from '../core/config.js';
import type { Layout } from '../core/layout.js';
import { packageRootOf, readJson, writeJsonAtomic } from '../os/fs.js';
import { isAlive, isZombie, processStartTime, signalPid, sleep, spawnDetached, spawnDetachedWatched } from '../os/proc.js';

export const KEEPALIVE_DEFAULTS: KeepAliveConfig = { backoffMs: 1_000, maxBackoffMs: 30_000, burst: 5, intervalMs: 60_000 };

export type SupervisorState = 'running' | 'backoff' | 'crash-loop' | 'failed-start' | 'stopped';

export interface SupervisorRecord {
  pid: number;
  startTime: string | null;
  state: SupervisorState;
  /** Unexpected exits restarted so far. */
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  updatedAt: string;
  limits: KeepAliveConfig;
}

interface SupervisorArgs {
  stateFile: string;
  pidFile: string;
  logFile: string;
  cmd: string;
  args: string[];
  cwd?: string;
  graceMs: number;
  limits: KeepAliveConfig;
  /** Extra environment for the gateway only (the process backend's marker: the supervisor must not carry it). */
  childEnv?: Record<string, string>;
}

/**
 * Opt-in (`service.keepAlive: {}` or limits in config.json): unset or `false` is off. Why not on by
 * default yet: the supervisor changes which process spawns the gateway, and the updater's own
 * fault points between spawn and pidfile (the fault matrix, the random-kill test) are proven
 * without it; with it they are not yet (docs/service.md).
 */
export function keepAliveConfig(v: false | Partial<KeepAliveConfig> | undefined): KeepAliveConfig | null {
  if (v === false || v === undefined) return null;
  return { ...KEEPALIVE_DEFAULTS, ...v };
}

/**
 * tsc's dist/service/keepalive.js, also when this module runs from src/ (the tests) or from a
 * chunk of the CLI bundle (dist/chunks/): the supervisor is always that standalone file.
 */
function runnerPath(): string {
  return path.join(packageRootOf(import.meta.url), 'dist', 'service', 'keepalive.js');
}

export async function readSupervisor(layout: Layout): Promise<SupervisorRecord | undefined> {
  return readJson<SupervisorRecord>(layout.gatewaySupervisor).catch(() => undefined);
}

function supervisorAlive(rec: SupervisorRecord | undefined): boolean {
  if (!rec || !isAlive(rec.pid) || isZombie(rec.pid)) return false;
  const now = processStartTime(rec.pid);
  return rec.startTime === null || now === null || now === rec.startTime;
}

/** Start the supervisor (which starts the gateway); returns once the gateway is recorded. */
export async function startSupervised(
  layout: Layout,
  opts: { cmd: string; args: string[]; cwd?: string; env: NodeJS.ProcessEnv; graceMs: number; limits: KeepAliveConfig; childEnv?: Record<string, string>; onSpawned?: () => void },
): Promise<{ ok: true } | { ok: false; state: SupervisorState | 'gone' }> {
  await fsp.rm(layout.gatewayPid, { force: true });
  await fsp.rm(layout.gatewaySupervisor, { force: true });
  const a: SupervisorArgs = {
    stateFile: layout.gatewaySupervisor,
    pidFile: layout.gatewayPid,
    logFile: layout.gatewayLog,
    cmd: opts.cmd,
    args: opts.args,
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    graceMs: opts.graceMs,
    limits: opts.limits,
    ...(opts.childEnv ? { childEnv: opts.childEnv } : {}),
  };
  const pid = spawnDetached(process.execPath, [runnerPath(), JSON.stringify(a)], { env: opts.env, logFile: layout.gatewayLog });
  opts.onSpawned?.();
  // 1. The supervisor records the gateway (or reports why it could not run it).
  let child: number | null = null;
  for (const until = Date.now() + 10_000; child === null && Date.now() < until; ) {
    await sleep(25);
    const rec = await readSupervisor(layout);
    if (rec && (rec.state === 'failed-start' || rec.state === 'crash-loop')) return { ok: false, state: rec.state };
    const gw = await readJson<{ pid: number }>(layout.gatewayPid).catch(() => undefined);
    if (gw?.pid) child = gw.pid;
    else if (!isAlive(pid) || isZombie(pid)) return { ok: false, state: rec?.state ?? 'gone' };
  }
  if (child === null) return { ok: false, state: 'gone' };
  // 2. The gateway survives the grace period, watched here (not from the supervisor's event loop,
  //    which a loaded host may run late): an exit now means it cannot start at all.
  for (const until = Date.now() + opts.graceMs; Date.now() < until; ) {
    await sleep(25);
    if (!isAlive(child) || isZombie(child)) return { ok: false, state: 'failed-start' };
  }
  return { ok: true };
}

/**
 * Tell the supervisor to stop supervising. It records `stopped` at once and then only waits for
 * the gateway to exit (so it reaps it: in a container PID 1 may never reap an orphan), never
 * restarting it; the caller then drains the gateway's group.
 */
export async function stopSupervisor(layout: Layout): Promise<void> {
  const rec = await readSupervisor(layout);
  if (!rec || !supervisorAlive(rec)) return;
  signalPid(rec.pid, 'SIGTERM');
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline && isAlive(rec.pid) && !isZombie(rec.pid)) {
    if ((await readSupervisor(layout))?.state === 'stopped') return;
    await sleep(25);
  }
  if (isAlive(rec.pid) && !isZombie(rec.pid)) signalPid(rec.pid, 'SIGKILL');
}

/** For status: the supervisor's record, with `alive` (a dead supervisor in `running` died itself). */
export async function supervisorStatus(layout: Layout): Promise<(SupervisorRecord & { alive: boolean }) | null> {
  const rec = await readSupervisor(layout);
  return rec ? { ...rec, alive: supervisorAlive(rec) } : null;
}

// ---- the supervisor process itself -------------------------------------------------------

let stopRequested = false;


async function supervise(a: SupervisorArgs): Promise<void> {
  const me = { pid: process.pid, startTime: processStartTime(process.pid) };
  let stopping = false;
  let restarts = 0;
  let lastExit: SupervisorRecord['lastExit'] = null;
  const exits: number[] = [];
  const write = (state: SupervisorState) =>
    writeJsonAtomic(a.stateFile, { ...me, state, restarts, lastExit, updatedAt: new Date().toISOString(), limits: a.limits } satisfies SupervisorRecord, 0o644);
  let running: Promise<unknown> | null = null;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    stopRequested = true;
    // Synchronous: the record must say `stopped` before oc-versions drains the gateway.
    try {
      fs.writeFileSync(a.stateFile, JSON.stringify({ ...me, state: 'stopped', restarts, lastExit, updatedAt: new Date().toISOString(), limits: a.limits }));
    } catch {
      // the home is gone
    }
    // Stay until the gateway has exited, to reap it; in a backoff there is none.
    if (running) void running.then(() => process.exit(0));
    else process.exit(0);
  });
  process.on('SIGHUP', () => {});
  for (let first = true; !stopping; first = false) {
    const child = spawnDetachedWatched(a.cmd, a.args, { env: { ...process.env, ...(a.childEnv ?? {}) }, logFile: a.logFile, ...(a.cwd !== undefined ? { cwd: a.cwd } : {}) });
    running = child.exited;
    const startedAt = Date.now();
    await writeJsonAtomic(a.pidFile, { pid: child.pid, startTime: processStartTime(child.pid), startedAt: new Date(startedAt).toISOString() }, 0o644);
    if (!stopping) await write('running');
    const ex = await child.exited;
    running = null;
    if (stopping) return;
    lastExit = { code: ex.code, signal: ex.signal, at: new Date().toISOString() };
    await fsp.rm(a.pidFile, { force: true });
    if (first && Date.now() - startedAt < a.graceMs) {
      await write('failed-start');
      return;
    }
    const now = Date.now();
    exits.push(now);
    while (exits.length > 0 && now - exits[0]! > a.limits.intervalMs) exits.shift();
    if (exits.length > a.limits.burst) {
      await write('crash-loop');
      return;
    }
    restarts++;
    await write('backoff');
    const delay = Math.min(a.limits.backoffMs * 2 ** (exits.length - 1), a.limits.maxBackoffMs);
    const until = Date.now() + delay;
    while (!stopping && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
  }
}

function invokedAsMain(): boolean {
  try {
    return !!process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (invokedAsMain() && process.argv[2]) {
  void supervise(JSON.parse(process.argv[2]) as SupervisorArgs).then(
    // A stop in progress exits from its SIGTERM handler, once the gateway has been reaped.
    () => {
      if (!stopRequested) process.exit(0);
    },
    (e: unknown) => {
      console.error(`oc-versions keep-alive: ${String(e)}`);
      process.exit(1);
    },
  );
}
