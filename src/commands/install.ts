import { stageVersion, resolveForInstall } from '../core/install.js';
import { readCurrent } from '../core/store.js';
import { parseSpec } from '../core/versions.js';
import type { CommandContext } from '../app/context.js';
import { ensureHome, switchTo } from '../app/home.js';
import { installOptions } from '../app/install.js';
import { mutating } from '../app/session.js';
import { activateQuietly } from '../app/switch.js';
import { formatTransition, OUTCOME_EXIT } from '../app/transition.js';
import type { TransitionResult } from '../core/upgrade.js';

export interface InstallCommandOptions {
  use?: boolean;
  ignoreScripts?: boolean;
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
      result = await stageVersion(installOpts, resolved);
    }
    await ensureHome(ctx);
    const before = await readCurrent(ctx.layout);
    let transition: TransitionResult | null = null;
    if (before === null) await switchTo(ctx, result.version, 'install (first version)');
    else if (opts.use && before !== result.version) {
      // With a service installed, the switch goes through the same restart + health gate as an upgrade.
      transition = (await activateQuietly(ctx, { from: before, to: result.version, action: 'use', noRestart: false })).transition;
    }
    const current = (await readCurrent(ctx.layout)) === result.version;
    const human = result.alreadyInstalled
      ? `${ctx.pkg}@${result.version} is already installed${current ? ' (current)' : ''}`
      : `installed ${ctx.pkg}@${result.version} in ${result.path}${current ? ' (now current)' : ''}`;
    if (transition) {
      ctx.out.result(`${human}\n${formatTransition(transition)}`, { version: result.version, path: result.path, alreadyInstalled: result.alreadyInstalled, current, transition });
      return OUTCOME_EXIT[transition.outcome];
    }
    ctx.out.result(human, { version: result.version, path: result.path, alreadyInstalled: result.alreadyInstalled, current });
    return 0;
  });
}
