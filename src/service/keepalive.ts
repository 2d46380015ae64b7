/**
 * Keep-alive for the process backend (no service manager): a tiny supervisor,
 * `<runtime node> <home>/lib/oc-versions-<v>-<hash>/dist/keepalive.mjs '<json>'` (the home's
 * sealed copy, src/service/home-lib.ts; entry src/service/keepalive-main.ts), started detached in its own process
 * group by `start()`, so it outlives the oc-versions command that started it.
 * On by default for the process backend (`service.keepAlive: false` or
 * `service install --no-keep-alive` turns it off).
 *
 * It runs the launcher (its own process group, as before), records the gateway in
 * the pidfile (pid + start time, the same record the backend reads), and when the
 * gateway exits unexpectedly starts it again after a backoff (doubling per restart
 * within the window, capped), until more than `burst` exits within `intervalMs`:
 * then it records `crash-loop` and stops, like systemd's start limit.
 *
 * An exit during the first `graceMs` of the very first start is not retried
 * (`failed-start`: the launcher cannot run at all; start() reports it).
 *
 * oc-versions' own stop is never a crash (the stop protocol):
 *  1. the stop intent `<home>/service/keepalive.stop` is written first: a supervisor that finds it
 *     (before any spawn, after any exit of its gateway) never starts a gateway again, whatever
 *     order the signals and exits reach it in;
 *  2. every supervisor of this home gets SIGTERM: the one its record names, and any other found by
 *     its mark (OC_VERSIONS_SUPERVISOR=<label>@<home> in its environment, a group leader whose
 *     command line names the home) — so one an updater spawned and was SIGKILLed before it was
 *     recorded is stopped too, instead of starting a second gateway beside recovery's;
 *  3. the gateways are drained; each supervisor exits once its gateway has (it reaps it), and the
 *     stop waits for that, so when it returns no supervisor of this home is left.
 * `start()` removes the intent just before it starts a new supervisor.
 * Its state is `<home>/service/keepalive.json` (no env values: those stay in memory).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { KeepAliveConfig } from '../core/config.js';
import type { Layout } from '../core/layout.js';
import { preloadAtomicWriter, readJson, writeJsonAtomic } from '../os/fs.js';
import { consumeHandoff, CONSUME_TIMEOUT_MS, type ConsumeResult } from '../core/handoff.js';
import {
  findMarkedLeaders,
  isRunning,
  killGroup,
  processStartTime,
  signalPid,
  sleep,
  spawnDetached,
  spawnDetachedWatched,
  spawnStandby,
  type Standby,
} from '../os/proc.js';

/** The supervisor's mark (its value is the gateway's: `<label>@<home>`); the gateway does not inherit it. */
export const SUPERVISOR_MARKER_KEY = 'OC_VERSIONS_SUPERVISOR';

export const KEEPALIVE_DEFAULTS: KeepAliveConfig = { backoffMs: 1_000, maxBackoffMs: 30_000, burst: 5, intervalMs: 60_000 };

/** `consuming`: the gateway exited 0 and its restart handoff is being consumed (docs/service.md#the-restart-handoff). */
export type SupervisorState = 'running' | 'consuming' | 'backoff' | 'crash-loop' | 'failed-start' | 'stopped';

/** The last restart handoff this supervisor consumed (after a clean exit of its gateway). */
export interface HandoffRecord {
  /** The gateway that exited (the expected pid). */
  pid: number;
  status: ConsumeResult['status'];
  reason: string | null;
  /** What the supervisor did: restarted at once, or the policy for an unexpected exit. */
  action: 'restarted' | 'policy';
  at: string;
  detail: string;
}

export interface SupervisorRecord {
  pid: number;
  startTime: string | null;
  state: SupervisorState;
  /** Unexpected exits restarted so far. */
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  /** Unexpected exits within the last `limits.intervalMs` (absent in records of older supervisors). */
  recentExits?: number;
  /** Accepted restart handoffs (restarts at once, never counted above). */
  handoffs?: number;
  lastHandoff?: HandoffRecord | null;
  updatedAt: string;
  limits: KeepAliveConfig;
}

