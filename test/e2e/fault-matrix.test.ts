/**
 * The upgrade fault matrix: real fixture gateways under the process backend
 * (a real detached process group), a real registry, real SIGKILLs of the
 * updater. Every cell ends with the same invariants checked.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { CLI, grepTree, runCli } from '../helpers/cli.js';
import { gatewayHost, getJson, waitFor, type GatewayHost } from '../helpers/gateway.js';

const CANARY = `canary-${process.pid}-${Date.now()}-s3cr3t`;
let h: GatewayHost | undefined;

async function host(from = '2026.1.1'): Promise<GatewayHost> {
  h = await gatewayHost(inject('registryUrl'), from, { env: { OPENCLAW_GATEWAY_TOKEN: CANARY, OC_VERSIONS_SECRET_STORE: 'none' } });
  return h;
}

afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

/** The invariants every cell must end with. Returns the serving version. */
async function assertInvariants(g: GatewayHost, allowed: string[]): Promise<string> {
  const home = g.t.ocHome;
  const cur = fs.readlinkSync(path.join(home, 'current'));
  const version = path.basename(cur);
  expect(allowed).toContain(version);
  expect(fs.existsSync(path.join(home, 'versions', version, '.oc-seal.json'))).toBe(true);
  // the gateway serves, healthy, on the version current names
  await waitFor(async () => (await g.version()) === version, 15_000, `the gateway to serve ${version}`);
  expect((await getJson(`http://127.0.0.1:${g.port}/healthz`))?.status).toBe(200);
  // no leftovers
  expect(fs.readdirSync(path.join(home, 'staging'))).toEqual([]);
  expect(fs.readdirSync(home).filter((f) => f.includes('.tmp-') || f === 'journal.json')).toEqual([]);
  // lock free
  expect(fs.existsSync(path.join(home, 'lock'))).toBe(false);
  // no secret value anywhere under the home (logs, snapshots, state, service files)
  expect(grepTree(home, CANARY)).toEqual([]);
  return version;
}

