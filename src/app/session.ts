/**
 * A mutating session: the lock, then recovery of an orphaned transaction (by
 * the verb's policy), then a sweep of leftovers, then the verb's work. Read-only
 * verbs never come here, so they never wait for the lock nor load recovery.
 */
import { readJournal } from '../core/journal.js';
import { withLock } from '../core/lock.js';
import type { CommandContext } from './context.js';
import { sweepLeftovers } from './home.js';
import type { RecoveryPolicy } from './recovery.js';

/** Run fn under the lock, after recovery of any unfinished transaction and a sweep of leftovers. */
export async function mutating<T>(ctx: CommandContext, command: string, fn: () => Promise<T>, policy: RecoveryPolicy = 'finish'): Promise<T> {
  return withLock(ctx.layout, command, async () => {
    // Recovery (and the service layer it pulls in: every backend, plist, …) is loaded only when
    // there is a transaction to recover: a plain install never pays for it.
    if (policy !== 'none' && (await readJournal(ctx.layout))) {
      const { recoverBefore } = await import('./recovery.js');
      await recoverBefore(ctx, command, policy);
    }
    await sweepLeftovers(ctx);
    return fn();
  });
}
