/**
 * The upgrade fault matrix: real fixture gateways under the process backend
 * (a real detached process group, under its keep-alive supervisor: the default), a real
 * registry, real SIGKILLs of the updater. Every cell ends with the same invariants checked.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { FAULT_POINTS } from '../../src/core/journal.js';
import { VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { grepTree, patchConfig, runCli } from '../helpers/cli.js';
import { filesContaining } from '../helpers/fake-home.js';
import { doublesHost, freePort, gatewayHost, getJson, waitFor, type GatewayHost } from '../helpers/gateway.js';
import { launchctl } from '../helpers/launchd-model.js';
import { gatewaysOf, supervisorsOf, tempFiles, trackedPid } from '../helpers/gateways.js';

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
  expect(fs.existsSync(path.join(home, 'journal.json'))).toBe(false);
  expect(tempFiles(home)).toEqual([]);
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
      // Past the canary (which refuses these before the flip): these cells are the post-flip gate's.
      const r = await g.cli('upgrade', to, '--no-canary', '--json');
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

  it('a candidate that exits after passing the responsive stage fails the version stage at once, with its log', async () => {
    const g = await host();
    // A version deadline far beyond the test's timeout: only noticing the exit can end the stage in time.
    const cfgPath = path.join(g.t.ocHome, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    cfg.health.versionDeadlineMs = 900_000;
    fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
    const to = VARIANT_VERSIONS['dies-after-liveness'];
    const r = await g.cli('upgrade', to, '--no-canary', '--json');
    expect(r.code, r.stderr).toBe(6);
    expect(r.json.outcome).toBe('rolled-back');
    expect(r.json.stages.find((s: { name: string }) => s.name === 'restarted+responsive')).toMatchObject({ ok: true });
    const verified = r.json.stages.find((s: { name: string }) => s.name === 'health-verified');
    expect(verified.ok).toBe(false);
    expect(verified.detail).toMatch(/^version: the gateway \(pid \d+\) exited; its log ends: .*dies-after-liveness: fatal error after startup/);
    expect(await assertInvariants(g, ['2026.1.1'])).toBe('2026.1.1');
  });

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

/**
 * Every fault point (src/core/journal.ts FAULT_POINTS: each journal phase, and the steps inside
 * phases) × both forms (`kill`: the updater SIGKILLs itself; `throw`: it throws from that spot),
 * end to end: the upgrade, then `recover`, then the invariants. The rollback points need an upgrade
 * that fails its gate, so their cells upgrade to the crash-at-start variant. One host per form,
 * reset between cells (current back on OLD, NEW uninstalled so that the upgrade stages it again).
 */
const OLD = '2026.1.1';
const NEW = '2026.2.1';
const CRASH = VARIANT_VERSIONS['crash-at-start'];
/** [point, upgrade target, version recover converges to, what a `throw` there ends in] */
const MATRIX: Array<[string, string, string, 'error' | 'rolled-back']> = [
  ['begin', NEW, OLD, 'error'],
  ['snapshot', NEW, OLD, 'error'],
  ['stage', NEW, OLD, 'error'],
  ['canary', NEW, OLD, 'error'],
  ['flip', NEW, OLD, 'error'],
  ['definition', NEW, OLD, 'rolled-back'],
  ['restart', NEW, OLD, 'rolled-back'],
  ['restart/spawned', NEW, OLD, 'rolled-back'],
  ['gate-responsive', NEW, OLD, 'rolled-back'],
  ['gate-version', NEW, OLD, 'rolled-back'],
  ['gate-deep', NEW, OLD, 'rolled-back'],
  ['settle', NEW, OLD, 'rolled-back'],
  ['commit', NEW, NEW, 'error'],
  ['rollback-flip', CRASH, OLD, 'error'],
  ['rollback-definition', CRASH, OLD, 'error'],
  ['rollback-restart', CRASH, OLD, 'error'],
  ['rollback-restart/spawned', CRASH, OLD, 'error'],
  ['rollback-gate', CRASH, OLD, 'error'],
];

it('the matrix has one row per fault point the updater knows', () => {
  expect(MATRIX.map(([p]) => p).sort()).toEqual([...FAULT_POINTS].sort());
});

/**
 * Exactly one gateway of this home runs, it is the one the pidfile tracks, and `status` reports it;
 * with keep-alive (the default) exactly one supervisor of the home runs, the one its record names,
 * supervising (so a crash now would be restarted, and nothing races it).
 */
