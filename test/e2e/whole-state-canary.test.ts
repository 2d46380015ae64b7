/**
 * The whole-state canary (issue 31), end to end through the built CLI with real fixture gateways
 * under the process backend: a version that crashes on a state file outside the config, the
 * databases and the plugins (an agent's `sessions/sessions.json` it cannot parse) is refused at
 * the canary, before any downtime, when the canary rehearses on the whole state: cloned on a
 * loop-mounted XFS image with reflink=1 (needs root and xfsprogs; skipped otherwise, with the
 * reason), copied plainly on this ext4 /tmp when the state is small. Over `plainCopyMaxBytes`
 * the canary rehearses the selective copy, says so, and the gate catches the version after the
 * flip (exit 6). No file of the copy beside the state remains, also after a SIGKILL mid-canary.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { CLI, grepTree, patchConfig } from '../helpers/cli.js';
import { LATEST_VERSION, VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { gatewayHost, getJson, waitFor, type GatewayHost } from '../helpers/gateway.js';
import { isAlive } from '../../src/os/proc.js';
import { mountXfs, xfsSkipReason, type XfsMount } from '../helpers/xfs.js';

const registryUrl = inject('registryUrl');
const FROM = '2026.3.1';
const V = VARIANT_VERSIONS['crash-on-state-file'];
const CONFIG_SECRET = `whole-secret-${Math.random().toString(36).slice(2)}-value`;

let h: GatewayHost | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

/** A live state: a config with a secret, a WAL database, a plugin dir, a log, and a broken session store. */
function plantState(stateDir: string, sessions: string): void {
  fs.mkdirSync(path.join(stateDir, 'state'), { recursive: true });
  fs.writeFileSync(path.join(stateDir, 'openclaw.json'), JSON.stringify({ gateway: { mode: 'local', auth: { mode: 'token', token: CONFIG_SECRET } } }, null, 2));
  const db = new DatabaseSync(path.join(stateDir, 'state', 'openclaw.sqlite'));
  db.exec("PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t (v TEXT); INSERT INTO t VALUES ('live');");
  db.close();
  fs.mkdirSync(path.join(stateDir, 'extensions', 'demo'), { recursive: true });
  fs.writeFileSync(path.join(stateDir, 'extensions', 'demo', 'openclaw.plugin.json'), '{"id":"demo"}\n');
  fs.mkdirSync(path.join(stateDir, 'logs'), { recursive: true });
  fs.writeFileSync(path.join(stateDir, 'logs', 'gateway.log'), 'x'.repeat(64 * 1024));
  fs.mkdirSync(path.join(stateDir, 'agents', 'main', 'sessions'), { recursive: true });
  fs.writeFileSync(path.join(stateDir, 'agents', 'main', 'sessions', 'sessions.json'), sessions);
}

/** A host whose state dir is `stateDir` (default: the test home's ~/.openclaw), planted with a broken session store. */
async function host(stateDir?: string, canary: Record<string, unknown> = {}): Promise<{ h: GatewayHost; stateDir: string; pid: number }> {
  const g = await gatewayHost(registryUrl, FROM, stateDir ? { env: { OPENCLAW_STATE_DIR: stateDir } } : {});
  const dir = g.t.env['OPENCLAW_STATE_DIR']!;
  plantState(dir, '{"main:1": {"updatedAt": 1}, truncated');
  patchConfig(g.t.ocHome, (cfg) => {
    cfg.canary = { ...cfg.canary, defaultAllowanceMs: 15_000, minAllowanceMs: 5_000, timeoutMs: 20_000, stopGraceMs: 3_000, ...canary };
  });
  const pid = (await getJson(`http://127.0.0.1:${g.port}/info`))!.body.pid as number;
  return { h: g, stateDir: dir, pid };
}

/** Nothing of a canary left: no record or scratch under the home, no copy beside the state dir. */
function expectNoCopyLeft(ocHome: string, stateDir: string): void {
  const canaryDir = path.join(ocHome, 'canary');
  expect(fs.existsSync(canaryDir) ? fs.readdirSync(canaryDir) : []).toEqual([]);
  expect(fs.readdirSync(path.dirname(stateDir)).filter((n) => n.includes('.oc-canary.'))).toEqual([]);
}

