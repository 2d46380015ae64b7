/**
 * oc-versions as the per-host step of an Ansible rollout (docs/fleet.md): the role and the
 * playbooks under docs/fleet/, run by a real ansible-playbook against four "hosts" on this
 * machine (ansible_connection=local). Each host has its own oc-versions home, HOME and
 * gateway port on 127.0.0.1, and runs a real fixture gateway under the process backend,
 * installed from the test registry.
 *
 * ansible-core comes from Debian (.ci/run installs it as root); PyPI is not reachable from
 * CI, so the test does not build a virtualenv. Without ansible-playbook (or python3) on
 * PATH the tests are skipped, and say so.
 *
 * The three plays run in order on the same fleet: (a) a good rollout in three waves,
 * (b) a rollout whose canary fails its gate, (c) the rollback playbook.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { CLI, REPO, runCli } from '../helpers/cli.js';
import { freePort, getJson, waitFor } from '../helpers/gateway.js';

const FLEET_DIR = path.join(REPO, 'docs', 'fleet');
const OLD = '2026.1.1';
const GOOD = '2026.2.1';
// Passes validation and the canary (it starts), then exits 3 s after every start: the post-flip
// gate or its settle catches it on the first host, which oc-versions rolls back.
const CRASH = VARIANT_VERSIONS['crash-after-start'];
const HOSTS = ['gw1', 'gw2', 'gw3', 'gw4'];

function missingTools(): string[] {
  const missing: string[] = [];
  for (const [cmd, args] of [
    ['ansible-playbook', ['--version']],
    ['python3', ['--version']],
  ] as const) {
    const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 30_000 });
    if (r.error || r.status !== 0) missing.push(cmd);
  }
  return missing;
}
const MISSING = missingTools();

interface Host {
  name: string;
  root: string;
  home: string;
  ocHome: string;
  port: number;
  env: NodeJS.ProcessEnv;
}

interface Gw {
  pid: number;
  version: string | null;
  /** When this gateway process started (ms since the epoch), from its uptime. */
  startedAt: number;
}

async function gw(h: Host): Promise<Gw | null> {
  const info = await getJson(`http://127.0.0.1:${h.port}/info`);
  const st = await getJson(`http://127.0.0.1:${h.port}/startupz`);
  if (info?.status !== 200) return null;
  return {
    pid: info.body.pid,
    version: st?.status === 200 ? st.body.version : null,
    startedAt: Date.now() - info.body.uptimeMs,
  };
}

async function fleet(hosts: Host[]): Promise<Record<string, Gw | null>> {
  const out: Record<string, Gw | null> = {};
  for (const h of hosts) out[h.name] = await gw(h);
  return out;
}

interface PlayEvent {
  event: 'play' | 'task' | 'result' | 'stats';
  play?: number;
  name?: string;
  task?: string;
  host?: string;
  status?: 'ok' | 'failed' | 'skipped' | 'unreachable';
  result?: any;
  hosts?: Record<string, { ok: number; changed: number; failures: number; unreachable: number; skipped: number }>;
  at: number;
}

interface PlayRun {
  code: number | null;
  wallMs: number;
  events: PlayEvent[];
  stdout: string;
  stderr: string;
}

/** A task's own name, without the `role : ` prefix Ansible adds. */
const taskName = (n: string | undefined) => String(n ?? '').replace(/^[\w.]+ : /, '');

/**
 * For each play entry whose name starts with playPrefix (Ansible starts the play once per
 * serial batch, so one entry per wave), in order: the hosts that ran a task whose name
 * starts with taskPrefix (not skipped).
 */
function hostsPerPlay(r: PlayRun, playPrefix: string, taskPrefix: string): string[][] {
  const plays = r.events.filter((e) => e.event === 'play' && String(e.name).startsWith(playPrefix));
  return plays
    .map((p) => [
      ...new Set(
        r.events
          .filter((e) => e.event === 'result' && e.play === p.play && e.status !== 'skipped' && taskName(e.task).startsWith(taskPrefix))
          .map((e) => e.host!),
      ),
    ].sort())
    .filter((hs) => hs.length > 0);
}

