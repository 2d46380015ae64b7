/**
 * npm's libraries (pacote, @npmcli/arborist, @npmcli/config and its definitions, tar, cacache), each
 * loaded once, on first use.
 *
 * The built CLI takes them from one file, dist/npm-libs.cjs, which scripts/bundle.mjs makes with
 * esbuild from the very packages in node_modules: the ≈ 570 modules they are made of then cost
 * one file read instead of ≈ 570 module resolutions, stats and reads, which measured ≈ 150 ms of an
 * install's start on this project's machines (docs/benchmarks.md, "the npm libraries in one
 * file"). Each library in that file is still evaluated only when it is first asked for (esbuild
 * wraps every CommonJS module in a lazy function), so resolving a version loads no arborist, and
 * the arborist preload keeps overlapping the packument request.
 *
 * Run from tsc's output or from the sources (tests, the supervisor), where the bundle's marker
 * below is not defined, they load from node_modules as before: the same packages, the same code.
 */
import { createRequire } from 'node:module';

/**
 * Set by scripts/bundle.mjs (esbuild `define`) to a marker that the build then replaces, in each
 * output file, with the path of dist/npm-libs.cjs relative to that file. Undefined elsewhere.
 */
declare const OC_NPM_LIBS_BUNDLE: string | undefined;

export interface NpmLibs {
  pacote: typeof import('pacote').default;
  Arborist: typeof import('@npmcli/arborist').default;
  Config: typeof import('@npmcli/config').default;
  definitions: typeof import('@npmcli/config/lib/definitions/index.js').default;
  tar: typeof import('tar');
  /** npm's cache library (no type package): the part installs use. */
  cacache: { get: { hasContent(cache: string, integrity: string): Promise<false | { size: number } | undefined> } };
}

/** The bundle's relative path, or undefined when this module was not built into the CLI bundle. */
function bundlePath(): string | undefined {
  return typeof OC_NPM_LIBS_BUNDLE === 'string' ? OC_NPM_LIBS_BUNDLE : undefined;
}

let bundle: NpmLibs | undefined;

const FROM_NODE_MODULES: { [K in keyof NpmLibs]: () => Promise<NpmLibs[K]> } = {
  pacote: async () => (await import('pacote')).default,
  Arborist: async () => (await import('@npmcli/arborist')).default,
  Config: async () => (await import('@npmcli/config')).default,
  definitions: async () => (await import('@npmcli/config/lib/definitions/index.js')).default,
  // The CommonJS tar, the instance pacote require()s from node_modules (installTree records the
  // package's listing through it); `import('tar')` would load tar's separate ESM build.
  tar: async () => createRequire(import.meta.url)('tar') as NpmLibs['tar'],
  cacache: async () => createRequire(import.meta.url)('cacache') as NpmLibs['cacache'],
};

/**
 * One of npm's libraries. From the bundle, the first read of a library evaluates it; a missing
 * bundle is a broken build and rejects, it is not papered over by loading from node_modules.
 */
export async function npmLib<K extends keyof NpmLibs>(name: K): Promise<NpmLibs[K]> {
  const rel = bundlePath();
  if (rel === undefined) return FROM_NODE_MODULES[name]();
  bundle ??= createRequire(import.meta.url)(rel) as NpmLibs;
  return bundle[name];
}
