/**
 * The --json contract (issue 12): every command's document, success and error, validated
 * against its JSON Schema in docs/schemas/ (ajv), run through the built CLI against real temp
 * homes, the fixture registry and (for the service) real fixture gateways under the process
 * backend. stdout must be exactly one JSON document; every top-level key must be documented
 * in the schema; idempotent re-runs say `changed: false`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { LATEST_VERSION } from '../helpers/fixtures.js';
import { REPO, makeTestEnv, runCli, type CliResult, type TestEnv } from '../helpers/cli.js';
import { freePort, getJson, waitFor } from '../helpers/gateway.js';

const SCHEMAS = path.join(REPO, 'docs', 'schemas');
const BASE = 'https://github.com/openclaw/oc-versions/blob/main/docs/schemas/';
type Schema = Record<string, any>;
const files = new Map<string, Schema>(
  fs.readdirSync(SCHEMAS).filter((f) => f.endsWith('.schema.json')).map((f) => [f, JSON.parse(fs.readFileSync(path.join(SCHEMAS, f), 'utf8')) as Schema]),
);
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
for (const s of files.values()) ajv.addSchema(s);
const validators = new Map<string, ValidateFunction>();

/** The top-level keys a schema documents (through $ref, allOf, oneOf, anyOf). */
function documentedKeys(s: Schema, file: string, out = new Set<string>()): Set<string> {
  if (typeof s['$ref'] === 'string') {
    const [f, frag] = (s['$ref'] as string).split('#');
    const target = f ? f : file;
    let node: Schema = files.get(target)!;
    for (const part of (frag ?? '').split('/').filter(Boolean)) node = node[part];
    documentedKeys(node, target, out);
  }
  for (const k of Object.keys((s['properties'] as object | undefined) ?? {})) out.add(k);
  for (const comb of ['allOf', 'oneOf', 'anyOf']) for (const sub of (s[comb] as Schema[] | undefined) ?? []) documentedKeys(sub, file, out);
  return out;
}

/** stdout is exactly one JSON document, valid against docs/schemas/<name>.schema.json, with nothing undocumented at the top. */
function expectDoc(name: string, r: CliResult): any {
  const label = `${name}: exit ${r.code}\n${r.stderr}\n${r.stdout}`;
  expect(r.json, label).toBeDefined();
  expect(r.stdout, label).toBe(JSON.stringify(r.json, null, 2) + '\n');
  expect(r.json.schemaVersion, label).toBe(1);
  expect(Object.keys(r.json)[0], label).toBe('schemaVersion');
  const file = `${name}.schema.json`;
  expect(files.has(file), `docs/schemas/${file} exists`).toBe(true);
  let v = validators.get(file);
  if (!v) {
    v = ajv.getSchema(BASE + file)!;
    validators.set(file, v);
  }
  const ok = v(r.json);
  expect(ok ? [] : v.errors, label).toEqual([]);
  const documented = documentedKeys(files.get(file)!, file);
  expect(Object.keys(r.json).filter((k) => !documented.has(k)), `${name}: undocumented top-level keys`).toEqual([]);
  return r.json;
}

/** The error document of a failing command: its schema, the exit code it names, and `changed`. */
function expectError(r: CliResult, code: string, exit: number, changed = false): any {
  expect(r.code, r.stderr).toBe(exit);
  const doc = expectDoc('error', r);
  expect(doc.error).toMatchObject({ code, exitCode: exit });
  expect(doc.changed).toBe(changed);
  return doc;
}

let t: TestEnv | undefined;
let stopService: (() => Promise<unknown>) | undefined;
afterEach(async () => {
  await stopService?.().catch(() => undefined);
  stopService = undefined;
  await t?.cleanup();
  t = undefined;
});