/** The last result of a task (name prefix) on a host, with `status`; undefined if it never ran there. */
function taskResult(r: PlayRun, host: string, taskPrefix: string): any {
  const hits = r.events.filter((e) => e.event === 'result' && e.host === host && taskName(e.task).startsWith(taskPrefix));
  const last = hits[hits.length - 1];
  return last ? { status: last.status, ...last.result } : undefined;
}

function stats(r: PlayRun): NonNullable<PlayEvent['hosts']> {
  return r.events.find((e) => e.event === 'stats')?.hosts ?? {};
}

describe.skipIf(MISSING.length > 0)('fleet: the Ansible role and playbooks in docs/fleet', () => {
  let root: string;
  let inventory: string;
  const hosts: Host[] = [];
  const ansibleEnv: NodeJS.ProcessEnv = {};
  const wall: Record<string, number> = {};

  let playNo = 0;
  /** Process groups of ansible-playbook runs still going (a test that timed out leaves one). */
  const running = new Set<number>();
  /** The rollout/rollback stop file (never the default docs/fleet/STOP of this checkout). */
  let stopFile: string;
  async function play(name: string, playbook: string, extraVars: Record<string, unknown>, args: string[] = []): Promise<PlayRun> {
    const eventsFile = path.join(root, `events-${++playNo}.jsonl`);
    const t0 = Date.now();
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('ansible-playbook', ['-i', inventory, playbook, '-e', JSON.stringify({ oc_fleet_stop_file: stopFile, ...extraVars }), ...args], {
        cwd: FLEET_DIR,
        env: { ...ansibleEnv, OC_FLEET_EVENTS: eventsFile },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      if (child.pid) running.add(child.pid);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      // ansible-playbook and what it started (its own process group), should it hang
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 420_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        if (child.pid) running.delete(child.pid);
        resolve({ code, stdout, stderr });
      });
    });
    const wallMs = Date.now() - t0;
    wall[name] = wallMs;
    const events: PlayEvent[] = fs.existsSync(eventsFile)
      ? fs.readFileSync(eventsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
      : [];
    // Wall time of each play entry (each wave), from the callback's timestamps.
    const playStarts = events.filter((e) => e.event === 'play');
    const lastAt = events.length ? events[events.length - 1]!.at : 0;
    const waves = playStarts.map((p, i) => `${p.name}: ${Math.round(((playStarts[i + 1]?.at ?? lastAt) - p.at) * 1000)} ms`);
    process.stdout.write(`[fleet] ${name}: ansible-playbook ${playbook} exit ${r.code}, wall time ${wallMs} ms\n  ${waves.join('\n  ')}\n`);
    if (process.env['OC_FLEET_VERBOSE'] || r.code !== 0) process.stdout.write(`${r.stdout}\n${r.stderr}\n`);
    return { code: r.code, wallMs, events, stdout: r.stdout, stderr: r.stderr };
  }

  beforeAll(async () => {
    const registryUrl = inject('registryUrl');
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-fleet-'));
    const nodeDir = path.dirname(process.execPath);
    for (const name of HOSTS) {
      const hroot = path.join(root, name);
      const home = path.join(hroot, 'home');
      const ocHome = path.join(hroot, 'oc-home');
      await fsp.mkdir(home, { recursive: true });
      hosts.push({
        name,
        root: hroot,
        home,
        ocHome,
        port: 0,
        env: {
          PATH: `${nodeDir}${path.delimiter}${process.env['PATH'] ?? ''}`,
          HOME: home,
          OC_VERSIONS_HOME: ocHome,
          npm_config_registry: registryUrl,
          npm_config_update_notifier: 'false',
          OPENCLAW_STATE_DIR: path.join(home, '.openclaw'),
          TMPDIR: os.tmpdir(),
        },
      });
    }
    // Each host: OLD installed from the test registry, the gateway running under the process backend.
    // Two at a time (2 cores).
    const setup = async (h: Host) => {
      const ins = await runCli(['install', OLD, '--json'], h.env);
      expect(ins.code, ins.stderr).toBe(0);
      h.port = await freePort();
      const svc = await runCli(['service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--port', String(h.port), '--bind', 'loopback'], h.env);
      expect(svc.code, svc.stderr + svc.stdout).toBe(0);
      await waitFor(async () => (await getJson(`http://127.0.0.1:${h.port}/healthz`))?.status === 200, 15_000, `${h.name}'s gateway`);
    };
    const t0 = Date.now();
    await Promise.all([setup(hosts[0]!), setup(hosts[1]!)]);
    await Promise.all([setup(hosts[2]!), setup(hosts[3]!)]);
    process.stdout.write(`[fleet] 4 hosts serving ${OLD} after ${Date.now() - t0} ms\n`);

    stopFile = path.join(root, 'STOP');
    inventory = path.join(root, 'inventory.json');
    const hostVars: Record<string, unknown> = {};
    for (const h of hosts) {
      hostVars[h.name] = {
        oc_versions_home: h.ocHome,
        oc_versions_environment: h.env,
        gateway_port: h.port,
      };
    }
    fs.writeFileSync(
      inventory,
      JSON.stringify({
        openclaw_gateways: {
          hosts: hostVars,
          vars: {
            ansible_connection: 'local',
            ansible_python_interpreter: 'auto_silent',
            // this checkout's build, instead of `npm install -g oc-versions@<pinned>`
            oc_versions_npm_install: false,
            oc_versions_command: [process.execPath, CLI],
            oc_versions_registry: registryUrl,
            oc_versions_service_manager: 'process',
            oc_versions_gate: { responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000, deepDeadlineMs: 20_000, probeIntervalMs: 100 },
            oc_versions_drain_ms: 3_000,
            oc_versions_lock_delay: 2,
          },
        },
      }),
    );
    const ansibleHome = path.join(root, 'ansible');
    await fsp.mkdir(ansibleHome, { recursive: true });
    Object.assign(ansibleEnv, {
      PATH: process.env['PATH'],
      HOME: ansibleHome,
      // no __pycache__ next to the callback plugin in the checkout
      PYTHONDONTWRITEBYTECODE: '1',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      ANSIBLE_HOME: ansibleHome,
      ANSIBLE_LOCAL_TEMP: path.join(ansibleHome, 'tmp'),
      ANSIBLE_REMOTE_TMP: path.join(ansibleHome, 'remote-tmp'),
      ANSIBLE_STDOUT_CALLBACK: 'default',
      ANSIBLE_CALLBACK_PLUGINS: path.join(REPO, 'test', 'fixtures', 'ansible', 'callback_plugins'),
      ANSIBLE_CALLBACKS_ENABLED: 'oc_fleet_events',
      ANSIBLE_GATHERING: 'explicit',
      ANSIBLE_PIPELINING: 'True',
      ANSIBLE_FORKS: '8',
      ANSIBLE_RETRY_FILES_ENABLED: 'False',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_DEPRECATION_WARNINGS: 'False',
      ANSIBLE_LOCALHOST_WARNING: 'False',
      ANSIBLE_INVENTORY_UNPARSED_WARNING: 'False',
    });
  }, 420_000);

  afterAll(async () => {
    // First any ansible-playbook still running (its own process group), so that nothing
    // restarts a gateway behind the cleanup.
    for (const pid of running) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const h of hosts) {
      const before = h.port ? await gw(h) : null;
      await runCli(['service', 'stop'], h.env).catch(() => undefined);
      await runCli(['service', 'uninstall'], h.env).catch(() => undefined);
      // A gateway this test started that is somehow still up: its own process group, by pid.
      if (before && (await gw(h))?.pid === before.pid) {
        try {
          process.kill(-before.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    if (root) await fsp.rm(root, { recursive: true, force: true });
    if (Object.keys(wall).length) process.stdout.write(`[fleet] wall times: ${JSON.stringify(wall)}\n`);
  }, 120_000);

  it(`(a) pre-stage, then a rollout to ${GOOD} upgrades all 4 hosts in 3 waves (1, 25%, the rest)`, async () => {
    const before = await fleet(hosts);
    for (const h of hosts) expect(before[h.name]?.version, h.name).toBe(OLD);

    // Pre-staging the whole fleet at once changes no gateway.
    const pre = await play('a/prestage', 'prestage.yml', { oc_versions_target: GOOD });
    expect(pre.code, pre.stderr).toBe(0);
    expect(hostsPerPlay(pre, 'pre-stage', 'oc-versions | install')).toEqual([HOSTS]);
    const afterPre = await fleet(hosts);
    for (const h of hosts) {
      expect(taskResult(pre, h.name, 'oc-versions | install')?.changed, h.name).toBe(true);
      expect(afterPre[h.name]?.pid, h.name).toBe(before[h.name]?.pid);
      expect(afterPre[h.name]?.version, h.name).toBe(OLD);
      expect(fs.existsSync(path.join(h.ocHome, 'versions', GOOD)), h.name).toBe(true);
      expect(fs.readlinkSync(path.join(h.ocHome, 'current'))).toBe(`versions/${OLD}`);
    }

    // The waves alone (the pre-stage play of rollout.yml is skipped here; (b) runs it): each
    // host resolves the target with a dry run and upgrades to what it has staged.
    const r = await play('a/rollout', 'rollout.yml', { oc_versions_target: GOOD }, ['--skip-tags', 'prestage']);
    expect(r.code, r.stderr).toBe(0);
    for (const h of hosts) {
      expect(taskResult(r, h.name, 'oc-versions | install'), h.name).toBeUndefined();
      expect(JSON.parse(taskResult(r, h.name, `oc-versions | upgrade ${GOOD} --dry-run`)?.stdout ?? '{}'), h.name).toMatchObject({ dryRun: true, from: OLD, to: GOOD, stage: false });
    }
    // From the play's output: one play entry per wave, in order.
    expect(hostsPerPlay(r, 'upgrade in waves', 'oc-versions | upgrade to')).toEqual([['gw1'], ['gw2'], ['gw3', 'gw4']]);
    for (const h of hosts) {
      const up = taskResult(r, h.name, 'oc-versions | upgrade to');
      expect(up?.changed, h.name).toBe(true);
      expect(JSON.parse(up.stdout)).toMatchObject({ outcome: 'upgraded', from: OLD, to: GOOD });
      expect(taskResult(r, h.name, 'oc-versions | serving')?.status, h.name).toBe('ok');
    }
    expect(stats(r)).toMatchObject(Object.fromEntries(HOSTS.map((n) => [n, expect.objectContaining({ failures: 0, unreachable: 0 })])));

    // From the gateways: each serves GOOD from a new process, and the waves restarted them in order.
    const after = await fleet(hosts);
    for (const h of hosts) {
      expect(after[h.name]?.version, h.name).toBe(GOOD);
      expect(after[h.name]?.pid, h.name).not.toBe(before[h.name]?.pid);
    }
    const t = (n: string) => after[n]!.startedAt;
    expect(t('gw1')).toBeLessThan(t('gw2'));
    expect(t('gw2')).toBeLessThan(Math.min(t('gw3'), t('gw4')));

    // The role's gate settings went into each host's config.json.
    for (const h of hosts) {
      const cfg = JSON.parse(fs.readFileSync(path.join(h.ocHome, 'config.json'), 'utf8'));
      expect(cfg.health.responsiveDeadlineMs, h.name).toBe(8_000);
      expect(cfg.service.drainMs, h.name).toBe(3_000);
      expect(cfg.service.manager, h.name).toBe('process');
    }
  }, 600_000);

  it(`(b) a rollout to ${CRASH} (crashes 3 s after start) stops after the canary: it is rolled back, the other 3 never stopped`, async () => {
    const before = await fleet(hosts);
    for (const h of hosts) expect(before[h.name]?.version, h.name).toBe(GOOD);

    const r = await play('b/rollout-bad', 'rollout.yml', { oc_versions_target: CRASH });
    expect(r.code, r.stderr).not.toBe(0);
    // The pre-stage play staged the bad version everywhere (it passes validation) ...
    expect(hostsPerPlay(r, 'pre-stage', 'oc-versions | install')).toEqual([HOSTS]);
    for (const h of hosts) expect(fs.existsSync(path.join(h.ocHome, 'versions', CRASH)), h.name).toBe(true);
    // ... but only the canary wave ran.
    expect(hostsPerPlay(r, 'upgrade in waves', 'oc-versions | upgrade to')).toEqual([['gw1']]);
    const up = taskResult(r, 'gw1', 'oc-versions | upgrade to');
    expect(up.rc).toBe(6);
    expect(up.changed).toBe(false);
    const verdict = taskResult(r, 'gw1', 'oc-versions | upgrade result');
    expect(verdict.status).toBe('failed');
    // The message names the exit code, the failing stage and its detail, and the rollback.
    expect(verdict.msg).toMatch(/exit 6 \(rolled back/);
    expect(verdict.msg).toContain(`outcome rolled-back (2026.2.1 -> ${CRASH})`);
    expect(verdict.msg).toMatch(/failing stage (restarted\+responsive|health-verified|settle): \S/);
    expect(verdict.msg).toMatch(/rollback: /);
    expect(stats(r)['gw1']?.failures).toBe(1);
    for (const n of ['gw2', 'gw3', 'gw4']) {
      expect(taskResult(r, n, 'oc-versions | upgrade to'), n).toBeUndefined();
      expect(stats(r)[n]?.failures, n).toBe(0);
    }

    const after = await fleet(hosts);
    // The canary: rolled back by oc-versions, the old version serving from a new process.
    expect(after['gw1']?.version).toBe(GOOD);
    expect(after['gw1']?.pid).not.toBe(before['gw1']?.pid);
    const st = await runCli(['status', '--json'], hosts[0]!.env);
    expect(st.json).toMatchObject({ current: GOOD, previous: OLD, transaction: null });
    // The other three: never stopped.
    for (const n of ['gw2', 'gw3', 'gw4']) {
      expect(after[n]?.pid, n).toBe(before[n]?.pid);
      expect(after[n]?.version, n).toBe(GOOD);
    }
  }, 450_000);

  it(`(c) the rollback playbook returns every host to ${OLD}, in waves`, async () => {
    const before = await fleet(hosts);
    const r = await play('c/rollback', 'rollback.yml', {});
    expect(r.code, r.stderr).toBe(0);
    expect(hostsPerPlay(r, 'roll back in waves', 'oc-versions | rollback')).toEqual([['gw1'], ['gw2'], ['gw3', 'gw4']]);
    const after = await fleet(hosts);
    for (const h of hosts) {
      expect(taskResult(r, h.name, 'oc-versions | rollback')?.changed, h.name).toBe(true);
      expect(after[h.name]?.version, h.name).toBe(OLD);
      expect(after[h.name]?.pid, h.name).not.toBe(before[h.name]?.pid);
      const st = await runCli(['status', '--json'], h.env);
      expect(st.json, h.name).toMatchObject({ current: OLD, previous: GOOD, transaction: null });
    }
    const t = (n: string) => after[n]!.startedAt;
    expect(t('gw1')).toBeLessThan(t('gw2'));
    expect(t('gw2')).toBeLessThan(Math.min(t('gw3'), t('gw4')));

    // Run again (on gw1 only, to keep it short) with a target: the host already serves it, so
    // it is not touched (a plain second rollback would flip back to the previous version).
    const again = await play('c/rollback-again', 'rollback.yml', { oc_versions_rollback_to: OLD }, ['--limit', 'gw1']);
    expect(again.code, again.stderr).toBe(0);
    expect(taskResult(again, 'gw1', 'oc-versions | rollback')?.status).toBe('skipped');
    expect(hostsPerPlay(again, 'roll back in waves', 'oc-versions | serving')).toEqual([['gw1']]);
    const still = await fleet(hosts);
    for (const h of hosts) expect(still[h.name]?.pid, h.name).toBe(after[h.name]?.pid);
  }, 450_000);

  it('(d) a stop file on the control node stops a rollout before its next wave touches a host', async () => {
    const before = await fleet(hosts);
    fs.writeFileSync(stopFile, '');
    try {
      const r = await play('d/rollout-stopped', 'rollout.yml', { oc_versions_target: GOOD }, ['--skip-tags', 'prestage']);
      expect(r.code).not.toBe(0);
      expect(taskResult(r, 'gw1', 'no stop file')).toMatchObject({ status: 'failed', msg: expect.stringContaining(`stopped by ${stopFile}`) });
      for (const h of hosts) expect(taskResult(r, h.name, 'oc-versions | upgrade to'), h.name).toBeUndefined();
    } finally {
      fs.rmSync(stopFile, { force: true });
    }
    const after = await fleet(hosts);
    for (const h of hosts) {
      expect(after[h.name]?.pid, h.name).toBe(before[h.name]?.pid);
      expect(after[h.name]?.version, h.name).toBe(OLD);
    }
  }, 120_000);
});

if (MISSING.length > 0) {
  describe('fleet', () => {
    it.skip(`skipped: ${MISSING.join(' and ')} not on PATH (Debian: apt-get install ansible-core python3; .ci/run does this as root)`, () => {});
  });
}
