/**
 * The canary (src/openclaw/canary.ts) against real installed fixture versions: a live gateway of
 * the "from" version serves from a live state dir (config with a secret, a WAL SQLite database
 * with uncheckpointed rows, an agent database, a plugin project linking the host package, a
 * .env with a provider key) while runCanary copies that state and starts the target beside it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, type Config } from '../../src/core/config.js';
import { makeLayout, type Layout } from '../../src/core/layout.js';
import { isAlive } from '../../src/os/proc.js';
import { resolveEntry } from '../../src/core/store.js';
import {
  besideStateDir,
  CANARY_ENV,
  canaryAllowanceMs,
  canaryArgs,
  runCanary,
  sweepCanary,
  type CanaryInput,
  type CanaryResult,
} from '../../src/openclaw/canary.js';
import { envRefConfigText } from '../../src/openclaw/state-copy.js';
import { grepTree, makeTestEnv, REPO, runCli, type TestEnv } from '../helpers/cli.js';
import { LATEST_VERSION, LEGACY_CLI_VERSION, VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { freePort, getJson, waitFor } from '../helpers/gateway.js';

const registryUrl = inject('registryUrl');
const FROM = '2026.3.1';
const TO = LATEST_VERSION; // 2026.4.1
const SECRET_TOKEN = `canary-token-${Math.random().toString(36).slice(2)}`;
const SECRET_DOTENV = `canary-dotenv-${Math.random().toString(36).slice(2)}`;
const SECRET_SERVICE = `canary-svc-${Math.random().toString(36).slice(2)}`;

let t: TestEnv;
let layout: Layout;
let config: Config;
let stateDir: string;
let livePort: number;
let live: ChildProcess;
let liveDb: DatabaseSync;
const spawned: ChildProcess[] = [];

function sha256File(p: string): string {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

function liveChecksums(): Record<string, string> {
  const out: Record<string, string> = {};
  // -shm is excluded: any reader (the canary's backup connection included) updates its read marks.
  for (const rel of ['openclaw.json', '.env', 'state/openclaw.sqlite', 'state/openclaw.sqlite-wal', 'agents/main/agent/openclaw-agent.sqlite']) {
    out[rel] = sha256File(path.join(stateDir, rel));
  }
  return out;
}

function redact(text: string): string {
  return text.split(SECRET_SERVICE).join('***');
}

function input(version: string, extra: Partial<CanaryInput> = {}): CanaryInput {
  return {
    layout,
    config,
    version,
    stateDir,
    livePort,
    gatewayArgs: ['gateway', 'run', '--port', String(livePort), '--bind', 'lan'],
    serviceEnv: {
      HOME: t.home,
      PATH: t.env['PATH']!,
      OPENCLAW_STATE_DIR: stateDir,
      TMPDIR: path.join(stateDir, 'tmp'),
      OPENCLAW_GATEWAY_TOKEN: SECRET_SERVICE,
      OPENCLAW_SERVICE_MARKER: 'openclaw',
      OPENCLAW_GATEWAY_PORT: String(livePort),
    },
    redact,
    ...extra,
  };
}

/** Pids whose environment carries the canary marker `id`. */
function markedPids(id: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (fs.readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`${CANARY_ENV}=${id}`)) out.push(Number(p));
    } catch {
      // gone or not ours
    }
  }
  return out;
}

async function assertNothingLeft(id: string, r: CanaryResult): Promise<void> {
  // A killed process keeps its environment readable until the kernel has torn it down.
  await waitFor(async () => markedPids(id).length === 0, 5_000, 'no process with the canary marker').catch(() => undefined);
  expect(markedPids(id)).toEqual([]);
  expect(fs.existsSync(layout.canary(id))).toBe(false);
  expect(fs.existsSync(layout.canaryRecord(id))).toBe(false);
  if (r.port !== null) expect(await getJson(`http://127.0.0.1:${r.port}/healthz`, 500)).toBeNull();
}

function check(r: CanaryResult, name: string) {
  return r.checks.find((c) => c.name === name);
}

