/**
 * The budget for tarballs read from npm's cache (src/registry/index.ts, cachedTarballs): which
 * extractions run with `preferOnline` off, and that the bytes in flight are given back.
 *
 * `pacote` here is a stand-in object with an `extract` that records the options it was called
 * with and waits until the test lets it finish: what is under test is the wrapper's decision and
 * its accounting, not pacote (test/e2e/install-listing.test.ts installs through the real pacote
 * and arborist from a real registry). The cache's content files are real files, at the paths
 * cacache's own `contentPath` gives, found through cacache's `get.hasContent` as installs find them.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CACHED_TARBALLS, cachedTarballs } from '../../src/registry/index.js';

const require = createRequire(import.meta.url);
const contentPath = require('cacache/lib/content/path.js') as (cache: string, integrity: string) => string;
const cacache = require('cacache') as Parameters<typeof cachedTarballs>[1];

let cache: string;
const saved = { ...CACHED_TARBALLS };
beforeAll(async () => {
  cache = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-test-cached-'));
});
afterAll(async () => {
  await fsp.rm(cache, { recursive: true, force: true });
});
afterEach(() => {
  Object.assign(CACHED_TARBALLS, saved);
});

/** A tarball of `size` bytes stored in the cache as cacache stores it; its integrity. */
async function cached(size: number, tag: string): Promise<string> {
  const body = Buffer.alloc(size, tag);
  const integrity = `sha512-${crypto.createHash('sha512').update(body).digest('base64')}`;
  const file = contentPath(cache, integrity);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, body);
  return integrity;
}

/** A stand-in pacote whose extractions stay open until released. */
function fakePacote() {
  const calls: Array<{ spec: string; preferOnline: unknown; finish: (ok: boolean) => void }> = [];
  const pacote = {
    extract(spec: string, _dest: string, opts: Record<string, unknown>): Promise<string> {
      return new Promise((resolve, reject) => {
        calls.push({ spec, preferOnline: opts['preferOnline'], finish: (ok) => (ok ? resolve(spec) : reject(new Error(`${spec} failed`))) });
      });
    },
  };
  return { pacote, calls };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('cachedTarballs', () => {
  it('reads from the cache only within the budget, and gives the bytes back when an extraction ends, failed or not', async () => {
    Object.assign(CACHED_TARBALLS, { each: 1000, inFlight: 1500 });
    const a = await cached(800, 'a');
    const b = await cached(800, 'b');
    const small = await cached(600, 'c');
    const big = await cached(1200, 'd');
    const { pacote, calls } = fakePacote();
    const stop = cachedTarballs(pacote, cacache);
    const opts = (integrity: string) => ({ cache, integrity, resolved: `http://127.0.0.1:9/x/-/x-${integrity.slice(7, 15)}.tgz`, preferOnline: true });
    try {
      const pa = pacote.extract('a', '/nowhere/a', opts(a));
      await settle();
      const pb = pacote.extract('b', '/nowhere/b', opts(b)); // 800 + 800 > 1500: streams
      const pc = pacote.extract('c', '/nowhere/c', opts(small)); // 800 + 600 <= 1500: cache
      const pd = pacote.extract('d', '/nowhere/d', opts(big)); // over `each`: streams
      await settle();
      // c's and d's cache lookups may resolve in either order (each decision depends only on the
      // bytes in flight, a's 800, and its own size): compare by spec.
      const bySpec = (spec: string) => calls.find((c) => c.spec === spec)!;
      expect(calls.map((c) => [c.spec, c.preferOnline]).sort()).toEqual([
        ['a', false],
        ['b', true],
        ['c', false],
        ['d', true],
      ]);
      // a fails and c succeeds: both give their bytes back, so b's size fits again.
      bySpec('a').finish(false);
      bySpec('c').finish(true);
      await expect(pa).rejects.toThrow('a failed');
      await expect(pc).resolves.toBe('c');
      const pb2 = pacote.extract('b2', '/nowhere/b2', opts(b));
      const pa2 = pacote.extract('a2', '/nowhere/a2', opts(a)); // 800 + 800 > 1500 again
      await settle();
      expect(calls.slice(4).map((c) => [c.spec, c.preferOnline])).toEqual([
        ['b2', false],
        ['a2', true],
      ]);
      for (const c of calls.slice(4)) c.finish(true);
      bySpec('b').finish(true);
      bySpec('d').finish(true);
      await Promise.all([pb, pd, pb2, pa2]);
    } finally {
      stop();
    }
  });

  it('leaves an extraction alone outside an install, without a resolved URL or integrity, or not in the cache', async () => {
    const a = await cached(100, 'e');
    const { pacote, calls } = fakePacote();
    const stop = cachedTarballs(pacote, cacache);
    const base = { cache, integrity: a, resolved: 'http://127.0.0.1:9/e.tgz', preferOnline: true };
    const missing = `sha512-${crypto.createHash('sha512').update('not cached').digest('base64')}`;
    try {
      void pacote.extract('in', '/nowhere', base);
      void pacote.extract('no-resolved', '/nowhere', { ...base, resolved: undefined });
      void pacote.extract('no-integrity', '/nowhere', { ...base, integrity: undefined });
      void pacote.extract('missing', '/nowhere', { ...base, integrity: missing });
      void pacote.extract('other-cache', '/nowhere', { ...base, cache: path.join(cache, 'elsewhere') });
      await settle();
    } finally {
      stop();
    }
    void pacote.extract('after', '/nowhere', base);
    await settle();
    expect(Object.fromEntries(calls.map((c) => [c.spec, c.preferOnline]))).toEqual({
      in: false,
      'no-resolved': true,
      'no-integrity': true,
      missing: true,
      'other-cache': true,
      after: true,
    });
    for (const c of calls) c.finish(true);
  });

  it('wraps a pacote once, and one whose extract cannot be redefined not at all', () => {
    const { pacote } = fakePacote();
    const stop1 = cachedTarballs(pacote, cacache);
    const wrapped = pacote.extract;
    const stop2 = cachedTarballs(pacote, cacache);
    expect(pacote.extract).toBe(wrapped);
    stop1();
    stop2();
    const frozen = Object.freeze({ extract: () => Promise.resolve('x') });
    const original = frozen.extract;
    expect(() => cachedTarballs(frozen, cacache)()).not.toThrow();
    expect(frozen.extract).toBe(original);
  });
});
