/**
 * Service commands are gated like upgrades (issue 32): `service install|start|restart` wait for the
 * gateway to be responsive and fail (exit 7, NOT_RESPONSIVE) with the end of its log and the log's
 * path when it is not; `service status` (exit 7) and `doctor` (exit 9) say so during the crash loop.
 * The gateway is a real fixture build that exits like OpenClaw without a configuration of its own
 * (`Missing config. Run openclaw setup …`, exit 78), published to a private registry of this file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestEnv, runCli, type TestEnv } from '../helpers/cli.js';
import { publishFixture } from '../helpers/fixtures.js';
import { freePort, getJson, waitFor } from '../helpers/gateway.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const VERSION = '2026.7.3';
const canary = `canary-${Math.random().toString(36).slice(2)}`;
let reg: TestRegistry;
let t: TestEnv;
let port: number;
const cli = (...args: string[]) => runCli(args, t.env);

beforeAll(async () => {
  reg = await startRegistry();
  await publishFixture(reg.url, { version: VERSION, variant: 'good', requiresConfig: true, tag: 'latest' });
  t = await makeTestEnv(reg.url, { OPENCLAW_GATEWAY_TOKEN: canary, OC_VERSIONS_SECRET_STORE: 'none' });
  port = await freePort();
  const ins = await cli('install', VERSION, '--use');
  expect(ins.code, ins.stderr).toBe(0);
  const cfgPath = path.join(t.ocHome, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  cfg.health = { ...cfg.health, probeIntervalMs: 100 };
  cfg.service = { ...cfg.service, drainMs: 3_000, startDeadlineMs: 20_000 };
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
});

afterAll(async () => {
  if (t) {
    await cli('service', 'stop').catch(() => undefined);
    await cli('service', 'uninstall').catch(() => undefined);
    await t.cleanup();
  }
  await reg?.stop();
});

describe('a gateway that exits at start (no OpenClaw configuration)', () => {
  it('service install fails with exit 7, the log line, the log path and the setup hint', async () => {
    const r = await cli('service', 'install', '--manager', 'process', '--json', '--', 'gateway', 'run', '--port', String(port));
    expect(r.code, r.stdout + r.stderr).toBe(7);
    expect(r.json.changed).toBe(true);
    expect(r.json.error).toMatchObject({ code: 'NOT_RESPONSIVE', exitCode: 7, needsSetup: true, log: path.join(t.ocHome, 'service', 'gateway.log') });
    expect(r.json.error.message).toContain('Missing config. Run `openclaw setup`');
    expect(r.json.error.logTail.some((l: string) => l.startsWith('Missing config.'))).toBe(true);
    expect(r.json.error.hint).toContain('openclaw setup');
    expect(r.json.error.hint).toContain(path.join(t.ocHome, 'service', 'gateway.log'));
    expect(r.stdout + r.stderr).not.toContain(canary);
  });

  it('service status exits 7 with the restarts, the last exit and the log path during the crash loop', async () => {
    // The keep-alive restarts it (and gives up after its burst): a second exit makes it a loop.
    const st = await waitFor(async () => {
      const r = await cli('service', 'status', '--json');
      return r.json?.restarts >= 1 ? r : null;
    }, 60_000, 'a restart by the keep-alive');
    const again = st.json.crashLoop ? st : await waitFor(async () => {
      const r = await cli('service', 'status', '--json');
      return r.json?.crashLoop ? r : null;
    }, 60_000, 'the crash loop');
    expect(again.code).toBe(7);
    expect(again.json).toMatchObject({ installed: true, crashLoop: true, lastExitCode: '78', log: path.join(t.ocHome, 'service', 'gateway.log') });
    const human = await cli('service', 'status');
    expect(human.code).toBe(7);
    expect(human.stdout).toMatch(/CRASH LOOP/);
    expect(human.stdout).toMatch(/restarts: \d+; last exit: 78/);
    expect(human.stdout).toContain(`log: ${path.join(t.ocHome, 'service', 'gateway.log')}`);
  });

  it('doctor reports the crash loop as an error (exit 9)', async () => {
    const r = await cli('doctor', '--json');
    expect(r.code, r.stdout).toBe(9);
    const f = r.json.findings.find((x: { id: string }) => x.id === 'service-running');
    expect(f).toMatchObject({ severity: 'error', fixable: false });
    expect(f.what).toContain('crash loop');
    expect(f.fix).toContain('gateway.log');
  });

  it('with a configuration, service restart comes up (exit 0) and status and doctor are clean again', async () => {
    const stateDir = t.env['OPENCLAW_STATE_DIR']!;
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(path.join(stateDir, 'openclaw.json'), JSON.stringify({ gateway: { mode: 'local' } }));
    const r = await cli('service', 'restart', '--json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json).toMatchObject({ action: 'restart', running: true });
    expect(r.json.responsive.detail).toContain('→ 200');
    expect((await getJson(`http://127.0.0.1:${port}/healthz`))?.status).toBe(200);
    const st = await cli('service', 'status', '--json');
    expect(st.code).toBe(0);
    expect(st.json).toMatchObject({ running: true, crashLoop: false });
    const doc = await cli('doctor', '--json');
    expect(doc.json.findings.find((x: { id: string }) => x.id === 'service-running')).toBeUndefined();
  });

  it('a stopped service: doctor says so as an error; start is gated and exits 0', async () => {
    expect((await cli('service', 'stop')).code).toBe(0);
    const doc = await cli('doctor', '--json');
    expect(doc.code).toBe(9);
    expect(doc.json.findings.find((x: { id: string }) => x.id === 'service-running')).toMatchObject({ severity: 'error' });
    const r = await cli('service', 'start', '--json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.responsive.ms).toBeGreaterThanOrEqual(0);
  });
});
