import fs from 'node:fs';
import { EXIT, OcError } from '../errors.js';
import { resolveForInstall, type InstallOptions } from '../core/install.js';
import { readCurrent } from '../core/store.js';
import { applyTransition, planTransition, type TransitionDeps, type TransitionResult } from '../core/upgrade.js';
import { parseSpec } from '../core/specs.js';
import { insidePin, specUnderPin } from '../core/pin.js';
import type { CommandContext } from '../app/context.js';
import { ensureHome } from '../app/home.js';
import { installOptions } from '../app/install.js';
import { mutating } from '../app/session.js';
import { openServicePort } from '../app/service-port.js';
import { formatTransition, printTransition, transitionDeps } from '../app/transition.js';
import { onPath, spawnDetached } from '../os/proc.js';

export interface UpgradeOptions {
  noRestart?: boolean;
  dryRun?: boolean;
  detach?: boolean;
  ignoreScripts?: boolean;
  /** --no-canary: skip the canary on a copy of the live state. */
  noCanary?: boolean;
  /** An explicit version outside the pin (oc-versions pin). */
  force?: boolean;
}

/** Whether this upgrade runs the canary, warning about what is given up when it does not. */
function canaryWanted(ctx: CommandContext, opts: UpgradeOptions): boolean {
  const why = opts.noCanary ? '--no-canary' : !ctx.config.canary.enabled ? 'canary.enabled is false in config.json' : null;
  if (why && ctx.config.service.manager && !opts.noRestart) {
    ctx.out.warn(`${why}: the new version meets this host's state only after the old gateway has stopped; a version that cannot start on it costs an outage and a rollback`);
  }
  return why === null;
}

/** Re-launch this very command outside the caller's process tree (own session; systemd-run --scope where available). */
function detach(ctx: CommandContext): number {
  const args = ctx.argv.filter((a) => a !== '--detach');
  const cli = process.argv[1]!;
  fs.mkdirSync(ctx.layout.logsDir, { recursive: true });
  const logFile = ctx.layout.detachedLog(Date.now());
  const useScope = process.platform === 'linux' && onPath('systemd-run', ctx.env) && Boolean(ctx.env['XDG_RUNTIME_DIR']);
  const [cmd, cmdArgs] = useScope
    ? ['systemd-run', ['--user', '--scope', '--collect', '--quiet', process.execPath, cli, ...args]]
    : [process.execPath, [cli, ...args]];
  const pid = spawnDetached(cmd, cmdArgs as string[], { env: ctx.env, cwd: ctx.layout.home, logFile });
  ctx.out.result(`upgrade continues in the background (pid ${pid}); follow it with: oc-versions status`, {
    // Not known yet: the background upgrade decides (oc-versions status / history).
    changed: null,
    detached: true,
    pid,
    log: logFile,
    scope: useScope,
  });
  return EXIT.OK;
}

export async function run(ctx: CommandContext, rawSpec: string | undefined, opts: UpgradeOptions): Promise<number> {
  const asked = parseSpec(rawSpec ?? 'latest');
  if (opts.detach) return detach(ctx);
  const install: InstallOptions = installOptions(ctx, opts);
  const pinned = ctx.config.pin;
  // A pin holds unless an exact version is named with --force.
  const spec = specUnderPin(asked, pinned);
  if (pinned && asked.kind === 'version' && !insidePin(asked.value, pinned) && !opts.force) {
    throw new OcError('REFUSED', `${asked.value} is outside the pin ${pinned.spec} (${pinned.range})`, {
      hint: `oc-versions upgrade ${asked.value} --force to move anyway (the pin stays), or oc-versions unpin`,
    });
  }
  if (pinned && spec !== asked) ctx.out.warn(`pinned to ${pinned.spec}: upgrading inside the pin${asked.kind === 'tag' && rawSpec !== undefined ? ` instead of ${asked.raw}` : ''} (oc-versions unpin to leave it)`);
  const resolved = await resolveForInstall(install, spec).catch((e: unknown) => {
    if (pinned && spec !== asked && e instanceof OcError && e.code === 'VERSION_NOT_FOUND') {
      throw new OcError('VERSION_NOT_FOUND', `no published version inside the pin ${pinned.spec} matches ${asked.raw}`, { hint: 'oc-versions unpin, or pin another range', cause: e });
    }
    throw e;
  });
  if (opts.dryRun) {
    const from = await readCurrent(ctx.layout);
    const plan = planTransition({ from, to: resolved.version, installed: resolved.installed, serviceInstalled: Boolean(ctx.config.service.manager), noRestart: Boolean(opts.noRestart), op: 'upgrade', canary: canaryWanted(ctx, opts) });
    const { actions: _walked, ...shown } = plan;
    ctx.out.result(plan.steps.map((s, i) => `${i + 1}. ${s}`).join('\n'), { changed: false, dryRun: true, ...shown });
    return EXIT.OK;
  }
  return mutating(ctx, 'upgrade', async () => {
    await ensureHome(ctx);
    const from = await readCurrent(ctx.layout);
    if (from === resolved.version) {
      const r: TransitionResult = { outcome: 'already-current', from, to: resolved.version, txid: null, stages: [{ name: 'installed+promoted', ok: true, ms: 0, detail: `${resolved.version} is already current` }] };
      return printTransition(ctx, r, null);
    }
    const service = await openServicePort(ctx);
    const gated = service && !opts.noRestart ? { manager: service.manager, label: service.label } : null;
    try {
      const r = await applyTransition(transitionDeps(ctx, service), {
        op: 'upgrade',
        from,
        to: resolved.version,
        ...(resolved.installed ? {} : { resolved, install }),
        noRestart: Boolean(opts.noRestart),
        canary: canaryWanted(ctx, opts),
      });
      return printTransition(ctx, r, gated);
    } catch (e) {
      const t = (e as { transition?: TransitionResult }).transition;
      if (!t || !(e instanceof OcError)) throw e;
      // Staging, validation or the canary failed before the flip: nothing live changed. The stage
      // report goes to stderr, and into the --json error document; the exit code is the error's.
      // A canary refusal leaves the version it staged installed (sealed): that is a change.
      ctx.out.progress(formatTransition(t));
      const sealed = !resolved.installed && t.stages.some((s) => s.name === 'canary' && !s.ok);
      throw new OcError(e.code, e.message, { ...(e.hint ? { hint: e.hint } : {}), exitCode: e.exitCode, cause: e, changed: sealed, details: { ...(e.details ?? {}), ...t } });
    }
  });
}

