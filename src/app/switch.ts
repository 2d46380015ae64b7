/**
 * Switching `current` for `use`, `rollback` and `install --use`. With no service
 * installed (or with --no-restart) this is the atomic flip alone; with one it goes
 * through the same restart + health gate as an upgrade (src/core/upgrade.ts), minus
 * staging, and a stopped service is started on the new version.
 */
import { applyTransition, committedOutcome, type TransitionResult } from '../core/upgrade.js';
import { readState } from '../core/state.js';
import { exists } from '../os/fs.js';
import type { CommandContext } from './context.js';
import { ensureHome, switchTo } from './home.js';
import { openServicePort } from './service-port.js';
import { consentToSetAside } from './state-aside.js';
import { printTransition, transitionDeps, transitionDoc, type TransitionService } from './transition.js';

export interface ActivateRequest {
  from: string | null;
  to: string;
  action: 'use' | 'rollback';
  noRestart: boolean;
  /** --restore-state: consent to set aside data written long after the upgrade being undone. */
  restoreState?: boolean;
}

export interface Activation {
  changed: boolean;
  previous: string | null;
  /** The gated transition, when a service was restarted and gated. */
  transition: TransitionResult | null;
  /** What happened, in the transition's shape whether or not a service was gated. */
  result: TransitionResult;
  /** The service restarted and gated, or null. */
  service: TransitionService;
}

/** A switch that restarted nothing, reported as the transition would report it (its gate stages skipped). */
function flipOnly(req: ActivateRequest, why: string, changed: boolean): TransitionResult {
  const skipped = (name: string) => ({ name, ok: true, ms: 0, detail: `skipped: ${why}` });
  return {
    outcome: changed ? committedOutcome(req.action) : 'already-current',
    from: req.from,
    to: req.to,
    txid: null,
    stages: [
      { name: 'installed+promoted', ok: true, ms: 0, detail: changed ? `current → ${req.to}` : `${req.to} is already current` },
      ...(changed ? [skipped('restarted+responsive'), skipped('health-verified')] : []),
    ],
  };
}

/** The snapshot taken before the committed transition `to` → `from` (the one this switch undoes), and when that committed. */
async function snapshotBefore(ctx: CommandContext, from: string | null, to: string): Promise<{ txid: string; committedAt: string } | undefined> {
  if (!from) return undefined;
  const state = await readState(ctx.layout);
  for (const h of [...state.history].reverse()) {
    if (h.txid && h.from === to && h.to === from && !/failed/.test(h.action)) {
      return (await exists(ctx.layout.snapshot(h.txid))) ? { txid: h.txid, committedAt: h.at } : undefined;
    }
  }
  return undefined;
}

/** The gated switch; null when no service is installed. */
async function gatedSwitch(ctx: CommandContext, req: ActivateRequest): Promise<{ t: TransitionResult; service: TransitionService } | null> {
  if (!ctx.config.service.manager) return null;
  const service = await openServicePort(ctx);
  if (!service) return null;
  const before = await snapshotBefore(ctx, req.from, req.to);
  // Data written well after the upgrade being undone is set aside only with consent (nothing changed until then).
  if (before) await consentToSetAside(ctx, { from: req.from, to: req.to, snapshot: before.txid, committedAt: before.committedAt, given: Boolean(req.restoreState) });
  const stateSnapshot = before?.txid;
  const t = await applyTransition(transitionDeps(ctx, service), { op: req.action, from: req.from, to: req.to, noRestart: false, ...(stateSnapshot ? { stateSnapshot } : {}) });
  return { t, service: { manager: service.manager, label: service.label } };
}

/** Switch without printing; the caller reports. */
export async function activateQuietly(ctx: CommandContext, req: ActivateRequest): Promise<Activation> {
  await ensureHome(ctx);
  if (req.from === req.to) return { changed: false, previous: null, transition: null, result: flipOnly(req, '', false), service: null };
  if (!req.noRestart) {
    const g = await gatedSwitch(ctx, req);
    if (g) return { changed: true, previous: req.from, transition: g.t, result: g.t, service: g.service };
  }
  const state = await switchTo(ctx, req.to, req.action);
  const why = req.noRestart && ctx.config.service.manager ? '--no-restart' : 'no service installed';
  return { changed: true, previous: state.previous, transition: null, result: flipOnly(req, why, true), service: null };
}

/** `use` / `rollback`: one document whether or not a service was restarted (src/app/transition.ts transitionDoc). */
export async function activate(ctx: CommandContext, req: ActivateRequest): Promise<number> {
  const a = await activateQuietly(ctx, req);
  if (a.transition) return printTransition(ctx, a.result, a.service);
  const human = a.changed ? `now using ${req.to}${req.from ? ` (was ${req.from})` : ''}` : `${req.to} is already current`;
  ctx.out.result(human, transitionDoc(a.result, null));
  return 0;
}
