/**
 * Proves the test harness itself: the shared registry, the fixture packages, the fixture gateway.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CONTENT_INVENTORY,
  LATEST_VERSION,
  LIFECYCLE_MARKER,
  OTHER_PACKAGE,
  PATH_INVENTORY,
  STANDARD_FIXTURES,
  VARIANT_VERSIONS,
  buildFixture,
  npmInstallFixture,
} from '../helpers/fixtures.js';
import { nodeBin, publish, registryDown, startRegistry, tarballPath } from '../helpers/registry.js';

const registryUrl = inject('registryUrl');
const NODE = nodeBin();
const tmpRoots: string[] = [];
const children: ChildProcess[] = [];

async function tmp(prefix: string): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  tmpRoots.push(d);
  return d;
}


/** Install `openclaw@version` from the shared registry into a fresh prefix (cached per version). */
const installs = new Map<string, Promise<string>>();
function installed(version: string, name = 'openclaw'): Promise<string> {
  const key = `${name}@${version}`;
  let p = installs.get(key);
  if (!p) {
    p = (async () => {
      const prefix = await tmp(`oc-harness-${version}-`);
      return (await npmInstallFixture(registryUrl, key, { prefix })).pkgRoot;
    })();
    installs.set(key, p);
  }
  return p;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

function cli(pkgRoot: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(NODE, [path.join(pkgRoot, 'openclaw.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
}

interface Gateway {
  child: ChildProcess;
  port: number;
  url: string;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startGateway(entry: string, opts: { env?: NodeJS.ProcessEnv; args?: string[] } = {}): Promise<Gateway> {
  const port = await freePort();
  const stateDir = await tmp('oc-harness-state-');
  const child = spawn(NODE, [entry, 'gateway', 'run', '--port', String(port), '--bind', 'loopback', ...(opts.args ?? [])], {
    env: { ...process.env, OPENCLAW_STATE_DIR: stateDir, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, port, url: `http://127.0.0.1:${port}`, stdout: () => out, exited };
}

async function waitHttp(url: string, timeoutMs = 10_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(1000) });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.json() };
}

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  await Promise.all(tmpRoots.map((d) => fsp.rm(d, { recursive: true, force: true })));
});

describe('shared registry', () => {
  it('answers /-/ping and serves the standard fixtures with the documented tags', async () => {
    expect(process.env.OC_TEST_REGISTRY).toBe(registryUrl);
    expect(registryUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await fetch(new URL('-/ping', registryUrl))).status).toBe(200);
    const { body } = await getJson(new URL('openclaw', registryUrl).href);
    const versions = Object.keys(body.versions).sort();
    const expected = STANDARD_FIXTURES.filter((f) => (f.name ?? 'openclaw') === 'openclaw').map((f) => f.version);
    expect(versions).toEqual([...expected].sort());
    expect(body['dist-tags'].latest).toBe(LATEST_VERSION);
    expect(body['dist-tags'].beta).toBe('2026.4.1-beta.1');
    expect(body['dist-tags']['v2026-3-1-2']).toBe('2026.3.1-2');
    expect(body.versions['2026.1.1'].dist.integrity).toMatch(/^sha512-/);
    const other = await getJson(new URL(OTHER_PACKAGE.name, registryUrl).href);
    expect(other.body['dist-tags'].latest).toBe(OTHER_PACKAGE.version);
  });

  it('never proxies to the public registry', async () => {
    const res = await fetch(new URL('left-pad', registryUrl));
    expect(res.status).toBe(404);
  });
});

describe('private registry helpers', () => {
  it('startRegistry/publish/tarballPath/registryDown work, and a corrupted tarball fails npm install', async () => {
    const reg = await startRegistry();
    try {
      const dir = await buildFixture({ version: '1.2.3', chunkCount: 4 });
      tmpRoots.push(path.dirname(dir));
      await publish(reg.url, dir);
      const { body } = await getJson(new URL('openclaw', reg.url).href);
      expect(body['dist-tags']['v1-2-3']).toBe('1.2.3');
      const tgz = tarballPath(reg.storage, 'openclaw', '1.2.3');
      expect(fs.existsSync(tgz)).toBe(true);
      const bytes = fs.readFileSync(tgz);
      bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
      fs.writeFileSync(tgz, bytes);
      const prefix = await tmp('oc-harness-corrupt-');
      await expect(
        npmInstallFixture(reg.url, 'openclaw@1.2.3', { prefix, cache: path.join(prefix, '.cache') }),
      ).rejects.toThrow(/EINTEGRITY|integrity|TAR_BAD_ARCHIVE|zlib/i);
    } finally {
      await reg.stop();
    }
    expect(() => process.kill(reg.pid, 0)).toThrow();

    const down = await registryDown();
    await expect(fetch(new URL('-/ping', down))).rejects.toThrow();
  });
});

describe('fixture package', () => {
  it('installs with npm, runs its lifecycle, has real hashed chunks and consistent inventories', async () => {
    const root = await installed('2026.3.1');
    expect(fs.existsSync(path.join(root, LIFECYCLE_MARKER))).toBe(false);
    const stat = fs.statSync(path.join(root, 'openclaw.mjs'));
    expect(stat.mode & 0o111).not.toBe(0);
    expect(fs.readFileSync(path.join(root, 'openclaw.mjs'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const bin = path.join(path.dirname(path.dirname(root)), 'node_modules', '.bin', 'openclaw');
    expect(fs.realpathSync(bin)).toBe(path.join(fs.realpathSync(root), 'openclaw.mjs'));

    const dist = fs.readdirSync(path.join(root, 'dist'));
    const chunks = dist.filter((f) => /^chunk-[0-9a-f]{8}\.js$/.test(f));
    expect(chunks.length).toBe(20);
    for (const f of dist.filter((x) => /-[0-9a-f]{8}\.js$/.test(x))) {
      const h = createHash('sha256').update(fs.readFileSync(path.join(root, 'dist', f))).digest('hex');
      expect(f).toContain(h.slice(0, 8));
    }
    const cliSrc = fs.readFileSync(path.join(root, 'dist', dist.find((f) => f.startsWith('cli-'))!), 'utf8');
    expect(cliSrc).toMatch(/import\('\.\/server-[0-9a-f]{8}\.js'\)/);

    const inventory = JSON.parse(fs.readFileSync(path.join(root, PATH_INVENTORY), 'utf8')) as string[];
    expect(inventory).toContain(CONTENT_INVENTORY);
    expect(inventory).not.toContain(PATH_INVENTORY);
    const content = JSON.parse(fs.readFileSync(path.join(root, CONTENT_INVENTORY), 'utf8')) as {
      path: string;
      sha256: string;
      mode: number;
      size: number;
    }[];
    expect(content.map((e) => e.path)).toEqual(inventory.filter((p) => p !== CONTENT_INVENTORY));
    for (const e of content) {
      const bytes = fs.readFileSync(path.join(root, e.path));
      expect(e.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(e.size).toBe(bytes.length);
    }
    expect(fs.existsSync(path.join(root, 'dist/extensions/demo/skills/demo/SKILL.md'))).toBe(true);
  });

  it('CLI: --version, deep-check commands, unknown command', async () => {
    const root = await installed('2026.3.1');
    const v = cli(root, ['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toBe('2026.3.1');
    expect(spawnSync(NODE, [path.join(root, 'dist/index.js'), '-V'], { encoding: 'utf8' }).stdout.trim()).toBe('2026.3.1');
    expect(JSON.parse(cli(root, ['config', 'validate', '--json']).stdout)).toEqual({ valid: true });
    expect(JSON.parse(cli(root, ['channels', 'status', '--probe', '--json']).stdout)).toEqual({ channels: [] });
    expect(JSON.parse(cli(root, ['cron', 'status']).stdout)).toEqual({ enabled: false, jobs: 0 });
    expect(JSON.parse(cli(root, ['models', 'status', '--json']).stdout)).toEqual({ models: [] });
    expect(JSON.parse(cli(root, ['database', 'preflight', path.join(root, 'package.json'), '--json']).stdout)).toEqual({
      schema: 'openclaw.state-schema-preflight.v1',
      result: 'exact',
    });
    expect(cli(root, ['nope']).status).toBe(2);
    const port = await freePort();
    const down = cli(root, ['gateway', 'status', '--json', '--require-rpc', '--port', String(port)]);
    expect(down.status).toBe(1);
    expect(JSON.parse(down.stdout).rpc.ok).toBe(false);
  });

  it('second package name installs too', async () => {
    const root = await installed(OTHER_PACKAGE.version, OTHER_PACKAGE.name);
    expect(cli(root, ['--version']).stdout.trim()).toBe(OTHER_PACKAGE.version);
  });
});

describe('fixture gateway', () => {
  it('answers probes, links skills, reports info/env, status --require-rpc works, SIGTERM drains', async () => {
    const root = await installed('2026.3.1');
    const gw = await startGateway(path.join(root, 'dist/index.js'), {
      env: { OC_SECRET_PROBE: 's3cret', FIXTURE_DRAIN_MS: '300' },
    });
    // How fast it starts is measured in bench/ (cold start), not asserted here.
    const health = await waitHttp(`${gw.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, status: 'live' });

    const startup = await getJson(`${gw.url}/startupz`);
    expect(startup).toMatchObject({ status: 200, body: { ok: true, status: 'started', version: '2026.3.1' } });
    expect(await getJson(`${gw.url}/readyz`)).toMatchObject({ status: 200, body: { ready: true, failing: [] } });

    const info = (await getJson(`${gw.url}/info`)).body;
    expect(info.pid).toBe(gw.child.pid);
    expect(info.version).toBe('2026.3.1');
    expect(info.realArgv1).toBe(fs.realpathSync(path.join(root, 'dist/index.js')));
    expect(info.pkgRoot).toBe(fs.realpathSync(root));

    const env = (await getJson(`${gw.url}/env?keys=OC_SECRET_PROBE,NOPE_NOT_SET`)).body;
    expect(env.values).toEqual({ OC_SECRET_PROBE: 's3cret', NOPE_NOT_SET: null });
    expect(env.keys).toContain('OC_SECRET_PROBE');
    expect(env.keys).toEqual([...env.keys].sort());

    const status = cli(root, ['gateway', 'status', '--json', '--require-rpc'], { OPENCLAW_GATEWAY_PORT: String(gw.port) });
    expect(status.status).toBe(0);
    expect(JSON.parse(status.stdout).rpc).toEqual({ ok: true, server: { version: '2026.3.1' } });
    expect(cli(root, ['health', '--json', '--port', String(gw.port)]).status).toBe(0);

    const tStop = Date.now();
    gw.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 80));
    await expect(fetch(`${gw.url}/healthz`, { signal: AbortSignal.timeout(1000) })).rejects.toThrow();
    const { code } = await gw.exited;
    expect(code).toBe(0);
    expect(Date.now() - tStop).toBeGreaterThanOrEqual(280);
    expect(gw.stdout()).toContain('SIGTERM');
  });

  it('links <stateDir>/plugin-skills/demo into its own real version dir, replacing an old link', async () => {
    const a = await installed('2026.1.1');
    const b = await installed('2026.2.1');
    const stateDir = await tmp('oc-harness-skills-');
    for (const root of [a, b]) {
      const gw = await startGateway(path.join(root, 'openclaw.mjs'), { env: { OPENCLAW_STATE_DIR: stateDir } });
      await waitHttp(`${gw.url}/healthz`);
      const link = path.join(stateDir, 'plugin-skills', 'demo');
      expect(fs.readlinkSync(link)).toBe(path.join(fs.realpathSync(root), 'dist/extensions/demo/skills/demo'));
      const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;
      expect(fs.readFileSync(path.join(link, 'SKILL.md'), 'utf8')).toContain(`(version ${version})`);
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
    expect(fs.readdirSync(path.join(stateDir, 'plugin-skills'))).toEqual(['demo']);
  });

  it('lazy import loads a chunk not loaded at startup; fails once the file is gone (fresh=1)', async () => {
    const src = await installed('2026.2.1');
    // Work on a private copy: this test deletes files.
    const copyRoot = await tmp('oc-harness-lazy-');
    const root = path.join(copyRoot, 'openclaw');
    await fsp.cp(src, root, { recursive: true });
    const gw = await startGateway(path.join(root, 'openclaw.mjs'));
    await waitHttp(`${gw.url}/healthz`);
    const lazyFile = fs.readdirSync(path.join(root, 'dist')).find((f) => /^lazy-[0-9a-f]{8}\.js$/.test(f))!;
    expect(lazyFile).toBeTruthy();
    const first = await getJson(`${gw.url}/lazy`);
    expect(first).toMatchObject({ status: 200, body: { ok: true, version: '2026.2.1' } });
    expect(first.body.value).toMatch(/^lazy-ok:\d+$/);
    await fsp.rm(path.join(root, 'dist', lazyFile));
    const gone = await getJson(`${gw.url}/lazy?fresh=1`);
    expect(gone.status).toBe(500);
    expect(gone.body.code).toBe('ERR_MODULE_NOT_FOUND');
    gw.child.kill('SIGTERM');
    expect((await gw.exited).code).toBe(0);
  });
});

describe('fixture variants', () => {
  const v = VARIANT_VERSIONS;

  it('every variant installs with npm', async () => {
    const roots = await Promise.all(Object.values(v).map((ver) => installed(ver)));
    expect(roots).toHaveLength(Object.keys(v).length);
  });

  it('missing-dynamic-chunk: healthy gateway, /lazy fails, inventories consistent', async () => {
    const root = await installed(v['missing-dynamic-chunk']);
    const server = fs.readdirSync(path.join(root, 'dist')).find((f) => f.startsWith('server-'))!;
    const lazyName = /import\('\.\/(lazy-[0-9a-f]{8}\.js)'\)/.exec(fs.readFileSync(path.join(root, 'dist', server), 'utf8'))![1]!;
    expect(fs.existsSync(path.join(root, 'dist', lazyName))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(root, PATH_INVENTORY), 'utf8'))).not.toContain(`dist/${lazyName}`);
    const gw = await startGateway(path.join(root, 'dist/index.js'));
    expect((await waitHttp(`${gw.url}/healthz`)).status).toBe(200);
    const lazy = await getJson(`${gw.url}/lazy`);
    expect(lazy.status).toBe(500);
    expect(lazy.body.code).toBe('ERR_MODULE_NOT_FOUND');
    gw.child.kill('SIGTERM');
    await gw.exited;
  });

  it('missing-static-import: even --version dies', async () => {
    const r = cli(await installed(v['missing-static-import']), ['--version']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('ERR_MODULE_NOT_FOUND');
  });

  it('bad-inventory-hash: one content-inventory hash is wrong', async () => {
    const root = await installed(v['bad-inventory-hash']);
    const content = JSON.parse(fs.readFileSync(path.join(root, CONTENT_INVENTORY), 'utf8')) as { path: string; sha256: string }[];
    const bad = content.filter(
      (e) => createHash('sha256').update(fs.readFileSync(path.join(root, e.path))).digest('hex') !== e.sha256,
    );
    expect(bad.map((e) => e.path)).toEqual([expect.stringMatching(/^dist\/cli-[0-9a-f]{8}\.js$/)]);
    expect(cli(root, ['--version']).status).toBe(0);
  });

  it('engines-99, lifecycle-marker-left, no-lifecycle', async () => {
    const e = await installed(v['engines-99']);
    expect(JSON.parse(fs.readFileSync(path.join(e, 'package.json'), 'utf8')).engines.node).toBe('>=99');
    const m = await installed(v['lifecycle-marker-left']);
    expect(fs.existsSync(path.join(m, LIFECYCLE_MARKER))).toBe(true);
    const r = cli(m, ['config', 'validate', '--json']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Reinstall with package scripts enabled');
    const n = await installed(v['no-lifecycle']);
    expect(fs.existsSync(path.join(n, LIFECYCLE_MARKER))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(n, 'package.json'), 'utf8')).scripts).toBeUndefined();
    expect(cli(n, ['config', 'validate', '--json']).status).toBe(0);
  });

  it('version-exits-1, crash-at-start, deep-check-fails', async () => {
    expect(cli(await installed(v['version-exits-1']), ['--version']).status).toBe(1);
    const c = await installed(v['crash-at-start']);
    expect(cli(c, ['--version']).stdout.trim()).toBe(v['crash-at-start']);
    const gw = await startGateway(path.join(c, 'dist/index.js'));
    expect((await gw.exited).code).toBe(1);
    const d = cli(await installed(v['deep-check-fails']), ['config', 'validate', '--json']);
    expect(d.status).toBe(1);
    expect(JSON.parse(d.stdout).valid).toBe(false);
  });

  it('wrong-version and liveness-503', async () => {
    const w = await startGateway(path.join(await installed(v['wrong-version']), 'dist/index.js'));
    await waitHttp(`${w.url}/healthz`);
    expect((await getJson(`${w.url}/startupz`)).body.version).toBe('0.0.0-wrong');
    const l = await startGateway(path.join(await installed(v['liveness-503']), 'dist/index.js'));
    expect((await waitHttp(`${l.url}/healthz`)).status).toBe(503);
    expect((await getJson(`${l.url}/healthz`)).status).toBe(503);
    for (const g of [w, l]) {
      g.child.kill('SIGTERM');
      expect((await g.exited).code).toBe(0);
    }
  });

  it('slow-start listens only after its delay', async () => {
    const t0 = Date.now();
    const gw = await startGateway(path.join(await installed(v['slow-start']), 'dist/index.js'));
    await waitHttp(`${gw.url}/healthz`, 15_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    gw.child.kill('SIGTERM');
    expect((await gw.exited).code).toBe(0);
  });
});
