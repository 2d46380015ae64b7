/**
 * launchd backend through the launchctl double, which really runs the job from
 * the plist (ProgramArguments + EnvironmentVariables only: the test's own env
 * never leaks into the job). Both OpenClaw layouts are adopted; the canary
 * secret must reach the gateway and appear in no file under the home.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { build, parse } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as service } from '../../src/commands/service.js';
import { run as snapshot } from '../../src/commands/snapshot.js';
import { isOcError } from '../../src/errors.js';
import { filesContaining, freePort, getJson, makeContext, makeFakeHome, waitForJson, type FakeHome } from '../helpers/fake-home.js';
import { killDoubleJobs, makeEnvWrapper, makeGlobalInstall, serviceEnv } from '../helpers/openclaw-service.js';

const LABEL = 'ai.openclaw.gateway';
type Info = { pid: number; realArgv1: string; version: string; args: string[] };
type EnvReply = { keys: string[]; values: Record<string, string | null> };

function agentsDir(fake: FakeHome): string {
  return path.join(fake.userHome, 'Library', 'LaunchAgents');
}

async function writePlist(file: string, doc: Record<string, unknown>): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, build(doc as Parameters<typeof build>[0]), { mode: 0o644 });
}

function policy(fake: FakeHome): Record<string, unknown> {
  const log = path.join(fake.userHome, 'Library', 'Logs', 'openclaw', 'gateway.log');
  return {
    RunAtLoad: true,
    KeepAlive: true,
    ThrottleInterval: 10,
    ExitTimeOut: 5,
    ProcessType: 'Interactive',
    Umask: 63,
    StandardInPath: '/dev/null',
    StandardOutPath: log,
    StandardErrorPath: log,
    Comment: 'user-added key that must survive',
  };
}

describe('launchd: adopt an OpenClaw plist with inline EnvironmentVariables', () => {
  let fake: FakeHome;
  let port: number;
  let plistPath: string;
  let originalText: string;
  const canary = `canary-${Math.random().toString(36).slice(2)}`;
  const apiKey = `sk-canary-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.5'] });
    port = await freePort();
    // adopt restarts only onto the version the gateway runs now, installed side by side.
    const pkg = await makeGlobalInstall(fake.root, '2026.9.5');
    plistPath = path.join(agentsDir(fake), `${LABEL}.plist`);
    await writePlist(plistPath, {
      Label: LABEL,
      ...policy(fake),
      ProgramArguments: [process.execPath, '--max-old-space-size=512', path.join(pkg, 'dist', 'index.js'), 'gateway', '--port', String(port)],
      EnvironmentVariables: {
        HOME: fake.userHome,
        OPENCLAW_GATEWAY_TOKEN: canary,
        ANTHROPIC_API_KEY: apiKey,
        OPENCLAW_GATEWAY_PORT: String(port),
        MY_CUSTOM_SETTING: 'kept',
      },
    });
    originalText = await fsp.readFile(plistPath, 'utf8');
    // launchd does not create the log directory (the model refuses to start the job without it);
    // OpenClaw's installer creates it before bootstrap.
    await fsp.mkdir(path.join(fake.userHome, 'Library', 'Logs', 'openclaw'), { recursive: true });
    // OpenClaw's own service is running from the global install before adoption.
    const ctx = await makeContext(fake, serviceEnv(fake));
    const { run } = await import('../../src/os/proc.js');
    const r = await run('launchctl', ['bootstrap', `gui/${process.getuid!()}`, plistPath], { env: ctx.env });
    expect(r.code).toBe(0);
    const info = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(info.realArgv1).toBe(fs.realpathSync(path.join(pkg, 'dist', 'index.js')));
  });

  afterAll(async () => {
    killDoubleJobs(fake);
    await fake.cleanup();
  });

  it('adopt rewrites only the program, keeps every key and env key, sets supervisor mode', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'adopt', [], { plist: plistPath });
    const res = ctx.out.results[0] as Record<string, unknown>;
    expect(res).toMatchObject({ layout: 'inline', label: LABEL, running: true });

    const doc = parse(await fsp.readFile(plistPath, 'utf8')) as Record<string, unknown>;
    expect(doc['ProgramArguments']).toEqual([fake.layout.gatewayShim, 'gateway', '--port', String(port)]);
    for (const [k, v] of Object.entries(policy(fake))) expect(doc[k]).toEqual(v);
    expect(doc['EnvironmentVariables']).toMatchObject({
      OPENCLAW_GATEWAY_TOKEN: canary,
      ANTHROPIC_API_KEY: apiKey,
      MY_CUSTOM_SETTING: 'kept',
      OPENCLAW_SUPERVISOR_MODE: 'external',
      NODE_OPTIONS: '--max-old-space-size=512',
    });
    // The original is kept beside the plist, owner-only, byte for byte.
    const orig = `${plistPath}.oc-versions-orig`;
    expect(await fsp.readFile(orig, 'utf8')).toBe(originalText);
    expect((await fsp.stat(orig)).mode & 0o777).toBe(0o600);
  });

  it('the adopted job runs through the launcher from the real version path with every env value', async () => {
    const info = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(info.version).toBe('2026.9.5');
    expect(info.realArgv1).toBe(fs.realpathSync(path.join(fake.layout.version('2026.9.5'), 'node_modules/openclaw/dist/index.js')));
    const env = await getJson<EnvReply>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,ANTHROPIC_API_KEY,MY_CUSTOM_SETTING,OPENCLAW_SUPERVISOR_MODE,NODE_OPTIONS`);
    expect(env.body.values).toEqual({
      OPENCLAW_GATEWAY_TOKEN: canary,
      ANTHROPIC_API_KEY: apiKey,
      MY_CUSTOM_SETTING: 'kept',
      OPENCLAW_SUPERVISOR_MODE: 'external',
      NODE_OPTIONS: '--max-old-space-size=512',
    });
    const st = await makeContext(fake, serviceEnv(fake));
    await service(st, 'status', [], {});
    expect(st.out.results[0]).toMatchObject({
      manager: 'launchd',
      label: LABEL,
      running: true,
      pid: info.pid,
      version: '2026.9.5',
      entry: info.realArgv1,
      adopted: true,
      definitionMatchesRecord: true,
      secrets: { store: 'none', restorable: false },
    });
  });

  it('restart (SIGTERM, drain, kickstart) gives a new pid with the same environment', async () => {
    const before = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'restart', [], { drainMs: 5_000 });
    const after = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(after.pid).not.toBe(before.pid);
    const env = await getJson<EnvReply>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,ANTHROPIC_API_KEY`);
    expect(env.body.values).toEqual({ OPENCLAW_GATEWAY_TOKEN: canary, ANTHROPIC_API_KEY: apiKey });
  });

  it('snapshot: secret values become references; the canary is in no file under the home', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await snapshot(ctx, 'create', [], { reason: 'test' });
    const meta = ctx.out.results[0] as { txid: string; envKeys: string[]; secretKeys: string[]; secretsRestorable: boolean };
    expect(meta.envKeys).toEqual([...meta.envKeys].sort());
    expect(meta.envKeys).toContain('MY_CUSTOM_SETTING');
    expect(meta.secretKeys).toEqual(['ANTHROPIC_API_KEY', 'OPENCLAW_GATEWAY_TOKEN']);
    expect(meta.secretsRestorable).toBe(false);
    const def = JSON.parse(await fsp.readFile(path.join(fake.layout.snapshot(meta.txid), 'service-definition.json'), 'utf8')) as {
      definition: { env: Record<string, unknown> };
    };
    expect(def.definition.env['OPENCLAW_GATEWAY_TOKEN']).toBe(`oc-secret:${LABEL}/OPENCLAW_GATEWAY_TOKEN`);
    expect(await filesContaining(fake.layout.home, canary)).toEqual([]);
    expect(await filesContaining(fake.layout.home, apiKey)).toEqual([]);
  });

  it('a regenerated plist that dropped env keys is detected and restored on the next restart', async () => {
    // What OpenClaw's own installer did in #64931/#113294: rewrite the plist, dropping env.
    const doc = parse(await fsp.readFile(plistPath, 'utf8')) as Record<string, unknown>;
    const env = { ...(doc['EnvironmentVariables'] as Record<string, string>) };
    delete env['OPENCLAW_GATEWAY_TOKEN'];
    delete env['MY_CUSTOM_SETTING'];
    await writePlist(plistPath, { ...doc, EnvironmentVariables: env });
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'restart', [], { drainMs: 5_000 });
    const res = ctx.out.results[0] as { definitionCheck: { restoredKeys: string[]; unrestorableKeys: string[] } };
    expect(res.definitionCheck.restoredKeys).toEqual(['MY_CUSTOM_SETTING', 'OPENCLAW_GATEWAY_TOKEN']);
    expect(res.definitionCheck.unrestorableKeys).toEqual([]);
    expect(ctx.out.warnings.join('\n')).toMatch(/restored env keys/);
    const after = parse(await fsp.readFile(plistPath, 'utf8')) as { EnvironmentVariables: Record<string, string> };
    expect(after.EnvironmentVariables['OPENCLAW_GATEWAY_TOKEN']).toBe(canary);
    await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    const live = await getJson<EnvReply>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,MY_CUSTOM_SETTING`);
    expect(live.body.values).toEqual({ OPENCLAW_GATEWAY_TOKEN: canary, MY_CUSTOM_SETTING: 'kept' });
    expect(await filesContaining(fake.layout.home, canary)).toEqual([]);
  });

  it('restore puts the original back byte for byte and the job runs from the global install again', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'restore', [], {});
    expect(ctx.out.results[0]).toMatchObject({ action: 'restore', identicalToOriginal: true });
    expect(await fsp.readFile(plistPath, 'utf8')).toBe(originalText);
    expect(fs.existsSync(`${plistPath}.oc-versions-orig`)).toBe(false);
    const info = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(info.realArgv1.startsWith(fs.realpathSync(path.join(fake.root, 'global')))).toBe(true);
  });
});

describe('launchd: adopt the env-wrapper layout', () => {
  let fake: FakeHome;
  let port: number;
  let plistPath: string;
  let envFile: string;
  const canary = `canary-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.6'] });
    port = await freePort();
    const pkg = await makeGlobalInstall(fake.root, '2026.9.6');
    const stateDir = path.join(fake.userHome, '.openclaw');
    const w = await makeEnvWrapper(stateDir, LABEL, { OPENCLAW_GATEWAY_TOKEN: canary, OPENCLAW_STATE_DIR: stateDir, FROM_ENV_FILE: "it's kept" });
    envFile = w.envFile;
    plistPath = path.join(agentsDir(fake), `${LABEL}.plist`);
    await writePlist(plistPath, {
      Label: LABEL,
      ...policy(fake),
      ProgramArguments: ['/bin/sh', w.wrapper, w.envFile, process.execPath, path.join(pkg, 'dist', 'index.js'), 'gateway', '--port', String(port)],
      EnvironmentVariables: { HOME: fake.userHome, OPENCLAW_SERVICE_MARKER: 'openclaw' },
    });
    await fsp.mkdir(path.join(stateDir, 'state'), { recursive: true });
    await fsp.writeFile(path.join(stateDir, 'openclaw.json'), `{ gateway: { mode: "local", auth: { mode: "token", token: "${canary}" } } }\n`);
  });

  afterAll(async () => {
    killDoubleJobs(fake);
    await fake.cleanup();
  });

  it('keeps the wrapper and env file in front of the launcher; the gateway sees the env file values', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'adopt', [], { plist: plistPath });
    expect(ctx.out.results[0]).toMatchObject({ layout: 'env-wrapper' });
    const doc = parse(await fsp.readFile(plistPath, 'utf8')) as { ProgramArguments: string[]; EnvironmentVariables: Record<string, string> };
    expect(doc.ProgramArguments.slice(0, 4)).toEqual(['/bin/sh', expect.stringMatching(/env-wrapper\.sh$/), envFile, fake.layout.gatewayShim]);
    expect(doc.ProgramArguments.slice(4)).toEqual(['gateway', '--port', String(port)]);
    // The node the plist ran is kept: the launcher execs OC_VERSIONS_NODE.
    expect(doc.EnvironmentVariables).toEqual({ HOME: fake.userHome, OPENCLAW_SERVICE_MARKER: 'openclaw', OPENCLAW_SUPERVISOR_MODE: 'external', OPENCLAW_SERVICE_REPAIR_POLICY: 'external', OC_VERSIONS_NODE: process.execPath });
    const info = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(info.version).toBe('2026.9.6');
    const env = await getJson<EnvReply>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,FROM_ENV_FILE,OPENCLAW_SUPERVISOR_MODE`);
    expect(env.body.values).toEqual({ OPENCLAW_GATEWAY_TOKEN: canary, FROM_ENV_FILE: "it's kept", OPENCLAW_SUPERVISOR_MODE: 'external' });
  });

  it('after a restart and a snapshot (config included) the canary is in no file under the home', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'restart', [], { drainMs: 5_000 });
    await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    const env = await getJson<EnvReply>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`);
    expect(env.body.values['OPENCLAW_GATEWAY_TOKEN']).toBe(canary);
    const snap = await makeContext(fake, serviceEnv(fake));
    await snapshot(snap, 'create', [], {});
    const meta = snap.out.results[0] as { envKeys: string[]; openclaw: { files: { copy: string }[] } };
    expect(meta.envKeys).toEqual(expect.arrayContaining(['FROM_ENV_FILE', 'OPENCLAW_GATEWAY_TOKEN', 'OPENCLAW_SUPERVISOR_MODE']));
    expect(meta.openclaw.files.map((f) => f.copy)).toContain(path.join('openclaw', 'openclaw.json'));
    expect(await filesContaining(fake.layout.home, canary)).toEqual([]);
  });
});

describe('launchd: bad input changes nothing', () => {
  let fake: FakeHome;
  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.5'] });
  });
  afterAll(async () => {
    killDoubleJobs(fake);
    await fake.cleanup();
  });

  async function snapshotTree(): Promise<string[]> {
    const out: string[] = [];
    for (const dir of [fake.layout.home, agentsDir(fake)]) {
      const walk = async (d: string): Promise<void> => {
        for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) await walk(p);
          else out.push(`${p}:${e.isFile() ? (await fsp.readFile(p)).toString('base64') : 'link'}`);
        }
      };
      await walk(dir);
    }
    return out.sort();
  }

  it('a malformed plist: INVALID_INPUT, one line, nothing written', async () => {
    const p = path.join(agentsDir(fake), `${LABEL}.plist`);
    await fsp.mkdir(path.dirname(p), { recursive: true });
    await fsp.writeFile(p, '<?xml version="1.0"?><plist version="1.0"><dict><key>Label</key><string>x</string>');
    const before = await snapshotTree();
    const ctx = await makeContext(fake, serviceEnv(fake));
    const err = await service(ctx, 'adopt', [], { plist: p }).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('INVALID_INPUT');
    expect((err as Error).message).not.toContain('\n');
    expect(await snapshotTree()).toEqual(before);
  });

  it('an unknown label: NOT_FOUND', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    const before = await snapshotTree();
    const err = await service(ctx, 'start', [], { manager: 'launchd', label: 'com.example.nope' }).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('NOT_FOUND');
    const st = await makeContext(fake, serviceEnv(fake));
    await service(st, 'status', [], { manager: 'launchd', label: 'com.example.nope' });
    expect(st.out.results[0]).toMatchObject({ installed: false, running: false, pid: null });
    expect(await snapshotTree()).toEqual(before);
  });

  it('a launcher that does not exist: NOT_FOUND, the plist is untouched', async () => {
    const p = path.join(agentsDir(fake), 'ai.openclaw.other.plist');
    await writePlist(p, { Label: 'ai.openclaw.other', ProgramArguments: [process.execPath, '/x/openclaw/dist/index.js', 'gateway'] });
    await fsp.rename(fake.layout.gatewayShim, `${fake.layout.gatewayShim}.away`);
    try {
      const before = await snapshotTree();
      const ctx = await makeContext(fake, serviceEnv(fake));
      const err = await service(ctx, 'adopt', [], { plist: p }).catch((e: unknown) => e);
      expect(isOcError(err) && err.code).toBe('NOT_FOUND');
      expect((err as Error).message).toMatch(/launcher/);
      expect(await snapshotTree()).toEqual(before);
    } finally {
      await fsp.rename(`${fake.layout.gatewayShim}.away`, fake.layout.gatewayShim);
    }
  });

  it('an env-wrapper plist whose env file is missing: NOT_FOUND, nothing written', async () => {
    const p = path.join(agentsDir(fake), 'ai.openclaw.wrapped.plist');
    const w = await makeEnvWrapper(path.join(fake.root, 'state'), 'ai.openclaw.wrapped', {});
    await fsp.rm(w.envFile);
    await writePlist(p, { Label: 'ai.openclaw.wrapped', ProgramArguments: ['/bin/sh', w.wrapper, w.envFile, process.execPath, '/x/openclaw/dist/index.js', 'gateway'] });
    const before = await snapshotTree();
    const ctx = await makeContext(fake, serviceEnv(fake));
    const err = await service(ctx, 'adopt', [], { plist: p }).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('NOT_FOUND');
    expect(await snapshotTree()).toEqual(before);
  });
});

describe('launchd: adopt a binary plist (bplist00, as plutil -convert binary1 writes it)', () => {
  let fake: FakeHome;
  let port: number;
  let plistPath: string;
  let original: Buffer;
  const canary = `canary-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.5'] });
    port = await freePort();
    const pkg = await makeGlobalInstall(fake.root, '2026.9.5');
    plistPath = path.join(agentsDir(fake), `${LABEL}.plist`);
    await fsp.mkdir(path.dirname(plistPath), { recursive: true });
    const { buildBinaryPlist } = await import('../helpers/doubles/bplist.mjs');
    await fsp.writeFile(
      plistPath,
      buildBinaryPlist({
        Label: LABEL,
        ...policy(fake),
        ProgramArguments: [process.execPath, path.join(pkg, 'dist', 'index.js'), 'gateway', '--port', String(port)],
        EnvironmentVariables: { HOME: fake.userHome, OPENCLAW_GATEWAY_TOKEN: canary, MY_CUSTOM_SETTING: 'kept — ünïcode' },
      }),
    );
    original = await fsp.readFile(plistPath);
    expect(original.subarray(0, 8).toString('latin1')).toBe('bplist00');
    await fsp.mkdir(path.join(fake.userHome, 'Library', 'Logs', 'openclaw'), { recursive: true });
    const { run } = await import('../../src/os/proc.js');
    expect((await run('launchctl', ['bootstrap', `gui/${process.getuid!()}`, plistPath], { env: serviceEnv(fake) })).code).toBe(0);
    await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
  });

  afterAll(async () => {
    killDoubleJobs(fake);
    await fake.cleanup();
  });

  it('adopt reads it (no plutil here: our bplist reader), keeps every key and env value; restore puts the binary original back byte for byte', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'adopt', [], { plist: plistPath });
    expect(ctx.out.results[0]).toMatchObject({ layout: 'inline', label: LABEL, running: true });
    const doc = parse(await fsp.readFile(plistPath, 'utf8')) as Record<string, unknown>;
    expect(doc['ProgramArguments']).toEqual([fake.layout.gatewayShim, 'gateway', '--port', String(port)]);
    expect(doc['Comment']).toBe('user-added key that must survive');
    const env = await waitForJson<EnvReply>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,MY_CUSTOM_SETTING,OPENCLAW_SUPERVISOR_MODE`);
    expect(env.values).toEqual({ OPENCLAW_GATEWAY_TOKEN: canary, MY_CUSTOM_SETTING: 'kept — ünïcode', OPENCLAW_SUPERVISOR_MODE: 'external' });
    expect(await filesContaining(fake.layout.home, canary)).toEqual([]);
    const back = await makeContext(fake, serviceEnv(fake));
    await service(back, 'restore', [], {});
    expect((await fsp.readFile(plistPath)).equals(original)).toBe(true);
    const info = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(info.realArgv1).toBe(fs.realpathSync(path.join(fake.root, 'global', 'lib', 'node_modules', 'openclaw', 'dist', 'index.js')));
  });
});
