/**
 * `oc-versions pin <version|range>` / `unpin`: hold upgrades inside a version or range.
 * `upgrade` without an explicit exact version resolves inside the pin (and says so); an
 * explicit version outside it needs --force. The pin lives in config.json (`pin`).
 */
import { EXIT, OcError, isOcError } from '../errors.js';
import { saveConfig, type VersionPin } from '../core/config.js';
import { insidePin, pinOf } from '../core/pin.js';
import { sortNewestFirst } from '../core/versions.js';
import { fetchPackument } from '../registry/index.js';
import type { CommandContext } from '../app/context.js';
import { ensureHome } from '../app/home.js';
import { mutating } from '../app/session.js';

/**
 * What the registry publishes inside the pin: its newest version, or VERSION_NOT_FOUND (a typo such as
 * `2026.99` would hold every upgrade at nothing). A registry that cannot be asked does not block a
 * pin (it is local configuration, set ahead of a release or offline): `checked: false` and a warning.
 */
async function checkPublished(ctx: CommandContext, p: VersionPin): Promise<{ checked: boolean; newest: string | null }> {
  let versions: string[];
  try {
    versions = Object.keys((await fetchPackument(ctx.pkg, { registry: ctx.registry, env: ctx.env }, `checking the pin ${p.spec} against the registry`)).versions);
  } catch (e) {
    if (!isOcError(e) || (e.code !== 'REGISTRY_UNREACHABLE' && e.code !== 'REGISTRY_ERROR')) throw e;
    ctx.out.warn(`could not check the pin against the registry (${e.message}); pinned all the same`);
    return { checked: false, newest: null };
  }
  const newest = sortNewestFirst(versions.filter((v) => insidePin(v, p)))[0] ?? null;
  if (newest === null) {
    const published = sortNewestFirst(versions).slice(0, 3).join(', ');
    throw new OcError('VERSION_NOT_FOUND', `no published ${ctx.pkg} version is inside the pin ${p.spec} (${p.range})`, {
      hint: published ? `newest published: ${published} (oc-versions list --remote)` : 'the registry has no versions of this package',
    });
  }
  return { checked: true, newest };
}

export async function pin(ctx: CommandContext, raw: string): Promise<number> {
  let p = pinOf(raw);
  const registry = await checkPublished(ctx, p);
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
  const newest = registry.newest ? `; newest published inside it: ${registry.newest}` : '';
  ctx.out.result(`${changed ? 'pinned' : 'already pinned'} to ${p.spec} (${p.range}): upgrade stays inside it; an explicit version outside it needs --force${newest}`, {
    changed,
    pin: p,
    registry,
  });
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
