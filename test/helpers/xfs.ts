/**
 * A real XFS filesystem with reflink=1, loop-mounted in a temp dir (needs root and xfsprogs, which
 * .ci/run installs): where copy-on-write clones really happen. `xfsSkipReason` says why a test
 * cannot have one here (null: it can).
 */
import { execFileSync } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const xfsSkipReason: string | null = (() => {
  if (process.getuid?.() !== 0) return 'not root (a loop mount needs it)';
  try {
    execFileSync('sh', ['-c', 'command -v mkfs.xfs'], { stdio: 'ignore' });
  } catch {
    return 'no mkfs.xfs (xfsprogs)';
  }
  return null;
})();

export interface XfsMount {
  /** The mount point, or null when the mount failed (the test asserts it). */
  mnt: string | null;
  /** Unmount and remove the image. */
  remove(): Promise<void>;
}

export async function mountXfs(prefix: string, size = '512M'): Promise<XfsMount> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  const img = path.join(dir, 'xfs.img');
  execFileSync('truncate', ['-s', size, img]);
  execFileSync('mkfs.xfs', ['-q', '-m', 'reflink=1', img]);
  let mnt: string | null = path.join(dir, 'mnt');
  await fsp.mkdir(mnt);
  try {
    execFileSync('mount', ['-o', 'loop', img, mnt]);
  } catch {
    mnt = null;
  }
  return {
    mnt,
    async remove() {
      if (mnt) execFileSync('umount', [mnt]);
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}
