/**
 * The launchd model (test/helpers/doubles/launchctl.mjs, the suite's one documented mock) and
 * the launchd backend on it: launchd's behaviours one by one with real jobs and real signals,
 * then what the backend must do about them (issue 27's Must-hold lines): a gateway that drains
 * 5 s, a label the user disabled, and a session without a GUI domain.
 * No upper time bounds: causes and the order of events only.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { build, parse } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as service } from '../../src/commands/service.js';
import { ERROR_EXIT, isOcError } from '../../src/errors.js';
import { isAlive, processEnviron } from '../../src/os/proc.js';
import { buildBinaryPlist } from '../helpers/doubles/bplist.mjs';
import { filesContaining, freePort, makeContext, makeFakeHome, waitForJson, type FakeHome } from '../helpers/fake-home.js';
import { bootoutAndWait, killRecordedJobs, launchctl } from '../helpers/launchd-model.js';
import { openService } from '../../src/app/service.js';
import { openServicePort } from '../../src/app/service-port.js';
import { loadedJobAgrees, readDefinitionRecord } from '../../src/service/definition.js';
import { killDoubleJobs, serviceEnv } from '../helpers/openclaw-service.js';

const uid = String(process.getuid!());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | null | undefined | false): Promise<T> {
  // A generous safety net against a hang, not a pass/fail bound.
  for (let i = 0; i < 1200; i++) {
    const v = fn();
    if (v) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A job that logs its events: `start <pid>`, `term <pid>`, `exit <pid>`; MODE decides how it ends. */
const JOB = `
const fs = require('fs');
const log = (w) => fs.appendFileSync(process.env.EVENTS, w + ' ' + process.pid + '\\n');
log('start');
const mode = process.env.MODE || 'drain';
if (mode === 'exit0') { log('exit'); process.exit(0); }
if (mode === 'exit1') { log('exit'); process.exit(1); }
process.on('SIGTERM', () => {
  log('term');
  if (mode === 'ignore-term') return;
  setTimeout(() => { log('exit'); process.exit(0); }, Number(process.env.DRAIN_MS || 0));
});
setInterval(() => {}, 1000);
`;

