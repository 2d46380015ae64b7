/**
 * Supervised upgrade scenarios beyond the fault matrix: the happy path, a
 * definition rewritten during the upgrade (launchd, through the launchctl
 * double that really runs the job), the old gateway's lazy imports after the
 * flip, state-dir links and prune, and two upgrades at once.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import * as plist from 'plist';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { buildFixture, VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { publish, startRegistry } from '../helpers/registry.js';
import { grepTree, makeTestEnv, runCli, type TestEnv } from '../helpers/cli.js';
import { doublesHost, freePort, gatewayHost, getJson, waitFor, type GatewayHost } from '../helpers/gateway.js';
import { DOUBLES_DIR } from '../helpers/fake-home.js';
import { bootoutAndWait } from '../helpers/launchd-model.js';
import { homeTagOf } from '../../src/core/layout.js';

/** A temp host whose PATH starts with the launchctl/systemctl doubles; cleaned up after each test. */
const doublesTestEnv = (registryUrl: string): Promise<TestEnv> => doublesHost(registryUrl, cleanups);

let h: GatewayHost | undefined;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
  for (const c of cleanups.splice(0)) await c();
});

describe('upgrade (process backend, real fixture gateways)', () => {
  it('upgrades a running gateway, reports its stages (three gate stages and the settle), the log and the downtime', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    expect(await h.version()).toBe('2026.1.1');
    const oldPid = (await getJson(`http://127.0.0.1:${h.port}/info`))?.body.pid;
    const dry = await h.cli('upgrade', '2026.2.1', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    expect(dry.json).toMatchObject({ dryRun: true, from: '2026.1.1', to: '2026.2.1', stage: true, restart: true });
    expect(fs.existsSync(path.join(h.t.ocHome, 'versions', '2026.2.1'))).toBe(false);
    const r = await h.cli('upgrade', '2026.2.1', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.outcome).toBe('upgraded');
    expect(r.json.stages.map((s: { name: string; ok: boolean }) => [s.name, s.ok])).toEqual([
      ['installed+promoted', true],
      ['restarted+responsive', true],
      ['health-verified', true],
      ['settle', true],
    ]);
    expect(typeof r.json.downtimeMs).toBe('number');
    expect(await h.version()).toBe('2026.2.1');
    const info = (await getJson(`http://127.0.0.1:${h.port}/info`))?.body;
    expect(info.pid).not.toBe(oldPid);
    expect(info.realArgv1.startsWith(fs.realpathSync(path.join(h.t.ocHome, 'versions', '2026.2.1')))).toBe(true);
    const log = fs.readFileSync(path.join(h.t.ocHome, 'logs', `${r.json.txid}.jsonl`), 'utf8');
    expect(log).toMatch(/"phase":"gate-deep"/);
    expect(log).toMatch(/"outcome":"upgraded"/);
    const ls = await h.cli('list', '--json');
    expect(ls.json.versions.find((v: { previous: boolean }) => v.previous).version).toBe('2026.1.1');
    // rollback on a running service goes through the same gate
    const rb = await h.cli('rollback', '--json');
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.json).toMatchObject({ changed: true, outcome: 'switched-back', from: '2026.2.1', to: '2026.1.1', service: { manager: 'process' } });
    expect(await h.version()).toBe('2026.1.1');
    // an upgrade to what is current is a no-op
    const same = await h.cli('upgrade', '2026.1.1', '--json');
    expect(same.json).toMatchObject({ changed: false, outcome: 'already-current', txid: null });
    // install --use keeps install's JSON shape and carries the gated transition
    const iu = await h.cli('install', '2026.3.1', '--use', '--json');
    expect(iu.code, iu.stderr).toBe(0);
    expect(iu.json).toMatchObject({ version: '2026.3.1', alreadyInstalled: false, current: true, transition: { outcome: 'switched', from: '2026.1.1', to: '2026.3.1' } });
    // service status reads the entry of the running process from the OS
    const ss = await h.cli('service', 'status', '--json');
    expect(ss.code).toBe(0);
    expect(ss.json).toMatchObject({ manager: 'process', running: true, version: '2026.3.1' });
    expect(ss.json.pid).toBe((await getJson(`http://127.0.0.1:${h.port}/info`))?.body.pid);
    expect(ss.json.entry).toBe(fs.realpathSync(path.join(h.t.ocHome, 'versions', '2026.3.1', 'node_modules', 'openclaw', 'dist', 'index.js')));
  });

  it('a version that fails validation is never promoted: exit 5, the running gateway untouched', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const pid = (await getJson(`http://127.0.0.1:${h.port}/info`))?.body.pid;
    const r = await h.cli('upgrade', VARIANT_VERSIONS['missing-dynamic-chunk'], '--json');
    expect(r.code).toBe(5);
    expect(r.json.error.code).toBe('VALIDATION_FAILED');
    expect(r.json.error.outcome).toBe('refused');
    expect(r.json.changed).toBe(false);
    expect(r.json.error.stages[0]).toMatchObject({ name: 'installed+promoted', ok: false });
    expect(r.json.error.message).toMatch(/import-closure/);
    expect(fs.readlinkSync(path.join(h.t.ocHome, 'current'))).toBe('versions/2026.1.1');
    expect(fs.existsSync(path.join(h.t.ocHome, 'versions', VARIANT_VERSIONS['missing-dynamic-chunk']))).toBe(false);
    expect(fs.existsSync(path.join(h.t.ocHome, 'journal.json'))).toBe(false);
    expect((await getJson(`http://127.0.0.1:${h.port}/info`))?.body.pid).toBe(pid);
  });

  it('refuses a secret in the gateway arguments (it would be stored in plaintext)', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const before = fs.readFileSync(path.join(h.t.ocHome, 'config.json'), 'utf8');
    const r = await h.cli('service', 'install', '--manager', 'process', '--', 'gateway', 'run', '--token', 'SEKRET-CANARY-1234', '--json', '--progress');
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).not.toContain('SEKRET-CANARY-1234');
    expect(fs.readFileSync(path.join(h.t.ocHome, 'config.json'), 'utf8')).toBe(before);
    expect(grepTree(h.t.ocHome, 'SEKRET-CANARY-1234')).toEqual([]);
  });

  it('an old gateway that lazily imports a chunk after the flip keeps working (--no-restart)', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const r = await h.cli('upgrade', '2026.2.1', '--no-restart', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.stages[1].detail).toMatch(/skipped/);
    expect(fs.readlinkSync(path.join(h.t.ocHome, 'current'))).toBe('versions/2026.2.1');
    // still the old process, importing a chunk it never loaded before, from its own untouched tree
    const lazy = await getJson(`http://127.0.0.1:${h.port}/lazy`);
    expect(lazy?.status).toBe(200);
    expect(JSON.stringify(lazy?.body)).toContain('2026.1.1');
    const fresh = await getJson(`http://127.0.0.1:${h.port}/lazy?fresh=1`);
    expect(fresh?.status).toBe(200);
    expect(await h.version()).toBe('2026.1.1');
    // and the old version cannot be removed from under it
    const un = await h.cli('uninstall', '2026.1.1', '--force', '--json');
    expect(un.code).toBe(2);
    expect(un.json.error.message).toMatch(/in use by running process/);
  });

  it('links from the OpenClaw state dir follow the switch; prune refuses a version still linked', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const stateDir = path.join(h.t.home, '.openclaw');
    const link = path.join(stateDir, 'plugin-skills', 'demo');
    await waitFor(async () => fs.existsSync(link), 5_000, 'the gateway to link its skill');
    expect(fs.readlinkSync(link)).toContain(path.join('versions', '2026.1.1'));
    for (const v of ['2026.2.1', '2026.3.1']) expect((await h.cli('install', v)).code).toBe(0);
    expect((await h.cli('upgrade', '2026.3.1', '--json')).code).toBe(0);
    expect(fs.readlinkSync(link)).toContain(path.join('versions', '2026.3.1'));
    // a plugin still linking the host package of 2026.2.1
    const plugin = path.join(stateDir, 'npm', 'projects', 'p1', 'host-openclaw');
    await fsp.mkdir(path.dirname(plugin), { recursive: true });
    await fsp.symlink(path.join(h.t.ocHome, 'versions', '2026.2.1', 'node_modules', 'openclaw'), plugin);
    const refused = await h.cli('prune', '--keep', '0', '--json');
    expect(refused.code).toBe(2);
    expect(refused.json.error.message).toContain(plugin);
    expect(fs.existsSync(path.join(h.t.ocHome, 'versions', '2026.2.1'))).toBe(true);
    // the deep gate also refuses a switch while a link points into another version
    const gated = await h.cli('use', '2026.2.1', '--json');
    expect(gated.code).toBe(0); // switching TO 2026.2.1 makes that link valid
    expect((await h.cli('use', '2026.3.1', '--json')).code).toBe(6); // away from it: the stale link fails the deep gate
    await fsp.rm(plugin);
    const ok = await h.cli('prune', '--keep', '0', '--json');
    expect(ok.code, ok.stderr).toBe(0);
    // current (2026.2.1: the use of 2026.3.1 was rolled back) and previous (2026.3.1) stay
    expect(ok.json.removed).toEqual(['2026.1.1']);
    expect(fs.readdirSync(path.join(h.t.ocHome, 'versions')).sort()).toEqual(['2026.2.1', '2026.3.1']);
    // after the upgrade and the prune, no link in the state dir dangles
    const all = (await import('../../src/openclaw/links.js')).scanStateLinks;
    const { makeLayout } = await import('../../src/core/layout.js');
    const links = await all(makeLayout(h.t.ocHome), stateDir);
    expect(links.length).toBeGreaterThan(0);
    expect(links.filter((l) => l.dangling)).toEqual([]);
    expect(fs.readlinkSync(link)).toContain(path.join('versions', '2026.2.1'));
  });

  it('rollback across a schema bump restores the state databases the newer version migrated', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const { DatabaseSync } = await import('node:sqlite');
    const dbFile = path.join(h.t.home, '.openclaw', 'state', 'openclaw.sqlite');
    await fsp.mkdir(path.dirname(dbFile), { recursive: true });
    const db = new DatabaseSync(dbFile);
    db.exec("PRAGMA journal_mode=WAL; CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES ('who','old'); PRAGMA user_version=17;");
    db.close();
    // an agent database the new version does not migrate
    const agentDb = path.join(h.t.home, '.openclaw', 'agents', 'a1', 'agent', 'openclaw-agent.sqlite');
    await fsp.mkdir(path.dirname(agentDb), { recursive: true });
    const adb = new DatabaseSync(agentDb);
    adb.exec('CREATE TABLE notes(n TEXT); PRAGMA user_version=23;');
    adb.close();
    const up = await h.cli('upgrade', '2026.2.1', '--json');
    expect(up.code, up.stderr).toBe(0);
    // The new version migrates the schema forward (as OpenClaw 2026.9.6 does 17 → 18).
    const live = new DatabaseSync(dbFile);
    live.exec("PRAGMA user_version=18; UPDATE kv SET v='migrated' WHERE k='who';");
    live.close();
    const adb2 = new DatabaseSync(agentDb);
    adb2.exec("INSERT INTO notes VALUES ('written after the upgrade')");
    adb2.close();
    // A database the new version created at its own schema (as 2026.9.6 creates an agent database
    // 2026.9.5 refuses): it did not exist before the upgrade, so going back sets it aside.
    const newDb = path.join(h.t.home, '.openclaw', 'agents', 'a2', 'agent', 'openclaw-agent.sqlite');
    await fsp.mkdir(path.dirname(newDb), { recursive: true });
    const ndb = new DatabaseSync(newDb);
    ndb.exec("CREATE TABLE notes(n TEXT); INSERT INTO notes VALUES ('new'); PRAGMA user_version=99;");
    ndb.close();
    const rb = await h.cli('rollback', '--json', '--progress');
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stderr).toMatch(/restored state databases .*schema 18 → 17/);
    expect(rb.stderr).toMatch(/a2\/agent\/openclaw-agent\.sqlite \(created since; set aside/);
    expect(fs.existsSync(newDb)).toBe(false);
    const aside = fs.readdirSync(path.dirname(newDb)).find((n) => n.startsWith('openclaw-agent.sqlite.oc-set-aside-'));
    expect(aside).toBeDefined();
    // The migrated database was not overwritten: it is set aside, with what the new version wrote.
    const migratedAside = `${dbFile}.oc-set-aside-${rb.json.txid}`;
    expect(rb.json.setAside).toEqual(expect.arrayContaining([migratedAside]));
    const kept = new DatabaseSync(migratedAside, { readOnly: true });
    expect((kept.prepare("SELECT v FROM kv WHERE k='who'").get() as { v: string }).v).toBe('migrated');
    kept.close();
    const after = new DatabaseSync(dbFile, { readOnly: true });
    expect((after.prepare('PRAGMA user_version').get() as { user_version: number }).user_version).toBe(17);
    expect((after.prepare("SELECT v FROM kv WHERE k='who'").get() as { v: string }).v).toBe('old');
    after.close();
    // only the migrated database was put back: the agent database keeps what was written since
    const a3 = new DatabaseSync(agentDb, { readOnly: true });
    expect((a3.prepare('SELECT count(*) AS c FROM notes').get() as { c: number }).c).toBe(1);
    a3.close();
    expect(await h.version()).toBe('2026.1.1');
    // without a migration nothing is restored
    const again = await h.cli('upgrade', '2026.2.1', '--json');
    expect(again.code, again.stdout.slice(0, 3000) + again.stderr.slice(-2000)).toBe(0);
    const rb2 = await h.cli('rollback', '--json', '--progress');
    expect(rb2.code).toBe(0);
    expect(rb2.stderr).not.toMatch(/restored state databases/);
  });

  it('--detach: the updater leaves the caller\'s process tree and status follows it to the end', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const r = await h.cli('upgrade', '2026.2.1', '--detach', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.detached).toBe(true);
    const pid = r.json.pid as number;
    expect(pid).toBeGreaterThan(0);
    // its own session: not in the caller's process group
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    expect(Number(stat[3])).toBe(pid); // session id == its own pid (setsid): a stopped gateway's group cannot take it down
    const done = await waitFor(async () => {
      const st = await h!.cli('status', '--json');
      return st.json.transaction === null && st.json.current === '2026.2.1' ? st.json : null;
    }, 30_000, 'the detached upgrade to finish');
    expect(done.log.at(-1)).toMatchObject({ event: 'outcome', outcome: 'upgraded' });
    expect(await h.version()).toBe('2026.2.1');
  });

  it('two upgrades at once: one runs, the other exits 4 and changes nothing', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const first = runCli(['upgrade', '2026.2.1', '--json'], h.t.env);
    await waitFor(async () => fs.existsSync(path.join(h!.t.ocHome, 'journal.json')), 10_000, 'the first upgrade to start');
    const before = fs.readdirSync(path.join(h.t.ocHome, 'versions')).sort();
    const second = await runCli(['upgrade', '2026.3.1', '--json'], h.t.env);
    expect(second.code).toBe(4);
    expect(second.json.error.code).toBe('LOCKED');
    const r = await first;
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(path.join(h.t.ocHome, 'versions', '2026.3.1'))).toBe(false);
    expect(before).not.toContain('2026.3.1');
    expect(await h.version()).toBe('2026.2.1');
  });
});

