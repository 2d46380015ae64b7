import { EXIT, OcError } from '../errors.js';
import { checkLine } from '../output.js';
import { formatFailure, validateTree } from '../core/validate.js';
import { packageDirOf, readCurrent, readSeal } from '../core/store.js';
import type { CommandContext } from '../app/context.js';
import { resolveInstalled } from '../app/home.js';
import { mutating } from '../app/session.js';
import { openServicePort } from '../app/service-port.js';
import { transitionDeps } from '../app/transition.js';
import { newTxid } from '../core/journal.js';
import { runCanaryStage } from '../core/upgrade.js';

/**
 * Re-run the pre-promotion validation on an installed version (read-only), or with
 * --canary run the upgrade's canary stage alone against the live state: the version on
 * a copy of the state on a loopback port, the gateway untouched (a rehearsal).
 */
export async function run(ctx: CommandContext, raw: string | undefined, opts: { canary?: boolean } = {}): Promise<number> {
  const version = raw ? await resolveInstalled(ctx, raw) : await readCurrent(ctx.layout);
  if (!version) throw new OcError('NO_CURRENT', 'no current version to verify', { hint: 'oc-versions verify <version>' });
  if (opts.canary) return rehearse(ctx, version);
  const seal = await readSeal(ctx.layout, version);
  const pkg = seal?.package ?? ctx.pkg;
  const prefix = ctx.layout.version(version);
  ctx.out.phase('validate', `validating ${version}`);
  const report = await validateTree({
    packageDir: packageDirOf(prefix, pkg),
    prefix,
    expectedVersion: version,
    runtimeNode: ctx.config.runtimeNode,
    config: ctx.config,
    tmpDir: ctx.layout.tmpDir,
    ...(seal?.lifecycle === 'skipped' ? { skip: ['lifecycle' as const] } : {}),
    onCheck: (r) => ctx.out.check({ ...r, detail: r.ok && !r.skipped ? '' : r.detail }),
  });
  ctx.out.end();
  const human = [
    `${version}: ${report.ok ? 'ok' : 'FAILED'}`,
    ...report.checks.map((c) => checkLine(c)),
  ].join('\n');
  ctx.out.result(human, report);
  if (!report.ok) ctx.out.warn(formatFailure(report));
  return report.ok ? EXIT.OK : EXIT.VALIDATION;
}

async function rehearse(ctx: CommandContext, version: string): Promise<number> {
  // The canary writes its copy and its record under the home: one mutating command at a time.
  const r = await mutating(ctx, 'verify --canary', async () => {
    const deps = transitionDeps(ctx, await openServicePort(ctx));
    ctx.out.phase('canary', `canary: ${version} on a copy of the live state`);
    return runCanaryStage(deps, version, await readCurrent(ctx.layout), `verify-${newTxid()}`, (m) => ctx.out.progress(m));
  });
  if (!r) {
    throw new OcError('ENVIRONMENT', 'no OpenClaw state dir to copy for the canary', {
      hint: 'set openclawStateDir in config.json, or OPENCLAW_STATE_DIR in the service environment',
    });
  }
  const stage = { name: r.name, ok: r.ok, ms: r.ms, detail: r.detail };
  const human = [`${version}: canary ${r.ok ? 'ok' : 'FAILED'}`, checkLine(stage), ...r.checks.map((c) => checkLine(c, '    '))].join('\n');
  ctx.out.result(human, { version, canary: r, stages: [stage] });
  return r.ok ? EXIT.OK : EXIT.VALIDATION;
}
