/**
 * Recovery of an unfinished transaction (the updater died: SIGKILL, crash, reboot).
 * Runs under the lock, so any journal found is orphaned. Converges to a gateway on
 * the old or the new version and says which:
 *  - died before `flip` (begin/snapshot/stage/canary): nothing live changed; the staged
 *    tree and any canary (process group, copied state) are swept, the gateway is
 *    started if it is not running → old;
 *  - died at `commit` (every gate had passed): finish the commit → new;
 *  - died between `flip` and `commit`, or during a rollback: roll back (flip to
 *    the old version, restore the definition, restart, gate it) → old, or
 *    degraded if the old version fails its gate;
 *  - no service: the flip is all there is; state follows `current`.
 * A journal already marked degraded is not retried automatically (never flap):
 * only an explicit `oc-versions recover` tries once more.
 */
import { OcError } from '../errors.js';
import { clearJournal, JournalWriter, readJournal, type Journal } from './journal.js';
import { readState, recordHistory, writeState } from './state.js';
import { readCurrent, readSeal } from './store.js';
import { sweepCanary } from '../openclaw/canary.js';
import { rollback, transactionLog, type TransitionDeps, type TransitionResult } from './upgrade.js';
import type { StageResult } from './health.js';

export interface RecoverResult {
  recovered: boolean;
  txid: string | null;
  phase: string | null;
  /** Which version the host converged to. */
  outcome: 'none' | 'old' | 'new' | 'degraded';
  version: string | null;
  detail: string;
  stages: StageResult[];
}

const BEFORE_FLIP = new Set(['begin', 'snapshot', 'stage', 'canary']);

export function isDegraded(j: Journal): boolean {
  return typeof j.reason === 'string' && j.reason.startsWith('degraded');
}

export async function recoverJournal(deps: TransitionDeps, opts: { explicit: boolean }): Promise<RecoverResult> {
  const j = await readJournal(deps.layout);
  if (!j) {
    return { recovered: false, txid: null, phase: null, outcome: 'none', version: await readCurrent(deps.layout), detail: 'nothing to recover', stages: [] };
  }
  const log = transactionLog(deps.layout, j.txid, deps.service);
  if (isDegraded(j) && !opts.explicit) {
    throw new OcError('DEGRADED', `the last ${j.op} (${j.txid}) ended degraded: ${j.reason}`, {
      hint: 'fix the gateway, then run `oc-versions recover` (or `oc-versions use <version>`)',
    });
  }
  await log({ event: 'recover', phase: j.phase, explicit: opts.explicit });
  deps.out.progress(`recovering the interrupted ${j.op} ${j.from ?? '(none)'} → ${j.to} (stopped at phase ${j.phase})`);
  const svc = deps.service;
  const done = async (outcome: RecoverResult['outcome'], version: string | null, detail: string, stages: StageResult[] = []): Promise<RecoverResult> => {
    await log({ event: 'recovered', outcome, version });
    return { recovered: true, txid: j.txid, phase: j.phase, outcome, version, detail, stages };
  };

  if (BEFORE_FLIP.has(j.phase)) {
    // Nothing live changed. A gateway that was running before the transaction (prePid) and is
    // down now is started again; one the user had stopped stays stopped.
    let note = '';
    const swept = await sweepCanary(deps.layout);
    if (swept.killed.length) note += `; stopped the canary (pid ${swept.killed.join(', ')})`;
    if (svc && j.prePid !== null) {
      const st = await svc.status().catch(() => ({ running: false, pid: null, entry: null }));
      if (!st.running) {
        await svc.restart(deps.config.service.drainMs).catch((e: unknown) => {
          note = `; starting the gateway failed: ${(e as Error)?.message ?? e}`;
        });
      }
    }
    await clearJournal(deps.layout);
    return done('old', await readCurrent(deps.layout), `died before the switch (phase ${j.phase}); nothing live had changed${note}`);
  }

  if (j.phase === 'commit' || !svc || j.manager === null) {
    // Every gate passed (or there is no service to gate): the switch stands as `current` says.
    const current = await readCurrent(deps.layout);
    let state = await readState(deps.layout);
    const converged = current ?? j.from;
    state = recordHistory(
      { ...state, current: converged, previous: converged === j.to ? j.from ?? state.previous : state.previous },
      { action: `${j.op} (recovered)`, from: j.from, to: converged, txid: j.txid },
    );
    await writeState(deps.layout, state);
    await clearJournal(deps.layout);
    return done(converged === j.to ? 'new' : 'old', converged, j.phase === 'commit' ? 'the gate had passed; finished the commit' : 'no service: kept the switch as current says');
  }

  if (!j.from || !(await readSeal(deps.layout, j.from))) {
    // Mark it, so later commands stop retrying and the operator can take over with use/recover.
    await new JournalWriter(deps.layout, j, null, log).update({ reason: 'degraded: interrupted with no previous version to roll back to' });
    throw new OcError('DEGRADED', `cannot roll back the interrupted ${j.op}: no previous version`, { hint: 'oc-versions use <version> once one is healthy' });
  }
  const writer = new JournalWriter(deps.layout, j, null, log);
  const port = (await svc.port()) ?? deps.config.health.defaultPort;
  const r: TransitionResult = await rollback(deps, writer, { from: j.from, to: j.to, op: j.op }, [], `recovering from an interruption at phase ${j.phase}`, port);
  const stages = r.rollback?.stages ?? [];
  if (r.outcome === 'rolled-back') return done('old', j.from, `rolled back to ${j.from}`, stages);
  return done('degraded', j.from, r.next ?? 'degraded', stages);
}
