/**
 * The health gate for a restart that is not a transition: service adopt's one restart onto the
 * launcher (the same runGate the upgrade uses), and `service install|start|restart`, which wait for
 * the gate's first stage, responsive, within `service.startDeadlineMs` (gateStart).
 */
import { gateResponsive, runGate, type GateOutcome } from '../core/health.js';
import { readCurrent } from '../core/store.js';
import { OcError } from '../errors.js';
import { captureServiceEnv, readDefinitionRecord } from '../service/definition.js';
import { setupHint } from '../service/common.js';
import type { ServiceManager } from '../service/types.js';
import type { CommandContext } from './context.js';
import { gatewayLogFile, openServicePort, portFromArgs, readLogTail, secretRedactor } from './service-port.js';

export async function gateService(ctx: CommandContext, version: string, prePid: number | null): Promise<GateOutcome> {
  const service = await openServicePort(ctx);
  if (!service) return { ok: false, stages: [], firstHealthyAt: null, reason: 'no service is configured', pid: null };
  const port = (await service.port()) ?? ctx.config.health.defaultPort;
  return runGate({ layout: ctx.layout, config: ctx.config, env: ctx.env, service }, version, prePid, port);
}

/** How many lines of the gateway's log a failed start quotes. */
const START_LOG_LINES = 10;


export interface StartGate {
  ok: boolean;
  ms: number;
  detail: string;
  pid: number | null;
}

/**
 * After `service install|start|restart`: the gateway must become responsive (a pid other than
 * `prePid`, from the current version's tree, owning the listener, liveness 200) within
 * `service.startDeadlineMs`. Not: NOT_RESPONSIVE (exit 7) with the end of its log (secret values
 * redacted), the log's place and, when the log says so, that OpenClaw needs its own configuration.
 * The service stays installed as it is (its manager keeps restarting it): fix the cause, restart.
 */
export async function gateStart(ctx: CommandContext, mgr: ServiceManager, prePid: number | null, what: string, changed: boolean): Promise<StartGate> {
  const version = await readCurrent(ctx.layout);
  if (!version) return { ok: true, ms: 0, detail: 'no current version', pid: null };
  const def = await mgr.readDefinition().catch(() => null);
  const memory = await captureServiceEnv(mgr, await readDefinitionRecord(ctx.layout).catch(() => undefined)).catch(() => ({}));
  const redact = secretRedactor(ctx, { ...(def?.env ?? {}), ...memory });
  const envPort = def?.env['OPENCLAW_GATEWAY_PORT'] ?? ctx.env['OPENCLAW_GATEWAY_PORT'];
  const port = (def ? portFromArgs(def.program) : null) ?? (envPort && /^\d+$/.test(envPort) ? Number(envPort) : null) ?? ctx.config.health.defaultPort;
  const r = await gateResponsive({
    layout: ctx.layout,
    version,
    prePid,
    port,
    health: { ...ctx.config.health, responsiveDeadlineMs: ctx.config.service.startDeadlineMs },
    runtimeNode: ctx.config.runtimeNode,
    bin: '',
    env: {},
    stateDir: null,
    service: {
      status: () => mgr.status(),
      logTail: async () => (await readLogTail(ctx, mgr, redact, 3)).join(' | ').slice(0, 600),
    },
  });
  if (r.ok) return { ok: true, ms: r.ms, detail: r.detail, pid: r.pid };
  const lines = await readLogTail(ctx, mgr, redact, START_LOG_LINES);
  const st = await mgr.status().catch(() => null);
  const log = st?.log ?? (await gatewayLogFile(ctx, mgr)) ?? null;
  const detail = r.detail.replace(/; its log ends: .*$/, '');
  const setup = setupHint(lines);
  throw new OcError('NOT_RESPONSIVE', `${what}, but the gateway did not come up: ${detail}${lines.length ? `; its log ends: ${lines.slice(-3).join(' | ').slice(0, 600)}` : ''}`, {
    hint: `${setup ?? 'fix the cause its log shows, then oc-versions service restart'}${log ? ` (log: ${log})` : ''}`,
    changed,
    details: {
      gate: { name: 'restarted+responsive', ok: false, ms: r.ms, detail },
      log,
      logTail: lines,
      needsSetup: setup !== null,
      ...(st ? { running: st.running, pid: st.pid, restarts: st.restarts ?? null, lastExitCode: st.lastExitCode ?? null, crashLoop: st.crashLoop ?? false } : {}),
    },
  });
}
