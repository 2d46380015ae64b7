/**
 * Spawns the BUILT CLI (dist/cli.js, as `npm run build` leaves it) against a temp home,
 * the way a user runs it, and returns {code, stdout, stderr, json}.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(REPO, 'dist', 'cli.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json: any;
}

export interface TestEnv {
  /** A fresh fake user HOME (npm cache, ~/.openclaw, LaunchAgents live here). */
  home: string;
  /** The oc-versions home. */
  ocHome: string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

export async function makeTestEnv(registryUrl: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<TestEnv> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-test-'));
  const home = path.join(root, 'home');
  const ocHome = path.join(root, 'oc-home');
  await fsp.mkdir(home, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env['PATH'] ?? ''}`,
    HOME: home,
    OC_VERSIONS_HOME: ocHome,
    npm_config_registry: registryUrl,
    npm_config_update_notifier: 'false',
    OPENCLAW_STATE_DIR: path.join(home, '.openclaw'),
    // Never nodejs.org: a version whose engines.node no node here satisfies finds no mirror (tests
    // that want one start test/helpers/node-mirror.ts and set this).
    OC_VERSIONS_NODE_MIRROR: 'http://127.0.0.1:9/dist',
    TMPDIR: os.tmpdir(),
    ...extraEnv,
  };
  return {
    home,
    ocHome,
    env,
    cleanup: () => fsp.rm(root, { recursive: true, force: true }),
  };
}

/**
 * Run the built CLI; `wrapper` (an executable that execs its arguments, e.g. an as-user helper) goes
 * in front of node; `node` and `cli` run another copy (a clone's bin on its own node).
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv, opts: { timeoutMs?: number; input?: string; wrapper?: string; node?: string; cli?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const argv = [opts.node ?? process.execPath, opts.cli ?? CLI, ...args];
    const child = spawn(opts.wrapper ?? argv[0]!, opts.wrapper ? argv : argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 110_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let json: any;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, signal, stdout, stderr, json });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Depth-first walk of a tree (lstat: links are not followed); a visit that returns `false` skips that directory's contents. */
export function walkTree(dir: string, visit: (p: string, e: fs.Dirent) => void | false): void {
  let ents: fs.Dirent[];
  try {
    ents = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of ents) {
    const p = path.join(dir, e.name);
    if (visit(p, e) !== false && e.isDirectory()) walkTree(p, visit);
  }
}

/** Every path under dir with size and mtime: to prove a failed command changed nothing. */
export function treeState(dir: string): string[] {
  const out: string[] = [];
  walkTree(dir, (p, e) => {
    const st = fs.lstatSync(p);
    out.push(`${path.relative(dir, p)} ${e.isSymbolicLink() ? 'link:' + fs.readlinkSync(p) : e.isDirectory() ? 'dir' : st.size + ':' + st.mtimeMs}`);
  });
  return out.sort();
}

/**
 * Recursively grep a tree for a string (the canary check). Returns files containing it.
 * A file that cannot be read fails the check rather than hiding a leak (one gone since listed is skipped).
 */
export function grepTree(dir: string, needle: string): string[] {
  const hits: string[] = [];
  walkTree(dir, (p, e) => {
    if (!e.isFile()) return;
    let data: Buffer;
    try {
      data = fs.readFileSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed since listed (an atomic-write temp)
      throw err;
    }
    if (data.includes(needle)) hits.push(p);
  });
  return hits;
}

/** Change `<ocHome>/config.json` in place (fast deadlines, a canary section, …). */
export function patchConfig(ocHome: string, patch: (cfg: any) => void): void {
  const file = path.join(ocHome, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  patch(cfg);
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
}
