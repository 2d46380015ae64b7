/**
 * Going back across a schema bump loses nothing (issue 32): every live database a restore
 * replaces is set aside as `<file>.oc-set-aside-<txid>`, a manual rollback that would set aside
 * data written well after the upgrade needs consent, the watch's automatic rollback sets aside
 * without asking, and `state aside restore` brings a database back. Real fixture gateways under
 * the process backend, real SQLite files (node:sqlite) in temp homes.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { VARIANT_VERSIONS } from '../helpers/fixtures.js';
import { gatewayHost, getJson, waitFor, type GatewayHost } from '../helpers/gateway.js';
import { CLI } from '../helpers/cli.js';

let h: GatewayHost | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function patchConfig(ocHome: string, patch: (cfg: any) => void): void {
  const file = path.join(ocHome, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  patch(cfg);
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
}

/** The shared state database at schema 17 (what the old version writes), in WAL mode as OpenClaw's is. */
async function seedStateDb(home: string): Promise<string> {
  const dbFile = path.join(home, '.openclaw', 'state', 'openclaw.sqlite');
  await fsp.mkdir(path.dirname(dbFile), { recursive: true });
  const db = new DatabaseSync(dbFile);
  db.exec("PRAGMA journal_mode=WAL; CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES ('who','old'); PRAGMA user_version=17;");
  db.close();
  return dbFile;
}

/** What the new version does after the upgrade: migrate 17 → 18, then write rows the old build never saw. */
function migrateAndWrite(dbFile: string, rows: number, tag: string): void {
  const db = new DatabaseSync(dbFile);
  db.exec("PRAGMA user_version=18; UPDATE kv SET v='migrated' WHERE k='who'; CREATE TABLE IF NOT EXISTS sessions(id TEXT)");
  const ins = db.prepare('INSERT INTO sessions VALUES (?)');
  for (let i = 0; i < rows; i++) ins.run(`${tag}-${i}`);
  db.close();
}

function countSessions(file: string, tag: string): number {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return (db.prepare('SELECT count(*) AS c FROM sessions WHERE id LIKE ?').get(`${tag}-%`) as { c: number }).c;
  } finally {
    db.close();
  }
}

function schemaOf(file: string): number {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  } finally {
    db.close();
  }
}

/** Every set-aside file (not its -wal/-shm) beside `dbFile`. */
function asideOf(dbFile: string): string[] {
  return fs
    .readdirSync(path.dirname(dbFile))
    .filter((n) => n.startsWith(`${path.basename(dbFile)}.oc-set-aside-`) && !/-(wal|shm)$/.test(n))
    .map((n) => path.join(path.dirname(dbFile), n));
}

function digestOf(file: string): string {
  const h = crypto.createHash('sha256');
  for (const x of ['', '-wal']) if (fs.existsSync(`${file}${x}`)) h.update(fs.readFileSync(`${file}${x}`));
  return h.digest('hex');
}


/**
 * The CLI on a real terminal: util-linux `script` gives it a pseudo-terminal for stdin and
 * stderr; `answer` is typed once the prompt shows. Resolves with the exit code and the screen.
 */
function onTerminal(args: string[], env: NodeJS.ProcessEnv, answer: string): Promise<{ code: number | null; screen: string }> {
  const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, CLI, ...args].map(q).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    let typed = false;
    child.stdout.on('data', (d) => {
      screen += d;
      if (!typed && screen.includes('[y/N]')) {
        typed = true;
        child.stdin.write(answer === '\x03' ? answer : `${answer}\r`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, screen }));
  });
}

