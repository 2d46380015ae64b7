/**
 * The side-by-side store: stage → check → seal → one rename into versions/, and
 * the atomic swap of `current`.
 *
 * Order matters and is the whole point:
 *  1. everything is built in staging/<version>.<pid>.<rand>/, never in versions/;
 *  2. `.oc-seal.json` is written last inside the staged tree, after every check;
 *  3. the staged tree is moved into versions/<version> with one rename(2)
 *     (EEXIST/ENOTEMPTY: someone else sealed it first; ours is discarded);
 *  4. nothing ever writes into a sealed version directory again.
 * `current` is a relative symlink replaced by creating a temp symlink and
 * rename(2)-ing it over the old one, so a reader sees the old or the new target,
 * never nothing.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError, fromFsError } from '../errors.js';
import type { Config } from './config.js';
import { exists, existsSync, fsyncDir, readJson } from '../os/fs.js';
import type { Layout } from './layout.js';
import { mapLimit } from './checks/common.js';
import { parseExactVersion, sortNewestFirst } from './versions.js';

// node:crypto and the process door (node:child_process) are loaded on first use, not with this
// module: list/current/which read the store and need neither (docs/architecture.md#startup).
const crypto = (): typeof import('node:crypto') => process.getBuiltinModule('node:crypto');

export interface Seal {
  sealVersion: 1;
  package: string;
  version: string;
  integrity: string | null;
  resolved: string | null;
  node: string;
  nodeVersion: string | null;
  engines: Record<string, string> | null;
  /**
   * The node this version runs on (issue 28): chosen at install (--node, config, a stable node that
   * satisfies engines.node, else a managed runtime). Absent in older seals: `node` then.
   */
  runtime?: SealedRuntime;
  /** sha256 over the sorted (path, size) list of the package's tarball files. */
  inventoryDigest: string;
  files: number;
  bin: string;
  serviceEntry: string;
  lifecycle: 'completed' | 'skipped';
  sealedAt: string;
}

export interface SealedRuntime {
  node: string;
  version: string;
  /**
   * `managed`: runtimes/<version>/ in the home; `system`: a stable node outside it; `explicit`: --node
   * or config; `home`: the home's node (config.runtimeNode, no `.oc-node`: it follows the home's node).
   */
  kind: 'managed' | 'system' | 'explicit' | 'home';
}

export interface InstalledVersion {
  version: string;
  path: string;
  seal: Seal;
}

export async function readSeal(layout: Layout, version: string): Promise<Seal | undefined> {
  try {
    return await readJson<Seal>(layout.seal(version));
  } catch {
    return undefined;
  }
}

/** Sealed versions only, newest first in OpenClaw's ordering. */
export async function listInstalled(layout: Layout): Promise<InstalledVersion[]> {
  let names: string[];
  try {
    // Synchronous metadata reads here and in readCurrent: the read-only fast path never loads
    // node:fs/promises (docs/architecture.md#startup).
    names = fs.readdirSync(layout.versionsDir);
  } catch {
    return [];
  }
  const read = await Promise.all(
    names.map(async (name): Promise<InstalledVersion | null> => {
      const v = parseExactVersion(name);
      if (!v || v !== name) return null;
      const seal = await readSeal(layout, v);
      return seal && seal.version === v ? { version: v, path: layout.version(v), seal } : null;
    }),
  );
  const found = new Map(read.filter((f): f is InstalledVersion => f !== null).map((f) => [f.version, f]));
  return sortNewestFirst([...found.keys()]).map((v) => found.get(v)!);
}

/** The version `current` points at, or null (absent, dangling, or not a sealed version). */
export async function readCurrent(layout: Layout): Promise<string | null> {
  let target: string;
  try {
    target = fs.readlinkSync(layout.current);
  } catch {
    return null;
  }
  const name = path.basename(target);
  const v = parseExactVersion(name);
  if (!v) return null;
  return existsSync(layout.seal(v)) ? v : null;
}

