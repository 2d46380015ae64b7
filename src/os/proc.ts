/**
 * The one door for child processes. Everything that spawns goes through here so
 * tests can reason about what runs, and so every child is killed by its own
 * process group on timeout (never by name). It is also the one reader of /proc
 * (argv, start time, environ, listening sockets).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, then stdin is closed. Secrets go here, never in argv. */
  input?: string;
  timeoutMs?: number;
  /** Cap on captured output per stream. */
  maxOutput?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
  /** spawn error (ENOENT etc.) */
  error?: NodeJS.ErrnoException;
}

/** Run a command to completion. Never throws for a non-zero exit; the caller decides. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return startRun(cmd, args, opts, false).done;
}

/**
 * A child run by `run`, parked at the standby barrier (shims/standby.mjs, passed by the caller as
 * `--import`) before any of its own code: fd 3 is a socket to it, named to it by STANDBY_FD_KEY.
 */
export interface ParkedRun {
  pid: number | undefined;
  /** True once the barrier says it is parked; false if the child ended (or closed fd 3) first. */
  parked: Promise<boolean>;
  /** Let its code run; the timeout (this one, else the options') and `ms` count from here. Resolves as `run` does. */
  go(timeoutMs?: number): Promise<RunResult>;
  /** Let it go without running its code: the socket closes and the group is SIGKILLed. */
  release(): Promise<RunResult>;
}

/** `run`, but the child waits at the barrier until `go` (see ParkedRun). */
export function runParked(cmd: string, args: readonly string[], opts: RunOptions = {}): ParkedRun {
  const { child, done, arm } = startRun(cmd, args, opts, true);
  const ctl = barrierControl(child, done);
  return {
    pid: child.pid,
    parked: ctl.parked,
    go(timeoutMs) {
      ctl.go(() => arm(timeoutMs));
      return done;
    },
    release() {
      if (ctl.release()) killGroup(child.pid, 'SIGKILL');
      return done;
    },
  };
}

/**
 * The parent's side of the standby barrier's protocol (shims/standby.mjs) on the child's fd 3:
 * `parked` once it writes "r" (false if fd 3 closes or the child ends first); `go` writes "g" and
 * `release` closes the socket, whichever comes first and only once (each returns true when it acted).
 */
function barrierControl(child: import('node:child_process').ChildProcess, ended: Promise<unknown>) {
  const ctl = child.stdio[3] as import('node:net').Socket;
  ctl.on('error', () => {});
  const parked = new Promise<boolean>((resolve) => {
    ctl.once('data', () => resolve(true));
    ctl.once('close', () => resolve(false));
    void ended.then(() => resolve(false));
  });
  let said = false;
  return {
    parked,
    go(before?: () => void): boolean {
      if (said) return false;
      said = true;
      before?.();
      ctl.end('g');
      return true;
    },
    release(): boolean {
      if (said) return false;
      said = true;
      ctl.destroy();
      return true;
    },
  };
}

/** run's spawn; `control`: fd 3 is a socket to the child, and the clock starts at `arm`. */
function startRun(cmd: string, args: readonly string[], opts: RunOptions, control: boolean) {
  let started = Date.now();
  const max = opts.maxOutput ?? 4 * 1024 * 1024;
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const env = opts.env ?? process.env;
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: control ? { ...env, [STANDBY_FD_KEY]: '3' } : env,
    stdio: control ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
    detached: true, // own process group, so a timeout kills the whole tree
  });
  const arm = (timeoutMs = opts.timeoutMs): void => {
    started = Date.now();
    if (timeoutMs && !settled) {
      timer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid, 'SIGKILL');
      }, timeoutMs);
    }
  };
  const done = new Promise<RunResult>((resolve) => {
    const finish = (r: Omit<RunResult, 'ms' | 'stdout' | 'stderr' | 'timedOut'>) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve({ ...r, stdout, stderr, timedOut, ms: Date.now() - started });
    };
    child.stdout!.on('data', (d: Buffer) => {
      if (stdout.length < max) stdout += d.toString('utf8');
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < max) stderr += d.toString('utf8');
    });
    child.on('error', (error: NodeJS.ErrnoException) => finish({ code: null, signal: null, error }));
    child.on('close', (code, signal) => finish({ code, signal }));
    child.stdin!.on('error', () => {});
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
  if (!control) arm();
  return { child, done, arm };
}

/**
 * Flushes one directory's filesystem to disk on request: `sync -f <dir>` (syncfs), else a plain
 * `sync` where `-f` is not known. A small `sh` started once runs each flush, so a large process
 * (an install, holding arborist) forks once, when it starts the flusher, instead of once per flush
 * (a fork costs its thread ≈ 10 ms here). Without `sh` each flush spawns `sync` itself.
 */
