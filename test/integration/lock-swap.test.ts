/**
 * The lock and the atomic swap of `current`, with real processes.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { acquireLock } from '../../src/core/lock.js';
import { makeLayout, type Layout } from '../../src/core/layout.js';
import { swapCurrent } from '../../src/core/store.js';
import { writeJsonAtomic, sweepAtomicTemps } from '../../src/os/fs.js';
import { CLI, makeTestEnv, runCli, REPO, type TestEnv } from '../helpers/cli.js';

let dir: string;
let layout: Layout;

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-lock-'));
  layout = makeLayout(path.join(dir, 'home'));
  await fsp.mkdir(layout.home, { recursive: true });
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

async function fakeSealed(v: string): Promise<void> {
  await fsp.mkdir(layout.version(v), { recursive: true });
  await fsp.writeFile(layout.seal(v), JSON.stringify({ version: v }));
  await fsp.writeFile(path.join(layout.version(v), 'marker'), v);
}

describe('current swap', () => {
  it('a reader resolving current in a loop never fails during 1,000 swaps', async () => {
    await fakeSealed('1.0.0');
    await fakeSealed('2.0.0');
    await swapCurrent(layout, '1.0.0');
    // The reader is a separate process: it reads current/marker as fast as it can until told to stop.
    const reader = spawn(
      process.execPath,
      [
        '-e',
        `const fs=require('fs');let n=0,bad=0;const p=process.argv[1];
         const stop=()=>{process.stdout.write(JSON.stringify({n,bad}));process.exit(0)};
         process.on('SIGTERM',stop);
         (function loop(){for(let i=0;i<200;i++){try{const v=fs.readFileSync(p,'utf8');if(v!=='1.0.0'&&v!=='2.0.0')bad++;}catch(e){bad++;}n++;}setImmediate(loop);})();`,
        path.join(layout.current, 'marker'),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    reader.stdout.on('data', (d) => (out += d));
    const closed = new Promise((r) => reader.on('close', r));
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 1000; i++) await swapCurrent(layout, i % 2 === 0 ? '2.0.0' : '1.0.0');
    reader.kill('SIGTERM');
    await closed;
    const { n, bad } = JSON.parse(out) as { n: number; bad: number };
    expect(n).toBeGreaterThan(1000);
    expect(bad).toBe(0);
    expect(fs.readlinkSync(layout.current)).toBe(path.join('versions', '1.0.0'));
    expect(fs.readdirSync(layout.home).filter((f) => f.startsWith('current.tmp'))).toEqual([]);
  });

  it('refuses to point current at an unsealed directory', async () => {
    await fsp.mkdir(layout.version('3.0.0'), { recursive: true });
    await expect(swapCurrent(layout, '3.0.0')).rejects.toMatchObject({ code: 'NOT_INSTALLED' });
    expect(fs.existsSync(layout.current)).toBe(false);
  });
});

describe('lock', () => {
  it('a second mutating command exits 4 naming the holder; read-only commands do not wait', async () => {
    const t: TestEnv = await makeTestEnv(inject('registryUrl'));
    try {
      expect((await runCli(['install', '2026.1.1'], t.env)).code).toBe(0);
      const held = await acquireLock(makeLayout(t.ocHome), 'test holder');
      try {
        const r = await runCli(['use', '2026.1.1', '--json'], t.env);
        expect(r.code).toBe(4);
        expect(r.json.error.code).toBe('LOCKED');
        expect(r.stderr).toContain(`pid ${process.pid}`);
        // Held by this process until the finally below: a read-only command that waited for the
        // lock would never return (runCli gives up and the code is null), so code 0 proves it did not wait.
        const ls = await runCli(['list', '--json'], t.env);
        expect(ls.code).toBe(0);
        expect(ls.json.versions[0].version).toBe('2026.1.1');
        const st = await runCli(['status', '--json'], t.env);
        expect(st.code).toBe(0);
        expect(st.json.lock.pid).toBe(process.pid);
      } finally {
        await held.release();
      }
      expect((await runCli(['use', '2026.1.1'], t.env)).code).toBe(0);
    } finally {
      await t.cleanup();
    }
  });

  it('a lock left by a SIGKILLed process is taken over', async () => {
    const t: TestEnv = await makeTestEnv(inject('registryUrl'));
    try {
      expect((await runCli(['install', '2026.1.1'], t.env)).code).toBe(0);
      // A real process takes the lock through the built module, reports, and is SIGKILLed.
      const holder = spawn(
        process.execPath,
        ['--input-type=module', '-e', `const {acquireLock}=await import(${JSON.stringify(path.join(REPO, 'dist/core/lock.js'))});const {makeLayout}=await import(${JSON.stringify(path.join(REPO, 'dist/core/layout.js'))});await acquireLock(makeLayout(process.argv[1]),'doomed');process.stdout.write('held\\n');setInterval(()=>{},1000);`, t.ocHome],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve) => holder.stdout.on('data', (d) => String(d).includes('held') && resolve()));
      expect((await runCli(['use', '2026.1.1'], t.env)).code).toBe(4);
      const closed = new Promise((r) => holder.on('close', r));
      holder.kill('SIGKILL');
      await closed;
      // acquireLock gives up (LOCKED, exit 4) after the stale window: exit 0 is the takeover.
      const r = await runCli(['use', '2026.1.1'], t.env);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await t.cleanup();
    }
  });

  it('also when the holder died before naming itself (stale lock)', async () => {
    const t: TestEnv = await makeTestEnv(inject('registryUrl'));
    try {
      expect((await runCli(['install', '2026.1.1'], t.env)).code).toBe(0);
      fs.mkdirSync(path.join(t.ocHome, 'lock'));
      const r = await runCli(['use', '2026.1.1'], t.env);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});

describe('atomic state writes', () => {
  it('orphaned write-file-atomic temp files are swept', async () => {
    await writeJsonAtomic(layout.state, { current: null });
    fs.writeFileSync(`${layout.state}.123456789`, '{"torn":');
    const removed = await sweepAtomicTemps(layout.home, ['state.json']);
    expect(removed).toEqual(['state.json.123456789']);
    expect(JSON.parse(fs.readFileSync(layout.state, 'utf8'))).toEqual({ current: null });
  });

  it("a canary record's torn temp (a SIGKILL mid-write, found by random-kill) is a leftover the next command removes", async () => {
    const { findLeftovers } = await import('../../src/app/home.js');
    fs.mkdirSync(layout.canaryDir, { recursive: true });
    fs.writeFileSync(path.join(layout.canaryDir, '20261207T231658Z-02dcf3.json.1106344260'), '{"id":');
    fs.writeFileSync(path.join(layout.canaryDir, 'notes.txt'), 'not ours to remove');
    const found = await findLeftovers(layout);
    expect(found.filter((l) => l.dir === layout.canaryDir).map((l) => l.name)).toEqual(['20261207T231658Z-02dcf3.json.1106344260']);
  });
});

void CLI;
