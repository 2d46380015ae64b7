/**
 * The supervised transition (upgrade, and use/rollback on a running service).
 *
 * plan (pure) → apply:
 *   begin → snapshot → stage (+validate, old gateway still serving) → flip
 *   → definition check → restart → definition re-check → gate (responsive,
 *   version, deep) → commit; any failure after the flip → automatic rollback:
 *   flip back → restore definition/env → restart → gate the old version →
 *   rolled-back, or degraded if the old one fails too (no second attempt: never flap).
 * Each phase is journaled before it runs (src/core/journal.ts). The core never
 * prints; progress goes through the callback.
 */
import { OcError } from '../errors.js';
import type { Config } from './config.js';
import { fillUrl, gateDeep, gateResponsive, gateVersion, httpGet, type StageResult } from './health.js';
import { stageVersion, type InstallOptions } from './install.js';
import { appendLog, clearJournal, JournalWriter, newTxid, parseFault, type Journal } from './journal.js';
import type { Layout } from './layout.js';
import { resolveStateDir } from './links.js';
import { sleep } from './proc.js';
import { readState, recordHistory, writeState } from './state.js';
import { readSeal, resolveEntry, swapCurrent } from './store.js';
import type { ResolvedPackage } from '../registry/index.js';

export type Outcome = 'upgraded' | 'rolled-back' | 'degraded' | 'unchanged';

export interface TransitionResult {
  outcome: Outcome;
  from: string | null;
  to: string;
  txid: string | null;
  stages: StageResult[];
  rollback?: { reason: string; stages: StageResult[] };
  downtimeMs?: number | null;
  restoredEnvKeys?: string[];
  error?: { code: string; message: string };
  next?: string;
}

/** What the transition needs from the service layer (src/service), injected to keep the core free of backends. */
export interface ServicePort {
  manager: string;
  label: string;
  status(): Promise<{ running: boolean; pid: number | null; entry: string | null }>;
  restart(drainMs: number): Promise<void>;
  /** Check the definition against the record; restore missing env keys / program. Returns restored key names. */
  checkDefinition(): Promise<{ restoredKeys: string[]; unrestorableKeys: string[]; rewritten: boolean }>;
  /** Last lines of the gateway's own log, secret values redacted. */
  logTail?(): Promise<string>;
  /** The service's environment (inline + env files), in memory only, for deep checks. */
  env(): Promise<Record<string, string>>;
  /** Gateway port from the program args (--port N), else OPENCLAW_GATEWAY_PORT, else null. */
  port(): Promise<number | null>;
  /** Take a snapshot (definition redacted, env key names, version, state DBs); returns its id. */
  snapshot(txid: string, version: string | null): Promise<string | null>;
  /**
   * Restore state DBs from a snapshot (gateway stopped): only those the newer version
   * migrated, or, with force, all of them (undoing an earlier restore of this transaction).
   */
  restoreState?(snapshotId: string, opts?: { force?: boolean }): Promise<string[]>;
  /** Replace every secret value the service carries with *** (text bound for logs, journal, output). */
  redact?(text: string): string;
}

export interface TransitionRequest {
  op: Journal['op'];
  from: string | null;
  to: string;
  /** Present when the version must be staged first. */
  resolved?: ResolvedPackage;
  install?: InstallOptions;
  noRestart: boolean;
  /**
   * use/rollback back to an older version: the snapshot taken before the
   * transition that left it. Its state DBs are restored when the newer version
   * migrated them (the older build would refuse them).
   */
  stateSnapshot?: string;
}

export interface TransitionDeps {
  layout: Layout;
  config: Config;
  env: NodeJS.ProcessEnv;
  service: ServicePort | null;
  onProgress: (msg: string) => void;
  /** Faults for tests (OC_VERSIONS_FAULT); null in normal use. */
  fault?: string | undefined;
}

export interface UpgradePlan {
  from: string | null;
  to: string;
  stage: boolean;
  restart: boolean;
  steps: string[];
  noop: boolean;
}