/** Atomically point `current` at a sealed version (temp symlink + rename(2)). */
export async function swapCurrent(layout: Layout, version: string): Promise<void> {
  if (!(await exists(layout.seal(version)))) {
    throw new OcError('NOT_INSTALLED', `${version} is not installed (no seal)`, { hint: 'oc-versions install ' + version });
  }
  const tmp = `${layout.current}.tmp-${process.pid}-${crypto().randomBytes(4).toString('hex')}`;
  const rel = path.join('versions', version);
  try {
    await fsp.symlink(rel, tmp);
    await fsp.rename(tmp, layout.current);
    await fsyncDir(layout.home);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw fromFsError(e, 'switching current') ?? e;
  }
}

/**
 * The entries of `dir` whose name carries the pid of their writer (first capture group of
 * `owned`) when that process is dead, or is this one (see sweepDeadOwned).
 */
export async function findDeadOwned(dir: string, owned: RegExp): Promise<string[]> {
  let names: string[] = [];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const { isAlive } = await import('../os/proc.js');
  return names.filter((n) => {
    const m = owned.exec(n);
    if (!m) return false;
    const pid = Number(m[1]);
    return pid === process.pid || !isAlive(pid);
  });
}

/**
 * Remove the entries of `dir` whose name carries the pid of their writer (first capture
 * group of `owned`) when that process is dead, or is this one: callers sweep under the lock,
 * before their own work starts, so nothing of theirs is in progress yet.
 */
export async function sweepDeadOwned(dir: string, owned: RegExp): Promise<string[]> {
  const removed = await findDeadOwned(dir, owned);
  for (const n of removed) await fsp.rm(path.join(dir, n), { recursive: true, force: true });
  return removed;
}

/** Temp symlinks of interrupted swaps: `current.tmp-<pid>-<rand>`. */
export const SWAP_TEMP = /^current\.tmp-(\d+)-[0-9a-f]+$/;

export function sweepSwapTemps(layout: Layout): Promise<string[]> {
  return sweepDeadOwned(layout.home, SWAP_TEMP);
}

/** Staging dirs are `<version>.<pid>.<rand>` (and `<version>.removing.<pid>.<rand>`). */
export const STAGING_DIR = /\.(\d+)\.[0-9a-f]+$/;

export function sweepStaging(layout: Layout): Promise<string[]> {
  return sweepDeadOwned(layout.stagingDir, STAGING_DIR);
}

/**
 * Bytes a tree takes on disk (allocated blocks; links are not followed): `du -sk` (a 650 MB
 * version is tens of thousands of files, which du counts many times faster than node), else a walk.
 */
export async function treeBytes(dir: string): Promise<number> {
  const { run } = await import('../os/proc.js');
  const du = await run('du', ['-sk', dir], { timeoutMs: 60_000, maxOutput: 4096 });
  const kb = du.code === 0 ? /^(\d+)\s/.exec(du.stdout)?.[1] : undefined;
  if (kb !== undefined) return Number(kb) * 1024;
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    const ents = await fsp.readdir(d, { withFileTypes: true }).catch(() => [] as fs.Dirent[]);
    await Promise.all(
      ents.map(async (e) => {
        const p = path.join(d, e.name);
        const st = await fsp.lstat(p).catch(() => null);
        if (st) total += st.blocks * 512;
        if (e.isDirectory()) await walk(p);
      }),
    );
  };
  await walk(dir);
  return total;
}

export async function makeStagingDir(layout: Layout, version: string): Promise<string> {
  const v = parseExactVersion(version);
  if (!v) throw new OcError('INVALID_SPEC', `'${version}' is not an exact version`);
  const dir = layout.staging(v, `${process.pid}.${crypto().randomBytes(4).toString('hex')}`);
  try {
    await fsp.mkdir(dir, { recursive: true });
  } catch (e) {
    throw fromFsError(e, 'creating the staging directory') ?? e;
  }
  return dir;
}