export interface Flusher {
  /** The `sh`'s pid (undefined when it could not start). */
  pid: number | undefined;
  /** Flush; true when the flush succeeded (`sync -f`, or the plain `sync` after it failed). */
  flush(): Promise<boolean>;
  /** Let the `sh` exit (after any flush in progress). */
  close(): void;
}

const FLUSH_LOOP = 'while read -r _; do sync -f "$1" 2>/dev/null || sync; echo "$?"; done';

export function startFlusher(dir: string): Flusher {
  const plain = async (): Promise<boolean> => {
    if ((await run('sync', ['-f', dir], { timeoutMs: 120_000 })).code === 0) return true;
    return (await run('sync', [], { timeoutMs: 120_000 })).code === 0;
  };
  let child: import('node:child_process').ChildProcess;
  try {
    child = spawn('/bin/sh', ['-c', FLUSH_LOOP, 'oc-versions-flush', dir], { stdio: ['pipe', 'pipe', 'ignore'], detached: true });
  } catch {
    return { pid: undefined, flush: plain, close: () => {} };
  }
  const waiting: Array<(ok: boolean | null) => void> = [];
  let alive = true;
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      waiting.shift()?.(line === '0');
    }
  });
  const gone = () => {
    alive = false;
    for (const w of waiting.splice(0)) w(null);
  };
  child.on('error', gone);
  child.on('close', gone);
  child.stdin!.on('error', () => {});
  return {
    pid: child.pid,
    async flush() {
      if (!alive) return plain();
      const answer = await new Promise<boolean | null>((resolve) => {
        // As `run` would time out a hung `sync`: stop the sh, and flush the ordinary way.
        const timer = setTimeout(() => {
          killGroup(child.pid, 'SIGKILL');
          gone();
        }, 120_000);
        waiting.push((ok) => {
          clearTimeout(timer);
          resolve(ok);
        });
        child.stdin!.write('\n');
      });
      // The sh ended before it answered: flush the ordinary way.
      return answer ?? plain();
    },
    close() {
      if (alive) child.stdin!.end();
    },
  };
}

export interface DetachedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** File that receives stdout+stderr (appended). */
  logFile?: string;
}

/** Start a long-lived child in its own session/process group, not waited for. Returns its pid. */
export function spawnDetached(cmd: string, args: readonly string[], opts: DetachedOptions = {}): number {
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a', 0o600) : 'ignore';
  try {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', out, out],
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    return child.pid;
  } finally {
    if (typeof out === 'number') fs.closeSync(out);
  }
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** The launcher takes a restart's standby when this names fd 3 in its environment (shims/standby.mjs). */
export const STANDBY_FD_KEY = 'OC_VERSIONS_STANDBY_FD';

/** A standby released without its go byte exits with this code (shims/standby.mjs). */
export const STANDBY_RELEASED_CODE = 75;

/**
 * Like spawnDetached (own process group, output appended to logFile), for a supervisor that
 * outlives its caller and waits for the child: `exited` resolves with its exit code or signal.
 */
export function spawnDetachedWatched(cmd: string, args: readonly string[], opts: DetachedOptions = {}): { pid: number; exited: Promise<Exit> } {
  const { pid, exited } = spawnWatched(cmd, args, opts, false);
  return { pid, exited };
}

/** spawnDetachedWatched's spawn; `control`: fd 3 is a socket to the child (a standby's). */
function spawnWatched(cmd: string, args: readonly string[], opts: DetachedOptions, control: boolean) {
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a', 0o600) : 'ignore';
  try {
    const env = opts.env ?? process.env;
    const child = control
      ? spawn(cmd, args, { cwd: opts.cwd, env: { ...env, [STANDBY_FD_KEY]: '3' }, detached: true, stdio: ['ignore', out, out, 'pipe'] })
      : spawn(cmd, args, { cwd: opts.cwd, env, detached: true, stdio: ['ignore', out, out] });
    const exited = new Promise<Exit>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
      child.on('error', () => resolve({ code: 127, signal: null }));
    });
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    return { child, pid: child.pid, exited };
  } finally {
    if (typeof out === 'number') fs.closeSync(out);
  }
}

export interface Standby {
  pid: number;
  exited: Promise<Exit>;
  /** True once the barrier says it is parked (node booted, no code of the entry run); false if it went first. */
  parked: Promise<boolean>;
  /** Let the entry run. */
  go(): void;
  /** Let it go without running anything (it exits STANDBY_RELEASED_CODE). */
  release(): void;
}

/**
 * Like spawnDetachedWatched, for a launcher that parks its node at a barrier (shims/standby.mjs)
 * until told to go: fd 3 is a socket to it, named to it by STANDBY_FD_KEY=3 in its environment.
 */
