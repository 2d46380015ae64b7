import { listInstalled } from '../core/store.js';
import { listLocal } from '../app/read.js';
import { sortNewestFirst } from '../core/versions.js';
import type { CommandContext } from '../app/context.js';

export async function run(ctx: CommandContext, opts: { remote?: boolean }): Promise<number> {
  return opts.remote ? listRemote(ctx) : listLocal(ctx);
}

async function listRemote(ctx: CommandContext): Promise<number> {
  // The registry module only for --remote: plain `list` reads the home and nothing else.
  const { fetchPackument } = await import('../registry/index.js');
  const doc = await fetchPackument(ctx.pkg, { registry: ctx.registry, env: ctx.env });
  const remote = { name: doc.name, distTags: doc.distTags, versions: sortNewestFirst(Object.keys(doc.versions)) };
  const installed = new Set((await listInstalled(ctx.layout)).map((v) => v.version));
  const tagsOf = (v: string) => Object.entries(remote.distTags).filter(([, tv]) => tv === v).map(([t]) => t);
  const versions = remote.versions.map((v) => ({ version: v, tags: tagsOf(v), installed: installed.has(v) }));
  const human = versions
    .map((v) => `${v.installed ? '+' : ' '} ${v.version}${v.tags.length ? ` (${v.tags.join(', ')})` : ''}`)
    .join('\n');
  ctx.out.result(human || 'the registry has no versions', { name: remote.name, distTags: remote.distTags, versions });
  return 0;
}
