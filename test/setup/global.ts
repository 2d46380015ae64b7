/**
 * vitest globalSetup: one verdaccio for the whole run, with the standard fixture set published.
 * Tests read its URL with `inject('registryUrl')` (or `process.env.OC_TEST_REGISTRY`, also set for
 * child processes the tests spawn). Never the public registry.
 */
import type { TestProject } from 'vitest/node';
import { STANDARD_FIXTURES, publishFixture, type FixtureOptions } from '../helpers/fixtures.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the shared test registry, e.g. `http://127.0.0.1:40123/` (trailing slash). */
    registryUrl: string;
    /** Its verdaccio storage dir (read-only for tests: corrupt tarballs in a private registry). */
    registryStorage: string;
  }
}

/** Publish; on failure retry once, and accept a failure if the version is there after all. */
async function publishChecked(url: string, f: FixtureOptions): Promise<void> {
  const isThere = async () => {
    const res = await fetch(new URL(encodeURIComponent(f.name ?? 'openclaw').replace('%40', '@'), url));
    if (!res.ok) return false;
    const doc = (await res.json()) as { versions?: Record<string, unknown> };
    return !!doc.versions?.[f.version];
  };
  try {
    await publishFixture(url, f);
  } catch (first) {
    await new Promise((r) => setTimeout(r, 250));
    if (await isThere()) return;
    try {
      await publishFixture(url, f);
    } catch (second) {
      if (!(await isThere())) throw second instanceof Error ? second : first;
    }
  }
}

/** Publish in parallel across package names, sequentially within one name (verdaccio metadata). */
async function publishAll(url: string, fixtures: readonly FixtureOptions[]): Promise<void> {
  const byName = new Map<string, FixtureOptions[]>();
  for (const f of fixtures) {
    const name = f.name ?? 'openclaw';
    byName.set(name, [...(byName.get(name) ?? []), f]);
  }
  // Within `openclaw`, publish the first version alone (it creates the package), then the rest
  // a few at a time.
  const lanes: Promise<void>[] = [];
  for (const list of byName.values()) {
    lanes.push(
      (async () => {
        const [first, ...rest] = list;
        if (first) await publishChecked(url, first);
        const queue = [...rest];
        const worker = async () => {
          for (let f = queue.shift(); f; f = queue.shift()) await publishChecked(url, f);
        };
        await Promise.all([worker(), worker(), worker()]);
      })(),
    );
  }
  await Promise.all(lanes);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  let registry: TestRegistry | undefined;
  try {
    registry = await startRegistry();
    await publishAll(registry.url, STANDARD_FIXTURES);
    // The `latest` tag must be the one STANDARD_FIXTURES asks for, whatever the publish order.
    const res = await fetch(new URL('openclaw', registry.url));
    const doc = (await res.json()) as { 'dist-tags'?: Record<string, string> };
    const wantLatest = STANDARD_FIXTURES.find((f) => (f.name ?? 'openclaw') === 'openclaw' && f.tag === 'latest');
    if (wantLatest && doc['dist-tags']?.latest !== wantLatest.version) {
      throw new Error(`test registry: openclaw latest is ${doc['dist-tags']?.latest}, expected ${wantLatest.version}`);
    }
  } catch (e) {
    await registry?.stop();
    throw e;
  }
  const reg = registry;
  project.provide('registryUrl', reg.url);
  project.provide('registryStorage', reg.storage);
  process.env.OC_TEST_REGISTRY = reg.url;
  process.stdout.write(
    `[global setup] test registry ${reg.url}: ${STANDARD_FIXTURES.length} fixtures published in ${Date.now() - t0} ms\n`,
  );

  return async () => {
    await reg.stop();
  };
}
