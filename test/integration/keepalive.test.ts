/**
 * Keep-alive for the process backend (issue 13, part 3): on by default, the supervisor started by
 * `service install` outlives the CLI, restarts a gateway killed with SIGKILL within the
 * backoff, leaves a gateway stopped by oc-versions alone (the stop intent, and a supervisor found
 * by its mark without its record), never runs beside a second one, and gives up on a crash loop,
 * which `service status` and `status` report; `--no-keep-alive` turns it off. Built CLI, real
 * processes and signals.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, isZombie, killGroup } from '../../src/os/proc.js';
import { runCli } from '../helpers/cli.js';
import { gatewaysOf, supervisorsOf } from '../helpers/gateways.js';
import { freePort, getJson, makeFakeHome, waitForDown, waitForJson, type FakeHome } from '../helpers/fake-home.js';

type Info = { pid: number; version: string };
const fakes: FakeHome[] = [];
const pids: number[] = [];

afterEach(async () => {
  for (const f of fakes.splice(0)) {
    await runCli(['service', 'stop', '--drain-ms', '1000'], envOf(f)).catch(() => undefined);
    const sup = readJsonOr(f.layout.gatewaySupervisor);
    if (sup?.pid && isAlive(sup.pid)) killGroup(sup.pid, 'SIGKILL');
    for (const p of pids.splice(0)) if (isAlive(p)) killGroup(p, 'SIGKILL');
    await f.cleanup();
  }
});

function envOf(f: FakeHome): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'], HOME: f.userHome, OC_VERSIONS_HOME: f.layout.home, OC_VERSIONS_SECRET_STORE: 'none', FAKE_DRAIN_MS: '100' };
}

/** Alive and not a zombie (an orphan's zombie waits for PID 1, which may reap it late). */
function running(pid: number): boolean {
  return isAlive(pid) && !isZombie(pid);
}

