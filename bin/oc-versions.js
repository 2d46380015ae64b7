#!/usr/bin/env node
// The package's bin. It must parse and run on any Node, so it uses no syntax newer than ES2017
// and imports nothing statically (static imports are hoisted and would load dist/ first):
// it checks process.versions.node against `engines` and only then loads the CLI.
// Keep ENGINES equal to package.json "engines.node" (test/e2e/package.test.ts checks it).
var ENGINES = '^22.22.2 || ^24.15.0 || >=26.0.0';

function supported(v) {
  var p = String(v).split('.').map(Number);
  var major = p[0], minor = p[1], patch = p[2];
  if (major === 22) return minor > 22 || (minor === 22 && patch >= 2);
  if (major === 24) return minor >= 15;
  return major >= 26;
}

if (!supported(process.versions.node)) {
  process.stderr.write('oc-versions: needs Node ' + ENGINES + ', this is Node ' + process.versions.node +
    ' (' + process.execPath + ') (hint: run it with a supported Node, e.g. Node 24)\n');
  if (process.argv.indexOf('--json') !== -1) {
    // The --json error document (docs/cli.md#json-contract); schemaVersion as SCHEMA_VERSION in src/output.ts.
    process.stdout.write(JSON.stringify({ schemaVersion: 1, changed: false, error: { code: 'ENVIRONMENT', message: 'needs Node ' + ENGINES + ', this is Node ' + process.versions.node, hint: 'run it with a supported Node, e.g. Node 24', exitCode: 9 } }, null, 2) + '\n');
  }
  process.exitCode = 9;
} else {
  import('../dist/cli.js').catch(function (e) {
    // A broken install (dist/ or a bundled dependency missing): one line, not a stack.
    process.stderr.write('oc-versions: cannot load its own files: ' + (e && e.message ? e.message.split('\n')[0] : String(e)) +
      '\noc-versions: hint: reinstall it (npm install -g oc-versions); from a checkout, run npm run build\n');
    process.exitCode = 9;
  });
}
