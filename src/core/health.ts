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
import type { Config, HealthConfig } from './config.js';
import { resolveStateDir } from '../openclaw/state.js';
import { resolveEntry } from './store.js';
import type { Layout } from './layout.js';
import { scanStateLinks } from '../openclaw/links.js';
import { httpGet, livenessProbe } from '../os/http.js';
import { isRunning, ownsListener, sleep } from '../os/proc.js';
import { runCheckCommand } from './checks/command.js';
import { SILENT, type ProgressSink } from './progress.js';

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
  const probe = livenessProbe(url, 2_000);
  let why = 'not checked yet';
  let lastPid: number | null = null;
  let goneSince: number | null = null;
  /** The last round probed a new pid of the version and got no 200 (its listener is then checked once, at the end). */
  let probedWithout200 = false;
  const notOwner = (pid: number, heldBy: string): string => `pid ${pid} does not own the listener on port ${t.port}${heldBy}`;
  while (now() < deadline) {
    probedWithout200 = false;
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
      // Liveness first, then who holds the listener. Until the new gateway binds its port (most of
      // a real start) a refused connection is all a probe costs; reading the kernel's socket tables
      // (/proc/net/tcp{,6}) at every interval instead cost this process ≈ 0.8 s of CPU in a real
      // 2026.9.6 outage on 2 cores, taken from the gateway starting beside it (docs/benchmarks.md).
      // A 200 counts only when this pid (or a child) owns a listener on the port.
      const res = await probe();
      probedWithout200 = !res || res.status !== 200;
      if (!res) why = `${url} did not answer`;
      else if (res.status !== 200) why = `${url} answered ${res.status}`;
      else {
        const own = ownsListener(st.pid, t.port);
        if (own.ok !== false) {
          return { name: 'restarted+responsive', ok: true, ms: now() - start, detail: `pid ${st.pid} from ${st.entry}; ${url} → 200`, pid: st.pid, firstHealthyAt: now() };
        }
        why = notOwner(st.pid, own.listening > 0 ? ' (another process holds it)' : '');
      }
    }
    await sleep(t.health.probeIntervalMs);
  }
  if (probedWithout200 && lastPid !== null) {
    // Given up: say so when the port is held by another process (which answered no 200), once.
    const own = ownsListener(lastPid, t.port);
    if (own.ok === false && own.listening > 0) why = notOwner(lastPid, ` (another process holds it; ${why})`);
  }
  return { name: 'restarted+responsive', ok: false, ms: now() - start, detail: `not responsive within ${t.health.responsiveDeadlineMs} ms: ${why}`, pid: lastPid, firstHealthyAt: null };
}

/**
 * Null while `pid` (the process the responsive stage accepted) still runs; once it has exited,
 * why, with the end of its log: no later stage can pass for a process that is gone, so they fail at once.
 */
