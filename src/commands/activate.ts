/**
 * Switching `current` for `use` and `rollback`. With no running service this is
 * the atomic flip alone; with a running service it goes through the same
 * restart + health gate as an upgrade (src/core/upgrade.ts), minus staging.
 */
import type { CommandContext } from './context.js';
import { ensureHome, switchTo } from './common.js';

export interface ActivateRequest {
  from: string | null;
  to: string;
  action: 'use' | 'rollback';
  noRestart: boolean;
  /** Print nothing on success (the caller prints its own result). */
  quiet?: boolean;
}

export type GatedActivate = (ctx: CommandContext, req: ActivateRequest) => Promise<number | null>;
let gated: GatedActivate | undefined;
/** The upgrade module registers the gated path; it returns null when no service is running. */
export function setGatedActivate(fn: GatedActivate): void {
  gated = fn;
}

export async function activate(ctx: CommandContext, req: ActivateRequest): Promise<number> {
  await ensureHome(ctx);
  if (req.from === req.to) {
    ctx.out.result(`${req.to} is already current`, { version: req.to, path: ctx.layout.version(req.to), previous: null, changed: false });
    return 0;
  }
  if (gated && !req.noRestart) {
    const code = await gated(ctx, req);
    if (code !== null) return code;
  }
  const state = await switchTo(ctx, req.to, req.action);
  if (req.quiet) return 0;
  ctx.out.result(`now using ${req.to}${req.from ? ` (was ${req.from})` : ''}`, {
    version: req.to,
    path: ctx.layout.version(req.to),
    previous: state.previous,
    changed: true,
  });
  return 0;
}
