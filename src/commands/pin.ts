/**
 * `oc-versions pin <version|range>` / `unpin`: hold upgrades inside a version or range.
 * `upgrade` without an explicit exact version resolves inside the pin (and says so); an
 * explicit version outside it needs --force. The pin lives in config.json (`pin`).
 */
import { EXIT, OcError } from '../errors.js';
import { saveConfig } from '../core/config.js';
import { pinOf } from '../core/pin.js';
import type { CommandContext } from '../app/context.js';
import { ensureHome } from '../app/home.js';
import { mutating } from '../app/session.js';

export async function pin(ctx: CommandContext, raw: string): Promise<number> {
  let p = pinOf(raw);
  const changed = await mutating(ctx, 'pin', async () => {
    const was = ctx.config.pin;
    // The same pin again changes nothing (its time stays that of the first pin).
    if (was && was.spec === p.spec && was.range === p.range) {
      p = was;
      return false;
    }
    await ensureHome(ctx);
    ctx.config.pin = p;
    await saveConfig(ctx.layout, ctx.config);
    return true;
  }, 'none');
  ctx.out.result(`${changed ? 'pinned' : 'already pinned'} to ${p.spec} (${p.range}): upgrade stays inside it; an explicit version outside it needs --force`, { changed, pin: p });
  return EXIT.OK;
}

export async function unpin(ctx: CommandContext): Promise<number> {
  const was = ctx.config.pin ?? null;
  if (was) {
    await mutating(ctx, 'unpin', async () => {
      delete ctx.config.pin;
      await saveConfig(ctx.layout, ctx.config);
    }, 'none');
  }
  ctx.out.result(was ? `unpinned (was ${was.spec})` : 'no pin was set', { changed: was !== null, pin: null, was });
  return EXIT.OK;
}
