/**
 * The canary stage of `upgrade` (issue 9), end to end through the built CLI with real
 * fixture gateways under the process backend (and one through the launchctl double):
 * a version that cannot start on this host's state is refused before any downtime,
 * the live gateway keeps its pid and never stops answering, and nothing of the canary
 * (process, port, copied state) is left behind.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { CLI, grepTree } from '../helpers/cli.js';
import { LATEST_VERSION, VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { gatewayHost, getJson, waitFor, type GatewayHost } from '../helpers/gateway.js';
import { isAlive } from '../../src/os/proc.js';

const registryUrl = inject('registryUrl');
const FROM = '2026.3.1';
const SECRET = `canary-secret-${Math.random().toString(36).slice(2)}-value`;
const CONFIG_SECRET = `cfg-secret-${Math.random().toString(36).slice(2)}-value`;

let h: GatewayHost | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

/** A live state dir the way OpenClaw keeps it: a config with a secret, a WAL database at `userVersion`. */
function plantState(stateDir: string, userVersion: number): void {
  fs.mkdirSync(path.join(stateDir, 'state'), { recursive: true });
  fs.writeFileSync(path.join(stateDir, 'openclaw.json'), JSON.stringify({ gateway: { mode: 'local', auth: { mode: 'token', token: CONFIG_SECRET } } }, null, 2));
  const db = new DatabaseSync(path.join(stateDir, 'state', 'openclaw.sqlite'));
  db.exec('PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t (v TEXT); INSERT INTO t VALUES (\'live\');');
  db.exec(`PRAGMA user_version=${userVersion}`);
  db.close();
}

function checksums(stateDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of ['openclaw.json', 'state/openclaw.sqlite']) {
    out[rel] = createHash('sha256').update(fs.readFileSync(path.join(stateDir, rel))).digest('hex');
  }
  return out;
}

