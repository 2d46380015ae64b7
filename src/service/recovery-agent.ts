/**
 * The launchd recovery agent: a second LaunchAgent that runs `oc-versions recover`
 * at load (login/boot) and every few minutes, so a Mac that rebooted in the middle
 * of an upgrade heals without a person. `recover` with no journal is a cheap no-op,
 * and a held lock (an upgrade in flight) just makes it exit 4 until next time.
 * It is also the tick of the stabilization watch after an upgrade (src/app/watch.ts),
 * so it runs every `watch.intervalS` seconds (config.json). systemd has the same job
 * as a user timer (src/service/systemd-timer.ts). Both run `config.runtimeNode` and the home's
 * sealed copy of the CLI (src/service/home-lib.ts), never a checkout's files.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../core/config.js';
import type { Layout } from '../core/layout.js';
import { ensureHomeLib } from './home-lib.js';
import type { ServiceContext, ServiceDefinition, ServiceManager } from './types.js';

/** Creates the launchd manager for the agent's own label (passed in: launchd.ts owns the backend). */
export type AgentManagerFactory = (ctx: ServiceContext) => ServiceManager;

/** The agent's label: one per home (`ai.openclaw.oc-versions-recover.<homeTag>`), so homes never share one. */
export const RECOVERY_LABEL_PREFIX = 'ai.openclaw.oc-versions-recover';
export function recoveryLabel(layout: Layout): string {
  return `${RECOVERY_LABEL_PREFIX}.${layout.homeTag}`;
}

export function recoveryAgentDefinition(layout: Layout, config: Config, cliPath: string, userPath?: string, home?: string): ServiceDefinition {
  const log = layout.recoveryAgentLog;
  return {
    manager: 'launchd',
    label: recoveryLabel(layout),
    program: [config.runtimeNode, cliPath, 'recover', '--auto', '--home', layout.home, '--quiet'],
    // The PATH of the user who installed the service (launchctl, systemd-run, … as they see them).
    env: { PATH: `${path.dirname(config.runtimeNode)}:${userPath ?? '/usr/bin:/bin:/usr/sbin:/sbin'}`, ...(home ? { HOME: home } : {}) },
    envFiles: [],
    stdoutPath: log,
    stderrPath: log,
    extra: { RunAtLoad: true, StartInterval: Math.max(1, Math.round(config.watch.intervalS)), ProcessType: 'Background', StandardInPath: '/dev/null' },
  };
}

/** An agent under the label used before it carried the home's tag, when it runs this home. */
async function removeLegacyAgent(create: AgentManagerFactory, layout: Layout, env: NodeJS.ProcessEnv): Promise<void> {
  const legacy = create({ env, layout, label: RECOVERY_LABEL_PREFIX });
  if (!fs.existsSync(legacy.definitionPath)) return;
  const def = await legacy.readDefinition().catch(() => null);
  const at = def ? def.program.indexOf('--home') : -1;
  if (def && at >= 0 && def.program[at + 1] === layout.home) {
    await legacy.uninstall().catch(() => fs.rmSync(legacy.definitionPath, { force: true }));
  }
}

export async function installRecoveryAgent(create: AgentManagerFactory, layout: Layout, config: Config, env: NodeJS.ProcessEnv): Promise<string> {
  await removeLegacyAgent(create, layout, env);
  const mgr = create({ env, layout, label: recoveryLabel(layout) });
  fs.mkdirSync(layout.logsDir, { recursive: true });
  // The home's sealed copy of the CLI, never the checkout's dist/cli.js (home-lib.ts).
  await mgr.install(recoveryAgentDefinition(layout, config, (await ensureHomeLib(layout)).cli, env['PATH'], env['HOME']));
  return mgr.definitionPath;
}

/** The installed agent's ProgramArguments, or null. */
export async function recoveryAgentProgram(create: AgentManagerFactory, layout: Layout, env: NodeJS.ProcessEnv): Promise<string[] | null> {
  const mgr = create({ env, layout, label: recoveryLabel(layout) });
  if (!fs.existsSync(mgr.definitionPath)) return null;
  return (await mgr.readDefinition().catch(() => null))?.program ?? null;
}

export async function uninstallRecoveryAgent(create: AgentManagerFactory, layout: Layout, env: NodeJS.ProcessEnv): Promise<void> {
  await removeLegacyAgent(create, layout, env);
  const mgr = create({ env, layout, label: recoveryLabel(layout) });
  if (fs.existsSync(mgr.definitionPath)) await mgr.uninstall();
}
