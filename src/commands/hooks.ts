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
  const { transitionDeps, printTransition } = await import('./upgrade.js');
  const service = await openServicePort(ctx);
  if (!service) return null;
  // With a service installed the switch always goes through restart + gate (a stopped
  // service is started on the new version); --no-restart only flips.
  const r = await applyTransition(transitionDeps(ctx, service), { op: req.action, from: req.from, to: req.to, noRestart: false });
  return printTransition(ctx, r);
});
