/** Small filesystem helpers shared by the core: atomic JSON, directory fsync, sweeping. */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OcError, fromFsError } from '../errors.js';

export async function readJson<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    // A synchronous read: these are small files, and the read-only fast path never loads
    // node:fs/promises (docs/architecture.md#startup).
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new OcError('ENVIRONMENT', `${file} is not valid JSON`, {
      hint: 'restore it from a backup or remove it; oc-versions recover can rebuild state from versions/',
      cause: e,
    });
  }
}

/** Directory fsync so a rename/create inside it is durable (no-op where unsupported). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on directories; durability is best-effort there
  } finally {
    await fh?.close();
  }
}

/** Load write-file-atomic now (a process that will write soon, at a moment where its load would cost more). */
export async function preloadAtomicWriter(): Promise<void> {
  await import('write-file-atomic');
}

/**
 * write-file-atomic (temp file + fsync + rename), then fsync the directory. `durable: false`
 * keeps the rename (readers see the old or the new file, whole) without the fsyncs: for a file
 * that only coordinates live processes and means nothing after a power loss.
 */
export async function writeJsonAtomic(file: string, value: unknown, mode = 0o600, o: { durable?: boolean } = {}): Promise<void> {
  await writeFileAtomicBytes(file, JSON.stringify(value, null, 2) + '\n', mode, o);
}

/** writeJsonAtomic for any bytes: a file put back byte for byte (the service definition a canary touched). */
export async function writeFileAtomicBytes(file: string, data: string | Buffer, mode = 0o600, o: { durable?: boolean } = {}): Promise<void> {
  const durable = o.durable ?? true;
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    // Loaded on first write: read-only commands never pay for it (or its signal-exit hooks).
    const { default: writeFileAtomic } = await import('write-file-atomic');
    await writeFileAtomic(file, data, { mode, fsync: durable });
    if (durable) await fsyncDir(path.dirname(file));
  } catch (e) {
    throw fromFsError(e, `writing ${path.basename(file)}`) ?? e;
  }
}

/**
 * write-file-atomic names its temp files `<file>.<hash>`; a process killed
 * mid-write leaves them behind. Those that belong to our own state files.
 */
export async function findAtomicTemps(dir: string, bases: readonly string[]): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  return names.filter((name) => bases.some((base) => name !== base && name.startsWith(base + '.') && /^\d+$|^[0-9a-f]+$/i.test(name.slice(base.length + 1))));
}

/** Remove the orphaned write-file-atomic temps of our own state files (caller holds the lock). */
export async function sweepAtomicTemps(dir: string, bases: readonly string[]): Promise<string[]> {
  const removed = await findAtomicTemps(dir, bases);
  for (const name of removed) await fsp.rm(path.join(dir, name), { force: true });
  return removed;
}

export function existsSync(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The package root of a module: the nearest directory above it holding a package.json. A module
 * finds the package's own files (shims/, dist/service/keepalive.js, package.json) from here, wherever
 * the build put it: src/<dir>/ (tests), tsc's dist/<dir>/ or the bundle's dist/ and dist/chunks/.
 */
export function packageRootOf(moduleUrl: string): string {
  const start = path.dirname(fileURLToPath(moduleUrl));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

/** sha256 (hex) of a file's bytes, streamed (a node binary is ≈ 120 MB). */
export async function sha256File(file: string): Promise<string> {
  // node:crypto only when hashing: read-only commands that load this module never need it.
  const h = process.getBuiltinModule('node:crypto').createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Put the complete directory `tmp` in place of `target`: a rename; when `target` exists (a damaged
 * copy being replaced) it is set aside first (`<target>.damaged-<ms>`) and removed after, so
 * `target` is never half there and a process still running from it keeps its open files.
 */
export async function renameDirInto(tmp: string, target: string): Promise<void> {
  if (!fs.existsSync(target)) {
    await fsp.rename(tmp, target);
    return;
  }
  const aside = `${target}.damaged-${Date.now()}`;
  await fsp.rename(target, aside);
  await fsp.rename(tmp, target);
  await fsp.rm(aside, { recursive: true, force: true });
}
