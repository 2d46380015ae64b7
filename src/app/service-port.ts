/**
 * Adapts the service layer (src/service, src/secrets) to the ServicePort the
 * transition core needs. Null when no service was installed or adopted
 * (config.service.manager unset): then a switch is a flip with nothing to restart.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ServicePort } from '../core/upgrade.js';
import { captureServiceEnv, checkAndRestoreDefinition, guardDefinition, loadedJobAgrees, readDefinitionRecord, readEnvFiles } from '../service/definition.js';
import { createdSinceSnapshot, createSnapshot, migratedDatabases, restoreSnapshot, setDatabaseAside } from '../service/snapshot.js';
import type { CommandContext } from './context.js';
import { openService } from './service.js';
import { backendOf, type ServiceManager } from '../service/index.js';
import { textRedactor } from '../secrets/redact.js';
import { faultStep } from '../core/faults.js';

export function portFromArgs(program: readonly string[]): number | null {
  for (let i = 0; i < program.length; i++) {
    const a = program[i]!;
    const m = /^--port=(\d+)$/.exec(a);
    const v = m ? m[1] : a === '--port' ? program[i + 1] : undefined;
    if (v !== undefined && /^\d+$/.test(v)) {
      const n = Number(v);
      if (n > 0 && n < 65536) return n;
    }
  }
  return null;
}

/** A redactor of every secret value in `values` and of the secret-named keys of `env` (the command's own). */
export function secretRedactor(ctx: CommandContext, values: Record<string, string | undefined>): (text: string) => string {
  const pattern = new RegExp(ctx.config.secretPattern, 'i');
  return textRedactor(
    [...Object.entries(values), ...Object.entries(ctx.env)].filter(([k, v]) => pattern.test(k) && typeof v === 'string').map(([, v]) => v as string),
  );
}

/** The gateway's log file: the definition's stderr, else the backend's own (process: under the home). */
export async function gatewayLogFile(ctx: CommandContext, mgr: ServiceManager): Promise<string | null> {
  const def = await mgr.readDefinition().catch(() => null);
  return def?.stderrPath ?? backendOf(mgr.kind).gatewayLog?.(ctx.layout) ?? null;
}

/**
 * The last `lines` non-empty lines of the gateway's own output (a manager with its own log, the
 * systemd journal, first; else the end of its log file), secret values redacted: never carry a
 * secret value into a result, the log under the home, or the terminal.
 */
export async function readLogTail(ctx: CommandContext, mgr: ServiceManager, redact: (text: string) => string, lines: number): Promise<string[]> {
  const tail = (text: string) => redact(text).trim().split('\n').filter((l) => l.trim()).slice(-lines);
  const fromManager = mgr.logTail ? await mgr.logTail().catch(() => '') : '';
  if (fromManager) return tail(fromManager);
  const file = await gatewayLogFile(ctx, mgr);
  if (!file) return [];
  try {
    const fh = await fsp.open(file, 'r');
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, 8192);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      return tail(buf.toString('utf8'));
    } finally {
      await fh.close();
    }
  } catch {
    return [];
  }
}