async function exitedDetail(t: GateTarget, pid: number): Promise<string | null> {
  if (isRunning(pid)) return null;
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
    checks.push(
      await runCheckCommand(t.runtimeNode, t.bin, c, {
        env: t.env,
        defaultTimeoutMs: 30_000,
        substitute: (a) => a.replace(/\{version\}/g, t.version).replace(/\{port\}/g, String(t.port)),
      }),
    );
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

// ---------------------------------------------------------------------------
// The gate as a transition runs it: responsive, then version, then deep, each
// reported; and the downtime clients saw through the restart.

/** What the gate needs from the transition: the home, settings, and the service's probes. */
export interface GateDeps {
  layout: Layout;
  config: Pick<Config, 'health' | 'runtimeNode' | 'openclawStateDir'>;
  env: NodeJS.ProcessEnv;
  service: (ServiceProbe & { env(): Promise<Record<string, string>> }) | null;
}

export interface GateOutcome {
  ok: boolean;
  stages: StageResult[];
  firstHealthyAt: number | null;
  reason: string;
  /** The pid the gate accepted (null when it never was responsive). */
  pid: number | null;
}

/** The gate's view of one version on one port: probes, deep-check environment, state dir. */
export async function gateTarget(deps: GateDeps, version: string, prePid: number | null, port: number): Promise<GateTarget> {
  const svc = deps.service!;
  const serviceEnv = await svc.env().catch(() => ({}));
  const bin = resolveEntry(deps.layout, version, 'bin');
  const env: NodeJS.ProcessEnv = {
    PATH: deps.env['PATH'],
    HOME: deps.env['HOME'],
    ...serviceEnv,
    OPENCLAW_GATEWAY_PORT: String(port),
    OPENCLAW_NO_AUTO_UPDATE: '1',
  };
  return {
    layout: deps.layout,
    version,
    prePid,
    port,
    health: deps.config.health,
    runtimeNode: deps.config.runtimeNode,
    bin: bin ?? '',
    env,
    stateDir: resolveStateDir(deps.config.openclawStateDir, { ...deps.env, ...serviceEnv }),
    service: svc,
  };
}

export interface GateHooks {
  /** Called before the version and the deep stage run (the transition journals them). */
  enter?: (phase: 'version' | 'deep') => Promise<void>;
  /** Each stage as a phase, and its result as a check line. */
  out?: ProgressSink;
}

export async function runGate(deps: GateDeps, version: string, prePid: number | null, port: number, hooks: GateHooks = {}): Promise<GateOutcome> {
  const enter = hooks.enter ?? (async () => {});
  const out = hooks.out ?? SILENT;
  const target = await gateTarget(deps, version, prePid, port);
  const stages: StageResult[] = [];
  out.phase('gate-responsive', `gate: responsive (a new pid running ${version}, its liveness answering)`);
  const r1 = await gateResponsive(target);
  stages.push({ name: r1.name, ok: r1.ok, ms: r1.ms, detail: r1.detail });
  out.check({ name: r1.name, ok: r1.ok, ms: r1.ms, detail: r1.detail });
  if (!r1.ok || r1.pid === null) {
    out.end();
    stages.push({ name: 'health-verified', ok: false, ms: 0, detail: 'not run: the gateway is not responsive' });
    return { ok: false, stages, firstHealthyAt: null, reason: `restarted+responsive: ${r1.detail}`, pid: null };
  }
  await enter('version');
  out.phase('gate-version', `gate: right version (${version} from the version probe)`);
  const r2 = await gateVersion(target, r1.pid);
  const checks: NonNullable<StageResult['checks']> = [{ name: 'version', ok: r2.ok, ms: r2.ms, detail: r2.detail }];
  out.check({ name: 'version', ok: r2.ok, ms: r2.ms, detail: r2.detail });
  if (!r2.ok) {
    out.end();
    stages.push({ name: 'health-verified', ok: false, ms: r2.ms, detail: `version: ${r2.detail}`, checks });
    return { ok: false, stages, firstHealthyAt: r1.firstHealthyAt, reason: `health-verified: version: ${r2.detail}`, pid: r1.pid };
  }
  await enter('deep');
  out.phase('gate-deep', 'gate: deep checks with the new CLI');
  const r3 = await gateDeep(target, r1.pid);
  for (const c of r3.checks) out.check(c);
  out.end(r3.checks.length ? undefined : r3.detail);
  checks.push(...r3.checks);
  stages.push({ name: 'health-verified', ok: r3.ok, ms: r2.ms + r3.ms, detail: r3.ok ? `${r2.detail}; ${r3.detail}` : `deep checks: ${r3.detail}`, checks });
  return { ok: r3.ok, stages, firstHealthyAt: r1.firstHealthyAt, reason: r3.ok ? '' : `health-verified: ${r3.detail}`, pid: r1.pid };
}

/** The downtime watcher's cadence: each interval is up to that much error on either end of the outage. */
const DOWNTIME_PROBE_MS = 10;
/**
 * …and once a gap has lasted DOWNTIME_BACKOFF_AFTER_MS (a real gateway's start takes 5–20 s): a
 * probe costs this process ≈ 0.5–1 ms of CPU, so 100 a second take 5–10 % of a core from the
 * gateway starting beside it on a small host. Measured with the real 2026.9.6 on 2 cores: its start
 * took 14.1 s (median of 4, ±0.1 s) with one 10 ms /healthz poller, 14.8 s (up to 15.0 s) with
 * three. The outage's end is then known to 50 ms instead of 10 ms (the gate's own first answer
 * narrows it when it comes first).
 */
const DOWNTIME_SLOW_PROBE_MS = 50;
const DOWNTIME_PROBE_TIMEOUT_MS = 2_000;
const DOWNTIME_BACKOFF_AFTER_MS = 1_000;

/**
 * Poll liveness through the restart, as a client would. The outage is the **longest** interval
 * between two consecutive 200s: the old gateway's last answer before it, the new one's first
 * after it. Not the first gap: a loaded host can make one of the old gateway's answers take
 * seconds before the stop even begins, and a watcher that ended at the first gap reported
 * that blip instead of the outage. Probing ends at the first 200 after `restarted()` was called
 * (the new gateway is up: no need to keep probing it through the gate's deep checks), or at stop().
 */
export function watchDowntime(url: string, maxMs: number): {
  ready: Promise<void>;
  /** The service's restart has returned: the next 200 is the new gateway's. */
  restarted(): void;
  /** The outage seen (null ends when no 200 came before or after it). */
  stop(): Promise<{ lastOld: number | null; firstNew: number | null }>;
} {
  const until = Date.now() + maxMs;
  let lastOk: number | null = null;
  let openSince: number | null = null;
  let longest: { lastOld: number; firstNew: number } | null = null;
  let restartedAt: number | null = null;
  let running = true;
  let firstDone: () => void = () => {};
  const ready = new Promise<void>((r) => (firstDone = r));
  // A slow answer is still an answer (a client waiting for it is served): 2 s, as the gate's
  // probes. With 500 ms, in one real run (2 cores, both upgrades) downtimeMs began ≈ 0.6 s
  // before a 1 s-timeout poller beside it saw the old gateway stop answering. Through the gap,
  // a refused connect instead of a refused fetch (livenessProbe).
  const probe = livenessProbe(url, DOWNTIME_PROBE_TIMEOUT_MS);
  const loop = (async () => {
    while (running && Date.now() < until) {
      const r = await probe();
      const now = Date.now();
      if (r && r.status === 200) {
        if (openSince !== null && (!longest || now - openSince > longest.firstNew - longest.lastOld)) longest = { lastOld: openSince, firstNew: now };
        openSince = null;
        lastOk = now;
        if (restartedAt !== null) break;
      } else if (openSince === null && lastOk !== null) openSince = lastOk;
      firstDone();
      await sleep(openSince !== null && Date.now() - openSince >= DOWNTIME_BACKOFF_AFTER_MS ? DOWNTIME_SLOW_PROBE_MS : DOWNTIME_PROBE_MS);
    }
    firstDone();
  })();
  return {
    /** Resolves once the first probe has answered (or failed): start the restart after it, so the old gateway's last answer is seen. */
    ready,
    restarted() {
      restartedAt = Date.now();
    },
    async stop() {
      running = false;
      await loop;
      // Still in a gap: it is the outage (its end is the gate's first healthy answer) if longer.
      if (openSince !== null && (!longest || Date.now() - openSince > longest.firstNew - longest.lastOld)) return { lastOld: openSince, firstNew: null };
      return longest ?? { lastOld: lastOk, firstNew: null };
    },
  };
}

/**
 * The settle stage: `probes` consecutive healthy observations spread over `windowMs`,
 * each one the same pid the gate accepted, still running from the target version's tree,
 * `/startupz` started with the target version, and `/readyz` 200. One bad observation
 * fails the stage at once (a crash a few seconds after start, a readiness that degrades:
 * alphaclaw's "safe mode", OpenClaw's readyz-unhealthy).
 */
export async function settleGateway(t: GateTarget, pid: number, windowMs: number, probes: number): Promise<StageResult> {
  const now = t.now ?? Date.now;
  const start = now();
  const n = Math.max(1, probes);
  const gap = Math.max(50, Math.round(windowMs / n));
  const versionDir = t.layout.version(t.version);
  const versionUrl = fillUrl(t.health.versionUrl, t.port);
  const readyUrl = t.health.readinessUrl ? fillUrl(t.health.readinessUrl, t.port) : null;
  const fail = async (i: number, why: string, withLog = false): Promise<StageResult> => {
    const tail = withLog && t.service.logTail ? await t.service.logTail().catch(() => '') : '';
    return { name: 'settle', ok: false, ms: now() - start, detail: `observation ${i}/${n}: ${why}${tail ? `; its log ends: ${tail}` : ''}` };
  };
  for (let i = 1; i <= n; i++) {
    await sleep(gap);
    const st = await t.service.status().catch(() => ({ running: false, pid: null, entry: null }));
    if (!st.running || !st.pid) return fail(i, `the gateway (pid ${pid}) exited`, true);
    if (st.pid !== pid) return fail(i, `the gateway restarted (pid ${pid} → ${st.pid})`, true);
    if (!under(st.entry, versionDir)) return fail(i, `pid ${pid} runs ${st.entry ?? 'an unknown entry'}, not a file of ${versionDir}`);
    const v = await httpGet(versionUrl, 2_000);
    let body: Record<string, unknown> = {};
    try {
      body = v ? (JSON.parse(v.body) as Record<string, unknown>) : {};
    } catch {
      body = {};
    }
    if (!v || v.status !== 200) return fail(i, `${versionUrl} ${v ? `answered ${v.status}` : 'did not answer'}`);
    if (body['status'] !== undefined && body['status'] !== 'started') return fail(i, `${versionUrl} says ${JSON.stringify(body['status'])}, not "started"`);
    if (body[t.health.versionField] !== t.version) return fail(i, `${versionUrl} reports ${JSON.stringify(body[t.health.versionField])}, expected ${t.version}`);
    if (readyUrl) {
      const r = await httpGet(readyUrl, 2_000);
      if (!r || r.status !== 200) {
        let failing: unknown = undefined;
        try {
          failing = r ? (JSON.parse(r.body) as Record<string, unknown>)['failing'] : undefined;
        } catch {
          failing = undefined;
        }
        const list = Array.isArray(failing) && failing.length ? `; failing: ${failing.map(String).join(', ')}` : '';
        return fail(i, `${readyUrl} ${r ? `answered ${r.status}` : 'did not answer'}${list}`);
      }
    }
  }
  return { name: 'settle', ok: true, ms: now() - start, detail: `${n} consecutive healthy observations over ${now() - start} ms: pid ${pid} from ${versionDir}, started ${t.version}${readyUrl ? ', ready' : ''}` };
}
