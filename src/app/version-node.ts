/**
 * The node a version runs on, chosen when it is installed (issue 28) and sealed with it
 * (`.oc-node` in the version directory, `seal.runtime`): the launcher and the CLI shim exec it.
 *
 *  1. `--node <path|version>`, else config `runtimes.node`: a path is used as given (it must run);
 *     a version is a managed runtime (installed from the mirror when missing);
 *  2. else the first node that satisfies the version's `engines.node` from a stable location: the
 *     home's node (config.runtimeNode) and each `node` on PATH, a Homebrew Cellar path mapped to its
 *     `opt` path (`<prefix>/Cellar/node/<v>/bin/node` → `<prefix>/opt/node/bin/node`, which
 *     `brew upgrade` keeps), never one inside a node_modules or a checkout;
 *  3. else the newest managed runtime in the home that satisfies it;
 *  4. else one installed from the mirror (or the registry), the newest that satisfies it.
 * Nothing satisfies it: NO_RUNTIME (exit 5) before anything changes, naming the range and the nodes found.
 */
import fs from 'node:fs';
import path from 'node:path';
import { OcError, isOcError } from '../errors.js';
import { exactNodeVersion, installRuntime, nodeMirror } from '../core/runtime-install.js';
import { listRuntimes, nodeVersionOf, projectLocalNode } from '../core/runtimes.js';
import type { SealedRuntime } from '../core/store.js';
import type { CommandContext } from './context.js';

/** `<prefix>/Cellar/<formula>/<v>/bin/node` → `<prefix>/opt/<formula>/bin/node` when that exists and is the same file; else the path itself. */
export function stableNodePath(node: string): string {
  const m = /^(.*)\/Cellar\/([^/]+)\/[^/]+\/bin\/node$/.exec(node);
  if (!m) return node;
  const opt = `${m[1]}/opt/${m[2]}/bin/node`;
  try {
    return fs.realpathSync(opt) === fs.realpathSync(node) ? opt : node;
  } catch {
    return node;
  }
}

/** The nodes on PATH (first of each directory), in PATH order. */
function nodesOnPath(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const dir of (env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir || !path.isAbsolute(dir)) continue;
    const p = path.join(dir, 'node');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      out.push(p);
    } catch {
      /* none here */
    }
  }
  return out;
}

export interface ChosenNode extends SealedRuntime {
  /** Why (for the progress line). */
  because: string;
  /** A runtime was installed for it. */
  installed: boolean;
}

/** Before the lock: validate `--node` (exit 2 when it is not a node). Under the lock: `chooseVersionNode`. */
export async function chooseVersionNode(ctx: CommandContext, engines: Record<string, string> | undefined | null, explicit: string | undefined): Promise<ChosenNode> {
  const { default: semver } = await import('semver');
  const range = engines?.['node'] ?? '*';
  const given = explicit ?? ctx.config.runtimes?.node;
  const install = (spec: string) =>
    installRuntime(spec, { layout: ctx.layout, config: ctx.config, env: ctx.env, registry: ctx.registry, progress: (l) => ctx.out.progress(l) });
  if (given !== undefined) {
    const where = explicit !== undefined ? '--node' : 'runtimes.node in config.json';
    if (exactNodeVersion(given) !== null) {
      const r = await install(given);
      return { node: r.node, version: r.version, kind: 'managed', because: `${where} ${given}`, installed: r.installed };
    }
    if (!path.isAbsolute(given)) throw new OcError('INVALID_INPUT', `${where} must be an absolute path or an exact node version, got '${given}'`, { hint: 'e.g. --node /opt/homebrew/opt/node@24/bin/node or --node 24.21.0' });
    return { node: given, version: await nodeVersionOf(given), kind: 'explicit', because: where, installed: false };
  }
  const found: string[] = [];
  const seen = new Set<string>();
  // The home's node first. When it satisfies the range but lies in a node_modules or a checkout
  // (oc-versions run from a clone), the version follows the home's node (`kind: home`, no `.oc-node`):
  // `service install` keeps a copy of that node in the home (src/app/runtime.ts).
  const home = ctx.config.runtimeNode;
  if (projectLocalNode(home, ctx.layout, ctx.env) !== null) {
    const version = await nodeVersionOf(home).catch(() => null);
    if (version) {
      found.push(`${home} (${version})`);
      if (semver.satisfies(version, range)) return { node: home, version, kind: 'home', because: `the home's node satisfies engines.node ${range}`, installed: false };
    }
  }
  for (const raw of [home, ...nodesOnPath(ctx.env)]) {
    const node = stableNodePath(raw);
    if (seen.has(node)) continue;
    seen.add(node);
    if (projectLocalNode(node, ctx.layout, ctx.env) !== null) continue;
    const version = await nodeVersionOf(node).catch(() => null);
    if (!version) continue;
    const managed = node.startsWith(ctx.layout.runtimesDir + path.sep);
    found.push(`${node} (${version})`);
    if (semver.satisfies(version, range)) return { node, version, kind: managed ? 'managed' : 'system', because: `it satisfies engines.node ${range}`, installed: false };
  }
  const managed = (await listRuntimes(ctx.layout)).filter((v) => semver.valid(v) && semver.satisfies(v, range));
  const best = semver.rsort(managed)[0];
  if (best) return { node: path.join(ctx.layout.runtime(best), 'bin', 'node'), version: best, kind: 'managed', because: `the managed runtime ${best} satisfies engines.node ${range}`, installed: false };
  try {
    const r = await install(range);
    return { node: r.node, version: r.version, kind: 'managed', because: `no node found satisfies engines.node ${range}`, installed: r.installed };
  } catch (e) {
    if (!isOcError(e) || !['VERSION_NOT_FOUND', 'REGISTRY_UNREACHABLE', 'REGISTRY_ERROR'].includes(e.code)) throw e;
    throw new OcError('NO_RUNTIME', `no node satisfies engines.node ${range}: found ${found.join(', ') || 'none'}; the mirror ${nodeMirror(ctx.config, ctx.env)} has none (${e.message})`, {
      hint: `install one (oc-versions runtime install '${range}' from another mirror: runtimes.mirror / OC_VERSIONS_NODE_MIRROR), or pass --node <path of a node that satisfies it>`,
      details: { range, found },
    });
  }
}
