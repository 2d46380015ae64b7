/**
 * Issue 27's must-hold lines on the launchd model, end to end through the built CLI, with a
 * gateway that drains 5 s on SIGTERM (FIXTURE_DRAIN_MS in the LaunchAgent's environment) and a
 * short ThrottleInterval. One host per test, several transitions per host. Through every step a
 * poller watches the label (`launchctl print`) and the gateway (/healthz): the label is never left
 * unloaded, every gap the poller sees lies inside the transition's own restart window (its log's
 * `restart` phase to its outcome; no durations asserted), the secret survives and is in no file
 * under the home, and `service status` names the gateway's pid.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as plist from 'plist';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { grepTree, patchConfig, runCli, type CliResult, type TestEnv } from '../helpers/cli.js';
import { DOUBLES_DIR } from '../helpers/fake-home.js';
import { VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { adoptedOpenClawService, doublesHost, freePort, getJson, waitFor } from '../helpers/gateway.js';
import { makeEnvWrapper } from '../helpers/openclaw-service.js';
import { launchctl } from '../helpers/launchd-model.js';

const registryUrl = inject('registryUrl');
const uid = String(process.getuid!());
const LABEL = 'ai.openclaw.gateway';
const TARGET = `gui/${uid}/${LABEL}`;
/** The gateway's drain on SIGTERM, and launchd's keys for a fast host (a crash respawns after 1 s). */
const DRAIN = { FIXTURE_DRAIN_MS: '5000' };
const KEYS = { ThrottleInterval: 1, ExitTimeOut: 20 };

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Sample = { at: number; loaded: boolean; up: boolean };

/** Poll the label and the gateway until stopped: `launchctl print` (async: never blocks the test) and /healthz. */
function poller(env: NodeJS.ProcessEnv, port: number) {
  const samples: Sample[] = [];
  let on = true;
  const print = () =>
    new Promise<boolean>((res) => execFile(process.execPath, [path.join(DOUBLES_DIR, 'launchctl.mjs'), 'print', TARGET], { env }, (err) => res(!err)));
  const loop = (async () => {
    while (on) {
      const at = Date.now();
      const [loaded, h] = await Promise.all([print(), getJson(`http://127.0.0.1:${port}/healthz`, 1_000)]);
      samples.push({ at, loaded, up: h?.status === 200 });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    samples,
    /** The samples taken while `fn` ran. */
    async during<T>(fn: () => Promise<T>): Promise<{ r: T; s: Sample[] }> {
      const from = Date.now();
      const r = await fn();
      const to = Date.now();
      return { r, s: samples.filter((x) => x.at >= from && x.at <= to) };
    },
    async stop() {
      on = false;
      await loop;
    },
  };
}

/** A transition's restart window from its own log: its first `restart` phase to its outcome. */
function restartWindow(ocHome: string, txid: string): { from: number; to: number } {
  const lines = fs.readFileSync(path.join(ocHome, 'logs', `${txid}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const restart = lines.find((l) => l.event === 'phase' && l.phase === 'restart');
  const outcome = lines.find((l) => l.event === 'outcome');
  expect(restart, 'a restart phase in the log').toBeDefined();
  expect(outcome, 'an outcome in the log').toBeDefined();
  return { from: Date.parse(restart.at), to: Date.parse(outcome.at) };
}

/** Every sample without an answer lies inside the window (the probe's own time at either end allowed). */
function gapsInside(s: Sample[], w: { from: number; to: number }): void {
  const outside = s.filter((x) => !x.up && (x.at < w.from - 1_000 || x.at > w.to));
  expect(outside, `gaps outside ${new Date(w.from).toISOString()}..${new Date(w.to).toISOString()}`).toEqual([]);
}

async function servedPid(port: number): Promise<number> {
  return (await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/info`))?.body?.pid as number | undefined, 30_000, 'the gateway')) as number;
}

async function statusNamesGateway(t: TestEnv, port: number): Promise<void> {
  const st = await runCli(['service', 'status', '--json'], t.env);
  expect(st.code, st.stderr).toBe(0);
  expect(st.json.pid).toBe(await servedPid(port));
}

