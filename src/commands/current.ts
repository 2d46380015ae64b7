import { whichEntry } from '../app/read.js';
import type { CommandContext } from '../app/context.js';

export { current } from '../app/read.js';

export async function which(ctx: CommandContext, raw: string | undefined, opts: { service?: boolean }): Promise<number> {
  // app/home.js (and what it loads) only when a version is named: plain `which` reads `current`.
  const version = raw ? await (await import('../app/home.js')).resolveInstalled(ctx, raw) : null;
  return whichEntry(ctx, version, opts);
}