async function assertOneTrackedGateway(g: GatewayHost, version: string, keepAlive = true): Promise<void> {
  const tracked = trackedPid(g.t.ocHome);
  expect(tracked, 'service/gateway.pid.json names the gateway').not.toBeNull();
  expect(gatewaysOf(g.t.ocHome)).toEqual([tracked]);
  expect((await getJson(`http://127.0.0.1:${g.port}/info`))?.body).toMatchObject({ pid: tracked, version });
  const st = await g.cli('status', '--json');
  expect(st.json.service).toMatchObject({ running: true, pid: tracked, version });
  if (keepAlive) {
    const sup = JSON.parse(fs.readFileSync(path.join(g.t.ocHome, 'service', 'keepalive.json'), 'utf8'));
    expect(supervisorsOf(g.t.ocHome), 'one keep-alive supervisor of the home runs').toEqual([sup.pid]);
    expect(sup.state).toBe('running');
  } else {
    expect(supervisorsOf(g.t.ocHome)).toEqual([]);
  }
}

for (const form of ['kill', 'throw'] as const) {
  describe(`fault matrix, ${form} form: the updater ${form === 'kill' ? 'SIGKILLed' : 'throwing'} at each fault point → recover converges`, () => {
    let g: GatewayHost;
    beforeAll(async () => {
      g = await gatewayHost(inject('registryUrl'), OLD, { env: { OPENCLAW_GATEWAY_TOKEN: CANARY, OC_VERSIONS_SECRET_STORE: 'none' } });
    });
    afterAll(async () => {
      await g?.cleanup();
    });

    /** Back to the state every cell starts from: OLD current and serving, NEW not installed. */
    async function reset(): Promise<void> {
      if (path.basename(fs.readlinkSync(path.join(g.t.ocHome, 'current'))) !== OLD) {
        const u = await g.cli('use', OLD, '--json');
        expect(u.code, u.stderr).toBe(0);
      }
      if (fs.existsSync(path.join(g.t.ocHome, 'versions', NEW))) {
        const u = await g.cli('uninstall', NEW, '--force');
        expect(u.code, u.stderr).toBe(0);
      }
    }

    for (const [point, to, converges, thrown] of MATRIX) {
      it(`${point}:${form} (upgrade to ${to}) → recover → ${converges}`, async () => {
        await reset();
        const home = g.t.ocHome;
        // The rollback points need a version that fails the post-flip gate: past the canary for it.
        const args = ['upgrade', to, ...(to === CRASH ? ['--no-canary'] : []), '--json'];
        const r = await runCli(args, { ...g.t.env, OC_VERSIONS_FAULT: `${point}:${form}` });
        const journalFile = path.join(home, 'journal.json');
        const journal = fs.existsSync(journalFile) ? JSON.parse(fs.readFileSync(journalFile, 'utf8')) : null;
        if (form === 'kill') {
          expect(r.signal, r.stderr).toBe('SIGKILL');
          // the journal names the phase the fault point belongs to: the kill landed where the table says
          expect(journal?.phase).toBe(point.split('/')[0]);
        } else {
          expect(r.signal).toBeNull();
          expect(r.stdout + r.stderr).toContain(`injected fault at ${point.includes('/') ? 'step' : 'phase'} ${point}`);
          if (thrown === 'rolled-back') {
            expect(r.code, r.stderr).toBe(6);
            expect(r.json.outcome).toBe('rolled-back');
            expect(journal).toBeNull();
          } else {
            expect(r.code).not.toBe(0);
            expect(journal?.phase).toBe(point.split('/')[0]);
          }
        }
        if (point.endsWith('/spawned') && form === 'kill') {
          // The updater died right after spawning the keep-alive supervisor, which lives on and may
          // not have started the gateway yet. At restart/spawned recover runs at once (it must stop
          // that supervisor, whatever it has got to, instead of racing it for the port); at
          // rollback-restart/spawned the supervisor is let finish first: it runs one gateway and
          // records it, and status sees it.
          if (point === 'rollback-restart/spawned') {
            await waitFor(async () => gatewaysOf(home).length === 1 && trackedPid(home) === gatewaysOf(home)[0], 15_000, 'the supervisor to run and record the gateway');
            const st = await g.cli('status', '--json');
            expect(st.json.service).toMatchObject({ running: true, pid: gatewaysOf(home)[0] });
          }
          expect(supervisorsOf(home).length).toBeGreaterThanOrEqual(1);
          // what a SIGKILL in the middle of the pidfile write leaves: recover must sweep it
          fs.writeFileSync(path.join(home, 'service', 'gateway.pid.json.2718281828'), '{"pid": 4');
        }
        const rec = await g.cli('recover', '--json');
        expect(rec.code, rec.stderr).toBe(0);
        expect(rec.json.recovered).toBe(journal !== null);
        expect(rec.json.version).toBe(converges);
        if (journal !== null) expect(rec.json.outcome).toBe(converges === OLD ? 'old' : 'new');
        await assertInvariants(g, [converges]);
        await assertOneTrackedGateway(g, converges);
      });
    }

    it('the canary search finds a planted canary anywhere under the home (so its empty answers mean something)', async () => {
      const home = g.t.ocHome;
      const planted = [path.join(home, 'service', 'planted.log'), path.join(home, 'snapshots', 'planted', 'deep', 'x.bin')];
      fs.mkdirSync(path.dirname(planted[1]!), { recursive: true });
      fs.writeFileSync(planted[0]!, `line one\nOPENCLAW_GATEWAY_TOKEN=${CANARY}\n`);
      fs.writeFileSync(planted[1]!, Buffer.concat([Buffer.from([0, 1, 2, 255]), Buffer.from(CANARY), Buffer.from([0])]));
      try {
        expect(grepTree(home, CANARY).sort()).toEqual([...planted].sort());
        expect((await filesContaining(home, CANARY)).sort()).toEqual([...planted].sort());
      } finally {
        fs.rmSync(planted[0]!);
        fs.rmSync(path.join(home, 'snapshots', 'planted'), { recursive: true });
      }
      expect(grepTree(home, CANARY)).toEqual([]);
    });
  });
}

