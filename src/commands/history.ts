/** `oc-versions history [--limit N]`: every transition, newest first (read-only, never waits for the lock). */
import { OcError } from '../errors.js';
import { checkLine } from '../output.js';
import { readHistory } from '../core/history.js';
import type { CommandContext } from '../app/context.js';

export async function run(ctx: CommandContext, opts: { limit?: string | number }): Promise<number> {
  const limit = opts.limit === undefined ? 20 : Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new OcError('INVALID_INPUT', `--limit must be a whole number of at least 1, got '${opts.limit}'`, { hint: 'oc-versions history --limit 10' });
  }
  const items = await readHistory(ctx.layout, limit);
  const human = items.length
    ? items
        .map((i) => {
          const head = `${i.at}  ${i.op} ${i.from ?? '(none)'} → ${i.to ?? '(none)'}: ${i.outcome}${i.cause ? ` (${i.cause})` : ''}${i.ms !== null ? ` in ${i.ms} ms` : ''}${i.txid ? `  [${i.txid}]` : ''}`;
          const stages = i.stages.map((s) => checkLine(s, '    '));
          const rb = i.rollback ? [`    rollback: ${i.rollback.reason}`, ...i.rollback.stages.map((s) => checkLine(s, '      '))] : [];
          const aside = i.setAside.length ? [`    set aside (not deleted): ${i.setAside.join(', ')}`] : [];
          return [head, ...stages, ...rb, ...aside].join('\n');
        })
        .join('\n')
    : 'no transitions yet';
  ctx.out.result(human, { transitions: items });
  return 0;
}
