/**
 * The updater SIGKILLed at random instants (seeded) during `upgrade`, `use` and `rollback`, with a
 * real gateway running under the process backend; after each kill `recover` runs and the invariants
 * are checked: exactly one gateway of the home runs, the pidfile tracks it, it serves the version
 * `current` names; `current` is sealed; staging/ is empty; no temp file is left; no journal; the lock
 * is free. One home serves every kill (the invariants are the state the next operation starts from).
 *
 * OC_RANDOM_KILL_SEED=<n> replays a run (the seed is printed first); OC_RANDOM_KILLS=<n> sets how
 * many kills must land (default 50). The instants come from that operation's own unkilled run on this
 * machine (measured first, and again whenever a run finishes before its kill instant): mostly
 * uniform over the span its transaction was open (journal.json present), some over the whole run
 * (start-up, registry resolve, lock), so kills spread over it all.
 * The journal phase each kill landed in is read from journal.json and printed as a histogram.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PHASES } from '../../src/core/journal.js';
import { CLI, grepTree } from '../helpers/cli.js';
import { gatewayHost, getJson, type GatewayHost } from '../helpers/gateway.js';
import { gatewaysOf, tempFiles, trackedPid } from '../helpers/gateways.js';

const SEED = Number(process.env['OC_RANDOM_KILL_SEED'] ?? Date.now() % 2 ** 31);
const KILLS = Number(process.env['OC_RANDOM_KILLS'] ?? 50);
const VERSIONS = ['2026.1.1', '2026.2.1', '2026.3.1'];
const CANARY = `canary-rk-${process.pid}-${Date.now()}-s3cr3t`;

/** mulberry32: a small seeded PRNG, [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op = 'upgrade' | 'use' | 'rollback';

interface Run {
  killed: boolean;
  code: number | null;
  ms: number;
  stderr: string;
  pid: number | undefined;
  /** When journal.json was first and last seen (ms after the spawn; polled every 5 ms), when watched. */
  journal: { from: number; to: number } | null;
  /** The spawn's wall-clock time (ms since the epoch). */
  startedAt: number;
}

/** Run the CLI; SIGKILL it after `killAfterMs` if it is still running then. */
function runMaybeKilled(args: string[], env: NodeJS.ProcessEnv, killAfterMs: number | null, watchJournal?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let journal: Run['journal'] = null;
    const watch = watchJournal
      ? setInterval(() => {
          if (!fs.existsSync(watchJournal)) return;
          const at = Date.now() - t0;
          journal = { from: journal?.from ?? at, to: at };
        }, 5)
      : null;
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let killed = false;
    const timer =
      killAfterMs === null
        ? null
        : setTimeout(() => {
            if (child.exitCode === null && child.signalCode === null) killed = child.kill('SIGKILL');
          }, killAfterMs);
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      if (watch) clearInterval(watch);
      resolve({ killed, code, ms: Date.now() - t0, stderr, pid: child.pid, journal, startedAt: t0 });
    });
  });
}