interface SupervisorArgs {
  stateFile: string;
  pidFile: string;
  /** The stop intent: while it exists, never start the gateway again. */
  stopFile: string;
  logFile: string;
  cmd: string;
  args: string[];
  cwd?: string;
  graceMs: number;
  limits: KeepAliveConfig;
  /** Extra environment for the gateway only (the process backend's marker: the supervisor must not carry it). */
  childEnv?: Record<string, string>;
  /** A restart's hand-over: start the gateway only once the old job is gone (see HandOver). */
  handOver?: HandOver;
  /** Consume OpenClaw's restart handoff after a clean exit (the program is the home's launcher). */
  handoff?: HandoffArgs;
}

/**
 * The restart handoff (docs/service.md#the-restart-handoff): `cmd` is the home's launcher, which runs
 * `gateway restart-handoff consume` on the version dir OC_VERSIONS_VERSION_DIR names, with the
 * gateway's node and environment. `current` is read just before each spawn: the version that gateway runs.
 */
export interface HandoffArgs {
  current: string;
  timeoutMs?: number;
}

/**
 * A restart's hand-over (process backend, keep-alive on). The restart spawns the new supervisor
 * *before* it drains the old gateway, so the supervisor's own node start overlaps the drain
 * instead of adding to the outage. The new supervisor starts nothing until:
 *  - every process in `pids` (the old supervisors and gateways) is gone, and
 *  - the stop intent still carries `token` (the restart's own stop: another stop or start since
 *    means it must not start), and it says `drained` (the restart finished its drain and reap,
 *    so it will not take the new gateway for an old one) or the restarter is dead (nobody left to
 *    say it; the old processes being gone is all the drain there is).
 * It then removes the stop intent and runs as any supervisor. A SIGTERM while it waits (a stop or
 * a recovery found it by its mark), or `deadline` passing, ends it without starting anything.
 *
 * With `standby` (the launcher honours one: docs/service.md#the-standby) it spawns the launcher at
 * once with a barrier: node boots while the old gateway still serves and parks before any code of
 * the gateway runs; the ready file names it (the restart's drain leaves it alone), and when the
 * old job is gone the supervisor lets it go instead of spawning a gateway then. So the new node's
 * start is not part of the outage. Released unused (no go, a stop, this supervisor gone: its
 * socket closes), it exits without running anything.
 */
export interface HandOver {
  pids: number[];
  token: string;
  restarter: number;
  /** Epoch ms. */
  deadline: number;
  /** Boot the gateway's node as a standby while the old job drains (the launcher takes one). */
  standby?: boolean;
  /**
   * Written (with the token) once this supervisor is booted and waiting: the restart drains the
   * old gateway only then, so the supervisor's node start is never part of the outage.
   */
  readyFile: string;
}

/** The stop intent: written by every stop (and a restart), read by every supervisor. */
export interface StopIntent {
  pid: number;
  at: string;
  /** A restart's hand-over token (HandOver.token). */
  token?: string;
  /** The restart has drained the old job: its hand-over may start. */
  drained?: boolean;
}

/**
 * Opt-in (`service.keepAlive: {}` or limits in config.json): unset or `false` is off. Why not on by
 * default yet: the supervisor changes which process spawns the gateway, and the updater's own
 * fault points between spawn and pidfile (the fault matrix, the random-kill test) are proven
 * without it; with it they are not yet (docs/service.md).
 */
export function keepAliveConfig(v: false | Partial<KeepAliveConfig> | undefined): KeepAliveConfig | null {
  if (v === false) return null;
  return { ...KEEPALIVE_DEFAULTS, ...(v ?? {}) };
}

export async function readSupervisor(layout: Layout): Promise<SupervisorRecord | undefined> {
  return readJson<SupervisorRecord>(layout.gatewaySupervisor).catch(() => undefined);
}

function supervisorAlive(rec: SupervisorRecord | undefined): boolean {
  if (!rec || !isRunning(rec.pid)) return false;
  const now = processStartTime(rec.pid);
  return rec.startTime === null || now === null || now === rec.startTime;
}

interface SpawnOptions {
  /** The node the supervisor runs on (config.runtimeNode: never one inside a checkout, docs/service.md). */
  node: string;
  /** The supervisor program: the home's rendered copy (ensureHomeLib().keepalive). */
  runner: string;
  cmd: string;
  args: string[];
  cwd?: string;
  env: NodeJS.ProcessEnv;
  graceMs: number;
  limits: KeepAliveConfig;
  /** The supervisor's mark (`<label>@<home>`): found by it even before it has written its record. */
  marker: string;
  childEnv?: Record<string, string>;
  onSpawned?: () => void;
  handOver?: HandOver;
  handoff?: HandoffArgs;
}

