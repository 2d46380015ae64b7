/**
 * `oc-versions runtime list|install <version>|prune`: the managed node runtimes under
 * `<home>/runtimes/` (src/core/runtimes.ts, src/core/runtime-install.ts). `prune` removes only
 * runtimes nothing uses: not a kept version's (its seal's node), not the home's node
 * (config.runtimeNode: the shims, the service's launcher and keep-alive supervisor, the recovery
 * agent), and it says which it kept and why.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import { dirBytes, installRuntime, type RuntimeSource } from '../core/runtime-install.js';
import { checkRuntime, listRuntimes, readRuntime } from '../core/runtimes.js';
import { listInstalled } from '../core/store.js';
import type { CommandContext } from '../app/context.js';
import { ensureHome } from '../app/home.js';
import { mutating } from '../app/session.js';
import { RUNTIME_ACTIONS, unknownWord } from '../usage.js';

export interface RuntimeEntry {
  version: string;
  node: string;
  kind: 'copy' | 'mirror' | 'npm' | null;
  source: string | null;
  bytes: number;
  /** What runs on it: `version <v>`, `service`, `recovery agent`, `shims`. */
  usedBy: string[];
  /** Why its node does not match runtime.json, else null. */
  damaged: string | null;
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir + path.sep);

/** Who uses the runtime in `dir`: the installed versions sealed with its node, and the home's node. */
async function usersOf(ctx: CommandContext, dir: string, versions: Awaited<ReturnType<typeof listInstalled>>): Promise<string[]> {
  const out: string[] = [];
  const home = ctx.config.runtimeNode;
  if (under(home, dir)) {
    if (ctx.config.service.manager) out.push('service', 'recovery agent');
    out.push('shims');
  }
  for (const v of versions) if (under(v.seal.runtime?.node ?? v.seal.node, dir)) out.push(`version ${v.version}`);
  return out;
}

export async function entries(ctx: CommandContext): Promise<RuntimeEntry[]> {
  const versions = await listInstalled(ctx.layout);
  return Promise.all(
    (await listRuntimes(ctx.layout)).map(async (v) => {
      const dir = ctx.layout.runtime(v);
      const rec = await readRuntime(dir);
      return {
        version: v,
        node: path.join(dir, 'bin', 'node'),
        kind: rec ? (rec.kind ?? 'copy') : null,
        source: rec?.source ?? null,
        bytes: await dirBytes(dir),
        usedBy: await usersOf(ctx, dir, versions),
        damaged: await checkRuntime(dir),
      };
    }),
  );
}

const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;

export async function run(ctx: CommandContext, action: string, version: string | undefined, opts: { from?: string; dryRun?: boolean }): Promise<number> {
  if (!Object.hasOwn(RUNTIME_ACTIONS, action)) throw unknownWord('runtime action', action, Object.keys(RUNTIME_ACTIONS), 'oc-versions runtime --help lists its actions');
  if (action === 'list') return list(ctx);
  if (action === 'install') return install(ctx, version, opts.from);
  return prune(ctx, Boolean(opts.dryRun));
}

async function list(ctx: CommandContext): Promise<number> {
  const runtimes = await entries(ctx);
  const human = runtimes
    .map((r) => `${r.version.padEnd(10)} ${mb(r.bytes).padStart(7)}  ${r.damaged ? `DAMAGED (${r.damaged})` : r.usedBy.length ? `used by ${r.usedBy.join(', ')}` : 'unused'}  ${r.kind ?? '?'}: ${r.source ?? '?'}`)
    .join('\n');
  ctx.out.result(human || 'no managed runtimes (oc-versions runtime install <version>)', { runtimesDir: ctx.layout.runtimesDir, runtimes });
  return 0;
}

async function install(ctx: CommandContext, spec: string | undefined, from: string | undefined): Promise<number> {
  if (!spec) throw new OcError('USAGE', 'runtime install needs a node version', { hint: 'e.g. oc-versions runtime install 24.21.0 (or a range: 24, ">=24.16 <25")' });
  if (from !== undefined && !['mirror', 'npm', 'auto'].includes(from)) throw unknownWord('--from', from, ['mirror', 'npm', 'auto'], 'mirror (the Node.js distribution layout), npm (the registry\'s node-<os>-<arch>) or auto');
  const r = await mutating(ctx, 'runtime install', async () => {
    await ensureHome(ctx);
    return installRuntime(spec, { layout: ctx.layout, config: ctx.config, env: ctx.env, registry: ctx.registry, ...(from ? { from: from as RuntimeSource | 'auto' } : {}), progress: (l) => ctx.out.progress(l) });
  });
  ctx.out.result(`${r.installed ? 'installed' : 'already installed:'} node ${r.version} in ${r.dir} (${mb(r.bytes)}, from ${r.source})`, {
    changed: r.installed,
    version: r.version,
    node: r.node,
    bytes: r.bytes,
    source: r.source,
  });
  return 0;
}

async function prune(ctx: CommandContext, dryRun: boolean): Promise<number> {
  const result = await mutating(ctx, 'runtime prune', async () => {
    const all = await entries(ctx);
    const kept = all.filter((r) => r.usedBy.length > 0);
    const removed = all.filter((r) => r.usedBy.length === 0);
    if (!dryRun) {
      for (const r of removed) {
        // Out of the way first (one rename), then deleted: a kill in between leaves a temp the next command sweeps.
        const tmp = path.join(ctx.layout.runtimesDir, `.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
        await fsp.rename(ctx.layout.runtime(r.version), tmp);
        await fsp.rm(tmp, { recursive: true, force: true });
      }
    }
    return { kept, removed };
  });
  const lines = [
    ...result.kept.map((r) => `kept node ${r.version}: in use by ${r.usedBy.join(', ')}`),
    ...result.removed.map((r) => `${dryRun ? 'would remove' : 'removed'} node ${r.version} (${mb(r.bytes)})`),
  ];
  ctx.out.result(lines.join('\n') || 'no managed runtimes', {
    changed: !dryRun && result.removed.length > 0,
    dryRun,
    kept: result.kept.map((r) => ({ version: r.version, usedBy: r.usedBy })),
    removed: result.removed.map((r) => ({ version: r.version, bytes: r.bytes })),
    freedBytes: dryRun ? 0 : result.removed.reduce((s, r) => s + r.bytes, 0),
  });
  return 0;
}