beforeAll(async () => {
  t = await makeTestEnv(registryUrl);
  for (const v of [FROM, TO, LEGACY_CLI_VERSION, VARIANT_VERSIONS['crash-on-state'], VARIANT_VERSIONS['readyz-503'], VARIANT_VERSIONS['preflight-fails']]) {
    const r = await runCli(['install', v], t.env);
    expect(r.code, r.stderr).toBe(0);
  }
  layout = makeLayout(t.ocHome);
  config = await loadConfig(layout, process.execPath);
  config.canary = { ...config.canary, defaultAllowanceMs: 15_000, minAllowanceMs: 10_000, timeoutMs: 20_000, stopGraceMs: 3_000 };

  // The live state.
  stateDir = t.env['OPENCLAW_STATE_DIR']!;
  livePort = await freePort();
  await fsp.mkdir(path.join(stateDir, 'state'), { recursive: true });
  await fsp.mkdir(path.join(stateDir, 'agents', 'main', 'agent'), { recursive: true });
  await fsp.writeFile(
    path.join(stateDir, 'openclaw.json'),
    JSON.stringify({ gateway: { mode: 'local', port: livePort, auth: { mode: 'token', token: SECRET_TOKEN } }, update: { checkOnStart: false } }, null, 2),
  );
  await fsp.writeFile(path.join(stateDir, '.env'), `FIXTURE_PROVIDER_API_KEY=${SECRET_DOTENV}\n`);
  liveDb = new DatabaseSync(path.join(stateDir, 'state', 'openclaw.sqlite'));
  // Rows that live only in the -wal until a checkpoint: a plain file copy would miss them.
  liveDb.exec('PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT);');
  for (let i = 0; i < 50; i++) liveDb.prepare('INSERT INTO kv VALUES (?, ?)').run(`k${i}`, `v${i}`);
  const agent = new DatabaseSync(path.join(stateDir, 'agents', 'main', 'agent', 'openclaw-agent.sqlite'));
  agent.exec('CREATE TABLE sessions(id TEXT); INSERT INTO sessions VALUES (\'s1\'); PRAGMA user_version = 19;');
  agent.close();
  // A plugin project whose host peer dependency links the installed version (doctor relinks it).
  const project = path.join(stateDir, 'npm', 'projects', 'acpx');
  await fsp.mkdir(path.join(project, 'node_modules'), { recursive: true });
  await fsp.writeFile(path.join(project, 'package.json'), '{"name":"acpx-project","private":true}\n');
  await fsp.symlink(path.join(layout.version(FROM), 'node_modules', 'openclaw'), path.join(project, 'node_modules', 'openclaw'));
  await fsp.mkdir(path.join(stateDir, 'extensions', 'local-demo'), { recursive: true });
  await fsp.writeFile(path.join(stateDir, 'extensions', 'local-demo', 'openclaw.plugin.json'), '{"id":"local-demo"}\n');

  // The live gateway of FROM keeps serving throughout.
  const entry = resolveEntry(layout, FROM, 'service')!;
  live = spawn(process.execPath, [entry, 'gateway', 'run', '--port', String(livePort)], {
    env: { PATH: t.env['PATH'], HOME: t.home, OPENCLAW_STATE_DIR: stateDir },
    stdio: 'ignore',
  });
  spawned.push(live);
  await waitFor(async () => (await getJson(`http://127.0.0.1:${livePort}/startupz`))?.status === 200, 15_000, 'the live gateway');
}, 240_000);

afterAll(async () => {
  liveDb?.close();
  for (const c of spawned) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await t?.cleanup();
});

describe('pure parts', () => {
  it('canaryArgs replaces the port and forces a loopback bind; adds --port when absent', () => {
    expect(canaryArgs(['gateway', '--port', '18789'], 18909)).toEqual(['gateway', '--port', '18909', '--bind', 'loopback']);
    expect(canaryArgs(['gateway', 'run', '--port=1', '--bind=lan', '--verbose'], 2000)).toEqual(['gateway', 'run', '--port=2000', '--bind=loopback', '--verbose']);
    expect(canaryArgs(['gateway', '--bind', 'tailnet'], 3000)).toEqual(['gateway', '--bind', 'loopback', '--port', '3000']);
    expect(canaryArgs(undefined, 4000)).toEqual(['gateway', '--port', '4000', '--bind', 'loopback']);
  });

  it('the allowance follows the measured start time, floored, else the default', () => {
    const c = { ...config.canary, allowanceFactor: 3, minAllowanceMs: 4_000, defaultAllowanceMs: 15_000 };
    expect(canaryAllowanceMs(c, 5_000)).toBe(15_000);
    expect(canaryAllowanceMs(c, 100)).toBe(4_000);
    expect(canaryAllowanceMs(c, null)).toBe(15_000);
  });

  it('envRefConfigText swaps secret values for env references and keeps the values (decoded) in memory', () => {
    const text = `{ "gateway": { "auth": { "token": "a\\"b" } }, apiKey: 'x\\'y', "name": "keep", "password": "\${ALREADY}" }`;
    const r = envRefConfigText(text, 'TOKEN|KEY|SECRET|PASSWORD');
    expect(r.text).toBe(`{ "gateway": { "auth": { "token": "\${OC_CANARY_SECRET_0}" } }, apiKey: '\${OC_CANARY_SECRET_1}', "name": "keep", "password": "\${ALREADY}" }`);
    expect(r.env).toEqual({ OC_CANARY_SECRET_0: 'a"b', OC_CANARY_SECRET_1: "x'y" });
  });
});

