/**
 * Entry of the read-only fast path (src/fast-path.ts), bundled into dist/fast.js: bin/oc-versions.js
 * loads it for `current`, `list` and `which`; whatever it does not answer goes to the full CLI.
 */
import { runFast } from './fast-path.js';

const code = await runFast(process.argv.slice(2));
if (code === null) await import('./cli.js');
else process.exitCode = code;
