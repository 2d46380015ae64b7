import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EXIT, OcError } from '../errors.js';
import { resolveForInstall, type InstallOptions } from '../core/install.js';
import { readCurrent } from '../core/store.js';
import { applyTransition, planTransition, type TransitionDeps, type TransitionResult } from '../core/upgrade.js';
import { parseSpec } from '../core/versions.js';
import type { CommandContext } from './context.js';
import { ensureHome, mutating } from './common.js';
import { openServicePort } from './service-port.js';

export interface UpgradeOptions {
  noRestart?: boolean;
  dryRun?: boolean;
  detach?: boolean;
  ignoreScripts?: boolean;
}

export const OUTCOME_EXIT: Record<TransitionResult['outcome'], number> = {
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
    onProgress: (m) => ctx.out.progress(m),
    fault: ctx.env['OC_VERSIONS_FAULT'],
  };
}

export function printTransition(ctx: CommandContext, r: TransitionResult): number {
  ctx.out.result(formatTransition(r), r);
  return OUTCOME_EXIT[r.outcome];
}

/** Re-launch this very command outside the caller's process tree (own session; systemd-run --scope where available). */
function detach(ctx: CommandContext): number {
  const args = ctx.argv.filter((a) => a !== '--detach');
  const cli = process.argv[1]!;
  fs.mkdirSync(ctx.layout.logsDir, { recursive: true });
  const logFile = path.join(ctx.layout.logsDir, `detached-${Date.now()}.log`);
  const out = fs.openSync(logFile, 'a', 0o600);
  const useScope = process.platform === 'linux' && hasOnPath('systemd-run', ctx.env) && Boolean(ctx.env['XDG_RUNTIME_DIR']);
  const [cmd, cmdArgs] = useScope
    ? ['systemd-run', ['--user', '--scope', '--collect', '--quiet', process.execPath, cli, ...args]]
    : [process.execPath, [cli, ...args]];
  // spawn is used here (not the core's door) because this is the CLI re-executing itself.
  const child = spawn(cmd, cmdArgs as string[], { detached: true, stdio: ['ignore', out, out], env: ctx.env, cwd: ctx.layout.home });
  child.unref();
  fs.closeSync(out);
  ctx.out.result(`upgrade continues in the background (pid ${child.pid}); follow it with: oc-versions status`, {
    detached: true,
    pid: child.pid ?? null,
    log: logFile,
    scope: useScope,
  });
  return EXIT.OK;
}

function hasOnPath(bin: string, env: NodeJS.ProcessEnv): boolean {
  return (env['PATH'] ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, bin)));
}

export async function run(ctx: CommandContext, rawSpec: string | undefined, opts: UpgradeOptions): Promise<number> {
  const spec = parseSpec(rawSpec ?? 'latest');
  if (opts.detach) return detach(ctx);
  const install: InstallOptions = {
    layout: ctx.layout,
    config: ctx.config,
    pkg: ctx.pkg,
    registry: { registry: ctx.registry, env: ctx.env },
    ignoreScripts: Boolean(opts.ignoreScripts),
    onProgress: (m) => ctx.out.progress(m),
    onCheck: (r) => ctx.out.progress(`  ${r.skipped ? 'skip' : r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.ms} ms)${r.ok ? '' : ': ' + r.detail}`),
  };
  const resolved = await resolveForInstall(install, spec);
  if (opts.dryRun) {
    const from = await readCurrent(ctx.layout);
    const plan = planTransition({ from, to: resolved.version, installed: resolved.installed, serviceInstalled: Boolean(ctx.config.service.manager), noRestart: Boolean(opts.noRestart), op: 'upgrade' });
    ctx.out.result(plan.steps.map((s, i) => `${i + 1}. ${s}`).join('\n'), { dryRun: true, ...plan });
    return EXIT.OK;
  }
  return mutating(ctx, 'upgrade', async () => {
    await ensureHome(ctx);
    const from = await readCurrent(ctx.layout);
    if (from === resolved.version) {
      const r: TransitionResult = { outcome: 'unchanged', from, to: resolved.version, txid: null, stages: [{ name: 'installed+promoted', ok: true, ms: 0, detail: `${resolved.version} is already current` }] };
      return printTransition(ctx, r);
    }
    const service = await openServicePort(ctx);
    try {
      const r = await applyTransition(transitionDeps(ctx, service), {
        op: 'upgrade',
        from,
        to: resolved.version,
        ...(resolved.installed ? {} : { resolved, install }),
        noRestart: Boolean(opts.noRestart),
      });
      return printTransition(ctx, r);
    } catch (e) {
      const t = (e as { transition?: TransitionResult }).transition;
      if (!t || !(e instanceof OcError)) throw e;
      // Staging or validation failed before the flip: nothing changed. The stage report goes
      // to stderr, and into the --json error document; the exit code is the error's.
      ctx.out.progress(formatTransition(t));
      throw new OcError(e.code, e.message, { ...(e.hint ? { hint: e.hint } : {}), exitCode: e.exitCode, cause: e, details: { ...(e.details ?? {}), ...t } });
    }
  });
}

