/**
 * OpenClaw's restart handoff under the process backend's keep-alive (issue 29;
 * docs/service.md#the-restart-handoff). The fixture speaks the contract as 2026.9.6 does: in
 * external mode a restart request (`openclaw gateway restart` through the shim, SIGUSR2) drains,
 * writes a handoff row and exits 0; the supervisor consumes it with the exited pid through the
 * home's launcher pinned to that gateway's version, and restarts at once. Asserted as causes: the
 * supervisor's record (handoffs, lastHandoff, restarts, recentExits, lastExit) and its log lines,
 * the fixture's consume log, `service status --json` and `status --json`; never times.
 * Also the consume contract itself on the fixture's CLI (shapes and exit codes).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { gatewayHost, getJson, waitFor, type GatewayHost } from '../helpers/gateway.js';

const registryUrl = inject('registryUrl');
const FROM = '2026.3.1';

let h: GatewayHost | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

function readJson(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

async function gatewayInfo(port: number): Promise<{ pid: number; version: string }> {
  const r = await getJson(`http://127.0.0.1:${port}/info`);
  return r!.body;
}

/** The gateway's state dir, as it sees it. */
async function stateDirOf(port: number): Promise<string> {
  const r = await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_STATE_DIR,HOME`);
  const v = r!.body.values;
  return v.OPENCLAW_STATE_DIR ?? path.join(v.HOME, '.openclaw');
}

async function newGateway(port: number, old: number): Promise<number> {
  let pid = 0;
  await waitFor(async () => {
    const r = await getJson(`http://127.0.0.1:${port}/info`);
    pid = r?.status === 200 ? (r.body.pid as number) : 0;
    return pid !== 0 && pid !== old;
  }, 60_000, 'the restarted gateway');
  return pid;
}