/** Write the seal last, then move the staged tree into versions/ with one rename. */
export async function sealAndPromote(layout: Layout, stagingDir: string, seal: Seal): Promise<'sealed' | 'exists'> {
  const sealFile = path.join(stagingDir, '.oc-seal.json');
  const fh = await fsp.open(sealFile, 'w', 0o644);
  try {
    await fh.writeFile(JSON.stringify(seal, null, 2) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsyncDir(stagingDir);
  await fsp.mkdir(layout.versionsDir, { recursive: true });
  const dest = layout.version(seal.version);
  try {
    await fsp.rename(stagingDir, dest);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') {
      await fsp.rm(stagingDir, { recursive: true, force: true });
      return 'exists';
    }
    throw fromFsError(e, 'moving the sealed version into versions/') ?? e;
  }
  await fsyncDir(layout.versionsDir);
  return 'sealed';
}

export function packageDirOf(prefix: string, pkg: string): string {
  // Scoped names (`@scope/name`) are two path components; validated by npm already.
  return path.join(prefix, 'node_modules', ...pkg.split('/'));
}

/** Entry paths recorded in the version dir for the shims (relative to the prefix). */
export async function writeEntryFiles(prefix: string, pkg: string, bin: string, serviceEntry: string, node?: string): Promise<void> {
  const rel = (p: string) => path.relative(prefix, path.join(packageDirOf(prefix, pkg), p));
  await fsp.writeFile(path.join(prefix, '.oc-bin'), rel(bin) + '\n');
  await fsp.writeFile(path.join(prefix, '.oc-service-entry'), rel(serviceEntry) + '\n');
  // The version's own node (issue 28): the launcher and the CLI shim exec it, read at exec time.
  if (node) await fsp.writeFile(path.join(prefix, '.oc-node'), node + '\n');
}

/** The CLI bin of a package (the one named like the package, else the first). */
export function pickBin(pkgJson: { name?: string; bin?: string | Record<string, string> }): string | null {
  const bin = pkgJson.bin;
  if (!bin) return null;
  if (typeof bin === 'string') return bin;
  const base = (pkgJson.name ?? '').split('/').pop() ?? '';
  return bin[base] ?? Object.values(bin)[0] ?? null;
}

export function pickServiceEntry(packageDir: string, config: Pick<Config, 'serviceEntry'>, fallback: string | null): string | null {
  for (const e of config.serviceEntry) if (fs.existsSync(path.join(packageDir, e))) return e;
  return fallback;
}

export function resolveEntry(layout: Layout, version: string, which: 'bin' | 'service'): string | null {
  const prefix = layout.version(version);
  try {
    const rel = fs.readFileSync(path.join(prefix, which === 'bin' ? '.oc-bin' : '.oc-service-entry'), 'utf8').trim();
    return fs.realpathSync(path.join(prefix, rel));
  } catch {
    return null;
  }
}

export function inventoryDigest(entries: ReadonlyArray<{ path: string; size: number }>): string {
  const h = crypto().createHash('sha256');
  for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    h.update(`${e.path}\0${e.size}\n`);
  }
  return h.digest('hex');
}

/** Every tarball file present in the installed package with its size (pacote says success on a full disk). */
export async function checkTarballFiles(
  packageDir: string,
  entries: ReadonlyArray<{ path: string; size: number }>,
  exempt: ReadonlySet<string>,
): Promise<{ missing: string[]; wrongSize: string[] }> {
  const missing: string[] = [];
  const wrongSize: string[] = [];
  const verdicts = await mapLimit(entries, 32, async (e): Promise<'missing' | 'size' | null> => {
    if (exempt.has(e.path)) return null;
    try {
      const st = await fsp.lstat(path.join(packageDir, e.path));
      return !st.isFile() ? 'missing' : st.size !== e.size ? 'size' : null;
    } catch {
      return 'missing';
    }
  });
  verdicts.forEach((v, i) => {
    if (v === 'missing') missing.push(entries[i]!.path);
    else if (v === 'size') wrongSize.push(entries[i]!.path);
  });
  return { missing, wrongSize };
}

/** Free bytes on the filesystem holding p (null if unknown). */
export async function freeBytes(p: string): Promise<number | null> {
  try {
    const s = await fsp.statfs(p);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

export async function removeVersion(layout: Layout, version: string): Promise<void> {
  // Rename out of versions/ first so a half-deleted tree is never mistaken for a version.
  const dir = layout.version(version);
  const trash = layout.staging(version, `removing.${process.pid}.${crypto().randomBytes(4).toString('hex')}`);
  await fsp.mkdir(layout.stagingDir, { recursive: true });
  try {
    await fsp.rename(dir, trash);
  } catch (e) {
    throw fromFsError(e, `removing ${version}`) ?? e;
  }
  await fsyncDir(layout.versionsDir);
  await fsp.rm(trash, { recursive: true, force: true });
  await fsp.rm(layout.compileCache(version), { recursive: true, force: true });
}