describe('nothing is overwritten on the way back', () => {
  it('a rollback long after the upgrade is refused without consent, sets aside with --restore-state, and state aside restore brings the data back', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    patchConfig(h.t.ocHome, (cfg) => {
      cfg.stateAside = { consentAfterMs: 1_500 };
    });
    const dbFile = await seedStateDb(h.t.home);
    const up = await h.cli('upgrade', '2026.2.1', '--json');
    expect(up.code, up.stderr).toBe(0);
    expect(up.json.setAside).toEqual([]);
    // Rows written well after the upgrade (past the consent window), on the new schema.
    await sleep(2_000);
    migrateAndWrite(dbFile, 25, 'after-upgrade');
    const pid = (await getJson(`http://127.0.0.1:${h.port}/info`))!.body.pid;
    const before = digestOf(dbFile);
    const stateBefore = fs.readFileSync(path.join(h.t.ocHome, 'state.json'), 'utf8');

    // Not a terminal, no consent: refused, nothing changed.
    const refused = await h.cli('rollback', '--json');
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.json.error.code).toBe('REFUSED');
    expect(refused.json.error.message).toMatch(/sets aside 1 state database\(s\) holding \d+ s of data written on 2026\.2\.1/);
    expect(refused.json.error.hint).toMatch(/--restore-state/);
    expect(refused.json.error.setAside[0]).toMatchObject({ file: dbFile, why: 'migrated' });
    expect(fs.readlinkSync(path.join(h.t.ocHome, 'current'))).toBe('versions/2026.2.1');
    expect((await getJson(`http://127.0.0.1:${h.port}/info`))!.body.pid).toBe(pid);
    expect(digestOf(dbFile)).toBe(before);
    expect(asideOf(dbFile)).toEqual([]);
    expect(fs.readFileSync(path.join(h.t.ocHome, 'state.json'), 'utf8')).toBe(stateBefore);
    expect(fs.existsSync(path.join(h.t.ocHome, 'journal.json'))).toBe(false);
    // `use` back to the older version is the same switch.
    const refusedUse = await h.cli('use', '2026.1.1', '--json');
    expect(refusedUse.code).toBe(2);
    expect(refusedUse.json.error.code).toBe('REFUSED');

    // With consent: the old version serves the snapshot's database; the newer one is set aside intact.
    const rb = await h.cli('rollback', '--restore-state', '--json');
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.json.outcome).toBe('switched-back');
    expect(await h.version()).toBe('2026.1.1');
    expect(schemaOf(dbFile)).toBe(17);
    const aside = asideOf(dbFile);
    expect(aside).toHaveLength(1);
    expect(aside[0]).toBe(`${dbFile}.oc-set-aside-${rb.json.txid}`);
    expect(rb.json.setAside).toEqual(aside);
    expect(schemaOf(aside[0]!)).toBe(18);
    expect(countSessions(aside[0]!, 'after-upgrade')).toBe(25);

    // The report, history, status and `state aside list` all name it.
    const hist = await h.cli('history', '--json');
    expect(hist.json.transitions.find((t: { txid: string }) => t.txid === rb.json.txid).setAside).toEqual(aside);
    const st = await h.cli('status', '--json');
    expect(st.json.setAside.map((a: { aside: string }) => a.aside)).toEqual(aside);
    const ls = await h.cli('state', 'aside', 'list', '--json');
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.json.aside).toEqual([expect.objectContaining({ aside: aside[0], original: dbFile, txid: rb.json.txid, schema: 18, liveSchema: 17 })]);

    // Putting a schema-18 database under the 2026.1.1 that refuses it is refused, nothing changed.
    const early = await h.cli('state', 'aside', 'restore', aside[0]!, '--json');
    expect(early.code).toBe(2);
    expect(early.json.error.message).toMatch(/schema 18, newer than the live database's 17/);
    expect(early.json.error.hint).toMatch(/oc-versions use 2026\.2\.1/);
    expect(fs.existsSync(aside[0]!)).toBe(true);
    expect(schemaOf(dbFile)).toBe(17);

    // Forward again (the new version migrates the restored copy), then bring the rows back.
    const fwd = await h.cli('use', '2026.2.1', '--json');
    expect(fwd.code, fwd.stderr).toBe(0);
    migrateAndWrite(dbFile, 0, 'none');
    const back = await h.cli('state', 'aside', 'restore', aside[0]!, '--json');
    expect(back.code, back.stderr).toBe(0);
    expect(back.json).toMatchObject({ changed: true, restored: dbFile, from: aside[0], restarted: true });
    expect(countSessions(dbFile, 'after-upgrade')).toBe(25);
    expect(fs.existsSync(aside[0]!)).toBe(false);
    // The database it replaced is itself set aside, not lost.
    expect(back.json.setAside).toMatch(/openclaw\.sqlite\.oc-set-aside-/);
    expect(fs.existsSync(back.json.setAside)).toBe(true);
    await waitFor(async () => (await h!.version()) === '2026.2.1', 15_000, 'the gateway back after the swap');
  });

  it('on a terminal it asks, saying how much time of data is set aside: no changes nothing, yes goes back', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    patchConfig(h.t.ocHome, (cfg) => {
      cfg.stateAside = { consentAfterMs: 1_000 };
    });
    const dbFile = await seedStateDb(h.t.home);
    expect((await h.cli('upgrade', '2026.2.1', '--json')).code).toBe(0);
    await sleep(1_500);
    migrateAndWrite(dbFile, 4, 'tty');
    const before = digestOf(dbFile);
    // Ctrl-C at the prompt: the one interrupt path (exit 130), nothing changed.
    const cut = await onTerminal(['rollback'], h.t.env, '\x03');
    expect(cut.code, cut.screen).toBe(130);
    expect(cut.screen).toMatch(/interrupted by SIGINT/);
    expect(digestOf(dbFile)).toBe(before);
    const no = await onTerminal(['rollback'], h.t.env, 'n');
    expect(no.code, no.screen).toBe(2);
    expect(no.screen).toMatch(/holding \d+ s of data written on 2026\.2\.1 after its upgrade/);
    expect(no.screen).toMatch(/Go back\? \[y\/N\]/);
    expect(no.screen).toMatch(/declined/);
    expect(digestOf(dbFile)).toBe(before);
    expect(await h.version()).toBe('2026.2.1');
    const yes = await onTerminal(['rollback'], h.t.env, 'y');
    expect(yes.code, yes.screen).toBe(0);
    expect(await h.version()).toBe('2026.1.1');
    const aside = asideOf(dbFile);
    expect(aside).toHaveLength(1);
    expect(countSessions(aside[0]!, 'tty')).toBe(4);
  });

  it('within the consent window no consent is asked, and the replaced database is still set aside', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const dbFile = await seedStateDb(h.t.home);
    expect((await h.cli('upgrade', '2026.2.1', '--json')).code).toBe(0);
    migrateAndWrite(dbFile, 3, 'quick');
    const rb = await h.cli('rollback', '--json', '--progress');
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stderr).not.toMatch(/changes made since are lost/);
    expect(rb.stderr).toMatch(/the newer one set aside as openclaw\.sqlite\.oc-set-aside-/);
    expect(schemaOf(dbFile)).toBe(17);
    const aside = asideOf(dbFile);
    expect(aside).toHaveLength(1);
    expect(countSessions(aside[0]!, 'quick')).toBe(3);
  });

  it('the updater SIGKILLed between setting the live database aside and restoring the copy: recover puts the newer data back, nothing lost', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const dbFile = await seedStateDb(h.t.home);
    expect((await h.cli('upgrade', '2026.2.1', '--json')).code).toBe(0);
    migrateAndWrite(dbFile, 9, 'killed');
    const { runCli } = await import('../helpers/cli.js');
    const { STATE_FAULT_POINTS } = await import('../../src/core/faults.js');
    expect(STATE_FAULT_POINTS).toContain('definition/set-aside');
    const r = await runCli(['rollback', '--json'], { ...h.t.env, OC_VERSIONS_FAULT: 'definition/set-aside:kill' });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    // The instant the fault names: the live path holds no database, its data is in the set-aside file.
    expect(fs.existsSync(dbFile)).toBe(false);
    expect(countSessions(asideOf(dbFile)[0]!, 'killed')).toBe(9);
    const rec = await h.cli('recover', '--json');
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.json).toMatchObject({ recovered: true, outcome: 'old', version: '2026.2.1' });
    expect(await h.version()).toBe('2026.2.1');
    // The rollback's own snapshot put the newer database back, rows and schema.
    expect(schemaOf(dbFile)).toBe(18);
    expect(countSessions(dbFile, 'killed')).toBe(9);
    expect(fs.existsSync(path.join(h.t.ocHome, 'journal.json'))).toBe(false);
  });

  it('unknown set-aside files and actions: one line, exit code, nothing changed', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1');
    const missing = await h.cli('state', 'aside', 'restore', '/nope/openclaw.sqlite.oc-set-aside-20260101T000000Z-abcdef', '--json');
    expect(missing.code).toBe(3);
    expect(missing.json.error.code).toBe('NOT_FOUND');
    const noFile = await h.cli('state', 'aside', 'restore', '--json');
    expect(noFile.code).toBe(2);
    const bad = await h.cli('state', 'frob', '--json');
    expect(bad.code).toBe(2);
    expect(bad.json.error.code).toBe('USAGE');
    const empty = await h.cli('state', 'aside', 'list', '--json');
    expect(empty.json.aside).toEqual([]);
  });
});