/** Spawn a supervisor (detached, its own process group); returns its pid. */
export function spawnSupervisor(layout: Layout, opts: SpawnOptions): number {
  const a: SupervisorArgs = {
    stateFile: layout.gatewaySupervisor,
    pidFile: layout.gatewayPid,
    stopFile: layout.gatewayStopIntent,
    logFile: layout.gatewayLog,
    cmd: opts.cmd,
    args: opts.args,
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    graceMs: opts.graceMs,
    limits: opts.limits,
    ...(opts.childEnv ? { childEnv: opts.childEnv } : {}),
    ...(opts.handOver ? { handOver: opts.handOver } : {}),
    ...(opts.handoff ? { handoff: opts.handoff } : {}),
  };
  const pid = spawnDetached(opts.node, [opts.runner, JSON.stringify(a)], { env: { ...opts.env, [SUPERVISOR_MARKER_KEY]: opts.marker }, logFile: layout.gatewayLog });
  opts.onSpawned?.();
  return pid;
}

/** Start the supervisor (which starts the gateway); returns once the gateway is recorded. */
export async function startSupervised(layout: Layout, opts: Omit<SpawnOptions, 'handOver'>): Promise<{ ok: true } | { ok: false; state: SupervisorState | 'gone' }> {
  await fsp.rm(layout.gatewayPid, { force: true });
  await fsp.rm(layout.gatewaySupervisor, { force: true });
  await fsp.rm(layout.gatewayStopIntent, { force: true });
  return awaitSupervisedGateway(layout, spawnSupervisor(layout, opts), opts.graceMs, []);
}

/**
 * Wait until supervisor `pid` has recorded a gateway (one not in `old`: a hand-over's pidfile may
 * still name the old gateway) and that gateway survived `graceMs`.
 */
export async function awaitSupervisedGateway(
  layout: Layout,
  pid: number,
  graceMs: number,
  old: readonly number[],
): Promise<{ ok: true } | { ok: false; state: SupervisorState | 'gone' }> {
  // 1. The supervisor records the gateway (or reports why it could not run it). A loaded host may
  //    take seconds to boot it: waiting is cheaper than a failed start, and it is watched meanwhile.
  let child: number | null = null;
  for (const until = Date.now() + 30_000; child === null && Date.now() < until; ) {
    await sleep(5);
    const rec = await readSupervisor(layout);
    if (rec && rec.pid === pid && (rec.state === 'failed-start' || rec.state === 'crash-loop')) return { ok: false, state: rec.state };
    const gw = await readJson<{ pid: number }>(layout.gatewayPid).catch(() => undefined);
    if (gw?.pid && !old.includes(gw.pid)) child = gw.pid;
    else if (!isRunning(pid)) return { ok: false, state: rec?.pid === pid ? rec.state : 'gone' };
  }
  if (child === null) return { ok: false, state: 'gone' };
  // 2. The gateway survives the grace period, watched here (not from the supervisor's event loop,
  //    which a loaded host may run late): an exit now means it cannot start at all.
  for (const until = Date.now() + graceMs; Date.now() < until; ) {
    await sleep(25);
    if (!isRunning(child)) return { ok: false, state: 'failed-start' };
  }
  return { ok: true };
}

/**
 * Every live supervisor of this home: the one its record names, and any other carrying this
 * home's mark (one an updater spawned and died before it was recorded).
 */
export async function liveSupervisors(layout: Layout, marker: string, homeNames: readonly string[]): Promise<number[]> {
  const rec = await readSupervisor(layout);
  const pids = new Set<number>(rec && supervisorAlive(rec) ? [rec.pid] : []);
  for (const p of await findMarkedLeaders(SUPERVISOR_MARKER_KEY, marker, homeNames)) pids.add(p.pid);
  return [...pids];
}

/**
 * Steps 1 and 2 of the stop protocol: write the stop intent, then SIGTERM every supervisor of this
 * home. Each records `stopped` and waits for its gateway to exit (to reap it: in a container PID 1
 * may never reap an orphan), never restarting it; the caller drains the gateways, then waits for
 * the returned supervisors with `reapSupervisors`.
 */