describe('degraded: the old version fails its gate too', () => {
  it('stops with degraded (exit 7), keeps the journal, never flaps; use heals explicitly', async () => {
    // The "old" version serves HTTP but fails a deep check, so its own gate fails on rollback.
    const g = await host(VARIANT_VERSIONS['deep-check-fails']);
    expect((await g.cli('install', '2026.1.1')).code).toBe(0);
    const r = await g.cli('upgrade', VARIANT_VERSIONS['crash-at-start'], '--no-canary', '--json');
    expect(r.code, r.stderr).toBe(7);
    expect(r.json.outcome).toBe('degraded');
    expect(r.json.next).toMatch(/recover/);
    const st = await g.cli('status', '--json');
    expect(st.json.transaction).toMatchObject({ degraded: true });
    const pidBefore = (await getJson(`http://127.0.0.1:${g.port}/info`))?.body.pid;
    expect(pidBefore).toBeGreaterThan(0);
    // other mutating commands refuse instead of retrying the rollback (no flapping)
    expect((await g.cli('install', '2026.2.1')).code).toBe(7);
    expect((await g.cli('upgrade', '2026.2.1', '--no-canary')).code).toBe(7);
    // the unattended recovery agent's run reports it and does nothing either
    const auto = await g.cli('recover', '--auto', '--json');
    expect(auto.code).toBe(7);
    expect((await getJson(`http://127.0.0.1:${g.port}/info`))?.body.pid).toBe(pidBefore);
    expect(fs.existsSync(path.join(g.t.ocHome, 'journal.json'))).toBe(true);
    // the operator takes over explicitly: use closes the degraded transaction and switches through the gate
    const fix = await g.cli('use', '2026.1.1', '--json');
    expect(fix.code, fix.stderr).toBe(0);
    expect(fix.json.outcome).toBe('switched');
    await assertInvariants(g, ['2026.1.1']);
  });
});

describe('direct spawn (--no-keep-alive): the updater SIGKILLed between the spawn and the pidfile', () => {
  it('leaves a gateway the pidfile does not name; status sees it by its mark, recover replaces it', async () => {
    const g = await gatewayHost(inject('registryUrl'), OLD, { env: { OPENCLAW_GATEWAY_TOKEN: CANARY, OC_VERSIONS_SECRET_STORE: 'none' }, keepAlive: false });
    h = g;
    const home = g.t.ocHome;
    expect(JSON.parse(fs.readFileSync(path.join(home, 'config.json'), 'utf8')).service.keepAlive).toBe(false);
    expect(supervisorsOf(home)).toEqual([]);
    const r = await runCli(['upgrade', NEW, '--json'], { ...g.t.env, OC_VERSIONS_FAULT: 'restart/spawned:kill' });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    const running = gatewaysOf(home);
    expect(running).toHaveLength(1);
    expect(trackedPid(home)).not.toBe(running[0]);
    const st = await g.cli('status', '--json');
    expect(st.json.service).toMatchObject({ running: true, pid: running[0] });
    fs.writeFileSync(path.join(home, 'service', 'gateway.pid.json.2718281828'), '{"pid": 4');
    const rec = await g.cli('recover', '--json');
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.json).toMatchObject({ recovered: true, outcome: 'old', version: OLD });
    await assertInvariants(g, [OLD]);
    await assertOneTrackedGateway(g, OLD, false);
  });
});