describe('the launchd model: launchd behaviours with real jobs', () => {
  let root = '';
  let env: NodeJS.ProcessEnv;
  let n = 0;

  beforeAll(async () => {
    root = await fsp.mkdtemp(path.join(fs.realpathSync('/tmp'), 'launchd-model-'));
    await fsp.writeFile(path.join(root, 'job.cjs'), JOB);
    env = { ...serviceEnv({ root, userHome: root } as FakeHome) };
  });
  afterAll(async () => {
    killRecordedJobs(path.join(root, 'double-state'));
    await fsp.rm(root, { recursive: true, force: true });
  });

  /** Write a job plist; returns its label, target, events file. */
  async function job(keys: Record<string, unknown>, jobEnv: Record<string, string> = {}, binary = false) {
    const label = `test.model.${++n}`;
    const events = path.join(root, `${label}.events`);
    const file = path.join(root, `${label}.plist`);
    const doc = {
      Label: label,
      ProgramArguments: [process.execPath, path.join(root, 'job.cjs')],
      EnvironmentVariables: { EVENTS: events, ...jobEnv },
      ThrottleInterval: 1,
      ExitTimeOut: 30,
      ...keys,
    };
    await fsp.writeFile(file, binary ? buildBinaryPlist(doc) : build(doc as Parameters<typeof build>[0]));
    const read = () => (fs.existsSync(events) ? fs.readFileSync(events, 'utf8').trim().split('\n') : []);
    return { label, target: `gui/${uid}/${label}`, file, events: read };
  }

  it('bootout is asynchronous: SIGTERMed in print and bootstrap fails with 5 until the job has drained; then not found (113)', async () => {
    const j = await job({ RunAtLoad: true, KeepAlive: true }, { DRAIN_MS: '1500' });
    expect(launchctl(env, 'bootstrap', `gui/${uid}`, j.file).status).toBe(0);
    await until('the job to start', () => j.events().length > 0);
    expect(launchctl(env, 'bootout', j.target).status).toBe(0);
    const p = launchctl(env, 'print', j.target);
    expect(p.status).toBe(0);
    expect(p.stdout).toMatch(/^\tstate = SIGTERMed$/m);
    const again = launchctl(env, 'bootstrap', `gui/${uid}`, j.file);
    expect(again.status).toBe(5);
    expect(again.stderr).toMatch(/Bootstrap failed: 5: Input\/output error/);
    expect(launchctl(env, 'bootout', j.target).status).toBe(36);
    await until('the job to be unloaded', () => launchctl(env, 'print', j.target).status === 113);
    expect(launchctl(env, 'print', j.target).stderr).toMatch(/Could not find service/);
    // It drained and exited on its own (no SIGKILL): term, then exit.
    expect(j.events().map((e) => e.split(' ')[0])).toEqual(['start', 'term', 'exit']);
  });

  it("ExitTimeOut: a job that ignores SIGTERM is SIGKILLed after the plist's ExitTimeOut", async () => {
    const j = await job({ RunAtLoad: true, ExitTimeOut: 1 }, { MODE: 'ignore-term' });
    expect(launchctl(env, 'bootstrap', `gui/${uid}`, j.file).status).toBe(0);
    await until('start', () => j.events().length > 0);
    const pid = Number(j.events()[0]!.split(' ')[1]);
    launchctl(env, 'bootout', j.target);
    await until('unloaded', () => launchctl(env, 'print', j.target).status === 113);
    expect(isAlive(pid)).toBe(false);
    expect(j.events().map((e) => e.split(' ')[0])).toEqual(['start', 'term']);
  });

  it('kickstart -k kills with SIGKILL (no drain) and starts a new instance', async () => {
    const j = await job({ RunAtLoad: true, KeepAlive: true });
    launchctl(env, 'bootstrap', `gui/${uid}`, j.file);
    await until('start', () => j.events().length > 0);
    expect(launchctl(env, 'kickstart', '-k', j.target).status).toBe(0);
    const p = launchctl(env, 'print', j.target).stdout;
    expect(p).toMatch(/^\tlast terminating signal = Killed: 9$/m);
    expect(j.events().map((e) => e.split(' ')[0])).toEqual(['start', 'start']);
    launchctl(env, 'bootout', j.target);
  });

  it('KeepAlive SuccessfulExit=false: a clean exit stays down, a failure is respawned no sooner than ThrottleInterval', async () => {
    const clean = await job({ KeepAlive: { SuccessfulExit: false } }, { MODE: 'exit0' });
    launchctl(env, 'bootstrap', `gui/${uid}`, clean.file);
    await until('exit', () => clean.events().length >= 2);
    await sleep(1500); // past ThrottleInterval (1 s)
    expect(clean.events().filter((e) => e.startsWith('start'))).toHaveLength(1);
    expect(launchctl(env, 'print', clean.target).stdout).toMatch(/^\tlast exit code = 0$/m);

    const failing = await job({ KeepAlive: { SuccessfulExit: false } }, { MODE: 'exit1' });
    const t0 = Date.now();
    launchctl(env, 'bootstrap', `gui/${uid}`, failing.file);
    await until('a respawn', () => failing.events().filter((e) => e.startsWith('start')).length >= 2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    launchctl(env, 'bootout', clean.target);
    launchctl(env, 'bootout', failing.target);
  });

  it("launchd does not create the log directory: the job never starts (78: EX_CONFIG)", async () => {
    const j = await job({ RunAtLoad: true, StandardOutPath: path.join(root, 'no-such-dir', 'out.log') });
    expect(launchctl(env, 'bootstrap', `gui/${uid}`, j.file).status).toBe(0);
    await until('the failed spawn', () => /last exit code = 78: EX_CONFIG/.test(launchctl(env, 'print', j.target).stdout));
    expect(j.events()).toEqual([]);
    expect(fs.existsSync(path.join(root, 'no-such-dir'))).toBe(false);
    launchctl(env, 'bootout', j.target);
  });

  it('a binary plist is loaded like an XML one; print shows its environment block', async () => {
    const j = await job({ RunAtLoad: true }, { SOME_KEY: 'some value' }, true);
    expect(fs.readFileSync(j.file).subarray(0, 8).toString()).toBe('bplist00');
    expect(launchctl(env, 'bootstrap', `gui/${uid}`, j.file).status).toBe(0);
    await until('start', () => j.events().length > 0);
    const p = launchctl(env, 'print', j.target).stdout;
    expect(p).toMatch(/^\tenvironment = \{$/m);
    expect(p).toMatch(/^\t\tSOME_KEY => some value$/m);
    expect(p).toContain(`\tpath = ${j.file}`);
    launchctl(env, 'bootout', j.target);
  });

  it('disable is persistent: bootstrap fails with 5 until enable; print-disabled lists the override', async () => {
    const j = await job({ RunAtLoad: true });
    expect(launchctl(env, 'disable', j.target).status).toBe(0);
    expect(launchctl(env, 'print-disabled', `gui/${uid}`).stdout).toContain(`"${j.label}" => disabled`);
    expect(launchctl(env, 'bootstrap', `gui/${uid}`, j.file).status).toBe(5);
    expect(launchctl(env, 'enable', j.target).status).toBe(0);
    expect(launchctl(env, 'bootstrap', `gui/${uid}`, j.file).status).toBe(0);
    expect(launchctl(env, 'bootstrap', `gui/${uid}`, j.file).status).toBe(37);
    launchctl(env, 'bootout', j.target);
  });

  it('no GUI session: every gui/<uid> command fails with 125', async () => {
    const j = await job({ RunAtLoad: true });
    const noGui = { ...env, OC_LAUNCHD_MODEL_NO_GUI: '1' };
    for (const args of [['bootstrap', `gui/${uid}`, j.file], ['print', j.target], ['print', `gui/${uid}`], ['bootout', j.target], ['kickstart', j.target], ['enable', j.target]]) {
      const r = launchctl(noGui, ...args);
      expect(r.status, args.join(' ')).toBe(125);
      expect(r.stderr).toMatch(/Domain does not support specified action|Could not find domain/);
    }
    expect(launchctl(noGui, 'managername').stdout.trim()).toBe('Background');
  });
});

describe('the launchd backend on the model', () => {
  let fake: FakeHome;
  let port: number;
  const secret = `canary-${Math.random().toString(36).slice(2)}`;
  let env: NodeJS.ProcessEnv;
  let starts: string;
  const target = `gui/${uid}/ai.openclaw.gateway`;

  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.5'] });
    port = await freePort();
    starts = path.join(fake.root, 'starts');
    env = serviceEnv(fake, { FAKE_DRAIN_MS: '5000', FAKE_STARTS_FILE: starts, OPENCLAW_GATEWAY_TOKEN: secret });
  });
  afterAll(async () => {
    killDoubleJobs(fake);
    await fake.cleanup();
  });

  async function tree(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) {
          out.push(`${p}/`);
          await walk(p);
        } else out.push(`${p}:${e.isFile() ? (await fsp.readFile(p)).toString('base64') : 'link'}`);
      }
    };
    await walk(fake.root);
    return out.filter((p) => !p.includes(`${path.sep}double-state${path.sep}`)).sort();
  }

  it('a label disabled before service install: installed and serving, the disabled override is back, and the command says so', async () => {
    expect(launchctl(env, 'disable', target).status).toBe(0);
    const ctx = await makeContext(fake, env);
    await service(ctx, 'install', ['gateway', 'run', '--port', String(port)], { manager: 'launchd', env: ['FAKE_DRAIN_MS', 'FAKE_STARTS_FILE', 'OPENCLAW_GATEWAY_TOKEN'] });
    expect(ctx.out.results[0]).toMatchObject({ action: 'install', running: true });
    await waitForJson(`http://127.0.0.1:${port}/info`);
    expect(launchctl(env, 'print-disabled', `gui/${uid}`).stdout).toContain('"ai.openclaw.gateway" => disabled');
    expect(ctx.out.warnings.join('\n')).toMatch(/ai\.openclaw\.gateway was disabled in launchd.*disabled it again/);
    // The log directory launchd would not create was created for it; PATH/HOME/TMPDIR are in the plist.
    const plistText = await fsp.readFile(path.join(fake.userHome, 'Library', 'LaunchAgents', 'ai.openclaw.gateway.plist'), 'utf8');
    for (const k of ['PATH', 'HOME', 'TMPDIR']) expect(plistText).toContain(`<key>${k}</key>`);
  });

  it('a 5 s drain: restart keeps the label loaded, the old gateway exits before the new one starts, the secret survives', async () => {
    const old = await waitForJson<{ pid: number }>(`http://127.0.0.1:${port}/info`);
    let unloadedSeen = false;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        if (launchctl(env, 'print', target).status !== 0) unloadedSeen = true;
        await sleep(100);
      }
    })();
    const ctx = await makeContext(fake, env);
    await service(ctx, 'restart', [], { drainMs: 30_000 });
    polling = false;
    await poller;
    expect(unloadedSeen).toBe(false);
    expect(isAlive(old.pid)).toBe(false);
    const now = await waitForJson<{ pid: number }>(`http://127.0.0.1:${port}/info`);
    expect(now.pid).not.toBe(old.pid);
    // The new gateway's code ran after the old one had gone (its start is logged after the drain).
    const lines = fs.readFileSync(starts, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
    expect(lines.at(-1)![0]).toBe(now.pid);
    const env2 = await waitForJson<{ values: Record<string, string | null> }>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`);
    expect(env2.values['OPENCLAW_GATEWAY_TOKEN']).toBe(secret);
    expect(launchctl(env, 'print-disabled', `gui/${uid}`).stdout).toContain('"ai.openclaw.gateway" => disabled');
    expect(await filesContaining(fake.layout.home, secret)).toEqual([]);
  });

  it('a 5 s drain: stop returns only once the job is unloaded and the old gateway has exited', async () => {
    const old = await waitForJson<{ pid: number }>(`http://127.0.0.1:${port}/info`);
    const ctx = await makeContext(fake, env);
    await service(ctx, 'stop', [], { drainMs: 30_000 });
    expect(isAlive(old.pid)).toBe(false);
    expect(launchctl(env, 'print', target).status).toBe(113);
    const st = await makeContext(fake, env);
    await service(st, 'start', [], {});
    const back = await waitForJson<{ pid: number }>(`http://127.0.0.1:${port}/info`);
    expect(back.pid).not.toBe(old.pid);
    expect(st.out.warnings.join('\n')).toMatch(/disabled it again/);
  });
  it('no GUI domain (SSH): with the service installed, every service command exits 9 with one line saying what to do; nothing on disk changes', async () => {
    const noGui = { ...env, OC_LAUNCHD_MODEL_NO_GUI: '1' };
    const before = await tree();
    for (const [sub, args] of [['install', ['gateway', 'run', '--port', String(port)]], ['start', []], ['stop', []], ['restart', []], ['status', []], ['uninstall', []]] as const) {
      const ctx = await makeContext(fake, noGui);
      const err = await service(ctx, sub, [...args], { manager: 'launchd' }).catch((e: unknown) => e);
      expect(isOcError(err) && err.code, sub).toBe('SERVICE_ERROR');
      expect(ERROR_EXIT['SERVICE_ERROR']).toBe(9);
      expect((err as Error).message, sub).not.toContain('\n');
      expect((err as Error).message, sub).toMatch(/no GUI session/);
      expect((err as { hint?: string }).hint, sub).toMatch(/log in to this Mac graphically.*--manager process/);
    }
    expect(await tree()).toEqual(before);
  });
});