describe('a definition rewritten during the upgrade (launchd via the launchctl double)', () => {
  it('dropped env keys are detected and restored; the new process sees every key; no secret under the home', async () => {
    // A private registry: this test publishes a version of its own.
    const privateReg = await startRegistry();
    cleanups.push(() => privateReg.stop());
    const reg = privateReg.url;
    const base = await buildFixture({ version: '2026.1.1', chunkCount: 4 });
    await publish(reg, base, { tag: 'latest' });
    await fsp.rm(path.dirname(base), { recursive: true, force: true });
    // A new version whose postinstall regenerates the LaunchAgent like OpenClaw's self-update
    // does (#64931): a fresh template without the user's EnvironmentVariables.
    const dir = await buildFixture({ version: '2026.6.1', chunkCount: 4 });
    const post = path.join(dir, 'scripts', 'postinstall.mjs');
    await fsp.appendFile(
      post,
      `\n;{const fs=await import('node:fs');const p=process.env.HOME+'/Library/LaunchAgents/ai.openclaw.gateway.plist';` +
        `if(fs.existsSync(p)){const t=fs.readFileSync(p,'utf8');fs.writeFileSync(p,t.replace(/<key>EnvironmentVariables<\\/key>\\s*<dict>[\\s\\S]*?<\\/dict>/,'<key>EnvironmentVariables</key><dict><key>HOME</key><string>'+process.env.HOME+'</string></dict>'));}}\n`,
    );
    await publish(reg, dir, { tag: 'rewrite' });
    await fsp.rm(path.dirname(dir), { recursive: true, force: true });

    const CANARY = `canary-plist-${Date.now()}`;
    const t = await doublesTestEnv(reg);
    const cli = (...a: string[]) => runCli(a, t.env);
    expect((await cli('install', '2026.1.1')).code).toBe(0);
    const cfgPath = path.join(t.ocHome, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    cfg.health = { ...cfg.health, responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000, settle: { probes: 4, minWindowMs: 800 } };
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    const port = await freePort();
    // OpenClaw's own LaunchAgent (older inline-env layout) running the installed version directly.
    const agents = path.join(t.home, 'Library', 'LaunchAgents');
    await fsp.mkdir(agents, { recursive: true });
    const plistPath = path.join(agents, 'ai.openclaw.gateway.plist');
    const entry = path.join(t.ocHome, 'versions', '2026.1.1', 'node_modules', 'openclaw', 'dist', 'index.js');
    fs.writeFileSync(
      plistPath,
      plist.build({
        Label: 'ai.openclaw.gateway',
        ProgramArguments: [process.execPath, entry, 'gateway', '--port', String(port)],
        EnvironmentVariables: { HOME: t.home, OPENCLAW_GATEWAY_TOKEN: CANARY, ANTHROPIC_API_KEY: `${CANARY}-api`, OPENCLAW_STATE_DIR: path.join(t.home, '.openclaw') },
        RunAtLoad: true,
        KeepAlive: true,
      }),
    );
    const adopt = await cli('service', 'adopt', '--plist', plistPath);
    expect(adopt.code, adopt.stderr).toBe(0);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/healthz`))?.status === 200, 15_000, 'adopted gateway');

    const r = await cli('upgrade', '2026.6.1', '--registry', reg, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.outcome).toBe('upgraded');
    expect(r.json.restoredEnvKeys).toEqual(expect.arrayContaining(['ANTHROPIC_API_KEY', 'OPENCLAW_GATEWAY_TOKEN']));
    const env = await getJson(`http://127.0.0.1:${port}/env?keys=OPENCLAW_GATEWAY_TOKEN,ANTHROPIC_API_KEY,OPENCLAW_SUPERVISOR_MODE`);
    expect(env?.body.values).toEqual({ OPENCLAW_GATEWAY_TOKEN: CANARY, ANTHROPIC_API_KEY: `${CANARY}-api`, OPENCLAW_SUPERVISOR_MODE: 'external' });
    expect((await getJson(`http://127.0.0.1:${port}/startupz`))?.body.version).toBe('2026.6.1');
    const live = plist.parse(fs.readFileSync(plistPath, 'utf8')) as { EnvironmentVariables: Record<string, string> };
    expect(Object.keys(live.EnvironmentVariables)).toEqual(expect.arrayContaining(['OPENCLAW_GATEWAY_TOKEN', 'ANTHROPIC_API_KEY']));
    expect(grepTree(t.ocHome, CANARY)).toEqual([]);
  });
});

describe('launchd recovery agent', () => {
  it('service install writes the agent; a reboot mid-upgrade (agent loaded) heals the host without a person', async () => {
    const t = await doublesTestEnv(inject('registryUrl'));
    const cli = (...a: string[]) => runCli(a, t.env);
    expect((await cli('install', '2026.1.1')).code).toBe(0);
    const port = await freePort();
    const inst = await cli('service', 'install', '--manager', 'launchd', '--', 'gateway', 'run', '--port', String(port));
    expect(inst.code, inst.stderr).toBe(0);
    // The agent's label carries the home's tag: two homes never share one.
    const agentLabel = `ai.openclaw.oc-versions-recover.${homeTagOf(t.ocHome)}`;
    const agentPlist = path.join(t.home, 'Library', 'LaunchAgents', `${agentLabel}.plist`);
    const agent = plist.parse(fs.readFileSync(agentPlist, 'utf8')) as Record<string, any>;
    expect(agent['RunAtLoad']).toBe(true);
    expect(agent['StartInterval']).toBeGreaterThan(0);
    expect(agent['ProgramArguments'].slice(-5)).toEqual(['recover', '--auto', '--home', t.ocHome, '--quiet']);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/healthz`))?.status === 200, 15_000, 'gateway');

    // The updater dies between the flip and the restart (power loss).
    const killed = await runCli(['upgrade', '2026.2.1', '--json'], { ...t.env, OC_VERSIONS_FAULT: 'restart:kill' });
    expect(killed.signal).toBe('SIGKILL');
    expect(fs.existsSync(path.join(t.ocHome, 'journal.json'))).toBe(true);
    // "Reboot": launchd loads the agents again; the recovery agent runs recover by itself.
    const uid = process.getuid?.() ?? 0;
    const { execFileSync } = await import('node:child_process');
    await bootoutAndWait(t.env, `gui/${uid}/${agentLabel}`);
    execFileSync(path.join(DOUBLES_DIR, 'launchctl'), ['bootstrap', `gui/${uid}`, agentPlist], { env: t.env });
    await waitFor(async () => !fs.existsSync(path.join(t.ocHome, 'journal.json')), 30_000, 'the agent to recover').catch((e) => {
      const logf = path.join(t.ocHome, 'logs', 'recover-agent.log');
      throw new Error(`${e.message}; agent log: ${fs.existsSync(logf) ? fs.readFileSync(logf, 'utf8') : '(none)'}; journal: ${fs.readFileSync(path.join(t.ocHome, 'journal.json'), 'utf8')}`);
    });
    expect(fs.readlinkSync(path.join(t.ocHome, 'current'))).toBe('versions/2026.1.1');
    await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/startupz`))?.body?.version === '2026.1.1', 15_000, 'old version serving');
    const log = fs.readFileSync(path.join(t.ocHome, 'logs', 'recover-agent.log'), 'utf8');
    expect(log).toMatch(/recovered|rolled back/);
  });
});

