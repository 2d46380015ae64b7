// Load the TypeScript test helpers (test/helpers/registry.ts, fixtures.ts) from plain Node, so the
// bench publishes exactly the fixtures the tests use instead of a copy that would drift.
//
// Node >= 22.18 / 24 strips TypeScript types natively; the only gap is that the helpers import each
// other as './registry.js' (TS "NodeNext" style, which vitest/tsc map to .ts). A tiny synchronous
// resolve hook retries a failed relative './x.js' as './x.ts'. Nothing else is rewritten.
import { registerHooks } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

if (typeof registerHooks !== 'function') {
  throw new Error(`bench: node ${process.version} lacks module.registerHooks; run it with Node 24 (npm run bench does)`);
}
registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (e) {
      if ((specifier.startsWith('./') || specifier.startsWith('../')) && specifier.endsWith('.js')) {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      }
      throw e;
    }
  },
});

const helper = (name) => pathToFileURL(path.join(REPO, 'test', 'helpers', name)).href;
export const registry = await import(helper('registry.ts'));
export const fixtures = await import(helper('fixtures.ts'));
export { REPO };