function loadedNow(t: TestEnv): void {
  expect(launchctl(t.env, 'print', TARGET).status, 'the label is loaded').toBe(0);
}

function ok(r: CliResult, what: string): void {
  expect(r.code, `${what}: ${r.stderr.slice(-2000)}`).toBe(0);
}

async function host(): Promise<TestEnv> {
  const t = await doublesHost(registryUrl, cleanups);
  ok(await runCli(['install', '2026.1.1'], t.env), 'install');
  patchConfig(t.ocHome, (cfg) => {
    cfg.health = { ...cfg.health, responsiveDeadlineMs: 10_000, versionDeadlineMs: 4_000, probeIntervalMs: 100, settle: { probes: 4, minWindowMs: 800 } };
    // Longer than the 5 s drain: launchd's own SIGKILL never decides the outcome.
    cfg.service = { ...cfg.service, drainMs: 10_000 };
    cfg.watch = { ...cfg.watch, windowMs: 0 };
  });
  return t;
}

describe('must-hold (a): a gateway that drains 5 s, on the launchd model', () => {
  it('adopt (inline env), upgrade, a crash rollback, use, rollback, restore: never left unloaded, gaps only inside each restart window, the secret survives', async () => {
    const SECRET = `mh-inline-${Date.now()}-secret`;
    const t = await host();
    for (const v of ['2026.2.1', '2026.3.1']) ok(await runCli(['install', v], t.env), `install ${v}`);
    const { definitionPath, port } = await adoptedOpenClawService(t, 'launchd', '2026.1.1', SECRET, DRAIN, KEYS);
    loadedNow(t);
    await statusNamesGateway(t, port);
    const p = poller(t.env, port);
    cleanups.push(() => p.stop());
    await waitFor(async () => p.samples.some((s) => s.up), 10_000, 'the poller');

    const steps: Array<[string, string[], string | null]> = [
      ['upgrade', ['upgrade', '2026.2.1', '--json'], 'upgraded'],
      ['crash rollback', ['upgrade', VARIANT_VERSIONS['crash-at-start'], '--no-canary', '--json'], 'rolled-back'],
      ['use', ['use', '2026.3.1', '--json'], null],
      ['rollback', ['rollback', '--json'], 'switched-back'],
    ];
    for (const [name, args, outcome] of steps) {
      const before = await servedPid(port);
      const { r, s } = await p.during(() => runCli(args, t.env));
      expect(r.code, `${name}: ${r.stderr.slice(-2000)}`).toBe(outcome === 'rolled-back' ? 6 : 0);
      if (outcome) expect(r.json.outcome, name).toBe(outcome);
      // The label stays loaded through the whole transition (a draining restart, not bootout).
      expect(s.filter((x) => !x.loaded), `${name}: samples with the label unloaded`).toEqual([]);
      gapsInside(s, restartWindow(t.ocHome, r.json.txid));
      expect(await servedPid(port), `${name}: a new gateway`).not.toBe(before);
      await statusNamesGateway(t, port);
      const env = await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`);
      expect(env!.body.values.OPENCLAW_GATEWAY_TOKEN, `${name}: the secret`).toBe(SECRET);
    }
    // The crash rollback left 2026.2.1 current; `use` went to 2026.3.1 and `rollback` back to 2026.2.1.
    expect((await getJson(`http://127.0.0.1:${port}/startupz`))!.body.version).toBe('2026.2.1');

    // restore: OpenClaw's own plist back (its program, its environment), loaded, serving, with its secret.
    const { r: rs } = await p.during(() => runCli(['service', 'restore'], t.env));
    ok(rs, 'restore');
    loadedNow(t);
    const back = plist.parse(fs.readFileSync(definitionPath, 'utf8')) as { ProgramArguments: string[]; EnvironmentVariables: Record<string, string> };
    const entry = path.join(t.ocHome, 'versions', '2026.1.1', 'node_modules', 'openclaw', 'dist', 'index.js');
    expect(back.ProgramArguments.slice(1)).toEqual([entry, 'gateway', '--port', String(port)]);
    expect(back.EnvironmentVariables).toMatchObject({ OPENCLAW_GATEWAY_TOKEN: SECRET, ...DRAIN });
    const info = await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/info`))?.body, 30_000, 'the restored gateway');
    expect(info.argv1).toBe(entry);
    await p.stop();
    const after = await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`);
    expect(after!.body.values.OPENCLAW_GATEWAY_TOKEN).toBe(SECRET);
    expect(grepTree(t.ocHome, SECRET)).toEqual([]);
  });

  it('adopt (env wrapper), a SIGKILLed updater and recover --auto (the recovery agent command), then restore: never left unloaded, the secret survives', async () => {
    const SECRET = `mh-wrapper-${Date.now()}-secret`;
    const t = await host();
    const gwPort = await freePort();
    const stateDir = path.join(t.home, '.openclaw');
    const { wrapper, envFile } = await makeEnvWrapper(stateDir, LABEL, { OPENCLAW_GATEWAY_TOKEN: SECRET, ...DRAIN });
    const plistPath = path.join(t.home, 'Library', 'LaunchAgents', `${LABEL}.plist`);
    fs.mkdirSync(path.dirname(plistPath), { recursive: true });
    const entry = path.join(t.ocHome, 'versions', '2026.1.1', 'node_modules', 'openclaw', 'dist', 'index.js');
    fs.writeFileSync(
      plistPath,
      plist.build({
        Label: LABEL,
        ProgramArguments: ['/bin/sh', wrapper, envFile, process.execPath, entry, 'gateway', '--port', String(gwPort)],
        EnvironmentVariables: { HOME: t.home, OPENCLAW_STATE_DIR: stateDir, OPENCLAW_LAUNCHD_LABEL: LABEL },
        RunAtLoad: true,
        KeepAlive: true,
        ...KEYS,
      }),
    );
    ok(await runCli(['service', 'adopt', '--plist', plistPath], t.env), 'adopt');
    loadedNow(t);
    await statusNamesGateway(t, gwPort);
    const p = poller(t.env, gwPort);
    cleanups.push(() => p.stop());
    await waitFor(async () => p.samples.some((s) => s.up), 10_000, 'the poller');

    // The updater dies at the restart (SIGKILL), then the recovery agent's own command finishes the host.
    const { r: killed, s: ks } = await p.during(() => runCli(['upgrade', '2026.2.1', '--json'], { ...t.env, OC_VERSIONS_FAULT: 'restart:kill' }));
    expect(killed.signal).toBe('SIGKILL');
    expect(ks.filter((x) => !x.loaded)).toEqual([]);
    loadedNow(t);
    const { r: rec, s: rcs } = await p.during(() => runCli(['recover', '--auto', '--home', t.ocHome], t.env));
    ok(rec, 'recover --auto');
    expect(fs.existsSync(path.join(t.ocHome, 'journal.json'))).toBe(false);
    expect(rcs.filter((x) => !x.loaded)).toEqual([]);
    loadedNow(t);
    await statusNamesGateway(t, gwPort);
    const env = await waitFor(async () => (await getJson(`http://127.0.0.1:${gwPort}/env?keys=OPENCLAW_GATEWAY_TOKEN`))?.body, 20_000, 'the gateway after recover');
    expect(env.values.OPENCLAW_GATEWAY_TOKEN).toBe(SECRET);
    // Where recover left it (rolled back or finished): a version oc-versions has, and the wrapper still in front.
    const doc = plist.parse(fs.readFileSync(plistPath, 'utf8')) as { ProgramArguments: string[] };
    expect(doc.ProgramArguments.slice(0, 3)).toEqual(['/bin/sh', wrapper, envFile]);
    await p.stop();
    ok(await runCli(['service', 'restore'], t.env), 'restore');
    loadedNow(t);
    const restored = await waitFor(async () => (await getJson(`http://127.0.0.1:${gwPort}/env?keys=OPENCLAW_GATEWAY_TOKEN`))?.body, 30_000, 'the restored gateway');
    expect(restored.values.OPENCLAW_GATEWAY_TOKEN).toBe(SECRET);
    expect(grepTree(t.ocHome, SECRET)).toEqual([]);
  });

  it('the watch: a version that dies after the upgrade is rolled back by the recovery agent (run by the model), the label never unloaded, no gap after the rollback, the secret survives', async () => {
    const SECRET = `mh-watch-${Date.now()}-secret`;
    const t = await host();
    patchConfig(t.ocHome, (cfg) => {
      cfg.watch = { windowMs: 180_000, intervalS: 2, crashRestarts: 3, readyGraceMs: 60_000 };
    });
    const { port } = await adoptedOpenClawService(t, 'launchd', '2026.1.1', SECRET, DRAIN, KEYS);
    const p = poller(t.env, port);
    cleanups.push(() => p.stop());
    await waitFor(async () => p.samples.some((s) => s.up), 10_000, 'the poller');
    const v = VARIANT_VERSIONS['crash-later'];
    const up = await runCli(['upgrade', v, '--json'], t.env);
    ok(up, 'upgrade');
    expect(up.json.outcome).toBe('upgraded');
    // No command from here on: the version dies after its start; the agent's watch rolls back.
    await waitFor(async () => {
      const s = await getJson(`http://127.0.0.1:${port}/startupz`, 1_000);
      return s?.status === 200 && s.body.version === '2026.1.1' ? s : null;
    }, 120_000, 'the watch to roll back');
    // Serving again before the rollback's own settle and commit: wait for its outcome.
    const rb = await waitFor(async () => {
      const hist = await runCli(['history', '--json'], t.env);
      return (hist.json.transitions as Array<{ op: string; cause: string | null; txid: string; outcome: string }>).find((i) => i.op === 'rollback' && i.cause !== null && i.outcome === 'switched-back');
    }, 60_000, 'the watch rollback to commit');
    expect(rb.cause).toMatch(/^watch: /);
    const w = restartWindow(t.ocHome, rb.txid);
    // Settled after the rollback: two more seconds of samples.
    await new Promise((r) => setTimeout(r, 2_000));
    await p.stop();
    expect(p.samples.filter((x) => !x.loaded), 'samples with the label unloaded').toEqual([]);
    expect(p.samples.filter((x) => x.at > w.to && !x.up), 'gaps after the rollback').toEqual([]);
    loadedNow(t);
    await statusNamesGateway(t, port);
    expect((await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`))!.body.values.OPENCLAW_GATEWAY_TOKEN).toBe(SECRET);
    expect(grepTree(t.ocHome, SECRET)).toEqual([]);
  });

  it('service install, then uninstall: the job drains (5 s) and is gone before uninstall returns', async () => {
    const t = await host();
    const port = await freePort();
    const env = { ...t.env, ...DRAIN };
    const inst = await runCli(['service', 'install', '--manager', 'launchd', '--env', 'FIXTURE_DRAIN_MS', '--', 'gateway', 'run', '--port', String(port)], env);
    ok(inst, 'service install');
    loadedNow(t);
    await statusNamesGateway(t, port);
    expect((await getJson(`http://127.0.0.1:${port}/env?keys=FIXTURE_DRAIN_MS`))!.body.values.FIXTURE_DRAIN_MS).toBe('5000');
    const last = await servedPid(port);
    ok(await runCli(['service', 'uninstall'], t.env), 'uninstall');
    expect(launchctl(t.env, 'print', TARGET).status).toBe(113);
    let alive = true;
    try {
      process.kill(last, 0);
    } catch {
      alive = false;
    }
    expect(alive, 'the drained gateway has exited when uninstall returns').toBe(false);
    expect(fs.existsSync(path.join(t.home, 'Library', 'LaunchAgents', `${LABEL}.plist`))).toBe(false);
  });
});

/** Every path under `dirs` with its content (files) or target (links): a listing to compare before/after. */
function listing(...dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let names: fs.Dirent[] = [];
    try {
      names = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of names) {
      const p = path.join(d, e.name);
      if (e.name === '.double-state') continue; // the model's own records (launchd's memory, not the disk we own)
      if (e.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else if (e.isSymbolicLink()) out.push(`${p} -> ${fs.readlinkSync(p)}`);
      else out.push(`${p}:${fs.readFileSync(p).toString('base64')}`);
    }
  };
  for (const d of dirs) walk(d);
  return out.sort();
}

describe('must-hold (b) and (c): a disabled label, and no GUI domain', () => {
  it('no GUI domain: adopt, uninstall (nothing installed), then a disabled label adopted and upgraded (override back, said), then upgrade and restore without a GUI domain: exit 9, one line, nothing on disk changes', async () => {
    const SECRET = `mh-disabled-${Date.now()}-secret`;
    const t = await host();
    ok(await runCli(['install', '2026.2.1'], t.env), 'install 2026.2.1');
    const noGui = { ...t.env, OC_LAUNCHD_MODEL_NO_GUI: '1' };
    const agents = path.join(t.home, 'Library', 'LaunchAgents');
    const refuses = async (args: string[]): Promise<void> => {
      const before = listing(t.home);
      const r = await runCli([...args, '--json'], noGui);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(9);
      expect(r.json.error.code).toBe('SERVICE_ERROR');
      expect(r.json.error.message).not.toContain('\n');
      expect(r.json.error.message).toMatch(/no GUI session/);
      expect(r.json.error.hint).toMatch(/log in to this Mac graphically.*--manager process/);
      expect(listing(t.home), `${args.join(' ')}: the home and ${agents} unchanged`).toEqual(before);
    };
    // Nothing installed: uninstall.
    await refuses(['service', 'uninstall', '--manager', 'launchd']);

    // OpenClaw's own LaunchAgent, loaded by a login while the label is disabled (launchctl disable
    // after it loaded: disable does not unload). Without a GUI domain, adopt changes nothing.
    const port = await freePort();
    const plistPath = path.join(agents, `${LABEL}.plist`);
    fs.mkdirSync(agents, { recursive: true });
    const entry = path.join(t.ocHome, 'versions', '2026.1.1', 'node_modules', 'openclaw', 'dist', 'index.js');
    fs.writeFileSync(
      plistPath,
      plist.build({
        Label: LABEL,
        ProgramArguments: [process.execPath, entry, 'gateway', '--port', String(port)],
        EnvironmentVariables: { HOME: t.home, OPENCLAW_GATEWAY_TOKEN: SECRET, OPENCLAW_STATE_DIR: path.join(t.home, '.openclaw') },
        RunAtLoad: true,
        KeepAlive: true,
        ...KEYS,
      }),
    );
    expect(launchctl(t.env, 'bootstrap', `gui/${uid}`, plistPath).status).toBe(0);
    await servedPid(port);
    expect(launchctl(t.env, 'disable', TARGET).status).toBe(0);
    await refuses(['service', 'adopt', '--plist', plistPath]);

    // (b) adopt of the disabled label: serving, the override back, and the command says so.
    const adopt = await runCli(['service', 'adopt', '--plist', plistPath], t.env);
    ok(adopt, 'adopt');
    expect(adopt.stderr).toMatch(/ai\.openclaw\.gateway was disabled in launchd.*disabled it again/);
    expect(launchctl(t.env, 'print-disabled', `gui/${uid}`).stdout).toContain(`"${LABEL}" => disabled`);
    loadedNow(t);
    await statusNamesGateway(t, port);
    // (b) upgrade of the disabled label.
    const up = await runCli(['upgrade', '2026.2.1', '--json'], t.env);
    ok(up, 'upgrade');
    expect(up.json.outcome).toBe('upgraded');
    expect(up.stderr).toMatch(/ai\.openclaw\.gateway was disabled in launchd.*disabled it again/);
    expect(launchctl(t.env, 'print-disabled', `gui/${uid}`).stdout).toContain(`"${LABEL}" => disabled`);
    loadedNow(t);
    expect((await getJson(`http://127.0.0.1:${port}/startupz`))!.body.version).toBe('2026.2.1');
    await statusNamesGateway(t, port);
    expect((await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN`))!.body.values.OPENCLAW_GATEWAY_TOKEN).toBe(SECRET);

    // (c) with the service adopted: upgrade and restore without a GUI domain change nothing.
    await refuses(['upgrade', '2026.1.1']);
    await refuses(['service', 'restore']);
    expect(grepTree(t.ocHome, SECRET)).toEqual([]);
  });
});

describe('must-hold (d): a rollback that restores the state databases, on the launchd model', () => {
  it('a gateway that writes its state database while it drains 15 s: the restore begins only after it exited (no write of it in the restored or the set-aside database after that), and the label is loaded after', async () => {
    const { DatabaseSync } = await import('node:sqlite');
    const SECRET = `mh-state-${Date.now()}-secret`;
    const t = await host();
    ok(await runCli(['install', '2026.2.1'], t.env), 'install 2026.2.1');
    patchConfig(t.ocHome, (cfg) => {
      // Beyond the 15 s drain: neither our stop nor launchd's ExitTimeOut cuts it short.
      cfg.service = { ...cfg.service, drainMs: 30_000 };
    });
    const dbFile = path.join(t.home, '.openclaw', 'state', 'openclaw.sqlite');
    fs.mkdirSync(path.dirname(dbFile), { recursive: true });
    const db = new DatabaseSync(dbFile);
    db.exec("PRAGMA journal_mode=WAL; CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES ('who','old'); PRAGMA user_version=17;");
    db.close();
    const { port } = await adoptedOpenClawService(t, 'launchd', '2026.1.1', SECRET, { FIXTURE_DRAIN_MS: '15000', FIXTURE_STATE_WRITES: dbFile }, { ...KEYS, ExitTimeOut: 40 });
    const up = await runCli(['upgrade', '2026.2.1', '--json'], t.env);
    ok(up, 'upgrade');
    // The new version migrates the schema forward (17 → 18) while it keeps writing.
    const live = new DatabaseSync(dbFile);
    live.exec("PRAGMA busy_timeout=5000; PRAGMA user_version=18; UPDATE kv SET v='migrated' WHERE k='who';");
    live.close();
    const oldPid = await servedPid(port);

    const rb = await runCli(['rollback', '--json', '--progress'], t.env);
    ok(rb, 'rollback');
    expect(rb.stderr).toMatch(/restored state databases .*schema 18 → 17/);
    const log = fs.readFileSync(path.join(t.ocHome, 'logs', `${rb.json.txid}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const begin = log.find((l) => l.event === 'state-restore-begin');
    const definition = log.find((l) => l.event === 'phase' && l.phase === 'definition');
    expect(begin, 'the log says when the restore began').toBeDefined();
    const beginAt = Date.parse(begin.at);
    const rows = (file: string) => {
      const d = new DatabaseSync(file, { readOnly: true });
      try {
        return d.prepare('SELECT pid, at FROM fixture_writes WHERE pid = ?').all(oldPid) as Array<{ pid: number; at: number }>;
      } finally {
        d.close();
      }
    };
    // The set-aside database is the one the old gateway wrote: it kept writing while it drained
    // (after the rollback had begun to stop it), and never once the restore had begun.
    const aside = `${dbFile}.oc-set-aside-${rb.json.txid}`;
    const asideRows = rows(aside);
    expect(asideRows.some((r) => r.at > Date.parse(definition.at)), 'writes during the drain').toBe(true);
    expect(asideRows.filter((r) => r.at >= beginAt)).toEqual([]);
    // The restored database (the snapshot's) has no write of the old gateway at all.
    expect(rows(dbFile)).toEqual([]);
    const after = new DatabaseSync(dbFile, { readOnly: true });
    expect((after.prepare('PRAGMA user_version').get() as { user_version: number }).user_version).toBe(17);
    after.close();
    loadedNow(t);
    expect((await getJson(`http://127.0.0.1:${port}/startupz`))!.body.version).toBe('2026.1.1');
    await statusNamesGateway(t, port);
    expect(grepTree(t.ocHome, SECRET)).toEqual([]);
  });
});