/** Pure: what an upgrade/use/rollback would do. */
export function planTransition(input: { from: string | null; to: string; installed: boolean; serviceInstalled: boolean; noRestart: boolean; op: Journal['op'] }): UpgradePlan {
  const noop = input.from === input.to && input.installed;
  const restart = input.serviceInstalled && !input.noRestart;
  const steps: string[] = [];
  if (noop) return { from: input.from, to: input.to, stage: false, restart: false, steps: [`${input.to} is already current: nothing to do`], noop };
  steps.push('take the lock and open a journal');
  if (restart) steps.push('snapshot the service definition (secret values as references), env key names, state databases');
  if (!input.installed) steps.push(`stage ${input.to} in staging/, validate it, seal it (the old gateway keeps serving)`);
  steps.push(`flip current ${input.from ?? '(none)'} → ${input.to} (atomic rename)`);
  if (restart) {
    steps.push('check the service definition and env keys; restore any missing');
    steps.push('restart the gateway through the service manager (drain budget honoured)');
    steps.push('gate: restarted+responsive (new pid, new real path, owns the port, liveness 200)');
    steps.push(`gate: right version (${input.to} from the version probe)`);
    steps.push('gate: deep checks with the new CLI, state-dir links');
    steps.push(`on any failure: flip back to ${input.from ?? '(none)'}, restore definition + env, restart, gate the old version`);
  } else {
    steps.push(input.serviceInstalled ? 'no restart (--no-restart): the running gateway keeps its version until restarted' : 'no service installed: nothing to restart');
  }
  steps.push('commit: record previous, close the journal');
  return { from: input.from, to: input.to, stage: !input.installed, restart, steps, noop };
}

/** Redact every string inside a log entry (keys and structure untouched). */
function redactDeep<T>(value: T, red: (s: string) => string): T {
  if (typeof value === 'string') return red(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, red)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactDeep(v, red)])) as T;
  }
  return value;
}

function redactorOf(svc: ServicePort | null): (text: string) => string {
  return (text) => (svc?.redact ? svc.redact(text) : text);
}

/** The writer of logs/<txid>.jsonl for one transaction: every string in an entry is redacted first. */
export function transactionLog(layout: Layout, txid: string, svc: ServicePort | null): (entry: Record<string, unknown>) => Promise<void> {
  const red = redactorOf(svc);
  return (entry) => appendLog(layout, txid, redactDeep(entry, red));
}

function skipped(name: string, why: string): StageResult {
  return { name, ok: true, ms: 0, detail: `skipped: ${why}` };
}

async function probePort(deps: TransitionDeps): Promise<number> {
  const p = deps.service ? await deps.service.port() : null;
  return p ?? deps.config.health.defaultPort;
}

interface GateOutcome {
  ok: boolean;
  stages: StageResult[];
  firstHealthyAt: number | null;
  reason: string;
}

