/**
 * The launcher's standby barrier (shims/standby.mjs, docs/service.md#the-standby), through the
 * rendered launcher and a real node: a parked standby runs no code of its entry until told to go;
 * released (or its supervisor gone) it exits 75 having run nothing; once let go, the entry sees
 * neither the barrier in process.execArgv nor its variable in the environment, so workers and
 * forked children start as plainly as without it. Real processes, real sockets.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, isZombie, killGroup, spawnStandby, STANDBY_RELEASED_CODE, type Standby } from '../../src/os/proc.js';
import { shimsSourceDir, standbyImport } from '../../src/core/shims.js';
import { launcherTakesStandby, renderGatewayShim } from '../../src/service/launcher.js';
import { makeLayout } from '../../src/core/layout.js';
import { loadConfig } from '../../src/core/config.js';

const dirs: string[] = [];
const started: Standby[] = [];

afterEach(async () => {
  for (const s of started.splice(0)) killGroup(s.pid, 'SIGKILL');
  for (const d of dirs.splice(0)) await fsp.rm(d, { recursive: true, force: true });
});

/** A node entry that records that it ran, what it saw, and what a worker and a forked child saw. */
const ENTRY = String.raw`
import fs from 'node:fs';
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
const out = process.argv[2];
if (process.argv[3] === 'child') {
  fs.writeFileSync(out + '.child', JSON.stringify({ execArgv: process.execArgv, fd: process.env.OC_VERSIONS_STANDBY_FD ?? null }));
  process.exit(0);
}
fs.writeFileSync(out, JSON.stringify({ ran: Date.now(), execArgv: process.execArgv, fd: process.env.OC_VERSIONS_STANDBY_FD ?? null }));
const w = new Worker('require("node:fs").writeFileSync(process.argv[2] + ".worker", "up")', { eval: true, argv: [out] });
await new Promise((r) => w.on('exit', r));
const c = fork(new URL(import.meta.url).pathname, [out, 'child']);
await new Promise((r) => c.on('exit', r));
`;

async function setUp(): Promise<{ dir: string; node: string; barrier: string; entry: string; out: string }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocv-standby-'));
  dirs.push(dir);
  const entry = path.join(dir, 'entry.mjs');
  await fsp.writeFile(entry, ENTRY);
  const barrier = standbyImport(await fsp.readFile(path.join(shimsSourceDir(), 'standby.mjs'), 'utf8'));
  return { dir, node: process.execPath, barrier, entry, out: path.join(dir, 'ran.json') };
}

function standbyOf(s: { node: string; barrier: string; entry: string; out: string }): Standby {
  const sb = spawnStandby(s.node, ['--import', s.barrier, s.entry, s.out]);
  started.push(sb);
  return sb;
}

describe('the standby barrier', () => {
  it('parks before the entry runs, and once let go the entry, its worker and its child see no trace of it', async () => {
    const s = await setUp();
    const sb = standbyOf(s);
    expect(await sb.parked).toBe(true);
    // Parked: node is up, the entry has not run (and does not, however long it waits).
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.existsSync(s.out)).toBe(false);
    const goAt = Date.now();
    sb.go();
    expect(await sb.exited).toEqual({ code: 0, signal: null });
    const seen = JSON.parse(fs.readFileSync(s.out, 'utf8'));
    expect(seen.ran).toBeGreaterThanOrEqual(goAt);
    expect(seen.execArgv).toEqual([]);
    expect(seen.fd).toBeNull();
    expect(fs.readFileSync(s.out + '.worker', 'utf8')).toBe('up');
    expect(JSON.parse(fs.readFileSync(s.out + '.child', 'utf8'))).toEqual({ execArgv: [], fd: null });
  });

  it('released, or its supervisor gone (the socket closes), it exits 75 having run nothing', async () => {
    const s = await setUp();
    const a = standbyOf(s);
    expect(await a.parked).toBe(true);
    a.release();
    expect(await a.exited).toEqual({ code: STANDBY_RELEASED_CODE, signal: null });
    expect(fs.existsSync(s.out)).toBe(false);

    // A supervisor that dies holds the other end: here a parent node process SIGKILLed.
    const holder = String.raw`
      const { spawnStandby } = await import(${JSON.stringify(new URL('../../dist/os/proc.js', import.meta.url).href)});
      const sb = spawnStandby(process.execPath, ['--import', process.argv[1], process.argv[2], process.argv[3]]);
      await sb.parked;
      process.stdout.write(String(sb.pid) + '\n');
      setInterval(() => {}, 1000);
    `;
    const script = path.join(s.dir, 'holder.mjs');
    await fsp.writeFile(script, holder);
    const { spawn } = await import('node:child_process');
    const h = spawn(process.execPath, [script, s.barrier, s.entry, s.out], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      h.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
      h.once('exit', () => reject(new Error('holder exited early')));
    });
    h.kill('SIGKILL');
    const gone = Date.now() + 5_000;
    while (Date.now() < gone && isLive(pid)) await new Promise((r) => setTimeout(r, 20));
    expect(isLive(pid)).toBe(false);
    expect(fs.existsSync(s.out)).toBe(false);
  });

  it('only the launcher that honours a standby is given one', async () => {
    const s = await setUp();
    const layout = makeLayout(path.join(s.dir, 'home'));
    const config = await loadConfig(layout, process.execPath);
    const template = await fsp.readFile(path.join(shimsSourceDir(), 'openclaw-gateway'), 'utf8');
    const launcher = renderGatewayShim(template, layout, config, await fsp.readFile(path.join(shimsSourceDir(), 'standby.mjs'), 'utf8'));
    const current = path.join(s.dir, 'launcher');
    await fsp.writeFile(current, launcher, { mode: 0o755 });
    expect(await launcherTakesStandby(current)).toBe(true);
    expect(launcher).toContain(`--import '${s.barrier}'`);
    // An older launcher (no standby branch) and a program that is not a launcher: none.
    const older = path.join(s.dir, 'older');
    await fsp.writeFile(older, launcher.replace(/^if \[ -n "\$\{OC_VERSIONS_STANDBY_FD:-\}" \]; then\n.*\nfi\n/m, ''), { mode: 0o755 });
    expect(fs.readFileSync(older, 'utf8')).not.toContain('OC_VERSIONS_STANDBY_FD:-');
    expect(await launcherTakesStandby(older)).toBe(false);
    expect(await launcherTakesStandby(process.execPath)).toBe(false);
    expect(await launcherTakesStandby(path.join(s.dir, 'missing'))).toBe(false);
  });
});

/** Alive and not a zombie. */
function isLive(pid: number): boolean {
  return isAlive(pid) && !isZombie(pid);
}