describe('systemd backend through the systemctl double', () => {
  it('upgrades and rolls back a user unit through systemctl --user restart and the gate', async () => {
    const t = await doublesTestEnv(inject('registryUrl'));
    const cli = (...a: string[]) => runCli(a, t.env);
    expect((await cli('install', '2026.1.1')).code).toBe(0);
    const port = await freePort();
    const inst = await cli('service', 'install', '--manager', 'systemd', '--', 'gateway', 'run', '--port', String(port));
    expect(inst.code, inst.stderr).toBe(0);
    const unit = path.join(t.home, '.config', 'systemd', 'user', 'openclaw-gateway.service');
    expect(fs.readFileSync(unit, 'utf8')).toMatch(/ExecStart=.*openclaw-gateway gateway run --port/);
    await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/healthz`))?.status === 200, 15_000, 'unit gateway');
    const up = await cli('upgrade', '2026.2.1', '--json');
    expect(up.code, up.stderr).toBe(0);
    expect(up.json.outcome).toBe('upgraded');
    expect((await getJson(`http://127.0.0.1:${port}/startupz`))?.body.version).toBe('2026.2.1');
    const bad = await cli('upgrade', VARIANT_VERSIONS['wrong-version'], '--no-canary', '--json');
    expect(bad.code).toBe(6);
    expect((await getJson(`http://127.0.0.1:${port}/startupz`))?.body.version).toBe('2026.2.1');
    const st = await cli('service', 'status', '--json');
    expect(st.json).toMatchObject({ manager: 'systemd', running: true, version: '2026.2.1' });
  });
});

