/**
 * The post-start health gate, three stages with their own deadlines:
 *  1. responsive — the service manager reports a running PID that differs from
 *     the pre-switch PID, started from the target version's real path, that PID
 *     (or a child) owns the listening socket on the probe port, and liveness answers 200;
 *  2. version — the version probe reports the target version (checked against the
 *     same PID's listener, so neither the old process nor a foreign listener can answer);
 *  3. deep — configured commands run with the target version's CLI, each with a
 *     timeout, plus the OpenClaw state-dir link check.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CheckCommand, HealthConfig } from './config.js';
import type { Layout } from './layout.js';
import { scanStateLinks } from './links.js';
import { isAlive, isZombie, run, sleep } from './proc.js';

export interface StageResult {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
  checks?: Array<{ name: string; ok: boolean; ms: number; detail: string }>;
}

export interface ServiceProbe {
  status(): Promise<{ running: boolean; pid: number | null; entry: string | null }>;
  /** Last lines of the gateway's own log, secret values redacted (for failure details). */
  logTail?(): Promise<string>;
}

/** How long the service manager may report no process at all before the gate gives up early. */
export const EXITED_GRACE_MS = 3_000;

export interface GateTarget {
  layout: Layout;
  version: string;
  prePid: number | null;
  port: number;
  health: HealthConfig;
  runtimeNode: string;
  /** Real path of the target version's CLI bin (for deep checks). */
  bin: string;
  /** Environment for deep checks: the service's env plus OPENCLAW_GATEWAY_PORT. */
  env: NodeJS.ProcessEnv;
  stateDir: string | null;
  service: ServiceProbe;
  now?: () => number;
}

export function fillUrl(template: string, port: number): string {
  return template.replace(/\{port\}/g, String(port));
}

export async function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' } });
    const body = await res.text();
    return { status: res.status, body };
  } catch {
    return null;
  }
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

/** Pids (the process and its descendants) that hold a socket inode. */
export function ownsListener(pid: number, port: number): { ok: boolean | null; owners: number[] } {
  const inodes = listeningInodes(port);
  if (inodes === null) return { ok: null, owners: [] };
  if (inodes.size === 0) return { ok: false, owners: [] };
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
        if (m && inodes.has(m[1]!)) return { ok: true, owners: [p] };
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return { ok: false, owners: [] };
}

function under(file: string | null, dir: string): boolean {
  if (!file) return false;
  let real = dir;
  try {
    real = fs.realpathSync(dir);
  } catch {
    // not there
  }
  return file === real || file.startsWith(real + path.sep);
}

export async function gateResponsive(t: GateTarget): Promise<StageResult & { pid: number | null; firstHealthyAt: number | null }> {
  const now = t.now ?? Date.now;
  const start = now();
  const deadline = start + t.health.responsiveDeadlineMs;
  const versionDir = t.layout.version(t.version);
  const url = fillUrl(t.health.livenessUrl, t.port);
  let why = 'not checked yet';
  let lastPid: number | null = null;
  let goneSince: number | null = null;
  while (now() < deadline) {
    const st = await t.service.status().catch(() => ({ running: false, pid: null, entry: null }));
    lastPid = st.pid;
    if (st.running && st.pid) goneSince = null;
    if (!st.running || !st.pid) {
      why = 'the service manager reports no running process';
      goneSince ??= now();
      // The job exited and nothing restarted it: waiting out the whole deadline tells nothing more.
      if (now() - goneSince >= EXITED_GRACE_MS) {
        const tail = t.service.logTail ? await t.service.logTail().catch(() => '') : '';
        return { name: 'restarted+responsive', ok: false, ms: now() - start, detail: `the gateway exited and is not running${tail ? `; its log ends: ${tail}` : ''}`, pid: null, firstHealthyAt: null };
      }
    } else if (t.prePid !== null && st.pid === t.prePid) why = `still the pre-switch process (pid ${st.pid})`;
    else if (!under(st.entry, versionDir)) why = `pid ${st.pid} runs ${st.entry ?? 'an unknown entry'}, not a file of ${versionDir}`;
    else {
      const own = ownsListener(st.pid, t.port);
      if (own.ok === false) why = `pid ${st.pid} does not own the listener on port ${t.port}${listeningInodes(t.port)?.size ? ' (another process holds it)' : ''}`;
      else {
        const res = await httpGet(url, 2_000);
        if (res && res.status === 200) {
          return { name: 'restarted+responsive', ok: true, ms: now() - start, detail: `pid ${st.pid} from ${st.entry}; ${url} → 200`, pid: st.pid, firstHealthyAt: now() };
        }
        why = res ? `${url} answered ${res.status}` : `${url} did not answer`;
      }
    }
    await sleep(t.health.probeIntervalMs);
  }
  return { name: 'restarted+responsive', ok: false, ms: now() - start, detail: `not responsive within ${t.health.responsiveDeadlineMs} ms: ${why}`, pid: lastPid, firstHealthyAt: null };
}

