/**
 * systemd backend through the systemctl double, which really runs ExecStart with
 * Environment= and EnvironmentFile= from the unit as loaded by daemon-reload.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as service } from '../../src/commands/service.js';
import { run as snapshot } from '../../src/commands/snapshot.js';
import { isOcError } from '../../src/errors.js';
import { filesContaining, freePort, getJson, makeContext, makeFakeHome, waitForDown, waitForJson, type FakeHome } from '../helpers/fake-home.js';
import { killDoubleJobs, makeGlobalInstall, serviceEnv } from '../helpers/openclaw-service.js';

const UNIT = 'openclaw-gateway.service';
type Info = { pid: number; realArgv1: string; version: string };
type EnvReply = { values: Record<string, string | null> };

function unitDir(fake: FakeHome): string {
  return path.join(fake.userHome, '.config', 'systemd', 'user');
}

describe('systemd: adopt an OpenClaw unit (Environment= + EnvironmentFile=)', () => {
  let fake: FakeHome;
  let port: number;
  let unitPath: string;
  let original: string;
  const canary = `canary-${Math.random().toString(36).slice(2)}`;
  const fileKey = `sk-file-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.5'] });
    port = await freePort();
    const pkg = await makeGlobalInstall(fake.root, '2026.9.5');
    const stateDir = path.join(fake.userHome, '.openclaw');
    await fsp.mkdir(stateDir, { recursive: true });
    await fsp.writeFile(path.join(stateDir, 'gateway.systemd.env'), `ANTHROPIC_API_KEY=${fileKey}\nFROM_FILE="quoted value"\n`, { mode: 0o600 });
    unitPath = path.join(unitDir(fake), UNIT);
    await fsp.mkdir(unitDir(fake), { recursive: true });
    original = [
      '[Unit]',
      'Description=OpenClaw Gateway (v2026.9.1)',
      'After=network-online.target',
      'Wants=network-online.target',
      'StartLimitBurst=10',
      'StartLimitIntervalSec=300',
      '',
      '[Service]',
      `ExecStart=${process.execPath} --max-old-space-size=512 ${pkg}/dist/index.js gateway --port ${port}`,
      'Restart=always',
      'RestartSec=5',
      'RestartPreventExitStatus=78',
      'TimeoutStopSec=330',
      'SuccessExitStatus=0 143',
      'KillMode=mixed',
      `Environment=HOME=${fake.userHome}`,
      `Environment="OPENCLAW_GATEWAY_TOKEN=${canary}" "GREETING=hello world" PERCENT=50%%`,
      `EnvironmentFile=-${stateDir}/gateway.systemd.env`,
      '',
      '[Install]',
      'WantedBy=default.target',
      '',
    ].join('\n');
    await fsp.writeFile(unitPath, original);
    const ctx = await makeContext(fake, serviceEnv(fake));
    const { run } = await import('../../src/os/proc.js');
    expect((await run('systemctl', ['--user', 'daemon-reload'], { env: ctx.env })).code).toBe(0);
    expect((await run('systemctl', ['--user', 'start', UNIT], { env: ctx.env })).code).toBe(0);
    expect((await waitForJson<Info>(`http://127.0.0.1:${port}/info`)).realArgv1).toBe(fs.realpathSync(path.join(pkg, 'dist', 'index.js')));
  });

  afterAll(async () => {
    killDoubleJobs(fake);
    await fake.cleanup();
  });

  it('adopt rewrites ExecStart only; every other line and env key stays; the job restarts through the launcher', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'adopt', [], { unit: unitPath });
    expect(ctx.out.results[0]).toMatchObject({ manager: 'systemd', label: UNIT, layout: 'inline', running: true });
    const text = await fsp.readFile(unitPath, 'utf8');
    expect(text).toContain(`ExecStart=${fake.layout.gatewayShim} gateway --port ${port}\n`);
    for (const line of ['Restart=always', 'KillMode=mixed', 'RestartPreventExitStatus=78', 'WantedBy=default.target', 'EnvironmentFile=-', 'StartLimitBurst=10']) {
      expect(text).toContain(line);
    }
    // The stop timeout follows oc-versions' drain budget (config.service.drainMs, default 20 s), in place.
    expect(text).toContain('RestartPreventExitStatus=78\nTimeoutStopSec=20s\nSuccessExitStatus=0 143\n');
    expect(text).not.toContain('TimeoutStopSec=330');
    expect(text).toContain('Environment=OPENCLAW_SUPERVISOR_MODE=external');
    expect(text).toContain('Environment="GREETING=hello world"');
    expect(text).toContain('Environment=PERCENT=50%%');
    const info = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(info.version).toBe('2026.9.5');
    expect(info.realArgv1).toBe(fs.realpathSync(path.join(fake.layout.version('2026.9.5'), 'node_modules/openclaw/dist/index.js')));
    const env = await getJson<EnvReply>(
      `http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,GREETING,PERCENT,ANTHROPIC_API_KEY,FROM_FILE,OPENCLAW_SUPERVISOR_MODE,NODE_OPTIONS`,
    );
    expect(env.body.values).toEqual({
      OPENCLAW_GATEWAY_TOKEN: canary,
      GREETING: 'hello world',
      PERCENT: '50%',
      ANTHROPIC_API_KEY: fileKey,
      FROM_FILE: 'quoted value',
      OPENCLAW_SUPERVISOR_MODE: 'external',
      NODE_OPTIONS: '--max-old-space-size=512',
    });
  });

  it('status reads MainPID and the real entry; restart gives a new pid; no secret under the home', async () => {
    const st = await makeContext(fake, serviceEnv(fake));
    await service(st, 'status', [], {});
    const s = st.out.results[0] as { pid: number; entry: string };
    expect(st.out.results[0]).toMatchObject({ manager: 'systemd', running: true, version: '2026.9.5', definitionMatchesRecord: true });
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'restart', [], { drainMs: 5_000 });
    const info = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(info.pid).not.toBe(s.pid);
    const snap = await makeContext(fake, serviceEnv(fake));
    await snapshot(snap, 'create', [], {});
    const meta = snap.out.results[0] as { envKeys: string[]; secretKeys: string[] };
    expect(meta.secretKeys).toEqual(['ANTHROPIC_API_KEY', 'OPENCLAW_GATEWAY_TOKEN']);
    expect(await filesContaining(fake.layout.home, canary)).toEqual([]);
    expect(await filesContaining(fake.layout.home, fileKey)).toEqual([]);
  });

  it('restore gives back the original unit and stop drains it', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'restore', [], {});
    expect(await fsp.readFile(unitPath, 'utf8')).toBe(original);
    expect((await waitForJson<Info>(`http://127.0.0.1:${port}/info`)).realArgv1.startsWith(fs.realpathSync(path.join(fake.root, 'global')))).toBe(true);
    const { run } = await import('../../src/os/proc.js');
    await run('systemctl', ['--user', 'stop', UNIT], { env: ctx.env });
    await waitForDown(`http://127.0.0.1:${port}/healthz`);
  });
});

describe('systemd: fresh install, stop, uninstall, bad input', () => {
  let fake: FakeHome;
  let port: number;
  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.6'] });
    port = await freePort();
  });
  afterAll(async () => {
    killDoubleJobs(fake);
    await fake.cleanup();
  });

  it('install writes an OpenClaw-policy unit running the launcher and starts it', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'install', ['gateway', 'run', '--port', String(port)], { manager: 'systemd' });
    const text = await fsp.readFile(path.join(unitDir(fake), UNIT), 'utf8');
    expect(text).toContain(`ExecStart=${fake.layout.gatewayShim} gateway run --port ${port}`);
    expect(text).toContain('RestartPreventExitStatus=78');
    const info = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(info.version).toBe('2026.9.6');
    const st = await makeContext(fake, serviceEnv(fake));
    await service(st, 'status', [], {});
    expect(st.out.results[0]).toMatchObject({ manager: 'systemd', label: UNIT, running: true, pid: info.pid, version: '2026.9.6' });
  });

  it('stop drains; uninstall removes the unit', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'stop', [], { drainMs: 5_000 });
    await waitForDown(`http://127.0.0.1:${port}/healthz`);
    const un = await makeContext(fake, serviceEnv(fake));
    await service(un, 'uninstall', [], {});
    expect(fs.existsSync(path.join(unitDir(fake), UNIT))).toBe(false);
  });

  it('a malformed unit: INVALID_INPUT, nothing written', async () => {
    const p = path.join(unitDir(fake), 'broken.service');
    await fsp.mkdir(path.dirname(p), { recursive: true });
    await fsp.writeFile(p, 'ExecStart=/bin/true\nthis is not a unit\n');
    const ctx = await makeContext(fake, serviceEnv(fake));
    const before = await fsp.readdir(fake.layout.home);
    const err = await service(ctx, 'adopt', [], { unit: p }).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('INVALID_INPUT');
    expect(await fsp.readFile(p, 'utf8')).toBe('ExecStart=/bin/true\nthis is not a unit\n');
    expect(fs.existsSync(`${p}.oc-versions-orig`)).toBe(false);
    expect(await fsp.readdir(fake.layout.home)).toEqual(before);
  });

  it('an unknown unit: NOT_FOUND', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    const err = await service(ctx, 'restart', [], { manager: 'systemd', label: 'nope' }).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('NOT_FOUND');
    expect((err as Error).message).toMatch(/nope\.service/);
  });
});
