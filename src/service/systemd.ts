/**
 * The `systemd` backend: a user unit under `$XDG_CONFIG_HOME/systemd/user/`
 * (default `~/.config/systemd/user/`), driven with `systemctl --user`. A rewritten
 * unit takes effect after `daemon-reload` (reload()); restart() keeps the unit
 * enabled and loaded.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import { run, type RunResult } from '../os/proc.js';
import { entryOfPid, firstLine, readTextOrNull, versionOfEntry, writeFileAtomicKeepMode } from './common.js';
import { parseUnit, renderUnit } from './unit.js';
import type { Backend, ServiceContext, ServiceManager, ServiceStatus, StopOptions } from './types.js';

export const DEFAULT_SYSTEMD_UNIT = 'openclaw-gateway.service';

export function userUnitDir(env: NodeJS.ProcessEnv): string {
  const xdg = env['XDG_CONFIG_HOME'];
  if (xdg) return path.join(xdg, 'systemd', 'user');
  const home = env['HOME'];
  if (!home) throw new OcError('ENVIRONMENT', 'HOME is not set; cannot locate ~/.config/systemd/user');
  return path.join(home, '.config', 'systemd', 'user');
}

export function unitName(label: string | undefined): string {
  const name = label ?? DEFAULT_SYSTEMD_UNIT;
  const unit = name.endsWith('.service') ? name : `${name}.service`;
  if (!/^[A-Za-z0-9:_.@\\-]+\.service$/.test(unit)) throw new OcError('INVALID_INPUT', `'${name}' is not a systemd unit name`);
  return unit;
}

/** Parse `systemctl show -p A,B` output (KEY=value lines). */
export function parseShow(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1).trim();
  }
  return out;
}

export function createSystemdManager(ctx: ServiceContext): ServiceManager {
  const label = unitName(ctx.definitionPath && !ctx.label ? path.basename(ctx.definitionPath) : ctx.label);
  const definitionPath = ctx.definitionPath ?? path.join(userUnitDir(ctx.env), label);

  const systemctl = async (args: string[], timeoutMs = 30_000): Promise<RunResult> => {
    const r = await run('systemctl', ['--user', ...args], { env: ctx.env, timeoutMs });
    if (r.error) throw new OcError('SERVICE_ERROR', `cannot run systemctl: ${r.error.message}`, { hint: 'use --manager process' });
    return r;
  };
  const must = async (args: string[], timeoutMs?: number): Promise<void> => {
    const r = await systemctl(args, timeoutMs);
    if (r.code !== 0) {
      throw new OcError('SERVICE_ERROR', `systemctl --user ${args.join(' ')} failed (exit ${r.code ?? r.signal}): ${firstLine(r.stderr || r.stdout)}`);
    }
  };
  async function requireDefinition(): Promise<void> {
    if ((await readTextOrNull(definitionPath)) === null) {
      throw new OcError('NOT_FOUND', `no systemd user unit '${label}': ${definitionPath} does not exist`, {
        hint: 'check --label, or run oc-versions service install / adopt',
      });
    }
  }

  const mgr: ServiceManager = {
    kind: 'systemd',
    label,
    definitionPath,

    async readDefinition() {
      const text = await readTextOrNull(definitionPath);
      return text === null ? null : parseUnit(text, definitionPath, label);
    },

    async writeDefinition(def) {
      await writeFileAtomicKeepMode(definitionPath, renderUnit({ ...def, label }), 0o644);
    },

    async reload() {
      await must(['daemon-reload']);
    },

    async install(def) {
      await mgr.writeDefinition(def);
      await mgr.reload();
      await must(['enable', label]);
      await must(['restart', label]);
    },

    async uninstall() {
      await systemctl(['stop', label], 120_000);
      await systemctl(['disable', label]);
      await fsp.rm(definitionPath, { force: true });
      await systemctl(['daemon-reload']);
    },

    async start() {
      await requireDefinition();
      await must(['start', label]);
    },

    async stop(o: StopOptions = {}) {
      await requireDefinition();
      await must(['stop', label], (o.drainMs ?? 20_000) + 30_000);
    },

    async restart(o: StopOptions = {}) {
      await requireDefinition();
      await must(['restart', label], (o.drainMs ?? 20_000) + 60_000);
    },

    async status(): Promise<ServiceStatus> {
      const installed = (await readTextOrNull(definitionPath)) !== null;
      const r = await systemctl(['show', '-p', 'MainPID,ActiveState,SubState,NRestarts,LoadState', label]);
      const s = r.code === 0 ? parseShow(r.stdout) : {};
      const pidNum = Number(s['MainPID'] ?? 0);
      const pid = Number.isInteger(pidNum) && pidNum > 0 ? pidNum : null;
      const entry = pid ? await entryOfPid(pid) : null;
      const restarts = Number(s['NRestarts']);
      return {
        manager: 'systemd',
        label,
        installed,
        running: pid !== null && s['ActiveState'] === 'active',
        pid,
        entry,
        version: versionOfEntry(entry, ctx.layout.versionsDir),
        definitionPath,
        state: `${s['ActiveState'] ?? 'unknown'}/${s['SubState'] ?? 'unknown'}`,
        ...(Number.isFinite(restarts) ? { restarts } : {}),
      };
    },
  };
  return mgr;
}

export const systemdBackend: Backend = {
  kind: 'systemd',
  defaultLabel: DEFAULT_SYSTEMD_UNIT,
  create: (ctx) => createSystemdManager(ctx),
  identityEnv: (label) => ({ OPENCLAW_SYSTEMD_UNIT: label }),
  // daemon-reload alone leaves the running process as it was.
  restartAfterReload: true,
  adopt: { labelOf: async (definitionPath) => path.basename(definitionPath) },
};