describe('runCanary on copied state', () => {
  for (const wholeState of [true, false]) it(`a good version passes beside the live gateway (${wholeState ? 'the whole state, copied beside it' : 'the selective copy'}); the live state is unchanged; no secret lands under the home`, async () => {
    const id = `canary-test-good-${wholeState ? 'whole' : 'part'}`;
    const before = liveChecksums();
    // A state file the selective copy leaves out (the whole copy has it), and one the exclude list does.
    await fsp.mkdir(path.join(stateDir, 'agents', 'main', 'sessions'), { recursive: true });
    await fsp.writeFile(path.join(stateDir, 'agents', 'main', 'sessions', 'sessions.json'), '{"s1":{}}\n');
    await fsp.mkdir(path.join(stateDir, 'logs'), { recursive: true });
    await fsp.writeFile(path.join(stateDir, 'logs', 'gateway.log'), 'a log line\n');
    // Both scopes put their copy (and the canary's HOME) beside the live state dir, never under the home.
    const copy = path.join(besideStateDir(stateDir, id), 'state');
    const seenDuringRun: { hits: string[]; config: string; rows: number; dbFiles: string[]; link: string; sessions: boolean; logs: boolean } = { hits: [], config: '', rows: -1, dbFiles: [], link: '', sessions: false, logs: true };
    const r = await runCanary(input(TO, { id, measuredStartMs: 1_000, config: { ...config, canary: { ...config.canary, wholeState } } }), (msg) => {
      if (!msg.startsWith('canary: starting')) return;
      // The copy exists now: look at it as an attacker with read access to the home would.
      seenDuringRun.sessions = fs.existsSync(path.join(copy, 'agents', 'main', 'sessions', 'sessions.json'));
      seenDuringRun.logs = fs.existsSync(path.join(copy, 'logs'));
      seenDuringRun.hits = [...grepTree(t.ocHome, SECRET_TOKEN), ...grepTree(t.ocHome, SECRET_DOTENV), ...grepTree(t.ocHome, SECRET_SERVICE)];
      seenDuringRun.config = fs.readFileSync(path.join(copy, 'openclaw.json'), 'utf8');
      const db = new DatabaseSync(path.join(copy, 'state', 'openclaw.sqlite'), { readOnly: true });
      seenDuringRun.rows = (db.prepare('SELECT count(*) AS n FROM kv').get() as { n: number }).n;
      db.close();
      seenDuringRun.dbFiles = fs.readdirSync(path.join(copy, 'state')).sort();
      seenDuringRun.link = fs.readlinkSync(path.join(copy, 'npm', 'projects', 'acpx', 'node_modules', 'openclaw'));
    });
    expect(r.ok, r.detail).toBe(true);
    expect(r.name).toBe('canary');
    expect(r.startMs).toBeGreaterThan(0);
    expect(r.startMs!).toBeLessThan(r.allowanceMs);
    expect(r.allowanceMs).toBe(10_000); // max(minAllowanceMs, 1000 × 3)
    expect(r.port).toBeGreaterThanOrEqual(livePort + 120);
    expect(r.checks.map((c) => [c.name, c.status])).toEqual([
      ['copy state', 'ok'],
      ['seal', 'ok'],
      ['doctor lint', 'ok'],
      ['database preflight state/openclaw.sqlite', 'ok'],
      ['agent database preflight agents/main/agent/openclaw-agent.sqlite', 'ok'],
      ['startupz', 'ok'],
      ['readyz', 'ok'],
      ['stop', 'ok'],
    ]);
    expect(check(r, 'copy state')!.detail).toContain('1 secret value(s) as env references');
    // ext4 here: no clones; a state this small is copied whole, beside the live one, logs left out.
    expect(r.scope).toBe(wholeState ? 'whole-copy' : 'selective');
    expect(r.detail).toMatch(wholeState ? /rehearsed on the whole state of .*, copied beside it \(its filesystem cannot clone/ : /rehearsed on part of the state of .*canary\.wholeState is false/);
    expect(seenDuringRun.sessions).toBe(wholeState);
    expect(seenDuringRun.logs).toBe(false);
    expect(fs.existsSync(copy)).toBe(false);

    // During the run: references, not values; WAL rows present; one file per database; link re-pointed.
    expect(seenDuringRun.hits).toEqual([]);
    expect(seenDuringRun.config).toContain('"token": "${OC_CANARY_SECRET_0}"');
    expect(seenDuringRun.rows).toBe(50);
    expect(seenDuringRun.dbFiles).toEqual(['openclaw.sqlite']);
    expect(seenDuringRun.link).toBe(path.join(layout.version(TO), 'node_modules', 'openclaw'));

    // What the canary gateway itself saw (its log): the copy, the flags, the secret resolved from env.
    const log = r.log.join('\n');
    expect(log).toContain(`state dir ${copy}`);
    expect(log).toContain('env flags OPENCLAW_SKIP_CHANNELS=1 OPENCLAW_SKIP_CRON=1 OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_DISABLE_BONJOUR=1 OPENCLAW_SUPERVISOR_MODE=external');
    expect(log).toContain(`compile cache ${layout.compileCache(TO)}`);
    expect(log).toContain('1 env ref(s) resolved, unresolved: (none)');
    expect(log).toContain(`gateway.auth.token sha256:${createHash('sha256').update(SECRET_TOKEN).digest('hex').slice(0, 12)}`);
    expect(log).toMatch(/secret-looking env keys .*FIXTURE_PROVIDER_API_KEY/);
    expect(log).toContain(`plugin host link acpx -> openclaw@${TO}`);
    expect(log).toContain(`listening on 127.0.0.1:${r.port}`);
    for (const s of [SECRET_TOKEN, SECRET_DOTENV, SECRET_SERVICE]) expect(log + r.detail).not.toContain(s);
    expect(fs.existsSync(layout.compileCache(TO))).toBe(true);

    // The live side: untouched.
    expect(liveChecksums()).toEqual(before);
    expect(fs.readlinkSync(path.join(stateDir, 'npm', 'projects', 'acpx', 'node_modules', 'openclaw'))).toBe(path.join(layout.version(FROM), 'node_modules', 'openclaw'));
    expect((await getJson(`http://127.0.0.1:${livePort}/startupz`))?.body.version).toBe(FROM);
    for (const s of [SECRET_TOKEN, SECRET_DOTENV, SECRET_SERVICE]) expect(grepTree(t.ocHome, s)).toEqual([]);
    await assertNothingLeft(id, r);
  });

  it('a version that starts on empty state but crashes on the copied state is refused with its log tail', async () => {
    const v = VARIANT_VERSIONS['crash-on-state'];
    const empty = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-canary-empty-'));
    try {
      const onEmpty = await runCanary(input(v, { id: 'canary-test-empty', stateDir: empty }));
      expect(onEmpty.ok, onEmpty.detail).toBe(true);
      await assertNothingLeft('canary-test-empty', onEmpty);
    } finally {
      await fsp.rm(empty, { recursive: true, force: true });
    }
    liveDb.exec('PRAGMA user_version = 99'); // the marker: a state schema newer than this build knows
    try {
      const id = 'canary-test-crash';
      const r = await runCanary(input(v, { id }));
      expect(r.ok).toBe(false);
      expect(check(r, 'startupz')).toMatchObject({ ok: false, status: 'failed' });
      expect(r.detail).toMatch(/the gateway exited \(code 1\) before \/startupz reported started/);
      expect(r.detail).toContain('gateway log ends:');
      expect(r.detail).toContain('state schema 99 is newer than this build supports (18)');
      expect(r.startMs).toBeNull();
      for (const s of [SECRET_TOKEN, SECRET_DOTENV, SECRET_SERVICE]) expect(r.detail).not.toContain(s);
      await assertNothingLeft(id, r);
    } finally {
      liveDb.exec('PRAGMA user_version = 0');
    }
    expect((await getJson(`http://127.0.0.1:${livePort}/startupz`))?.body.version).toBe(FROM);
  });

  it('readyz 503 is refused within the allowance, naming what is failing', async () => {
    const id = 'canary-test-readyz';
    const t0 = Date.now();
    const r = await runCanary(input(VARIANT_VERSIONS['readyz-503'], { id, measuredStartMs: 500 }));
    expect(r.ok).toBe(false);
    expect(r.allowanceMs).toBe(10_000);
    expect(check(r, 'startupz')!.status).toBe('ok');
    expect(check(r, 'readyz')!.status).toBe('failed');
    expect(r.detail).toContain('not ready within the 10000 ms allowance');
    expect(r.detail).toContain('failing: channel:fixture');
    expect(Date.now() - t0).toBeLessThan(10_000 + 10_000);
    expect(check(r, 'stop')!.ok).toBe(true);
    await assertNothingLeft(id, r);
  });

  it('a failing database preflight refuses before the gateway starts, naming the database', async () => {
    const id = 'canary-test-preflight';
    const r = await runCanary(input(VARIANT_VERSIONS['preflight-fails'], { id }));
    expect(r.ok).toBe(false);
    expect(r.detail).toContain('database preflight refused the database state/openclaw.sqlite');
    expect(r.detail).toContain('incompatible');
    expect(check(r, 'database preflight state/openclaw.sqlite')).toMatchObject({ status: 'failed' });
    expect(check(r, 'startupz')).toBeUndefined();
    expect(r.port).toBeNull();
    expect(r.log).toEqual([]);
    await assertNothingLeft(id, r);
  });

  it('preflight commands the target does not know are reported unsupported and skipped', async () => {
    const id = 'canary-test-legacy';
    const r = await runCanary(input(LEGACY_CLI_VERSION, { id }));
    expect(r.ok, r.detail).toBe(true);
    expect(check(r, 'doctor lint')).toMatchObject({ ok: true, status: 'unsupported' });
    expect(check(r, 'doctor lint')!.detail).toContain("unknown option '--lint'");
    expect(check(r, 'database preflight state/openclaw.sqlite')).toMatchObject({ ok: true, status: 'unsupported' });
    expect(check(r, 'readyz')!.status).toBe('ok');
    await assertNothingLeft(id, r);
  });

  it('disabled in config: skipped, nothing started', async () => {
    const r = await runCanary({ ...input(TO), config: { ...config, canary: { ...config.canary, enabled: false } } });
    expect(r).toMatchObject({ ok: true, detail: 'skipped: canary.enabled is false', port: null, checks: [] });
  });
});

describe('sweepCanary', () => {
  it('kills the canary of a SIGKILLed runner and removes its copy and record', async () => {
    const id = 'canary-test-orphan';
    const runner = path.join(t.ocHome, '..', 'runner.mjs');
    const dist = path.join(REPO, 'dist');
    await fsp.writeFile(
      runner,
      `import { runCanary } from ${JSON.stringify(path.join(dist, 'openclaw', 'canary.js'))};
import { makeLayout } from ${JSON.stringify(path.join(dist, 'core', 'layout.js'))};
const args = JSON.parse(process.argv[2]);
args.layout = makeLayout(args.home);
args.redact = (s) => s;
await runCanary(args, (m) => console.log(m));
console.log('runner finished');
`,
    );
    const slow = { ...config, canary: { ...config.canary, defaultAllowanceMs: 60_000 } };
    const payload = { ...input(VARIANT_VERSIONS['readyz-503'], { id }), layout: undefined, redact: undefined, config: slow, home: t.ocHome };
    const child = spawn(process.execPath, [runner, JSON.stringify(payload)], { stdio: ['ignore', 'pipe', 'pipe'] });
    spawned.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    // Mid-way: the canary answers /startupz but will never be ready.
    const rec = await waitFor(
      async () => {
        const r = fs.existsSync(layout.canaryRecord(id)) ? JSON.parse(fs.readFileSync(layout.canaryRecord(id), 'utf8')) : null;
        return r?.pid && (await getJson(`http://127.0.0.1:${r.port}/startupz`))?.status === 200 ? r : null;
      },
      30_000,
      'the orphan canary to start',
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(out).not.toContain('runner finished');
    expect(isAlive(rec.pid)).toBe(true); // detached: it outlived its runner
    expect(markedPids(id)).toContain(rec.pid);
    expect(fs.existsSync(rec.dir)).toBe(true);
    // The scratch beside the live state (its copy, its HOME), named in the record.
    expect(rec.beside).toBe(besideStateDir(stateDir, id));
    expect(fs.existsSync(path.join(rec.beside, 'state', 'openclaw.json'))).toBe(true);
    expect(fs.existsSync(path.join(rec.beside, 'home'))).toBe(true);

    const report = await sweepCanary(layout, { graceMs: 2_000 });
    expect(report.swept).toContain(id);
    expect(report.killed).toContain(rec.pid);
    expect(report.removed).toContain(rec.dir);
    expect(report.removed).toContain(rec.beside);
    expect(fs.existsSync(rec.beside)).toBe(false);
    expect(fs.readdirSync(path.dirname(stateDir)).filter((n) => n.includes('.oc-canary.'))).toEqual([]);
    await waitFor(async () => !isAlive(rec.pid), 5_000, 'the orphan to die');
    await waitFor(async () => markedPids(id).length === 0, 5_000, 'no process with the canary marker').catch(() => undefined);
    expect(markedPids(id)).toEqual([]);
    expect(fs.existsSync(rec.dir)).toBe(false);
    expect(fs.existsSync(layout.canaryRecord(id))).toBe(false);
    expect(await getJson(`http://127.0.0.1:${rec.port}/healthz`, 500)).toBeNull();
    expect((await getJson(`http://127.0.0.1:${livePort}/startupz`))?.body.version).toBe(FROM);
  });

  it('never signals a pid that is not its canary (reused pid, wrong start time or no marker), but clears the record', async () => {
    const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', detached: true });
    spawned.push(bystander);
    const pid = bystander.pid!;
    const start = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]!;
    await fsp.mkdir(layout.canaryDir, { recursive: true });
    const records = [
      { id: 'canary-test-reused', procStart: '1' }, // a different process start time: the pid was reused
      { id: 'canary-test-nomarker', procStart: start }, // same process, but it carries no canary marker
    ];
    for (const r of records) {
      await fsp.mkdir(layout.canary(r.id), { recursive: true });
      fs.writeFileSync(
        layout.canaryRecord(r.id),
        JSON.stringify({ id: r.id, version: TO, runnerPid: 999_999_999, runnerStart: null, dir: layout.canary(r.id), port: 1, pid, pgid: pid, procStart: r.procStart, startedAt: new Date().toISOString() }),
      );
    }
    // A stray copy dir with no record (its runner died before writing one) is garbage.
    await fsp.mkdir(layout.canary('canary-test-stray'), { recursive: true });
    const report = await sweepCanary(layout, { graceMs: 500 });
    expect(report.killed).toEqual([]);
    expect(report.swept.sort()).toEqual(['canary-test-nomarker', 'canary-test-reused']);
    expect(report.removed).toContain(layout.canary('canary-test-stray'));
    await new Promise((r) => setTimeout(r, 300));
    expect(isAlive(pid)).toBe(true);
    expect(fs.readdirSync(layout.canaryDir)).toEqual([]);
    process.kill(-pid, 'SIGKILL');
  });

  it('leaves a canary alone while its runner is alive', async () => {
    const id = 'canary-test-running';
    await fsp.mkdir(layout.canary(id), { recursive: true });
    // A runner that is alive: the parent of this worker (not this process, which sweeps).
    const runnerPid = process.ppid;
    const runnerStart = fs.readFileSync(`/proc/${runnerPid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]!;
    fs.writeFileSync(layout.canaryRecord(id), JSON.stringify({ id, version: TO, runnerPid, runnerStart, dir: layout.canary(id), port: null, pid: null, pgid: null, procStart: null, startedAt: null }));
    const report = await sweepCanary(layout);
    expect(report.running).toEqual([id]);
    expect(fs.existsSync(layout.canary(id))).toBe(true);
    await fsp.rm(layout.canary(id), { recursive: true });
    await fsp.rm(layout.canaryRecord(id));
  });
});
