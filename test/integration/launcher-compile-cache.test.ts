/**
 * The launcher turns node's compile cache on for a version only once that cache is warm
 * (shims/openclaw-gateway, docs/service.md#the-compile-cache): on an empty cache node would
 * produce entries while the gateway starts and write them all when it exits, both inside an
 * outage. Through the rendered launcher and a real node: a stand-in service entry (the version's
 * `.oc-service-entry` names it) reports the NODE_COMPILE_CACHE it was given, imports a module and
 * exits; the cache directory is then read for what node wrote. Real files, real processes.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../src/os/proc.js';
import { makeFakeHome, type FakeHome } from '../helpers/fake-home.js';

const homes: FakeHome[] = [];
afterEach(async () => {
  for (const h of homes.splice(0)) await h.cleanup();
});

const VERSION = '2026.9.5';

/** A fake home whose current version's service entry reports its NODE_COMPILE_CACHE and imports one module. */
async function setUp(): Promise<{ fake: FakeHome; cache: string; launch: (env?: NodeJS.ProcessEnv) => Promise<string | null> }> {
  const fake = await makeFakeHome({ versions: [VERSION] });
  homes.push(fake);
  const dir = path.join(fake.root, 'probe');
  await fsp.mkdir(dir);
  await fsp.writeFile(path.join(dir, 'dep.mjs'), 'export const dep = 1;\n');
  await fsp.writeFile(path.join(dir, 'entry.mjs'), "import { dep } from './dep.mjs';\nprocess.stdout.write(JSON.stringify({ cc: process.env.NODE_COMPILE_CACHE ?? null, dep }));\n");
  await fsp.writeFile(path.join(fake.layout.version(VERSION), '.oc-service-entry'), `${path.join(dir, 'entry.mjs')}\n`);
  const launch = async (env: NodeJS.ProcessEnv = {}): Promise<string | null> => {
    const r = await run(fake.layout.gatewayShim, [], { env: { ...process.env, NODE_COMPILE_CACHE: undefined, ...env }, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { cc: string | null; dep: number };
    expect(out.dep).toBe(1);
    return out.cc;
  };
  return { fake, cache: fake.layout.compileCache(VERSION), launch };
}

/** Files node has written under a compile-cache directory (its entries sit in a per-node-version subdirectory). */
function cacheFiles(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
  } catch {
    return [];
  }
}

describe("the launcher's compile cache", () => {
  it('is off while the version has no cache, so nothing is produced at the start or written at the exit', async () => {
    const { cache, launch } = await setUp();
    expect(await launch()).toBeNull();
    expect(cacheFiles(cache)).toEqual([]);
    // What node leaves after a run it never got to write (a killed canary): its directory, no entry.
    await fsp.mkdir(path.join(cache, `v${process.versions.node}-${process.arch}-0-0`), { recursive: true });
    expect(await launch()).toBeNull();
    expect(cacheFiles(cache)).toEqual([]);
  });

  it('is on once the version has a warm cache (what the canary leaves), and node adds to it', async () => {
    const { fake, cache, launch } = await setUp();
    // Warm it the way the canary does: a real node run with NODE_COMPILE_CACHE set to the directory.
    const warm = await launch({ NODE_COMPILE_CACHE: cache });
    expect(warm).toBe(cache);
    const written = cacheFiles(cache);
    expect(written.length).toBeGreaterThan(0);
    // On: the entry runs with it, and modules it had not compiled before are added at its exit.
    const probe = path.join(fake.root, 'probe');
    await fsp.writeFile(path.join(probe, 'dep2.mjs'), 'export const dep = 1;\n');
    await fsp.writeFile(path.join(probe, 'entry2.mjs'), (await fsp.readFile(path.join(probe, 'entry.mjs'), 'utf8')).replace('./dep.mjs', './dep2.mjs'));
    await fsp.writeFile(path.join(fake.layout.version(VERSION), '.oc-service-entry'), `${path.join(probe, 'entry2.mjs')}\n`);
    expect(await launch()).toBe(cache);
    expect(cacheFiles(cache).length).toBeGreaterThan(written.length);
  });

  it("keeps a NODE_COMPILE_CACHE the job's environment sets, warm or not", async () => {
    const { fake, launch } = await setUp();
    const own = path.join(fake.root, 'own-cache');
    expect(await launch({ NODE_COMPILE_CACHE: own })).toBe(own);
    expect(cacheFiles(own).length).toBeGreaterThan(0);
    // An empty one is left as it is on a cold version (node leaves the cache off for it too).
    expect(await launch({ NODE_COMPILE_CACHE: '' })).toBe('');
    expect(cacheFiles(fake.layout.compileCache(VERSION))).toEqual([]);
  });
});
