/**
 * After the flip (issue 10), end to end through the built CLI with real fixture gateways:
 * the settle stage catches a crash a few seconds after start and a readiness that fails
 * while liveness is green; a version that rewrites its own LaunchAgent while it starts
 * leaves a plist that still has every secret (through the launchctl double, which keeps
 * the loaded job across kickstart -k like launchd); the stabilization watch, run by the
 * double's StartInterval (launchd's), rolls back a version that dies after the command
 * exited, with no person running anything; `history` lists it all in order.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as plist from 'plist';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { grepTree, patchConfig, runCli, type TestEnv } from '../helpers/cli.js';
import { DOUBLES_DIR } from '../helpers/fake-home.js';
import { bootoutAndWait } from '../helpers/launchd-model.js';
import { LATEST_VERSION, LEGACY_CLI_VERSION, VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { adoptedOpenClawService, doublesHost, gatewayHost, getJson, waitFor, type GatewayHost } from '../helpers/gateway.js';

const registryUrl = inject('registryUrl');
const FROM = '2026.3.1';

let h: GatewayHost | undefined;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the settle stage', () => {
  it('a version that serves healthy for 3 s and then exits on every start never reports upgraded: rolled back (exit 6)', async () => {
    h = await gatewayHost(registryUrl, FROM);
    patchConfig(h.t.ocHome, (cfg) => {
      cfg.health.settle = { probes: 6, minWindowMs: 6_000 };
    });
    const r = await h.cli('upgrade', VARIANT_VERSIONS['crash-after-start'], '--json');
    expect(r.code, r.stderr).toBe(6);
    expect(r.json.outcome).toBe('rolled-back');
    const settle = r.json.stages.find((s: { name: string }) => s.name === 'settle');
    expect(settle).toMatchObject({ ok: false });
    expect(settle.detail).toMatch(/exited|restarted|did not answer/);
    expect(await h.version()).toBe(FROM);
  });

  it('/readyz 503 with a failing list while /healthz is 200: rolled back, the list in the detail', async () => {
    h = await gatewayHost(registryUrl, FROM);
    // Past the canary (which would refuse it before the flip) to reach the settle.
    const r = await h.cli('upgrade', VARIANT_VERSIONS['readyz-503'], '--no-canary', '--json');
    expect(r.code, r.stderr).toBe(6);
    expect(r.json.outcome).toBe('rolled-back');
    const settle = r.json.stages.find((s: { name: string }) => s.name === 'settle');
    expect(settle.ok).toBe(false);
    expect(settle.detail).toMatch(/readyz.*503.*failing: channel:fixture/);
    expect(r.json.rollback.reason).toMatch(/channel:fixture/);
    expect(await h.version()).toBe(FROM);

    const hist = await h.cli('history', '--json');
    expect(hist.code, hist.stderr).toBe(0);
    const [last] = hist.json.transitions;
    expect(last).toMatchObject({ op: 'upgrade', from: FROM, to: VARIANT_VERSIONS['readyz-503'], outcome: 'rolled-back' });
    expect(last.stages.map((s: { name: string }) => s.name)).toContain('settle');
  });
});

/** A host running OpenClaw's own LaunchAgent (inline env with a secret) adopted by oc-versions. */
async function adoptedLaunchAgent(t: TestEnv, secret: string): Promise<{ plistPath: string; port: number }> {
  const { definitionPath, port } = await adoptedOpenClawService(t, 'launchd', FROM, secret);
  return { plistPath: definitionPath, port };
}

function launchctl(t: TestEnv, ...args: string[]): void {
  const r = spawnSync(process.execPath, [path.join(DOUBLES_DIR, 'launchctl.mjs'), ...args], { env: t.env, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

describe('the definition drift guard (launchd via the launchctl double)', () => {
  it('a version that rewrites its own plist at every start: after upgrade the file has every key and the launcher; a login brings every secret', async () => {
    const SECRET = `drift-secret-${Date.now()}-value`;
    const t = await doublesHost(registryUrl, cleanups);
    expect((await runCli(['install', FROM], t.env)).code).toBe(0);
    patchConfig(t.ocHome, (cfg) => {
      cfg.health = { ...cfg.health, responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000, settle: { probes: 4, minWindowMs: 1_500 } };
      cfg.watch = { ...cfg.watch, windowMs: 0 };
    });
    const { plistPath, port } = await adoptedLaunchAgent(t, SECRET);
    const v = VARIANT_VERSIONS['rewrites-definition'];

    const r = await runCli(['upgrade', v, '--json'], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.outcome).toBe('upgraded');
    // The canary ran under the launchctl double too (copied state, the LaunchAgent's environment).
    expect(r.json.canary).toMatchObject({ name: 'canary', ok: true });
    const settle = r.json.stages.find((s: { name: string }) => s.name === 'settle');
    expect(settle.ok).toBe(true);
    // The running process has every secret (the loaded job was never the rewritten file).
    const live = await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`);
    expect(live!.body.values.OPENCLAW_GATEWAY_TOKEN).toBe(SECRET);
    // The file on disk, after the command exited: every env key, launched through the launcher.
    await new Promise((res) => setTimeout(res, 500));
    const doc = plist.parse(fs.readFileSync(plistPath, 'utf8')) as any;
    expect(doc.EnvironmentVariables?.OPENCLAW_GATEWAY_TOKEN).toBe(SECRET);
    expect(doc.EnvironmentVariables?.OPENCLAW_SUPERVISOR_MODE).toBe('external');
    expect(doc.ProgramArguments).toContain(path.join(t.ocHome, 'bin', 'openclaw-gateway'));

    // A login: launchd loads the plist from disk again.
    const uid = String(process.getuid!());
    // bootout is asynchronous (the job drains first): wait for it, as a logout does.
    await bootoutAndWait(t.env, `gui/${uid}/ai.openclaw.gateway`);
    launchctl(t, 'bootstrap', `gui/${uid}`, plistPath);
    const after = await waitFor(async () => {
      const e = await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`);
      return e?.status === 200 ? e : null;
    }, 15_000, 'the gateway after the login');
    expect(after.body.values.OPENCLAW_GATEWAY_TOKEN).toBe(SECRET);
    expect((await getJson(`http://127.0.0.1:${port}/startupz`))!.body.version).toBe(v);
    expect(grepTree(t.ocHome, SECRET)).toEqual([]);
  });
});