export async function stopSupervisors(layout: Layout, marker: string, homeNames: readonly string[], token?: string): Promise<number[]> {
  await fsp.mkdir(path.dirname(layout.gatewayStopIntent), { recursive: true });
  const intent: StopIntent = { pid: process.pid, at: new Date().toISOString(), ...(token ? { token } : {}) };
  await writeJsonAtomic(layout.gatewayStopIntent, intent, 0o644);
  const pids = await liveSupervisors(layout, marker, homeNames);
  for (const p of pids) signalPid(p, 'SIGTERM');
  return pids;
}

/**
 * A restart has drained the old job: its hand-over supervisor `next` may start (if the intent is
 * still its own). The mark only coordinates live processes (after a power loss there is no hand-over
 * left to start), so it is renamed into place without an fsync, which would sit inside the outage;
 * then `next` is woken (SIGUSR2) instead of finding it at its next poll.
 */
export async function markDrained(layout: Layout, token: string, next?: number): Promise<void> {
  const intent = await readJson<StopIntent>(layout.gatewayStopIntent).catch(() => undefined);
  if (intent?.token !== token) return;
  await writeJsonAtomic(layout.gatewayStopIntent, { ...intent, drained: true } satisfies StopIntent, 0o644, { durable: false });
  if (next !== undefined && isRunning(next)) signalPid(next, 'SIGUSR2');
}

/**
 * Step 3: wait for the supervisors to exit (they do once their gateway has). `drainMore` is called
 * now and then meanwhile: a supervisor that had just spawned a gateway when the stop began waits
 * for that one, which the caller's first drain may not have seen. SIGKILL what is left. Returns
 * true when one had to be killed: only then can a gateway it had just spawned be left (one that
 * exits by itself has reaped its last gateway first; after the stop intent it spawns no other).
 */
export async function reapSupervisors(pids: readonly number[], drainMore: () => Promise<void>, waitMs = 5_000): Promise<boolean> {
  for (let until = Date.now() + waitMs, next = Date.now() + 500; pids.some(isRunning) && Date.now() < until; ) {
    await sleep(5);
    if (Date.now() >= next) {
      await drainMore();
      next = Date.now() + 500;
    }
  }
  const left = pids.filter(isRunning);
  for (const p of left) signalPid(p, 'SIGKILL');
  for (const until = Date.now() + 2_000; pids.some(isRunning) && Date.now() < until; ) await sleep(25);
  return left.length > 0;
}

/** For status: the supervisor's record, with `alive` (a dead supervisor in `running` died itself). */
export async function supervisorStatus(layout: Layout): Promise<(SupervisorRecord & { alive: boolean }) | null> {
  const rec = await readSupervisor(layout);
  return rec ? { ...rec, alive: supervisorAlive(rec) } : null;
}

// ---- the supervisor process itself -------------------------------------------------------

let stopRequested = false;

/** A small coordination file (stop intent, ready file) read synchronously; absent or unreadable: undefined. */
function readSmallJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The stop intent is a restart's (it carries a hand-over token). */
function handingOver(stopFile: string): boolean {
  return typeof readSmallJson<StopIntent>(stopFile)?.token === 'string';
}

/** What the hand-over supervisor's ready file says. */
interface HandOverReady {
  pid: number;
  token: string;
  /** Its standby's pid (the restart's drain must leave it alone). */
  standby?: number;
}

/**
 * Until the hand-over supervisor `pid` is booted and waiting (its ready file), or gone: its
 * standby's pid (null without one), or false if it is gone or late.
 */
export async function awaitHandOverReady(readyFile: string, pid: number, token: string, waitMs = 15_000): Promise<number | null | false> {
  for (const until = Date.now() + waitMs; Date.now() < until; ) {
    const r = readSmallJson<Partial<HandOverReady>>(readyFile);
    if (r?.pid === pid && r.token === token) return typeof r.standby === 'number' ? r.standby : null;
    if (!isRunning(pid)) return false;
    await sleep(5);
  }
  return false;
}

/** The restart's SIGUSR2 (markDrained): look again now instead of at the next poll. */
let wake: () => void = () => {};

