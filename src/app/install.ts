/** Install options as install and upgrade both build them from the command context. */
import type { InstallOptions } from '../core/install.js';
import type { CommandContext } from './context.js';

export function installOptions(ctx: CommandContext, opts: { ignoreScripts?: boolean }): InstallOptions {
  if (opts.ignoreScripts) {
    ctx.out.warn(
      `--ignore-scripts: ${ctx.pkg}'s lifecycle scripts will not run. A package that needs them (OpenClaw does: its postinstall finishes the install) will fail the lifecycle check and not be sealed.`,
    );
  }
  const out = ctx.out;
  return {
    layout: ctx.layout,
    config: ctx.config,
    pkg: ctx.pkg,
    registry: { registry: ctx.registry, env: ctx.env },
    ignoreScripts: Boolean(opts.ignoreScripts),
    // A passed check's line is its name and time; a failed or skipped one says why.
    out: {
      phase: (name, detail) => out.phase(name, detail),
      bytes: (done, total) => out.bytes(done, total),
      items: (done, total) => out.items(done, total),
      check: (r) => out.check({ ...r, detail: r.ok && !r.skipped ? '' : r.detail }),
      end: (summary) => out.end(summary),
      progress: (m) => out.progress(m),
    },
  };
}
