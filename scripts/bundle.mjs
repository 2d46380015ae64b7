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
// - The rest of tsc's dist/ stays: tests import single modules from dist/.
// - dist/home/: what the service runs besides the launcher, self-contained (every dependency
//   inlined) so that src/service/home-lib.ts can render it into the home: the keep-alive
//   supervisor (dist/home/dist/keepalive.mjs) and the whole CLI for the recovery agent
//   (dist/home/dist/cli.mjs), with a package.json, shims/ and seal.json (sha256 of each file).
import crypto from 'node:crypto';
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

/**
 * npm's libraries in one CommonJS file, dist/npm-libs.cjs (src/registry/libs.ts says why). Its
 * entry exposes each library as a getter, so esbuild's lazy module wrappers evaluate a library only
 * when it is first read. The packages stay in node_modules (and in bundleDependencies): what they
 * resolve at run time still resolves there (npm's own package.json for @npmcli/config, node-gyp's
 * bin, which stays external), and every `__dirname` / `__filename` in them is rewritten to the
 * original file's place, relative to the bundle (@npmcli/run-script puts its node-gyp-bin dir on
 * the lifecycle scripts' PATH by `__dirname`).
 */
const NPM_LIBS = {
  pacote: 'pacote',
  Arborist: '@npmcli/arborist',
  Config: '@npmcli/config',
  definitions: '@npmcli/config/lib/definitions/index.js',
  tar: 'tar',
  cacache: 'cacache',
};
const NPM_LIBS_FILE = path.join(ROOT, 'dist', 'npm-libs.cjs');
/** Marker the CLI bundle gets for `OC_NPM_LIBS_BUNDLE`; replaced below by each file's relative path. */
const NPM_LIBS_MARKER = '@@oc-npm-libs-bundle@@';
const originalDirs = {
  name: 'original-dirs',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/].*\.c?js$/ }, (a) => {
      const src = fs.readFileSync(a.path, 'utf8');
      const re = /(?<![.\w$])__(dirname|filename)(?![\w$])/g;
      if (!re.test(src)) return undefined;
      const rel = (p) => JSON.stringify(path.relative(path.dirname(NPM_LIBS_FILE), p).split(path.sep).join('/'));
      const contents = src.replace(re, (_, which) => `__ocOriginal(${rel(which === 'dirname' ? path.dirname(a.path) : a.path)})`);
      return { contents, loader: 'js' };
    });
  },
};
await build({
  absWorkingDir: ROOT,
  stdin: {
    contents: `module.exports = {\n${Object.entries(NPM_LIBS).map(([k, spec]) => `  get ${k}() { return require(${JSON.stringify(spec)}); },`).join('\n')}\n};\n`,
    resolveDir: ROOT,
    sourcefile: 'npm-libs-entry.cjs',
    loader: 'js',
  },
  outfile: NPM_LIBS_FILE,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  external: ['node-gyp', 'node-gyp/*'],
  banner: { js: 'const __ocOriginal = (p) => require("node:path").join(__dirname, p);' },
  plugins: [originalDirs],
  // Whitespace and syntax only (names are kept): the file reads and parses in ≈ 37 ms instead of
  // ≈ 67 ms, and evaluates as fast; full minification kept names slower to evaluate.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
});

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
  define: { OC_NPM_LIBS_BUNDLE: JSON.stringify(NPM_LIBS_MARKER) },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});

// Each output that loads npm's libraries gets the bundle's path relative to itself.
let marked = 0;
for (const out of Object.keys(result.metafile.outputs)) {
  if (!out.endsWith('.js')) continue;
  const file = path.join(ROOT, out);
  const text = fs.readFileSync(file, 'utf8');
  if (!text.includes(NPM_LIBS_MARKER)) continue;
  let rel = path.relative(path.dirname(file), NPM_LIBS_FILE).split(path.sep).join('/');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  fs.writeFileSync(file, text.replaceAll(JSON.stringify(NPM_LIBS_MARKER), JSON.stringify(rel)));
  marked++;
}
if (marked === 0) throw new Error('bundle: no output loads npm-libs.cjs (src/registry/libs.ts no longer uses OC_NPM_LIBS_BUNDLE?)');

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

// The home's copy (src/service/home-lib.ts): one file per program, no externals, no chunks. The
// CommonJS libraries inside require() node's builtins: an ESM file has no `require`, so one is made…
const HOME = path.join(ROOT, 'dist', 'home');
fs.rmSync(HOME, { recursive: true, force: true });
await build({
  absWorkingDir: ROOT,
  entryPoints: { cli: 'src/cli.ts', keepalive: 'src/service/keepalive-main.ts' },
  outdir: path.join(HOME, 'dist'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  external: ['node-gyp', 'node-gyp/*'],
  // …nor `__filename` / `__dirname` (write-file-atomic names its temp files after `__filename`).
  banner: {
    js: "import { createRequire as __ocCreateRequire } from 'node:module'; import { fileURLToPath as __ocFileURLToPath } from 'node:url'; const require = __ocCreateRequire(import.meta.url); const __filename = __ocFileURLToPath(import.meta.url); const __dirname = __ocFileURLToPath(new URL('.', import.meta.url));",
  },
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'error',
});
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
fs.writeFileSync(
  path.join(HOME, 'package.json'),
  JSON.stringify({ name: pkg.name, version: pkg.version, private: true, type: 'module', description: 'oc-versions, rendered into its home: what the service runs (docs/on-disk-layout.md)' }, null, 2) + '\n',
);
fs.cpSync(path.join(ROOT, 'shims'), path.join(HOME, 'shims'), { recursive: true });
const sealed = {};
const walk = (dir) => {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else sealed[path.relative(HOME, p).split(path.sep).join('/')] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  }
};
walk(HOME);
fs.writeFileSync(path.join(HOME, 'seal.json'), JSON.stringify({ name: pkg.name, version: pkg.version, files: sealed }, null, 2) + '\n');

if (process.argv.includes('--analyze')) {
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    const imports = out.imports.filter((i) => i.kind === 'import-statement').map((i) => i.path);
    console.log(`${file}\t${out.bytes} B\tstatic imports: ${imports.join(', ') || '-'}`);
  }
}
