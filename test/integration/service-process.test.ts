/**
 * The `process` backend for real: the launcher, a detached process group, the
 * pidfile with start time, drain on stop, status read from the OS.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as service } from '../../src/commands/service.js';
import { run as snapshot } from '../../src/commands/snapshot.js';
import { isOcError } from '../../src/errors.js';
import { killGroup, isAlive } from '../../src/os/proc.js';
import { addFakeVersion, filesContaining, freePort, getJson, makeContext, makeFakeHome, setCurrent, waitForDown, waitForJson, type FakeHome } from '../helpers/fake-home.js';

let fake: FakeHome;
let port: number;
const started: number[] = [];
const canary = `canary-${Math.random().toString(36).slice(2)}`;

function env(): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: fake.userHome,
    OC_VERSIONS_SECRET_STORE: 'none',
    OPENCLAW_GATEWAY_TOKEN: canary,
    FAKE_DRAIN_MS: '300',
  };
}

beforeAll(async () => {
  fake = await makeFakeHome({ versions: ['2026.9.5', '2026.9.6'], current: '2026.9.5' });
  port = await freePort();
});

afterAll(async () => {
  const ctx = await makeContext(fake, env());
  await service(ctx, 'stop', [], { drainMs: 2_000 }).catch(() => {});
  for (const pid of started) if (isAlive(pid)) killGroup(pid, 'SIGKILL');
  await fake.cleanup();
});

describe('process backend', () => {
  it('installs, serves through the launcher from the real version path, and reports it', async () => {
    const ctx = await makeContext(fake, env());
    await service(ctx, 'install', ['gateway', 'run', '--port', String(port)], { manager: 'process' });
    const info = await waitForJson<{ pid: number; realArgv1: string; version: string }>(`http://127.0.0.1:${port}/info`);
    started.push(info.pid);
    expect(info.version).toBe('2026.9.5');
    expect(info.realArgv1).toBe(fs.realpathSync(path.join(fake.layout.version('2026.9.5'), 'node_modules/openclaw/dist/index.js')));

    const st = await makeContext(fake, env());
    await service(st, 'status', [], {});
    const s = st.out.results[0] as Record<string, unknown>;
    expect(s).toMatchObject({ manager: 'process', running: true, pid: info.pid, version: '2026.9.5', entry: info.realArgv1 });
    // The supervisor mode reaches the gateway.
    const e = await getJson<{ values: Record<string, string | null> }>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_SUPERVISOR_MODE,OPENCLAW_GATEWAY_TOKEN`);
    expect(e.body.values['OPENCLAW_SUPERVISOR_MODE']).toBe('external');
    expect(e.body.values['OPENCLAW_GATEWAY_TOKEN']).toBe(canary);
  });

  it('restart follows a flipped current; the old process keeps its resolved path until then', async () => {
    await setCurrent(fake.layout, '2026.9.6');
    const before = await waitForJson<{ pid: number; version: string }>(`http://127.0.0.1:${port}/info`);
    expect(before.version).toBe('2026.9.5'); // resolved once, at exec time
    const ctx = await makeContext(fake, env());
    await service(ctx, 'restart', [], { drainMs: 5_000 });
    const after = await waitForJson<{ pid: number; version: string; realArgv1: string }>(`http://127.0.0.1:${port}/startupz`);
    expect(after.version).toBe('2026.9.6');
    const info = await waitForJson<{ pid: number; realArgv1: string }>(`http://127.0.0.1:${port}/info`);
    started.push(info.pid);
    expect(info.pid).not.toBe(before.pid);
    expect(isAlive(before.pid)).toBe(false);
    expect(info.realArgv1.startsWith(fs.realpathSync(fake.layout.version('2026.9.6')))).toBe(true);
  });

  it('a reused pid in the pidfile is not mistaken for the gateway', async () => {
    const pidFile = path.join(fake.layout.serviceDir, 'gateway.pid.json');
    const real = JSON.parse(await fsp.readFile(pidFile, 'utf8')) as { pid: number; startTime: string };
    // Pretend the recorded pid is now someone else's: same pid, different start time.
    await fsp.writeFile(pidFile, JSON.stringify({ ...real, pid: process.pid }));
    const ctx = await makeContext(fake, env());
    await service(ctx, 'status', [], {});
    // Not the reused pid: the gateway that really runs, found by the mark it was started with
    // (the pidfile no longer names it, as after an updater killed before writing the pidfile).
    expect(ctx.out.results[0]).toMatchObject({ running: true, pid: real.pid });
    expect((ctx.out.results[0] as { pid: number }).pid).not.toBe(process.pid);
    await fsp.writeFile(pidFile, JSON.stringify(real));
  });

  it('a gateway its pidfile does not name (updater killed before writing it): status sees it, start adopts it', async () => {
    const pidFile = path.join(fake.layout.serviceDir, 'gateway.pid.json');
    const real = JSON.parse(await fsp.readFile(pidFile, 'utf8')) as { pid: number; startTime: string };
    await fsp.rm(pidFile);
    const st = await makeContext(fake, env());
    await service(st, 'status', [], {});
    expect(st.out.results[0]).toMatchObject({ running: true, pid: real.pid });
    const ctx = await makeContext(fake, env());
    await service(ctx, 'start', [], {});
    // adopted, not duplicated: the pidfile names the same process again, and it still serves
    expect(JSON.parse(await fsp.readFile(pidFile, 'utf8'))).toMatchObject({ pid: real.pid, startTime: real.startTime });
    expect((await getJson(`http://127.0.0.1:${port}/healthz`))?.status).toBe(200);
  });

  it('snapshot holds no secret value; the canary appears in no file under the home', async () => {
    const ctx = await makeContext(fake, env());
    await snapshot(ctx, 'create', [], { reason: 'test' });
    const meta = ctx.out.results[0] as { txid: string; version: string };
    expect(meta.version).toBe('2026.9.6');
    expect(await filesContaining(fake.layout.home, canary)).toEqual([]);
  });

  it('stop drains the gateway (SIGTERM to the group) and status says stopped', async () => {
    const ctx = await makeContext(fake, env());
    const t0 = Date.now();
    await service(ctx, 'stop', [], { drainMs: 5_000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250); // FAKE_DRAIN_MS: it drained, not killed
    await waitForDown(`http://127.0.0.1:${port}/healthz`);
    const st = await makeContext(fake, env());
    await service(st, 'status', [], {});
    expect(st.out.results[0]).toMatchObject({ running: false, pid: null, installed: true });
  });

  it('a launcher with no current fails to start with a clear error', async () => {
    await fsp.rm(fake.layout.current);
    const ctx = await makeContext(fake, env());
    const err = await service(ctx, 'start', [], {}).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('SERVICE_ERROR');
    expect(String((err as Error).message)).toMatch(/no version at .*current \(run: oc-versions use <version>\)/);
    await setCurrent(fake.layout, '2026.9.6');
  });

  it('install refuses when the launcher does not exist, and changes nothing', async () => {
    const other = await makeFakeHome({ versions: ['2026.9.5'] });
    try {
      await fsp.rm(other.layout.gatewayShim);
      const before = await fsp.readdir(other.layout.home);
      const ctx = await makeContext(other, { ...env(), HOME: other.userHome });
      const err = await service(ctx, 'install', [], { manager: 'process' }).catch((e: unknown) => e);
      expect(isOcError(err) && err.code).toBe('NOT_FOUND');
      expect(await fsp.readdir(other.layout.home)).toEqual(before);
    } finally {
      await other.cleanup();
    }
  });

  it('addFakeVersion helper produces a sealed-looking tree', async () => {
    const dir = await addFakeVersion(fake.layout, '2026.9.7');
    expect(fs.existsSync(path.join(dir, '.oc-seal.json'))).toBe(true);
  });
});

describe('snapshot of OpenClaw state databases', () => {
  it('copies a live WAL database consistently (SQLite backup), and restores it with the gateway stopped', async () => {
    const { DatabaseSync } = await import('node:sqlite');
    const { createSnapshot, restoreSnapshot } = await import('../../src/service/snapshot.js');
    const home = await makeFakeHome({ versions: ['2026.9.6'] });
    try {
      const stateDir = path.join(home.userHome, '.openclaw');
      await fsp.mkdir(path.join(stateDir, 'state'), { recursive: true });
      await fsp.mkdir(path.join(stateDir, 'agents', 'main', 'agent'), { recursive: true });
      const dbPath = path.join(stateDir, 'state', 'openclaw.sqlite');
      // A live writer in WAL mode with uncheckpointed pages: a plain file copy would miss them.
      const db = new DatabaseSync(dbPath);
      db.exec('PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x INTEGER);');
      const ins = db.prepare('INSERT INTO t VALUES (?)');
      for (let i = 0; i < 500; i++) ins.run(i);
      expect(fs.statSync(`${dbPath}-wal`).size).toBeGreaterThan(0);
      new DatabaseSync(path.join(stateDir, 'agents', 'main', 'agent', 'openclaw-agent.sqlite')).exec('CREATE TABLE a(y)');
      const setup = { layout: home.layout, config: home.config, env: { HOME: home.userHome } };
      const meta = await createSnapshot(setup, { txid: 'db-test', openclawStateDir: stateDir });
      expect(meta.openclaw.files.map((f) => [f.copy, f.method])).toEqual([
        [path.join('openclaw', 'state', 'openclaw.sqlite'), 'sqlite-backup'],
        [path.join('openclaw', 'agents', 'main', 'agent', 'openclaw-agent.sqlite'), 'sqlite-backup'],
      ]);
      const copy = new DatabaseSync(path.join(home.layout.snapshot('db-test'), 'openclaw', 'state', 'openclaw.sqlite'), { readOnly: true });
      expect(copy.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 500 });
      copy.close();
      // Later writes, then a rollback of state: the snapshot's 500 rows come back.
      for (let i = 0; i < 10; i++) ins.run(i);
      db.close();
      const report = await restoreSnapshot(setup, 'db-test', { state: true });
      expect(report.databases).toContain(dbPath);
      const restored = new DatabaseSync(dbPath, { readOnly: true });
      expect(restored.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 500 });
      restored.close();
    } finally {
      await home.cleanup();
    }
  });
});