describe('restart handoff under the keep-alive supervisor (process backend)', () => {
  it('`openclaw gateway restart` through the shim, then SIGUSR2: each handoff accepted, restarted at once, no crash counted', async () => {
    h = await gatewayHost(registryUrl, FROM);
    const sup = h.t.ocHome + '/service/keepalive.json';
    const log = h.t.ocHome + '/service/gateway.log';
    const first = await gatewayInfo(h.port);
    const stateDir = await stateDirOf(h.port);
    const before = readJson(sup);
    expect(before).toMatchObject({ state: 'running', restarts: 0, recentExits: 0, handoffs: 0, lastExit: null });

    // 1. The operator's restart through our CLI shim (external mode): the gateway drains, writes its row, exits 0.
    const shim = path.join(h.t.ocHome, 'bin', 'openclaw');
    const r = spawnSync(shim, ['gateway', 'restart', '--port', String(h.port)], { env: h.t.env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ ok: true, mode: 'external', pid: first.pid });
    const second = await newGateway(h.port, first.pid);
    await waitFor(async () => readJson(sup)?.handoffs === 1 && readJson(sup)?.state === 'running', 30_000, 'the record of the first handoff');
    const afterOne = readJson(sup);
    expect(afterOne).toMatchObject({ pid: before.pid, restarts: 0, recentExits: 0, lastExit: null, handoffs: 1 });
    expect(afterOne.lastHandoff).toMatchObject({ pid: first.pid, status: 'accepted', reason: null, action: 'restarted' });
    expect(afterOne.lastHandoff.detail).toContain(`handoff of pid ${first.pid} accepted`);

    // 2. SIGUSR2 straight to the gateway (what a config or plugin change amounts to).
    process.kill(second, 'SIGUSR2');
    const third = await newGateway(h.port, second);
    await waitFor(async () => readJson(sup)?.handoffs === 2 && readJson(sup)?.state === 'running', 30_000, 'the record of the second handoff');
    const afterTwo = readJson(sup);
    expect(afterTwo).toMatchObject({ pid: before.pid, restarts: 0, recentExits: 0, lastExit: null, handoffs: 2 });
    expect(afterTwo.lastHandoff).toMatchObject({ pid: second, status: 'accepted', action: 'restarted' });
    expect(afterTwo.lastHandoff.detail).toContain('(signal SIGUSR2)');

    // The causes, in the supervisor's log: consumed and restarted at once, never a backoff.
    const lines = fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('oc-versions keep-alive:'));
    expect(lines.filter((l) => /exited 0 with a restart handoff: handoff of pid \d+ accepted.*restarting at once \(no backoff, not counted as a crash\)/.test(l))).toHaveLength(2);
    expect(lines.some((l) => l.includes('treated as an unexpected exit'))).toBe(false);
    // The fixture's store: each row consumed once, for the pid that wrote it, in external mode; none left.
    const consumed = fs.readFileSync(path.join(stateDir, 'state', 'restart-handoff.consumed.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(consumed.map((c) => [c.expectedPid, c.status, c.mode])).toEqual([
      [first.pid, 'accepted', 'external'],
      [second, 'accepted', 'external'],
    ]);
    expect(fs.existsSync(path.join(stateDir, 'state', 'restart-handoff.json'))).toBe(false);

    // Reported: service status and status (its service section), with the crash counters untouched.
    const st = await h.cli('service', 'status', '--json');
    expect(st.code, st.stderr).toBe(0);
    expect(st.json).toMatchObject({ running: true, pid: third, restarts: 0, lastExitCode: null, crashLoop: false, handoffs: 2, lastHandoff: { pid: second, status: 'accepted' } });
    const all = await h.cli('status', '--json');
    expect(all.json.service).toMatchObject({ pid: third, restarts: 0, handoffs: 2, lastHandoff: { status: 'accepted', action: 'restarted' } });
  });

  it('a clean exit without a handoff row: consumed as none (missing), logged, and treated as an unexpected exit (backoff, counted)', async () => {
    h = await gatewayHost(registryUrl, FROM);
    const sup = h.t.ocHome + '/service/keepalive.json';
    const first = await gatewayInfo(h.port);
    // /crash?code=0: exits 0 without writing a row (not a restart request).
    await getJson(`http://127.0.0.1:${h.port}/crash?code=0`);
    await newGateway(h.port, first.pid);
    await waitFor(async () => readJson(sup)?.restarts === 1 && readJson(sup)?.state === 'running', 30_000, 'the restart after the exit');
    const rec = readJson(sup);
    expect(rec).toMatchObject({ restarts: 1, recentExits: 1, lastExit: { code: 0, signal: null }, handoffs: 0 });
    expect(rec.lastHandoff).toMatchObject({ pid: first.pid, status: 'none', reason: 'missing', action: 'policy' });
    const log = fs.readFileSync(h.t.ocHome + '/service/gateway.log', 'utf8');
    expect(log).toContain(`oc-versions keep-alive: gateway pid ${first.pid} exited 0 without an accepted restart handoff: handoff of pid ${first.pid}: none (missing); treated as an unexpected exit`);
  });

  it('the consume contract on the fixture CLI: capabilities, none/missing, pid-mismatch keeps the row, expired, invalid-expected-pid (exit 2), store-unavailable (exit 1)', async () => {
    h = await gatewayHost(registryUrl, FROM);
    const shim = path.join(h.t.ocHome, 'bin', 'openclaw');
    const stateDir = await stateDirOf(h.port);
    const env = { ...h.t.env, OPENCLAW_STATE_DIR: stateDir };
    const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
      const r = spawnSync(shim, ['gateway', 'restart-handoff', ...args], { env: { ...env, ...extra }, encoding: 'utf8' });
      return { code: r.status, json: JSON.parse(r.stdout.trim().split('\n').pop()!) };
    };
    const proto = { protocol: 'openclaw.gateway.restart-handoff', protocolVersion: 1 };
    expect(run(['capabilities', '--json'])).toEqual({ code: 0, json: { ok: true, ...proto, operations: ['consume'] } });
    expect(run(['consume', '--expected-pid', '4242', '--json'])).toEqual({ code: 0, json: { ok: true, ...proto, status: 'none', reason: 'missing' } });
    const row = path.join(stateDir, 'state', 'restart-handoff.json');
    const now = Date.now();
    const base = { kind: 'gateway-supervisor-restart-handoff', version: 1, intentId: 'x', pid: 777, createdAt: now, expiresAt: now + 60_000, source: 'signal', restartKind: 'full-process', supervisorMode: 'external' };
    fs.mkdirSync(path.dirname(row), { recursive: true });
    fs.writeFileSync(row, JSON.stringify(base));
    expect(run(['consume', '--expected-pid', '4242', '--json']).json).toMatchObject({ status: 'rejected', reason: 'pid-mismatch', handoffPid: 777 });
    expect(fs.existsSync(row)).toBe(true); // kept for its owner
    fs.writeFileSync(row, JSON.stringify({ ...base, createdAt: now - 120_000, expiresAt: now - 60_000 }));
    expect(run(['consume', '--expected-pid', '777', '--json']).json).toMatchObject({ status: 'rejected', reason: 'expired', handoffPid: 777 });
    expect(fs.existsSync(row)).toBe(false);
    expect(run(['consume', '--expected-pid', 'abc', '--json'])).toEqual({ code: 2, json: { ok: false, ...proto, status: 'error', reason: 'invalid-expected-pid' } });
    expect(run(['consume', '--expected-pid', '777', '--json'], { FIXTURE_HANDOFF_STORE: 'unavailable' })).toEqual({ code: 1, json: { ok: false, ...proto, status: 'error', reason: 'store-unavailable' } });
  });
});
