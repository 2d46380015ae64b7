/**
 * The stabilization watch (docs/upgrade-and-rollback.md#watch). After a committed
 * upgrade, state.json holds a watch until its window closes. Each tick is one
 * `oc-versions recover` run by the service manager itself (the launchd recovery
 * agent, the systemd user timer): no process of ours stays behind after a command.
 * A tick observes the gateway; a crash loop, a gateway down for longer than the
 * settle budget, a loaded job that lost its definition, or /readyz failing for
 * longer than the grace rolls back through the same gated path, once, and records
 * why. When the window closes the version is marked stable.
 */
import { OcError } from '../errors.js';
import { readState, recordHistory, writeState, type Watch } from '../core/state.js';
import { readCurrent } from '../core/store.js';
import { applyTransition, type TransitionResult } from '../core/upgrade.js';
import { fillUrl } from '../core/health.js';
import { httpGet } from '../os/http.js';
import { exists } from '../os/fs.js';
import type { CommandContext } from './context.js';
import { openServicePort } from './service-port.js';
import { transitionDeps } from './transition.js';

export interface WatchTick {
  verdict: 'watching' | 'stable' | 'rolled-back' | 'ended';
  version: string;
  reason: string | null;
  watch: Watch | null;
  transition: TransitionResult | null;
}

/** One observation of the watched version; the caller holds the lock. null when nothing is watched. */
export async function watchTick(ctx: CommandContext, now = Date.now()): Promise<WatchTick | null> {
  const state = await readState(ctx.layout);
  const w = state.watch;
  if (!w) return null;
  const end = async (verdict: WatchTick['verdict'], action: string | null): Promise<WatchTick> => {
    const s = await readState(ctx.layout);
    delete s.watch;
    await writeState(ctx.layout, action ? recordHistory(s, { action, from: w.version, to: w.version, txid: w.txid }) : s);
    return { verdict, version: w.version, reason: null, watch: null, transition: null };
  };
  if ((await readCurrent(ctx.layout)) !== w.version) return end('ended', null);
  if (now >= Date.parse(w.until)) return end('stable', `stable after the watch of ${w.txid}`);
  const svc = await openServicePort(ctx);
  if (!svc) return end('ended', null);

  const cfg = ctx.config.watch;
  const st = await svc.status().catch(() => ({ running: false, pid: null, entry: null }) as { running: boolean; pid: number | null; entry: string | null; restarts?: number; handoffs?: number });
  const next: Watch = { ...w };
  const problems: string[] = [];
  const notes: string[] = [];
  if (st.running && st.pid) {
    // A new pid after an accepted restart handoff (the gateway asked to restart, its supervisor
    // started it again at once) is not a crash (docs/service.md#the-restart-handoff).
    const handoffs = typeof st.handoffs === 'number' ? st.handoffs : null;
    const handedOver = handoffs !== null && typeof next.lastHandoffs === 'number' && handoffs > next.lastHandoffs;
    if (next.lastPid !== null && st.pid !== next.lastPid && !handedOver) next.restarts++;
    next.lastPid = st.pid;
    next.lastHandoffs = handoffs;
    next.downSince = null;
    if (typeof st.restarts === 'number' && next.baselineRestarts !== null) next.restarts = Math.max(next.restarts, st.restarts - next.baselineRestarts);
    notes.push(`pid ${st.pid}`);
  } else {
    next.downSince ??= new Date(now).toISOString();
    const down = now - Date.parse(next.downSince);
    notes.push(`down for ${down} ms`);
    if (down > next.budgetMs) problems.push(`the gateway has been down for ${down} ms (budget ${next.budgetMs} ms)`);
  }
  if (next.restarts >= cfg.crashRestarts) problems.push(`crash loop: ${next.restarts} restarts since the upgrade`);

  if (st.running && ctx.config.health.readinessUrl) {
    const port = (await svc.port()) ?? ctx.config.health.defaultPort;
    const r = await httpGet(fillUrl(ctx.config.health.readinessUrl, port), 2_000);
    if (r && r.status === 200) next.readyFailingSince = null;
    else {
      next.readyFailingSince ??= new Date(now).toISOString();
      let failing = '';
      try {
        const f = r ? (JSON.parse(r.body) as { failing?: unknown }).failing : undefined;
        if (Array.isArray(f) && f.length) failing = `; failing: ${f.map(String).join(', ')}`;
      } catch {
        failing = '';
      }
      const for_ = now - Date.parse(next.readyFailingSince);
      notes.push(`/readyz ${r ? r.status : 'no answer'} for ${for_} ms${failing}`);
      if (for_ > cfg.readyGraceMs) problems.push(`/readyz has failed for ${for_} ms (grace ${cfg.readyGraceMs} ms)${failing}`);
    }
  }

  // A rewritten definition: put the file back; only a loaded job that lost it is a failure.
  const d = await svc.checkDefinition({ reload: false }).catch(() => null);
  if (d?.rewritten) {
    if (d.loadedOk === false) problems.push(`the service definition was rewritten and the running job lacks ${d.restoredKeys.join(', ') || 'the launcher'}`);
    else notes.push(`restored the rewritten definition (${d.restoredKeys.join(', ') || 'program'})`);
  }

  const reason = problems.length ? svc.redact?.(problems.join('; ')) ?? problems.join('; ') : null;
  next.lastProbe = { at: new Date(now).toISOString(), ok: reason === null, detail: reason ?? notes.join('; ') };
  const s = await readState(ctx.layout);
  await writeState(ctx.layout, { ...s, watch: next });
  if (!reason) return { verdict: 'watching', version: w.version, reason: null, watch: next, transition: null };

  if (!w.from) return { verdict: 'watching', version: w.version, reason: `${reason} (nothing to roll back to)`, watch: next, transition: null };
  ctx.out.progress(`watch: ${reason}; rolling back to ${w.from}`);
  // Once: the rollback ends the watch whatever its outcome (a degraded one stays for the operator).
  const stateSnapshot = (await exists(ctx.layout.snapshot(w.txid))) ? w.txid : undefined;
  const t = await applyTransition(transitionDeps(ctx, svc), {
    op: 'rollback',
    from: w.version,
    to: w.from,
    noRestart: false,
    cause: `watch: ${reason}`,
    ...(stateSnapshot ? { stateSnapshot } : {}),
  }).catch((e: unknown) => {
    throw e instanceof OcError ? e : new OcError('INTERNAL', `watch rollback failed: ${(e as Error)?.message ?? e}`);
  });
  const after = await readState(ctx.layout);
  delete after.watch;
  await writeState(ctx.layout, after);
  return { verdict: 'rolled-back', version: w.version, reason, watch: null, transition: t };
}
