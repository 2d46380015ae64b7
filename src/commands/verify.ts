import { EXIT, OcError } from '../errors.js';
import { checkLine } from '../output.js';
import { formatFailure, validateTree } from '../core/validate.js';
import { packageDirOf, readCurrent, readSeal } from '../core/store.js';
import type { CommandContext } from '../app/context.js';
import { resolveInstalled } from '../app/home.js';

/** Re-run the pre-promotion validation on an installed version (read-only). */
export async function run(ctx: CommandContext, raw: string | undefined): Promise<number> {
  const version = raw ? await resolveInstalled(ctx, raw) : await readCurrent(ctx.layout);
  if (!version) throw new OcError('NO_CURRENT', 'no current version to verify', { hint: 'oc-versions verify <version>' });
  const seal = await readSeal(ctx.layout, version);
  const pkg = seal?.package ?? ctx.pkg;
  const prefix = ctx.layout.version(version);
  const report = await validateTree({
    packageDir: packageDirOf(prefix, pkg),
    prefix,
    expectedVersion: version,
    runtimeNode: ctx.config.runtimeNode,
    config: ctx.config,
    tmpDir: ctx.layout.tmpDir,
    ...(seal?.lifecycle === 'skipped' ? { skip: ['lifecycle' as const] } : {}),
    onCheck: (r) => ctx.out.progress(checkLine({ ...r, detail: r.ok && !r.skipped ? '' : r.detail })),
  });
  const human = [
    `${version}: ${report.ok ? 'ok' : 'FAILED'}`,
    ...report.checks.map((c) => checkLine(c)),
  ].join('\n');
  ctx.out.result(human, report);
  if (!report.ok) ctx.out.warn(formatFailure(report));
  return report.ok ? EXIT.OK : EXIT.VALIDATION;
}
