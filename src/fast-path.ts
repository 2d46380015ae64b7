/**
 * The read-only fast path (entry: src/fast.ts): `current`, `list`/`ls` and `which` (without a version) answered without
 * the CLI framework. bin/oc-versions.js loads this file first for those verbs; it is bundled into
 * one file (scripts/bundle.mjs), so such a command loads one module instead of cac, the command
 * table and ~15 chunks (docs/architecture.md#startup).
 *
 * It runs the very same command functions with the very same context as the full CLI; only the
 * argument parsing is narrower. Anything it does not recognise exactly — another option, a repeated
 * option, `--help`, a version argument, `--remote` — and any error goes to the full CLI (dist/cli.js),
 * which parses and reports as always. Falling back after an error is safe: these commands write
 * nothing, and print their result only once everything has been read.
 */
import fs from 'node:fs';
import { createContext, type GlobalOptions } from './app/context.js';
import { current, listLocal, whichEntry } from './app/read.js';

type Verb = 'current' | 'list' | 'which';
const VERBS: Record<string, Verb> = { current: 'current', list: 'list', ls: 'list', which: 'which' };
const FLAGS: Record<string, keyof GlobalOptions | 'verbose' | 'service'> = {
  '--json': 'json',
  '--quiet': 'quiet',
  '--progress': 'progress',
  '--verbose': 'verbose',
  '--service': 'service',
};
const VALUES: Record<string, 'home' | 'registry' | 'package'> = { '--home': 'home', '--registry': 'registry', '--package': 'package' };

export interface FastCommand {
  verb: Verb;
  opts: GlobalOptions;
  service: boolean;
}

/** The command, when argv is one the fast path answers exactly as the full CLI would; else null. */
export function parseFast(argv: readonly string[]): FastCommand | null {
  let verb: Verb | undefined;
  const opts: GlobalOptions = {};
  const seen = new Set<string>();
  let service = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) {
      // One positional, the verb; a second (`which 2026.9.6`, `list extra`) is the full CLI's.
      if (verb !== undefined || !(a in VERBS)) return null;
      verb = VERBS[a];
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq === -1 ? a : a.slice(0, eq);
    if (seen.has(name)) return null; // cac makes a repeated option an array
    seen.add(name);
    if (name === '--no-color' && eq === -1) opts.color = false;
    else if (name in FLAGS && eq === -1) {
      const key = FLAGS[name]!;
      if (key === 'service') service = true;
      else if (key !== 'verbose') (opts as Record<string, unknown>)[key] = true;
    } else if (name in VALUES) {
      const value = eq === -1 ? argv[++i] : a.slice(eq + 1);
      if (value === undefined || value === '' || (eq === -1 && value.startsWith('-'))) return null;
      opts[VALUES[name]!] = value;
    } else return null;
  }
  if (verb === undefined || (service && verb !== 'which')) return null;
  return { verb, opts, service };
}

/**
 * The result goes straight to fd 1: process.stdout on a pipe builds a socket stream, which alone
 * costs ~7% of a bare `node -e 0` start. A descriptor that refuses a blocking write (EAGAIN: a
 * non-blocking pipe or terminal shared with another process) gets the rest through process.stdout;
 * a reader that went away (EPIPE, `| head -1`) ends the output, as it would for npm.
 */
export const directStdout = {
  write(text: string): void {
    const buf = Buffer.from(text);
    let off = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(1, buf, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          process.stdout.write(buf.subarray(off));
          return;
        }
        if (code === 'EPIPE') return;
        throw e;
      }
    }
  },
};

/** Runs a fast command; null when it must go to the full CLI (not recognised, or it failed). */
export async function runFast(argv: readonly string[]): Promise<number | null> {
  const cmd = parseFast(argv);
  if (!cmd) return null;
  try {
    const ctx = await createContext(cmd.opts, process.env, { stdout: directStdout });
    if (cmd.verb === 'current') return await current(ctx);
    if (cmd.verb === 'which') return await whichEntry(ctx, null, { service: cmd.service });
    return await listLocal(ctx);
  } catch {
    return null;
  }
}
