/**
 * The systemd backend against a REAL `systemd --user` (systemd 252), started once for this file by
 * test/helpers/systemd-user.ts in a private mount namespace as a dedicated test user. The built
 * CLI runs as that user (its own user manager, the real systemctl/journalctl); fixture gateways
 * come from the test registry. Every assertion about the service is what the manager reports
 * (`systemctl --user show`), the gateway answers, or the journal holds.
 *
 * Needs root and the Debian packages systemd, dbus, dbus-user-session, util-linux (.ci/run installs
 * them when root); otherwise the whole file reports itself skipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { grepTree, type CliResult } from '../helpers/cli.js';
import { FAKE_GATEWAY_SOURCE } from '../helpers/fake-home.js';
import { VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { freePort, getJson, waitFor } from '../helpers/gateway.js';
import { startSystemdUser, systemdUserSkipReason, type SystemdUser } from '../helpers/systemd-user.js';
import { makeLayout } from '../../src/core/layout.js';
import { recoveryTimerName } from '../../src/service/systemd-timer.js';

const skipReason = systemdUserSkipReason();
const CRASH = VARIANT_VERSIONS['crash-at-start'];
const SHOW = ['MainPID', 'ActiveState', 'SubState', 'NRestarts', 'Result'];
const DRAIN_MS = 3_000;

function uidOf(pid: number): number {
  const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]);
}

/** Fast deadlines (fixture gateways start in well under a second) and the drain budget. */
function tuneConfig(ocHome: string, uid: number, gid: number): void {
  const file = path.join(ocHome, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  cfg.health = { ...cfg.health, responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000, deepDeadlineMs: 20_000, probeIntervalMs: 100, settle: { probes: 4, minWindowMs: 800 } };
  cfg.service = { ...cfg.service, drainMs: DRAIN_MS };
  // The recovery timer (and the stabilization watch's tick) every 3 s instead of every minute.
  cfg.watch = { ...cfg.watch, intervalS: 3, windowMs: 0 };
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  fs.chownSync(file, uid, gid);
}

/**
 * SIGKILL the unit's main process by its pid, which must be one: a MainPID of 0 (no process, after
 * an earlier failure) would be kill(0), this test run's own process group.
 */
function killMain(pid: number): void {
  expect(pid, 'MainPID of a running gateway').toBeGreaterThan(1);
  expect(uidOf(pid), 'the gateway runs as the test user').not.toBe(0);
  process.kill(pid, 'SIGKILL');
}

const ok = (r: CliResult) => `exit ${r.code} ${r.signal ?? ''}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-2000)}`;

describe.skipIf(skipReason !== '')(`real systemd --user${skipReason ? ` -- SKIPPED: ${skipReason}` : ''}`, () => {
  let sd: SystemdUser;
  let stopped = false;
  const t0 = Date.now();
  // One oc-versions home for the file (the adopt lane reuses the versions the first lane installed:
  // fewer installs keep the lane lean).
  let ocHome: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    sd = await startSystemdUser();
    process.stdout.write(`[systemd-real] user manager pid ${sd.managerPid} as ${sd.user} (uid ${sd.uid}) ready in ${sd.startMs} ms\n`);
    ocHome = path.join(await sd.makeUserDir('oc'), 'oc-home');
    env = sd.userEnv({
      OC_VERSIONS_HOME: ocHome,
      npm_config_registry: inject('registryUrl'),
      npm_config_update_notifier: 'false',
      OC_VERSIONS_SECRET_STORE: 'none',
    });
  }, 90_000);

  afterAll(async () => {
    if (sd && !stopped) await sd.stop();
  }, 120_000);

  describe('service install → upgrade → crash rollbacks → use → kill -9 → drain (one oc-versions home)', () => {
    const UNIT = 'openclaw-gateway.service';
    let port: number;
    const cli = (...args: string[]) => sd.runCli(args, env);
    /** Until no operation holds the home's lock (`status` never waits for it, and names the holder). */
    const waitUnlocked = () => waitFor(async () => (await cli('status', '--json')).json?.lock === null, 90_000, 'the lock to be free');
    const show = () => sd.show(UNIT, SHOW);
    const serving = async () => (await getJson(`http://127.0.0.1:${port}/info`))?.body as { pid: number; version: string } | undefined;
    const waitServing = (version: string, pid?: number) =>
      waitFor(async () => {
        const s = await show();
        const info = await serving();
        return s['ActiveState'] === 'active' && info?.version === version && info.pid === Number(s['MainPID']) && (pid === undefined || info.pid !== pid) ? info : null;
      }, 20_000, `the manager's MainPID to serve ${version}`);

    beforeAll(async () => {
      port = await freePort();
    });

    it('service install --manager systemd: a user unit through the launcher, enabled and started; status reports the manager MainPID', async () => {
      const ins = await cli('install', '2026.1.1');
      expect(ins.code, ok(ins)).toBe(0);
      tuneConfig(ocHome, sd.uid, sd.gid);
      const r = await cli('service', 'install', '--manager', 'systemd', '--json', '--', 'gateway', 'run', '--port', String(port), '--bind', 'loopback');
      expect(r.code, ok(r)).toBe(0);
      const unitPath = path.join(sd.home, '.config', 'systemd', 'user', UNIT);
      const text = fs.readFileSync(unitPath, 'utf8');
      expect(text).toContain(`ExecStart=${path.join(ocHome, 'bin', 'openclaw-gateway')} gateway run --port ${port} --bind loopback\n`);
      expect(fs.statSync(unitPath).uid).toBe(sd.uid);
      const s = await sd.show(UNIT, [...SHOW, 'UnitFileState', 'LoadState', 'FragmentPath']);
      expect(s).toMatchObject({ LoadState: 'loaded', UnitFileState: 'enabled', ActiveState: 'active', SubState: 'running', FragmentPath: unitPath });
      const info = await waitServing('2026.1.1');
      expect(info.pid).toBe(Number(s['MainPID']));
      expect(uidOf(info.pid)).toBe(sd.uid); // the unit runs as the test user, not as root
      const st = await cli('service', 'status', '--json');
      expect(st.code, ok(st)).toBe(0);
      expect(st.json).toMatchObject({ manager: 'systemd', label: UNIT, running: true, pid: info.pid, version: '2026.1.1' });
      expect(st.json.entry).toBe(fs.realpathSync(path.join(ocHome, 'versions', '2026.1.1', 'node_modules', 'openclaw', 'dist', 'index.js')));
    });

    it('the drain budget is in the unit: TimeoutStopSec/KillMode as the manager loaded them', async () => {
      const text = fs.readFileSync(path.join(sd.home, '.config', 'systemd', 'user', UNIT), 'utf8');
      expect(text).toContain(`TimeoutStopSec=${DRAIN_MS / 1000}s\n`);
      expect(text.match(/^KillMode=.*$/gm)).toEqual(['KillMode=mixed']);
      expect(text).toContain('StartLimitBurst=10\nStartLimitIntervalSec=300\n'); // crash-loop protection kept
      const s = await sd.show(UNIT, ['TimeoutStopUSec', 'KillMode', 'StartLimitBurst', 'Restart']);
      expect(s).toEqual({ TimeoutStopUSec: `${DRAIN_MS / 1000}s`, KillMode: 'mixed', StartLimitBurst: '10', Restart: 'always' });
    });

    it('upgrade to a good version: upgraded, a new MainPID serving it', async () => {
      const before = Number((await show())['MainPID']);
      const r = await cli('upgrade', '2026.2.1', '--json');
      expect(r.code, ok(r)).toBe(0);
      expect(r.json.outcome).toBe('upgraded');
      const info = await waitServing('2026.2.1', before);
      expect(info.pid).not.toBe(before);
    });

    it('Restart=always respawns after kill -9 on the same version; a crashing upgrade is not fooled by respawns (rolled-back, exit 6, journal lines in the detail)', async () => {
      const s0 = await show();
      const pid0 = Number(s0['MainPID']);
      killMain(pid0);
      const info = await waitServing('2026.2.1', pid0);
      const s1 = await show();
      expect(Number(s1['NRestarts'])).toBe(Number(s0['NRestarts']) + 1);
      const st = await cli('service', 'status', '--json');
      expect(st.json).toMatchObject({ running: true, pid: info.pid, version: '2026.2.1' });

      const r = await cli('upgrade', CRASH, '--no-canary', '--json', '--progress');
      expect(r.code, ok(r)).toBe(6);
      expect(r.json.outcome).toBe('rolled-back');
      const failed = r.json.stages.find((s: { ok: boolean }) => !s.ok);
      expect(failed.name).toBe('restarted+responsive');
      // the detail carries the gateway's own last journal lines (not the manager's)
      expect(failed.detail).toMatch(/its log ends: .*fixture variant crash-at-start: gateway failed to start/);
      expect(r.json.rollback.stages.filter((s: { ok: boolean }) => !s.ok)).toEqual([]);
      await waitServing('2026.2.1', info.pid);
      expect(await sd.journal(UNIT, 200)).toContain('fixture variant crash-at-start: gateway failed to start');
    });

    it('a second crashing upgrade, four use switches, then kill -9: every switch is gated, systemd still restarts the gateway (the start limit never trips)', async () => {
      const r = await cli('upgrade', CRASH, '--no-canary', '--json');
      expect(r.code, ok(r)).toBe(6);
      expect(r.json.outcome).toBe('rolled-back');
      // By now the unit has been started ~7 times within StartLimitIntervalSec=300 (StartLimitBurst=10);
      // without oc-versions owning the start budget the 4th switch below would be refused.
      const seq = ['2026.1.1', '2026.2.1', '2026.1.1', '2026.2.1'];
      for (const v of seq) {
        const before = Number((await show())['MainPID']);
        const u = await cli('use', v, '--json');
        expect(u.code, `use ${v}: ${ok(u)}`).toBe(0);
        expect(u.json.outcome).toBe('switched');
        await waitServing(v, before);
      }
      const s0 = await show();
      killMain(Number(s0['MainPID']));
      await waitServing('2026.2.1', Number(s0['MainPID']));
      const s1 = await show();
      expect(s1['Result']).not.toBe('start-limit-hit');
      expect(Number(s1['NRestarts'])).toBeGreaterThan(Number(s0['NRestarts']));
      expect(await sd.journal(UNIT, 300)).not.toMatch(/attempted too often|Start request repeated too quickly/);
    });

    it('rollback: back to the previous version through the manager', async () => {
      const before = Number((await show())['MainPID']);
      const r = await cli('rollback', '--json');
      expect(r.code, ok(r)).toBe(0);
      await waitServing('2026.1.1', before);
      const st = await cli('service', 'status', '--json');
      expect(st.json).toMatchObject({ running: true, version: '2026.1.1' });
    });

    it('a gateway slower than the drain budget to stop is SIGKILLed by the manager at TimeoutStopSec', async () => {
      // The launcher sources <home>/service/gateway.env: make the fixture take 60 s to drain.
      const extraEnv = path.join(ocHome, 'service', 'gateway.env');
      await sd.writeUserFile(extraEnv, 'export FIXTURE_DRAIN_MS=60000\n');
      const re = await cli('service', 'restart');
      expect(re.code, ok(re)).toBe(0);
      const slow = Number((await show())['MainPID']);
      expect(fs.readFileSync(`/proc/${slow}/environ`, 'utf8').split('\0')).toContain('FIXTURE_DRAIN_MS=60000');
      const t = Date.now();
      const r = await cli('service', 'stop');
      const ms = Date.now() - t;
      expect(r.code, ok(r)).toBe(0);
      expect(ms).toBeGreaterThanOrEqual(DRAIN_MS - 200);
      expect(ms).toBeLessThan(DRAIN_MS + 8_000);
      const s = await show();
      expect(s).toMatchObject({ ActiveState: 'failed', Result: 'timeout', MainPID: '0' });
      expect(fs.existsSync(`/proc/${slow}`)).toBe(false);
      expect(await sd.journal(UNIT, 30)).toMatch(/State 'stop-sigterm' timed out\. Killing\./);
      fs.rmSync(extraEnv);
      // start again (the failed state does not block oc-versions' own start)
      const st = await cli('service', 'start');
      expect(st.code, ok(st)).toBe(0);
      await waitServing('2026.1.1', slow);
      // within budget: a normal stop is clean
      expect((await cli('service', 'stop')).code).toBe(0);
      expect(await sd.show(UNIT, ['ActiveState', 'Result'])).toEqual({ ActiveState: 'inactive', Result: 'success' });
      expect((await cli('service', 'start')).code).toBe(0);
      await waitServing('2026.1.1');
    });

    it('the updater SIGKILLed mid-upgrade (at restart): the next command recovers to a healthy gateway', async () => {
      const killed = await sd.runCli(['upgrade', '2026.3.1', '--json'], { ...env, OC_VERSIONS_FAULT: 'restart:kill' });
      expect(killed.signal, ok(killed)).toBe('SIGKILL');
      // The recovery timer (every 3 s here) may get there first: the same recovery, unattended.
      // While one of its runs holds the lock, ours is refused (exit 4, the holder named): again.
      let rec = await cli('recover', '--json');
      for (let i = 0; i < 60 && rec.code === 4 && rec.json?.error?.holder?.command === 'recover'; i++) {
        await new Promise((r) => setTimeout(r, 250));
        rec = await cli('recover', '--json');
      }
      expect(rec.code, ok(rec)).toBe(0);
      // Ours recovered the transaction, or the timer had and ours found nothing left.
      expect(rec.json.recovered || !fs.existsSync(path.join(ocHome, 'journal.json'))).toBe(true);
      const v = rec.json.version as string;
      expect(['2026.1.1', '2026.3.1']).toContain(v);
      expect(path.basename(fs.readlinkSync(path.join(ocHome, 'current')))).toBe(v);
      await waitServing(v);
      expect(fs.existsSync(path.join(ocHome, 'journal.json'))).toBe(false);
    });

    it('the recovery timer (a systemd user timer running recover --auto) heals a host whose updater was SIGKILLed, with no person', async () => {
      const timer = `${recoveryTimerName(makeLayout(ocHome))}.timer`;
      expect(await sd.show(timer, ['ActiveState', 'UnitFileState'])).toEqual({ ActiveState: 'active', UnitFileState: 'enabled' });
      await waitUnlocked(); // a timer run may be checking the (healthy) host right now
      const killed = await sd.runCli(['upgrade', '2026.2.1', '--json'], { ...env, OC_VERSIONS_FAULT: 'gate-version:kill' });
      expect(killed.signal, ok(killed)).toBe('SIGKILL');
      expect(fs.existsSync(path.join(ocHome, 'journal.json'))).toBe(true);
      // No command from here: the timer's next run finishes the interrupted transaction.
      await waitFor(async () => !fs.existsSync(path.join(ocHome, 'journal.json')), 90_000, 'the timer to recover the host');
      const v = path.basename(fs.readlinkSync(path.join(ocHome, 'current')));
      await waitServing(v);
      const svc = `${recoveryTimerName(makeLayout(ocHome))}.service`;
      expect(Number((await sd.show(svc, ['ExecMainStartTimestampMonotonic']))['ExecMainStartTimestampMonotonic'])).toBeGreaterThan(0);
    });

    it('the old gateway SIGKILLed while the upgrade stages: the gate judges the process that serves the new version, not a respawn', async () => {
      const s0 = await show();
      const oldPid = Number(s0['MainPID']);
      const journalFile = path.join(ocHome, 'journal.json');
      const upgrading = cli('upgrade', '2026.4.1', '--json');
      // While the new version is being installed the old one serves; crash it there.
      await waitFor(async () => {
        try {
          return (JSON.parse(fs.readFileSync(journalFile, 'utf8')) as { phase: string }).phase === 'stage';
        } catch {
          return false;
        }
      }, 30_000, 'the upgrade to reach the stage phase');
      killMain(oldPid);
      const r = await upgrading;
      expect(r.code, ok(r)).toBe(0);
      expect(r.json.outcome).toBe('upgraded');
      const info = await waitServing('2026.4.1', oldPid);
      const responsive = r.json.stages.find((x: { name: string }) => x.name === 'restarted+responsive');
      // the pid the gate accepted is the one the manager reports now, running the new version's file
      expect(responsive.detail).toContain(`pid ${info.pid} from ${fs.realpathSync(path.join(ocHome, 'versions', '2026.4.1'))}`);
      expect(Number((await show())['MainPID'])).toBe(info.pid);
    });

    it('service uninstall: the unit is gone from the manager', async () => {
      expect((await cli('service', 'stop')).code).toBe(0);
      const r = await cli('service', 'uninstall');
      expect(r.code, ok(r)).toBe(0);
      expect(await sd.show(UNIT, ['LoadState', 'ActiveState'])).toEqual({ LoadState: 'not-found', ActiveState: 'inactive' });
      expect((await getJson(`http://127.0.0.1:${port}/healthz`, 500))).toBeNull();
    });
  });

  describe('service adopt --unit of an OpenClaw-style unit (Environment= + EnvironmentFile=), crash rollback with secrets in the journal, restore', () => {
    const UNIT = 'openclaw-gateway-work.service';
    const canary = `tok-canary-${Math.random().toString(36).slice(2)}`;
    const fileKey = `sk-file-${Math.random().toString(36).slice(2)}`;
    let port: number;
    let unitPath: string;
    let original: string;
    const cli = (...args: string[]) => sd.runCli(args, env);
    const show = () => sd.show(UNIT, SHOW);
    const serving = async () => (await getJson(`http://127.0.0.1:${port}/info`))?.body as { pid: number; version: string } | undefined;
    const waitServing = (version: string, pid?: number) =>
      waitFor(async () => {
        const s = await show();
        const info = await serving();
        return s['ActiveState'] === 'active' && info?.version === version && info.pid === Number(s['MainPID']) && (pid === undefined || info.pid !== pid) ? info : null;
      }, 20_000, `the manager's MainPID to serve ${version}`);

    beforeAll(async () => {
      const dir = await sd.makeUserDir('lane-b');
      port = await freePort();
      // An "old global install" of OpenClaw outside the oc-versions home, as the user has it, of a
      // version also installed side by side (adopt restarts only onto the version that runs).
      const pkg = path.join(dir, 'global', 'lib', 'node_modules', 'openclaw');
      await sd.writeUserFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'openclaw', version: '2026.1.1', type: 'module' }));
      await sd.writeUserFile(path.join(pkg, 'dist', 'index.js'), FAKE_GATEWAY_SOURCE);
      const stateDir = path.join(sd.home, '.openclaw');
      await sd.writeUserFile(path.join(stateDir, 'gateway.systemd.env'), `ANTHROPIC_API_KEY=${fileKey}\nFROM_FILE="quoted value"\n`, 0o600);
      unitPath = path.join(sd.home, '.config', 'systemd', 'user', UNIT);
      original = [
        '[Unit]',
        'Description=OpenClaw Gateway (profile work, v2026.1.1)',
        'After=network-online.target',
        'Wants=network-online.target',
        'StartLimitBurst=10',
        'StartLimitIntervalSec=300',
        '',
        '[Service]',
        // a unit line that prints a secret into the unit's journal on every start. It stays up a
        // second after the echo: journald attributes a line to the (user) unit from the writer's
        // cgroup, read when it handles the line, so a line from a process already gone can be
        // stored without the unit and missed by `journalctl --user -u` (seen once in CI, under load).
        `ExecStartPre=/bin/sh -c 'echo "boot: gateway token $\${OPENCLAW_GATEWAY_TOKEN}"; sleep 1'`,
        `ExecStart=${process.execPath} --max-old-space-size=256 ${pkg}/dist/index.js gateway --port ${port}`,
        'Restart=always',
        'RestartSec=5',
        'RestartPreventExitStatus=78',
        'TimeoutStopSec=330',
        'TimeoutStartSec=30',
        'SuccessExitStatus=0 143',
        'OOMPolicy=continue',
        'KillMode=mixed',
        `Environment=HOME=${sd.home}`,
        `Environment="OPENCLAW_GATEWAY_TOKEN=${canary}" "GREETING=hello world" OPENCLAW_SYSTEMD_UNIT=${UNIT}`,
        `EnvironmentFile=-${stateDir}/gateway.systemd.env`,
        '',
        '[Install]',
        'WantedBy=default.target',
        '',
      ].join('\n');
      await sd.writeUserFile(unitPath, original);
      expect((await sd.systemctl('daemon-reload')).code).toBe(0);
      expect((await sd.systemctl('enable', '--now', UNIT)).code).toBe(0);
      await waitServing('2026.1.1');
      // No service is configured any more (the first lane uninstalled it): `use` is a plain flip.
      const use = await cli('use', '2026.1.1');
      expect(use.code, ok(use)).toBe(0);
    });

    it('adopt: only ExecStart changes, every env key (inline and EnvironmentFile=) reaches the new MainPID', async () => {
      const before = Number((await show())['MainPID']);
      const r = await cli('service', 'adopt', '--unit', unitPath, '--json');
      expect(r.code, ok(r)).toBe(0);
      const text = fs.readFileSync(unitPath, 'utf8');
      expect(text).toContain(`ExecStart=${path.join(ocHome, 'bin', 'openclaw-gateway')} gateway --port ${port}\n`);
      expect(text).toContain('ExecStartPre=/bin/sh');
      expect(text).toContain(`EnvironmentFile=-${path.join(sd.home, '.openclaw')}/gateway.systemd.env`);
      const info = await waitServing('2026.1.1', before);
      const e = await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,GREETING,OPENCLAW_SYSTEMD_UNIT,ANTHROPIC_API_KEY,FROM_FILE,OPENCLAW_SUPERVISOR_MODE,NODE_OPTIONS,HOME`);
      expect(e?.body.values).toEqual({
        OPENCLAW_GATEWAY_TOKEN: canary,
        GREETING: 'hello world',
        OPENCLAW_SYSTEMD_UNIT: UNIT,
        ANTHROPIC_API_KEY: fileKey,
        FROM_FILE: 'quoted value',
        OPENCLAW_SUPERVISOR_MODE: 'external',
        NODE_OPTIONS: '--max-old-space-size=256',
        HOME: sd.home,
      });
      const st = await cli('service', 'status', '--json');
      expect(st.json).toMatchObject({ manager: 'systemd', label: UNIT, running: true, pid: info.pid, version: '2026.1.1' });
      expect(await sd.show(UNIT, ['TimeoutStopUSec', 'KillMode'])).toEqual({ TimeoutStopUSec: `${DRAIN_MS / 1000}s`, KillMode: 'mixed' });
    });

    it('upgrade to a crashing version: rolled-back; the journal lines in the detail have the secret redacted; no secret under the home', async () => {
      const r = await cli('upgrade', CRASH, '--no-canary', '--json');
      expect(r.code, ok(r)).toBe(6);
      expect(r.json.outcome).toBe('rolled-back');
      const failed = r.json.stages.find((s: { ok: boolean }) => !s.ok);
      expect(failed.detail).toMatch(/its log ends: .*boot: gateway token \*\*\*.*fixture variant crash-at-start/);
      // the journal itself has the value (the unit printed it), the result must not
      expect(await sd.journal(UNIT, 200)).toContain(`boot: gateway token ${canary}`);
      expect(r.stdout + r.stderr).not.toContain(canary);
      expect(grepTree(ocHome, canary)).toEqual([]);
      expect(grepTree(ocHome, fileKey)).toEqual([]);
      const info = await waitServing('2026.1.1');
      const e = await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,ANTHROPIC_API_KEY`);
      expect(e?.body.values).toEqual({ OPENCLAW_GATEWAY_TOKEN: canary, ANTHROPIC_API_KEY: fileKey });
      expect(info.pid).toBeGreaterThan(0);
    });

    it('a version that rewrites its unit at every start (issue 31): the sealed canary leaves the unit and its env file byte-identical and the loaded job alone; upgraded with every secret', async () => {
      const V = VARIANT_VERSIONS['rewrites-definition-always'];
      const ins = await cli('install', V);
      expect(ins.code, ok(ins)).toBe(0);
      const envFile = path.join(sd.home, '.openclaw', 'gateway.systemd.env');
      const before = { unit: fs.readFileSync(unitPath), envFile: fs.readFileSync(envFile), main: (await show())['MainPID'] };
      const r0 = await cli('verify', V, '--canary', '--json');
      expect(r0.code, ok(r0)).toBe(0);
      // It did rewrite a unit: its own, under the canary's HOME beside the state dir.
      const wrote = (r0.json.canary.log as string[]).flatMap((l) => /openclaw fixture: rewrote (\S+)/.exec(l)?.[1] ?? []);
      expect(wrote.some((f) => f.startsWith(`${path.join(sd.home, '.openclaw')}.oc-canary.`) && f.endsWith('/systemd/user/openclaw-gateway.service')), wrote.join(', ')).toBe(true);
      expect(fs.readFileSync(unitPath).equals(before.unit)).toBe(true);
      expect(fs.readFileSync(envFile).equals(before.envFile)).toBe(true);
      // The manager's view: same process, nothing to reload.
      expect(await sd.show(UNIT, ['MainPID', 'NeedDaemonReload'])).toEqual({ MainPID: before.main, NeedDaemonReload: 'no' });

      const r = await cli('upgrade', V, '--json');
      expect(r.code, ok(r)).toBe(0);
      expect(r.json.outcome).toBe('upgraded');
      await waitServing(V);
      const e = await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,ANTHROPIC_API_KEY`);
      expect(e?.body.values).toEqual({ OPENCLAW_GATEWAY_TOKEN: canary, ANTHROPIC_API_KEY: fileKey });
      expect(grepTree(ocHome, canary)).toEqual([]);
      // Back to where the lane was, for the restore below.
      const back = await cli('use', '2026.1.1', '--json');
      expect(back.code, ok(back)).toBe(0);
      await waitServing('2026.1.1');
    });

    it('restore: the original unit byte for byte, loaded and serving the global install again', async () => {
      const before = Number((await show())['MainPID']);
      const r = await cli('service', 'restore', '--json');
      expect(r.code, ok(r)).toBe(0);
      expect(fs.readFileSync(unitPath, 'utf8')).toBe(original);
      expect(fs.existsSync(`${unitPath}.oc-versions-orig`)).toBe(false);
      await waitServing('2026.1.1', before);
      const back = (await getJson(`http://127.0.0.1:${port}/info`))?.body as { realArgv1: string };
      expect(back.realArgv1).toMatch(/\/global\/lib\/node_modules\/openclaw\/dist\/index\.js$/);
      expect(await sd.show(UNIT, ['TimeoutStopUSec', 'NeedDaemonReload'])).toEqual({ TimeoutStopUSec: '5min 30s', NeedDaemonReload: 'no' });
      expect((await sd.systemctl('disable', '--now', UNIT)).code).toBe(0);
      expect((await show())['ActiveState']).toBe('inactive');
    });
  });

  it('teardown by PID leaves no process, cgroup, user or host /run change behind', async () => {
    const managerPid = sd.managerPid;
    const r = await sd.stop();
    stopped = true;
    process.stdout.write(`[systemd-real] manager stopped in ${r.ms} ms; file wall time ${Date.now() - t0} ms\n`);
    expect(r.leaks).toEqual([]);
    expect(fs.existsSync(`/proc/${managerPid}`)).toBe(false);
  }, 120_000);
});