describe('the watch rolls back without asking and sets aside what the window wrote', () => {
  it('rows written on the new version during the watch window are in the set-aside database', async () => {
    h = await gatewayHost(inject('registryUrl'), '2026.1.1', { keepAlive: false });
    patchConfig(h.t.ocHome, (cfg) => {
      // Consent would be needed for a manual rollback: the watch never asks.
      cfg.stateAside = { consentAfterMs: 0 };
      cfg.watch = { windowMs: 600_000, intervalS: 60, crashRestarts: 3, readyGraceMs: 60_000 };
    });
    const dbFile = await seedStateDb(h.t.home);
    // crash-later serves, passes the gate and the settle, then exits 15 s after its start.
    const v = VARIANT_VERSIONS['crash-later'];
    const up = await h.cli('upgrade', v, '--json');
    expect(up.code, up.stderr).toBe(0);
    migrateAndWrite(dbFile, 7, 'in-window');
    // Each tick is what the recovery agent / timer runs.
    const rolled = await waitFor(async () => {
      const tick = await h!.cli('recover', '--auto', '--json');
      return tick.json?.watch?.verdict === 'rolled-back' ? tick : (await sleep(1_000), null);
    }, 60_000, 'the watch to roll back');
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(await h.version()).toBe('2026.1.1');
    expect(schemaOf(dbFile)).toBe(17);
    const aside = asideOf(dbFile);
    expect(aside).toHaveLength(1);
    expect(countSessions(aside[0]!, 'in-window')).toBe(7);
    const hist = await h.cli('history', '--json');
    const item = hist.json.transitions.find((t: { op: string; cause: string | null }) => t.op === 'rollback' && t.cause);
    expect(item.setAside).toEqual(aside);
  });
});