describe('random kills of the updater', () => {
  let g: GatewayHost;
  beforeAll(async () => {
    g = await gatewayHost(inject('registryUrl'), VERSIONS[0]!, { env: { OPENCLAW_GATEWAY_TOKEN: CANARY, OC_VERSIONS_SECRET_STORE: 'none' } });
    // One deep check instead of five: the gate-deep phase stays, each operation gets shorter.
    const cfgPath = path.join(g.t.ocHome, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    cfg.health.deepChecks = cfg.health.deepChecks.slice(0, 1);
    fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  });
  afterAll(async () => {
    await g?.cleanup();
  });

  const home = () => g.t.ocHome;
  const current = () => path.basename(fs.readlinkSync(path.join(home(), 'current')));
  const installed = () => fs.readdirSync(path.join(home(), 'versions')).filter((v) => fs.existsSync(path.join(home(), 'versions', v, '.oc-seal.json')));
  const previous = (): string | null => JSON.parse(fs.readFileSync(path.join(home(), 'state.json'), 'utf8')).previous ?? null;

  async function assertConverged(where: string): Promise<void> {
    const h = home();
    const version = current();
    expect(fs.existsSync(path.join(h, 'versions', version, '.oc-seal.json')), `${where}: current is sealed`).toBe(true);
    const tracked = trackedPid(h);
    expect(tracked, `${where}: the pidfile names the gateway`).not.toBeNull();
    expect(gatewaysOf(h), `${where}: exactly one gateway of the home runs, the tracked one`).toEqual([tracked]);
    const info = await getJson(`http://127.0.0.1:${g.port}/info`);
    expect(info?.body, `${where}: the tracked gateway serves current`).toMatchObject({ pid: tracked, version });
    expect((await getJson(`http://127.0.0.1:${g.port}/startupz`))?.body?.version, where).toBe(version);
    expect(fs.readdirSync(path.join(h, 'staging')), `${where}: staging is empty`).toEqual([]);
    expect(tempFiles(h), `${where}: no temp files`).toEqual([]);
    expect(fs.existsSync(path.join(h, 'journal.json')), `${where}: no journal`).toBe(false);
    const lockInfo = () => {
      const owner = fs.existsSync(path.join(h, 'lock-owner.json')) ? fs.readFileSync(path.join(h, 'lock-owner.json'), 'utf8') : 'no lock-owner.json';
      return `lock mtime ${fs.statSync(path.join(h, 'lock')).mtime.toISOString()}, now ${new Date().toISOString()}; ${owner}; home: ${fs.readdirSync(h).join(' ')}`;
    };
    expect(fs.existsSync(path.join(h, 'lock')), `${where}: the lock is free${fs.existsSync(path.join(h, 'lock')) ? ` (${lockInfo()})` : ''}`).toBe(false);
  }

  it(`converges after at least ${KILLS} random SIGKILLs during upgrade, use and rollback (seed ${SEED})`, async () => {
    console.log(`[random-kill] seed ${SEED} (replay: OC_RANDOM_KILL_SEED=${SEED}); ${KILLS} kills wanted`);
    const rand = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const started = Date.now();

    /** The next operation from the current state, and its argv. */
    const plan = async (i: number): Promise<{ op: Op; args: string[] }> => {
      const cur = current();
      const prev = previous();
      // The operations take turns (so each gets its share of kills); targets and instants are random.
      let op: Op = (['upgrade', 'use', 'rollback'] as const)[i % 3]!;
      if (op === 'rollback' && !(prev && prev !== cur && installed().includes(prev))) op = 'use';
      const others = installed().filter((v) => v !== cur);
      if (op === 'use' && others.length === 0) op = 'upgrade';
      if (op === 'rollback') return { op, args: ['rollback', '--json'] };
      if (op === 'use') return { op, args: ['use', pick(others), '--json'] };
      const to = pick(VERSIONS.filter((v) => v !== cur));
      // Many upgrades stage (the version is removed first, if another one stays for use/rollback);
      // the others go to a version already there.
      if (installed().includes(to) && others.length >= 2 && rand() < 0.5) {
        const u = await g.cli('uninstall', to, '--force');
        expect(u.code, u.stderr).toBe(0);
      }
      return { op, args: ['upgrade', to, '--json'] };
    };

    // How long each operation takes unkilled here, and when its transaction is open (journal.json
    // exists): the ranges the kill instants are drawn from.
    const duration: Record<Op, { ms: number; from: number; to: number }> = { upgrade: { ms: 0, from: 0, to: 0 }, use: { ms: 0, from: 0, to: 0 }, rollback: { ms: 0, from: 0, to: 0 } };
    /** Each journal phase of the latest complete run of an op, as [from, to) in ms after the spawn (from its log). */
    const phases: Record<Op, Array<{ phase: string; from: number; to: number }>> = { upgrade: [], use: [], rollback: [] };
    const learn = (op: Op, r: Run): void => {
      duration[op] = { ms: r.ms, from: r.journal!.from, to: r.journal!.to };
      const logs = fs.readdirSync(path.join(home(), 'logs')).filter((n) => n.endsWith('.jsonl') && !n.startsWith('detached'));
      const newest = logs.map((n) => path.join(home(), 'logs', n)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
      if (!newest) return;
      const marks = fs
        .readFileSync(newest, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event?: string; phase?: string; at?: string })
        .filter((l) => (l.event === 'phase' || l.event === 'outcome') && typeof l.at === 'string')
        .map((l) => ({ phase: l.phase ?? 'commit-done', at: Date.parse(l.at!) - r.startedAt }));
      const spans = marks.slice(0, -1).map((m, k) => ({ phase: m.phase, from: m.at, to: marks[k + 1]!.at }));
      if (spans.length) phases[op] = spans;
    };
    for (const args of [['upgrade', VERSIONS[1]!], ['use', VERSIONS[0]!], ['rollback']]) {
      const r = await runMaybeKilled(args, g.t.env, null, path.join(home(), 'journal.json'));
      expect(r.code, r.stderr).toBe(0);
      expect(r.journal, `the unkilled ${args[0]} opened a transaction`).not.toBeNull();
      learn(args[0] as Op, r);
      expect(phases[args[0] as Op].length, `the unkilled ${args[0]} logged its phases`).toBeGreaterThan(3);
      await assertConverged(`unkilled ${args.join(' ')}`);
    }
    console.log(`[random-kill] unkilled: ${JSON.stringify(duration)} (ms after spawn: whole run; journal first/last seen)`);
    /**
     * A kill instant: 45% in a phase drawn uniformly from the journal phases of the op's latest
     * complete run, uniformly inside it (a short phase — flip, the gate's stages, commit — is hit
     * as often as the restart, which takes a third of the transaction); 40% uniformly over the open
     * transaction (± 100 ms); 15% uniformly over the whole run (start-up, resolve, lock: before any
     * journal).
     */
    const instant = (op: Op): number => {
      const d = duration[op];
      const x = rand();
      const spans = phases[op];
      if (x < 0.45 && spans.length) {
        const p = spans[Math.floor(rand() * spans.length)]!;
        return Math.round(p.from + rand() * Math.max(1, p.to - p.from));
      }
      return x < 0.85 ? Math.round(Math.max(0, d.from - 100) + rand() * (d.to - d.from + 200)) : Math.round(rand() * d.ms);
    };

    const byPhase = new Map<string, number>();
    const byOp = new Map<string, number>();
    let kills = 0;
    let finished = 0;
    for (let i = 0; kills < KILLS && i < KILLS * 3; i++) {
      const { op, args } = await plan(i);
      const at = instant(op);
      const r = await runMaybeKilled(args, g.t.env, at, path.join(home(), 'journal.json'));
      const where = `#${i} ${args.join(' ')} (pid ${r.pid}, ${r.killed ? 'killed' : `finished ${r.code}`}) killed at ${at} ms (seed ${SEED})`;
      if (!r.killed) {
        // Finished before the instant came: it must have succeeded (every version here is good).
        expect(r.code, `${where}: ${r.stderr}`).toBe(0);
        finished++;
        // The machine is shared and its load varies: the latest complete run is the best estimate.
        if (r.journal) learn(op, r);
      } else {
        kills++;
        let phase = '(no journal)';
        try {
          phase = JSON.parse(fs.readFileSync(path.join(home(), 'journal.json'), 'utf8')).phase;
        } catch {
          // killed before `begin` was recorded, or after the commit cleared the journal
        }
        byPhase.set(phase, (byPhase.get(phase) ?? 0) + 1);
        byOp.set(`${op} @ ${phase}`, (byOp.get(`${op} @ ${phase}`) ?? 0) + 1);
      }
      const lockPath = path.join(home(), 'lock');
      const before = `lock after kill: ${fs.existsSync(lockPath) ? `mtime ${fs.statSync(lockPath).mtime.toISOString()}` : 'absent'}, owner ${fs.existsSync(path.join(home(), 'lock-owner.json')) ? fs.readFileSync(path.join(home(), 'lock-owner.json'), 'utf8').replace(/\s+/g, ' ') : 'absent'}, at ${new Date().toISOString()}`;
      const recT0 = Date.now();
      const rec = await g.cli('recover', '--json');
      const recMs = Date.now() - recT0;
      expect(rec.code, `${where}: ${rec.stderr}`).toBe(0);
      expect(rec.json.version, where).toBe(current());
      await assertConverged(`${where}; ${before}; recover (${recMs} ms, exit ${rec.code}) said: ${rec.stderr.trim()}`);
    }
    expect(grepTree(home(), CANARY)).toEqual([]);

    const order = ['(no journal)', ...PHASES];
    const rows = [...byPhase.entries()].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
    const hist = rows.map(([p, n]) => `  ${p.padEnd(20)} ${String(n).padStart(3)} ${'#'.repeat(n)}`).join('\n');
    console.log(
      `[random-kill] seed ${SEED}: ${kills} kills, ${finished} operations finished before their kill instant, ${Math.round((Date.now() - started) / 1000)} s\n` +
        `[random-kill] phase each kill landed in (journal.json after the kill):\n${hist}\n` +
        `[random-kill] by operation: ${[...byOp.entries()].sort().map(([k, n]) => `${k}: ${n}`).join(', ')}`,
    );
    expect(kills).toBeGreaterThanOrEqual(KILLS);
    // The kills spread over the operation, not only its start-up: several phases were hit.
    if (KILLS >= 20) expect(rows.filter(([p]) => p !== '(no journal)').length).toBeGreaterThanOrEqual(4);
  }, 900_000);
});
