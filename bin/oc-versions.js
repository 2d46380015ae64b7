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

/**
 * Node's compile cache (V8 code cache on disk) for the CLI's own files, so a start parses little.
 * It lives in a per-user cache dir, never under the oc-versions home (docs/architecture.md, "Why
 * the compile cache lives outside the home"). Best effort: any failure leaves the cache off.
 */
function enableCompileCache() {
  try {
    var mod = process.getBuiltinModule && process.getBuiltinModule('node:module');
    if (!mod || typeof mod.enableCompileCache !== 'function') return;
    var path = process.getBuiltinModule('node:path');
    var os = process.getBuiltinModule('node:os');
    var env = process.env;
    var base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : null;
    if (!base) {
      var home = '';
      try {
        home = os.homedir();
      } catch (e) {
        home = '';
      }
      if (home && path.isAbsolute(home)) base = path.join(home, '.cache');
    }
    // Without a usable home Node picks its default (under os.tmpdir()).
    mod.enableCompileCache(base ? path.join(base, 'oc-versions', 'compile-cache') : undefined);
  } catch (e) {
    // The cache only saves time; a command never fails for it.
  }
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
  enableCompileCache();
  // `current`, `list` and `which` start in the read-only fast path (src/fast.ts), which hands
  // anything it does not answer to the full CLI; every other verb loads the full CLI directly.
  var verb = process.argv.slice(2).filter(function (a) { return a.charAt(0) !== '-'; })[0];
  var fast = verb === 'current' || verb === 'list' || verb === 'ls' || verb === 'which';
  import(fast ? '../dist/fast.js' : '../dist/cli.js').catch(function (e) {
    // A broken install (dist/ or a bundled dependency missing): one line, not a stack.
    process.stderr.write('oc-versions: cannot load its own files: ' + (e && e.message ? e.message.split('\n')[0] : String(e)) +
      '\noc-versions: hint: reinstall it (npm install -g oc-versions); from a checkout, run npm run build\n');
    process.exitCode = 9;
  });
}
