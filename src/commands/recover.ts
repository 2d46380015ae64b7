import { readHistory } from '../core/history.js';
import { EXIT, OcError } from '../errors.js';
import { isOrphaned, readJournal } from '../core/journal.js';
import { readLockOwner } from '../core/lock.js';
import { isDegraded } from '../core/recover.js';
import { readState } from '../core/state.js';
import { readCurrent } from '../core/store.js';
import fsp from 'node:fs/promises';
import os from 'node:os';
import { isAlive } from '../os/proc.js';
import type { CommandContext } from '../app/context.js';
import { recoverNow } from '../app/recovery.js';
import { mutating } from '../app/session.js';
import { OUTCOME_EXIT } from '../app/transition.js';

export async function recover(ctx: CommandContext, opts: { auto?: boolean } = {}): Promise<number> {
  // Nothing in flight: answer without the lock, so the launchd recovery agent's
  // periodic run never competes with the user's commands.
  // Unless a mutating command died holding the lock (SIGKILLed before its journal began): then
  // take the lock over and sweep what it left, as its next command would; an explicit recover
  // also waits out an unnamed lock.
  if (!(await readJournal(ctx.layout).catch(() => undefined)) && !(await diedHoldingLock(ctx, Boolean(opts.auto)))) {
    if ((await readState(ctx.layout)).watch) return watch(ctx);
    const version = await readCurrent(ctx.layout);
    ctx.out.result(`nothing to recover; current is ${version ?? '(none)'}`, { changed: false, recovered: false, txid: null, phase: null, outcome: 'none', version, detail: 'nothing to recover', stages: [], watch: null });
    return EXIT.OK;
  }
  return mutating(
    ctx,
    'recover',
    async () => {
      // --auto (the launchd recovery agent): a degraded transaction is reported, not retried,
      // so a periodic agent can never make the gateway flap.
      const r = await recoverNow(ctx, !opts.auto);
      const human = r.recovered
        ? `recovered ${r.txid} (interrupted at ${r.phase}): ${r.outcome === 'degraded' ? 'DEGRADED' : `gateway on the ${r.outcome} version ${r.version}`} — ${r.detail}`
        : `nothing to recover; current is ${r.version ?? '(none)'}`;
      ctx.out.result(human, { changed: r.recovered, ...r, watch: null });
      return r.outcome === 'degraded' ? EXIT.DEGRADED : EXIT.OK;
    },
    'none',
  );
}

/** The lock is held by a dead process of this host (or, unless auto, by no named owner at all). */
async function diedHoldingLock(ctx: CommandContext, auto: boolean): Promise<boolean> {
  const holder = await readLockOwner(ctx.layout);
  if (holder) return holder.host === os.hostname() && !isAlive(holder.pid);
  return !auto && (await fsp.stat(ctx.layout.lockTarget).then(() => true, () => false));
}

/** A tick of the stabilization watch (the recovery agent / timer runs `recover --auto`). */
async function watch(ctx: CommandContext): Promise<number> {
  return mutating(
    ctx,
    'recover (watch)',
    async () => {
      const { watchTick } = await import('../app/watch.js');
      const t = await watchTick(ctx);
      const version = await readCurrent(ctx.layout);
      // changed: the watch rolled the version back (a closed window is bookkeeping only).
      const doc = { changed: Boolean(t?.transition), recovered: false, txid: null, phase: null, outcome: 'none', version, detail: 'nothing to recover', stages: [], watch: t };
      if (!t) {
        ctx.out.result(`nothing to recover; current is ${version ?? '(none)'}`, doc);
        return EXIT.OK;
      }
      const human =
        t.verdict === 'rolled-back'
          ? `watch: ${t.version} rolled back to ${version ?? '(none)'}: ${t.reason}`
          : t.verdict === 'stable'
            ? `watch: ${t.version} is stable (its watch window closed)`
            : t.verdict === 'ended'
              ? `watch of ${t.version} ended (current changed or no service)`
              : `watch: ${t.version} ${t.reason ? `FAILING: ${t.reason}` : `healthy (${t.watch?.lastProbe?.detail ?? ''}), watched until ${t.watch?.until}`}`;
      ctx.out.result(human, doc);
      if (t.transition) return OUTCOME_EXIT[t.transition.outcome] === EXIT.DEGRADED ? EXIT.DEGRADED : EXIT.OK;
      return EXIT.OK;
    },
    'none',
  );
}