/** Poll /healthz every 20 ms until stopped; returns the longest run of failed polls, in ms. */
function pollGaps(port: number): { stop(): Promise<{ polls: number; maxGapMs: number }> } {
  let running = true;
  let polls = 0;
  let maxGapMs = 0;
  let failingSince: number | null = null;
  const loop = (async () => {
    while (running) {
      const ok = (await getJson(`http://127.0.0.1:${port}/healthz`, 1_000))?.status === 200;
      polls++;
      if (!ok) failingSince ??= Date.now();
      else if (failingSince !== null) {
        maxGapMs = Math.max(maxGapMs, Date.now() - failingSince);
        failingSince = null;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    if (failingSince !== null) maxGapMs = Math.max(maxGapMs, Date.now() - failingSince);
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { polls, maxGapMs };
    },
  };
}

/** Processes whose argv runs a file of `versions/<v>/` of this home. */
function processesOf(ocHome: string, version: string): number[] {
  const root = path.join(ocHome, 'versions', version) + path.sep;
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').some((a) => a.startsWith(root))) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

async function host(userVersion = 18): Promise<{ h: GatewayHost; stateDir: string; pid: number }> {
  const g = await gatewayHost(registryUrl, FROM, { env: { OPENCLAW_GATEWAY_TOKEN: SECRET } });
  const stateDir = g.t.env['OPENCLAW_STATE_DIR']!;
  plantState(stateDir, userVersion);
  const cfgPath = path.join(g.t.ocHome, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  cfg.canary = { ...cfg.canary, defaultAllowanceMs: 15_000, minAllowanceMs: 5_000, timeoutMs: 20_000, stopGraceMs: 3_000 };
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  const pid = (await getJson(`http://127.0.0.1:${g.port}/info`))!.body.pid as number;
  return { h: g, stateDir, pid };
}

function expectNoCanaryLeft(ocHome: string, version: string): void {
  const canaryDir = path.join(ocHome, 'canary');
  expect(fs.existsSync(canaryDir) ? fs.readdirSync(canaryDir) : []).toEqual([]);
  expect(processesOf(ocHome, version)).toEqual([]);
}

describe('upgrade: the canary on a copy of the live state', () => {
  it('a version that crashes on this host\'s state is refused at the canary (exit 5); the live gateway never stops', async () => {
    const v = VARIANT_VERSIONS['crash-on-state'];
    const x = await host(99); // a schema this version cannot open
    h = x.h;
    const poll = pollGaps(h.port);
    const r = await h.cli('upgrade', v, '--json');
    const gaps = await poll.stop();
    expect(r.code, r.stderr).toBe(5);
    expect(r.json.error.code).toBe('VALIDATION_FAILED');
    const canary = r.json.error.stages.find((s: { name: string }) => s.name === 'canary');
    expect(canary).toMatchObject({ name: 'canary', ok: false });
    expect(typeof canary.ms).toBe('number');
    expect(canary.detail).toMatch(/exit|exited|crash|startupz/i);
    // Before any downtime: same pid, same version, and a 20 ms poller saw no failed answer.
    expect((await getJson(`http://127.0.0.1:${h.port}/info`))!.body.pid).toBe(x.pid);
    expect(await h.version()).toBe(FROM);
    expect(gaps.polls).toBeGreaterThan(10);
    expect(gaps.maxGapMs).toBe(0);
    expect(fs.readlinkSync(path.join(h.t.ocHome, 'current'))).toContain(FROM);
    // The staged version stays sealed (it may be good elsewhere); nothing of the canary remains.
    expect(fs.existsSync(path.join(h.t.ocHome, 'versions', v, '.oc-seal.json'))).toBe(true);
    expectNoCanaryLeft(h.t.ocHome, v);
    expect(fs.existsSync(path.join(h.t.ocHome, 'journal.json'))).toBe(false);
    for (const s of [SECRET, CONFIG_SECRET]) expect(grepTree(h.t.ocHome, s)).toEqual([]);
  });

  it('a version whose /readyz stays 503 (channels failing) while /healthz is 200 is refused at the canary', async () => {
    const v = VARIANT_VERSIONS['readyz-503'];
    const x = await host();
    h = x.h;
    const r = await h.cli('upgrade', v, '--json');
    expect(r.code, r.stderr).toBe(5);
    const canary = r.json.error.stages.find((s: { name: string }) => s.name === 'canary');
    expect(canary.ok).toBe(false);
    expect(canary.detail).toMatch(/readyz/);
    expect((await getJson(`http://127.0.0.1:${h.port}/info`))!.body.pid).toBe(x.pid);
    expectNoCanaryLeft(h.t.ocHome, v);
  });

  it('a database preflight that fails refuses before the canary starts, naming the database', async () => {
    const v = VARIANT_VERSIONS['preflight-fails'];
    const x = await host();
    h = x.h;
    const r = await h.cli('upgrade', v, '--json');
    expect(r.code, r.stderr).toBe(5);
    const canary = r.json.error.stages.find((s: { name: string }) => s.name === 'canary');
    expect(canary.ok).toBe(false);
    expect(canary.detail).toMatch(/openclaw\.sqlite/);
    // Refused before the gateway of the new version was started.
    expect(canary.checks.find((c: { name: string }) => c.name === 'startupz')?.status ?? 'skipped').not.toBe('ok');
    expect((await getJson(`http://127.0.0.1:${h.port}/info`))!.body.pid).toBe(x.pid);
    expectNoCanaryLeft(h.t.ocHome, v);
  });

  it('a good version: the canary passes, the upgrade completes, the canary never wrote the live state', async () => {
    const x = await host();
    h = x.h;
    // The live gateway takes its owner lease in the state database (as OpenClaw 2026.9 does): the
    // copy the canary starts on must not carry it, or the canary refuses to start.
    const re = await h.cli('service', 'restart');
    expect(re.code, re.stderr).toBe(0);
    x.pid = (await waitFor(async () => (await getJson(`http://127.0.0.1:${h!.port}/info`))?.body, 15_000, 'the restarted gateway')).pid;
    const lease = new DatabaseSync(path.join(x.stateDir, 'state', 'openclaw.sqlite'), { readOnly: true });
    expect((lease.prepare("SELECT pid FROM state_leases WHERE scope = 'gateway-owner'").get() as { pid: number }).pid).toBe(x.pid);
    lease.close();
    // Measure the canary phase alone: the rehearsal runs exactly the upgrade's canary stage.
    const before = checksums(x.stateDir);
    const rehearsal = await h.cli('verify', FROM, '--canary', '--json');
    expect(rehearsal.code, rehearsal.stderr).toBe(0);
    expect(rehearsal.json.canary.ok).toBe(true);
    expect(checksums(x.stateDir)).toEqual(before);
    expect((await getJson(`http://127.0.0.1:${h.port}/info`))!.body.pid).toBe(x.pid);

    const r = await h.cli('upgrade', LATEST_VERSION, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.outcome).toBe('upgraded');
    expect(r.json.canary).toMatchObject({ name: 'canary', ok: true });
    expect(r.json.canary.startMs).toBeGreaterThan(0);
    expect(await h.version()).toBe(LATEST_VERSION);
    const log = fs.readFileSync(path.join(h.t.ocHome, 'logs', `${r.json.txid}.jsonl`), 'utf8');
    expect(log).toMatch(/"phase":"canary"/);
    // The canary's copy is gone; the one process of the new version is the gateway itself.
    expect(fs.readdirSync(path.join(h.t.ocHome, 'canary'))).toEqual([]);
    const gw = (await getJson(`http://127.0.0.1:${h.port}/info`))!.body.pid as number;
    expect(processesOf(h.t.ocHome, LATEST_VERSION).filter((p) => p !== gw)).toEqual([]);
    for (const s of [SECRET, CONFIG_SECRET]) expect(grepTree(h.t.ocHome, s)).toEqual([]);
    // The next upgrade's allowance comes from this measured start.
    const state = JSON.parse(fs.readFileSync(path.join(h.t.ocHome, 'state.json'), 'utf8'));
    expect(state.startMs[LATEST_VERSION]).toBeGreaterThan(0);
  });

  it('the updater SIGKILLed while its canary runs: the next command recovers, no canary process or copy remains', async () => {
    const x = await host();
    h = x.h;
    const v = LATEST_VERSION;
    const install = await h.cli('install', v);
    expect(install.code, install.stderr).toBe(0);
    const child = spawn(process.execPath, [CLI, 'upgrade', v, '--json'], { env: h.t.env, stdio: 'ignore' });
    const canaryDir = path.join(h.t.ocHome, 'canary');
    // Wait until the canary gateway is running (its record names its pid), then kill the updater.
    const canaryPid = await waitFor(async () => {
      for (const f of fs.existsSync(canaryDir) ? fs.readdirSync(canaryDir).filter((n) => n.endsWith('.json')) : []) {
        try {
          const rec = JSON.parse(fs.readFileSync(path.join(canaryDir, f), 'utf8'));
          if (rec.pid && isAlive(rec.pid)) return rec.pid as number;
        } catch {
          // being written
        }
      }
      return null;
    }, 30_000, 'the canary to start');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(isAlive(canaryPid)).toBe(true);
    const j = JSON.parse(fs.readFileSync(path.join(h.t.ocHome, 'journal.json'), 'utf8'));
    expect(j.phase).toBe('canary');

    const rec = await h.cli('recover', '--json');
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.json.outcome).toBe('old');
    await waitFor(async () => !isAlive(canaryPid), 5_000, 'the canary to be gone');
    expectNoCanaryLeft(h.t.ocHome, v);
    expect((await getJson(`http://127.0.0.1:${h.port}/info`))!.body.pid).toBe(x.pid);
    expect(await h.version()).toBe(FROM);
  });

  it('--no-canary skips it and says what it gives up', async () => {
    const x = await host();
    h = x.h;
    const r = await h.cli('upgrade', LATEST_VERSION, '--no-canary', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/--no-canary: .*outage/);
    expect(r.json.canary ?? null).toBeNull();
    expect(await h.version()).toBe(LATEST_VERSION);
  });
});
