#!/usr/bin/env node
// Times the two validation checks that scale with a real package's size, on an installed tree:
// the import-closure walk (src/core/checks/import-closure.ts) and the content inventory
// (src/core/checks/inventory.ts), exactly as `validateTree` runs them (default config: service
// entries and inventory files).
//
//   npm run build && node bench/checks-real.mjs --tree <dir> [--package openclaw] [--runs 5] [--json]
//
// <dir> is an install prefix (holding node_modules/<package>) or the package directory itself,
// e.g. the tree `npm install openclaw@2026.9.6 --prefix <dir> --ignore-scripts` leaves. Nothing is
// written. Runs are sequential on a warm page cache (one untimed run first); each run reports
// wall time and this process's CPU time (user + system), the figure that load from other
// processes disturbs least. Prints one summary line per check, or one JSON document with --json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
};
const TREE = opt('tree', null);
const PKG = opt('package', 'openclaw');
const RUNS = Math.max(1, Number(opt('runs', 5)));
const JSON_OUT = args.includes('--json');
if (!TREE) {
  console.error('usage: node bench/checks-real.mjs --tree <install prefix or package dir> [--package openclaw] [--runs 5] [--json]');
  process.exit(2);
}

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'core');
const load = async (rel) => {
  const file = path.join(dist, rel);
  if (!fs.existsSync(file)) {
    console.error(`bench: ${file} not found; run npm run build first`);
    process.exit(2);
  }
  return import(pathToFileURL(file).href);
};
const { checkImportClosure } = await load('checks/import-closure.js');
const { checkInventory } = await load('checks/inventory.js');
const { readManifest, resolveEntries } = await load('checks/package.js');
const { defaultConfig } = await load('config.js');

const asPrefix = path.join(path.resolve(TREE), 'node_modules', ...PKG.split('/'));
const packageDir = fs.existsSync(path.join(asPrefix, 'package.json')) ? asPrefix : path.resolve(TREE);
// The prefix is where the package's dependencies live (only used to name files outside it).
const prefix = packageDir === asPrefix ? path.resolve(TREE) : path.resolve(packageDir, '..', '..');
const config = defaultConfig(process.execPath, PKG);
const manifest = await readManifest(packageDir);
if (!manifest.ok) {
  console.error(`bench: ${packageDir}: ${manifest.error}`);
  process.exit(2);
}
const entries = await resolveEntries(packageDir, manifest, config.serviceEntry);

const checks = {
  'import-closure': () => checkImportClosure(packageDir, prefix, entries),
  inventory: () => checkInventory(packageDir, config.inventoryFiles),
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const result = { tree: packageDir, version: manifest.version, runs: RUNS, node: process.version, cpus: os.cpus().length, loadavg: os.loadavg()[0], checks: {} };
for (const [name, fn] of Object.entries(checks)) {
  const first = await fn(); // warms the page cache; its verdict is reported
  const wall = [];
  const cpu = [];
  for (let r = 0; r < RUNS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  result.checks[name] = {
    ok: first.ok,
    detail: first.detail,
    medianMs: Math.round(median(wall)),
    minMs: Math.round(Math.min(...wall)),
    cpuMedianMs: Math.round(median(cpu)),
    cpuMinMs: Math.round(Math.min(...cpu)),
  };
}
if (JSON_OUT) console.log(JSON.stringify(result));
else {
  for (const [name, c] of Object.entries(result.checks)) {
    console.log(
      `${name}: ${c.ok ? 'ok' : 'FAIL'} (${c.detail}) — ${c.medianMs} ms median, ${c.minMs} ms min; ` +
        `CPU ${c.cpuMedianMs} ms median, ${c.cpuMinMs} ms min (${RUNS} runs)`,
    );
  }
  console.log(`${packageDir} (${result.version}), node ${result.node}, ${result.cpus} cpus, load ${result.loadavg.toFixed(1)}`);
}
