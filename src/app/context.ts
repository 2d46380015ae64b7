/** What every command receives: resolved global options, layout, config and output. */
import { loadConfig, type Config } from '../core/config.js';
import { makeLayout, resolveHome, type Layout } from '../core/layout.js';
import { createOutput, type Output } from '../output.js';

export interface GlobalOptions {
  home?: string;
  registry?: string;
  package?: string;
  json?: boolean;
  quiet?: boolean;
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

export async function createContext(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<CommandContext> {
  const layout = makeLayout(resolveHome(opts.home, env));
  const config = await loadConfig(layout, process.execPath, opts.package);
  const json = Boolean(opts.json);
  return {
    layout,
    config,
    env,
    out: createOutput({ json, quiet: opts.quiet }),
    registry: opts.registry ?? config.registry,
    pkg: opts.package ?? config.package,
    argv: process.argv.slice(2),
  };
}
