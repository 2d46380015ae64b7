#!/usr/bin/env node
// The whole-state canary's added time (issue 31): the copy step alone, on a generated OpenClaw
// state of --files files totalling --mb MiB (plus a config and a WAL database), in --dir (a
// directory on the filesystem to measure: an XFS/btrfs mount clones, ext4 does not). Times, per
// round: the clone probe, the scope decision (size walk when it cannot clone), and the copy the
// canary would make (whole clone, whole plain copy, or the selective copy), then its removal.
//
//   npm run build && node bench/canary-state.mjs --dir /mnt/xfs [--files 10000] [--mb 2048] [--rounds 3]
//
// Writes nothing outside --dir; removes what it made.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { REPO } from './lib/ts-helpers.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const dir = arg('dir', null);
if (!dir) {
  process.stderr.write('bench/canary-state.mjs: --dir <a directory on the filesystem to measure> is required\n');
  process.exit(2);
}
const files = Number(arg('files', '10000'));
const mb = Number(arg('mb', '2048'));
const rounds = Number(arg('rounds', '3'));
const limit = Number(arg('limit-mb', '256')) * 1024 * 1024;

const { canClone, copyOpenClawState, stateSize } = await import(path.join(REPO, 'dist', 'openclaw', 'state-copy.js'));
const { makeLayout } = await import(path.join(REPO, 'dist', 'core', 'layout.js'));

const root = await fsp.mkdtemp(path.join(dir, 'oc-bench-canary-'));
const state = path.join(root, '.openclaw');
try {
  // The state: sessions and workspace files of even size, a config, a WAL database.
  const each = Math.floor((mb * 1024 * 1024) / files);
  const block = Buffer.alloc(each);
  for (let i = 0; i < each; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i - (i % 4));
  for (let i = 0; i < files; i++) {
    const d = path.join(state, 'agents', `a${i % 20}`, 'sessions', `s${Math.floor(i / 20) % 50}`);
    if (i < 1000) fs.mkdirSync(d, { recursive: true });
    block.writeUInt32LE(i, 0);
    fs.writeFileSync(path.join(d, `f${i}.jsonl`), block);
  }
  fs.writeFileSync(path.join(state, 'openclaw.json'), JSON.stringify({ gateway: { auth: { token: 'bench-token-value' } } }));
  fs.mkdirSync(path.join(state, 'state'), { recursive: true });
  const db = new DatabaseSync(path.join(state, 'state', 'openclaw.sqlite'));
  db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(v); INSERT INTO t VALUES ('x');");
  db.close();
  fs.mkdirSync(path.join(state, 'extensions', 'demo'), { recursive: true });
  fs.writeFileSync(path.join(state, 'extensions', 'demo', 'openclaw.plugin.json'), '{}');
  const layout = makeLayout(path.join(root, 'oc-home'));
  const exclude = ['logs', 'tmp', 'cache'];
  const rows = [];
  for (let r = 0; r < rounds; r++) {
    const beside = `${state}.oc-canary.bench-${r}`;
    await fsp.mkdir(beside, { mode: 0o700 });
    const t0 = performance.now();
    const clone = await canClone(state, beside);
    const t1 = performance.now();
    const size = clone ? 0 : await stateSize(state, exclude, limit);
    const t2 = performance.now();
    const whole = clone || size <= limit;
    if (!whole) await fsp.rm(beside, { recursive: true });
    const copyDir = whole ? beside : path.join(layout.canaryDir, `bench-${r}`, 'state');
    const out = await copyOpenClawState({
      layout,
      version: '0.0.0',
      liveStateDir: state,
      liveConfigPath: null,
      secretPattern: 'TOKEN|KEY|SECRET|PASSWORD',
      copyDir,
      whole: whole ? { clone, exclude } : null,
    });
    const t3 = performance.now();
    await fsp.rm(copyDir, { recursive: true, force: true });
    const t4 = performance.now();
    rows.push({ scope: out.scope, probeMs: Math.round(t1 - t0), sizeWalkMs: Math.round(t2 - t1), copyMs: Math.round(t3 - t2), removeMs: Math.round(t4 - t3) });
  }
  const fsType = (() => {
    try {
      return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')).filter((p) => p[1] && (root + '/').startsWith(p[1].replace(/\/?$/, '/'))).sort((a, b) => b[1].length - a[1].length)[0]?.[2] ?? '?';
    } catch {
      return '?';
    }
  })();
  process.stdout.write(`${JSON.stringify({ dir, fsType, files, mb, rounds: rows }, null, 2)}\n`);
} finally {
  await fsp.rm(root, { recursive: true, force: true });
}
