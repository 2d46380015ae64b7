/**
 * Versions are large (a real OpenClaw install is ~650 MB) and consecutive
 * versions share part of their files. On a copy-on-write filesystem (XFS with
 * reflink, Btrfs, APFS) a staged file whose content is identical to a file of an
 * installed version is replaced by a reflink clone of it, so the bytes are stored once.
 * Identical content counts wherever it lives: OpenClaw's bundler names chunks by hash
 * (`dist/foo-<hash>.js`), so an unchanged chunk may move to a new name, and two
 * dependencies may ship the same file.
 *
 * A clone is a separate inode: a write to one never shows in the other, so the
 * side-by-side invariant holds (a hardlink would break it, and is never used).
 * Runs on the staged tree only, before the seal; on filesystems without
 * reflink it costs one failed clone attempt and nothing else.
 *
 * Matching: the installed version's files are indexed by size; a staged file is
 * hashed only when a file of its size exists there, and a candidate of the
 * installed version is hashed at most once. Hashes the install has already
 * verified (OpenClaw's content inventory, checked just before) are reused for the
 * staged side; the installed side is always hashed, so a clone never copies bytes
 * that were not compared.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { parseInventory } from './checks/inventory.js';

/**
 * Files below this are left alone: only empty files (no blocks to share). Every other size pays:
 * a file of 1 byte still takes a 4 KiB block. Measured on an XFS reflink loop mount with a copy of
 * the real 2026.9.6 (38,734 files, 641 MB) staged against itself, 2 cores (2026-12-01): cloning
 * every file takes 14.7 s and the pair then takes 738 MB; files of 16 KiB or more only, 3.9 s and
 * 919 MB (no clones: 1,374 MB). The time was the hashing (a read stream per file, 85 s for every
 * file), not the clones (copy + chmod + rename ≈ 0.16 ms a file): small files are read whole now.
 * The real pair: 2026.9.6 against an installed 2026.9.5 clones 25,910 files (186 MB) in ≈ 11 s;
 * the two then take 1,043 MB of the filesystem against 618 MB for 2026.9.5 alone (1.69x; 1.89x
 * with the 16 KiB floor).
 */
export const MIN_SIZE = 1;

/** Concurrent hash/clone operations (bounded: a 2-core machine, a disk shared with the gateway). */
const PARALLEL = 8;

export interface DedupeResult {
  supported: boolean;
  cloned: number;
  bytes: number;
  /** Clones whose source had another path (renamed chunks, files shared between dependencies). */
  movedCloned?: number;
}

export interface DedupeOptions {
  /** sha256 of staged files already verified by this install, by path relative to the staged root. */
  verified?: ReadonlyMap<string, string>;
  minSize?: number;
}

/** Files up to this size are hashed from one read; larger ones are streamed (bounded memory). */
const READ_WHOLE_MAX = 4 * 1024 * 1024;
/** …and up to this size read synchronously: no thread-pool round trips for the ≈ 30,000 small files of a tree. */
const SYNC_READ_MAX = 64 * 1024;

