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
  const p = pinOf(raw);
  await mutating(ctx, 'pin', async () => {
    await ensureHome(ctx);
    ctx.config.pin = p;
    await saveConfig(ctx.layout, ctx.config);
  }, 'none');
  ctx.out.result(`pinned to ${p.spec} (${p.range}): upgrade stays inside it; an explicit version outside it needs --force`, { pin: p });
  return EXIT.OK;
}

export async function unpin(ctx: CommandContext): Promise<number> {
  const was = ctx.config.pin ?? null;
  await mutating(ctx, 'unpin', async () => {
    delete ctx.config.pin;
    await saveConfig(ctx.layout, ctx.config);
  }, 'none');
  ctx.out.result(was ? `unpinned (was ${was.spec})` : 'no pin was set', { pin: null, was });
  return EXIT.OK;
}
