/**
 * dist/npm-libs.cjs, npm's libraries in one file (scripts/bundle.mjs, src/registry/libs.ts): the
 * built CLI loads pacote, arborist, @npmcli/config, tar and cacache from it. These tests hold it to the
 * packages in node_modules it was made from:
 * - it exposes the same libraries (same exports, arborist's build step the install hooks);
 * - every `__dirname` / `__filename` it rewrote names a file or directory that exists;
 * - a lifecycle script run by its arborist sees the same PATH and node-gyp as under the arborist
 *   from node_modules (a real install from the test registry, a real postinstall).
 *
 * Needs `npm run build` first (npm test builds).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { emptyUserconfig, publish } from '../helpers/registry.js';

const BUNDLE = path.join(REPO, 'dist', 'npm-libs.cjs');
const require = createRequire(import.meta.url);
type Libs = Record<'pacote' | 'Arborist' | 'Config' | 'definitions' | 'tar' | 'cacache', any>;
const bundled = (): Libs => require(BUNDLE) as Libs;
const plain = (): Libs => ({
  pacote: require('pacote'),
  Arborist: require('@npmcli/arborist'),
  Config: require('@npmcli/config'),
  definitions: require('@npmcli/config/lib/definitions/index.js'),
  tar: require('tar'),
  cacache: require('cacache'),
});

describe('dist/npm-libs.cjs', () => {
  it('exposes the libraries of node_modules: the same exports, and arborist with its build step', () => {
    const a = bundled();
    const b = plain();
    for (const k of ['pacote', 'Arborist', 'Config', 'definitions', 'tar', 'cacache'] as const) {
      expect(typeof a[k], k).toBe(typeof b[k]);
      expect(Object.keys(a[k]).sort(), k).toEqual(Object.keys(b[k]).sort());
    }
    // Not the same objects: the bundle is its own copy, not a re-export of node_modules.
    expect(a.pacote).not.toBe(b.pacote);
    expect(typeof a.Arborist.prototype[Symbol.for('build')]).toBe('function');
    expect(Object.keys(a.definitions.definitions).sort()).toEqual(Object.keys(b.definitions.definitions).sort());
    expect(typeof a.tar.Parser).toBe('function');
  });

  it("every rewritten __dirname / __filename names a path that exists beside the bundle", () => {
    const text = fs.readFileSync(BUNDLE, 'utf8');
    const rels = [...text.matchAll(/__ocOriginal\("([^"]+)"\)/g)].map((m) => m[1]!);
    expect(rels.length).toBeGreaterThan(0);
    for (const rel of rels) expect(fs.existsSync(path.join(path.dirname(BUNDLE), rel)), rel).toBe(true);
    // Past the banner (which defines __ocOriginal from the bundle's own __dirname), no __dirname
    // or __filename is left to mean the bundle's directory instead of a module's.
    const body = text.slice(text.indexOf('\n') + 1);
    expect(text.slice(0, text.indexOf('\n'))).toContain('__ocOriginal');
    expect(body).not.toMatch(/(?<![.\w$])__(dirname|filename)(?![\w$])/);
  });

  it("pacote in it extracts with the same tar the bundle exposes (installTree records the package's listing through it)", async () => {
    const libs = bundled();
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-test-npm-libs-x-'));
    const desc = Object.getOwnPropertyDescriptor(libs.tar, 'x')!;
    const cwds: string[] = [];
    const original = libs.tar.x;
    Object.defineProperty(libs.tar, 'x', { configurable: true, enumerable: true, value: (opt: { cwd: string }, ...rest: unknown[]) => (cwds.push(opt.cwd), original(opt, ...rest)) });
    try {
      await libs.pacote.extract('openclaw@2026.1.1', path.join(dir, 'pkg'), { registry: inject('registryUrl'), cache: path.join(dir, 'cache') });
      expect(cwds).toEqual([path.join(dir, 'pkg')]);
      expect(fs.existsSync(path.join(dir, 'pkg', 'package.json'))).toBe(true);
    } finally {
      Object.defineProperty(libs.tar, 'x', desc);
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  describe('lifecycle scripts under its arborist', () => {
    let root: string;
    const NAME = 'oc-npm-libs-probe';
    beforeAll(async () => {
      root = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-test-npm-libs-'));
      const pkg = path.join(root, 'pkg');
      await fsp.mkdir(pkg);
      await fsp.writeFile(
        path.join(pkg, 'package.json'),
        JSON.stringify({
          name: NAME,
          version: '1.0.0',
          scripts: {
            postinstall:
              "node -e \"require('fs').writeFileSync('lifecycle-env.json', JSON.stringify({ path: process.env.PATH, nodeGyp: process.env.npm_config_node_gyp }))\"",
          },
        }),
      );
      await publish(inject('registryUrl'), pkg, { tag: 'latest' });
    });
    afterAll(async () => {
      if (root) await fsp.rm(root, { recursive: true, force: true });
    });

    async function installWith(Arborist: any, prefix: string): Promise<{ path: string[]; nodeGyp: string }> {
      await fsp.mkdir(prefix, { recursive: true });
      await fsp.writeFile(path.join(prefix, 'package.json'), JSON.stringify({ name: 'probe-prefix', private: true, dependencies: { [NAME]: '1.0.0' } }));
      const arb = new Arborist({
        path: prefix,
        registry: inject('registryUrl'),
        cache: path.join(root, 'cache'),
        userconfig: emptyUserconfig(),
        audit: false,
        fund: false,
        save: false,
        allowScripts: { [NAME]: true },
      });
      await arb.reify({ save: false });
      const env = JSON.parse(await fsp.readFile(path.join(prefix, 'node_modules', NAME, 'lifecycle-env.json'), 'utf8')) as { path: string; nodeGyp: string };
      // The prefix's own .bin dirs differ by prefix; everything else must not.
      return { path: env.path.split(path.delimiter).map((p) => p.split(prefix).join('<prefix>')), nodeGyp: env.nodeGyp };
    }

    it('sees the same PATH (node-gyp-bin included) and npm_config_node_gyp as under the arborist from node_modules', async () => {
      const viaBundle = await installWith(bundled().Arborist, path.join(root, 'a'));
      const viaPlain = await installWith(plain().Arborist, path.join(root, 'b'));
      expect(viaBundle).toEqual(viaPlain);
      const gypBin = viaBundle.path.find((p) => p.endsWith(path.join('run-script', 'lib', 'node-gyp-bin')));
      expect(gypBin, viaBundle.path.join('\n')).toBeDefined();
      expect(fs.existsSync(path.join(gypBin!, 'node-gyp'))).toBe(true);
      expect(fs.existsSync(viaBundle.nodeGyp)).toBe(true);
    }, 60_000);
  });
});
