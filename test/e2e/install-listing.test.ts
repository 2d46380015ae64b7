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
import { CACHED_TARBALLS, fetchPackument, installTree, listTarball, type ResolvedPackage, type TarEntry } from '../../src/registry/index.js';
import { emptyUserconfig, npmEnv } from '../helpers/registry.js';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-test-listing-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const byPath = (e: ReadonlyArray<TarEntry>) => e.map(({ path: p, size }) => ({ path: p, size })).sort((a, b) => (a.path < b.path ? -1 : 1));

/** Registry options with their own HOME (so their own npm cache), and a fixture version resolved from the test registry. */
async function resolvedFixture(home: string, version: string) {
  const registry = inject('registryUrl');
  const env = npmEnv({ HOME: path.join(root, home), npm_config_userconfig: emptyUserconfig() });
  const opts = { registry, env };
  const v = (await fetchPackument('openclaw', opts)).versions[version]!;
  const pkg: ResolvedPackage = { name: 'openclaw', version, integrity: v.integrity, resolved: v.tarball, engines: v.engines };
  /** installTree of that version, scripts on, into a new prefix `dir` under the test's root. */
  const install = async (dir: string, more: Pick<Parameters<typeof installTree>[0], 'beforeScripts' | 'progress'>) => {
    const prefix = path.join(root, dir);
    await fsp.mkdir(prefix);
    await installTree({ ...opts, prefix, pkg, runScripts: true, runtimeNodeDir: path.dirname(process.execPath), ...more });
  };
  return { opts, pkg, install };
}

describe('installTree: the package listing', () => {
  it('is recorded from the extraction, and equals the tarball read again', async () => {
    const { opts, pkg, install } = await resolvedFixture('home', '2026.3.1');
    const seen: Array<{ entries: TarEntry[]; from: string }> = [];
    await install('prefix', {
      beforeScripts: async (entries, from) => {
        seen.push({ entries, from });
      },
    });
    expect(seen.map((s) => s.from)).toEqual(['extraction']);
    const again = await listTarball(pkg, opts, { cachedOnly: true });
    expect(again.length).toBeGreaterThan(10);
    expect(byPath(seen[0]!.entries)).toEqual(byPath(again));
  }, 60_000);

  it("takes a small tarball from npm's cache, and one over the limit from the registry again", async () => {
    // The registry (verdaccio) sends no validator to revalidate with: under preferOnline, pacote
    // would download the tarball again on every install (cachedTarballs).
    const fixture = await resolvedFixture('home-cache', '2026.4.1');
    /** Bytes received while arborist downloaded and unpacked (its `download` phase), and its summary. */
    const install = async (dir: string): Promise<{ bytes: number; summary: string | undefined; files: number }> => {
      let phase = '';
      let bytes = -1;
      let summary: string | undefined;
      let files = 0;
      await fixture.install(dir, {
        beforeScripts: async (entries) => {
          files = entries.length;
        },
        progress: {
          phase: (name) => void (phase = name),
          bytes: (done) => void (phase === 'download' && (bytes = done)),
          items: () => {},
          end: (s) => void (phase === 'download' && (summary = s)),
        },
      });
      return { bytes, summary, files };
    };
    const cold = await install('cold');
    expect(cold.files).toBeGreaterThan(0);
    expect(cold.bytes).toBeGreaterThan(1000);
    expect(cold.summary).toBeUndefined();
    const warm = await install('warm');
    expect(warm.bytes).toBe(0);
    expect(warm.summary).toBe("1 of 1 package(s) from npm's cache");
    expect(warm.files).toBe(cold.files);
    const saved = { ...CACHED_TARBALLS };
    try {
      CACHED_TARBALLS.each = 1000;
      const big = await install('over-each');
      expect(big.bytes).toBeGreaterThan(1000);
      expect(big.summary).toBeUndefined();
      Object.assign(CACHED_TARBALLS, saved, { inFlight: 1000 });
      const budget = await install('over-budget');
      expect(budget.bytes).toBeGreaterThan(1000);
      expect(budget.summary).toBeUndefined();
    } finally {
      Object.assign(CACHED_TARBALLS, saved);
    }
  }, 90_000);
});
