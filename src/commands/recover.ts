import { EXIT, OcError } from '../errors.js';
import { appendLog, clearJournal, isOrphaned, readJournal } from '../core/journal.js';
import { readLockOwner } from '../core/lock.js';
import { recoverJournal, isDegraded } from '../core/recover.js';
import { readState } from '../core/state.js';
import { readCurrent } from '../core/store.js';
import fsp from 'node:fs/promises';
import os from 'node:os';
import { isAlive } from '../core/proc.js';
import type { CommandContext } from './context.js';
import { mutating } from './common.js';
import { openServicePort } from './service-port.js';
import { transitionDeps } from './upgrade.js';

/** Runs before every mutating command (registered in hooks.ts): finish or undo an orphaned transaction. */
export async function autoRecover(ctx: CommandContext, command: string): Promise<void> {
  const j = await readJournal(ctx.layout);
  if (!j) return;
  if (!isOrphaned(j)) {
    // Its owner is alive (a lock judged stale under load, say): never act on a live transaction.
    throw new OcError('LOCKED', `an ${j.op} (${j.txid}) is still running in pid ${j.pid}`, { hint: 'follow it with oc-versions status' });
  }
  if (isDegraded(j) && (command.startsWith('service ') || command === 'snapshot create')) {
    // Service control and snapshots stay available on a degraded host (the operator needs them
    // to repair it); they leave the degraded transaction open.
    return;
  }
  if (isDegraded(j) && (command === 'use' || command === 'rollback')) {
    // The operator takes over a degraded host explicitly: close the degraded transaction, keep its log.
    await appendLog(ctx.layout, j.txid, { event: 'closed-by-operator', command });
    await clearJournal(ctx.layout);
    ctx.out.progress(`closed the degraded transaction ${j.txid}; ${command} proceeds`);
    return;
  }
  const service = await openServicePort(ctx);
  const r = await recoverJournal(transitionDeps(ctx, service), { explicit: false });
  ctx.out.progress(`recovered ${r.txid}: ${r.outcome === 'new' ? `on the new version ${r.version}` : r.outcome === 'old' ? `on the old version ${r.version}` : r.outcome} (${r.detail})`);
}

export async function recover(ctx: CommandContext, opts: { auto?: boolean } = {}): Promise<number> {
  // Nothing in flight: answer without the lock, so the launchd recovery agent's
  // periodic run never competes with the user's commands. Unless a mutating command died
  // holding the lock (SIGKILLed before its journal began): then take the lock over and sweep
  // what it left, as its next command would; an explicit recover also waits out an unnamed lock.
  if (!(await readJournal(ctx.layout).catch(() => undefined)) && !(await diedHoldingLock(ctx, Boolean(opts.auto)))) {
    const version = await readCurrent(ctx.layout);
    ctx.out.result(`nothing to recover; current is ${version ?? '(none)'}`, { recovered: false, txid: null, phase: null, outcome: 'none', version, detail: 'nothing to recover', stages: [] });
    return EXIT.OK;
  }
  return mutating(
    ctx,
    'recover',
    async () => {
      const j = await readJournal(ctx.layout);
      if (j && !isOrphaned(j)) {
        throw new OcError('LOCKED', `an ${j.op} (${j.txid}) is still running in pid ${j.pid}`, { hint: 'follow it with oc-versions status' });
      }
      const service = await openServicePort(ctx);
      // --auto (the launchd recovery agent): a degraded transaction is reported, not retried,
      // so a periodic agent can never make the gateway flap.
      const r = await recoverJournal(transitionDeps(ctx, service), { explicit: !opts.auto });
      const human = r.recovered
        ? `recovered ${r.txid} (interrupted at ${r.phase}): ${r.outcome === 'degraded' ? 'DEGRADED' : `gateway on the ${r.outcome} version ${r.version}`} — ${r.detail}`
        : `nothing to recover; current is ${r.version ?? '(none)'}`;
      ctx.out.result(human, r);
      return r.outcome === 'degraded' ? EXIT.DEGRADED : EXIT.OK;
    },
    { recover: false },
  );
}

/** The lock is held by a dead process of this host (or, unless auto, by no named owner at all). */
async function diedHoldingLock(ctx: CommandContext, auto: boolean): Promise<boolean> {
  const holder = await readLockOwner(ctx.layout);
  if (holder) return holder.host === os.hostname() && !isAlive(holder.pid);
  return !auto && (await fsp.stat(ctx.layout.lockTarget).then(() => true, () => false));
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
      const { createServiceManager } = await import('../service/index.js');
      const mgr = await createServiceManager(ctx.config.service.manager, { layout: ctx.layout, config: ctx.config, env: ctx.env }, {
        ...(ctx.config.service.label ? { label: ctx.config.service.label } : {}),
        ...(ctx.config.service.definitionPath ? { definitionPath: ctx.config.service.definitionPath } : {}),
      });
      service = await mgr.status();
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
  const doc = { current, previous: state.previous, transaction: inFlight, lock: holder ?? null, service, secretStore, log: lastLog, lastTxid: txid ?? null };
  const lines = [`current: ${current ?? '(none)'}${state.previous ? ` (previous ${state.previous})` : ''}`];
  if (inFlight) lines.push(`transaction ${inFlight.txid}: ${inFlight.op} ${inFlight.from ?? '(none)'} → ${inFlight.to}, phase ${inFlight.phase}${inFlight.running ? ' (running)' : inFlight.degraded ? ' (DEGRADED)' : ' (interrupted: next command or `oc-versions recover` finishes it)'}`);
  if (service && typeof service === 'object' && 'running' in service) {
    const s = service as { manager: string; label: string; running: boolean; pid: number | null; version: string | null };
    lines.push(`service: ${s.manager} ${s.label} ${s.running ? `running pid ${s.pid} on ${s.version ?? '?'}` : 'not running'}`);
  }
  if (secretStore && typeof secretStore === 'object' && 'note' in secretStore) lines.push(`secrets: ${(secretStore as { note: string }).note}`);
  const outcome = lastLog.findLast?.((l) => (l as { event?: string }).event === 'outcome') as { outcome?: string } | undefined;
  if (outcome?.outcome) lines.push(`last outcome: ${outcome.outcome}`);
  ctx.out.result(lines.join('\n'), doc);
  return EXIT.OK;
}
