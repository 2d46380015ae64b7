/**
 * Registers the cross-module hooks once: journal recovery before every mutating
 * command, and the gated switch for use/rollback on a running service.
 */
import { setGatedActivate } from './activate.js';
import { setRecoveryHook } from './common.js';

setRecoveryHook(async (ctx, command) => {
  const { autoRecover } = await import('./recover.js');
  await autoRecover(ctx, command);
});

setGatedActivate(async (ctx, req) => {
  if (!ctx.config.service.manager) return null;
  const { openServicePort } = await import('./service-port.js');
  const { applyTransition } = await import('../core/upgrade.js');
  const { transitionDeps } = await import('./upgrade.js');
  const service = await openServicePort(ctx);
  if (!service) return null;
  // With a service installed the switch always goes through restart + gate (a stopped
  // service is started on the new version); --no-restart only flips.
  const stateSnapshot = await snapshotBefore(ctx, req.from, req.to);
  return applyTransition(transitionDeps(ctx, service), { op: req.action, from: req.from, to: req.to, noRestart: false, ...(stateSnapshot ? { stateSnapshot } : {}) });
});

/** The snapshot taken before the committed transition `to` → `from` (the one this switch undoes). */
async function snapshotBefore(ctx: import('./context.js').CommandContext, from: string | null, to: string): Promise<string | undefined> {
  if (!from) return undefined;
  const { readState } = await import('../core/state.js');
  const { exists } = await import('../core/fsutil.js');
  const state = await readState(ctx.layout);
  for (const h of [...state.history].reverse()) {
    if (h.txid && h.from === to && h.to === from && !/failed/.test(h.action)) {
      return (await exists(ctx.layout.snapshot(h.txid))) ? h.txid : undefined;
    }
  }
  return undefined;
}
