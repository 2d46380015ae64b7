/**
 * Identical files across versions cost disk once on a copy-on-write filesystem:
 * a real XFS image with reflink=1, loop-mounted (needs root and xfsprogs, which
 * .ci/run installs; elsewhere the test says why it is skipped).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture } from '../helpers/fixtures.js';
import { publish, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeTestEnv, runCli } from '../helpers/cli.js';
import { dedupeAgainst } from '../../src/core/dedupe.js';
import { mountXfs, xfsSkipReason, type XfsMount } from '../helpers/xfs.js';

describe.skipIf(xfsSkipReason !== null)('reflink sharing across versions (XFS, root + xfsprogs)', () => {
  let reg: TestRegistry;
  let xfs: XfsMount | undefined;
  let mnt: string | null = null;
  const PAD = 8 * 1024 * 1024;
  beforeAll(async () => {
    reg = await startRegistry();
    for (const v of ['1.0.0', '1.1.0', '1.2.0']) {
      // 1.2.0 ships the same bytes under a new name (what a hash-named chunk that did not change looks like).
      const d = await buildFixture({ version: v, chunkCount: 4, sharedPadBytes: PAD, ...(v === '1.2.0' ? { sharedPadPath: 'dist/shared-pad-Xq7.bin' } : {}) });
      await publish(reg.url, d, v === '1.0.0' ? { tag: 'latest' } : {});
      await fsp.rm(path.dirname(d), { recursive: true, force: true });
    }
    xfs = await mountXfs('oc-xfs-');
    mnt = xfs.mnt;
  });
  afterAll(async () => {
    await xfs?.remove();
    await reg?.stop();
  });

  it('the second version shares the identical 8 MB file with the first; each stays its own file', async () => {
    expect(mnt, 'loop-mounting the XFS image failed').not.toBeNull();
    const t = await makeTestEnv(reg.url);
    try {
      const home = path.join(mnt!, 'oc');
      const used = () => {
        const s = fs.statfsSync(mnt!);
        return (s.blocks - s.bfree) * s.bsize;
      };
      expect((await runCli(['install', '1.0.0', '--home', home], t.env)).code).toBe(0);
      const before = used();
      const r = await runCli(['install', '1.1.0', '--home', home], t.env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/shared \d+ identical file\(s\) .* with 1\.0\.0 by reflink/);
      const grew = used() - before;
      // the second version's tree costs far less than its 8 MB pad
      expect(grew).toBeLessThan(PAD / 2);
      const a = path.join(home, 'versions', '1.0.0', 'node_modules', 'openclaw', 'dist', 'shared-pad.bin');
      const b = path.join(home, 'versions', '1.1.0', 'node_modules', 'openclaw', 'dist', 'shared-pad.bin');
      expect(fs.statSync(a).ino).not.toBe(fs.statSync(b).ino); // a clone, never a hardlink
      expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
      const v = await runCli(['verify', '1.1.0', '--home', home, '--json'], t.env);
      expect(v.json.ok).toBe(true);
    } finally {
      await t.cleanup();
    }
  });

  it('small files are shared too (each takes a whole block), and a file that differs is left alone', async () => {
    expect(mnt, 'loop-mounting the XFS image failed').not.toBeNull();
    const root = path.join(mnt!, 'small');
    const sealed = path.join(root, 'sealed');
    const staged = path.join(root, 'staged');
    const N = 400;
    for (const d of [sealed, staged]) await fsp.mkdir(path.join(d, 'dist'), { recursive: true });
    for (let i = 0; i < N; i++) {
      const body = `export const v${i} = ${JSON.stringify('x'.repeat(200 + i))};\n`;
      fs.writeFileSync(path.join(sealed, 'dist', `m${i}.js`), body);
      fs.writeFileSync(path.join(staged, 'dist', `m${i}.js`), i === 0 ? body.replace('x', 'y') : body);
    }
    // Same bytes, another mode: the clone takes the staged file's mode, not the installed one's.
    fs.chmodSync(path.join(sealed, 'dist', 'm5.js'), 0o600);
    fs.chmodSync(path.join(staged, 'dist', 'm5.js'), 0o755);
    execFileSync('sync', ['-f', root]);
    const used = () => {
      const s = fs.statfsSync(mnt!);
      return (s.blocks - s.bfree) * s.bsize;
    };
    const before = used();
    const r = await dedupeAgainst(staged, sealed);
    execFileSync('sync', ['-f', root]);
    expect(r).toMatchObject({ supported: true, cloned: N - 1, movedCloned: 0 });
    // N - 1 blocks given back (one 4 KiB block per small file), give or take metadata.
    expect(before - used()).toBeGreaterThan(((N - 1) * 4096) / 2);
    const a = path.join(sealed, 'dist', 'm7.js');
    const b = path.join(staged, 'dist', 'm7.js');
    expect(fs.statSync(b).ino).not.toBe(fs.statSync(a).ino);
    expect(fs.readFileSync(b, 'utf8')).toBe(fs.readFileSync(a, 'utf8'));
    expect(fs.readFileSync(path.join(staged, 'dist', 'm0.js'), 'utf8')).toMatch(/^eyport /);
    expect(fs.statSync(path.join(staged, 'dist', 'm5.js')).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(staged, 'dist', 'm6.js')).mode & 0o777).toBe(fs.statSync(path.join(sealed, 'dist', 'm6.js')).mode & 0o777);
  });

  it('identical content under a new name in the new version is shared too', async () => {
    expect(mnt, 'loop-mounting the XFS image failed').not.toBeNull();
    const t = await makeTestEnv(reg.url);
    try {
      const home = path.join(mnt!, 'oc-renamed');
      const used = () => {
        const s = fs.statfsSync(mnt!);
        return (s.blocks - s.bfree) * s.bsize;
      };
      expect((await runCli(['install', '1.0.0', '--home', home], t.env)).code).toBe(0);
      const before = used();
      const r = await runCli(['install', '1.2.0', '--home', home], t.env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/shared \d+ identical file\(s\) .* with 1\.0\.0 by reflink/);
      const grew = used() - before;
      expect(grew).toBeLessThan(PAD / 2);
      const a = path.join(home, 'versions', '1.0.0', 'node_modules', 'openclaw', 'dist', 'shared-pad.bin');
      const b = path.join(home, 'versions', '1.2.0', 'node_modules', 'openclaw', 'dist', 'shared-pad-Xq7.bin');
      expect(fs.existsSync(path.join(home, 'versions', '1.2.0', 'node_modules', 'openclaw', 'dist', 'shared-pad.bin'))).toBe(false);
      expect(fs.statSync(a).ino).not.toBe(fs.statSync(b).ino); // a clone, never a hardlink
      expect(fs.statSync(b).nlink).toBe(1);
      expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
      // A write to the new version's file never shows in the old one's (what a hardlink would break).
      const v = await runCli(['verify', '1.2.0', '--home', home, '--json'], t.env);
      expect(v.json.ok).toBe(true);
      fs.chmodSync(b, 0o644);
      fs.writeFileSync(b, 'changed');
      expect(fs.statSync(a).size).toBe(PAD);
    } finally {
      await t.cleanup();
    }
  });
});
