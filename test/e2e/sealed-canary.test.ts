/**
 * The sealed canary (issue 31), end to end through the built CLI with real fixture gateways under
 * the launchctl and systemctl doubles (they really run the job, and keep the loaded job across a
 * restart as launchd/systemd do): a version that rewrites its LaunchAgent or unit at every start,
 * with its own port and without the secrets, rewrites only the canary's own HOME; the live
 * definition is byte-identical before and after the canary; one that still reaches the real home
 * (here told where it is, as a release reading the password database would find it) is put back
 * byte for byte and the canary says so; the upgrade then ends `upgraded` on the live port with
 * every secret, never `degraded`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { grepTree, patchConfig, runCli, type TestEnv } from '../helpers/cli.js';
import { VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { adoptedOpenClawService, doublesHost, getJson } from '../helpers/gateway.js';

const registryUrl = inject('registryUrl');
const FROM = '2026.3.1';
const V = VARIANT_VERSIONS['rewrites-definition-always'];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function host(): Promise<TestEnv> {
  const t = await doublesHost(registryUrl, cleanups);
  expect((await runCli(['install', FROM], t.env)).code).toBe(0);
  patchConfig(t.ocHome, (cfg) => {
    cfg.health = { ...cfg.health, responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000, settle: { probes: 4, minWindowMs: 1_500 } };
    cfg.watch = { ...cfg.watch, windowMs: 0 };
    cfg.canary = { ...cfg.canary, defaultAllowanceMs: 15_000, minAllowanceMs: 5_000, timeoutMs: 20_000, stopGraceMs: 3_000 };
  });
  return t;
}

/** The fixture's `rewrote <file>` lines from the canary's log. */
function rewrites(canary: { log: string[] }): string[] {
  return canary.log.flatMap((l) => /openclaw fixture: rewrote (\S+)/.exec(l)?.[1] ?? []);
}

for (const kind of ['launchd', 'systemd'] as const) {
  describe(`a sealed canary (${kind} through the ${kind === 'launchd' ? 'launchctl' : 'systemctl'} double)`, () => {
    it('a version that rewrites its definition at every start rewrites only the canary\'s HOME; the live one stays byte-identical; upgraded with every secret', async () => {
      const SECRET = `sealed-secret-${Date.now()}-value`;
      const t = await host();
      const { definitionPath, port } = await adoptedOpenClawService(t, kind, FROM, SECRET);
      const before = fs.readFileSync(definitionPath);

      // The canary stage alone (the upgrade's own, with no restart after it).
      expect((await runCli(['install', V], t.env)).code).toBe(0);
      const r0 = await runCli(['verify', V, '--canary', '--json'], t.env);
      expect(r0.code, r0.stderr).toBe(0);
      const canary = r0.json.canary;
      expect(canary.ok).toBe(true);
      // It did try: the file it wrote is the canary's own, under its scratch HOME beside the state dir.
      const wrote = rewrites(canary);
      expect(wrote.length).toBeGreaterThan(0);
      for (const f of wrote) expect(f.startsWith(`${path.join(t.home, '.openclaw')}.oc-canary.`) && f.includes('/home/'), f).toBe(true);
      expect(wrote.some((f) => f.endsWith(kind === 'launchd' ? 'Library/LaunchAgents/ai.openclaw.gateway.plist' : '.config/systemd/user/openclaw-gateway.service'))).toBe(true);
      expect(canary.checks.find((c: { name: string }) => c.name === 'seal')).toMatchObject({ ok: true });
      expect(canary.checks.find((c: { name: string }) => c.name === 'definition')).toMatchObject({ ok: true, detail: expect.stringMatching(/unchanged/) });
      expect(fs.readFileSync(definitionPath).equals(before)).toBe(true);
      // Nothing of the canary's scratch remains.
      expect(fs.readdirSync(path.join(t.ocHome, 'canary'))).toEqual([]);
      expect(fs.readdirSync(t.home).filter((n) => n.includes('.oc-canary.'))).toEqual([]);

      const r = await runCli(['upgrade', V, '--json'], t.env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.outcome).toBe('upgraded');
      expect(rewrites(r.json.canary).every((f) => f.startsWith(`${path.join(t.home, '.openclaw')}.oc-canary.`))).toBe(true);
      expect(fs.readdirSync(t.home).filter((n) => n.includes('.oc-canary.'))).toEqual([]);
      expect(r.json.canary.detail).not.toMatch(/changed during the canary/);
      // The gateway serves the new version on the live port, with the secret.
      expect((await getJson(`http://127.0.0.1:${port}/startupz`))!.body.version).toBe(V);
      expect((await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`))!.body.values.OPENCLAW_GATEWAY_TOKEN).toBe(SECRET);
      // The post-flip drift guard put the secret and the launcher back into the file the live start rewrote.
      const text = fs.readFileSync(definitionPath, 'utf8');
      expect(text).toContain(SECRET);
      expect(text).toContain(path.join(t.ocHome, 'bin', 'openclaw-gateway'));
      expect(text).toContain(String(port));
      expect(grepTree(t.ocHome, SECRET)).toEqual([]);
    });
  });
}

describe('a canary that reaches the real home anyway (launchctl double)', () => {
  it('the rewritten live LaunchAgent is put back byte for byte before the flip, the canary says so; upgraded with every secret', async () => {
    const SECRET = `escape-secret-${Date.now()}-value`;
    const t = await host();
    const { definitionPath, port } = await adoptedOpenClawService(t, 'launchd', FROM, SECRET, { OPENCLAW_FIXTURE_REAL_HOME: t.home });
    expect((await runCli(['install', V], t.env)).code).toBe(0);
    const before = fs.readFileSync(definitionPath);
    const pid = (await getJson(`http://127.0.0.1:${port}/info`))!.body.pid;

    const r0 = await runCli(['verify', V, '--canary', '--json'], t.env);
    expect(r0.code, r0.stderr).toBe(0);
    // It did reach the live file (the fixture logs each file it rewrote) ...
    expect(rewrites(r0.json.canary)).toContain(definitionPath);
    // ... and the guard put it back exactly, and said so.
    expect(fs.readFileSync(definitionPath).equals(before)).toBe(true);
    expect(r0.json.canary.detail).toMatch(/changed during the canary: put back .*ai\.openclaw\.gateway\.plist byte for byte/);
    expect(r0.json.canary.checks.find((c: { name: string }) => c.name === 'definition')).toMatchObject({ ok: true });
    // The loaded job was never the rewritten file: the old gateway keeps its pid and its secret.
    expect((await getJson(`http://127.0.0.1:${port}/info`))!.body.pid).toBe(pid);

    const r = await runCli(['upgrade', V, '--json'], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.outcome).toBe('upgraded');
    expect(r.json.canary.detail).toMatch(/put back .* byte for byte/);
    expect((await getJson(`http://127.0.0.1:${port}/startupz`))!.body.version).toBe(V);
    expect((await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`))!.body.values.OPENCLAW_GATEWAY_TOKEN).toBe(SECRET);
    expect(fs.readFileSync(definitionPath, 'utf8')).toContain(SECRET);
    expect(grepTree(t.ocHome, SECRET)).toEqual([]);
  });
});
