/**
 * Switching `current` for `use`, `rollback` and `install --use`. With no service
 * installed this is the atomic flip alone; with one it goes through the same
 * restart + health gate as an upgrade (src/core/upgrade.ts), minus staging.
 */
import type { TransitionResult } from '../core/upgrade.js';
import type { CommandContext } from './context.js';
import { ensureHome, switchTo } from './common.js';

export interface ActivateRequest {
  from: string | null;
  to: string;
  action: 'use' | 'rollback';
  noRestart: boolean;
}

export type GatedActivate = (ctx: CommandContext, req: ActivateRequest) => Promise<TransitionResult | null>;
let gated: GatedActivate | undefined;
/** The upgrade module registers the gated path; it returns null when no service is installed. */
export function setGatedActivate(fn: GatedActivate): void {
  gated = fn;
}

export interface Activation {
  changed: boolean;
  previous: string | null;
  /** The gated transition, when a service was restarted and gated. */
  transition: TransitionResult | null;
}

/** Switch without printing; the caller reports. */
export async function activateQuietly(ctx: CommandContext, req: ActivateRequest): Promise<Activation> {
  await ensureHome(ctx);
  if (req.from === req.to) return { changed: false, previous: null, transition: null };
  if (gated && !req.noRestart) {
    const t = await gated(ctx, req);
    if (t) return { changed: t.outcome === 'upgraded', previous: req.from, transition: t };
  }
  const state = await switchTo(ctx, req.to, req.action);
  return { changed: true, previous: state.previous, transition: null };
}

export async function activate(ctx: CommandContext, req: ActivateRequest): Promise<number> {
  const a = await activateQuietly(ctx, req);
  if (a.transition) {
    const { printTransition } = await import('./upgrade.js');
    return printTransition(ctx, a.transition);
  }
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
