/**
 * Cross-check with the shared fixture builder (test/helpers/fixtures.ts): validateTree must read
 * the inventories it writes and refuse each bad variant by the right check. No registry: the
 * fixture is built on disk and its postinstall is run in place, as an install would.
 * End-to-end tests through `install` live elsewhere.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckName } from '../../src/core/validate.js';
import { firstFailure, validateTree } from '../../src/core/validate.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const helper = path.join(here, '../helpers/fixtures.ts');
const available = fs.existsSync(helper) && fs.existsSync(path.join(here, '../fixtures/gateway/openclaw.mjs'));

type FixtureModule = {
  buildFixture: (o: { version: string; variant?: string; chunkCount?: number }) => Promise<string>;
};

const built: string[] = [];
afterAll(() => {
  for (const dir of built) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
});

async function installFixture(variant: string, version: string): Promise<string> {
  const { buildFixture } = (await import(helper)) as FixtureModule;
  const dir = await buildFixture({ version, variant, chunkCount: 12 });
  built.push(dir);
  if (fs.existsSync(path.join(dir, 'scripts/postinstall.mjs'))) {
    execFileSync(process.execPath, ['scripts/postinstall.mjs'], { cwd: dir, stdio: 'ignore' });
  }
  return dir;
}

async function validateFixture(variant: string, version: string) {
  const dir = await installFixture(variant, version);
  return validateTree({
    packageDir: dir,
    prefix: path.dirname(dir),
    expectedVersion: version,
    runtimeNode: process.execPath,
    tmpDir: path.join(os.tmpdir(), 'oc-validate-fixtures'),
    config: {
      serviceEntry: ['dist/index.js', 'dist/entry.js'],
      lifecycleMarkers: ['.openclaw-lifecycle-pending'],
      inventoryFiles: ['dist/postinstall-inventory.json', 'dist/postinstall-content-inventory.json'],
      offlineChecks: [{ name: 'config validate', args: ['config', 'validate', '--json'], timeoutMs: 10_000 }],
      smokeTimeoutMs: 10_000,
    },
  });
}

describe.skipIf(!available)('validateTree on the shared OpenClaw-like fixtures', () => {
  it('passes the good fixture, hashing its content inventory', async () => {
    const r = await validateFixture('good', '2026.4.1');
    expect(r.checks.filter((c) => !c.ok), JSON.stringify(r.checks, null, 2)).toEqual([]);
    const inv = r.checks.find((c) => c.name === 'inventory')!;
    expect(inv.detail).toMatch(/hashed .* from postinstall-inventory\.json \+ postinstall-content-inventory\.json$/);
  });

  const cases: Array<[string, string, CheckName, RegExp]> = [
    ['missing-dynamic-chunk', '2026.5.1', 'import-closure', /^dist\/server-[0-9a-f]{8}\.js imports \.\/lazy-[0-9a-f]{8}\.js: missing/],
    ['missing-static-import', '2026.5.2', 'import-closure', /^dist\/index\.js imports \.\/chunk-[0-9a-f]{8}\.js: missing/],
    ['bad-inventory-hash', '2026.5.3', 'inventory', /^dist\/cli-[0-9a-f]{8}\.js: sha256 mismatch/],
    ['engines-99', '2026.5.4', 'runtime', /does not satisfy engines\.node ">=99"$/],
    ['lifecycle-marker-left', '2026.5.5', 'lifecycle', /^\.openclaw-lifecycle-pending is present/],
    ['version-exits-1', '2026.5.6', 'smoke', /^node openclaw\.mjs --version: exit 1/],
    ['deep-check-fails', '2026.5.10', 'offline-checks', /^config validate \(openclaw\.mjs config validate --json\): exit 1$/],
  ];
  it.each(cases)('refuses %s by %s', async (variant, version, check, detail) => {
    const r = await validateFixture(variant, version);
    expect(r.ok).toBe(false);
    const f = firstFailure(r);
    expect(f?.name, JSON.stringify(r.checks, null, 2)).toBe(check);
    expect(f?.detail).toMatch(detail);
  });
});