/** Read-only: never takes or waits for the lock. */
export async function status(ctx: CommandContext): Promise<number> {
  const [current, state, journal, holder] = await Promise.all([readCurrent(ctx.layout), readState(ctx.layout), readJournal(ctx.layout).catch(() => undefined), readLockOwner(ctx.layout)]);
  let lastLog: unknown[] = [];
  const txid = journal?.txid ?? [...state.history].reverse().find((h) => h.txid)?.txid;
  if (txid) {
    try {
      const text = await fsp.readFile(ctx.layout.log(txid), 'utf8');
      lastLog = text.trim().split('\n').slice(-20).map((l) => JSON.parse(l) as unknown);
    } catch {
      lastLog = [];
    }
  }
  let service: unknown = null;
  let secretStore: unknown = null;
  if (ctx.config.service.manager) {
    try {
      const { openService } = await import('../app/service.js');
      service = await (await openService(ctx, { secretStore: 'none' })).mgr.status();
    } catch (e) {
      service = { error: (e as Error).message };
    }
    try {
      const { resolveSecretStore } = await import('../secrets/index.js');
      const store = await resolveSecretStore(ctx.env);
      const available = await store.available();
      secretStore = { kind: store.kind, available, note: available ? 'secret env values are restorable from the store' : 'no secret store: secret values stay only where you put them; a dropped secret key can be restored only during the operation that saw it' };
    } catch (e) {
      secretStore = { kind: 'none', available: false, error: (e as Error).message };
    }
  }
  const inFlight = journal
    ? { txid: journal.txid, op: journal.op, from: journal.from, to: journal.to, phase: journal.phase, pid: journal.pid, running: !isOrphaned(journal), degraded: isDegraded(journal), reason: journal.reason ?? null, startedAt: journal.startedAt }
    : null;
  const watch = state.watch ? { version: state.watch.version, from: state.watch.from, since: state.watch.since, until: state.watch.until, restarts: state.watch.restarts, lastProbe: state.watch.lastProbe } : null;
  const pin = ctx.config.pin ?? null;
  // The newest transition as `history` shows it (a switch without a transaction has no log: the
  // last log's outcome would be an older one).
  const newest = (await readHistory(ctx.layout, 1))[0];
  const last = newest ? { outcome: newest.outcome, op: newest.op, from: newest.from, to: newest.to, at: newest.at, txid: newest.txid } : null;
  // Databases a restore set aside (never deleted): what `state aside restore` can bring back.
  const setAside = await (await import('../app/state-aside.js')).listAside(ctx).catch(() => []);
  const doc = { current, previous: state.previous, pin, transaction: inFlight, lock: holder ?? null, service, secretStore, log: lastLog, lastTxid: txid ?? null, lastOutcome: last, watch, setAside, history: 'oc-versions history' };
  const lines = [`current: ${current ?? '(none)'}${state.previous ? ` (previous ${state.previous})` : ''}`];
  if (pin) lines.push(`pinned: ${pin.spec} (${pin.range}); upgrade stays inside it (oc-versions unpin)`);
  if (inFlight) lines.push(`transaction ${inFlight.txid}: ${inFlight.op} ${inFlight.from ?? '(none)'} → ${inFlight.to}, phase ${inFlight.phase}${inFlight.running ? ' (running)' : inFlight.degraded ? ' (DEGRADED)' : ' (interrupted: next command or `oc-versions recover` finishes it)'}`);
  if (service && typeof service === 'object' && 'running' in service) {
    const s = service as { manager: string; label: string; running: boolean; pid: number | null; version: string | null; state?: string; restarts?: number; lastExitCode?: string };
    const why =
      s.state === 'crash-loop'
        ? ` (CRASH LOOP: the keep-alive gave up after ${s.restarts ?? '?'} restarts; last exit ${s.lastExitCode ?? '?'}; fix, then \`oc-versions service start\`)`
        : s.state === 'restarting'
          ? ' (restarting after an unexpected exit)'
          : '';
    lines.push(`service: ${s.manager} ${s.label} ${s.running ? `running pid ${s.pid} on ${s.version ?? '?'}` : 'not running'}${why}`);
  }
  if (secretStore && typeof secretStore === 'object' && 'note' in secretStore) lines.push(`secrets: ${(secretStore as { note: string }).note}`);
  if (last) lines.push(`last outcome: ${last.outcome} (${last.op} ${last.from ?? '(none)'} → ${last.to ?? '(none)'}, ${last.at})`);
  if (watch) lines.push(`watch: ${watch.version} watched until ${watch.until} (${watch.restarts} restart(s)${watch.lastProbe ? `; last probe ${watch.lastProbe.ok ? 'ok' : 'FAILING'}: ${watch.lastProbe.detail}` : ''})`);
  if (setAside.length) lines.push(`set aside: ${setAside.length} state database(s) kept from going back across a schema bump (oc-versions state aside list)`);
  lines.push('every transition: oc-versions history');
  ctx.out.result(lines.join('\n'), doc);
  return EXIT.OK;
}