describe('no /proc (macOS): the drift guard reads the loaded job through launchctl print', () => {
  let fake: FakeHome;
  let port: number;
  const secret = `canary-${Math.random().toString(36).slice(2)}`;
  let env: NodeJS.ProcessEnv;
  const target = `gui/${uid}/ai.openclaw.gateway`;
  const saved = process.env['OC_VERSIONS_NO_PROC'];

  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.5'] });
    port = await freePort();
    env = serviceEnv(fake, { OPENCLAW_GATEWAY_TOKEN: secret });
    const ctx = await makeContext(fake, env);
    await service(ctx, 'install', ['gateway', 'run', '--port', String(port)], { manager: 'launchd', env: ['OPENCLAW_GATEWAY_TOKEN'] });
    await waitForJson(`http://127.0.0.1:${port}/info`);
    // From here on the backend cannot read /proc/<pid>/environ, as on a Mac.
    process.env['OC_VERSIONS_NO_PROC'] = '1';
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env['OC_VERSIONS_NO_PROC'];
    else process.env['OC_VERSIONS_NO_PROC'] = saved;
    killDoubleJobs(fake);
    await fake.cleanup();
  });

  it('a rewritten plist loaded by a login (the job lost its key): the guard sees it through print, restores the key and reloads; the gateway has the secret again', async () => {
    const pid = (await waitForJson<{ pid: number }>(`http://127.0.0.1:${port}/info`)).pid;
    expect(processEnviron(pid)).toBeNull();
    // Captured at the start of an operation, as an upgrade does (the loaded job still has the key).
    const ctx = await makeContext(fake, env);
    const svc = (await openServicePort(ctx))!;
    expect(await svc.checkDefinition({ reload: false })).toMatchObject({ rewritten: false });
    // A version regenerates the plist without the key, and a login loads it.
    const file = path.join(fake.userHome, 'Library', 'LaunchAgents', 'ai.openclaw.gateway.plist');
    const doc = parse(await fsp.readFile(file, 'utf8')) as { EnvironmentVariables: Record<string, string> };
    delete doc.EnvironmentVariables['OPENCLAW_GATEWAY_TOKEN'];
    await fsp.writeFile(file, build(doc as Parameters<typeof build>[0]));
    await bootoutAndWait(env, target);
    expect(launchctl(env, 'bootstrap', `gui/${uid}`, file).status).toBe(0);
    // The old job is gone (bootoutAndWait): the first answer is the re-loaded job's.
    const lost = await waitForJson<{ values: Record<string, string | null> }>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`);
    expect(lost.values['OPENCLAW_GATEWAY_TOKEN']).toBeNull();

    // The settle's check: the file is put back, and the loaded job is seen to lack the key (not "unknown").
    const d = await svc.checkDefinition({ reload: false });
    expect(d).toMatchObject({ rewritten: true, loadedOk: false });
    expect(d.restoredKeys).toContain('OPENCLAW_GATEWAY_TOKEN');
    await svc.reloadAndRestart!(5_000);
    const back = await waitForJson<{ values: Record<string, string | null> }>(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`);
    expect(back.values['OPENCLAW_GATEWAY_TOKEN']).toBe(secret);
    const rec = (await readDefinitionRecord(fake.layout))!;
    const mgr = (await openService(ctx)).mgr;
    expect(await loadedJobAgrees(mgr, rec)).toBe(true);
    expect(await filesContaining(fake.layout.home, secret)).toEqual([]);
  });
});
