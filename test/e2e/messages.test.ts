/**
 * Messages that said something else than what happened (issue 32), each through the built CLI
 * against the test registry: rollback during an upgrade, status's last outcome, history's time of
 * `installed+promoted`, uninstall-all's success line, pin against the registry.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { CLI, makeTestEnv, runCli, type TestEnv } from '../helpers/cli.js';
import { registryDown } from '../helpers/registry.js';

let t: TestEnv;
const cli = (...args: string[]) => runCli(args, t.env);
beforeEach(async () => {
  t = await makeTestEnv(inject('registryUrl'));
});
afterEach(async () => {
  await t.cleanup();
});

const nonEmpty = (s: string) => s.split('\n').filter(Boolean);

describe('rollback while an upgrade holds the lock', () => {
  it('says the lock is held (LOCKED, exit 4, naming the upgrade), not "no previous version"; once it is gone, NO_PREVIOUS', async () => {
    expect((await cli('install', '2026.1.1', '--quiet')).code).toBe(0);
    // The first upgrade, held in its staging (validate) phase: previous is recorded only at its commit.
    const paused = path.join(t.home, 'paused');
    const up = spawn(process.execPath, [CLI, 'upgrade', '2026.2.1', '--no-canary', '--quiet'], {
      env: { ...t.env, OC_VERSIONS_FAULT: 'install/validate:pause', OC_VERSIONS_FAULT_PAUSED: paused },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((r) => up.on('exit', (code) => r(code)));
    while (!fs.existsSync(paused) && up.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    try {
      expect(up.exitCode).toBeNull();
      const r = await cli('rollback');
      expect(r.code).toBe(4);
      const lines = nonEmpty(r.stderr);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(new RegExp(`^oc-versions: another operation is in progress: pid ${up.pid} \\(upgrade, since `));
      expect(lines[1]).toMatch(/^oc-versions: hint: wait for it to finish/);
      expect(r.stderr).not.toMatch(/no previous version/);
      const j = await cli('rollback', '--json');
      expect(j.json.error).toMatchObject({ code: 'LOCKED', exitCode: 4, holder: { pid: up.pid, command: 'upgrade' } });
    } finally {
      up.kill('SIGTERM');
    }
    expect(await exited).toBe(143);
    const after = await cli('rollback');
    expect(after.code).toBe(3);
    expect(after.stderr).toMatch(/there is no previous version to roll back to/);
  });
});

describe('status and history say what happened', () => {
  it("status's last outcome is the switch back history records, not the upgrade before it", async () => {
    expect((await cli('install', '2026.1.1', '--quiet')).code).toBe(0);
    expect((await cli('upgrade', '2026.2.1', '--no-canary', '--quiet')).code).toBe(0);
    expect((await cli('rollback', '--quiet')).code).toBe(0);
    const h = await cli('history', '--json');
    expect(h.json.transitions[0]).toMatchObject({ op: 'rollback', outcome: 'switched-back', from: '2026.2.1', to: '2026.1.1' });
    const s = await cli('status');
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/^last outcome: switched-back \(rollback 2026\.2\.1 → 2026\.1\.1, /m);
    expect(s.stdout).not.toMatch(/last outcome: upgraded/);
    const sj = await cli('status', '--json');
    expect(sj.json.lastOutcome).toMatchObject({ outcome: 'switched-back', op: 'rollback', from: '2026.2.1', to: '2026.1.1', txid: h.json.transitions[0].txid });
  });

  it("history shows installed+promoted with the time the upgrade reported, not 0 ms", async () => {
    expect((await cli('install', '2026.1.1', '--quiet')).code).toBe(0);
    const up = await cli('upgrade', '2026.2.1', '--no-canary', '--json');
    expect(up.code).toBe(0);
    const reported = up.json.stages.find((s: { name: string }) => s.name === 'installed+promoted');
    expect(reported.ms).toBeGreaterThan(0); // staging a version takes time
    const h = await cli('history', '--json');
    const logged = h.json.transitions[0].stages.find((s: { name: string }) => s.name === 'installed+promoted');
    expect(logged.ms).toBe(reported.ms);
    const text = await cli('history');
    expect(text.stdout).toContain(`installed+promoted (${reported.ms} ms)`);
    expect(text.stdout).not.toContain('installed+promoted (0 ms)');
  });
});

describe('uninstall-all', () => {
  it('says what it did, in the past tense, once', async () => {
    expect((await cli('install', '2026.1.1', '--quiet')).code).toBe(0);
    const r = await cli('uninstall-all', '--yes');
    expect(r.code).toBe(0);
    expect(nonEmpty(r.stdout)).toEqual([`uninstalled oc-versions: removed the home ${t.ocHome} (versions, snapshots, logs, config, shims) and the recovery agent, if there was one`]);
    expect(fs.existsSync(t.ocHome)).toBe(false);
  });
});

describe('pin checks the registry', () => {
  it('a pin nothing published matches is VERSION_NOT_FOUND (exit 3) with a hint; nothing written', async () => {
    const r = await cli('pin', '2026.99');
    expect(r.code).toBe(3);
    const lines = nonEmpty(r.stderr);
    expect(lines).toEqual([`oc-versions: no published openclaw version is inside the pin 2026.99 (>=2026.99.0 <2026.100.0-0)`, expect.stringMatching(/^oc-versions: hint: newest published: 2026\./)]);
    expect(fs.existsSync(path.join(t.ocHome, 'config.json'))).toBe(false);
    const j = await cli('pin', '2026.99', '--json');
    expect(j.json.error).toMatchObject({ code: 'VERSION_NOT_FOUND', exitCode: 3 });
  });

  it('a pin with published versions says the newest inside it', async () => {
    const r = await cli('pin', '2026.3', '--json');
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ changed: true, pin: { spec: '2026.3' }, registry: { checked: true, newest: '2026.3.1-2' } });
  });

  it('with the registry unreachable the pin is set, with one warning line and checked: false', async () => {
    const down = await registryDown();
    const r = await cli('pin', '2026.99', '--registry', down, '--json');
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ changed: true, pin: { spec: '2026.99' }, registry: { checked: false, newest: null } });
    expect(nonEmpty(r.stderr)).toEqual([expect.stringMatching(/^oc-versions: warning: could not check the pin against the registry \(.*\); pinned all the same$/)]);
    expect(JSON.parse(fs.readFileSync(path.join(t.ocHome, 'config.json'), 'utf8')).pin).toMatchObject({ spec: '2026.99' });
  });
});
