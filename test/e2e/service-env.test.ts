/**
 * Process backend environment (issue 13, part 2): `service install --env KEY` reads the value
 * once and keeps it in the secret store (a real gnome-keyring in a private D-Bus session here);
 * `--env-file PATH` is read at each start and never copied. Later commands run from a shell
 * without the secret; the value never appears under the home. Without a store: refused.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { grepTree, makeTestEnv, runCli, type TestEnv } from '../helpers/cli.js';
import { freePort, getJson, waitFor } from '../helpers/gateway.js';
import { isAlive, killGroup, sleep, spawnDetached } from '../../src/os/proc.js';
import { homeTagOf } from '../../src/core/layout.js';
import { run as runProc } from '../../src/os/proc.js';

const TOOLS = ['dbus-run-session', 'secret-tool', 'gnome-keyring-daemon'];
const missing = TOOLS.filter((t) => !(process.env['PATH'] ?? '').split(':').some((d) => fs.existsSync(path.join(d, t))));

describe.skipIf(missing.length > 0)(`service install --env / --env-file (process backend, gnome-keyring)${missing.length ? ` -- SKIPPED: needs ${missing.join(', ')}` : ''}`, () => {
  let t: TestEnv;
  let sessionPid = 0;
  let port: number;
  let envFile: string;
  const TOKEN = `tok-canary-${Math.random().toString(36).slice(2)}`;
  const FILE_KEY = `sk-file-canary-${Math.random().toString(36).slice(2)}`;
  const cli = (...a: string[]) => runCli(a, t.env);

  beforeAll(async () => {
    t = await makeTestEnv(inject('registryUrl'), { OC_VERSIONS_SECRET_STORE: 'secret-service' });
    const runtime = path.join(path.dirname(t.home), 'xdg-runtime');
    await fsp.mkdir(runtime, { recursive: true, mode: 0o700 });
    const addrFile = path.join(path.dirname(t.home), 'dbus-address');
    sessionPid = spawnDetached(
      'dbus-run-session',
      ['--', 'sh', '-c', `echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; echo "$DBUS_SESSION_BUS_ADDRESS" > '${addrFile}'; exec sleep 900`],
      { env: { PATH: process.env['PATH'], HOME: t.home, XDG_RUNTIME_DIR: runtime }, logFile: path.join(path.dirname(t.home), 'dbus.log') },
    );
    for (let i = 0; i < 100 && !fs.existsSync(addrFile); i++) await sleep(100);
    t.env['DBUS_SESSION_BUS_ADDRESS'] = (await fsp.readFile(addrFile, 'utf8')).trim();
    t.env['XDG_RUNTIME_DIR'] = runtime;
    expect((await cli('install', '2026.1.1')).code).toBe(0);
    const cfgPath = path.join(t.ocHome, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    cfg.health = { ...cfg.health, responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000, deepDeadlineMs: 20_000, probeIntervalMs: 100 };
    cfg.service = { ...cfg.service, drainMs: 3_000 };
    fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
    port = await freePort();
    envFile = path.join(t.home, 'gateway.env');
    await fsp.writeFile(envFile, `ANTHROPIC_API_KEY=${FILE_KEY}\nGREETING="first"\n`, { mode: 0o600 });
  });

  afterAll(async () => {
    await cli('service', 'uninstall').catch(() => undefined);
    if (sessionPid && isAlive(sessionPid)) killGroup(sessionPid, 'SIGTERM');
    await t?.cleanup();
  });

  const envOf = async () =>
    (await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,ANTHROPIC_API_KEY,GREETING`))?.body.values as Record<string, string | null>;

  it('without a secret store, --env is refused (exit 9) with a hint; nothing is written', async () => {
    const r = await runCli(['service', 'install', '--manager', 'process', '--env', 'OPENCLAW_GATEWAY_TOKEN', '--', 'gateway', 'run', '--port', String(port)], {
      ...t.env,
      OC_VERSIONS_SECRET_STORE: 'none',
      OPENCLAW_GATEWAY_TOKEN: TOKEN,
    });
    expect(r.code, r.stderr).toBe(9);
    expect(r.stderr).toMatch(/refusing to write the value in plaintext/);
    expect(r.stderr).toMatch(/--env-file PATH/);
    expect(fs.existsSync(path.join(t.ocHome, 'service', 'process.json'))).toBe(false);
    expect(grepTree(t.ocHome, TOKEN)).toEqual([]);
  });

  it('install --env KEY --env-file PATH: the gateway gets both; process.json holds a reference', async () => {
    const r = await runCli(
      ['service', 'install', '--manager', 'process', '--env', 'OPENCLAW_GATEWAY_TOKEN', '--env-file', envFile, '--', 'gateway', 'run', '--port', String(port)],
      { ...t.env, OPENCLAW_GATEWAY_TOKEN: TOKEN },
    );
    expect(r.code, r.stderr).toBe(0);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/healthz`))?.status === 200, 15_000, 'gateway');
    expect(await envOf()).toEqual({ OPENCLAW_GATEWAY_TOKEN: TOKEN, ANTHROPIC_API_KEY: FILE_KEY, GREETING: 'first' });
    const doc = JSON.parse(fs.readFileSync(path.join(t.ocHome, 'service', 'process.json'), 'utf8'));
    // The process backend's label (and so the secret's name) is the home's own.
    expect(doc.env.OPENCLAW_GATEWAY_TOKEN).toEqual({ $secretRef: `secret-service:ai.openclaw.gateway.${homeTagOf(t.ocHome)}/OPENCLAW_GATEWAY_TOKEN` });
    expect(doc.envFiles).toEqual([envFile]);
    expect(grepTree(t.ocHome, TOKEN)).toEqual([]);
    expect(grepTree(t.ocHome, FILE_KEY)).toEqual([]);
  });

  it('upgrade and rollback from a shell without the token keep it; the env file is re-read at each start', async () => {
    expect(t.env['OPENCLAW_GATEWAY_TOKEN']).toBeUndefined();
    await fsp.writeFile(envFile, `ANTHROPIC_API_KEY=${FILE_KEY}\nGREETING="second"\n`, { mode: 0o600 });
    const up = await cli('upgrade', '2026.2.1', '--json');
    expect(up.code, up.stderr).toBe(0);
    expect(up.json.outcome).toBe('upgraded');
    expect((await getJson(`http://127.0.0.1:${port}/startupz`))?.body.version).toBe('2026.2.1');
    expect(await envOf()).toEqual({ OPENCLAW_GATEWAY_TOKEN: TOKEN, ANTHROPIC_API_KEY: FILE_KEY, GREETING: 'second' });
    const back = await cli('rollback', '--json');
    expect(back.code, back.stderr).toBe(0);
    expect((await getJson(`http://127.0.0.1:${port}/startupz`))?.body.version).toBe('2026.1.1');
    expect(await envOf()).toEqual({ OPENCLAW_GATEWAY_TOKEN: TOKEN, ANTHROPIC_API_KEY: FILE_KEY, GREETING: 'second' });
    // Never under the home: not in process.json, snapshots, logs, state or config.
    expect(grepTree(t.ocHome, TOKEN)).toEqual([]);
    expect(grepTree(t.ocHome, FILE_KEY)).toEqual([]);
  });

  it('service uninstall removes the secret-store entry the install made', async () => {
    const name = `ai.openclaw.gateway.${homeTagOf(t.ocHome)}/OPENCLAW_GATEWAY_TOKEN`;
    const lookup = () => runProc('secret-tool', ['lookup', 'service', 'oc-versions', 'key', name], { env: t.env });
    expect((await lookup()).stdout).toBe(TOKEN);
    const un = await cli('service', 'uninstall');
    expect(un.code, un.stderr).toBe(0);
    const after = await lookup();
    expect(after.code).not.toBe(0);
    expect(after.stdout).toBe('');
  });
});
