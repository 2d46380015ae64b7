/** What every command receives: resolved global options, layout, config and output. */
import { loadConfig, type Config } from '../core/config.js';
import { makeLayout, resolveHome, type Layout } from '../core/layout.js';
import { createOutput, loadLiveRenderer, showsProgress, wantsLive, type Output, type OutputOptions } from '../output.js';

export interface GlobalOptions {
  home?: string;
  registry?: string;
  package?: string;
  json?: boolean;
  quiet?: boolean;
  /** --progress: progress on stderr even with --json. */
  progress?: boolean;
  /** false with --no-color. */
  color?: boolean;
}

/** What a verb asks of the output: `live` for verbs that walk phases (install, upgrade, …). */
export interface ContextOptions {
  live?: boolean;
  /** Where the result goes (default process.stdout). */
  stdout?: OutputOptions['stdout'];
}

export interface CommandContext {
  layout: Layout;
  config: Config;
  env: NodeJS.ProcessEnv;
  out: Output;
  /** --registry, else config.registry, else undefined (the user's npm configuration). */
  registry: string | undefined;
  /** The managed package name (--package, else config.package). */
  pkg: string;
  argv: string[];
}

export async function createContext(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env, ctxOpts: ContextOptions = {}): Promise<CommandContext> {
  const layout = makeLayout(resolveHome(opts.home, env));
  const config = await loadConfig(layout, process.execPath, opts.package);
  const json = Boolean(opts.json);
  const outOpts = { json, quiet: Boolean(opts.quiet), progress: Boolean(opts.progress), ...(opts.color === false ? { color: false } : {}), env };
  // The terminal renderer is loaded only where it will draw: a verb that walks phases, progress shown, stderr a terminal.
  const live = ctxOpts.live && showsProgress(outOpts) && wantsLive(process.stderr, env) ? await loadLiveRenderer() : undefined;
  return {
    layout,
    config,
    env,
    out: createOutput({ ...outOpts, ...(live ? { live } : {}), ...(ctxOpts.stdout ? { stdout: ctxOpts.stdout } : {}) }),
    registry: opts.registry ?? config.registry,
    pkg: opts.package ?? config.package,
    argv: process.argv.slice(2),
  };
}