describe('faults in the new version → automatic rollback', () => {
  const cells: Array<[string, string]> = [
    ['crash at start', VARIANT_VERSIONS['crash-at-start']],
    ['healthy HTTP but wrong version', VARIANT_VERSIONS['wrong-version']],
    ['liveness 503', VARIANT_VERSIONS['liveness-503']],
    ['a deep check fails', VARIANT_VERSIONS['deep-check-fails']],
  ];
  for (const [name, to] of cells) {
    it(`${name} (${to}): rolled-back, exit 6, old version serving`, async () => {
      const g = await host();
      const r = await g.cli('upgrade', to, '--json');
      expect(r.code, r.stderr).toBe(6);
      expect(r.json.outcome).toBe('rolled-back');
      expect(r.json.from).toBe('2026.1.1');
      expect(r.json.to).toBe(to);
      expect(r.json.stages[0]).toMatchObject({ name: 'installed+promoted', ok: true });
      expect(r.json.stages.some((s: { ok: boolean }) => !s.ok)).toBe(true);
      expect(r.json.rollback.stages.filter((s: { ok: boolean }) => !s.ok)).toEqual([]);
      // the log has one line per transition, and the outcome
      const log = fs.readFileSync(path.join(g.t.ocHome, 'logs', `${r.json.txid}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(log.at(-1)).toMatchObject({ event: 'outcome', outcome: 'rolled-back' });
      expect(await assertInvariants(g, ['2026.1.1'])).toBe('2026.1.1');
      const st = await g.cli('status', '--json');
      expect(st.json.transaction).toBeNull();
    });
  }

  it('slow start inside the deadline succeeds', async () => {
    const g = await host();
    const r = await g.cli('upgrade', VARIANT_VERSIONS['slow-start'], '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.outcome).toBe('upgraded');
    expect(await assertInvariants(g, [VARIANT_VERSIONS['slow-start']])).toBe(VARIANT_VERSIONS['slow-start']);
  });

  it('a foreign listener on the port never passes the gate; recover heals once it is gone', async () => {
    const g = await host();
    const stopped = await g.cli('service', 'stop');
    expect(stopped.code, stopped.stderr).toBe(0);
    // An impostor takes the port and answers every probe, even with the new version.
    const impostor = net.createServer((sock) => {
      sock.on('data', () => {
        const body = JSON.stringify({ ok: true, status: 'started', version: '2026.2.1' });
        sock.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      });
    });
    await new Promise<void>((r) => impostor.listen(g.port, '127.0.0.1', () => r()));
    try {
      const r = await g.cli('upgrade', '2026.2.1', '--json');
      expect(r.json.outcome, r.stderr).not.toBe('upgraded');
      expect([6, 7]).toContain(r.code);
      expect(JSON.stringify(r.json.stages)).toMatch(/EADDRINUSE|listener|not responsive|no running process/);
    } finally {
      await new Promise((r) => impostor.close(r));
    }
    const rec = await g.cli('recover', '--json');
    expect(rec.code, rec.stderr).toBe(0);
    await assertInvariants(g, ['2026.1.1']);
  });
});

describe('the updater killed (SIGKILL) at every phase → recover converges', () => {
  const phases: Array<[string, string[]]> = [
    ['snapshot', ['2026.1.1']],
    ['stage', ['2026.1.1']],
    ['flip', ['2026.1.1']],
    ['definition', ['2026.1.1']],
    ['restart', ['2026.1.1']],
    ['gate-responsive', ['2026.1.1']],
    ['gate-version', ['2026.1.1']],
    ['gate-deep', ['2026.1.1']],
    ['commit', ['2026.2.1']],
  ];
  for (const [phase, allowed] of phases) {
    it(`killed at ${phase}: recover → ${allowed.join('|')}`, async () => {
      const g = await host();
      const killed = await runCli(['upgrade', '2026.2.1', '--json'], { ...g.t.env, OC_VERSIONS_FAULT: `${phase}:kill` });
      expect(killed.signal).toBe('SIGKILL');
      const st = await g.cli('status', '--json');
      expect(st.json.transaction).toMatchObject({ phase, running: false });
      const r = await g.cli('recover', '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.recovered).toBe(true);
      expect(r.json.outcome).toBe(allowed[0] === '2026.1.1' ? 'old' : 'new');
      expect(r.json.version).toBe(allowed[0]);
      await assertInvariants(g, allowed);
    });
  }

  for (const phase of ['rollback-flip', 'rollback-definition', 'rollback-restart', 'rollback-gate']) {
    it(`killed during rollback at ${phase}: the next command recovers to the old version`, async () => {
      const g = await host();
      const killed = await runCli(['upgrade', VARIANT_VERSIONS['crash-at-start'], '--json'], { ...g.t.env, OC_VERSIONS_FAULT: `${phase}:kill` });
      expect(killed.signal).toBe('SIGKILL');
      // any mutating command recovers first
      const r = await g.cli('install', '2026.1.1', '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/recovered/);
      await assertInvariants(g, ['2026.1.1']);
    });
  }
});

describe('degraded: the old version fails its gate too', () => {
  it('stops with degraded (exit 7), keeps the journal, never flaps; use heals explicitly', async () => {
    // The "old" version serves HTTP but fails a deep check, so its own gate fails on rollback.
    const g = await host(VARIANT_VERSIONS['deep-check-fails']);
    expect((await g.cli('install', '2026.1.1')).code).toBe(0);
    const r = await g.cli('upgrade', VARIANT_VERSIONS['crash-at-start'], '--json');
    expect(r.code, r.stderr).toBe(7);
    expect(r.json.outcome).toBe('degraded');
    expect(r.json.next).toMatch(/recover/);
    const st = await g.cli('status', '--json');
    expect(st.json.transaction).toMatchObject({ degraded: true });
    const pidBefore = (await getJson(`http://127.0.0.1:${g.port}/info`))?.body.pid;
    expect(pidBefore).toBeGreaterThan(0);
    // other mutating commands refuse instead of retrying the rollback (no flapping)
    expect((await g.cli('install', '2026.2.1')).code).toBe(7);
    expect((await g.cli('upgrade', '2026.2.1')).code).toBe(7);
    // the unattended recovery agent's run reports it and does nothing either
    const auto = await g.cli('recover', '--auto', '--json');
    expect(auto.code).toBe(7);
    expect((await getJson(`http://127.0.0.1:${g.port}/info`))?.body.pid).toBe(pidBefore);
    expect(fs.existsSync(path.join(g.t.ocHome, 'journal.json'))).toBe(true);
    // the operator takes over explicitly: use closes the degraded transaction and switches through the gate
    const fix = await g.cli('use', '2026.1.1', '--json');
    expect(fix.code, fix.stderr).toBe(0);
    expect(fix.json.outcome).toBe('upgraded');
    await assertInvariants(g, ['2026.1.1']);
  });
});
