import { stageVersion, resolveForInstall } from '../core/install.js';
import { readCurrent } from '../core/store.js';
import { parseSpec } from '../core/specs.js';
import type { CommandContext } from '../app/context.js';
import { ensureHome, switchTo } from '../app/home.js';
import { installOptions } from '../app/install.js';
import { mutating } from '../app/session.js';
import type { Activation } from '../app/switch.js';
import { formatTransition, OUTCOME_EXIT, transitionDoc } from '../app/transition.js';

export interface InstallCommandOptions {
  use?: boolean;
  ignoreScripts?: boolean;
  /** --node <path|version>: the node this version runs on. */
  node?: string;
}

export async function run(ctx: CommandContext, rawSpec: string | undefined, opts: InstallCommandOptions): Promise<number> {
  const spec = parseSpec(rawSpec ?? 'latest');
  const installOpts = installOptions(ctx, opts);
  // Resolve before taking the lock or touching the disk: bad input and a down registry change nothing.
  const resolved = await resolveForInstall(installOpts, spec);
  return mutating(ctx, 'install', async () => {
    let result;
    if (resolved.installed) {
      result = { version: resolved.version, path: ctx.layout.version(resolved.version), alreadyInstalled: true };
    } else {
      await ensureHome(ctx);
      const { chooseVersionNode } = await import('../app/version-node.js');
      const runtime = await chooseVersionNode(ctx, resolved.engines, opts.node);
      ctx.out.progress(`${resolved.version} runs on node ${runtime.version} (${runtime.node}): ${runtime.because}`);
      result = await stageVersion({ ...installOpts, runtime }, resolved);
    }
    await ensureHome(ctx);
    const before = await readCurrent(ctx.layout);
    let switched: Activation | null = null;
    if (before === null) await switchTo(ctx, result.version, 'install (first version)');
    else if (opts.use && before !== result.version) {
      // With a service installed, the switch goes through the same restart + health gate as an upgrade.
      // The gated switch (and the service backends it opens) only for this: a plain install never loads them.
      switched = await (await import('../app/switch.js')).activateQuietly(ctx, { from: before, to: result.version, action: 'use', noRestart: false });
    }
    const current = (await readCurrent(ctx.layout)) === result.version;
    const human = result.alreadyInstalled
      ? `${ctx.pkg}@${result.version} is already installed${current ? ' (current)' : ''}`
      : `installed ${ctx.pkg}@${result.version} in ${result.path}${current ? ' (now current)' : ''}`;
    // changed: a new version sealed, the first version made current, or a switch (even one the gate rolled back).
    const doc = {
      changed: !result.alreadyInstalled || before === null || switched !== null,
      version: result.version,
      path: result.path,
      alreadyInstalled: result.alreadyInstalled,
      current,
      transition: switched ? transitionDoc(switched.result, switched.service) : null,
    };
    if (switched?.transition) {
      ctx.out.result(`${human}\n${formatTransition(switched.transition)}`, doc);
      return OUTCOME_EXIT[switched.transition.outcome];
    }
    ctx.out.result(human, doc);
    return 0;
  });
}
