/**
 * Switching `current` for `use`, `rollback` and `install --use`. With no service
 * installed (or with --no-restart) this is the atomic flip alone; with one it goes
 * through the same restart + health gate as an upgrade (src/core/upgrade.ts), minus
 * staging, and a stopped service is started on the new version.
 */
import { applyTransition, type TransitionResult } from '../core/upgrade.js';
import { readState } from '../core/state.js';
import { exists } from '../os/fs.js';
import type { CommandContext } from './context.js';
import { ensureHome, switchTo } from './home.js';
import { openServicePort } from './service-port.js';
import { printTransition, transitionDeps } from './transition.js';

export interface ActivateRequest {
  from: string | null;
  to: string;
  action: 'use' | 'rollback';
  noRestart: boolean;
}

export interface Activation {
  changed: boolean;
  previous: string | null;
  /** The gated transition, when a service was restarted and gated. */
  transition: TransitionResult | null;
}

/** The snapshot taken before the committed transition `to` → `from` (the one this switch undoes). */
async function snapshotBefore(ctx: CommandContext, from: string | null, to: string): Promise<string | undefined> {
  if (!from) return undefined;
  const state = await readState(ctx.layout);
  for (const h of [...state.history].reverse()) {
    if (h.txid && h.from === to && h.to === from && !/failed/.test(h.action)) {
      return (await exists(ctx.layout.snapshot(h.txid))) ? h.txid : undefined;
    }
  }
  return undefined;
}

/** The gated switch; null when no service is installed. */
async function gatedSwitch(ctx: CommandContext, req: ActivateRequest): Promise<TransitionResult | null> {
  if (!ctx.config.service.manager) return null;
  const service = await openServicePort(ctx);
  if (!service) return null;
  const stateSnapshot = await snapshotBefore(ctx, req.from, req.to);
  return applyTransition(transitionDeps(ctx, service), { op: req.action, from: req.from, to: req.to, noRestart: false, ...(stateSnapshot ? { stateSnapshot } : {}) });
}

/** Switch without printing; the caller reports. */
export async function activateQuietly(ctx: CommandContext, req: ActivateRequest): Promise<Activation> {
  await ensureHome(ctx);
  if (req.from === req.to) return { changed: false, previous: null, transition: null };
  if (!req.noRestart) {
    const t = await gatedSwitch(ctx, req);
    if (t) return { changed: t.outcome === 'upgraded', previous: req.from, transition: t };
  }
  const state = await switchTo(ctx, req.to, req.action);
  return { changed: true, previous: state.previous, transition: null };
}

export async function activate(ctx: CommandContext, req: ActivateRequest): Promise<number> {
  const a = await activateQuietly(ctx, req);
  if (a.transition) return printTransition(ctx, a.transition);
  if (!a.changed) {
    ctx.out.result(`${req.to} is already current`, { version: req.to, path: ctx.layout.version(req.to), previous: null, changed: false });
    return 0;
  }
  ctx.out.result(`now using ${req.to}${req.from ? ` (was ${req.from})` : ''}`, {
    version: req.to,
    path: ctx.layout.version(req.to),
    previous: a.previous,
    changed: true,
  });
  return 0;
}
