import { OcError } from '../errors.js';
import { inspectLock, lockedError } from '../core/lock.js';
import { readState } from '../core/state.js';
import { readCurrent } from '../core/store.js';
import type { CommandContext } from '../app/context.js';
import { resolveInstalled } from '../app/home.js';
import { mutating } from '../app/session.js';
import { activate } from '../app/switch.js';

export async function run(ctx: CommandContext, raw: string | undefined, opts: { noRestart?: boolean; restoreState?: boolean }): Promise<number> {
  if (!raw) throw new OcError('USAGE', 'use needs a version or range', { hint: 'oc-versions use 2026.9.6' });
  const version = await resolveInstalled(ctx, raw);
  return mutating(ctx, 'use', async () => {
    const from = await readCurrent(ctx.layout);
    return activate(ctx, { from, to: version, action: 'use', noRestart: Boolean(opts.noRestart), restoreState: Boolean(opts.restoreState) });
  }, 'take-over');
}

export async function rollback(ctx: CommandContext, opts: { noRestart?: boolean; restoreState?: boolean }): Promise<number> {
  // Checked before the lock too, so a home with nothing to roll back to is not created or touched.
  const pre = await readState(ctx.layout);
  if (!pre.previous) {
    // A transition holding the lock (a first upgrade, say) records `previous` only when it commits:
    // say it is busy, as taking the lock would, rather than that there is nothing to go back to.
    const lock = await inspectLock(ctx.layout);
    if (lock.state === 'held') throw lockedError(lock.owner);
    throw new OcError('NO_PREVIOUS', 'there is no previous version to roll back to', { hint: 'oc-versions list shows what is installed; oc-versions use <version>' });
  }
  return mutating(ctx, 'rollback', async () => {
    const state = await readState(ctx.layout);
    const from = await readCurrent(ctx.layout);
    const to = state.previous;
    if (!to || to === from) {
      throw new OcError('NO_PREVIOUS', 'there is no previous version to roll back to', { hint: 'oc-versions list shows what is installed; oc-versions use <version>' });
    }
    // the previous version must still be installed
    await resolveInstalled(ctx, to);
    return activate(ctx, { from, to, action: 'rollback', noRestart: Boolean(opts.noRestart), restoreState: Boolean(opts.restoreState) });
  }, 'take-over');
}
