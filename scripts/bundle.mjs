#!/usr/bin/env node
// Bundles the CLI (src/cli.ts) into dist/cli.js plus lazily-loaded chunks in dist/chunks/, after
// tsc has emitted dist/ (npm run build). Why: a read-only command (`current`, `list`, `which`) then
// loads ~15 files instead of ~80 (tsc's per-module output and semver's 47 files), and with Node's
// compile cache (enabled by bin/oc-versions.js) compiles almost nothing (docs/architecture.md#startup).
//
// - Each `import('./commands/<verb>.js')` in src/cli.ts becomes its own chunk (code splitting), so
//   a read-only command never evaluates the install, upgrade or service code.
// - Only the small pure-JS libraries the hot path needs (cac, semver) are bundled. Every other
//   dependency stays external: pacote, @npmcli/arborist and @npmcli/config are imported
//   dynamically (src/registry/), so they load only when a command needs the registry, and the rest
//   are imported by the chunks that use them. They ship as bundleDependencies, as before.
// - Why not one file without splitting: ESM output hoists every import of a builtin or an external
//   package to the top of the file, so `current` would load node:child_process, node:crypto, plist,
//   proper-lockfile… (tried: slower than the split bundle), and bundled CJS code cannot require()
//   builtins from an ESM file without a createRequire banner.
// - The rest of tsc's dist/ stays: the keepalive supervisor runs as its own process from
//   dist/service/keepalive.js, and tests import single modules from dist/.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLED = new Set(['cac', 'semver']);
/** Every package import stays a runtime import (from node_modules) except the BUNDLED ones. */
const externals = {
  name: 'externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (a) => {
      const name = a.path.split('/').slice(0, a.path.startsWith('@') ? 2 : 1).join('/');
      return a.path.startsWith('node:') || BUNDLED.has(name) ? undefined : { path: a.path, external: true };
    });
  },
};

const chunks = path.join(ROOT, 'dist', 'chunks');
fs.rmSync(chunks, { recursive: true, force: true });
// tsc's dist/cli.js and its map are replaced by the bundle.
fs.rmSync(path.join(ROOT, 'dist', 'cli.js.map'), { force: true });

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: { cli: 'src/cli.ts' },
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  plugins: [externals],
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});

/**
 * In the fast path, builtins come from process.getBuiltinModule() instead of ESM imports: an ESM
 * import of node:fs builds its ESM facade, which reads every export and so loads node:fs/promises
 * and all of node's streams through the `fs.promises` getter (~4% of a bare node start).
 * node:fs/promises itself becomes a proxy that loads the real module on first use, which the fast
 * verbs never reach. Each is a CommonJS module to esbuild, so named imports are read at use.
 */
const builtinsByGetter = {
  name: 'builtins-by-getter',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (a) => ({
      loader: 'js',
      contents:
        a.path === 'node:fs/promises'
          ? `let m; const load = () => (m ??= process.getBuiltinModule('node:fs/promises'));
             module.exports = new Proxy({}, { get: (_, k) => load()[k], has: (_, k) => k in load() });`
          : `module.exports = process.getBuiltinModule(${JSON.stringify(a.path)});`,
    }));
  },
};

// The read-only fast path (src/fast.ts): one file, nothing split off, so `current`, `list` and
// `which` load a single module. Its fallback, the full CLI, stays a runtime import of dist/cli.js.
const fast = await build({
  absWorkingDir: ROOT,
  entryPoints: { fast: 'src/fast.ts' },
  outdir: 'dist',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  plugins: [
    builtinsByGetter,
    externals,
    { name: 'full-cli', setup: (b) => b.onResolve({ filter: /^\.\/cli\.js$/ }, (a) => ({ path: a.path, external: true })) },
  ],
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
fs.rmSync(path.join(ROOT, 'dist', 'fast.js.map'), { force: true });
Object.assign(result.metafile.outputs, fast.metafile.outputs);

if (process.argv.includes('--analyze')) {
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    const imports = out.imports.filter((i) => i.kind === 'import-statement').map((i) => i.path);
    console.log(`${file}\t${out.bytes} B\tstatic imports: ${imports.join(', ') || '-'}`);
  }
}