function readJsonOr(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

async function setKeepAlive(f: FakeHome, keepAlive: Record<string, number>): Promise<void> {
  const cfg = JSON.parse(await fsp.readFile(f.layout.config, 'utf8'));
  cfg.service = { ...cfg.service, keepAlive };
  await fsp.writeFile(f.layout.config, JSON.stringify(cfg));
}

async function waitUntil<T>(fn: () => T | Promise<T>, ms: number, what: string): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('process backend keep-alive', () => {
  it('kill -9 of the gateway: restarted within the backoff by the supervisor that outlived the CLI; a stop is not a crash', async () => {
    const f = await makeFakeHome({ versions: ['2026.9.5'] });
    fakes.push(f);
    await setKeepAlive(f, { backoffMs: 500, maxBackoffMs: 2_000, burst: 5, intervalMs: 60_000 });
    const port = await freePort();
    const ins = await runCli(['service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--port', String(port)], envOf(f));
    expect(ins.code, ins.stderr).toBe(0); // the CLI has exited
    const first = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    pids.push(first.pid);
    const sup = readJsonOr(f.layout.gatewaySupervisor);
    expect(sup).toMatchObject({ state: 'running', restarts: 0 });
    expect(isAlive(sup.pid)).toBe(true);

    const t0 = Date.now();
    process.kill(first.pid, 'SIGKILL');
    const second = await waitUntil(async () => {
      const r = await getJson<Info>(`http://127.0.0.1:${port}/info`, 300).catch(() => undefined);
      return r && r.body.pid !== first.pid ? r.body : undefined;
    }, 30_000, 'the restarted gateway');
    pids.push(second.pid);
    // It waited the backoff before restarting (a lower bound by construction, never flaky); how
    // soon after it the new gateway answers depends on the machine, so no upper bound here.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(second.version).toBe('2026.9.5');
    const st = await runCli(['service', 'status', '--json'], envOf(f));
    expect(st.json).toMatchObject({ manager: 'process', running: true, pid: second.pid, restarts: 1, lastExitCode: 'SIGKILL' });

    // oc-versions' own stop: the supervisor lets go first, nothing comes back.
    const stop = await runCli(['service', 'stop', '--drain-ms', '2000'], envOf(f));
    expect(stop.code, stop.stderr).toBe(0);
    await waitForDown(`http://127.0.0.1:${port}/healthz`, 5_000);
    await new Promise((r) => setTimeout(r, 1_500)); // longer than the backoff
    await expect(getJson(`http://127.0.0.1:${port}/healthz`, 300)).rejects.toThrow();
    expect(running(sup.pid)).toBe(false);
    expect(readJsonOr(f.layout.gatewaySupervisor)).toMatchObject({ state: 'stopped' });
  });

  it('a crash loop stops after the limit; service status and status say so', async () => {
    const f = await makeFakeHome({ versions: ['2026.9.8'] });
    fakes.push(f);
    // Serves for 600 ms (past the start grace), then crashes, every time.
    const entry = path.join(f.layout.version('2026.9.8'), 'node_modules/openclaw/dist/index.js');
    const src = await fsp.readFile(entry, 'utf8');
    await fsp.writeFile(entry, `${src}\nsetTimeout(() => { console.error('crash'); process.exit(3); }, 600);\n`);
    await setKeepAlive(f, { backoffMs: 100, maxBackoffMs: 400, burst: 3, intervalMs: 60_000 });
    const port = await freePort();
    const ins = await runCli(['service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--port', String(port)], envOf(f));
    expect(ins.code, ins.stderr).toBe(0);
    const sup = readJsonOr(f.layout.gatewaySupervisor);
    const rec = await waitUntil(() => {
      const r = readJsonOr(f.layout.gatewaySupervisor);
      return r?.state === 'crash-loop' ? r : undefined;
    }, 15_000, 'the crash-loop record');
    expect(rec).toMatchObject({ restarts: 3, lastExit: { code: 3 } });
    await waitUntil(() => !running(sup.pid), 3_000, 'the supervisor to exit');
    await new Promise((r) => setTimeout(r, 800)); // no further restart after giving up
    await expect(getJson(`http://127.0.0.1:${port}/healthz`, 300)).rejects.toThrow();

    const st = await runCli(['service', 'status', '--json'], envOf(f));
    expect(st.json).toMatchObject({ running: false, state: 'crash-loop', restarts: 3, lastExitCode: '3' });
    const human = await runCli(['service', 'status'], envOf(f));
    expect(human.stdout).toMatch(/CRASH LOOP: the keep-alive gave up after 3 restarts/);
    const top = await runCli(['status'], envOf(f));
    expect(top.stdout).toMatch(/service: process .* not running \(CRASH LOOP/);
  });

  it('is on by default: a plain service install runs the supervisor; --no-keep-alive turns it off and a killed gateway stays down', async () => {
    const f = await makeFakeHome({ versions: ['2026.9.5'] });
    fakes.push(f);
    const port = await freePort();
    const ins = await runCli(['service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--port', String(port)], envOf(f));
    expect(ins.code, ins.stderr).toBe(0);
    await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    const sup = readJsonOr(f.layout.gatewaySupervisor);
    expect(sup).toMatchObject({ state: 'running', limits: { backoffMs: 1_000, maxBackoffMs: 30_000, burst: 5, intervalMs: 60_000 } });
    expect(supervisorsOf(f.layout.home)).toEqual([sup.pid]);
    expect(JSON.parse(await fsp.readFile(f.layout.config, 'utf8')).service.keepAlive).toBeUndefined();

    // Reinstalled with --no-keep-alive: recorded in config.json, the supervisor goes, the gateway runs directly.
    const off = await runCli(['service', 'install', '--manager', 'process', '--no-keep-alive', '--', 'gateway', 'run', '--port', String(port)], envOf(f));
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(await fsp.readFile(f.layout.config, 'utf8')).service.keepAlive).toBe(false);
    const direct = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    pids.push(direct.pid);
    expect(running(sup.pid)).toBe(false);
    expect(supervisorsOf(f.layout.home)).toEqual([]);
    process.kill(direct.pid, 'SIGKILL');
    await waitForDown(`http://127.0.0.1:${port}/healthz`, 5_000);
    await new Promise((r) => setTimeout(r, 1_500)); // longer than the default backoff
    await expect(getJson(`http://127.0.0.1:${port}/healthz`, 300)).rejects.toThrow();

    // A plain install again: keep-alive is back on (the default).
    const on = await runCli(['service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--port', String(port)], envOf(f));
    expect(on.code, on.stderr).toBe(0);
    expect(JSON.parse(await fsp.readFile(f.layout.config, 'utf8')).service.keepAlive).toBeUndefined();
    expect(supervisorsOf(f.layout.home)).toHaveLength(1);

    // --no-keep-alive means nothing to launchd/systemd: refused, nothing changed.
    const bad = await runCli(['service', 'install', '--manager', 'systemd', '--no-keep-alive'], envOf(f));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--no-keep-alive is for the process backend/);
  });

  it('the stop intent alone (no signal) already keeps the supervisor from restarting the gateway', async () => {
    const f = await makeFakeHome({ versions: ['2026.9.5'] });
    fakes.push(f);
    await setKeepAlive(f, { backoffMs: 200, maxBackoffMs: 400, burst: 5, intervalMs: 60_000 });
    const port = await freePort();
    const ins = await runCli(['service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--port', String(port)], envOf(f));
    expect(ins.code, ins.stderr).toBe(0);
    const first = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    const sup = readJsonOr(f.layout.gatewaySupervisor);
    // What a stop writes before it signals anything: then the gateway dies before the signal lands.
    await fsp.writeFile(f.layout.gatewayStopIntent, '{}');
    process.kill(first.pid, 'SIGKILL');
    await waitUntil(() => !running(sup.pid), 5_000, 'the supervisor to let go');
    expect(readJsonOr(f.layout.gatewaySupervisor)).toMatchObject({ state: 'stopped', restarts: 0 });
    await new Promise((r) => setTimeout(r, 800)); // longer than the backoff
    expect(gatewaysOf(f.layout.home)).toEqual([]);
    // service start clears the intent and supervises again
    const start = await runCli(['service', 'start'], envOf(f));
    expect(start.code, start.stderr).toBe(0);
    expect(fs.existsSync(f.layout.gatewayStopIntent)).toBe(false);
    const again = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(readJsonOr(f.layout.gatewayPid)?.pid).toBe(again.pid);
    expect(supervisorsOf(f.layout.home)).toHaveLength(1);
  });

  it('a supervisor with no record (its starter died before it reported) is found by its mark: stop stops it, start does not add a second', async () => {
    const f = await makeFakeHome({ versions: ['2026.9.5'] });
    fakes.push(f);
    await setKeepAlive(f, { backoffMs: 1_500, maxBackoffMs: 3_000, burst: 5, intervalMs: 60_000 });
    const port = await freePort();
    const ins = await runCli(['service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--port', String(port)], envOf(f));
    expect(ins.code, ins.stderr).toBe(0);
    const first = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    const [sup] = supervisorsOf(f.layout.home);
    expect(sup).toBe(readJsonOr(f.layout.gatewaySupervisor).pid);
    // The gateway dies; while the supervisor waits out its backoff, `service start` must not start another.
    await fsp.rm(f.layout.gatewaySupervisor);
    process.kill(first.pid, 'SIGKILL');
    await waitForDown(`http://127.0.0.1:${port}/healthz`, 5_000);
    const start = await runCli(['service', 'start'], envOf(f));
    expect(start.code, start.stderr).toBe(0);
    const second = await waitUntil(async () => {
      const r = await getJson<Info>(`http://127.0.0.1:${port}/info`, 300).catch(() => undefined);
      return r && r.body.pid !== first.pid ? r.body : undefined;
    }, 10_000, 'the restarted gateway');
    await new Promise((r) => setTimeout(r, 500));
    expect(gatewaysOf(f.layout.home)).toEqual([second.pid]);
    expect(supervisorsOf(f.layout.home)).toEqual([sup]);
    // Its record gone again: stop still finds it by its mark, and nothing comes back.
    await fsp.rm(f.layout.gatewaySupervisor);
    const stop = await runCli(['service', 'stop', '--drain-ms', '2000'], envOf(f));
    expect(stop.code, stop.stderr).toBe(0);
    expect(running(sup!)).toBe(false);
    await new Promise((r) => setTimeout(r, 2_000)); // longer than the backoff
    expect(gatewaysOf(f.layout.home)).toEqual([]);
    expect(supervisorsOf(f.layout.home)).toEqual([]);
  });
});

