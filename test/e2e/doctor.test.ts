/**
 * `oc-versions doctor [--fix] [--json]` (issue 12) through the built CLI, on real temp homes with
 * a fixture version installed from the shared verdaccio and the gateway running under the
 * process backend: each planted fault is found, a read-only run changes nothing on disk and
 * never waits for the lock, and `--fix` repairs the safe ones (stale staging, orphaned temp
 * files, a wrong shim, a definition that lost an env key and its launcher, a lock left by a
 * SIGKILLed process) and leaves the rest (a version needing another node, a broken seal) alone.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { REPO, grepTree, makeTestEnv, runCli, treeState, type TestEnv } from '../helpers/cli.js';
import { buildFixture } from '../helpers/fixtures.js';
import { freePort, gatewayHost, getJson, waitFor, type GatewayHost } from '../helpers/gateway.js';
import { createUser, publish, registryDown, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { acquireLock } from '../../src/core/lock.js';
import { homeTagOf, makeLayout } from '../../src/core/layout.js';
import { isAlive, killGroup, sleep, spawnDetached } from '../../src/os/proc.js';

let h: GatewayHost | undefined;
let t: TestEnv | undefined;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  await h?.cleanup();
  await t?.cleanup();
  h = undefined;
  t = undefined;
});

interface Finding {
  id: string;
  severity: 'error' | 'warning' | 'info';
  what: string;
  fix: string;
  fixable: boolean;
  fixed?: boolean;
}

/** The --json document's contract (schemaVersion may be added centrally; other keys may not). */
function assertShape(doc: any): { ok: boolean; changed: boolean; findings: Finding[] } {
  expect(typeof doc.ok).toBe('boolean');
  expect(typeof doc.changed).toBe('boolean');
  expect(Array.isArray(doc.findings)).toBe(true);
  expect(Object.keys(doc).filter((k) => k !== 'schemaVersion').sort()).toEqual(['changed', 'findings', 'ok']);
  for (const f of doc.findings) {
    expect(Object.keys(f).filter((k) => !['id', 'severity', 'what', 'fix', 'fixable', 'fixed'].includes(k))).toEqual([]);
    expect(typeof f.id).toBe('string');
    expect(['error', 'warning', 'info']).toContain(f.severity);
    expect(typeof f.what).toBe('string');
    expect(typeof f.fix).toBe('string');
    expect(typeof f.fixable).toBe('boolean');
    if ('fixed' in f) expect(typeof f.fixed).toBe('boolean');
  }
  return doc;
}