describe('--json contract', () => {
  it('every schema file parses, compiles and is referenced from docs/cli.md', () => {
    const cliMd = fs.readFileSync(path.join(REPO, 'docs', 'cli.md'), 'utf8');
    for (const [f, s] of files) {
      expect(s['$id'], f).toBe(BASE + f);
      expect(ajv.getSchema(BASE + f), f).toBeDefined();
      expect(cliMd, `docs/cli.md links schemas/${f}`).toContain(`schemas/${f}`);
    }
  });

  it('--version --json, and plain --version unchanged', async () => {
    t = await makeTestEnv(inject('registryUrl'));
    const v = expectDoc('version', await runCli(['--version', '--json'], t.env));
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(v).toEqual({ schemaVersion: 1, name: 'oc-versions', version: pkg.version, node: process.versions.node });
    const plain = await runCli(['--version'], t.env);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(new RegExp(`^oc-versions/${pkg.version.replace(/\./g, '\\.')} `));
  });

  it('versions without a service: install, use, rollback, list, current, which, verify, pin, upgrade, prune, uninstall, recover, status, history, snapshot', async () => {
    t = await makeTestEnv(inject('registryUrl'));
    const cli = (...a: string[]) => runCli([...a, '--json'], t!.env);

    // A failing command before the home exists: the error document, nothing created.
    expectError(await cli('install', '9.9.9'), 'VERSION_NOT_FOUND', 3);
    expect(fs.existsSync(t.ocHome)).toBe(false);
    expectError(await cli('rollback'), 'NO_PREVIOUS', 3);
    expectError(await cli('install', '-'), 'INVALID_SPEC', 2);

    const first = expectDoc('install', await cli('install', '2026.1.1'));
    expect(first).toMatchObject({ changed: true, version: '2026.1.1', alreadyInstalled: false, current: true, transition: null });
    const again = expectDoc('install', await cli('install', '2026.1.1'));
    expect(again).toMatchObject({ changed: false, alreadyInstalled: true, current: true });
    expect(expectDoc('install', await cli('install', '2026.2.1'))).toMatchObject({ changed: true, current: false, transition: null });

    // use / rollback with no service: the transition's keys, its gate stages skipped.
    const use = expectDoc('use', await cli('use', '2026.2.1'));
    expect(use).toMatchObject({ changed: true, outcome: 'switched', from: '2026.1.1', to: '2026.2.1', txid: null, service: null, rollback: null, next: null, restoredEnvKeys: [] });
    expect(use.stages.map((s: { name: string; ok: boolean }) => [s.name, s.ok])).toEqual([
      ['installed+promoted', true],
      ['restarted+responsive', true],
      ['health-verified', true],
    ]);
    expect(use.stages[1].detail).toBe('skipped: no service installed');
    const useAgain = expectDoc('use', await cli('use', '2026.2.1'));
    expect(useAgain).toMatchObject({ changed: false, outcome: 'already-current', from: '2026.2.1', to: '2026.2.1' });
    expectError(await cli('use', '2026.9.9'), 'NOT_INSTALLED', 3);
    const rb = expectDoc('rollback', await cli('rollback'));
    expect(rb).toMatchObject({ changed: true, outcome: 'switched-back', from: '2026.2.1', to: '2026.1.1', service: null });
    expect(Object.keys(rb).sort()).toEqual(Object.keys(use).sort());

    const ls = expectDoc('list', await cli('list'));
    expect(ls.versions.map((v: { version: string }) => v.version)).toEqual(['2026.2.1', '2026.1.1']);
    const remote = expectDoc('list-remote', await cli('list', '--remote'));
    expect(remote.distTags.latest).toBe(LATEST_VERSION);
    expect(expectDoc('current', await cli('current'))).toMatchObject({ version: '2026.1.1' });
    expect(expectDoc('which', await cli('which')).entry).toMatch(/versions\/2026\.1\.1\//);
    expect(expectDoc('verify', await cli('verify'))).toMatchObject({ version: '2026.1.1', ok: true });

    expect(expectDoc('pin', await cli('pin', '2026.3'))).toMatchObject({ changed: true, pin: { spec: '2026.3' } });
    const pinAt = JSON.parse(fs.readFileSync(path.join(t.ocHome, 'config.json'), 'utf8')).pin.at;
    expect(expectDoc('pin', await cli('pin', '2026.3'))).toMatchObject({ changed: false, pin: { spec: '2026.3', at: pinAt } });
    expectError(await cli('pin', 'latest'), 'INVALID_SPEC', 2);
    expect(expectDoc('unpin', await cli('unpin'))).toMatchObject({ changed: true, pin: null, was: { spec: '2026.3' } });
    expect(expectDoc('unpin', await cli('unpin'))).toMatchObject({ changed: false, was: null });

    const dry = expectDoc('upgrade', await cli('upgrade', '2026.3.1', '--dry-run'));
    expect(dry).toMatchObject({ changed: false, dryRun: true, from: '2026.1.1', to: '2026.3.1' });
    expect(fs.existsSync(path.join(t.ocHome, 'versions', '2026.3.1'))).toBe(false);
    const up = expectDoc('upgrade', await cli('upgrade', '2026.3.1'));
    expect(up).toMatchObject({ changed: true, outcome: 'upgraded', from: '2026.1.1', to: '2026.3.1', service: null, canary: null });
    expect(typeof up.txid).toBe('string');
    expect(Object.keys(up).sort()).toEqual(Object.keys(use).sort());
    const upAgain = expectDoc('upgrade', await cli('upgrade', '2026.3.1'));
    expect(upAgain).toMatchObject({ changed: false, outcome: 'already-current', txid: null });
    expectError(await cli('upgrade', '9.9.9'), 'VERSION_NOT_FOUND', 3);

    // current 2026.3.1, previous 2026.1.1: 2026.2.1 is what prune --keep 0 removes.
    const pdry = expectDoc('prune', await cli('prune', '--keep', '0', '--dry-run'));
    expect(pdry).toMatchObject({ changed: false, dryRun: true, removed: ['2026.2.1'] });
    expect(expectDoc('prune', await cli('prune', '--keep', '0'))).toMatchObject({ changed: true, removed: ['2026.2.1'] });
    expect(expectDoc('prune', await cli('prune', '--keep', '0'))).toMatchObject({ changed: false, removed: [] });
    expectError(await cli('prune', '--keep', 'x'), 'INVALID_INPUT', 2);
    expectError(await cli('uninstall', '2026.3.1'), 'REFUSED', 2);
    expect(expectDoc('uninstall', await cli('uninstall', '2026.1.1', '--force'))).toMatchObject({ changed: true, removed: ['2026.1.1'] });
    expectError(await cli('uninstall', '2026.1.1'), 'NOT_INSTALLED', 3);

    expect(expectDoc('recover', await cli('recover'))).toMatchObject({ changed: false, recovered: false, outcome: 'none', version: '2026.3.1' });
    const st = expectDoc('status', await cli('status'));
    expect(st).toMatchObject({ current: '2026.3.1', previous: null, transaction: null, lock: null, service: null, pin: null });
    const hist = expectDoc('history', await cli('history'));
    const ops = hist.transitions.map((i: { op: string; outcome: string }) => `${i.op}:${i.outcome}`);
    expect(ops).toEqual(expect.arrayContaining(['upgrade:upgraded', 'rollback:switched-back', 'use:switched', 'uninstall:removed']));

    expect(expectDoc('snapshot-list', await cli('snapshot', 'list'))).toEqual({ schemaVersion: 1, snapshots: [] });
    const snap = expectDoc('snapshot-create', await cli('snapshot', 'create', '--reason', 'contract'));
    expect(snap).toMatchObject({ changed: true, reason: 'contract', version: '2026.3.1', service: null });
    const snaps = expectDoc('snapshot-list', await cli('snapshot', 'list'));
    expect(snaps.snapshots.map((m: { txid: string }) => m.txid)).toContain(snap.txid);
    expect(expectDoc('snapshot-show', await cli('snapshot', 'show', snap.txid)).meta.txid).toBe(snap.txid);
    expectError(await cli('snapshot', 'show', 'nope'), 'NOT_FOUND', 3);
    // state aside: a database a restore set aside (planted: a real SQLite file, schema 3), listed, then put back.
    expect(expectDoc('state-aside-list', await cli('state', 'aside', 'list')).aside).toEqual([]);
    const asideFile = path.join(t.home, '.openclaw', 'state', 'openclaw.sqlite.oc-set-aside-20261201T000000Z-abc123');
    fs.mkdirSync(path.dirname(asideFile), { recursive: true });
    const { DatabaseSync } = await import('node:sqlite');
    const adb = new DatabaseSync(asideFile);
    adb.exec('CREATE TABLE t(x); PRAGMA user_version=3;');
    adb.close();
    const al = expectDoc('state-aside-list', await cli('state', 'aside', 'list'));
    expect(al.aside).toEqual([expect.objectContaining({ aside: asideFile, original: path.join(t.home, '.openclaw', 'state', 'openclaw.sqlite'), schema: 3, liveSchema: null })]);
    const ar = expectDoc('state-aside-restore', await cli('state', 'aside', 'restore', asideFile));
    expect(ar).toMatchObject({ changed: true, setAside: null, restarted: false });
    expectError(await cli('state', 'aside', 'restore', asideFile), 'NOT_FOUND', 3);
    expectError(await cli('uninstall-all'), 'REFUSED', 2);
    expectError(await cli('frobnicate'), 'USAGE', 2);

    // doctor: read-only, then --fix of a planted stale staging dir, then a --fix with nothing to do
    const dr = expectDoc('doctor', await cli('doctor'));
    expect(dr.changed).toBe(false);
    const deadPid = spawnSync('true').pid; // exited and reaped: a dead owner
    fs.mkdirSync(path.join(t!.ocHome, 'staging', `2026.9.9.${deadPid}.0badc0de`), { recursive: true });
    const planted = expectDoc('doctor', await cli('doctor'));
    expect(planted.findings.some((f: { fixable: boolean }) => f.fixable)).toBe(true);
    const fixed = expectDoc('doctor', await cli('doctor', '--fix'));
    expect(fixed.changed).toBe(true);
    expect(fixed.findings.some((f: { fixed?: boolean }) => f.fixed === true)).toBe(true);
    expect(expectDoc('doctor', await cli('doctor', '--fix')).changed).toBe(false);
    for (const shell of ['bash', 'zsh', 'fish']) expect(expectDoc('completion', await cli('completion', shell)).shell).toBe(shell);
  });

  it('with a service (process backend, real fixture gateways): service install/status/stop/start/restart/uninstall, gated use/rollback, install --use', async () => {
    t = await makeTestEnv(inject('registryUrl'));
    const env = t.env;
    const cli = (...a: string[]) => runCli([...a, '--json'], env);
    const port = await freePort();
    expectDoc('install', await cli('install', '2026.1.1'));
    expectDoc('install', await cli('install', '2026.2.1'));
    const cfgPath = path.join(t.ocHome, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    cfg.health = { ...cfg.health, responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000, deepDeadlineMs: 20_000, probeIntervalMs: 100, settle: { probes: 2, minWindowMs: 400 } };
    cfg.service = { ...cfg.service, drainMs: 3_000 };
    fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
    const pidOf = async () => (await getJson(`http://127.0.0.1:${port}/info`))?.body.pid as number | undefined;

    expectError(await cli('service', 'uninstall', '--manager', 'process'), 'NOT_FOUND', 3);
    const args = ['service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--port', String(port), '--bind', 'loopback'];
    // --json before `--`: after it, it would be a gateway argument.
    const svc = expectDoc('service-install', await runCli([...args.slice(0, 4), '--json', ...args.slice(4)], env));
    stopService = () => runCli(['service', 'uninstall'], env);
    expect(svc).toMatchObject({ changed: true, action: 'install', manager: 'process', running: true });
    await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/healthz`))?.status === 200, 15_000, 'the gateway to answer /healthz');
    const pid = await pidOf();
    // The same install again: nothing rewritten, no restart.
    const again = expectDoc('service-install', await runCli([...args.slice(0, 4), '--json', ...args.slice(4)], env));
    expect(again).toMatchObject({ changed: false, running: true, pid: svc.pid });
    expect(await pidOf()).toBe(pid);

    expect(expectDoc('service-status', await cli('service', 'status'))).toMatchObject({ manager: 'process', installed: true, running: true, version: '2026.1.1' });
    expect(expectDoc('service-control', await cli('service', 'stop'))).toMatchObject({ changed: true, action: 'stop', running: false });
    expect(expectDoc('service-control', await cli('service', 'stop'))).toMatchObject({ changed: false, action: 'stop', running: false });
    expect(expectDoc('service-control', await cli('service', 'start'))).toMatchObject({ changed: true, action: 'start', running: true });
    expect(expectDoc('service-control', await cli('service', 'start'))).toMatchObject({ changed: false, action: 'start', running: true });
    expect(expectDoc('service-control', await cli('service', 'restart'))).toMatchObject({ changed: true, action: 'restart', running: true });
    await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/healthz`))?.status === 200, 15_000, 'the gateway to answer /healthz');

    // Gated use / rollback: the same keys as without a service, with the service and a transaction.
    const use = expectDoc('use', await cli('use', '2026.2.1'));
    expect(use).toMatchObject({ changed: true, outcome: 'switched', from: '2026.1.1', to: '2026.2.1', service: { manager: 'process' }, rollback: null });
    expect(typeof use.txid).toBe('string');
    expect(use.stages.slice(0, 3).map((s: { name: string; ok: boolean; detail: string }) => [s.name, s.ok, s.detail.startsWith('skipped')])).toEqual([
      ['installed+promoted', true, false],
      ['restarted+responsive', true, false],
      ['health-verified', true, false],
    ]);
    const rb = expectDoc('rollback', await cli('rollback'));
    expect(rb).toMatchObject({ changed: true, outcome: 'switched-back', from: '2026.2.1', to: '2026.1.1', service: { manager: 'process' } });
    // --no-restart with a service: the flip alone, said so in the stages.
    const flip = expectDoc('use', await cli('use', '2026.2.1', '--no-restart'));
    expect(flip).toMatchObject({ changed: true, outcome: 'switched', service: null, txid: null });
    expect(flip.stages[1].detail).toBe('skipped: --no-restart');
    expect(expectDoc('use', await cli('use', '2026.1.1'))).toMatchObject({ outcome: 'switched', service: { manager: 'process' } });

    const iu = expectDoc('install', await cli('install', '2026.3.1', '--use'));
    expect(iu).toMatchObject({ changed: true, current: true, transition: { changed: true, outcome: 'switched', from: '2026.1.1', to: '2026.3.1', service: { manager: 'process' } } });
    expect(Object.keys(iu.transition).sort()).toEqual(Object.keys(use).filter((k) => k !== 'schemaVersion').sort());
    const hist = expectDoc('history', await cli('history'));
    // install --use, the gated use, the --no-restart flip (state.json's record), the gated rollback
    expect(hist.transitions.slice(0, 4).map((i: { op: string; outcome: string }) => `${i.op}:${i.outcome}`)).toEqual(['use:switched', 'use:switched', 'use:switched', 'rollback:switched-back']);

    expect(expectDoc('service-uninstall', await cli('service', 'uninstall'))).toMatchObject({ changed: true, action: 'uninstall', manager: 'process' });
    stopService = undefined;
    expectError(await cli('service', 'uninstall', '--manager', 'process'), 'NOT_FOUND', 3);
    expect(expectDoc('status', await cli('status')).service).toBeNull();
  });
});
