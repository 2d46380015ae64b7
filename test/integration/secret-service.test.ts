/**
 * The secret-service backend against a real Secret Service: gnome-keyring in a
 * private D-Bus session (dbus-run-session), started and stopped by this test.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, killGroup, sleep, spawnDetached } from '../../src/os/proc.js';
import { resolveSecretStore } from '../../src/secrets/index.js';
import { createSecretServiceStore } from '../../src/secrets/secret-service.js';
import { createServiceManager } from '../../src/service/index.js';
import { createSnapshot, restoreSnapshot } from '../../src/service/snapshot.js';
import { filesContaining, freePort, getJson, makeFakeHome, waitForJson, type FakeHome } from '../helpers/fake-home.js';

const TOOLS = ['dbus-run-session', 'secret-tool', 'gnome-keyring-daemon'];
const missing = TOOLS.filter((t) => !(process.env['PATH'] ?? '').split(':').some((d) => fs.existsSync(path.join(d, t))));
const skipReason = missing.length > 0 ? `needs ${missing.join(', ')} (apt-get install gnome-keyring libsecret-tools dbus)` : '';

describe.skipIf(missing.length > 0)(`secret-service backend against gnome-keyring${skipReason ? ` -- SKIPPED: ${skipReason}` : ''}`, () => {
  let fake: FakeHome;
  let sessionPid = 0;
  let env: NodeJS.ProcessEnv;
  let argvLog: string;
  let wrappedTool: string;

  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.6'] });
    const addrFile = path.join(fake.root, 'dbus-address');
    const runtime = path.join(fake.root, 'xdg-runtime');
    await fsp.mkdir(runtime, { recursive: true, mode: 0o700 });
    const baseEnv = { PATH: process.env['PATH'], HOME: fake.userHome, XDG_RUNTIME_DIR: runtime };
    sessionPid = spawnDetached(
      'dbus-run-session',
      ['--', 'sh', '-c', `echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; echo "$DBUS_SESSION_BUS_ADDRESS" > '${addrFile}'; exec sleep 600`],
      { env: baseEnv, logFile: path.join(fake.root, 'dbus.log') },
    );
    for (let i = 0; i < 100 && !fs.existsSync(addrFile); i++) await sleep(100);
    const address = (await fsp.readFile(addrFile, 'utf8')).trim();
    env = { ...baseEnv, DBUS_SESSION_BUS_ADDRESS: address };
    // A pass-through secret-tool that logs its argv, to prove values never travel in argv.
    argvLog = path.join(fake.root, 'secret-tool-argv.log');
    wrappedTool = path.join(fake.root, 'secret-tool-logged');
    await fsp.writeFile(wrappedTool, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec secret-tool "$@"\n`, { mode: 0o755 });
  });

  afterAll(async () => {
    if (sessionPid && isAlive(sessionPid)) killGroup(sessionPid, 'SIGTERM');
    await fake?.cleanup();
  });

  it('is available inside the session and unavailable without a bus', async () => {
    expect(await createSecretServiceStore(env).available()).toBe(true);
    expect(await createSecretServiceStore({ PATH: process.env['PATH'] }).available()).toBe(false);
    expect((await resolveSecretStore(env)).kind).toBe('secret-service');
  });

  it('set / get / overwrite / delete round-trip; values go on stdin, never argv', async () => {
    const store = createSecretServiceStore(env, wrappedTool);
    const value = `canary-${Math.random().toString(36).slice(2)} with spaces 'quotes' "and" $dollars`;
    await store.set('ai.openclaw.gateway/OPENCLAW_GATEWAY_TOKEN', value);
    expect(await store.get('ai.openclaw.gateway/OPENCLAW_GATEWAY_TOKEN')).toBe(value);
    await store.set('ai.openclaw.gateway/OPENCLAW_GATEWAY_TOKEN', 'second');
    expect(await store.get('ai.openclaw.gateway/OPENCLAW_GATEWAY_TOKEN')).toBe('second');
    expect(await store.get('ai.openclaw.gateway/UNKNOWN')).toBeUndefined();
    await store.delete('ai.openclaw.gateway/OPENCLAW_GATEWAY_TOKEN');
    expect(await store.get('ai.openclaw.gateway/OPENCLAW_GATEWAY_TOKEN')).toBeUndefined();
    const log = await fsp.readFile(argvLog, 'utf8');
    expect(log).toContain('store');
    expect(log).not.toContain('canary-');
    expect(log).not.toContain('second');
  });

  it('process backend + snapshot: the secret lives in the store, is referenced, and reaches the gateway', async () => {
    const store = createSecretServiceStore(env);
    const port = await freePort();
    const canary = `canary-${Math.random().toString(36).slice(2)}`;
    const setup = { layout: fake.layout, config: fake.config, env };
    const mgr = await createServiceManager('process', setup, { secretStore: store });
    await mgr.install({
      manager: 'process',
      label: mgr.label,
      program: [fake.layout.gatewayShim, 'gateway', 'run', '--port', String(port)],
      env: { OPENCLAW_GATEWAY_TOKEN: canary, PLAIN: 'visible' },
      envFiles: [],
      extra: null,
    });
    try {
      await waitForJson(`http://127.0.0.1:${port}/healthz`);
      // The starting env (ctx.env) has no token: the gateway got it from the store.
      expect(env['OPENCLAW_GATEWAY_TOKEN']).toBeUndefined();
      const seen = await getJson<{ values: Record<string, string | null> }>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,PLAIN`);
      expect(seen.body.values).toEqual({ OPENCLAW_GATEWAY_TOKEN: canary, PLAIN: 'visible' });
      const doc = JSON.parse(await fsp.readFile(mgr.definitionPath, 'utf8')) as { env: Record<string, unknown> };
      expect(doc.env['OPENCLAW_GATEWAY_TOKEN']).toEqual({ $secretRef: `secret-service:${mgr.label}/OPENCLAW_GATEWAY_TOKEN` });

      const meta = await createSnapshot(setup, { manager: mgr, store, txid: 'with-store' });
      expect(meta).toMatchObject({ secretStore: 'secret-service', secretsRestorable: true, secretKeys: ['OPENCLAW_GATEWAY_TOKEN'] });
      expect(await filesContaining(fake.layout.home, canary)).toEqual([]);

      // Lose the definition entirely; restore it from the snapshot + store.
      await fsp.rm(mgr.definitionPath);
      const report = await restoreSnapshot(setup, 'with-store', { definition: true }, { manager: mgr, store });
      expect(report.definition).toEqual({ restored: true, unresolvedKeys: [] });
      await mgr.restart({ drainMs: 3_000 });
      await waitForJson(`http://127.0.0.1:${port}/healthz`);
      const again = await getJson<{ values: Record<string, string | null> }>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`);
      expect(again.body.values['OPENCLAW_GATEWAY_TOKEN']).toBe(canary);
      expect(await filesContaining(fake.layout.home, canary)).toEqual([]);
    } finally {
      await mgr.stop({ drainMs: 3_000 });
    }
  });

  it('a store that refuses (locked/absent collection) reports a one-line ENVIRONMENT error', async () => {
    const broken = createSecretServiceStore({ ...env, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' });
    expect(await broken.available()).toBe(false);
    const err = await broken.set('x', 'y').catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ENVIRONMENT');
  });
});
