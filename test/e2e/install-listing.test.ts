/**
 * installTree's tarball listing (src/registry/index.ts, recordExtraction): the managed package's
 * files are recorded from the tarball as arborist extracts it, not read again, and the record is
 * the listing a second read of the tarball gives. A real install from the test registry into a
 * temp prefix, through the arborist and tar from node_modules (the sources' path; the built CLI's
 * bundle shares its tar with pacote the same way: test/e2e/npm-libs.test.ts).
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fetchPackument, installTree, listTarball, type ResolvedPackage, type TarEntry } from '../../src/registry/index.js';
import { emptyUserconfig, npmEnv } from '../helpers/registry.js';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-test-listing-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const byPath = (e: ReadonlyArray<TarEntry>) => e.map(({ path: p, size }) => ({ path: p, size })).sort((a, b) => (a.path < b.path ? -1 : 1));

describe('installTree: the package listing', () => {
  it('is recorded from the extraction, and equals the tarball read again', async () => {
    const registry = inject('registryUrl');
    const env = npmEnv({ HOME: path.join(root, 'home'), npm_config_userconfig: emptyUserconfig() });
    const opts = { registry, env };
    const doc = await fetchPackument('openclaw', opts);
    const v = doc.versions['2026.3.1']!;
    const pkg: ResolvedPackage = { name: 'openclaw', version: '2026.3.1', integrity: v.integrity, resolved: v.tarball, engines: v.engines };
    const prefix = path.join(root, 'prefix');
    await fsp.mkdir(prefix);
    const seen: Array<{ entries: TarEntry[]; from: string }> = [];
    await installTree({
      ...opts,
      prefix,
      pkg,
      runScripts: true,
      runtimeNodeDir: path.dirname(process.execPath),
      beforeScripts: async (entries, from) => {
        seen.push({ entries, from });
      },
    });
    expect(seen.map((s) => s.from)).toEqual(['extraction']);
    const again = await listTarball(pkg, opts, { cachedOnly: true });
    expect(again.length).toBeGreaterThan(10);
    expect(byPath(seen[0]!.entries)).toEqual(byPath(again));
  }, 60_000);
});