export function spawnStandby(cmd: string, args: readonly string[], opts: DetachedOptions = {}): Standby {
  const { child, pid, exited } = spawnWatched(cmd, args, opts, true);
  const ctl = barrierControl(child, exited);
  return {
    pid,
    exited,
    parked: ctl.parked,
    go() {
      ctl.go();
    },
    release() {
      ctl.release();
    },
  };
}

/** Signal one process (not its group). False when it is gone. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Signal a whole process group we started (negative pid). Ignores ESRCH. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals = 'SIGTERM'): boolean {
  if (!pid || pid <= 1) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

export function isAlive(pid: number | undefined | null): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Real path of the script a process was started with, read from the OS (Linux /proc); null elsewhere. */
export function processArgv(pid: number): string[] | null {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s) => s.length > 0);
  } catch {
    return null;
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * Start time of a process in clock ticks since boot (/proc/<pid>/stat field 22),
 * or null where /proc is unavailable. A pid recorded with its start time cannot be
 * confused with an unrelated process that later reuses the pid.
 */
export function processStartTime(pid: number): string | null {
  const stat = readProcStat(pid);
  return stat ? (stat[19] ?? null) : null;
}

/** True when the process exists but is a zombie (exited, not yet reaped). */
export function isZombie(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat?.[0] === 'Z';
}

/** Alive and not a zombie (an orphan's zombie waits for its reaper: it runs nothing any more). */
export function isRunning(pid: number): boolean {
  return isAlive(pid) && !isZombie(pid);
}

/** Fields of /proc/<pid>/stat after the `(comm)` field: [state, ppid, pgrp, ...]. */
function readProcStat(pid: number): string[] | null {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = raw.lastIndexOf(')');
    if (close < 0) return null;
    return raw.slice(close + 2).trim().split(' ');
  } catch {
    return null;
  }
}

/**
 * Names (and values) of a process's environment from /proc/<pid>/environ; null where unreadable
 * (macOS has no /proc: callers fall back to the manager's view, e.g. `launchctl print`).
 * OC_VERSIONS_NO_PROC=1 (tests only) answers null as macOS would.
 */
export function processEnviron(pid: number): Map<string, string> | null {
  if (process.env['OC_VERSIONS_NO_PROC'] === '1') return null;
  try {
    const raw = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    const env = new Map<string, string>();
    for (const entry of raw.split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    return env;
  } catch {
    return null;
  }
}

/**
 * argv of a running process: /proc on Linux; elsewhere `ps -ww -o args=` split on
 * spaces (best effort: paths with spaces are not recoverable there).
 */
export async function processArgvAnyOs(pid: number): Promise<string[] | null> {
  const fromProc = processArgv(pid);
  if (fromProc) return fromProc;
  const r = await run('ps', ['-ww', '-o', 'args=', '-p', String(pid)], { timeoutMs: 5_000 });
  if (r.code !== 0 || r.stdout.trim() === '') return null;
  return r.stdout.trim().split(/\s+/);
}

/** Inodes of sockets listening on `port` (Linux /proc/net/tcp{,6}); null where /proc is unavailable. */
export function listeningInodes(port: number): Set<string> | null {
  const inodes = new Set<string>();
  let readAny = false;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
      readAny = true;
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const state = cols[3];
      const inode = cols[9];
      if (!local || state !== '0A' || !inode) continue; // 0A = LISTEN
      const p = parseInt(local.split(':').pop() ?? '', 16);
      if (p === port) inodes.add(inode);
    }
  }
  return readAny ? inodes : null;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const kids = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    }
  } catch {
    // no /proc children support
  }
  return out;
}

/**
 * Whether `pid` (or a descendant) holds a socket listening on `port`: `ok` null where /proc is
 * unavailable; `owners` the pid found holding it; `listening` how many listening sockets the port
 * has at all (so a caller can tell "nobody listens" from "another process does").
 */
