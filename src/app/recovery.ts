/**
 * Recovery of an orphaned transaction before a mutating verb runs (its policy
 * decides what a degraded transaction means), and the `recover` operation itself.
 */
import { OcError } from '../errors.js';
import { appendLog, clearJournal, isOrphaned, readJournal, type Journal } from '../core/journal.js';
import { isDegraded, recoverJournal, type RecoverResult } from '../core/recover.js';
import type { CommandContext } from './context.js';
import { openServicePort } from './service-port.js';
import { transitionDeps } from './transition.js';

/**
 * What a verb does with a transaction an earlier, killed command left open:
 *  - `finish`: finish or undo it first; a degraded one refuses the verb (exit 7);
 *  - `keep-degraded`: as `finish`, but a degraded one stays open and the verb goes on
 *    (service control and snapshots: the operator needs them to repair the host);
 *  - `take-over`: as `finish`, but a degraded one is closed by this verb (use, rollback:
 *    the operator chooses the version explicitly);
 *  - `none`: the verb handles the journal itself (recover).
 */
export type RecoveryPolicy = 'finish' | 'keep-degraded' | 'take-over' | 'none';

function assertOrphaned(j: Journal): void {
  // Its owner is alive (a lock judged stale under load, say): never act on a live transaction.
  if (!isOrphaned(j)) {
    throw new OcError('LOCKED', `an ${j.op} (${j.txid}) is still running in pid ${j.pid}`, { hint: 'follow it with oc-versions status' });
  }
}

export async function recoverBefore(ctx: CommandContext, command: string, policy: Exclude<RecoveryPolicy, 'none'>): Promise<void> {
  const j = await readJournal(ctx.layout);
  if (!j) return;
  assertOrphaned(j);
  if (isDegraded(j) && policy === 'keep-degraded') return;
  if (isDegraded(j) && policy === 'take-over') {
    // The operator takes over a degraded host explicitly: close the degraded transaction, keep its log.
    await appendLog(ctx.layout, j.txid, { event: 'closed-by-operator', command });
    await clearJournal(ctx.layout);
    ctx.out.progress(`closed the degraded transaction ${j.txid}; ${command} proceeds`);
    return;
  }
  const r = await recoverJournal(transitionDeps(ctx, await openServicePort(ctx)), { explicit: false });
  ctx.out.progress(`recovered ${r.txid}: ${r.outcome === 'new' ? `on the new version ${r.version}` : r.outcome === 'old' ? `on the old version ${r.version}` : r.outcome} (${r.detail})`);
}

/**
 * The `recover` verb's work, under the lock. `explicit` (not --auto) also retries a
 * degraded transaction once; the periodic agent never does, so it cannot make a gateway flap.
 */
export async function recoverNow(ctx: CommandContext, explicit: boolean): Promise<RecoverResult> {
  const j = await readJournal(ctx.layout);
  if (j) assertOrphaned(j);
  return recoverJournal(transitionDeps(ctx, await openServicePort(ctx)), { explicit });
}
