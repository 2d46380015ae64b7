import { OcError } from '../errors.js';
import { readCurrent, resolveEntry } from '../core/store.js';
import type { CommandContext } from '../app/context.js';

export async function current(ctx: CommandContext): Promise<number> {
  const version = await readCurrent(ctx.layout);
  const path = version ? ctx.layout.version(version) : null;
  ctx.out.result(version ?? 'none', { version, path });
  return 0;
}

export async function which(ctx: CommandContext, raw: string | undefined, opts: { service?: boolean }): Promise<number> {
  // app/home.js (and what it loads) only when a version is named: plain `which` reads `current`.
  const version = raw ? await (await import('../app/home.js')).resolveInstalled(ctx, raw) : await readCurrent(ctx.layout);
  if (!version) throw new OcError('NO_CURRENT', 'no current version', { hint: 'oc-versions install' });
  const entry = resolveEntry(ctx.layout, version, opts.service ? 'service' : 'bin');
  if (!entry) throw new OcError('NOT_INSTALLED', `${version} has no entry file`, { hint: `oc-versions verify ${version}` });
  ctx.out.result(entry, { version, entry });
  return 0;
}
