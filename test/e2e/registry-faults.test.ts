/**
 * Integrity and environment faults: a corrupt tarball in the registry's storage,
 * and a home on a full filesystem (a small tmpfs, mounted for real; needs root —
 * CI runs as root; elsewhere the test says why it is skipped).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildFixture } from '../helpers/fixtures.js';
import { publish, startRegistry, tarballPath, type TestRegistry } from '../helpers/registry.js';
import { makeTestEnv, runCli, treeState } from '../helpers/cli.js';

describe('corrupt tarball / integrity mismatch', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
    for (const v of ['1.0.0', '1.1.0']) {
      const dir = await buildFixture({ version: v, chunkCount: 4 });
      await publish(reg.url, dir, { tag: v === '1.0.0' ? 'latest' : 'next' });
      await fsp.rm(path.dirname(dir), { recursive: true, force: true });
    }
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('a tarball whose bytes do not match the registry integrity is refused (exit 5), nothing installed', async () => {
    const t = await makeTestEnv(reg.url);
    try {
      expect((await runCli(['install', '1.0.0'], t.env)).code).toBe(0);
      // Flip bytes in the middle of the stored tarball: same size, wrong content.
      const tgz = tarballPath(reg.storage, 'openclaw', '1.1.0');
      const buf = fs.readFileSync(tgz);
      for (let i = 100; i < 200; i++) buf[i] = buf[i]! ^ 0xff;
      fs.writeFileSync(tgz, buf);
      const before = treeState(t.ocHome);
      const r = await runCli(['install', '1.1.0', '--json'], t.env);
      expect([5, 8]).toContain(r.code);
      expect(r.code).toBe(5);
      expect(r.json.error.code).toMatch(/INTEGRITY|CORRUPT_TARBALL/);
      const lines = r.stderr.trim().split('\n');
      expect(lines[lines.findIndex((l) => l.startsWith('oc-versions: hint: ')) - 1]).toMatch(/integrity|corrupt/i); // what failed, before its hint
      const after = treeState(t.ocHome).filter((l) => !l.startsWith('staging '));
      expect(after).toEqual(before.filter((l) => !l.startsWith('staging ')));
      expect(fs.existsSync(path.join(t.ocHome, 'versions', '1.1.0'))).toBe(false);
    } finally {
      await t.cleanup();
    }
  });
});

describe('home on a full filesystem', () => {
  const isRoot = process.getuid?.() === 0;
  let mnt: string | null = null;
  beforeAll(async () => {
    if (!isRoot) return;
    mnt = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-full-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    } catch {
      await fsp.rm(mnt, { recursive: true, force: true });
      mnt = null;
    }
  });
  afterAll(async () => {
    if (mnt) {
      execFileSync('umount', [mnt]);
      await fsp.rm(mnt, { recursive: true, force: true });
    }
  });

  it.skipIf(!isRoot)('install into a home on a full tmpfs exits 9 and leaves no version (needs root to mount tmpfs)', async () => {
    expect(mnt, 'mounting a 1 MiB tmpfs failed').not.toBeNull();
    const t = await makeTestEnv(inject('registryUrl'), {});
    try {
      const ocHome = path.join(mnt!, 'home');
      // The fixture with padding is far larger than 1 MiB.
      const r = await runCli(['install', '2026.2.1', '--home', ocHome, '--json'], t.env);
      // 2026.2.1 is small; fill the disk first so even it cannot fit.
      if (r.code === 0) {
        fs.writeFileSync(path.join(mnt!, 'filler'), Buffer.alloc(0));
        let chunk = Buffer.alloc(64 * 1024);
        try {
          for (;;) fs.appendFileSync(path.join(mnt!, 'filler'), chunk);
        } catch {
          chunk = Buffer.alloc(0);
        }
        const r2 = await runCli(['install', '2026.3.1', '--home', ocHome, '--json'], t.env);
        expect(r2.code, r2.stderr).toBe(9);
        expect(r2.json.error.code).toBe('DISK_FULL');
        expect(fs.existsSync(path.join(ocHome, 'versions', '2026.3.1'))).toBe(false);
        expect(fs.readdirSync(path.join(ocHome, 'staging'))).toEqual([]);
        expect(fs.readlinkSync(path.join(ocHome, 'current'))).toBe('versions/2026.2.1');
      } else {
        expect(r.code, r.stderr).toBe(9);
        expect(r.json.error.code).toBe('DISK_FULL');
        expect(fs.existsSync(path.join(ocHome, 'versions', '2026.2.1'))).toBe(false);
      }
    } finally {
      await t.cleanup();
    }
  });
});
