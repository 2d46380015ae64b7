#!/usr/bin/env node
// oc-versions benchmarks: ratios measured side by side in one run (see docs/benchmarks.md).
//
//   npm run bench                     (= npm run build && node bench/run.mjs; Node 24 from node_modules/.bin)
//   node bench/run.mjs [--rounds 5] [--pad-mb 8] [--chunks 200] [--only install,scale,shim,upgrade,closure]
//   (install includes scale: installs with 1, 10 and 50 versions already present)
//                      [--json out.json]
//   node bench/run.mjs --real [...]   the real openclaw from the public registry (bench/real.mjs)
//
// Everything runs against a private verdaccio on 127.0.0.1 (never the public registry), with
// fixture packages built by the test helpers (test/helpers/fixtures.ts). Every child the bench
// starts is in its own process group and is stopped by pid; every temp dir is removed at the end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { registry as R, fixtures as F, REPO } from './lib/ts-helpers.mjs';
import {
  cleanup,
  freePort,
  gapWatcher,
  onCleanup,
  removeDir,
  spawnGroup,
  stats,
  tempDir,
  timed,
  waitHealthy,
} from './lib/util.mjs';

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : def;
};
const ROUNDS = Math.max(1, Number(opt('rounds', 5)));
const PAD_MB = Number(opt('pad-mb', 8));
const CHUNKS = Number(opt('chunks', 200));
const ONLY = new Set(String(opt('only', 'install,shim,upgrade,closure')).split(','));
const JSON_OUT = opt('json', null);

// The real-package rows (public registry, opt-in): their own file, their own flags.
if (argv.includes('--real')) {
  const { main: realMain } = await import('./real.mjs');
  process.exit(await realMain(argv));
}

const NODE = process.execPath;
const CLI = path.join(REPO, 'dist', 'cli.js');
const BIN = path.join(REPO, 'bin', 'oc-versions.js');
if (!fs.existsSync(CLI)) {
  console.error('bench: dist/cli.js not found; run npm run build first (npm run bench does)');
  process.exit(2);
}
if (Number(process.versions.node.split('.')[0]) < 22) {
  console.error(`bench: node ${process.version} is too old; use Node 24 (npm run bench puts node_modules/.bin first on PATH)`);
  process.exit(2);
}

const log = (...a) => console.error('[bench]', ...a);
const results = { machine: machine(), rounds: ROUNDS, startedAt: new Date().toISOString(), sections: {} };
const rows = []; // markdown table rows: [what, A median, A min, B median, B min, ratio of medians]

