/** Install options as install and upgrade both build them from the command context. */
import type { InstallOptions } from '../core/install.js';
import { checkLine } from '../output.js';
import type { CommandContext } from './context.js';

export function installOptions(ctx: CommandContext, opts: { ignoreScripts?: boolean }): InstallOptions {
  if (opts.ignoreScripts) {
    ctx.out.warn(
      `--ignore-scripts: ${ctx.pkg}'s lifecycle scripts will not run. A package that needs them (OpenClaw does: its postinstall finishes the install) will fail the lifecycle check and not be sealed.`,
    );
  }
  return {
    layout: ctx.layout,
    config: ctx.config,
    pkg: ctx.pkg,
    registry: { registry: ctx.registry, env: ctx.env },
    ignoreScripts: Boolean(opts.ignoreScripts),
    onProgress: (m) => ctx.out.progress(m),
    onCheck: (r) => ctx.out.progress(checkLine({ ...r, detail: r.ok && !r.skipped ? '' : r.detail })),
  };
}
