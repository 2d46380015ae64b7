/**
 * The health gate for a restart that is not a transition (service adopt's one
 * restart onto the launcher): the same runGate the upgrade uses, over the
 * configured service's port.
 */
import { runGate, type GateOutcome } from '../core/health.js';
import type { CommandContext } from './context.js';
import { openServicePort } from './service-port.js';

export async function gateService(ctx: CommandContext, version: string, prePid: number | null): Promise<GateOutcome> {
  const service = await openServicePort(ctx);
  if (!service) return { ok: false, stages: [], firstHealthyAt: null, reason: 'no service is configured', pid: null };
  const port = (await service.port()) ?? ctx.config.health.defaultPort;
  return runGate({ layout: ctx.layout, config: ctx.config, env: ctx.env, service }, version, prePid, port);
}
