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
  unchanged: EXIT.OK,
  'rolled-back': EXIT.ROLLED_BACK,
  degraded: EXIT.DEGRADED,
};

export function formatTransition(r: TransitionResult): string {
  const lines: string[] = [];
  const head =
    r.outcome === 'upgraded'
      ? `${r.from ?? '(none)'} → ${r.to}: upgraded`
      : r.outcome === 'rolled-back'
        ? `${r.from ?? '(none)'} → ${r.to}: ROLLED BACK to ${r.from}`
        : r.outcome === 'degraded'
          ? `${r.from ?? '(none)'} → ${r.to}: DEGRADED`
          : `${r.to}: unchanged`;
  lines.push(head);
  for (const s of r.stages) lines.push(`  ${s.ok ? (s.detail.startsWith('skipped') ? 'skip' : 'ok  ') : 'FAIL'} ${s.name} (${s.ms} ms): ${s.detail}`);
  if (r.rollback) {
    lines.push(`  rollback: ${r.rollback.reason}`);
    for (const s of r.rollback.stages) lines.push(`    ${s.ok ? 'ok  ' : 'FAIL'} ${s.name}: ${s.detail}`);
  }
  if (r.restoredEnvKeys?.length) lines.push(`  restored env keys: ${r.restoredEnvKeys.join(', ')}`);
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

export function printTransition(ctx: CommandContext, r: TransitionResult): number {
  ctx.out.result(formatTransition(r), r);
  return OUTCOME_EXIT[r.outcome];
}
