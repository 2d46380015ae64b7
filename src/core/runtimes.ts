/**
 * Managed node runtimes: `<home>/runtimes/<node-version>/bin/node` plus `runtime.json` (its sha256,
 * where it was copied from). A node that lives inside a project's `node_modules` (the `node` npm
 * package, as this repository's devDependency) or inside a checkout (a `.git` above it) is never what
 * the service runs implicitly: an `npm ci` or deleting the clone would take it away from a running
 * gateway. When oc-versions itself runs on such a node, `service install` copies it here (temp dir +
 * rename; never modified after) and the home runs the copy. Only `--node PATH` names such a node on
 * purpose. (Issue 28 generalises managed runtimes; the layout stays `runtimes/<node-version>/`.)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import { renameDirInto, sha256File, writeJsonAtomic } from '../os/fs.js';
import { probeNodeVersion } from './checks/run-package.js';
import type { Layout } from './layout.js';

export interface RuntimeRecord {
  version: string;
  sha256: string;
  /** The node it was copied from (real path), or the URL (mirror) / `<tarball> (<integrity>)` (npm) it was installed from. */
  source: string;
  /** When it was copied or installed. */
  copiedAt: string;
  /** How it came: copied from a node (absent in older records), or installed from the mirror or the npm registry. */
  kind?: 'copy' | 'mirror' | 'npm';
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir + path.sep);
}

/**
 * Why `node` must not be the home's node implicitly: it lies inside a `node_modules` directory or a
 * checkout (a directory with `.git`, below the user's HOME or `/`), and not in this home. Null: fine.
 */
export function projectLocalNode(node: string, layout: Layout, env: NodeJS.ProcessEnv): string | null {
  const real = realpathOr(node);
  if (under(real, realpathOr(layout.home)) || under(node, layout.home)) return null;
  for (const p of [node, real]) {
    const parts = p.split(path.sep);
    const at = parts.lastIndexOf('node_modules');
    if (at > 0) return `it lies inside ${parts.slice(0, at + 1).join(path.sep)}`;
  }
  const stop = new Set(['/', env['HOME'] ? realpathOr(env['HOME']) : '/']);
  for (let dir = path.dirname(real); !stop.has(dir) && path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, '.git'))) return `it lies inside the checkout ${dir}`;
  }
  return null;
}

/** The version `node` reports (`24.21.0`), or an error that says it does not run. */
export async function nodeVersionOf(node: string): Promise<string> {
  const r = await probeNodeVersion(node);
  const v = r.code === 0 ? r.stdout.trim().replace(/^v/, '') : '';
  if (!/^\d+\.\d+\.\d+/.test(v)) {
    throw new OcError('INVALID_INPUT', `${node} does not run as node (${r.code === 0 ? `it printed '${r.stdout.trim().slice(0, 40)}'` : (r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`)})`, {
      hint: 'pass --node with the absolute path of a node binary',
    });
  }
  return v;
}

export async function readRuntime(dir: string): Promise<RuntimeRecord | null> {
  try {
    return JSON.parse(await fsp.readFile(path.join(dir, 'runtime.json'), 'utf8')) as RuntimeRecord;
  } catch {
    return null;
  }
}

/** What is wrong with the managed runtime in `dir` (its node missing, or not the sha256 recorded); null when sound. */
export async function checkRuntime(dir: string): Promise<string | null> {
  const rec = await readRuntime(dir);
  if (!rec) return 'no readable runtime.json';
  const got = await sha256File(path.join(dir, 'bin', 'node')).catch(() => null);
  if (got === null) return 'bin/node is missing';
  return got === rec.sha256 ? null : `bin/node has sha256 ${got.slice(0, 12)}…, recorded ${rec.sha256.slice(0, 12)}…`;
}

/**
 * `node` copied into `runtimes/<its version>/bin/node` (or the copy already there, if sound):
 * copied into a temp dir, its sha256 checked against the source's, recorded, made read-only, then
 * renamed into place. Returns the managed node's path.
 */
export async function adoptRuntime(layout: Layout, node: string): Promise<{ node: string; version: string; copied: boolean }> {
  const version = await nodeVersionOf(node);
  const dir = layout.runtime(version);
  const managed = path.join(dir, 'bin', 'node');
  if (fs.existsSync(dir) && (await checkRuntime(dir)) === null) return { node: managed, version, copied: false };
  const source = realpathOr(node);
  await fsp.mkdir(layout.runtimesDir, { recursive: true });
  const tmp = path.join(layout.runtimesDir, `.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    await fsp.mkdir(path.join(tmp, 'bin'), { recursive: true });
    const sha = await sha256File(source);
    await fsp.copyFile(source, path.join(tmp, 'bin', 'node'), fs.constants.COPYFILE_FICLONE);
    const copied = await sha256File(path.join(tmp, 'bin', 'node'));
    if (copied !== sha) throw new OcError('ENVIRONMENT', `the copy of ${source} does not match it (sha256 ${copied.slice(0, 12)}… vs ${sha.slice(0, 12)}…)`);
    await fsp.chmod(path.join(tmp, 'bin', 'node'), 0o555);
    await writeJsonAtomic(path.join(tmp, 'runtime.json'), { version, sha256: sha, source, copiedAt: new Date().toISOString() } satisfies RuntimeRecord, 0o444);
    // A damaged copy there (checkRuntime failed) is replaced; a running process keeps its inode.
    await renameDirInto(tmp, dir);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    if (fs.existsSync(dir) && (await checkRuntime(dir)) === null) return { node: managed, version, copied: false }; // another command made it meanwhile
    throw e;
  }
  return { node: managed, version, copied: true };
}

/** Managed runtime directories (names: node versions). */
export async function listRuntimes(layout: Layout): Promise<string[]> {
  return (await fsp.readdir(layout.runtimesDir).catch(() => [] as string[])).filter((n) => /^\d+\.\d+\.\d+/.test(n) && !n.includes('.damaged-')).sort();
}
