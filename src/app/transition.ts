/**
 * The supervised transition as verbs use it: its dependencies built from the
 * command context, its report in human text or JSON, and the exit code its
 * outcome maps to (one table, docs/exit-codes.md).
 */
import { EXIT, type ExitCode } from '../errors.js';
import type { TransitionDeps, TransitionResult } from '../core/upgrade.js';
import type { CommandContext } from './context.js';

export const OUTCOME_EXIT: Record<TransitionResult['outcome'], ExitCode> = {
  upgraded: EXIT.OK,
  switched: EXIT.OK,
  'switched-back': EXIT.OK,
  'already-current': EXIT.OK,
  // Only in an error document, whose exit code is the error's (5, 8, 9, …): never looked up.
  refused: EXIT.VALIDATION,
  'rolled-back': EXIT.ROLLED_BACK,
  degraded: EXIT.DEGRADED,
};

/** The service a transition restarted and gated: `{manager, label}`, or null (none installed, or --no-restart). */
export type TransitionService = { manager: string; label: string } | null;

/**
 * The one JSON shape of `upgrade`, `use` and `rollback` (and `install --use`'s `transition`),
 * whether or not a service was restarted: every key always present (docs/schemas/transition.schema.json).
 */
export function transitionDoc(r: TransitionResult, service: TransitionService): Record<string, unknown> {
  return {
    changed: r.outcome !== 'already-current' && r.outcome !== 'refused',
    outcome: r.outcome,
    from: r.from,
    to: r.to,
    txid: r.txid,
    service,
    stages: r.stages,
    rollback: r.rollback ?? null,
    downtimeMs: r.downtimeMs ?? null,
    restoredEnvKeys: r.restoredEnvKeys ?? [],
    canary: r.canary ?? null,
    setAside: r.setAside ?? [],
    next: r.next ?? null,
  };
}

export function formatTransition(r: TransitionResult): string {
  const lines: string[] = [];
  const head =
    r.outcome === 'rolled-back'
      ? `${r.from ?? '(none)'} → ${r.to}: ROLLED BACK to ${r.from}`
      : r.outcome === 'degraded'
        ? `${r.from ?? '(none)'} → ${r.to}: DEGRADED`
        : r.outcome === 'already-current'
          ? `${r.to}: already current`
          : `${r.from ?? '(none)'} → ${r.to}: ${r.outcome}`;
  lines.push(head);
  for (const s of r.stages) lines.push(`  ${s.ok ? (s.detail.startsWith('skipped') ? 'skip' : 'ok  ') : 'FAIL'} ${s.name} (${s.ms} ms): ${s.detail}`);
  if (r.rollback) {
    lines.push(`  rollback: ${r.rollback.reason}`);
    for (const s of r.rollback.stages) lines.push(`    ${s.ok ? 'ok  ' : 'FAIL'} ${s.name}: ${s.detail}`);
  }
  if (r.restoredEnvKeys?.length) lines.push(`  restored env keys: ${r.restoredEnvKeys.join(', ')}`);
  if (r.setAside?.length) lines.push(`  set aside (not deleted; oc-versions state aside list): ${r.setAside.join(', ')}`);
  if (typeof r.downtimeMs === 'number') lines.push(`  downtime: ${r.downtimeMs} ms`);
  if (r.txid) lines.push(`  log: logs/${r.txid}.jsonl`);
  if (r.next) lines.push(`  next: ${r.next}`);
  return lines.join('\n');
}

export function transitionDeps(ctx: CommandContext, service: TransitionDeps['service']): TransitionDeps {
  return {
    layout: ctx.layout,
    config: ctx.config,
    env: ctx.env,
    service,
    out: ctx.out,
    fault: ctx.env['OC_VERSIONS_FAULT'],
  };
}

export function printTransition(ctx: CommandContext, r: TransitionResult, service: TransitionService): number {
  ctx.out.result(formatTransition(r), transitionDoc(r, service));
  return OUTCOME_EXIT[r.outcome];
}