async function runGate(deps: TransitionDeps, version: string, prePid: number | null, port: number, enter: (phase: 'version' | 'deep') => Promise<void> = async () => {}): Promise<GateOutcome> {
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
  const target = {
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
  const stages: StageResult[] = [];
  const r1 = await gateResponsive(target);
  stages.push({ name: r1.name, ok: r1.ok, ms: r1.ms, detail: r1.detail });
  if (!r1.ok || r1.pid === null) {
    stages.push({ name: 'health-verified', ok: false, ms: 0, detail: 'not run: the gateway is not responsive' });
    return { ok: false, stages, firstHealthyAt: null, reason: `restarted+responsive: ${r1.detail}` };
  }
  await enter('version');
  const r2 = await gateVersion(target, r1.pid);
  const checks: NonNullable<StageResult['checks']> = [{ name: 'version', ok: r2.ok, ms: r2.ms, detail: r2.detail }];
  if (!r2.ok) {
    stages.push({ name: 'health-verified', ok: false, ms: r2.ms, detail: `version: ${r2.detail}`, checks });
    return { ok: false, stages, firstHealthyAt: r1.firstHealthyAt, reason: `health-verified: version: ${r2.detail}` };
  }
  await enter('deep');
  const r3 = await gateDeep(target, r1.pid);
  checks.push(...r3.checks);
  stages.push({ name: 'health-verified', ok: r3.ok, ms: r2.ms + r3.ms, detail: r3.ok ? `${r2.detail}; ${r3.detail}` : `deep checks: ${r3.detail}`, checks });
  return { ok: r3.ok, stages, firstHealthyAt: r1.firstHealthyAt, reason: r3.ok ? '' : `health-verified: ${r3.detail}` };
}

/**
 * Poll liveness through the restart, as a client would: the last 200 before the
 * first failure is the old gateway's last healthy answer, the first 200 after it
 * the new gateway's first. Their difference is the downtime clients saw.
 */
function watchDowntime(url: string, maxMs: number): { stop(): Promise<{ lastOld: number | null; firstNew: number | null }> } {
  const until = Date.now() + maxMs;
  let lastOld: number | null = null;
  let firstNew: number | null = null;
  let gap = false;
  let running = true;
  const loop = (async () => {
    while (running && firstNew === null && Date.now() < until) {
      const r = await httpGet(url, 500);
      const ok = Boolean(r && r.status === 200);
      if (ok && !gap) lastOld = Date.now();
      else if (!ok) gap = true;
      else firstNew = Date.now();
      await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { lastOld, firstNew };
    },
  };
}

export async function applyTransition(deps: TransitionDeps, req: TransitionRequest): Promise<TransitionResult> {
  const { layout } = deps;
  const txid = newTxid();
  const red = redactorOf(deps.service);
  const log = transactionLog(layout, txid, deps.service);
  const progress = (m: string) => deps.onProgress(red(m));
  const svc = req.noRestart ? null : deps.service;
  const stages: StageResult[] = [];
  const journal = await JournalWriter.begin(
    layout,
    // manager is null when nothing will be restarted (no service, or --no-restart): recovery then keeps the flip as is.
    { txid, op: req.op, from: req.from, to: req.to, manager: svc?.manager ?? null, label: svc?.label ?? null, prePid: null, snapshot: null },
    parseFault(deps.fault),
    log,
  );
  await log({ event: 'begin', op: req.op, from: req.from, to: req.to });

  // snapshot: before anything changes
  let prePid: number | null = null;
  if (svc) {
    await journal.enter('snapshot');
    const st = await svc.status().catch(() => ({ running: false, pid: null, entry: null }));
    prePid = st.running ? st.pid : null;
    let snap: string | null;
    try {
      snap = await svc.snapshot(txid, req.from);
    } catch (e) {
      // Nothing live has changed: close the transaction so recovery does not act on it.
      await log({ event: 'snapshot-failed', message: (e as Error)?.message ?? String(e) });
      await clearJournal(layout);
      throw e;
    }
    await journal.update({ prePid, snapshot: snap });
    await log({ event: 'snapshot', id: snap, prePid });
  }

  // stage + validate while the old gateway keeps serving
  const t0 = Date.now();
  if (req.resolved && req.install) {
    await journal.enter('stage');
    progress(`staging ${req.to}`);
    try {
      const inst = await stageVersion(req.install, req.resolved);
      await log({ event: 'staged', version: inst.version, ok: true });
    } catch (e) {
      const err = e instanceof OcError ? e : new OcError('INTERNAL', String((e as Error)?.message ?? e));
      stages.push({ name: 'installed+promoted', ok: false, ms: Date.now() - t0, detail: err.message });
      stages.push(skipped('restarted+responsive', 'not promoted'), skipped('health-verified', 'not promoted'));
      await log({ event: 'stage-failed', code: err.code, message: err.message });
      await clearJournal(layout);
      throw Object.assign(err, { transition: { outcome: 'unchanged', from: req.from, to: req.to, txid, stages } satisfies TransitionResult });
    }
  }

  // flip
  await journal.enter('flip');
  await swapCurrent(layout, req.to);
  stages.push({ name: 'installed+promoted', ok: true, ms: Date.now() - t0, detail: `current → ${req.to}${req.resolved ? ' (staged, validated, sealed)' : ''}` });
  await log({ event: 'stage', name: 'installed+promoted', ok: true });

  if (!svc) {
    stages.push(
      skipped('restarted+responsive', deps.service ? '--no-restart' : 'no service installed'),
      skipped('health-verified', deps.service ? '--no-restart' : 'no service installed'),
    );
    return commit(deps, journal, req, stages, null, []);
  }

  const port = await probePort(deps);
  let restored: string[] = [];
  let watcher: ReturnType<typeof watchDowntime> | null = null;
  try {
    await journal.enter('definition');
    if (req.stateSnapshot && svc.restoreState) {
      const dbs = await svc.restoreState(req.stateSnapshot);
      // A rollback of this transaction must put the newer data back (its own snapshot).
      if (dbs.length) await journal.update({ stateRestored: true });
      if (dbs.length) {
        progress(`restored state databases from snapshot ${req.stateSnapshot} (${req.from} had migrated them; changes made since are lost): ${dbs.join(', ')}`);
        await log({ event: 'state-restored', snapshot: req.stateSnapshot, count: dbs.length });
      }
    }
    const d1 = await svc.checkDefinition();
    restored.push(...d1.restoredKeys);
    if (d1.restoredKeys.length) progress(`restored env keys dropped from the service definition: ${d1.restoredKeys.join(', ')}`);

    await journal.enter('restart');
    progress(`restarting the gateway (${svc.manager} ${svc.label})`);
    watcher = prePid ? watchDowntime(fillUrl(deps.config.health.livenessUrl, port), deps.config.health.responsiveDeadlineMs + 30_000) : null;
    await svc.restart(deps.config.service.drainMs);

    // Something may have rewritten the definition while the job restarted.
    const d2 = await svc.checkDefinition();
    if (d2.rewritten) {
      restored.push(...d2.restoredKeys);
      progress(`the service definition changed during the restart; restored ${d2.restoredKeys.join(', ') || 'it'} and restarting again`);
      await svc.restart(deps.config.service.drainMs);
    }
    restored = [...new Set(restored)];

    await journal.enter('gate-responsive');
    const gate = await runGate(deps, req.to, prePid, port, (p) => journal.enter(p === 'version' ? 'gate-version' : 'gate-deep'));
    const seen = watcher ? await watcher.stop() : { lastOld: null, firstNew: null };
    watcher = null;
    gate.stages = gate.stages.map((st) => ({ ...st, detail: red(st.detail), ...(st.checks ? { checks: st.checks.map((c) => ({ ...c, detail: red(c.detail) })) } : {}) }));
    gate.reason = red(gate.reason);
    for (const s of gate.stages) await log({ event: 'stage', name: s.name, ok: s.ok, detail: s.detail, ms: s.ms });
    stages.push(...gate.stages);
    if (gate.ok) {
      const firstNew = seen.firstNew !== null && gate.firstHealthyAt !== null ? Math.min(seen.firstNew, gate.firstHealthyAt) : (seen.firstNew ?? gate.firstHealthyAt);
      const downtimeMs = seen.lastOld !== null && firstNew !== null ? firstNew - seen.lastOld : null;
      return commit(deps, journal, req, stages, downtimeMs, restored);
    }
    return rollback(deps, journal, req, stages, gate.reason, port, restored);
  } catch (e) {
    if (watcher) await watcher.stop();
    if ((e as { transition?: unknown }).transition) throw e;
    const msg = red((e as Error)?.message ?? String(e));
    // A failure at commit or inside the rollback itself is left to recovery: never roll back twice.
    if (journal.journal.phase === 'commit' || journal.journal.phase.startsWith('rollback')) throw e;
    stages.push({ name: 'restarted+responsive', ok: false, ms: 0, detail: msg });
    return rollback(deps, journal, req, stages, msg, port, restored);
  }
}

async function commit(
  deps: TransitionDeps,
  journal: JournalWriter,
  req: TransitionRequest,
  stages: StageResult[],
  downtimeMs: number | null,
  restored: string[],
): Promise<TransitionResult> {
  await journal.enter('commit');
  let state = await readState(deps.layout);
  state = recordHistory({ ...state, current: req.to, previous: req.from && req.from !== req.to ? req.from : state.previous }, { action: req.op, from: req.from, to: req.to, txid: journal.journal.txid });
  await writeState(deps.layout, state);
  await appendLog(deps.layout, journal.journal.txid, { event: 'outcome', outcome: 'upgraded', from: req.from, to: req.to, downtimeMs });
  await clearJournal(deps.layout);
  return { outcome: 'upgraded', from: req.from, to: req.to, txid: journal.journal.txid, stages, downtimeMs, restoredEnvKeys: restored };
}

/**
 * Flip back, restore the definition, restart, gate the old version. Exactly once:
 * if the old version fails too the result is `degraded`, the journal is kept
 * (marked) and nothing retries on its own.
 */
export async function rollback(
  deps: TransitionDeps,
  journal: JournalWriter,
  req: Pick<TransitionRequest, 'from' | 'to' | 'op'>,
  stages: StageResult[],
  reason: string,
  port: number,
  restored: string[] = [],
): Promise<TransitionResult> {
  const svc = deps.service!;
  const rbStages: StageResult[] = [];
  const txid = journal.journal.txid;
  const red = redactorOf(svc);
  reason = red(reason);
  const log = transactionLog(deps.layout, txid, svc);
  deps.onProgress(`rolling back to ${req.from ?? '(nothing)'}: ${reason}`);
  await log({ event: 'rollback', reason });
  /** Stop here: the journal keeps the transaction, marked degraded, and nothing retries on its own. */
  const degraded = async (why: string, rollbackReason: string, next: string): Promise<TransitionResult> => {
    await journal.update({ reason: `degraded: ${why}` }).catch(() => {});
    return { outcome: 'degraded', from: req.from, to: req.to, txid, stages, rollback: { reason: rollbackReason, stages: rbStages }, next };
  };
  if (!req.from || !(await readSeal(deps.layout, req.from))) {
    return degraded(`${reason} (no previous version to roll back to)`, reason, 'no previous version is installed; fix the gateway, then run `oc-versions recover`');
  }
  try {
    await journal.enter('rollback-flip', { reason });
    await swapCurrent(deps.layout, req.from);
    rbStages.push({ name: 'flip-back', ok: true, ms: 0, detail: `current → ${req.from}` });
    await journal.enter('rollback-definition');
    const d = await svc.checkDefinition();
    const snap = journal.journal.snapshot;
    const restoredDbs = snap && svc.restoreState ? await svc.restoreState(snap, { force: Boolean(journal.journal.stateRestored) }) : [];
    rbStages.push({
      name: 'restore-definition',
      ok: d.unrestorableKeys.length === 0,
      ms: 0,
      detail: `restored keys: ${d.restoredKeys.join(', ') || 'none needed'}${d.unrestorableKeys.length ? `; could not restore: ${d.unrestorableKeys.join(', ')}` : ''}${restoredDbs.length ? `; state restored: ${restoredDbs.join(', ')}` : ''}`,
    });
    await journal.enter('rollback-restart');
    await svc.restart(deps.config.service.drainMs);
    await journal.enter('rollback-gate');
    const gate = await runGate(deps, req.from, null, port);
    gate.reason = red(gate.reason);
    rbStages.push(...gate.stages.map((st) => ({ ...st, detail: red(st.detail) })));
    for (const s of gate.stages) await log({ event: 'rollback-stage', name: s.name, ok: s.ok, detail: s.detail });
    if (gate.ok) {
      let state = await readState(deps.layout);
      state = recordHistory({ ...state, current: req.from }, { action: `${req.op} to ${req.to} failed; rolled back`, from: req.from, to: req.from, txid });
      await writeState(deps.layout, state);
      await log({ event: 'outcome', outcome: 'rolled-back', version: req.from });
      await clearJournal(deps.layout);
      return { outcome: 'rolled-back', from: req.from, to: req.to, txid, stages, rollback: { reason, stages: rbStages }, restoredEnvKeys: restored };
    }
    await log({ event: 'outcome', outcome: 'degraded', reason: gate.reason });
    return degraded(
      `${reason}; old version: ${gate.reason}`,
      reason,
      `current points at ${req.from} but its gateway is unhealthy (${gate.reason}); inspect the gateway log, fix the cause, then run \`oc-versions recover\``,
    );
  } catch (e) {
    const msg = red((e as Error)?.message ?? String(e));
    if (/injected fault/.test(msg)) throw e;
    return degraded(`${reason}; rollback failed: ${msg}`, `${reason}; rollback failed: ${msg}`, 'run `oc-versions recover` once the cause is fixed');
  }
}