async function expectRefusedAtCanary(x: { h: GatewayHost; stateDir: string; pid: number }, scope: string): Promise<void> {
  const r = await x.h.cli('upgrade', V, '--json');
  expect(r.code, r.stderr).toBe(5);
  expect(r.json.error.code).toBe('VALIDATION_FAILED');
  const canary = r.json.error.stages.find((s: { name: string }) => s.name === 'canary');
  expect(canary.ok).toBe(false);
  expect(canary.detail).toMatch(/invalid session store/);
  expect(r.json.error.canary.scope).toBe(scope);
  expect(canary.detail).toMatch(scope === 'whole-clone' ? /rehearsed on the whole state of .*, cloned copy-on-write beside it/ : /rehearsed on the whole state of .*, copied beside it \(its filesystem cannot clone/);
  // Before any downtime: the same live gateway, same version.
  expect((await getJson(`http://127.0.0.1:${x.h.port}/info`))!.body.pid).toBe(x.pid);
  expect(await x.h.version()).toBe(FROM);
  expectNoCopyLeft(x.h.t.ocHome, x.stateDir);
  expect(grepTree(x.h.t.ocHome, CONFIG_SECRET)).toEqual([]);
}

if (xfsSkipReason) process.stdout.write(`[whole-state-canary] the XFS cells are skipped: ${xfsSkipReason}\n`);

describe.skipIf(xfsSkipReason !== null)('on XFS with reflink (loop-mounted): the canary runs on a clone of the whole state', () => {
  let xfs: XfsMount | undefined;
  let mnt: string | null = null;
  beforeAll(async () => {
    xfs = await mountXfs('oc-xfs-canary-');
    mnt = xfs.mnt;
  });
  afterAll(async () => {
    await h?.cleanup();
    h = undefined;
    await xfs?.remove();
  });

  it('a version that crashes on a session store is refused at the canary (exit 5); the live gateway keeps its pid; no clone remains', async () => {
    expect(mnt, 'loop-mounting the XFS image failed').not.toBeNull();
    const x = await host(path.join(mnt!, 'refused', '.openclaw'));
    h = x.h;
    await expectRefusedAtCanary(x, 'whole-clone');
  });

  it('a good version: the canary passes on the clone, upgraded, no clone remains; the updater SIGKILLed mid-canary: the next command removes the clone', async () => {
    expect(mnt, 'loop-mounting the XFS image failed').not.toBeNull();
    const x = await host(path.join(mnt!, 'good', '.openclaw'));
    h = x.h;
    fs.writeFileSync(path.join(x.stateDir, 'agents', 'main', 'sessions', 'sessions.json'), '{}\n');
    const r = await h.cli('upgrade', LATEST_VERSION, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.outcome).toBe('upgraded');
    expect(r.json.canary).toMatchObject({ ok: true, scope: 'whole-clone' });
    expect(r.json.canary.detail).toMatch(/cloned copy-on-write beside it, without logs/);
    expectNoCopyLeft(h.t.ocHome, x.stateDir);

    // SIGKILL while the canary runs on its clone, then the next command recovers.
    const back = await h.cli('use', FROM, '--json');
    expect(back.code, back.stderr).toBe(0);
    const child = spawn(process.execPath, [CLI, 'upgrade', LATEST_VERSION, '--json'], { env: h.t.env, stdio: 'ignore' });
    const canaryDir = path.join(h.t.ocHome, 'canary');
    const rec = await waitFor(async () => {
      for (const f of fs.existsSync(canaryDir) ? fs.readdirSync(canaryDir).filter((n) => n.endsWith('.json')) : []) {
        try {
          const j = JSON.parse(fs.readFileSync(path.join(canaryDir, f), 'utf8'));
          if (j.pid && isAlive(j.pid) && j.beside) return j as { pid: number; beside: string };
        } catch {
          // being written
        }
      }
      return null;
    }, 30_000, 'the canary to start on its clone');
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    expect(fs.existsSync(path.join(rec.beside, 'state', 'openclaw.json'))).toBe(true);
    expect(path.dirname(rec.beside)).toBe(path.dirname(x.stateDir));
    const rc = await h.cli('recover', '--json');
    expect(rc.code, rc.stderr).toBe(0);
    await waitFor(async () => !isAlive(rec.pid), 5_000, 'the canary to be gone');
    expect(fs.existsSync(rec.beside)).toBe(false);
    expectNoCopyLeft(h.t.ocHome, x.stateDir);
    expect(await h.version()).toBe(FROM);
  });
});

describe('on ext4 (this /tmp, no clones)', () => {
  it('a small state is copied whole beside it: the version that crashes on a session store is refused at the canary (exit 5)', async () => {
    const x = await host();
    h = x.h;
    await expectRefusedAtCanary(x, 'whole-copy');
  });

  it('a state over plainCopyMaxBytes: the canary rehearses the selective copy and says so; the gate catches it after the flip (exit 6)', async () => {
    const x = await host(undefined, { plainCopyMaxBytes: 4096 });
    h = x.h;
    const r = await h.cli('upgrade', V, '--json');
    expect(r.code, r.stderr).toBe(6);
    expect(r.json.outcome).toBe('rolled-back');
    expect(r.json.canary).toMatchObject({ ok: true, scope: 'selective' });
    expect(r.json.canary.detail).toMatch(/rehearsed on part of the state of .*: the config, the databases and the plugins \(its filesystem cannot clone and it is over canary\.plainCopyMaxBytes/);
    expect(await h.version()).toBe(FROM);
    expectNoCopyLeft(h.t.ocHome, x.stateDir);
  });
});