export async function openServicePort(ctx: CommandContext): Promise<ServicePort | null> {
  if (!ctx.config.service.manager) return null;
  // A platform store that does not answer is no reason to refuse the operation: the
  // running job's environment still holds the values (see `memory` below).
  const { mgr, store: found } = await openService(ctx).catch(async () => ({ ...(await openService(ctx, { secretStore: 'none' })), store: undefined }));
  const store = found;
  // Before anything changes: a manager that cannot act for this user (launchd without a GUI
  // session) refuses the whole operation with its one line and the fix.
  await mgr.ready?.();
  const setup = { layout: ctx.layout, config: ctx.config, env: ctx.env };
  // Env values captured once, at the start of the operation, in memory only.
  const memory = await captureServiceEnv(mgr, await readDefinitionRecord(ctx.layout));
  // Every secret value the job can see: its definition/env files/running environ, and (process
  // backend) the environment of the command that starts it.
  const redact = secretRedactor(ctx, memory);
  return {
    manager: mgr.kind,
    label: mgr.label,
    status: () => mgr.status(),
    restart: (drainMs) => mgr.restart({ drainMs }),
    async checkDefinition(opts = {}) {
      const record = await readDefinitionRecord(ctx.layout);
      if (!record) return { restoredKeys: [], unrestorableKeys: [], rewritten: false };
      const reload = opts.reload ?? true;
      const r = await checkAndRestoreDefinition({
        manager: mgr,
        record,
        layout: ctx.layout,
        memory,
        ...(store ? { store } : {}),
        secretPattern: ctx.config.secretPattern,
        launcher: ctx.layout.gatewayShim,
        reload,
      });
      const loadedOk = r.rewritten && !reload ? await loadedJobAgrees(mgr, record) : undefined;
      return { restoredKeys: r.restoredKeys, unrestorableKeys: r.unrestorableKeys, rewritten: r.rewritten, ...(loadedOk !== undefined ? { loadedOk } : {}) };
    },
    guardDefinition: () => guardDefinition(mgr, ctx.layout, backendOf(mgr.kind).restartAfterReload),
    async reloadAndRestart(drainMs) {
      await mgr.reload();
      await mgr.restart({ drainMs });
    },
    redact,
    async logTail() {
      return (await readLogTail(ctx, mgr, redact, 3)).join(' | ').slice(0, 600);
    },
    async env() {
      const def = await mgr.readDefinition();
      if (!def) return {};
      return { ...memory, ...(await readEnvFiles(def)), ...def.env };
    },
    async gatewayArgs() {
      // The job runs `[wrapper…] <launcher> <args…>`: the args are what follows the launcher.
      const def = await mgr.readDefinition().catch(() => null);
      const at = def ? def.program.indexOf(ctx.layout.gatewayShim) : -1;
      if (def && at >= 0) return def.program.slice(at + 1);
      return ctx.config.service.gatewayArgs ?? ['gateway', 'run'];
    },
    async port() {
      const def = await mgr.readDefinition().catch(() => null);
      const fromArgs = def ? portFromArgs(def.program) : null;
      if (fromArgs) return fromArgs;
      const envPort = def?.env['OPENCLAW_GATEWAY_PORT'] ?? memory['OPENCLAW_GATEWAY_PORT'];
      return envPort && /^\d+$/.test(envPort) ? Number(envPort) : null;
    },
    async snapshot(txid) {
      const meta = await createSnapshot(setup, { txid, reason: 'pre-upgrade', manager: mgr, ...(store ? { store } : {}) });
      return meta.txid;
    },
    async restoreState(snapshotId, opts) {
      // Forward-only migrations: an older build refuses a database a newer one migrated.
      // Restore the snapshot's copy only when the live schema is newer (or when forced, to undo
      // this transaction's own earlier restore), and only with the gateway stopped (the caller
      // restarts it). Nothing is overwritten: every live database replaced, and every one
      // created since the snapshot, is set aside as `<file>.oc-set-aside-<txid>`.
      const migrated = await migratedDatabases(ctx.layout, snapshotId);
      const created = await createdSinceSnapshot(ctx.layout, snapshotId);
      if (migrated.length === 0 && created.length === 0 && !opts.force) return { restored: [], setAside: [] };
      await mgr.stop({ drainMs: ctx.config.service.drainMs });
      // The gateway has exited (the backends' stop waits for the process, not just the unload):
      // from here on nothing of it can write the databases being replaced.
      await opts.onStopped?.();
      // Only the databases the newer version migrated; a forced restore (undoing this
      // transaction's own earlier restore) puts back the whole consistent set.
      const only = opts.force ? {} : { onlyDatabases: migrated.map((m) => m.source) };
      const r = await restoreSnapshot(setup, snapshotId, { state: true, ...only }, { manager: mgr, ...(store ? { store } : {}), memory, asideTxid: opts.txid, afterSetAside: () => faultStep('set-aside') });
      const setAside = r.setAside.map((a) => a.aside);
      const notes: string[] = [];
      for (const f of created) {
        const aside = await setDatabaseAside(f, opts.txid);
        setAside.push(aside);
        notes.push(`${f} (created since; set aside as ${path.basename(aside)})`);
      }
      return {
        restored: [
          ...r.databases.map((d) => {
            const m = migrated.find((x) => x.source === d);
            const a = r.setAside.find((x) => x.file === d);
            return `${d}${m ? ` (schema ${m.live} → ${m.snapshot})` : ''}${a ? `; the newer one set aside as ${path.basename(a.aside)}` : ''}`;
          }),
          ...notes,
        ],
        setAside,
      };
    },
  };
}