describe('the stabilization watch (launchd recovery agent run by the double)', () => {
  it('a version that dies after the upgrade finished is rolled back by the agent within the window; history shows why', async () => {
    const t = await doublesHost(registryUrl, cleanups);
    expect((await runCli(['install', FROM], t.env)).code).toBe(0);
    patchConfig(t.ocHome, (cfg) => {
      cfg.health = { ...cfg.health, responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000, settle: { probes: 4, minWindowMs: 1_000 } };
      cfg.watch = { windowMs: 180_000, intervalS: 2, crashRestarts: 3, readyGraceMs: 60_000 };
    });
    const { port } = await adoptedLaunchAgent(t, `watch-secret-${Date.now()}-value`);
    const v = VARIANT_VERSIONS['crash-later'];
    const r = await runCli(['upgrade', v, '--json'], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.outcome).toBe('upgraded');
    const st = await runCli(['status', '--json'], t.env);
    expect(st.json.watch).toMatchObject({ version: v, from: FROM, restarts: 0 });
    expect(Date.parse(st.json.watch.until)).toBeGreaterThan(Date.now());

    // No command from here on: the gateway dies 15 s after its start; the agent notices and rolls back.
    const back = await waitFor(async () => {
      const s = await getJson(`http://127.0.0.1:${port}/startupz`, 1_000);
      return s?.status === 200 && s.body.version === FROM ? s : null;
    }, 90_000, 'the watch to roll back');
    expect(back.body.version).toBe(FROM);
    await waitFor(async () => JSON.parse(fs.readFileSync(path.join(t.ocHome, 'state.json'), 'utf8')).current === FROM, 10_000, 'state.json');

    const hist = await runCli(['history', '--json'], t.env);
    expect(hist.code, hist.stderr).toBe(0);
    const items = hist.json.transitions as Array<{ op: string; from: string; to: string; outcome: string; cause: string | null }>;
    const rb = items.findIndex((i) => i.op === 'rollback' && i.cause !== null);
    const up = items.findIndex((i) => i.op === 'upgrade' && i.to === v);
    expect(rb).toBeGreaterThanOrEqual(0);
    expect(up).toBeGreaterThan(rb); // newest first: the watch rollback came after the upgrade
    expect(items[rb]).toMatchObject({ from: v, to: FROM, outcome: 'switched-back' });
    expect(items[rb]!.cause).toMatch(/^watch: .*(down|crash loop)/);
    expect(items[up]!.outcome).toBe('upgraded');
    const after = await runCli(['status', '--json'], t.env);
    expect(after.json.watch).toBeNull();
  });
});

describe('history', () => {
  it('lists every transition newest first with its outcome and stages; --limit; bad --limit is exit 2', async () => {
    h = await gatewayHost(registryUrl, FROM);
    const up = await h.cli('upgrade', LATEST_VERSION, '--json');
    expect(up.code, up.stderr).toBe(0);
    // The target speaks OpenClaw's restart handoff (capabilities as 2026.9.6 prints them), and the
    // stage says why nothing was consumed: a SIGTERM stop writes no row (the new pid never wrote one).
    expect(up.json.stages[1].detail).toContain('restart handoff: the target speaks openclaw.gateway.restart-handoff v1; the stop was SIGTERM, which writes no handoff row: nothing to consume');
    expect((await h.cli('rollback', '--json')).code).toBe(0);
    const r = await h.cli('history', '--json');
    expect(r.code, r.stderr).toBe(0);
    const items = r.json.transitions as Array<{ op: string; outcome: string; from: string; to: string; stages: unknown[]; txid: string }>;
    const gated = items.filter((i) => i.txid);
    expect(gated.slice(0, 2).map((i) => [i.op, i.from, i.to, i.outcome])).toEqual([
      ['rollback', LATEST_VERSION, FROM, 'switched-back'],
      ['upgrade', FROM, LATEST_VERSION, 'upgraded'],
    ]);
    expect(gated[1]!.stages.length).toBeGreaterThanOrEqual(4);
    const one = await h.cli('history', '--limit', '1', '--json');
    expect(one.json.transitions).toHaveLength(1);
    const bad = await h.cli('history', '--limit', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--limit/);
    // A release without the handoff command: the plain stop/start, and the detail says so.
    expect((await h.cli('install', LEGACY_CLI_VERSION)).code).toBe(0);
    const legacy = await h.cli('use', LEGACY_CLI_VERSION, '--json');
    expect(legacy.code, legacy.stderr).toBe(0);
    expect(legacy.json.stages[1].detail).toMatch(/restart handoff: the target has no restart-handoff command; plain stop\/start/);
    const human = await h.cli('history');
    expect(human.stdout).toMatch(new RegExp(`upgrade ${FROM.replace(/\./g, '\\.')} → ${LATEST_VERSION.replace(/\./g, '\\.')}: upgraded`));
  });
});
