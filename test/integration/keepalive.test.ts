/**
 * Keep-alive for the process backend (issue 13, part 3): the supervisor started by
 * `service install` outlives the CLI, restarts a gateway killed with SIGKILL within the
 * backoff, leaves a gateway stopped by oc-versions alone, and gives up on a crash loop,
 * which `service status` and `status` report. Built CLI, real processes and signals.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, isZombie, killGroup } from '../../src/os/proc.js';
import { runCli } from '../helpers/cli.js';
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
    }, 5_000, 'the restarted gateway');
    pids.push(second.pid);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(450); // it waited the backoff
    expect(took).toBeLessThan(4_000);
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
});

