/**
 * systemd's equivalent of the launchd recovery agent: a user timer that runs
 * `oc-versions recover --auto` for this home every `watch.intervalS` seconds (and a
 * minute after boot). It heals a host that died mid-upgrade and is the tick of the
 * stabilization watch (src/app/watch.ts). Its name is derived from the home, so two
 * homes on one host each have their own.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import type { Config } from '../core/config.js';
import type { Layout } from '../core/layout.js';
import { run } from '../os/proc.js';
import { ensureHomeLib } from './home-lib.js';
import { splitUnitWords, userUnitDir } from './unit.js';

export function recoveryTimerName(layout: Layout): string {
  return `oc-versions-recover-${crypto.createHash('sha256').update(layout.home).digest('hex').slice(0, 8)}`;
}

/** One word of an ExecStart= line: quoted for systemd (and `%` doubled, it starts a specifier). */
function unitWord(s: string): string {
  const q = s.replace(/%/g, '%%');
  return /[\s"'\\$;]/.test(q) ? `"${q.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : q;
}

export function recoveryTimerUnits(layout: Layout, config: Config, cliPath: string, userPath: string | undefined): { service: string; timer: string } {
  const exec = [config.runtimeNode, cliPath, 'recover', '--auto', '--home', layout.home, '--quiet'].map(unitWord).join(' ');
  const service = [
    '[Unit]',
    `Description=oc-versions: recover an interrupted upgrade and watch a new version (${layout.home})`,
    '',
    '[Service]',
    'Type=oneshot',
    `Environment=${unitWord(`PATH=${path.dirname(config.runtimeNode)}:${userPath ?? '/usr/local/bin:/usr/bin:/bin'}`)}`,
    `ExecStart=${exec}`,
    `StandardOutput=append:${layout.recoveryAgentLog}`,
    `StandardError=append:${layout.recoveryAgentLog}`,
    '',
  ].join('\n');
  const timer = [
    '[Unit]',
    `Description=oc-versions recovery and stabilization watch timer (${layout.home})`,
    '',
    '[Timer]',
    'OnBootSec=1min',
    `OnActiveSec=${Math.max(1, Math.round(config.watch.intervalS))}s`,
    `OnUnitActiveSec=${Math.max(1, Math.round(config.watch.intervalS))}s`,
    'AccuracySec=1s',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
  return { service, timer };
}

async function systemctl(env: NodeJS.ProcessEnv, args: string[]): Promise<void> {
  const r = await run('systemctl', ['--user', ...args], { env, timeoutMs: 30_000 });
  if (r.error || r.code !== 0) {
    throw new OcError('SERVICE_ERROR', `systemctl --user ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`);
  }
}

export async function installRecoveryTimer(layout: Layout, config: Config, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = userUnitDir(env);
  const name = recoveryTimerName(layout);
  // The home's sealed copy of the CLI, never the checkout's dist/cli.js (home-lib.ts).
  const units = recoveryTimerUnits(layout, config, (await ensureHomeLib(layout)).cli, env['PATH']);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.mkdir(layout.logsDir, { recursive: true });
  await fsp.writeFile(path.join(dir, `${name}.service`), units.service, { mode: 0o644 });
  await fsp.writeFile(path.join(dir, `${name}.timer`), units.timer, { mode: 0o644 });
  await systemctl(env, ['daemon-reload']);
  await systemctl(env, ['enable', '--now', `${name}.timer`]);
  return path.join(dir, `${name}.timer`);
}

/** The installed timer service's ExecStart= words, or null. */
export async function recoveryTimerProgram(layout: Layout, env: NodeJS.ProcessEnv): Promise<string[] | null> {
  const text = await fsp.readFile(path.join(userUnitDir(env), `${recoveryTimerName(layout)}.service`), 'utf8').catch(() => null);
  const line = text?.split('\n').find((l) => l.startsWith('ExecStart='));
  return line ? splitUnitWords(line.slice('ExecStart='.length)).map((w) => w.replace(/%%/g, '%')) : null;
}

export async function uninstallRecoveryTimer(layout: Layout, env: NodeJS.ProcessEnv): Promise<void> {
  const dir = userUnitDir(env);
  const name = recoveryTimerName(layout);
  await run('systemctl', ['--user', 'disable', '--now', `${name}.timer`], { env, timeoutMs: 30_000 });
  await fsp.rm(path.join(dir, `${name}.timer`), { force: true });
  await fsp.rm(path.join(dir, `${name}.service`), { force: true });
  await run('systemctl', ['--user', 'daemon-reload'], { env, timeoutMs: 30_000 });
}
