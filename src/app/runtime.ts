/**
 * The node the home's programs run (config.runtimeNode: the launcher, the CLI shim, the keep-alive
 * supervisor, the recovery agent) when a service is installed: `--node PATH` as given, else the
 * configured one unless it lives inside a project's node_modules or a checkout, in which case a
 * copy of it in `runtimes/<version>/` (src/core/runtimes.ts, docs/service.md).
 */
import path from 'node:path';
import { saveConfig } from '../core/config.js';
import { adoptRuntime, nodeVersionOf, projectLocalNode } from '../core/runtimes.js';
import { installShim } from '../core/shims.js';
import { OcError } from '../errors.js';
import { installGatewayShim } from '../service/launcher.js';
import type { CommandContext } from './context.js';

export interface NodePlan {
  /** `--node` as given (checked: absolute, runs as node), else null. */
  explicit: string | null;
  /** Why the configured node is not kept (it is copied into runtimes/), else null. */
  copyBecause: string | null;
  /** Nothing to change: the node the home runs stays what it is. */
  same: boolean;
}

/** Checked before anything changes: a bad `--node` is exit 2 with nothing written. */
export async function planServiceNode(ctx: CommandContext, explicit: string | undefined): Promise<NodePlan> {
  if (explicit !== undefined) {
    if (!path.isAbsolute(explicit)) throw new OcError('INVALID_INPUT', `--node must be an absolute path, got '${explicit}'`, { hint: 'e.g. --node /usr/local/bin/node' });
    await nodeVersionOf(explicit);
    return { explicit, copyBecause: null, same: explicit === ctx.config.runtimeNode };
  }
  const why = projectLocalNode(ctx.config.runtimeNode, ctx.layout, ctx.env);
  return { explicit: null, copyBecause: why, same: why === null };
}

/** Apply the plan (under the lock): copy if needed, record it in config.json, re-render the shims. Returns the node. */
export async function applyServiceNode(ctx: CommandContext, plan: NodePlan): Promise<string> {
  if (plan.same) return ctx.config.runtimeNode;
  let node = plan.explicit;
  if (node === null) {
    const from = ctx.config.runtimeNode;
    const r = await adoptRuntime(ctx.layout, from);
    node = r.node;
    ctx.out.progress(`the service's node: ${r.copied ? 'copied' : 'using the copy of'} ${from} (${plan.copyBecause}) ${r.copied ? 'into' : 'in'} ${path.dirname(path.dirname(node))}`);
  }
  await useNode(ctx, node);
  return node;
}

/** config.runtimeNode = node, and the shims that exec it re-rendered. */
export async function useNode(ctx: CommandContext, node: string): Promise<void> {
  ctx.config.runtimeNode = node;
  await saveConfig(ctx.layout, ctx.config);
  await installShim(ctx.layout, node);
  await installGatewayShim(ctx.layout, ctx.config);
}