/** A pid that existed and is gone: a real child that exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => child.on('close', r));
  return child.pid!;
}

/** A real process takes the lock through the built lock module, then is SIGKILLed holding it. */
async function lockLeftByKilledProcess(home: string): Promise<number> {
  const holder = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const {acquireLock}=await import(${JSON.stringify(path.join(REPO, 'dist/core/lock.js'))});const {makeLayout}=await import(${JSON.stringify(path.join(REPO, 'dist/core/layout.js'))});await acquireLock(makeLayout(process.argv[1]),'doomed upgrade');process.stdout.write('held\\n');setInterval(()=>{},1000);`,
      home,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve) => holder.stdout!.on('data', (d) => String(d).includes('held') && resolve()));
  const closed = new Promise((r) => holder.on('close', r));
  holder.kill('SIGKILL');
  await closed;
  return holder.pid!;
}

describe('doctor', () => {
  it('a clean home: no error or warning, --json shape; a read-only run never waits for the lock and names its holder; --fix then exits 4', async () => {
    t = await makeTestEnv(inject('registryUrl'));
    const cli = (...a: string[]) => runCli(a, t!.env);
    expect((await cli('install', '2026.1.1', '--use')).code).toBe(0);

    const before = treeState(t.ocHome);
    const r = await cli('doctor', '--json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const doc = assertShape(r.json);
    expect(doc.ok).toBe(true);
    expect(doc.changed).toBe(false);
    expect(doc.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    const ids = doc.findings.map((f) => f.id);
    expect(ids).toEqual(expect.arrayContaining(['versions', 'disk-space', 'registry']));
    expect(doc.findings.find((f) => f.id === 'registry')!.what).toContain(inject('registryUrl'));
    expect(treeState(t.ocHome)).toEqual(before);

    const human = await cli('doctor');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^doctor: ok: 0 errors, 0 warnings$/m);
    expect(human.stdout).toMatch(/^info +1 sealed version\(s\): 2026\.1\.1; current 2026\.1\.1$/m);

    // A live holder: read-only doctor does not wait (runCli would time out) and reports it.
    const held = await acquireLock(makeLayout(t.ocHome), 'test holder');
    try {
      const ro = await cli('doctor', '--json');
      expect(ro.code, ro.stderr).toBe(0);
      const lock = assertShape(ro.json).findings.find((f) => f.id === 'lock');
      expect(lock).toMatchObject({ severity: 'info', fixable: false });
      expect(lock!.what).toContain(`pid ${process.pid} (test holder`);
      // --fix takes the lock like any mutating command: a live holder is never touched.
      const fix = await cli('doctor', '--fix', '--json');
      expect(fix.code).toBe(4);
      expect(fix.json.error.code).toBe('LOCKED');
      expect(fs.existsSync(path.join(t.ocHome, 'lock'))).toBe(true);
      expect(JSON.parse(fs.readFileSync(path.join(t.ocHome, 'lock-owner.json'), 'utf8')).pid).toBe(process.pid);
    } finally {
      await held.release();
    }

    // Faults no fix may touch: a version needing another node, a version whose files no longer
    // match its seal. Errors (exit 9), not fixable, and --fix leaves them (and the tree) alone.
    const seal = path.join(t.ocHome, 'versions', '2026.1.1', '.oc-seal.json');
    fs.writeFileSync(seal, JSON.stringify({ ...JSON.parse(fs.readFileSync(seal, 'utf8')), engines: { node: '>=99' } }));
    const bad = await cli('doctor', '--json');
    expect(bad.code).toBe(9);
    const engines = assertShape(bad.json).findings.find((f) => f.id === 'engines/2026.1.1');
    expect(engines).toMatchObject({ severity: 'error', fixable: false });
    expect(engines!.what).toContain(`needs node >=99; the shim runs node ${process.versions.node}`);
    const pkgJson = path.join(t.ocHome, 'versions', '2026.1.1', 'node_modules', 'openclaw', 'package.json');
    fs.writeFileSync(pkgJson, JSON.stringify({ ...JSON.parse(fs.readFileSync(pkgJson, 'utf8')), version: '2026.1.9' }));
    const tree = treeState(t.ocHome);
    const fix = await cli('doctor', '--fix', '--json');
    expect(fix.code).toBe(9);
    expect(assertShape(fix.json)).toMatchObject({ ok: false, changed: false });
    expect(fix.json.findings.find((f: Finding) => f.id === 'seal/2026.1.1')).toMatchObject({ severity: 'error', fixable: false });
    expect(fix.json.findings.find((f: Finding) => f.id === 'seal/2026.1.1').what).toContain('its package.json says openclaw@2026.1.9');
    expect(treeState(t.ocHome)).toEqual(tree);
  });

  it('a home that does not exist is one error finding and stays absent, with or without --fix', async () => {
    t = await makeTestEnv(inject('registryUrl'));
    for (const args of [['doctor', '--json'], ['doctor', '--fix', '--json']]) {
      const r = await runCli(args, t.env);
      expect(r.code, r.stderr).toBe(9);
      const doc = assertShape(r.json);
      expect(doc).toMatchObject({ ok: false, changed: false });
      expect(doc.findings).toEqual([expect.objectContaining({ id: 'home', severity: 'error', fixable: false })]);
      expect(fs.existsSync(t.ocHome)).toBe(false);
    }
  });

  it('finds each planted fault without changing anything, and --fix repairs the safe ones', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const home = h.t.ocHome;
    const cli = h.cli;
    // The last snapshot records the definition's env keys (values: plain or references).
    const snap = await cli('snapshot', 'create', '--reason', 'doctor test', '--json');
    expect(snap.code, snap.stderr).toBe(0);
    expect(snap.json.envKeys).toContain('OPENCLAW_SERVICE_MARKER');
    // Stopped: the running gateway's environment is no source; the value must come from the snapshot.
    expect((await cli('service', 'stop')).code).toBe(0);
    const goodShim = fs.readFileSync(path.join(home, 'bin', 'openclaw'), 'utf8');

    // 1. stale staging (its pid is dead)  2. orphaned temp files  3. a shim of another home
    // 4. the definition lost an env key   5. a lock left by a SIGKILLed process
    const gone = await deadPid();
    const staging = `2026.1.2.${gone}.0badc0de`;
    fs.mkdirSync(path.join(home, 'staging', staging, 'node_modules'), { recursive: true });
    fs.writeFileSync(path.join(home, 'staging', staging, 'node_modules', 'x.js'), 'half an install');
    fs.writeFileSync(path.join(home, 'state.json.1a2b3c4d'), '{"torn":');
    const claim = `lock-owner.json.claim-${gone}`;
    fs.writeFileSync(path.join(home, claim), '{}');
    const scratch = path.join(home, 'tmp', 'oc-validate-Xy12Ab');
    fs.mkdirSync(path.join(scratch, '.openclaw'), { recursive: true });
    const hoursAgo = new Date(Date.now() - 3 * 3_600_000);
    fs.utimesSync(scratch, hoursAgo, hoursAgo);
    const shimTemp = `openclaw.tmp-${gone}-deadbeef`;
    fs.writeFileSync(path.join(home, 'bin', shimTemp), '#!/bin/sh\n');
    fs.writeFileSync(path.join(home, 'bin', 'openclaw'), goodShim.split(home).join('/somewhere/else/.oc-versions'), { mode: 0o755 });
    const defPath = path.join(home, 'service', 'process.json');
    const def = JSON.parse(fs.readFileSync(defPath, 'utf8'));
    expect(def.env.OPENCLAW_SERVICE_MARKER).toBe('openclaw');
    delete def.env.OPENCLAW_SERVICE_MARKER;
    const program = [...def.program];
    expect(program[0]).toBe(path.join(home, 'bin', 'openclaw-gateway'));
    def.program = [process.execPath, '/opt/openclaw/dist/index.js', ...program.slice(1)];
    fs.writeFileSync(defPath, JSON.stringify(def, null, 2));
    const killed = await lockLeftByKilledProcess(home);
    expect(JSON.parse(fs.readFileSync(path.join(home, 'lock-owner.json'), 'utf8')).pid).toBe(killed);

    // Read-only: every fault found, nothing changed on disk.
    const before = treeState(home);
    const ro = await cli('doctor', '--json');
    expect(ro.code, ro.stdout + ro.stderr).toBe(9);
    const found = assertShape(ro.json);
    expect(found).toMatchObject({ ok: false, changed: false });
    const byId = new Map(found.findings.map((f) => [f.id, f]));
    expect(byId.get(`stale-staging/${staging}`)).toMatchObject({ severity: 'warning', fixable: true });
    expect(byId.get('orphaned-temp/state.json.1a2b3c4d')).toMatchObject({ severity: 'warning', fixable: true });
    expect(byId.get(`orphaned-temp/bin/${shimTemp}`)).toMatchObject({ severity: 'warning', fixable: true });
    expect(byId.get(`orphaned-temp/${claim}`)).toMatchObject({ severity: 'warning', fixable: true });
    expect(byId.get('orphaned-temp/tmp/oc-validate-Xy12Ab')).toMatchObject({ severity: 'warning', fixable: true });
    expect(byId.get('shim')).toMatchObject({ severity: 'error', fixable: true });
    expect(byId.get('shim')!.what).toContain('points at another home (/somewhere/else/.oc-versions)');
    expect(byId.get('service-env/OPENCLAW_SERVICE_MARKER')).toMatchObject({ severity: 'error', fixable: true });
    expect(byId.get('service-env/OPENCLAW_SERVICE_MARKER')!.what).toContain(`the last snapshot (${snap.json.txid})`);
    expect(byId.get('service-launcher')).toMatchObject({ severity: 'error', fixable: true });
    expect(byId.get('lock')).toMatchObject({ severity: 'warning', fixable: true });
    expect(byId.get('lock')!.what).toContain(`pid ${killed} (doomed upgrade`);
    // The gateway was stopped above: an error doctor reports but never fixes (a start is the operator's).
    expect(byId.get('service-running')).toMatchObject({ severity: 'error', fixable: false });
    expect(found.findings.filter((f) => 'fixed' in f)).toEqual([]);
    expect(treeState(home)).toEqual(before);
    const human = await cli('doctor');
    expect(human.code).toBe(9);
    expect(human.stdout).toMatch(/^error +the CLI shim .* points at another home .* -- fix: re-render bin\/openclaw \(doctor --fix\)$/m);
    expect(human.stdout).toMatch(/^doctor: PROBLEMS: 4 errors, 6 warnings; oc-versions doctor --fix applies 9 safe fixes$/m);

    // --fix: each safe fix applied, re-checked and reported fixed.
    const fix = await cli('doctor', '--fix', '--json');
    expect(fix.code, fix.stdout + fix.stderr).toBe(9);
    const fixed = assertShape(fix.json);
    expect(fixed).toMatchObject({ ok: false, changed: true });
    for (const id of [`stale-staging/${staging}`, 'orphaned-temp/state.json.1a2b3c4d', `orphaned-temp/bin/${shimTemp}`, `orphaned-temp/${claim}`, 'orphaned-temp/tmp/oc-validate-Xy12Ab', 'shim', 'service-env/OPENCLAW_SERVICE_MARKER', 'service-launcher', 'lock']) {
      expect(fixed.findings.find((f) => f.id === id), id).toMatchObject({ fixed: true });
    }
    expect(fixed.findings.filter((f) => f.severity === 'error' && !f.fixed).map((f) => f.id)).toEqual(['service-running']);
    expect(fs.existsSync(path.join(home, 'staging', staging))).toBe(false);
    expect(fs.existsSync(path.join(home, 'state.json.1a2b3c4d'))).toBe(false);
    expect(fs.existsSync(path.join(home, 'bin', shimTemp))).toBe(false);
    expect(fs.existsSync(path.join(home, claim))).toBe(false);
    expect(fs.existsSync(scratch)).toBe(false);
    expect(fs.readFileSync(path.join(home, 'bin', 'openclaw'), 'utf8')).toBe(goodShim);
    expect(fs.statSync(path.join(home, 'bin', 'openclaw')).mode & 0o111).toBe(0o111);
    const restored = JSON.parse(fs.readFileSync(defPath, 'utf8'));
    expect(restored.env.OPENCLAW_SERVICE_MARKER).toBe('openclaw');
    expect(restored.program).toEqual(program);
    // The lock was taken over and released: nobody holds it.
    expect(fs.existsSync(path.join(home, 'lock'))).toBe(false);
    expect(fs.existsSync(path.join(home, 'lock-owner.json'))).toBe(false);
    const said = await cli('doctor');
    expect(said.code).toBe(9);
    expect(said.stdout.split('\n').filter((l) => /^(error|warning)/.test(l))).toEqual([expect.stringMatching(/^error +the process service .* is installed but its gateway is not running/)]);

    // Idempotent: nothing left to fix, nothing changed.
    const again = await cli('doctor', '--fix', '--json');
    expect(again.code, again.stderr).toBe(9);
    expect(assertShape(again.json)).toMatchObject({ ok: false, changed: false });
    expect(again.json.findings.filter((f: Finding) => f.fixable)).toEqual([]);

    // The restored key reaches the gateway at its next start.
    expect((await cli('service', 'start')).code).toBe(0);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${h!.port}/healthz`))?.status === 200, 15_000, 'the gateway');
    expect((await getJson(`http://127.0.0.1:${h.port}/env?keys=OPENCLAW_SERVICE_MARKER`))?.body.values).toEqual({ OPENCLAW_SERVICE_MARKER: 'openclaw' });
  });

  it('the registry with the configured auth: credentials said, never printed; a refusal is an error, offline a warning', async () => {
    const priv: TestRegistry = await startRegistry({ access: '$authenticated' });
    cleanups.push(() => priv.stop());
    const token = await createUser(priv.url, 'operator', 'correct-horse-battery');
    const dir = await buildFixture({ name: 'openclaw', version: '2026.7.1', variant: 'good' });
    await publish(priv.url, dir, { tag: 'latest', token });
    await fsp.rm(path.dirname(dir), { recursive: true, force: true });
    t = await makeTestEnv(inject('registryUrl'));
    await fsp.mkdir(t.ocHome, { recursive: true, mode: 0o700 });
    const env = { ...t.env };
    delete env['npm_config_registry'];
    const npmrc = (lines: string[]) => fsp.writeFile(path.join(t!.home, '.npmrc'), lines.join('\n') + '\n', { mode: 0o600 });
    const registryOf = async () => {
      const r = await runCli(['doctor', '--json'], env);
      expect(r.stdout + r.stderr).not.toContain(token);
      return { code: r.code, f: assertShape(r.json).findings.find((x) => x.id === 'registry')! };
    };

    await npmrc([`registry=${priv.url}`, `//127.0.0.1:${priv.port}/:_authToken=${token}`]);
    const ok = await registryOf();
    expect(ok.code).toBe(0);
    expect(ok.f).toMatchObject({ severity: 'info', fixable: false });
    expect(ok.f.what).toBe(`${priv.url} answers for openclaw (1 version; credentials configured)`);

    await npmrc([`registry=${priv.url}`]);
    const refused = await registryOf();
    expect(refused.code).toBe(9);
    expect(refused.f.severity).toBe('error');
    expect(refused.f.what).toMatch(/HTTP 40[13].*\(no credentials configured\)$/);
    expect(refused.f.fix).toMatch(/npm login --registry|_authToken/);

    await npmrc([`registry=${await registryDown()}`]);
    const offline = await registryOf();
    expect(offline.code).toBe(0);
    expect(offline.f.severity).toBe('warning');
    expect(offline.f.what).toMatch(/unreachable/);
  });

  const TOOLS = ['dbus-run-session', 'secret-tool', 'gnome-keyring-daemon'];
  const missing = TOOLS.filter((x) => !(process.env['PATH'] ?? '').split(':').some((d) => fs.existsSync(path.join(d, x))));
  it.skipIf(missing.length > 0)(
    `a lost secret key comes back as a secret-store reference, never in plaintext; a store that does not answer is an error${missing.length ? ` -- SKIPPED: needs ${missing.join(', ')}` : ''}`,
    async () => {
      const TOKEN = `tok-doctor-${Math.random().toString(36).slice(2)}`;
      t = await makeTestEnv(inject('registryUrl'), { OC_VERSIONS_SECRET_STORE: 'secret-service' });
      const root = path.dirname(t.home);
      const runtime = path.join(root, 'xdg-runtime');
      await fsp.mkdir(runtime, { recursive: true, mode: 0o700 });
      const addrFile = path.join(root, 'dbus-address');
      const session = spawnDetached(
        'dbus-run-session',
        ['--', 'sh', '-c', `echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; echo "$DBUS_SESSION_BUS_ADDRESS" > '${addrFile}'; exec sleep 900`],
        { env: { PATH: process.env['PATH'], HOME: t.home, XDG_RUNTIME_DIR: runtime }, logFile: path.join(root, 'dbus.log') },
      );
      cleanups.push(async () => isAlive(session) && killGroup(session, 'SIGTERM'));
      for (let i = 0; i < 100 && !fs.existsSync(addrFile); i++) await sleep(100);
      t.env['DBUS_SESSION_BUS_ADDRESS'] = (await fsp.readFile(addrFile, 'utf8')).trim();
      t.env['XDG_RUNTIME_DIR'] = runtime;
      const cli = (...a: string[]) => runCli(a, t!.env);
      expect((await cli('install', '2026.1.1')).code).toBe(0);
      const port = await freePort();
      const ins = await runCli(['service', 'install', '--manager', 'process', '--env', 'OPENCLAW_GATEWAY_TOKEN', '--', 'gateway', 'run', '--port', String(port)], {
        ...t.env,
        OPENCLAW_GATEWAY_TOKEN: TOKEN,
      });
      expect(ins.code, ins.stderr).toBe(0);
      cleanups.push(() => cli('service', 'uninstall'));
      expect((await cli('snapshot', 'create', '--json')).code).toBe(0);
      expect((await cli('service', 'stop')).code).toBe(0);
      const defPath = path.join(t.ocHome, 'service', 'process.json');
      const def = JSON.parse(fs.readFileSync(defPath, 'utf8'));
      const ref = { $secretRef: `secret-service:ai.openclaw.gateway.${homeTagOf(t.ocHome)}/OPENCLAW_GATEWAY_TOKEN` };
      expect(def.env.OPENCLAW_GATEWAY_TOKEN).toEqual(ref);
      delete def.env.OPENCLAW_GATEWAY_TOKEN;
      fs.writeFileSync(defPath, JSON.stringify(def, null, 2));

      const ro = await cli('doctor', '--json');
      expect(ro.code, ro.stdout + ro.stderr).toBe(9);
      const found = assertShape(ro.json).findings;
      expect(found.find((f) => f.id === 'service-env/OPENCLAW_GATEWAY_TOKEN')).toMatchObject({ severity: 'error', fixable: true });
      expect(found.find((f) => f.id === 'secret-store')).toMatchObject({ severity: 'info', what: 'the secret-service secret store answers' });

      const fix = await cli('doctor', '--fix', '--json');
      // Left: the stopped gateway (an error doctor never fixes).
      expect(fix.code, fix.stdout + fix.stderr).toBe(9);
      expect(fix.json.findings.filter((f: Finding) => f.severity === 'error' && !f.fixed).map((f: Finding) => f.id)).toEqual(['service-running']);
      expect(fix.json.findings.find((f: Finding) => f.id === 'service-env/OPENCLAW_GATEWAY_TOKEN')).toMatchObject({ fixed: true });
      expect(JSON.parse(fs.readFileSync(defPath, 'utf8')).env.OPENCLAW_GATEWAY_TOKEN).toEqual(ref);
      for (const r of [ro, fix]) expect(r.stdout + r.stderr).not.toContain(TOKEN);
      expect(grepTree(t.ocHome, TOKEN)).toEqual([]);
      expect((await cli('service', 'start')).code).toBe(0);
      await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/healthz`))?.status === 200, 15_000, 'the gateway');
      expect((await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`))?.body.values).toEqual({ OPENCLAW_GATEWAY_TOKEN: TOKEN });

      // The store stops answering (no session bus): the definition keeps secrets there, so an error.
      const noBus = await runCli(['doctor', '--json'], { ...t.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${path.join(root, 'no-bus')}` });
      expect(noBus.code).toBe(9);
      const store = assertShape(noBus.json).findings.find((f) => f.id === 'secret-store');
      expect(store).toMatchObject({ severity: 'error', fixable: false });
      expect(store!.what).toMatch(/the secret store does not answer/);
    },
  );
});
