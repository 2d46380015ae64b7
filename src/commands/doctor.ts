/**
 * `oc-versions doctor [--fix]`: the host's checks as findings (src/app/doctor.ts), one line
 * each, and a summary. Exit 0 when no error-severity finding remains, else 9 (ENVIRONMENT)
 * with the normal result document, as `verify` exits 5 with its report.
 */
import { EXIT } from '../errors.js';
import type { CommandContext } from '../app/context.js';
import { runDoctor, type Finding } from '../app/doctor.js';

function line(f: Finding, fixing: boolean): string {
  const tag = f.fixed ? 'fixed  ' : f.severity === 'error' ? 'error  ' : f.severity === 'warning' ? 'warning' : 'info   ';
  const fix = f.fix ? ` -- ${f.fixed ? 'did: ' : 'fix: '}${f.fix}${f.fixable && !f.fixed && !fixing ? ' (doctor --fix)' : ''}` : '';
  return `${tag} ${f.what}${fix}`;
}

export async function run(ctx: CommandContext, opts: { fix?: boolean } = {}): Promise<number> {
  const fixing = Boolean(opts.fix);
  const r = await runDoctor(ctx, { fix: fixing });
  const count = (s: Finding['severity']) => r.findings.filter((f) => f.severity === s && !f.fixed).length;
  const fixed = r.findings.filter((f) => f.fixed).length;
  const fixable = r.findings.filter((f) => f.fixable && !f.fixed).length;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  const summary = [
    `doctor: ${r.ok ? 'ok' : 'PROBLEMS'}: ${plural(count('error'), 'error')}, ${plural(count('warning'), 'warning')}`,
    ...(fixing ? [`fixed ${fixed}`] : fixable > 0 ? [`oc-versions doctor --fix applies ${plural(fixable, 'safe fix')}`.replace('fixs', 'fixes')] : []),
  ].join('; ');
  ctx.out.result([...r.findings.map((f) => line(f, fixing)), summary].join('\n'), r);
  return r.ok ? EXIT.OK : EXIT.ENVIRONMENT;
}