/** The hand-over's wait (HandOver); true: start the gateway now. */
async function awaitHandOver(h: HandOver, stopFile: string): Promise<boolean> {
  while (Date.now() < h.deadline) {
    if (!h.pids.some(isRunning)) {
      const intent = readSmallJson<StopIntent>(stopFile);
      if (!intent) return false; // removed: a start since has its own supervisor
      if (intent.token !== h.token) return false; // another stop since
      if (intent.drained || !isRunning(h.restarter)) return true;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 5);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    wake = () => {};
  }
  return false;
}

/** One line in the gateway's log (the supervisor's stdout goes there). */
function say(line: string): void {
  process.stdout.write(`oc-versions keep-alive: ${line}\n`);
}

/**
 * Consume the handoff gateway `pid` wrote, through the launcher pinned to the version that gateway
 * ran (`dir`), with the gateway's environment (less the marks that name a gateway: the consume is
 * not one) in external mode.
 */
async function consumeAfterExit(a: SupervisorArgs, pid: number, dir: string | null, childEnv: NodeJS.ProcessEnv, consuming: () => Promise<void>): Promise<ConsumeResult> {
  const none = (detail: string): ConsumeResult => ({ status: 'error', reason: 'not-consumed', handoffPid: null, exitCode: null, source: null, detail });
  if (!a.handoff) return none('this service program does not consume restart handoffs (not the home launcher)');
  if (!dir) return none(`the version the gateway ran is unknown (${a.handoff.current} did not resolve)`);
  await consuming();
  const env: NodeJS.ProcessEnv = { ...childEnv, OC_VERSIONS_VERSION_DIR: dir };
  for (const k of Object.keys(a.childEnv ?? {})) delete env[k];
  return consumeHandoff(a.cmd, [], env, pid, a.handoff.timeoutMs ?? CONSUME_TIMEOUT_MS, a.cwd);
}

/** How long a standby may take to park before the restart's drain goes ahead anyway. */
const STANDBY_PARK_MS = 10_000;

