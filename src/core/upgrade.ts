/**
 * The supervised transition (upgrade, and use/rollback on a running service).
 *
 * planTransition (pure) returns the steps; applyTransition walks them in order:
 *   begin → snapshot → stage (+validate, old gateway still serving) → flip
 *   → definition check → restart (+ definition re-check) → gate (responsive,
 *   version, deep) → commit. Before the flip a failure closes the transaction and
 *   changes nothing live; after it, any failure → automatic rollback:
 *   flip back → restore definition/env → restart → gate the old version →
 *   rolled-back, or degraded if the old one fails too (no second attempt: never flap).
 * Each phase is journaled before it runs (src/core/journal.ts). The core never
 * prints; progress goes through the callback.
 */
import { OcError } from '../errors.js';
import type { Config } from './config.js';
import { fillUrl, gateTarget, runGate, settleGateway, watchDowntime, type StageResult } from './health.js';
import { stageVersion, type InstallOptions } from './install.js';
import { appendLog, clearJournal, JournalWriter, newTxid, parseFault, type Journal } from './journal.js';
import type { Layout } from './layout.js';
import { readState, recordHistory, writeState } from './state.js';
import { readSeal, swapCurrent } from './store.js';
import { runCanary, withSealedScratch, type CanaryResult } from '../openclaw/canary.js';
import { probeHandoff, probeTimeoutMs, type HandoffProbe } from './handoff.js';
import { resolveConfigPath, resolveStateDir } from '../openclaw/state.js';
import type { ResolvedPackage } from '../registry/index.js';
import { redactedSink, type ProgressSink } from './progress.js';

/**
 * What a transition did; each name has one meaning whatever the command (docs/cli.md#outcomes):
 * committed as `upgraded` (upgrade), `switched` (use, install --use) or `switched-back`
 * (rollback); `already-current` (nothing to do); `refused` (failed before the flip, nothing
 * live changed: only in an error document); `rolled-back` (the target failed after the flip,
 * the version it came from serves again: exit 6); `degraded` (exit 7).
 */
export type Outcome = 'upgraded' | 'switched' | 'switched-back' | 'already-current' | 'refused' | 'rolled-back' | 'degraded';

/** The outcome of a committed transition, by its op. */
export function committedOutcome(op: TransitionRequest['op']): Outcome {
  return op === 'use' ? 'switched' : op === 'rollback' ? 'switched-back' : 'upgraded';
}

export interface TransitionResult {
  outcome: Outcome;
  from: string | null;
  to: string;
  txid: string | null;
  stages: StageResult[];
  rollback?: { reason: string; stages: StageResult[] };
  downtimeMs?: number | null;
  restoredEnvKeys?: string[];
  /** The canary run before the flip (null when it did not run: --no-canary, no service, use/rollback). */
  canary?: CanaryResult | null;
  /** State databases set aside (never deleted) by this transition's restores: `<file>.oc-set-aside-<txid>`. */
  setAside?: string[];
  error?: { code: string; message: string };
  next?: string;
}

/** What the transition needs from the service layer (src/service), injected to keep the core free of backends. */
export interface ServicePort {
  manager: string;
  label: string;
  status(): Promise<{ running: boolean; pid: number | null; entry: string | null; restarts?: number; handoffs?: number }>;
  restart(drainMs: number): Promise<void>;
  /**
   * Check the definition against the record; restore missing env keys / program. With
   * `reload: false` only the file is restored, and `loadedOk` says whether the job the
   * manager runs still agrees with the record (null: the OS cannot tell).
   */
  checkDefinition(opts?: { reload?: boolean }): Promise<{ restoredKeys: string[]; unrestorableKeys: string[]; rewritten: boolean; loadedOk?: boolean | null }>;
  /** Load the definition on disk into the manager and restart the job from it. */
  reloadAndRestart?(drainMs: number): Promise<void>;
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
   * Every live database replaced, and every one created since the snapshot, is set aside as
   * `<file>.oc-set-aside-<txid>` (`setAside`: their paths), never deleted.
   */
  /** `onStopped`: called once the gateway has stopped (exited, not just unloaded), before any file changes. */
  restoreState?(snapshotId: string, opts: { force?: boolean; txid: string; onStopped?: () => Promise<void> }): Promise<{ restored: string[]; setAside: string[] }>;
  /**
   * Remember the live definition (file and env files byte for byte, in memory; the job's pid)
   * before the canary; `verify()` puts back whatever changed and says so (issue 31).
   */
  guardDefinition?(): Promise<{ verify(): Promise<{ ok: boolean; changed: boolean; detail: string }> }>;
  /** The gateway's arguments (after the launcher), for the canary. */
  gatewayArgs?(): Promise<string[]>;
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
  /** Run the new version as a canary on a copy of the live state before the flip. */
  canary?: boolean;
  /** Why this transition runs when no person asked for it (the stabilization watch), for history. */
  cause?: string;
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
  /** Each phase, check and gate stage (the core never prints). */
  out: ProgressSink;
  /** Faults for tests (OC_VERSIONS_FAULT); null in normal use. */
  fault?: string | undefined;
}

