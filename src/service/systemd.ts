/**
 * The `systemd` backend: a user unit under `$XDG_CONFIG_HOME/systemd/user/`
 * (default `~/.config/systemd/user/`), driven with `systemctl --user`. A rewritten
 * unit takes effect after `daemon-reload` (reload()); restart() keeps the unit
 * enabled and loaded.
 *
 * Start budget: the unit's StartLimitBurst=/StartLimitIntervalSec= count every start, including
 * oc-versions' own deliberate restarts (upgrade, rollback, use) and the Restart=always respawns of
 * a crashing candidate; a few upgrades in a row would exhaust it and systemd would then refuse to
 * start even the good version ("start of the service was attempted too often"). oc-versions owns
 * that budget: `systemctl --user reset-failed <unit>` before each of its own starts/restarts, so
 * the limit again counts only the respawns since oc-versions' last deliberate start: crash-loop
 * protection in normal operation is unchanged.
 *
 * Stop budget: every unit oc-versions writes has `TimeoutStopSec=` = config.service.drainMs and
 * `KillMode=mixed` (withStopBudget), so the manager SIGKILLs a gateway that outlives the drain.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import { run, type RunResult } from '../os/proc.js';
import { entryOfPid, firstLine, readTextOrNull, versionOfEntry, writeFileAtomicKeepMode } from './common.js';
import { parseUnit, renderUnit, unitExtraOf, userUnitDir, withStopBudget } from './unit.js';
import { installRecoveryTimer, recoveryTimerProgram, uninstallRecoveryTimer } from './systemd-timer.js';

export { userUnitDir };
import type { Backend, ServiceContext, ServiceManager, ServiceStatus, StopOptions } from './types.js';

export const DEFAULT_SYSTEMD_UNIT = 'openclaw-gateway.service';

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
  /** Give oc-versions' own start a fresh start-limit budget (no-op for a unit that never failed). */
  const resetStartBudget = async (): Promise<void> => {
    await systemctl(['reset-failed', label]);
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
      const extra = ctx.drainMs === undefined ? unitExtraOf({ ...def, label }) : withStopBudget(unitExtraOf({ ...def, label }), ctx.drainMs);
      await writeFileAtomicKeepMode(definitionPath, renderUnit({ ...def, label, extra }), 0o644);
    },

    async reload() {
      await must(['daemon-reload']);
    },

    async install(def) {
      await mgr.writeDefinition(def);
      await mgr.reload();
      await must(['enable', label]);
      await resetStartBudget();
      await must(['restart', label]);
    },

    async uninstall() {
      await systemctl(['stop', label], 120_000);
      await systemctl(['disable', label]);
      await fsp.rm(definitionPath, { force: true });
      await systemctl(['daemon-reload']);
      // A unit whose last stop timed out stays known to the manager as failed until reset.
      await systemctl(['reset-failed', label]);
    },

    async start() {
      await requireDefinition();
      await resetStartBudget();
      await must(['start', label]);
    },

    async stop(o: StopOptions = {}) {
      await requireDefinition();
      await must(['stop', label], (o.drainMs ?? 20_000) + 30_000);
    },

    async restart(o: StopOptions = {}) {
      await requireDefinition();
      await resetStartBudget();
      await must(['restart', label], (o.drainMs ?? 20_000) + 60_000);
    },

    async logTail() {
      // The unit's own output (stdout/stderr of the gateway and the launcher), not the manager's
      // lines about it; the caller redacts secret values before the text goes anywhere.
      const r = await run('journalctl', ['--user', '-u', label, '-n', '200', '--no-pager', '-o', 'json', '--output-fields=MESSAGE,SYSLOG_IDENTIFIER,_PID'], {
        env: ctx.env,
        timeoutMs: 10_000,
      });
      if (r.error || r.code !== 0) return '';
      const lines: string[] = [];
      for (const l of r.stdout.split('\n')) {
        if (!l.trim()) continue;
        try {
          const e = JSON.parse(l) as { MESSAGE?: unknown; SYSLOG_IDENTIFIER?: unknown };
          if (e.SYSLOG_IDENTIFIER === 'systemd') continue;
          const m = Array.isArray(e.MESSAGE) ? Buffer.from(e.MESSAGE as number[]).toString('utf8') : typeof e.MESSAGE === 'string' ? e.MESSAGE : '';
          if (m.trim()) lines.push(m);
        } catch {
          // not a journal entry
        }
      }
      return lines.slice(-20).join('\n');
    },

    async status(): Promise<ServiceStatus> {
      const installed = (await readTextOrNull(definitionPath)) !== null;
      const r = await systemctl(['show', '-p', 'MainPID,ActiveState,SubState,NRestarts,LoadState,ExecMainStatus,Result', label]);
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
        // ExecMainStatus: the main process's last exit status (0 while it never exited).
        ...(s['ExecMainStatus'] && s['ExecMainStatus'] !== '0' ? { lastExitCode: s['ExecMainStatus'] } : {}),
        // Waiting to restart after an exit (Restart=), or given up (start limit hit, or failed).
        crashLoop: installed && (s['SubState'] === 'auto-restart' || s['ActiveState'] === 'failed'),
        log: `journalctl --user -u ${label}`,
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
  recoveryAgent: {
    install: installRecoveryTimer,
    uninstall: uninstallRecoveryTimer,
    program: recoveryTimerProgram,
  },
};