/**
 * The launchd kill points (issue 27) on the launchd model: the updater SIGKILLed at the restart,
 * in the gate and at the rollback's restart, with the process environment unreadable as on macOS
 * (OC_VERSIONS_NO_PROC=1: the drift checks read the loaded job through `launchctl print`). Then
 * `recover`, the same invariants, the label loaded and `service status` naming the gateway's pid.
 */
describe('fault matrix on the launchd model (no /proc environ): the updater SIGKILLed at restart, gate and rollback-restart → recover converges', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  let g: GatewayHost;
  const target = `gui/${process.getuid!()}/ai.openclaw.gateway`;
  beforeAll(async () => {
    const t = await doublesHost(inject('registryUrl'), cleanups);
    t.env['OC_VERSIONS_NO_PROC'] = '1';
    t.env['OPENCLAW_GATEWAY_TOKEN'] = CANARY;
    const port = await freePort();
    const cli = (...a: string[]) => runCli(a, t.env);
    expect((await cli('install', OLD)).code).toBe(0);
    patchConfig(t.ocHome, (cfg) => {
      cfg.health = { ...cfg.health, responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000, deepDeadlineMs: 20_000, probeIntervalMs: 100, settle: { probes: 4, minWindowMs: 800 } };
      cfg.service = { ...cfg.service, drainMs: 3_000 };
      cfg.watch = { ...cfg.watch, windowMs: 0 };
    });
    const inst = await cli('service', 'install', '--manager', 'launchd', '--env', 'OPENCLAW_GATEWAY_TOKEN', '--', 'gateway', 'run', '--port', String(port));
    expect(inst.code, inst.stderr).toBe(0);
    g = {
      t,
      port,
      cli,
      async version() {
        const r = await getJson(`http://127.0.0.1:${port}/startupz`);
        return r?.status === 200 ? (r.body.version as string) : null;
      },
      cleanup: async () => undefined,
    };
    await waitFor(async () => (await g.version()) === OLD, 15_000, 'the gateway');
  });
  afterAll(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  for (const [point, to] of [['restart', NEW], ['gate-responsive', NEW], ['gate-deep', NEW], ['rollback-restart', CRASH]] as const) {
    it(`${point}:kill (upgrade to ${to}) → recover → ${OLD}; the label loaded, status names the gateway`, async () => {
      if (path.basename(fs.readlinkSync(path.join(g.t.ocHome, 'current'))) !== OLD) expect((await g.cli('use', OLD)).code).toBe(0);
      if (fs.existsSync(path.join(g.t.ocHome, 'versions', NEW))) expect((await g.cli('uninstall', NEW, '--force')).code).toBe(0);
      const r = await runCli(['upgrade', to, ...(to === CRASH ? ['--no-canary'] : []), '--json'], { ...g.t.env, OC_VERSIONS_FAULT: `${point}:kill` });
      expect(r.signal, r.stderr).toBe('SIGKILL');
      const journal = JSON.parse(fs.readFileSync(path.join(g.t.ocHome, 'journal.json'), 'utf8'));
      expect(journal.phase).toBe(point);
      const rec = await g.cli('recover', '--json');
      expect(rec.code, rec.stderr).toBe(0);
      expect(rec.json).toMatchObject({ recovered: true, version: OLD, outcome: 'old' });
      await assertInvariants(g, [OLD]);
      expect(launchctl(g.t.env, 'print', target).status, 'the label is loaded').toBe(0);
      const st = await g.cli('service', 'status', '--json');
      expect(st.json).toMatchObject({ manager: 'launchd', running: true, version: OLD });
      expect(st.json.pid).toBe((await getJson(`http://127.0.0.1:${g.port}/info`))?.body.pid);
      expect((await getJson(`http://127.0.0.1:${g.port}/env?keys=OPENCLAW_GATEWAY_TOKEN`))?.body.values.OPENCLAW_GATEWAY_TOKEN).toBe(CANARY);
    });
  }
});
