/**
 * Many homes (issue 13, part 5): two oc-versions homes, two gateways on two ports. An upgrade
 * and a rollback of one never touch the other (its gateway and keep-alive supervisor pids are
 * unchanged); launchd labels and recovery agents are the home's own, so both coexist.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as plist from 'plist';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { makeTestEnv, runCli, type TestEnv } from '../helpers/cli.js';
import { freePort, gatewayHost, getJson, waitFor, type GatewayHost } from '../helpers/gateway.js';
import { DOUBLES_DIR } from '../helpers/fake-home.js';
import { killRecordedJobs } from '../helpers/launchd-model.js';
import { homeTagOf } from '../../src/core/layout.js';
import { isAlive } from '../../src/os/proc.js';

const hosts: GatewayHost[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.cleanup();
  for (const c of cleanups.splice(0)) await c();
});

const info = async (port: number) => (await getJson(`http://127.0.0.1:${port}/info`))?.body as { pid: number; version: string };
const supervisorPid = (h: GatewayHost) => JSON.parse(fs.readFileSync(path.join(h.t.ocHome, 'service', 'keepalive.json'), 'utf8')).pid as number;

describe('two homes side by side', () => {
  it('process backend: upgrade and rollback of one home never touch the other', async () => {
    const a = await gatewayHost(inject('registryUrl'), '2026.1.1', { keepAlive: true });
    hosts.push(a);
    const b = await gatewayHost(inject('registryUrl'), '2026.1.1', { keepAlive: true });
    hosts.push(b);
    const bBefore = await info(b.port);
    const bSupervisor = supervisorPid(b);
    expect(isAlive(bSupervisor)).toBe(true);
    const la = (await a.cli('service', 'status', '--json')).json.label;
    const lb = (await b.cli('service', 'status', '--json')).json.label;
    expect(la).toBe(`ai.openclaw.gateway.${homeTagOf(a.t.ocHome)}`);
    expect(lb).not.toBe(la);

    const up = await a.cli('upgrade', '2026.2.1', '--json');
    expect(up.code, up.stderr).toBe(0);
    expect(await a.version()).toBe('2026.2.1');
    expect(await info(b.port)).toMatchObject({ pid: bBefore.pid, version: '2026.1.1' });
    expect(supervisorPid(b)).toBe(bSupervisor);

    const back = await a.cli('rollback', '--json');
    expect(back.code, back.stderr).toBe(0);
    expect(await a.version()).toBe('2026.1.1');
    expect(await info(b.port)).toMatchObject({ pid: bBefore.pid, version: '2026.1.1' });
    expect(supervisorPid(b)).toBe(bSupervisor);
    expect(isAlive(bSupervisor)).toBe(true);
  });

  it('launchd: a second home on the same account gets its own label and recovery agent; upgrading it leaves the first alone', async () => {
    const first = await makeTestEnv(inject('registryUrl'), {
      PATH: `${DOUBLES_DIR}${path.delimiter}${path.dirname(process.execPath)}${path.delimiter}${process.env['PATH']}`,
      OC_VERSIONS_SECRET_STORE: 'none',
    });
    first.env['OC_DOUBLE_STATE'] = path.join(first.home, '.double-state');
    // Same user (HOME, LaunchAgents, launchctl state), another oc-versions home.
    const second: TestEnv = { ...first, ocHome: `${first.ocHome}-2`, env: { ...first.env, OC_VERSIONS_HOME: `${first.ocHome}-2` } };
    cleanups.push(async () => {
      for (const t of [second, first]) await runCli(['service', 'uninstall'], t.env).catch(() => undefined);
      const dir = first.env['OC_DOUBLE_STATE']!;
      killRecordedJobs(dir);
      fs.rmSync(second.ocHome, { recursive: true, force: true });
      await first.cleanup();
    });
    const ports = [await freePort(), await freePort()];
    for (const [i, t] of [first, second].entries()) {
      expect((await runCli(['install', '2026.1.1'], t.env)).code).toBe(0);
      const cfgPath = path.join(t.ocHome, 'config.json');
      const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
      cfg.health = { ...cfg.health, responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000 };
      fs.writeFileSync(cfgPath, JSON.stringify(cfg));
      const r = await runCli(['service', 'install', '--manager', 'launchd', '--json', '--', 'gateway', 'run', '--port', String(ports[i])], t.env);
      expect(r.code, r.stderr).toBe(0);
      await waitFor(async () => (await getJson(`http://127.0.0.1:${ports[i]}/healthz`))?.status === 200, 15_000, `gateway ${i}`);
    }
    const agents = path.join(first.home, 'Library', 'LaunchAgents');
    const names = fs.readdirSync(agents).sort();
    expect(names).toEqual(
      [
        'ai.openclaw.gateway.plist',
        `ai.openclaw.gateway.${homeTagOf(second.ocHome)}.plist`,
        `ai.openclaw.oc-versions-recover.${homeTagOf(first.ocHome)}.plist`,
        `ai.openclaw.oc-versions-recover.${homeTagOf(second.ocHome)}.plist`,
      ].sort(),
    );
    const secondAgent = plist.parse(fs.readFileSync(path.join(agents, `ai.openclaw.oc-versions-recover.${homeTagOf(second.ocHome)}.plist`), 'utf8')) as Record<string, any>;
    expect(secondAgent['ProgramArguments']).toContain(second.ocHome);

    const firstBefore = await info(ports[0]!);
    const up = await runCli(['upgrade', '2026.2.1', '--json'], second.env);
    expect(up.code, up.stderr).toBe(0);
    expect((await info(ports[1]!)).version).toBe('2026.2.1');
    expect(await info(ports[0]!)).toMatchObject({ pid: firstBefore.pid, version: '2026.1.1' });
    const back = await runCli(['rollback', '--json'], second.env);
    expect(back.code, back.stderr).toBe(0);
    expect(await info(ports[0]!)).toMatchObject({ pid: firstBefore.pid, version: '2026.1.1' });
  });
});
