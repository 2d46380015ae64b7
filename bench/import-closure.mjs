#!/usr/bin/env node
// Micro-benchmark of the import-closure walk (src/core/checks/import-closure.ts walkImportClosure) on a
// synthetic dist/ shaped like OpenClaw's: hash-named chunks, static imports, re-exports and
// literal dynamic import()s, plus a few non-literal ones.
//
//   npm run build && node bench/import-closure.mjs [--files 6000] [--kb 12] [--runs 5] [--json]
//
// The figures are for a warm page cache (the tree was just written). Prints one summary line,
// or one JSON document with --json.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : def;
};
const FILES = opt('files', 6000);
const KB = opt('kb', 12);
const RUNS = opt('runs', 5);
const JSON_OUT = args.includes('--json');

const here = path.dirname(fileURLToPath(import.meta.url));
const compiled = path.join(here, '..', 'dist', 'core', 'checks', 'import-closure.js');
if (!fs.existsSync(compiled)) {
  console.error(`bench: ${path.relative(process.cwd(), compiled)} not found; run npm run build first`);
  process.exit(2);
}
const { walkImportClosure } = await import(pathToFileURL(compiled).href);

// Deterministic pseudo-random numbers so every run builds the same graph.
let seed = 0x9e3779b9;
const rand = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x100000000;
};

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-bench-closure-'));
try {
  const dist = path.join(root, 'dist');
  fs.mkdirSync(dist, { recursive: true });
  const filler = (i) => {
    const line = `export function f${i}_N(a, b) { return [a, b, "${'x'.repeat(40)}"].map((v) => String(v)).join(",") }\n`;
    let s = '';
    for (let n = 0; s.length < KB * 1024; n++) s += line.replace('N', String(n));
    return s;
  };
  // Names first (a binary tree guarantees every file is reachable), then contents.
  const names = Array.from({ length: FILES }, (_, i) =>
    i === 0 ? 'index.js' : `chunk-${createHash('sha256').update(String(i)).digest('base64url').slice(0, 8)}.js`,
  );
  for (let i = 0; i < FILES; i++) {
    const lines = [];
    for (const k of [2 * i + 1, 2 * i + 2]) {
      if (k >= FILES) continue;
      // About a third of tree edges are lazy (dynamic), like OpenClaw's hashed chunks.
      if (rand() < 0.35) lines.push(`export const lazy${k} = () => import('./${names[k]}');`);
      else if (rand() < 0.2) lines.push(`export * from './${names[k]}';`);
      else lines.push(`import { f${k}_0 as g${k} } from './${names[k]}';`);
    }
    // Extra cross edges (already-seen files: exercises the dedupe).
    for (let e = 0; e < 2; e++) lines.push(`import './${names[Math.floor(rand() * FILES)]}';`);
    if (rand() < 0.05) lines.push('export const dyn = (n) => import(`./locale-${n}.js`);');
    lines.push("import fs from 'node:fs';");
    fs.writeFileSync(path.join(dist, names[i]), `${lines.join('\n')}\n${filler(i)}`);
  }
  const bytes = names.reduce((n, f) => n + fs.statSync(path.join(dist, f)).size, 0);

  const times = [];
  let last;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    last = await walkImportClosure([path.join(dist, 'index.js')]);
    times.push(performance.now() - t0);
  }
  if (last.missing.length > 0 || last.files !== FILES) {
    console.error(`bench: unexpected walk result: ${last.files} files, ${last.missing.length} missing`);
    process.exit(1);
  }
  times.sort((a, b) => a - b);
  const result = {
    files: last.files,
    megabytes: +(bytes / 1e6).toFixed(1),
    runs: RUNS,
    minMs: Math.round(times[0]),
    medianMs: Math.round(times[Math.floor(times.length / 2)]),
    maxMs: Math.round(times[times.length - 1]),
    node: process.version,
    cpus: os.cpus().length,
  };
  if (JSON_OUT) console.log(JSON.stringify(result));
  else
    console.log(
      `import-closure: ${result.files} files (${result.megabytes} MB) walked in ${result.medianMs} ms median ` +
        `(min ${result.minMs}, max ${result.maxMs}, ${RUNS} runs, node ${result.node}, ${result.cpus} cpus)`,
    );
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