function machine() {
  const cpus = os.cpus();
  return {
    node: process.version,
    npm: null,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    memGB: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${os.platform()} ${os.release()}`,
    tmpdirFs: null,
  };
}
const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)}` : 'n/a');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
function addRow(what, a, b, aName, bName) {
  const sa = stats(a);
  const sb = stats(b);
  rows.push([what, aName, ms(sa.median), ms(sa.min), bName, ms(sb.median), ms(sb.min), ratio(sa.median, sb.median), ratio(sa.min, sb.min)]);
  return { [aName]: sa, [bName]: sb, ratioMedian: sa.median / sb.median, ratioMin: sa.min / sb.min };
}

// ---------------------------------------------------------------- environment
const ROOT = tempDir('oc-bench-');
const EMPTY_NPMRC = path.join(ROOT, 'empty-npmrc');
fs.writeFileSync(EMPTY_NPMRC, '');

/** A clean environment: no npm_* leaking from `npm run bench`, Node 24 first on PATH. */
function envFor(home, ocHome, registryUrl, extra = {}) {
  return R.npmEnv({
    HOME: home,
    OC_VERSIONS_HOME: ocHome,
    npm_config_registry: registryUrl,
    npm_config_userconfig: EMPTY_NPMRC,
    OPENCLAW_STATE_DIR: path.join(home, '.openclaw'),
    ...extra,
  });
}

function freshHost(label) {
  const root = fs.mkdtempSync(path.join(ROOT, `${label}-`));
  const home = path.join(root, 'home');
  fs.mkdirSync(home, { recursive: true });
  return { root, home, ocHome: path.join(root, 'oc-home') };
}

/** Parse `oc-versions:   ok   <check> (N ms)` progress lines into {check: ms}. */
function checkTimes(stderr) {
  const out = {};
  for (const m of stderr.matchAll(/^oc-versions:\s+(?:ok|FAIL|skip)\s+(\S[^(]*?)\s+\((\d+) ms\)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/**
 * Node's compile cache for the oc-versions side, shared by every round as npm's is: npm 11 enables
 * the compile cache itself (lib/cli.js: `module.enableCompileCache()`, in os.tmpdir()), so its side
 * always runs with a warm one; the oc-versions bin enables its own under $XDG_CACHE_HOME. Each round
 * keeps its own fresh HOME (and so its own npm cache, cold or warm as the row says).
 */
const OC_COMPILE_CACHE_HOME = path.join(ROOT, 'xdg-cache');

async function ocInstall(host, url, version) {
  const env = envFor(host.home, host.ocHome, url, { XDG_CACHE_HOME: OC_COMPILE_CACHE_HOME });
  const stamps = [];
  // Through the bin, as users run it (it enables the compile cache). --progress: with --json the
  // phase lines (timestamped below) come only on request.
  const r = await timed(NODE, [BIN, 'install', version, '--registry', url, '--json', '--progress'], { env, stamps });
  const json = JSON.parse(r.stdout);
  if (json.version !== version) throw new Error(`oc-versions installed ${json.version}, wanted ${version}`);
  return { ms: r.ms, checks: checkTimes(r.stderr), phases: r.phases };
}

async function npmInstall(home, cacheDir, url, version) {
  const prefix = fs.mkdtempSync(path.join(ROOT, 'npm-prefix-'));
  fs.writeFileSync(
    path.join(prefix, 'package.json'),
    `${JSON.stringify({ name: 'oc-bench-prefix', private: true, allowScripts: { openclaw: true } }, null, 2)}\n`,
  );
  const env = envFor(home, path.join(home, 'unused-oc-home'), url);
  const r = await timed(
    'npm',
    [
      'install', `openclaw@${version}`, '--prefix', prefix, '--registry', url, '--cache', cacheDir,
      '--userconfig', EMPTY_NPMRC, '--no-audit', '--no-fund', '--loglevel', 'error',
      '--fetch-retry-mintimeout', '100', '--fetch-retry-maxtimeout', '500',
    ],
    { env, cwd: prefix },
  );
  const pkgRoot = path.join(prefix, 'node_modules', 'openclaw');
  const pj = JSON.parse(fs.readFileSync(path.join(pkgRoot, 'package.json'), 'utf8'));
  if (pj.version !== version) throw new Error(`npm installed ${pj.version}, wanted ${version}`);
  if (fs.existsSync(path.join(pkgRoot, F.LIFECYCLE_MARKER))) throw new Error('npm install: the postinstall did not run');
  removeDir(prefix);
  return { ms: r.ms };
}

// ---------------------------------------------------------------- sections
async function benchInstall(url, fixture) {
  const { label, version } = fixture;
  const out = { version, cold: { oc: [], npm: [] }, warm: { oc: [], npm: [] }, ocChecks: [], ocPhases: [] };
  // Both compile caches warm (npm's lives in os.tmpdir() and is warm from any earlier npm run):
  // one untimed install fills oc-versions'.
  if (!fs.existsSync(OC_COMPILE_CACHE_HOME)) {
    const host = freshHost('compile-cache');
    await ocInstall(host, url, version);
    removeDir(host.root);
  }
  // Cold: fresh HOME (so a fresh ~/.npm cache) and fresh oc home / npm prefix every round.
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? ['oc', 'npm'] : ['npm', 'oc'];
    for (const who of order) {
      const host = freshHost(`cold-${who}`);
      if (who === 'oc') {
        const r = await ocInstall(host, url, version);
        out.cold.oc.push(r.ms);
        out.ocChecks.push(r.checks);
        out.ocPhases.push(r.phases);
      } else {
        out.cold.npm.push((await npmInstall(host.home, path.join(host.home, '.npm'), url, version)).ms);
      }
      removeDir(host.root);
    }
    log(`install ${label} cold round ${i + 1}/${ROUNDS}: oc ${ms(out.cold.oc.at(-1))} ms, npm ${ms(out.cold.npm.at(-1))} ms`);
  }
  // Warm: one shared HOME whose ~/.npm cache holds the tarball and packument (primed once by each
  // tool, untimed); fresh oc home / npm prefix every round. oc-versions reads $HOME/.npm/_cacache,
  // the same cache `npm --cache $HOME/.npm` uses.
  const warm = freshHost('warm');
  await npmInstall(warm.home, path.join(warm.home, '.npm'), url, version);
  await ocInstall({ ...warm, ocHome: path.join(warm.root, 'prime-oc') }, url, version);
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? ['npm', 'oc'] : ['oc', 'npm'];
    for (const who of order) {
      if (who === 'oc') {
        const ocHome = path.join(warm.root, `oc-${i}`);
        const r = await ocInstall({ ...warm, ocHome }, url, version);
        out.warm.oc.push(r.ms);
        out.ocChecks.push(r.checks);
        out.ocPhases.push(r.phases);
        removeDir(ocHome);
      } else {
        out.warm.npm.push((await npmInstall(warm.home, path.join(warm.home, '.npm'), url, version)).ms);
      }
    }
    log(`install ${label} warm round ${i + 1}/${ROUNDS}: oc ${ms(out.warm.oc.at(-1))} ms, npm ${ms(out.warm.npm.at(-1))} ms`);
  }
  removeDir(warm.root);
  out.coldStats = addRow(`install ${label}, cold cache`, out.cold.oc, out.cold.npm, 'oc-versions install', 'npm install');
  out.warmStats = addRow(`install ${label}, warm cache`, out.warm.oc, out.warm.npm, 'oc-versions install', 'npm install');
  // Where oc-versions' time goes (medians over all its rounds).
  const med = (key, src) => stats(src.map((x) => x[key]).filter((v) => Number.isFinite(v))).median;
  out.breakdown = {
    checksMedianMs: Object.fromEntries(Object.keys(out.ocChecks[0] ?? {}).map((k) => [k, med(k, out.ocChecks)])),
    phasesMedianMs: Object.fromEntries(Object.keys(out.ocPhases[0] ?? {}).map((k) => [k, med(k, out.ocPhases)])),
  };
  return out;
}

/**
 * A copy of the sealed version `from` of an oc home as version `to`, as an install would have
 * left it: the directory name, the seal's `version` (what listInstalled checks) and the
 * package's own package.json say `to`. Cheap (a fixture version is a few hundred KB).
 */
function fabricateVersion(ocHome, from, to) {
  const src = path.join(ocHome, 'versions', from);
  const dst = path.join(ocHome, 'versions', to);
  fs.cpSync(src, dst, { recursive: true, verbatimSymlinks: true });
  const sealFile = path.join(dst, '.oc-seal.json');
  const seal = JSON.parse(fs.readFileSync(sealFile, 'utf8'));
  fs.writeFileSync(sealFile, `${JSON.stringify({ ...seal, version: to }, null, 2)}\n`);
  const pj = path.join(dst, 'node_modules', 'openclaw', 'package.json');
  fs.writeFileSync(pj, fs.readFileSync(pj, 'utf8').replace(`"version": "${from}"`, `"version": "${to}"`));
}

/**
 * Cost as the store grows: `install <version>` into a home that already holds 1, 10 or 50
 * sealed versions (one real install of `base`, the rest fabricated copies of it), warm npm
 * cache, each round on a fresh copy of the prepared home; interleaved with the 1-version case,
 * which is the B side.
 */
async function benchScale(url, base, version) {
  const COUNTS = [1, 10, 50];
  const warm = freshHost('scale');
  await npmInstall(warm.home, path.join(warm.home, '.npm'), url, version); // primes the cache (untimed)
  const templates = {};
  for (const n of COUNTS) {
    const ocHome = path.join(warm.root, `template-${n}`);
    await ocInstall({ ...warm, ocHome }, url, base);
    for (let k = 1; k < n; k++) fabricateVersion(ocHome, base, `2025.1.${k}`);
    templates[n] = ocHome;
  }
  const t = Object.fromEntries(COUNTS.map((n) => [n, []]));
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? COUNTS : [...COUNTS].reverse();
    for (const n of order) {
      const ocHome = path.join(warm.root, `round-${n}`);
      fs.cpSync(templates[n], ocHome, { recursive: true, verbatimSymlinks: true });
      const installed = fs.readdirSync(path.join(ocHome, 'versions')).length;
      if (installed !== n) throw new Error(`scale: prepared home holds ${installed} versions, wanted ${n}`);
      t[n].push((await ocInstall({ ...warm, ocHome }, url, version)).ms);
      removeDir(ocHome);
    }
    log(`install with 1/10/50 versions present, round ${i + 1}/${ROUNDS}: ${COUNTS.map((n) => `${n}: ${ms(t[n].at(-1))} ms`).join(', ')}`);
  }
  removeDir(warm.root);
  const out = {};
  for (const n of COUNTS.slice(1)) {
    out[n] = addRow(`install ${version} with ${n} versions present vs 1 present (warm cache)`, t[n], t[1], `oc-versions install (${n} present)`, 'oc-versions install (1 present)');
  }
  out.samples = t;
  return out;
}

async function benchShim(url, version) {
  const host = freshHost('shim');
  await ocInstall(host, url, version); // the first install becomes current
  const env = envFor(host.home, host.ocHome, url);
  const shim = path.join(host.ocHome, 'bin', 'openclaw');
  const entry = (await timed(NODE, [BIN, 'which'], { env })).stdout.trim();
  if (!fs.existsSync(shim) || !fs.existsSync(entry)) throw new Error(`shim ${shim} or entry ${entry} missing`);
  // The same home with 50 installed versions: `list` must not grow with them beyond reading names and seals.
  const many = fabricateVersions(host, version, 50);
  const env50 = envFor(host.home, many, url);
  const listed = JSON.parse((await timed(NODE, [BIN, 'list', '--json'], { env: env50 })).stdout).versions.length;
  if (listed !== 50) throw new Error(`list --json with 50 fabricated versions listed ${listed}`);
  const N = Math.max(ROUNDS, 10);
  // The CLI is run through its bin (bin/oc-versions.js), as users run it: that is where the compile cache is enabled.
  const runs = {
    shim: () => timed(shim, ['--version'], { env }),
    direct: () => timed(NODE, [entry, '--version'], { env }),
    list: () => timed(NODE, [BIN, 'list'], { env }),
    current: () => timed(NODE, [BIN, 'current'], { env }),
    which: () => timed(NODE, [BIN, 'which'], { env }),
    listJson: () => timed(NODE, [BIN, 'list', '--json'], { env }),
    currentJson: () => timed(NODE, [BIN, 'current', '--json'], { env }),
    list50: () => timed(NODE, [BIN, 'list', '--json'], { env: env50 }),
    bare: () => timed(NODE, ['-e', '0'], { env }),
  };
  const keys = Object.keys(runs);
  const t = Object.fromEntries(keys.map((k) => [k, []]));
  for (const k of keys) await runs[k](); // warm the page cache (and the compile cache) once, untimed
  const shimOut = (await runs.shim()).stdout.trim();
  if (!shimOut.includes(version)) throw new Error(`shim --version printed '${shimOut}', expected ${version}`);
  for (let i = 0; i < N; i++) {
    const order = i % 2 === 0 ? keys : [...keys].reverse();
    for (const k of order) t[k].push((await runs[k]()).ms);
  }
  log(`shim/startup: ${N} interleaved rounds done`);
  removeDir(host.root);
  return {
    rounds: N,
    shim: addRow('`openclaw --version` through the shim vs direct', t.shim, t.direct, '<home>/bin/openclaw --version', 'node <entry> --version'),
    list: addRow('`oc-versions list` vs bare node', t.list, t.bare, 'oc-versions list', 'node -e 0'),
    current: addRow('`oc-versions current` vs bare node', t.current, t.bare, 'oc-versions current', 'node -e 0'),
    which: addRow('`oc-versions which` vs bare node', t.which, t.bare, 'oc-versions which', 'node -e 0'),
    listJson: addRow('`oc-versions list --json` vs bare node', t.listJson, t.bare, 'oc-versions list --json', 'node -e 0'),
    currentJson: addRow('`oc-versions current --json` vs bare node', t.currentJson, t.bare, 'oc-versions current --json', 'node -e 0'),
    list50: addRow('`list --json`: 50 versions installed vs 1', t.list50, t.listJson, 'list --json (50 versions)', 'list --json (1 version)'),
  };
}

/**
 * A copy of host's oc home holding `count` installed versions: the sealed `version` dir copied under
 * count-1 more version names (2026.3.1, 2026.3.2, …), each seal's `version` rewritten to its name
 * (listInstalled keeps a directory only if its name parses and its seal names it).
 */
function fabricateVersions(host, version, count) {
  const dst = path.join(host.root, 'oc-home-many');
  fs.cpSync(host.ocHome, dst, { recursive: true, verbatimSymlinks: true });
  const src = path.join(dst, 'versions', version);
  for (let i = 1; i < count; i++) {
    const name = `2026.3.${i}`;
    const dir = path.join(dst, 'versions', name);
    fs.cpSync(src, dir, { recursive: true, verbatimSymlinks: true });
    const sealPath = path.join(dir, '.oc-seal.json');
    const seal = JSON.parse(fs.readFileSync(sealPath, 'utf8'));
    fs.writeFileSync(sealPath, `${JSON.stringify({ ...seal, version: name }, null, 2)}\n`);
  }
  return dst;
}

/** Cold start of the fixture gateway: spawn `node <entry> gateway run`, time until /healthz is 200. */
async function gatewayColdStart(env, entry) {
  const port = await freePort();
  const t0 = performance.now();
  const g = spawnGroup(NODE, [entry, 'gateway', 'run', '--port', String(port), '--bind', 'loopback'], { env });
  try {
    const t1 = await waitHealthy(port, '/healthz', { intervalMs: 5, timeoutMs: 30_000 });
    return t1 - t0;
  } finally {
    await g.stop();
  }
}

async function benchUpgrade(url, from, to) {
  const out = { from, to, downtime: [], observedGap: [], coldStart: [], upgradeWall: [], stages: [] };
  for (let i = 0; i < ROUNDS; i++) {
    const host = freshHost('upgrade');
    const env = envFor(host.home, host.ocHome, url);
    const cli = (...args) => timed(NODE, [CLI, ...args], { env, timeoutMs: 180_000 });
    let serviceInstalled = false;
    try {
      await cli('install', from);
      await cli('install', to); // staged beforehand so both sides of the ratio are about restarts only
      const port = await freePort();
      await cli('service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--port', String(port), '--bind', 'loopback');
      serviceInstalled = true;
      await waitHealthy(port, '/healthz', { intervalMs: 50, timeoutMs: 30_000 });

      const measureCold = async () => {
        const entry = (await cli('which', to, '--service')).stdout.trim();
        out.coldStart.push(await gatewayColdStart(env, entry));
      };
      if (i % 2 === 1) await measureCold();
      const watch = gapWatcher(port, '/healthz', 10);
      const r = await cli('upgrade', to, '--json');
      const seen = await watch.stop();
      const j = JSON.parse(r.stdout);
      if (j.outcome !== 'upgraded') throw new Error(`upgrade outcome ${j.outcome}: ${r.stderr}`);
      out.downtime.push(j.downtimeMs ?? NaN);
      out.observedGap.push(seen.maxGapMs);
      out.upgradeWall.push(r.ms);
      out.stages.push(Object.fromEntries(j.stages.map((s) => [s.name, s.ms])));
      if (i % 2 === 0) await measureCold();
      log(
        `upgrade round ${i + 1}/${ROUNDS}: downtimeMs ${j.downtimeMs}, gap seen by a 10 ms poller ${ms(seen.maxGapMs)} ms, ` +
          `gateway cold start ${ms(out.coldStart.at(-1))} ms, upgrade wall ${ms(r.ms)} ms`,
      );
    } finally {
      if (serviceInstalled) {
        await cli('service', 'stop').catch(() => undefined);
        await cli('service', 'uninstall').catch(() => undefined);
      }
      removeDir(host.root);
    }
  }
  out.downtimeStats = addRow(`upgrade ${from} → ${to}: downtime vs gateway cold start`, out.downtime, out.coldStart, 'downtimeMs (reported)', 'gateway cold start');
  out.observedStats = addRow(`upgrade ${from} → ${to}: outage seen by a 10 ms /healthz poller`, out.observedGap, out.coldStart, 'longest /healthz gap', 'gateway cold start');
  const names = Object.keys(out.stages[0] ?? {});
  out.stagesMedianMs = Object.fromEntries(names.map((n) => [n, stats(out.stages.map((s) => s[n])).median]));
  out.upgradeWallStats = stats(out.upgradeWall);
  return out;
}

async function benchClosure() {
  const r = await timed(NODE, [path.join(REPO, 'bench', 'import-closure.mjs'), '--files', '6000', '--runs', String(ROUNDS), '--json'], {
    env: R.npmEnv(),
    timeoutMs: 300_000,
  });
  const j = JSON.parse(r.stdout.trim().split('\n').pop());
  rows.push([`import-closure walk, ${j.files} files (${j.megabytes} MB)`, 'walkImportClosure', ms(j.medianMs), ms(j.minMs), '', '', '', '', '']);
  log(`import closure: ${j.files} files, median ${j.medianMs} ms, min ${j.minMs} ms`);
  return j;
}

// ---------------------------------------------------------------- main
async function main() {
  const t0 = performance.now();
  results.machine.npm = (await timed('npm', ['--version'], { env: R.npmEnv() })).stdout.trim();
  results.machine.tmpdirFs = (await timed('df', ['-T', os.tmpdir()], { allowFail: true })).stdout.trim().split('\n')[1]?.split(/\s+/)[1] ?? null;
  log(`node ${process.version}, npm ${results.machine.npm}, ${results.machine.cpus} cpus (${results.machine.cpuModel}), tmp on ${results.machine.tmpdirFs}`);

  const reg = await R.startRegistry();
  onCleanup(() => reg.stop());
  log(`verdaccio on ${reg.url}`);
  const small = { label: 'small (standard fixture)', version: '2026.1.1' };
  const big = { label: `large (${CHUNKS} chunks + ${PAD_MB} MB pad)`, version: '2026.9.1' };
  await F.publishFixture(reg.url, { version: small.version });
  await F.publishFixture(reg.url, { version: '2026.2.1' });
  if (ONLY.has('install')) {
    await F.publishFixture(reg.url, { version: big.version, chunkCount: CHUNKS, padBytes: Math.round(PAD_MB * 1024 * 1024) });
  }
  log(`fixtures published (${Math.round(performance.now() - t0)} ms)`);

  if (ONLY.has('install')) {
    results.sections.installSmall = await benchInstall(reg.url, small);
    results.sections.installLarge = await benchInstall(reg.url, big);
  }
  if (ONLY.has('install') || ONLY.has('scale')) results.sections.scale = await benchScale(reg.url, small.version, '2026.2.1');
  if (ONLY.has('shim')) results.sections.shim = await benchShim(reg.url, small.version);
  if (ONLY.has('upgrade')) results.sections.upgrade = await benchUpgrade(reg.url, '2026.1.1', '2026.2.1');
  if (ONLY.has('closure')) results.sections.closure = await benchClosure();
  results.totalMs = performance.now() - t0;

  // Report
  const head = ['what', 'A', 'A median ms', 'A min ms', 'B', 'B median ms', 'B min ms', 'A/B (medians)', 'A/B (mins)'];
  const table = [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
  console.log(`\n${table}\n`);
  for (const key of ['installSmall', 'installLarge']) {
    const s = results.sections[key];
    if (s) console.log(`${key}: oc-versions phases (median ms) ${JSON.stringify(s.breakdown.phasesMedianMs)}; checks ${JSON.stringify(s.breakdown.checksMedianMs)}`);
  }
  const u = results.sections.upgrade;
  if (u) console.log(`upgrade: stage medians (ms) ${JSON.stringify(u.stagesMedianMs)}; upgrade wall median ${ms(u.upgradeWallStats.median)} ms`);
  console.log(`\n${ROUNDS} rounds, node ${process.version}, npm ${results.machine.npm}, ${results.machine.cpus} cpus, total ${Math.round(results.totalMs / 1000)} s`);
  if (JSON_OUT) fs.writeFileSync(path.resolve(JSON_OUT), `${JSON.stringify(results, null, 2)}\n`);
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(`bench: ${e?.stack ?? e}`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
