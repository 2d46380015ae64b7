/**
 * Versions are large (a real OpenClaw install is ~650 MB) and consecutive
 * versions share part of their files. On a copy-on-write filesystem (XFS with
 * reflink, Btrfs, APFS) a staged file identical to the same path in an installed
 * version is replaced by a reflink clone of it, so the bytes are stored once.
 * A clone is a separate inode: a write to one never shows in the other, so the
 * side-by-side invariant holds (a hardlink would break it, and is never used).
 * Runs on the staged tree only, before the seal; on filesystems without
 * reflink it costs one failed clone attempt and nothing else.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

const MIN_SIZE = 16 * 1024;

export interface DedupeResult {
  supported: boolean;
  cloned: number;
  bytes: number;
}

async function sha256(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function* walkFiles(root: string, rel = ''): AsyncGenerator<string> {
  let ents: fs.Dirent[];
  try {
    ents = await fsp.readdir(path.join(root, rel), { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of ents) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) yield* walkFiles(root, r);
    else if (e.isFile()) yield r;
  }
}

async function cloneOver(src: string, dst: string, mode: number): Promise<void> {
  const tmp = `${dst}.oc-clone-${process.pid}`;
  await fsp.copyFile(src, tmp, fs.constants.COPYFILE_FICLONE_FORCE);
  await fsp.chmod(tmp, mode & 0o7777);
  await fsp.rename(tmp, dst);
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

/** Replace files of `staged` identical to the same path under `sealed` by reflink clones. */
export async function dedupeAgainst(staged: string, sealed: string): Promise<DedupeResult> {
  if (!(await reflinkSupported(staged))) return { supported: false, cloned: 0, bytes: 0 };
  let cloned = 0;
  let bytes = 0;
  for await (const rel of walkFiles(staged)) {
    if (rel.startsWith('.oc-')) continue;
    const dst = path.join(staged, rel);
    const src = path.join(sealed, rel);
    let ds: fs.Stats;
    let ss: fs.Stats;
    try {
      [ds, ss] = await Promise.all([fsp.lstat(dst), fsp.lstat(src)]);
    } catch {
      continue;
    }
    if (!ss.isFile() || ds.size !== ss.size || ds.size < MIN_SIZE) continue;
    if ((await sha256(dst)) !== (await sha256(src))) continue;
    try {
      await cloneOver(src, dst, ds.mode);
      cloned++;
      bytes += ds.size;
    } catch {
      // leave the staged copy as it is
    }
  }
  return { supported: true, cloned, bytes };
}