/**
 * Null while `pid` (the process the responsive stage accepted) still runs; once it has exited,
 * why, with the end of its log: no later stage can pass for a process that is gone, so they fail at once.
 */
async function exitedDetail(t: GateTarget, pid: number): Promise<string | null> {
  if (isAlive(pid) && !isZombie(pid)) return null;
  const tail = t.service.logTail ? await t.service.logTail().catch(() => '') : '';
  return `the gateway (pid ${pid}) exited${tail ? `; its log ends: ${tail}` : ''}`;
}

export async function gateVersion(t: GateTarget, pid: number): Promise<{ ok: boolean; ms: number; detail: string }> {
  const now = t.now ?? Date.now;
  const start = now();
  const deadline = start + t.health.versionDeadlineMs;
  const url = fillUrl(t.health.versionUrl, t.port);
  let why = 'not checked';
  while (now() < deadline) {
    const gone = await exitedDetail(t, pid);
    if (gone) return { ok: false, ms: now() - start, detail: gone };
    const own = ownsListener(pid, t.port);
    if (own.ok === false) why = `pid ${pid} no longer owns the listener on port ${t.port}`;
    else {
      const res = await httpGet(url, 2_000);
      if (!res) why = `${url} did not answer`;
      else if (res.status !== 200) why = `${url} answered ${res.status}`;
      else {
        let reported: unknown;
        try {
          reported = (JSON.parse(res.body) as Record<string, unknown>)[t.health.versionField];
        } catch {
          reported = undefined;
        }
        if (reported === t.version) return { ok: true, ms: now() - start, detail: `${url} reports ${t.version}` };
        why = `${url} reports version ${JSON.stringify(reported)}, expected ${t.version}`;
        // A wrong version will not fix itself; fail fast.
        if (typeof reported === 'string') break;
      }
    }
    await sleep(t.health.probeIntervalMs);
  }
  return { ok: false, ms: now() - start, detail: why };
}

async function runCheck(t: GateTarget, c: CheckCommand): Promise<{ name: string; ok: boolean; ms: number; detail: string }> {
  const args = c.args.map((a) => a.replace(/\{version\}/g, t.version).replace(/\{port\}/g, String(t.port)));
  const r = await run(t.runtimeNode, [t.bin, ...args], { env: t.env, timeoutMs: c.timeoutMs ?? 30_000 });
  const okCodes = c.okExitCodes ?? [0];
  const ok = !r.timedOut && r.code !== null && okCodes.includes(r.code);
  const lastErr = (r.stderr.trim().split('\n').pop() ?? '').slice(0, 300);
  const detail = ok
    ? `exit ${r.code}`
    : r.timedOut
      ? `timed out after ${c.timeoutMs ?? 30_000} ms`
      : r.error
        ? `could not run: ${r.error.message}`
        : `exit ${r.code}${lastErr ? `: ${lastErr}` : ''}`;
  return { name: c.name, ok, ms: r.ms, detail };
}

export async function gateDeep(t: GateTarget, pid: number | null = null): Promise<{ ok: boolean; ms: number; detail: string; checks: Array<{ name: string; ok: boolean; ms: number; detail: string }> }> {
  const now = t.now ?? Date.now;
  const start = now();
  const checks: Array<{ name: string; ok: boolean; ms: number; detail: string }> = [];
  // The gateway must outlive every check: one that exits meanwhile fails the stage at once.
  let gone = false;
  const exited = async (): Promise<boolean> => {
    const why = pid === null ? null : await exitedDetail(t, pid);
    if (why) checks.push({ name: 'gateway running', ok: false, ms: now() - start, detail: why });
    return (gone = why !== null);
  };
  for (const c of t.health.deepChecks) {
    if (await exited()) break;
    checks.push(await runCheck(t, c));
    if (now() - start > t.health.deepDeadlineMs) {
      checks.push({ name: 'deadline', ok: false, ms: now() - start, detail: `deep checks exceeded ${t.health.deepDeadlineMs} ms` });
      break;
    }
  }
  if (!gone && !(await exited())) {
    // Links from the OpenClaw state dir into version trees must be live and point at the serving version.
    const t0 = now();
    const links = await scanStateLinks(t.layout, t.stateDir);
    const bad = links.filter((l) => l.dangling || (l.version !== null && l.version !== t.version));
    checks.push({
      name: 'state links',
      ok: bad.length === 0,
      ms: now() - t0,
      detail: bad.length === 0
        ? `${links.length} link(s) checked`
        : bad.slice(0, 3).map((l) => `${l.link} -> ${l.target}${l.dangling ? ' (dangling)' : ` (into ${l.version})`}`).join('; '),
    });
  }
  const failed = checks.filter((c) => !c.ok);
  return {
    ok: failed.length === 0,
    ms: now() - start,
    detail: failed.length === 0 ? `${checks.length} check(s) passed` : failed.map((c) => `${c.name}: ${c.detail}`).join('; '),
    checks,
  };
}