export function ownsListener(pid: number, port: number): { ok: boolean | null; owners: number[]; listening: number } {
  const inodes = listeningInodes(port);
  if (inodes === null) return { ok: null, owners: [], listening: 0 };
  const listening = inodes.size;
  if (listening === 0) return { ok: false, owners: [], listening };
  const tree = [pid];
  for (let i = 0; i < tree.length && tree.length < 64; i++) tree.push(...childrenOf(tree[i]!));
  for (const p of tree) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const l = fs.readlinkSync(`/proc/${p}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(l);
        if (m && inodes.has(m[1]!)) return { ok: true, owners: [p], listening };
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return { ok: false, owners: [], listening };
}

/**
 * Processes whose argv has an entry under `root`, or whose cwd is under it
 * (Linux /proc). Empty where /proc is absent. Never includes this process.
 */
export async function processesUnder(root: string): Promise<Array<{ pid: number; arg: string }>> {
  const found: Array<{ pid: number; arg: string }> = [];
  let pids: string[];
  try {
    pids = (await fsp.readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return found;
  }
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    try {
      const args = (await fsp.readFile(`/proc/${p}/cmdline`, 'utf8')).split('\0');
      const hit = args.find((a) => a.startsWith(root));
      if (hit) {
        found.push({ pid, arg: hit });
        continue;
      }
      const cwd = await fsp.readlink(`/proc/${p}/cwd`);
      if ((cwd + path.sep).startsWith(root)) found.push({ pid, arg: `cwd ${cwd}` });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** Whether an executable named `bin` is in one of PATH's directories. */
export function onPath(bin: string, env: NodeJS.ProcessEnv): boolean {
  return (env['PATH'] ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, bin)));
}

/** Whether any process of the group is alive. */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Pids whose environment has `key=value` (Linux /proc; empty elsewhere). Never this process. */
export function pidsWithEnv(key: string, value: string): number[] {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    if (processEnviron(pid)?.get(key) === value) found.push(pid);
  }
  return found;
}

export interface InMemoryChild {
  pid: number;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  exited: Promise<void>;
  lines: string[];
}

/**
 * Start a long-lived child in its own session/process group with its last output lines kept
 * in memory only (never in a file: a gateway may print a secret). Used for canary gateways.
 */
export function spawnGroupInMemory(cmd: string, args: readonly string[], env: Record<string, string>, cwd: string, maxLines = 200): InMemoryChild {
  const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const gw: InMemoryChild = { pid: child.pid, exit: null, exited: Promise.resolve(), lines: [] };
  let partial = { out: '', err: '' };
  const take = (which: 'out' | 'err') => (d: Buffer) => {
    const text = partial[which] + d.toString('utf8');
    const parts = text.split('\n');
    partial = { ...partial, [which]: parts.pop() ?? '' };
    gw.lines.push(...parts);
    if (gw.lines.length > maxLines) gw.lines.splice(0, gw.lines.length - maxLines);
  };
  child.stdout.on('data', take('out'));
  child.stderr.on('data', take('err'));
  gw.exited = new Promise((resolve) => {
    child.on('error', () => {
      gw.exit ??= { code: null, signal: null };
      resolve();
    });
    child.on('close', (code, signal) => {
      for (const rest of [partial.out, partial.err]) if (rest) gw.lines.push(rest);
      gw.exit = { code, signal };
      resolve();
    });
  });
  return gw;
}

export interface MarkedProcess {
  pid: number;
  /** /proc start time (clock ticks since boot); null where unknown. */
  startTime: string | null;
}

/**
 * Live (non-zombie) process-group leaders whose environment has `key=value`, oldest first.
 * Linux reads /proc; elsewhere `ps -E` (best effort: BSD ps appends the environment).
 */
export async function findMarkedLeaders(key: string, value: string, argvMentions?: readonly string[]): Promise<MarkedProcess[]> {
  const named = (text: string) => argvMentions === undefined || argvMentions.some((m) => text.includes(m));
  let names: string[] | null = null;
  try {
    names = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    names = null;
  }
  const out: MarkedProcess[] = [];
  if (names && names.length > 0) {
    const found: Array<MarkedProcess & { ppid: number }> = [];
    for (const n of names) {
      const pid = Number(n);
      if (pid === process.pid) continue;
      const st = readProcStat(pid);
      if (!st || st[0] === 'Z' || Number(st[2]) !== pid) continue;
      const env = processEnviron(pid); // null for other users' processes: never ours
      if (env?.get(key) !== value) continue;
      if (!(processArgv(pid) ?? []).some(named)) continue;
      found.push({ pid, startTime: st[19] ?? null, ppid: Number(st[1]) });
    }
    const pids = new Set(found.map((f) => f.pid));
    for (const f of found) if (!pids.has(f.ppid)) out.push({ pid: f.pid, startTime: f.startTime });
    return out.sort((a, b) => Number(a.startTime ?? 0) - Number(b.startTime ?? 0));
  }
  const r = await run('ps', ['-A', '-ww', '-E', '-o', 'pid=,pgid=,command='], { timeoutMs: 5_000 });
  if (r.code !== 0) return out;
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!m || m[1] !== m[2] || Number(m[1]) === process.pid) continue;
    if (m[3]!.includes(`${key}=${value}`) && named(m[3]!)) out.push({ pid: Number(m[1]), startTime: null });
  }
  return out;
}