/** One step of a transition, in the order applyTransition walks them. */
export type StepId = 'begin' | 'snapshot' | 'stage' | 'canary' | 'flip' | 'no-restart' | 'definition' | 'restart' | 'gate' | 'settle' | 'commit';

export interface PlanStep {
  id: StepId;
  /** What the step does, for `upgrade --dry-run` and the docs. */
  lines: string[];
}

export interface UpgradePlan {
  from: string | null;
  to: string;
  stage: boolean;
  restart: boolean;
  /** What each step does, in order (the lines of `actions`). */
  steps: string[];
  noop: boolean;
  /** The steps applyTransition walks, in order. */
  actions: PlanStep[];
}

export interface PlanInput {
  from: string | null;
  to: string;
  installed: boolean;
  serviceInstalled: boolean;
  noRestart: boolean;
  op: Journal['op'];
  /** A canary was asked for (it runs only where a service will be restarted). */
  canary?: boolean;
  /** Settle observations after the gate (0 or absent: no settle step). */
  settleProbes?: number;
}

/** Pure: what an upgrade/use/rollback does, as the steps the apply walks. */
export function planTransition(input: PlanInput): UpgradePlan {
  const noop = input.from === input.to && input.installed;
  const restart = input.serviceInstalled && !input.noRestart;
  const actions: PlanStep[] = [];
  const step = (id: StepId, ...lines: string[]) => actions.push({ id, lines });
  if (noop) {
    return { from: input.from, to: input.to, stage: false, restart: false, steps: [`${input.to} is already current: nothing to do`], noop, actions };
  }
  step('begin', 'take the lock and open a journal');
  if (restart) step('snapshot', 'snapshot the service definition (secret values as references), env key names, state databases');
  if (!input.installed) step('stage', `stage ${input.to} in staging/, validate it, seal it (the old gateway keeps serving)`);
  if (restart && input.canary) {
    step('canary', `canary: run ${input.to}'s preflight and start it on a copy of the live state on a loopback port (/startupz, /readyz); the old gateway keeps serving`);
  }
  step('flip', `flip current ${input.from ?? '(none)'} → ${input.to} (atomic rename)`);
  if (restart) {
    step('definition', 'check the service definition and env keys; restore any missing');
    step('restart', 'restart the gateway through the service manager (drain budget honoured)');
    step(
      'gate',
      'gate: restarted+responsive (new pid, new real path, owns the port, liveness 200)',
      `gate: right version (${input.to} from the version probe)`,
      'gate: deep checks with the new CLI, state-dir links',
      `on any failure: flip back to ${input.from ?? '(none)'}, restore definition + env, restart, gate the old version`,
    );
    if (input.settleProbes) {
      step('settle', `settle: ${input.settleProbes} healthy observations over the settle window (same pid, /startupz started ${input.to}, /readyz 200), then the service definition on disk is checked again`);
    }
  } else {
    step('no-restart', input.serviceInstalled ? 'no restart (--no-restart): the running gateway keeps its version until restarted' : 'no service installed: nothing to restart');
  }
  step('commit', 'commit: record previous, close the journal');
  return { from: input.from, to: input.to, stage: !input.installed, restart, steps: actions.flatMap((x) => x.lines), noop, actions };
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

/**
 * The canary stage alone: `version` on a copy of the live state, while the gateway keeps
 * serving `from`. null when there is no OpenClaw state dir to copy. Used by the upgrade's
 * canary step and by `verify --canary`.
 */
export async function runCanaryStage(deps: TransitionDeps, version: string, from: string | null, id: string, progress: (m: string) => void): Promise<CanaryResult | null> {
  const svc = deps.service;
  const serviceEnv = svc ? await svc.env().catch(() => ({}) as Record<string, string>) : {};
  const stateDir = resolveStateDir(deps.config.openclawStateDir, { ...deps.env, ...serviceEnv });
  if (!stateDir) return null;
  const state = await readState(deps.layout);
  // The canary is sealed (its own HOME), but a version may find the real one by other means: the
  // live definition is compared byte for byte afterwards and put back before anything goes on.
  const guard = svc?.guardDefinition ? await svc.guardDefinition().catch(() => null) : null;
  const r = await runCanary(
    {
      layout: deps.layout,
      config: deps.config,
      version,
      stateDir,
      configPath: resolveConfigPath(stateDir, serviceEnv),
      livePort: await probePort(deps),
      gatewayArgs: svc?.gatewayArgs ? await svc.gatewayArgs() : (deps.config.service.gatewayArgs ?? ['gateway', 'run']),
      serviceEnv,
      measuredStartMs: from ? (state.startMs?.[from] ?? null) : null,
      redact: redactorOf(svc),
      id,
    },
    progress,
  );
  if (!guard) return r;
  const t = Date.now();
  const g = await guard.verify().catch((e: unknown) => ({ ok: false, changed: true, detail: `checking the live service definition failed: ${(e as Error)?.message ?? String(e)}` }));
  const detail = redactorOf(svc)(g.detail);
  r.checks.push({ name: 'definition', ok: g.ok, ms: Date.now() - t, detail, status: g.ok ? 'ok' : 'failed' });
  if (g.changed) {
    progress(`canary: ${detail}`);
    r.detail += `; ${detail}`;
  }
  if (!g.ok) r.ok = false;
  return r;
}

/** What the walk carries from step to step. */
interface Walk {
  plan: UpgradePlan;
  journal: JournalWriter;
  stages: StageResult[];
  svc: ServicePort | null;
  prePid: number | null;
  port: number;
  restored: string[];
  watcher: ReturnType<typeof watchDowntime> | null;
  /** Set once the gate passed: the downtime clients saw. */
  downtimeMs: number | null;
  /** Set when the gate failed: why (redacted). */
  gateFailure: string | null;
  canary: CanaryResult | null;
  /** When oc-versions asked the manager to restart onto the new version. */
  restartAt: number | null;
  /** Restart → first healthy answer of the new version. */
  startMs: number | null;
  /** The pid the gate accepted. */
  gatePid: number | null;
  /** Whether the target speaks OpenClaw's restart handoff (probed before the restart). */
  handoff: HandoffProbe | null;
  /** State databases set aside by this transition's restores. */
  setAside: string[];
}

export async function applyTransition(deps: TransitionDeps, req: TransitionRequest): Promise<TransitionResult> {
  const plan = planTransition({
    from: req.from,
    to: req.to,
    installed: !(req.resolved && req.install),
    serviceInstalled: Boolean(deps.service),
    noRestart: req.noRestart,
    op: req.op,
    canary: Boolean(req.canary),
    // A rollback returns to a version that ran here before: speed over a second settle.
    settleProbes: req.op === 'rollback' ? 0 : deps.config.health.settle.probes,
  });
  if (plan.noop) throw new OcError('INTERNAL', `applyTransition called for a no-op (${req.to} is already current)`);
  const { layout } = deps;
  const txid = newTxid();
  const red = redactorOf(deps.service);
  const log = transactionLog(layout, txid, deps.service);
  const out = redactedSink(deps.out, red);
  const progress = (m: string) => out.progress(m);
  const svc = plan.restart ? deps.service : null;
  const w = { plan, stages: [] as StageResult[], svc, prePid: null, port: deps.config.health.defaultPort, restored: [], watcher: null, downtimeMs: null, gateFailure: null, canary: null, restartAt: null, startMs: null, gatePid: null, handoff: null, setAside: [] } as Omit<Walk, 'journal'> & { journal?: JournalWriter };
  const t0 = Date.now();
  let flipped = false;

  for (const action of plan.actions) {
    if (action.id === 'begin') {
      w.journal = await JournalWriter.begin(
        layout,
        // manager is null when nothing will be restarted (no service, or --no-restart): recovery then keeps the flip as is.
        { txid, op: req.op, from: req.from, to: req.to, manager: svc?.manager ?? null, label: svc?.label ?? null, prePid: null, snapshot: null },
        parseFault(deps.fault),
        log,
      );
      await log({ event: 'begin', op: req.op, from: req.from, to: req.to, ...(req.cause ? { cause: req.cause } : {}) });
      continue;
    }
    const walk = w as Walk;
    if (!flipped) {
      // Before the flip nothing live has changed: a failure closes the transaction and throws.
      await runBeforeFlip(deps, req, walk, action.id, { txid, t0, log, progress, out });
      if (action.id === 'flip') flipped = true;
      continue;
    }
    if (action.id === 'no-restart') {
      const why = deps.service ? '--no-restart' : 'no service installed';
      walk.stages.push(skipped('restarted+responsive', why), skipped('health-verified', why));
      continue;
    }
    if (action.id === 'commit') {
      if (walk.gateFailure !== null) return withCanary(await rollback(deps, walk.journal, req, walk.stages, walk.gateFailure, walk.port, walk.restored), walk);
      const budgetMs = Math.max(deps.config.health.settle.minWindowMs, walk.canary?.startMs ?? 0, walk.startMs ?? 0);
      return withCanary(await commit(deps, walk.journal, req, walk.stages, walk.downtimeMs, walk.restored, walk.startMs, walk.svc ? { pid: walk.gatePid, budgetMs } : null), walk);
    }
    if (walk.gateFailure !== null) continue;
    try {
      await runAfterFlip(deps, req, walk, action.id, out);
    } catch (e) {
      if (walk.watcher) await walk.watcher.stop();
      walk.watcher = null;
      if ((e as { transition?: unknown }).transition) throw e;
      const msg = red((e as Error)?.message ?? String(e));
      // A failure inside the rollback itself is left to recovery: never roll back twice.
      if (walk.journal.journal.phase.startsWith('rollback')) throw e;
      walk.stages.push({ name: 'restarted+responsive', ok: false, ms: 0, detail: msg });
      return withCanary(await rollback(deps, walk.journal, req, walk.stages, msg, walk.port, walk.restored), walk);
    }
  }
  throw new OcError('INTERNAL', 'the transition plan has no commit step');
}

function withCanary(r: TransitionResult, w: Walk): TransitionResult {
  const setAside = [...w.setAside, ...(r.setAside ?? [])];
  return { ...r, ...(w.canary ? { canary: w.canary } : {}), ...(setAside.length ? { setAside } : {}) };
}

interface StepTools {
  txid: string;
  t0: number;
  log: (entry: Record<string, unknown>) => Promise<void>;
  progress: (m: string) => void;
  out: ProgressSink;
}

/** snapshot → stage → flip: the old gateway keeps serving; a failure changes nothing live. */
async function runBeforeFlip(deps: TransitionDeps, req: TransitionRequest, w: Walk, id: StepId, t: StepTools): Promise<void> {
  const { layout } = deps;
  switch (id) {
    case 'snapshot': {
      const svc = w.svc!;
      await w.journal.enter('snapshot');
      t.out.phase('snapshot', 'snapshot: the service definition (secret values as references), env key names, state databases');
      const st = await svc.status().catch(() => ({ running: false, pid: null, entry: null }));
      w.prePid = st.running ? st.pid : null;
      let snap: string | null;
      try {
        snap = await svc.snapshot(t.txid, req.from);
      } catch (e) {
        // Nothing live has changed: close the transaction so recovery does not act on it.
        await t.log({ event: 'snapshot-failed', message: (e as Error)?.message ?? String(e) });
        await clearJournal(layout);
        throw e;
      }
      await w.journal.update({ prePid: w.prePid, snapshot: snap });
      await t.log({ event: 'snapshot', id: snap, prePid: w.prePid });
      t.out.end(snap ? `snapshot ${snap}` : undefined);
      return;
    }
    case 'stage': {
      await w.journal.enter('stage');
      t.progress(`staging ${req.to}`);
      try {
        const inst = await stageVersion(req.install!, req.resolved!);
        await t.log({ event: 'staged', version: inst.version, ok: true });
      } catch (e) {
        const err = e instanceof OcError ? e : new OcError('INTERNAL', String((e as Error)?.message ?? e));
        w.stages.push({ name: 'installed+promoted', ok: false, ms: Date.now() - t.t0, detail: err.message });
        w.stages.push(skipped('restarted+responsive', 'not promoted'), skipped('health-verified', 'not promoted'));
        await t.log({ event: 'stage-failed', code: err.code, message: err.message });
        await clearJournal(layout);
        throw Object.assign(err, { transition: { outcome: 'refused', from: req.from, to: req.to, txid: t.txid, stages: w.stages } satisfies TransitionResult });
      }
      return;
    }
    case 'canary': {
      await w.journal.enter('canary');
      t.out.phase('canary', `canary: ${req.to} on a copy of the live state (the gateway keeps serving ${req.from ?? 'nothing'})`);
      const r = await runCanaryStage(deps, req.to, req.from, t.txid, t.progress);
      if (!r) {
        t.out.end('skipped: no OpenClaw state dir (no HOME and none configured)');
        return;
      }
      t.out.check({ name: 'canary', ok: r.ok, ms: r.ms, detail: r.ok ? '' : r.detail });
      t.out.end();
      w.canary = r;
      await t.log({ event: 'stage', name: 'canary', ok: r.ok, detail: r.detail, ms: r.ms, startMs: r.startMs });
      if (r.ok) return;
      // Refused before anything live changed: the transaction closes; the sealed version stays.
      await clearJournal(layout);
      const stages: StageResult[] = [
        { name: 'canary', ok: false, ms: r.ms, detail: r.detail, ...(r.checks.length ? { checks: r.checks } : {}) },
        skipped('installed+promoted', 'refused by the canary'),
        skipped('restarted+responsive', 'refused by the canary'),
        skipped('health-verified', 'refused by the canary'),
      ];
      throw Object.assign(
        new OcError('VALIDATION_FAILED', `the canary of ${req.to} failed: ${r.detail}`, {
          hint: `nothing changed: the gateway still serves ${req.from ?? 'what it served'}; ${req.to} stays installed (rehearse with oc-versions verify ${req.to} --canary)`,
        }),
        { transition: { outcome: 'refused', from: req.from, to: req.to, txid: t.txid, stages, canary: r } satisfies TransitionResult },
      );
    }
    case 'flip': {
      await w.journal.enter('flip');
      t.out.phase('flip', `flipping current ${req.from ?? '(none)'} → ${req.to}`);
      await swapCurrent(layout, req.to);
      t.out.end();
      const promoted = { name: 'installed+promoted', ok: true, ms: Date.now() - t.t0, detail: `current → ${req.to}${req.resolved ? ' (staged, validated, sealed)' : ''}` };
      w.stages.push(promoted);
      // Its time, as the report shows it (history reads it from here).
      await t.log({ event: 'stage', ...promoted });
      if (w.svc) w.port = await probePort(deps);
      return;
    }
    default:
      throw new OcError('INTERNAL', `step ${id} cannot run before the flip`);
  }
}

/** definition → restart → gate: a throw here rolls back (the caller's catch). */
async function runAfterFlip(deps: TransitionDeps, req: TransitionRequest, w: Walk, id: StepId, out: ProgressSink): Promise<void> {
  const svc = w.svc!;
  const progress = (m: string) => out.progress(m);
  const red = redactorOf(deps.service);
  const log = transactionLog(deps.layout, w.journal.journal.txid, deps.service);
  switch (id) {
    case 'definition': {
      await w.journal.enter('definition');
      if (req.stateSnapshot && svc.restoreState) {
        // Marked first: a rollback of this transaction (or its recovery after a kill half-way
        // through the restore) must put the newer data back from its own snapshot.
        await w.journal.update({ stateRestored: true });
        const r = await svc.restoreState(req.stateSnapshot, { txid: w.journal.journal.txid, onStopped: () => log({ event: 'state-restore-begin' }) });
        w.setAside.push(...r.setAside);
        if (r.setAside.length) await log({ event: 'state-set-aside', files: r.setAside });
        if (!r.restored.length && !r.setAside.length) await w.journal.update({ stateRestored: false });
        if (r.restored.length) {
          progress(
            `restored state databases from snapshot ${req.stateSnapshot} (${req.from} had migrated them; the newer databases are set aside, not lost: oc-versions state aside list): ${r.restored.join(', ')}`,
          );
          await log({ event: 'state-restored', snapshot: req.stateSnapshot, count: r.restored.length });
        }
      }
      const d = await svc.checkDefinition();
      w.restored.push(...d.restoredKeys);
      if (d.restoredKeys.length) progress(`restored env keys dropped from the service definition: ${d.restoredKeys.join(', ')}`);
      return;
    }
    case 'restart': {
      await w.journal.enter('restart');
      // Asked of the exact runtime, before anything stops (it is not downtime).
      const target = await gateTarget(deps, req.to, w.prePid, w.port);
      // Sealed like the canary (its own HOME): the target's code runs here before it serves.
      w.handoff = await withSealedScratch(deps.layout, `${w.journal.journal.txid}-probe`, target.stateDir, target.env, (env, cwd) =>
        probeHandoff(target.runtimeNode, target.bin, env, probeTimeoutMs(deps.config.health.responsiveDeadlineMs), cwd),
      );
      out.phase('restart', `restarting the gateway (${svc.manager} ${svc.label})`);
      w.watcher = w.prePid ? watchDowntime(fillUrl(deps.config.health.livenessUrl, w.port), deps.config.health.responsiveDeadlineMs + 30_000) : null;
      // One answer of the old gateway first, else a slow first probe racing the stop loses the outage's start.
      if (w.watcher) await w.watcher.ready;
      w.restartAt = Date.now();
      await svc.restart(deps.config.service.drainMs);
      w.watcher?.restarted();
      // Something may have rewritten the definition while the job restarted.
      const d = await svc.checkDefinition();
      if (d.rewritten) {
        w.restored.push(...d.restoredKeys);
        progress(`the service definition changed during the restart; restored ${d.restoredKeys.join(', ') || 'it'} and restarting again`);
        await svc.restart(deps.config.service.drainMs);
      }
      out.end();
      w.restored = [...new Set(w.restored)];
      return;
    }
    case 'gate': {
      await w.journal.enter('gate-responsive');
      const gate = await runGate(deps, req.to, w.prePid, w.port, { enter: (p) => w.journal.enter(p === 'version' ? 'gate-version' : 'gate-deep'), out });
      const seen = w.watcher ? await w.watcher.stop() : { lastOld: null, firstNew: null };
      w.watcher = null;
      if (w.handoff && gate.pid !== null) {
        // Our restart stops the old gateway with SIGTERM, which writes no handoff row (only a
        // restart request in external mode does): there is nothing to consume for the old pid, and
        // the new gateway's pid never wrote one. Said, not pretended (docs/service.md#the-restart-handoff).
        const note = w.handoff.supported
          ? `restart handoff: the target speaks ${w.handoff.detail}; the stop was SIGTERM, which writes no handoff row: nothing to consume`
          : `restart handoff: ${w.handoff.detail}; plain stop/start`;
        const first = gate.stages.find((s) => s.name === 'restarted+responsive');
        if (first) first.detail = `${first.detail}; ${note}`;
      }
      gate.stages = gate.stages.map((st) => ({ ...st, detail: red(st.detail), ...(st.checks ? { checks: st.checks.map((c) => ({ ...c, detail: red(c.detail) })) } : {}) }));
      for (const s of gate.stages) await log({ event: 'stage', name: s.name, ok: s.ok, detail: s.detail, ms: s.ms });
      w.stages.push(...gate.stages);
      w.gatePid = gate.pid;
      if (!gate.ok) {
        w.gateFailure = red(gate.reason);
        return;
      }
      // The gate may have seen the new gateway healthy before the watcher's next probe did.
      const gateFirst = gate.firstHealthyAt !== null && (seen.lastOld === null || gate.firstHealthyAt > seen.lastOld) ? gate.firstHealthyAt : null;
      const firstNew = seen.firstNew !== null && gateFirst !== null ? Math.min(seen.firstNew, gateFirst) : (seen.firstNew ?? gateFirst);
      w.downtimeMs = seen.lastOld !== null && firstNew !== null ? firstNew - seen.lastOld : null;
      w.startMs = w.restartAt !== null && gate.firstHealthyAt !== null ? gate.firstHealthyAt - w.restartAt : null;
      return;
    }
    case 'settle': {
      await w.journal.enter('settle');
      const target = await gateTarget(deps, req.to, w.prePid, w.port);
      // At least the configured window, and at least as long as the new version took to start
      // in the canary: a crash "a few seconds after start" must fall inside it.
      const windowMs = Math.max(deps.config.health.settle.minWindowMs, w.canary?.startMs ?? 0);
      out.phase('settle', `settling ${req.to}: ${deps.config.health.settle.probes} observations over ${windowMs} ms`);
      const r = await settleGateway(target, w.gatePid!, windowMs, deps.config.health.settle.probes);
      let detail = red(r.detail);
      if (r.ok) {
        // A version may rewrite its service definition while it starts (OpenClaw's Doctor, an
        // auto-update): after the settle the file must again say what the loaded job runs.
        const d = await svc.checkDefinition({ reload: false });
        if (d.rewritten) {
          w.restored = [...new Set([...w.restored, ...d.restoredKeys])];
          if (d.loadedOk === false && svc.reloadAndRestart) {
            progress(`the service definition was rewritten and the running job lacks ${d.restoredKeys.join(', ') || 'the launcher'}; reloading it`);
            await svc.reloadAndRestart(deps.config.service.drainMs);
            const again = await runGate(deps, req.to, w.gatePid, w.port, { out });
            if (!again.ok) {
              w.stages.push({ name: 'settle', ok: false, ms: r.ms, detail: `${detail}; definition rewritten during the start; after reloading it: ${red(again.reason)}` });
              w.gateFailure = red(`settle: ${again.reason}`);
              return;
            }
            detail += `; definition rewritten during the start: restored ${d.restoredKeys.join(', ') || 'the program'} and reloaded the job`;
          } else {
            detail += `; definition rewritten during the start: restored ${d.restoredKeys.join(', ') || 'the program'} in the file (the loaded job ${d.loadedOk === null ? 'could not be inspected' : 'already had them'}: not reloaded)`;
          }
        }
      }
      const stage: StageResult = { name: 'settle', ok: r.ok, ms: r.ms, detail };
      out.check(stage);
      out.end();
      await log({ event: 'stage', name: stage.name, ok: stage.ok, detail: stage.detail, ms: stage.ms });
      w.stages.push(stage);
      if (!r.ok) w.gateFailure = `settle: ${detail}`;
      return;
    }
    default:
      throw new OcError('INTERNAL', `step ${id} cannot run after the flip`);
  }
}

async function commit(
  deps: TransitionDeps,
  journal: JournalWriter,
  req: TransitionRequest,
  stages: StageResult[],
  downtimeMs: number | null,
  restored: string[],
  startMs: number | null = null,
  watch: { pid: number | null; budgetMs: number } | null = null,
): Promise<TransitionResult> {
  await journal.enter('commit');
  let state = await readState(deps.layout);
  state = recordHistory({ ...state, current: req.to, previous: req.from && req.from !== req.to ? req.from : state.previous }, { action: req.op, from: req.from, to: req.to, txid: journal.journal.txid });
  if (startMs !== null) state = { ...state, startMs: { ...state.startMs, [req.to]: startMs } };
  // Any earlier watch ends with this transition; an upgrade opens a new one.
  delete state.watch;
  if (watch && req.op === 'upgrade' && deps.service && deps.config.watch.windowMs > 0) {
    const st = await deps.service.status().catch(() => null);
    const now = Date.now();
    state.watch = {
      txid: journal.journal.txid,
      version: req.to,
      from: req.from,
      since: new Date(now).toISOString(),
      until: new Date(now + deps.config.watch.windowMs).toISOString(),
      budgetMs: watch.budgetMs,
      lastPid: st?.pid ?? watch.pid,
      baselineRestarts: typeof st?.restarts === 'number' ? st.restarts : null,
      lastHandoffs: typeof st?.handoffs === 'number' ? st.handoffs : null,
      restarts: 0,
      downSince: null,
      readyFailingSince: null,
      lastProbe: null,
    };
  }
  await writeState(deps.layout, state);
  const outcome = committedOutcome(req.op);
  await appendLog(deps.layout, journal.journal.txid, { event: 'outcome', outcome, from: req.from, to: req.to, downtimeMs });
  await clearJournal(deps.layout);
  return { outcome, from: req.from, to: req.to, txid: journal.journal.txid, stages, downtimeMs, restoredEnvKeys: restored };
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
  const setAside: string[] = [];
  const txid = journal.journal.txid;
  const red = redactorOf(svc);
  reason = red(reason);
  const log = transactionLog(deps.layout, txid, svc);
  const out = redactedSink(deps.out, red);
  out.phase('rollback', `rolling back to ${req.from ?? '(nothing)'}: ${reason}`);
  await log({ event: 'rollback', reason });
  /** Stop here: the journal keeps the transaction, marked degraded, and nothing retries on its own. */
  const degraded = async (why: string, rollbackReason: string, next: string): Promise<TransitionResult> => {
    await journal.update({ reason: `degraded: ${why}` }).catch(() => {});
    return { outcome: 'degraded', from: req.from, to: req.to, txid, stages, rollback: { reason: rollbackReason, stages: rbStages }, next, ...(setAside.length ? { setAside } : {}) };
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
    const rs = snap && svc.restoreState ? await svc.restoreState(snap, { force: Boolean(journal.journal.stateRestored), txid, onStopped: () => log({ event: 'state-restore-begin' }) }) : { restored: [], setAside: [] };
    const restoredDbs = rs.restored;
    setAside.push(...rs.setAside);
    if (rs.setAside.length) await log({ event: 'state-set-aside', files: rs.setAside });
    rbStages.push({
      name: 'restore-definition',
      ok: d.unrestorableKeys.length === 0,
      ms: 0,
      detail: `restored keys: ${d.restoredKeys.join(', ') || 'none needed'}${d.unrestorableKeys.length ? `; could not restore: ${d.unrestorableKeys.join(', ')}` : ''}${restoredDbs.length ? `; state restored: ${restoredDbs.join(', ')}` : ''}`,
    });
    await journal.enter('rollback-restart');
    out.phase('restart', `restarting the gateway on ${req.from} (${svc.manager} ${svc.label})`);
    await svc.restart(deps.config.service.drainMs);
    out.end();
    await journal.enter('rollback-gate');
    const gate = await runGate(deps, req.from, null, port, { out });
    gate.reason = red(gate.reason);
    rbStages.push(...gate.stages.map((st) => ({ ...st, detail: red(st.detail) })));
    for (const s of gate.stages) await log({ event: 'rollback-stage', name: s.name, ok: s.ok, detail: s.detail });
    if (gate.ok) {
      let state = await readState(deps.layout);
      state = recordHistory({ ...state, current: req.from }, { action: `${req.op} to ${req.to} failed; rolled back`, from: req.from, to: req.from, txid });
      delete state.watch;
      await writeState(deps.layout, state);
      await log({ event: 'outcome', outcome: 'rolled-back', version: req.from });
      await clearJournal(deps.layout);
      return { outcome: 'rolled-back', from: req.from, to: req.to, txid, stages, rollback: { reason, stages: rbStages }, restoredEnvKeys: restored, ...(setAside.length ? { setAside } : {}) };
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