/**
 * A process service with keep-alive whose gateway drains for 1.5 s after SIGTERM (the fake
 * gateway's FAKE_DRAIN_MS): long enough to watch what happens during the drain.
 */
async function slowDrainingService(versions: string[], current: string) {
  const f = await makeFakeHome({ versions, current });
  fakes.push(f);
  const port = await freePort();
  const starts = path.join(f.root, 'gateway-starts.log');
  const env = { ...envOf(f), FAKE_DRAIN_MS: '1500', FAKE_STARTS_FILE: starts };
  const ins = await runCli(['service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--port', String(port)], env);
  expect(ins.code, ins.stderr).toBe(0);
  const old = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
  /** Gateways whose own code has run (the fake gateway records its pid first thing). */
  const started = (): Set<number> => new Set((fs.existsSync(starts) ? fs.readFileSync(starts, 'utf8') : '').split('\n').filter(Boolean).map((l) => Number(l.split(' ')[0])));
  return { f, port, env, old, started };
}

describe('restart with keep-alive: the hand-over (keepalive.ts, HandOver)', () => {
  it('the new supervisor and its standby start during the old drain, yet never a second gateway runs beside the old one; the old is gone first', async () => {
    const { f, port, env, old, started } = await slowDrainingService(['2026.9.5', '2026.9.6'], '2026.9.5');
    const oldSup = readJsonOr(f.layout.gatewaySupervisor).pid as number;
    await fsp.rm(f.layout.current);
    await fsp.symlink(path.join('versions', '2026.9.6'), f.layout.current);

    // Sample the home's processes while the restart runs: gateways whose own code has run never
    // exceed one, and a second supervisor and its standby (a node process of the home, parked at
    // the launcher's barrier: none of the gateway's code run) appear while the old gateway still drains.
    const seen = { maxGateways: 0, overlapWhileOldAlive: false, standbyWhileOldAlive: false };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const gws = gatewaysOf(f.layout.home);
        const sups = supervisorsOf(f.layout.home);
        const ran = started();
        seen.maxGateways = Math.max(seen.maxGateways, gws.filter((p) => ran.has(p)).length);
        if (sups.length === 2 && running(old.pid)) seen.overlapWhileOldAlive = true;
        if (gws.length === 2 && running(old.pid) && gws.some((p) => p !== old.pid && !ran.has(p))) seen.standbyWhileOldAlive = true;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const r = await runCli(['service', 'restart', '--drain-ms', '5000'], env);
    sampling = false;
    await sampler;
    expect(r.code, r.stderr).toBe(0);
    const now = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(now).toMatchObject({ version: '2026.9.6' });
    expect(now.pid).not.toBe(old.pid);
    expect(running(old.pid)).toBe(false);
    expect(running(oldSup)).toBe(false);
    expect(seen.maxGateways).toBe(1);
    expect(seen.overlapWhileOldAlive).toBe(true);
    expect(seen.standbyWhileOldAlive).toBe(true);
    // The new gateway is the standby that was let go: its code ran once, after the old one's.
    expect([...started()]).toEqual([old.pid, now.pid]);
    // One supervisor, recorded, running; the stop intent is gone (a crash now is restarted).
    const sup = readJsonOr(f.layout.gatewaySupervisor);
    expect(sup).toMatchObject({ state: 'running', restarts: 0 });
    expect(supervisorsOf(f.layout.home)).toEqual([sup.pid]);
    expect(fs.existsSync(f.layout.gatewayStopIntent)).toBe(false);
    expect(readJsonOr(f.layout.gatewayPid)).toMatchObject({ pid: now.pid });
  });

  it('a restarter killed mid-drain: its waiting supervisor starts the gateway once the old one is gone; a stop meanwhile ends it', async () => {
    const { f, port, env, old, started } = await slowDrainingService(['2026.9.5'], '2026.9.5');

    // 1. The restarter dies while the old gateway drains (SIGKILL, no cleanup). The old gateway
    //    got its SIGTERM and exits; the waiting supervisor sees its restarter gone and starts.
    const restarting = runCli(['service', 'restart', '--drain-ms', '5000'], env);
    await waitUntil(() => supervisorsOf(f.layout.home).length === 2, 10_000, 'the hand-over supervisor');
    const restarter = await waitUntil(() => restarterPid(f), 5_000, 'the restarter');
    await waitForDown(`http://127.0.0.1:${port}/healthz`, 5_000); // the old gateway got its SIGTERM: draining
    process.kill(restarter, 'SIGKILL');
    expect((await restarting).signal).toBe('SIGKILL');
    const next = await waitUntil(async () => {
      const r = await getJson<Info>(`http://127.0.0.1:${port}/info`, 300).catch(() => undefined);
      return r && r.body.pid !== old.pid ? r.body : undefined;
    }, 15_000, 'the gateway of the hand-over');
    pids.push(next.pid);
    expect(running(old.pid)).toBe(false);
    expect(gatewaysOf(f.layout.home)).toEqual([next.pid]);
    const sup = await waitUntil(() => {
      const rec = readJsonOr(f.layout.gatewaySupervisor);
      return rec?.state === 'running' ? rec : undefined;
    }, 5_000, 'its record');
    expect(supervisorsOf(f.layout.home)).toEqual([sup.pid]);

    // 2. Killed again mid-drain, and this time a stop comes while the new supervisor still waits:
    //    the stop ends it (it never starts a gateway), and nothing of the home is left running.
    const again = runCli(['service', 'restart', '--drain-ms', '5000'], env);
    await waitUntil(() => supervisorsOf(f.layout.home).length === 2, 10_000, 'the second hand-over supervisor');
    const second = await waitUntil(() => restarterPid(f), 5_000, 'the restarter');
    await waitForDown(`http://127.0.0.1:${port}/healthz`, 5_000);
    process.kill(second, 'SIGKILL');
    await again;
    const stop = await runCli(['service', 'stop', '--drain-ms', '5000'], env);
    expect(stop.code, stop.stderr).toBe(0);
    expect(gatewaysOf(f.layout.home)).toEqual([]);
    expect(supervisorsOf(f.layout.home)).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    await expect(getJson(`http://127.0.0.1:${port}/healthz`, 300)).rejects.toThrow();
    // The second hand-over's standby was let go unused: no gateway code ran after next's.
    expect([...started()]).toEqual([old.pid, next.pid]);
  });

  it('the new supervisor SIGKILLed while its standby is parked: the standby exits without running, the old gateway is never joined by a second', async () => {
    const { f, port, env, old, started } = await slowDrainingService(['2026.9.5'], '2026.9.5');
    const oldSup = readJsonOr(f.layout.gatewaySupervisor).pid as number;
    const restarting = runCli(['service', 'restart', '--drain-ms', '5000'], env);
    // The standby: a second node process of the home, alive beside the old gateway, that ran nothing.
    const standby = await waitUntil(() => gatewaysOf(f.layout.home).find((p) => p !== old.pid && !started().has(p)), 10_000, 'the standby');
    const next = await waitUntil(() => supervisorsOf(f.layout.home).find((p) => p !== oldSup), 5_000, 'the hand-over supervisor');
    process.kill(next, 'SIGKILL');
    // Its socket to the supervisor closed: it leaves at the barrier (it was never told to go).
    await waitUntil(() => !running(standby), 5_000, 'the standby to exit');
    const r = await restarting;
    expect(r.code, 'the restart reports the supervisor it lost').not.toBe(0);
    expect(r.stderr).toMatch(/gateway/);
    expect([...started()]).toEqual([old.pid]);
    expect(gatewaysOf(f.layout.home)).toEqual([]);
    await expect(getJson(`http://127.0.0.1:${port}/healthz`, 300)).rejects.toThrow();
  });
});

/** The pid of the oc-versions restart that wrote the stop intent (its `pid`), while it runs. */
function restarterPid(f: FakeHome): number | undefined {
  const intent = readJsonOr(f.layout.gatewayStopIntent);
  return intent?.token && running(intent.pid) ? (intent.pid as number) : undefined;
}
