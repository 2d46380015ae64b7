/**
 * The read-only verbs' local answers: `current`, `which` of a version already known, and `list`.
 * Nothing here imports anything lazily, so the fast path (src/fast.ts) bundles exactly this and
 * the store reads below it; `which <version>` and `list --remote` add their resolvers on top
 * (commands/current.ts, commands/list.ts).
 */
import { OcError } from '../errors.js';
import { readState } from '../core/state.js';
import { listInstalled, readCurrent, resolveEntry } from '../core/store.js';
import type { CommandContext } from './context.js';

export async function current(ctx: CommandContext): Promise<number> {
  const version = await readCurrent(ctx.layout);
  const path = version ? ctx.layout.version(version) : null;
  ctx.out.result(version ?? 'none', { version, path });
  return 0;
}

/** `which`: the entry file of `version` (default: current). */
export async function whichEntry(ctx: CommandContext, version: string | null | undefined, opts: { service?: boolean }): Promise<number> {
  const v = version ?? (await readCurrent(ctx.layout));
  if (!v) throw new OcError('NO_CURRENT', 'no current version', { hint: 'oc-versions install' });
  const entry = resolveEntry(ctx.layout, v, opts.service ? 'service' : 'bin');
  if (!entry) throw new OcError('NOT_INSTALLED', `${v} has no entry file`, { hint: `oc-versions verify ${v}` });
  ctx.out.result(entry, { version: v, entry });
  return 0;
}

/** `list`: the installed versions, newest first, current and previous marked. */
export async function listLocal(ctx: CommandContext): Promise<number> {
  const [installed, current, state] = await Promise.all([listInstalled(ctx.layout), readCurrent(ctx.layout), readState(ctx.layout)]);
  const versions = installed.map((v) => ({
    version: v.version,
    current: v.version === current,
    previous: v.version === state.previous && v.version !== current,
    path: v.path,
  }));
  const human = versions.length
    ? versions.map((v) => `${v.current ? '*' : v.previous ? '-' : ' '} ${v.version}${v.current ? ' (current)' : v.previous ? ' (previous)' : ''}`).join('\n')
    : 'no versions installed (oc-versions install)';
  ctx.out.result(human, { versions });
  return 0;
}