async function sha256(file: string, size: number): Promise<string> {
  const h = crypto.createHash('sha256');
  // A read stream costs ≈ 0.6 ms per file in setup alone (measured on XFS, 2 cores): most of a
  // small file's dedupe. One read of the whole file costs a fraction of that.
  if (size <= SYNC_READ_MAX) return h.update(fs.readFileSync(file)).digest('hex');
  if (size <= READ_WHOLE_MAX) return h.update(await fsp.readFile(file)).digest('hex');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface FileEntry {
  rel: string;
  size: number;
  mode: number;
}

async function listFiles(root: string, minSize: number): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    let ents: fs.Dirent[];
    try {
      ents = await fsp.readdir(path.join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    const files: string[] = [];
    const dirs: string[] = [];
    for (const e of ents) {
      const r = rel ? path.join(rel, e.name) : e.name;
      if (e.isDirectory()) dirs.push(r);
      else if (e.isFile() && !(rel === '' && e.name.startsWith('.oc-'))) files.push(r);
    }
    const stats = await Promise.all(files.map((r) => fsp.lstat(path.join(root, r)).catch(() => null)));
    stats.forEach((st, i) => {
      if (st && st.isFile() && st.size >= minSize) out.push({ rel: files[i]!, size: st.size, mode: st.mode });
    });
    for (const d of dirs) await walk(d);
  };
  await walk('');
  return out;
}

async function cloneOver(src: string, dst: string, mode: number, srcMode: number): Promise<void> {
  const tmp = `${dst}.oc-clone-${process.pid}`;
  try {
    // The copy takes the source's mode (libuv copies it): a chmod only when the staged file's differs.
    await fsp.copyFile(src, tmp, fs.constants.COPYFILE_FICLONE_FORCE);
    if ((mode & 0o7777) !== (srcMode & 0o7777)) await fsp.chmod(tmp, mode & 0o7777);
    await fsp.rename(tmp, dst);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}

/** Probe once whether `dir` supports reflink clones (no-op files, removed again). */
export async function reflinkSupported(dir: string): Promise<boolean> {
  const a = path.join(dir, `.oc-reflink-probe-${process.pid}`);
  const b = `${a}.clone`;
  try {
    await fsp.writeFile(a, 'x');
    await fsp.copyFile(a, b, fs.constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    await fsp.rm(a, { force: true });
    await fsp.rm(b, { force: true });
  }
}

/**
 * sha256 by path (relative to `prefix`) from a package's content inventories
 * (`[{ path, sha256 }]`, paths relative to `packageDir`). Only meaningful once the
 * inventory check has passed on this tree: then every listed hash is the file's.
 */
export async function inventoryHashes(prefix: string, packageDir: string, inventoryFiles: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const inv of inventoryFiles) {
    let items: ReturnType<typeof parseInventory>;
    try {
      items = parseInventory(JSON.parse(await fsp.readFile(path.join(packageDir, inv), 'utf8')));
    } catch {
      continue;
    }
    for (const it of items) if (it.sha256) out.set(path.relative(prefix, path.join(packageDir, it.path)), it.sha256);
  }
  return out;
}

async function inParallel<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

/** Replace files of `staged` whose content equals a file anywhere under `sealed` by reflink clones of it. */
export async function dedupeAgainst(staged: string, sealed: string, opts: DedupeOptions = {}): Promise<DedupeResult> {
  if (!(await reflinkSupported(staged))) return { supported: false, cloned: 0, bytes: 0 };
  const minSize = opts.minSize ?? MIN_SIZE;
  const [mine, theirs] = await Promise.all([listFiles(staged, minSize), listFiles(sealed, minSize)]);
  const bySize = new Map<number, FileEntry[]>();
  for (const f of theirs) {
    const list = bySize.get(f.size);
    if (list) list.push(f);
    else bySize.set(f.size, [f]);
  }
  // Hash of an installed file, computed once (the promise is shared by concurrent askers).
  const theirHash = new Map<string, Promise<string | null>>();
  const hashOfTheirs = (c: FileEntry): Promise<string | null> => {
    let p = theirHash.get(c.rel);
    if (!p) {
      p = sha256(path.join(sealed, c.rel), c.size).catch(() => null);
      theirHash.set(c.rel, p);
    }
    return p;
  };
  const todo = mine.filter((f) => bySize.has(f.size));
  let cloned = 0;
  let movedCloned = 0;
  let bytes = 0;
  await inParallel(todo, PARALLEL, async (f) => {
    const dst = path.join(staged, f.rel);
    const mineHash = opts.verified?.get(f.rel) ?? (await sha256(dst, f.size).catch(() => null));
    if (mineHash === null) return;
    // The same path first: the common case, and the cheapest to confirm.
    const candidates = [...bySize.get(f.size)!].sort((a, b) => Number(b.rel === f.rel) - Number(a.rel === f.rel));
    for (const c of candidates) {
      if ((await hashOfTheirs(c)) !== mineHash) continue;
      try {
        await cloneOver(path.join(sealed, c.rel), dst, f.mode, c.mode);
        cloned++;
        bytes += f.size;
        if (c.rel !== f.rel) movedCloned++;
      } catch {
        // leave the staged copy as it is
      }
      return;
    }
  });
  return { supported: true, cloned, bytes, movedCloned };
}