async function supervise(a: SupervisorArgs): Promise<void> {
  // The gateway carries the gateway's mark, never the supervisor's (it would be taken for one).
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...(a.childEnv ?? {}) };
  delete childEnv[SUPERVISOR_MARKER_KEY];
  const spawnOpts = { env: childEnv, logFile: a.logFile, ...(a.cwd !== undefined ? { cwd: a.cwd } : {}) };
  // Always handled: a restart's wake-up (markDrained) must never end this process, even late.
  process.on('SIGUSR2', () => wake());
  let standby: Standby | null = null;
  // The version dir `current` names as a gateway is spawned (its launcher reads it at once).
  const versionDirNow = (): string | null => {
    if (!a.handoff) return null;
    try {
      return fs.realpathSync(a.handoff.current);
    } catch {
      return null;
    }
  };
  let standbyDir: string | null = null;
  const dropStandby = (): void => {
    if (!standby) return;
    standby.release(); // it exits at its barrier; the signal is for one still booting
    killGroup(standby.pid, 'SIGTERM');
    standby = null;
  };
  if (a.handOver) {
    let waiting = true;
    // Found by a stop while it waits: it has started nothing and recorded nothing, so it just goes.
    const onTerm = () => {
      if (!waiting) return;
      dropStandby();
      fs.rmSync(a.handOver!.readyFile, { force: true });
      process.exit(0);
    };
    process.on('SIGTERM', onTerm);
    // What it needs once it may start (the records' writer) is loaded now, while the old gateway
    // still serves, not beside the new gateway's boot.
    await preloadAtomicWriter();
    if (a.handOver.standby) {
      try {
        standbyDir = versionDirNow();
        standby = spawnStandby(a.cmd, a.args, spawnOpts);
      } catch {
        standby = null; // spawned at `go` instead, as without a standby
      }
      // Parked: node is up and no code of the gateway has run. The outage starts only after this.
      if (standby) {
        let late: NodeJS.Timeout | undefined;
        await Promise.race([standby.parked, new Promise<void>((resolve) => (late = setTimeout(resolve, STANDBY_PARK_MS)))]);
        clearTimeout(late);
      }
    }
    const ready: HandOverReady = { pid: process.pid, token: a.handOver.token, ...(standby ? { standby: standby.pid } : {}) };
    fs.writeFileSync(a.handOver.readyFile, JSON.stringify(ready) + '\n', { mode: 0o644 });
    const go = await awaitHandOver(a.handOver, a.stopFile);
    fs.rmSync(a.handOver.readyFile, { force: true });
    if (!go) {
      dropStandby();
      process.exit(0);
    }
    waiting = false;
    process.off('SIGTERM', onTerm);
    // The old job's records go; then the intent, last (until now it held every old supervisor back).
    fs.rmSync(a.pidFile, { force: true });
    fs.rmSync(a.stateFile, { force: true });
    fs.rmSync(a.stopFile, { force: true });
  }
  const me = { pid: process.pid, startTime: processStartTime(process.pid) };
  let stopping = false;
  let restarts = 0;
  let lastExit: SupervisorRecord['lastExit'] = null;
  let handoffs = 0;
  let lastHandoff: HandoffRecord | null = null;
  const exits: number[] = [];
  // Record writes in order (a late `running` must never land over `stopped`).
  let writing: Promise<void> = Promise.resolve();
  const write = (state: SupervisorState): Promise<void> =>
    (writing = writing
      .then(() => writeJsonAtomic(a.stateFile, { ...me, state, restarts, lastExit, recentExits: exits.length, handoffs, lastHandoff, updatedAt: new Date().toISOString(), limits: a.limits } satisfies SupervisorRecord, 0o644))
      .catch(() => {
        // the home is gone
      }));
  /** oc-versions is stopping the gateway on purpose: its SIGTERM, or its stop intent on disk. */
  const stopAsked = (): boolean => stopping || fs.existsSync(a.stopFile);
  let running: Promise<unknown> | null = null;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    stopRequested = true;
    // Stay until the gateway has exited, to reap it; in a backoff there is none. In a restart's
    // hand-over (the intent carries its token) the next supervisor replaces the record and waits
    // for this process to exit: go at once, without writing `stopped`.
    void (running ?? Promise.resolve())
      .then(() => (handingOver(a.stopFile) ? undefined : write('stopped')))
      .then(() => process.exit(0));
  });
  process.on('SIGHUP', () => {});
  // The hand-over's standby, if it is still there, is the first start: it only has to be let go.
  if (standby && !isRunning(standby.pid)) dropStandby();
  for (let first = true; !stopAsked(); first = false) {
    const held = first ? standby : null;
    held?.go();
    const dir = held ? standbyDir : versionDirNow();
    const child = held ?? spawnDetachedWatched(a.cmd, a.args, spawnOpts);
    running = child.exited;
    const startedAt = Date.now();
    if (!stopping) await writeJsonAtomic(a.pidFile, { pid: child.pid, startTime: processStartTime(child.pid), startedAt: new Date(startedAt).toISOString() }, 0o644);
    if (!stopping) await write('running');
    const ex = await child.exited;
    running = null;
    if (stopping) return; // the SIGTERM handler exits once the record says `stopped`
    if (stopAsked()) {
      // The stop intent without (yet) the signal: still not a crash.
      await write('stopped');
      return;
    }
    await fsp.rm(a.pidFile, { force: true });
    const exit = { code: ex.code, signal: ex.signal, at: new Date().toISOString() };
    if (ex.code === 0 && ex.signal === null) {
      // A clean exit: OpenClaw in external mode exits 0 after writing a restart handoff for us.
      const h = await consumeAfterExit(a, child.pid, dir, childEnv, () => write('consuming'));
      const accepted = h.status === 'accepted';
      lastHandoff = { pid: child.pid, status: h.status, reason: h.reason, action: accepted ? 'restarted' : 'policy', at: new Date().toISOString(), detail: h.detail };
      say(
        accepted
          ? `gateway pid ${child.pid} exited 0 with a restart handoff: ${h.detail}; restarting at once (no backoff, not counted as a crash)`
          : `gateway pid ${child.pid} exited 0 without an accepted restart handoff: ${h.detail}; treated as an unexpected exit`,
      );
      if (accepted) {
        handoffs++;
        if (stopping) return;
        continue;
      }
      if (stopping) return;
      if (stopAsked()) {
        await write('stopped');
        return;
      }
    }
    lastExit = exit;
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
    while (!stopAsked() && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
  }
  if (!stopping) await write('stopped');
}

/**
 * The supervisor process's main (src/service/keepalive-main.ts, bundled self-contained into
 * dist/home/dist/keepalive.mjs and rendered into the home: docs/service.md#what-the-service-runs-lives-in-the-home-decision).
 */
export function supervisorMain(arg: string): void {
  void supervise(JSON.parse(arg) as SupervisorArgs).then(
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
