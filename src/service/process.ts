/**
 * The `process` backend: oc-versions itself is the supervisor. The definition is
 * `<home>/service/process.json`; the job is spawned detached in its own process
 * group with its output appended to `<home>/service/gateway.log`; the pidfile
 * records the pid *and its start time* (/proc/<pid>/stat) so a pid reused by an
 * unrelated process is never mistaken for the gateway.
 *
 * What it starts is marked before it starts: the spawn carries
 * OC_VERSIONS_GATEWAY=<label>@<home> in the gateway's environment, so a gateway whose
 * pidfile was never written (the updater SIGKILLed between spawn and pidfile) is still
 * found (src/service/process-scan.ts): status reports it, stop stops it, start adopts it,
 * and recovery's restart replaces it instead of racing it for the port.
 *
 * Secret env values are never written to process.json: secret keys are stored
 * as references and resolved at start from the secret store, else from the
 * environment of the command that starts the job.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import { exists, readJson, writeJsonAtomic } from '../os/fs.js';
import { isRunning, killGroup, processArgvAnyOs, processStartTime, sleep, spawnDetached } from '../os/proc.js';
import { envToSecretRefs } from '../secrets/redact.js';
import { parseSecretRef, type SecretStore } from '../secrets/types.js';
import { faultStep } from '../core/faults.js';
import { entryOfPid, readTextOrNull, setupHint, versionOfEntry } from './common.js';
import { findMarkedLeaders, GATEWAY_MARKER_KEY, gatewayMarker } from './process-scan.js';
import { readEnvFiles } from './definition.js';
import { launcherPinsVersion, launcherTakesStandby } from './launcher.js';
import { ensureHomeLib } from './home-lib.js';
import { awaitHandOverReady, awaitSupervisedGateway, liveSupervisors, markDrained, reapSupervisors, spawnSupervisor, startSupervised, stopSupervisors, supervisorStatus } from './keepalive.js';
import type { KeepAliveConfig } from '../core/config.js';
import type { Backend, BackendOptions, ServiceContext, ServiceDefinition, ServiceManager, ServiceStatus, StopOptions } from './types.js';

interface ProcessDoc {
  label: string;
  program: string[];
  env: Record<string, string | { $secretRef: string }>;
  envFiles: string[];
  workingDirectory?: string;
}

interface PidFile {
  pid: number;
  startTime: string | null;
  startedAt: string;
}

export interface ProcessBackendOptions extends BackendOptions {
  /** How long start() watches the new process for an immediate exit. */
  startGraceMs?: number;
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/** How often a stop checks whether the gateway has exited (a kill(0) and one /proc read): the
 * next gateway can start only once the old one exited (it holds OpenClaw's state lease until then),
 * so each poll interval is outage. */
const EXIT_POLL_MS = 5;

export function createProcessManager(ctx: ServiceContext, opts: ProcessBackendOptions = {}): ServiceManager {
  const label = ctx.label ?? `ai.openclaw.gateway.${ctx.layout.homeTag}`;
  const definitionPath = ctx.definitionPath ?? ctx.layout.processDefinition;
  const pidPath = ctx.layout.gatewayPid;
  const logPath = ctx.layout.gatewayLog;
  const pattern = opts.secretPattern ?? 'TOKEN|KEY|SECRET|PASSWORD';
  const store = opts.secretStore;

  const marker = gatewayMarker(label, ctx.layout.home);
  // The launcher's argv names the home as configured; after its exec, node's names the real path.
  const homeNames = [...new Set([ctx.layout.home, realpathOr(ctx.layout.home)])].map((h) => h + path.sep);

  /** Gateways of this home and label that the pidfile does not name (the updater died before writing it). */
  async function untracked(except: number | null): Promise<number[]> {
    return (await findMarkedLeaders(GATEWAY_MARKER_KEY, marker, homeNames)).map((p) => p.pid).filter((p) => p !== except);
  }

  async function writePidFile(pid: number): Promise<void> {
    const rec: PidFile = { pid, startTime: processStartTime(pid), startedAt: new Date().toISOString() };
    await writeJsonAtomic(pidPath, rec, 0o644);
  }

  /** The pidfile's gateway, else the oldest untracked one of this home (so status and stop see it). */
  async function runningPid(): Promise<number | null> {
    return (await trackedPid()) ?? (await untracked(null))[0] ?? null;
  }

  async function trackedPid(): Promise<number | null> {
    const rec = await readJson<PidFile>(pidPath).catch(() => undefined);
    if (!rec || !isRunning(rec.pid)) return null;
    const now = processStartTime(rec.pid);
    if (rec.startTime !== null && now !== null) return now === rec.startTime ? rec.pid : null; // pid reused
    // No start time to compare (no /proc): only a process running the launcher or a version
    // tree of this home counts, so a pid reused after a reboot is never signalled.
    const argv = (await processArgvAnyOs(rec.pid)) ?? [];
    const ours = argv.some((a) => a.includes(ctx.layout.home + path.sep) || a.includes('openclaw-gateway'));
    return ours ? rec.pid : null;
  }

  async function readDoc(): Promise<ProcessDoc | null> {
    const text = await readTextOrNull(definitionPath);
    if (text === null) return null;
    try {
      const doc = JSON.parse(text) as ProcessDoc;
      if (!Array.isArray(doc.program) || doc.program.length === 0) throw new Error('no program');
      return doc;
    } catch (e) {
      throw new OcError('INVALID_INPUT', `${definitionPath} is not a valid process service definition`, { cause: e });
    }
  }

  async function resolveEnv(doc: ProcessDoc): Promise<NodeJS.ProcessEnv> {
    // Env files (`service install --env-file`) are read at each start, never copied.
    const env: NodeJS.ProcessEnv = { ...ctx.env, ...(await readEnvFiles({ manager: 'process', label, program: doc.program, env: {}, envFiles: doc.envFiles ?? [], extra: null })) };
    for (const [k, v] of Object.entries(doc.env)) {
      const ref = parseSecretRef(v);
      if (!ref) {
        env[k] = v as string;
        continue;
      }
      const fromStore = ref.kind !== 'none' && store ? await store.get(ref.name).catch(() => undefined) : undefined;
      if (fromStore !== undefined) env[k] = fromStore;
      // else: whatever the starting environment carries (ctx.env), or absent.
    }
    return env;
  }

  /** The supervisor's word on a gateway that is not running (crash loop), and its restart count. */
  async function keepAliveStatus(pid: number | null): Promise<Partial<ServiceStatus>> {
    const sup = ctx.keepAlive ? await supervisorStatus(ctx.layout) : null;
    if (!sup) return {};
    const exit = sup.lastExit ? (sup.lastExit.signal ?? String(sup.lastExit.code)) : undefined;
    const out: Partial<ServiceStatus> = {
      restarts: sup.restarts,
      ...(exit !== undefined ? { lastExitCode: exit } : {}),
      handoffs: sup.handoffs ?? 0,
      lastHandoff: sup.lastHandoff ?? null,
    };
    if (pid === null && (sup.state === 'crash-loop' || sup.state === 'failed-start')) out.state = sup.state;
    else if (pid === null && sup.alive && (sup.state === 'backoff' || sup.state === 'consuming')) out.state = 'restarting';
    // Gave up, or keeps restarting: 2+ unexpected exits within the window, the last one inside it.
    const lastAt = sup.lastExit ? Date.parse(sup.lastExit.at) : NaN;
    const looping = (sup.recentExits ?? 0) >= 2 && Date.now() - lastAt < sup.limits.intervalMs && (pid === null || sup.alive);
    out.crashLoop = (pid === null && (sup.state === 'crash-loop' || sup.state === 'failed-start')) || looping;
    return out;
  }

  /**
   * The stop protocol's step 3 for `supervisors` (already told to let go): every gateway of this
   * home (the tracked one and any untracked one) drains, then goes; then the supervisors are reaped.
   * `spare`: a restart's standby (the ready file names it), which is not an old gateway.
   */
  async function drainAll(supervisors: readonly number[], o: StopOptions, spare: number | null = null): Promise<void> {
    const drainMs = o.drainMs ?? 20_000;
    const drain = async (): Promise<void> => {
      const tracked = await trackedPid();
      const pids = [...(tracked ? [tracked] : []), ...(await untracked(tracked))].filter((p) => p !== spare);
      if (pids.length === 0) return;
      for (const p of pids) killGroup(p, 'SIGTERM');
      const deadline = Date.now() + drainMs;
      while (Date.now() < deadline && pids.some(isRunning)) await sleep(EXIT_POLL_MS);
      if (pids.some(isRunning)) {
        for (const p of pids.filter(isRunning)) killGroup(p, 'SIGKILL');
        const hard = Date.now() + 5_000;
        while (Date.now() < hard && pids.some(isRunning)) await sleep(EXIT_POLL_MS);
      }
    };
    await drain();
    // One a supervisor SIGKILLed by the reap had just started (one that exits by itself has
    // reaped its last gateway first): looked for only then, as that scan sits inside the outage.
    if (supervisors.length > 0 && (await reapSupervisors(supervisors, drain))) await drain();
  }

  /** What a start needs, checked before anything is stopped or started: the definition (`doc`, as read) and its program. */
  async function prepareStart(doc: ProcessDoc | null): Promise<{ doc: ProcessDoc; cmd: string; args: string[]; before: number }> {
    if (!doc) {
      throw new OcError('NOT_FOUND', `no process service '${label}' is installed (${definitionPath} does not exist)`, {
        hint: 'run oc-versions service install --manager process',
      });
    }
    const [cmd, ...args] = doc.program as [string, ...string[]];
    try {
      await fsp.access(cmd, 0o1);
    } catch {
      throw new OcError('NOT_FOUND', `service program ${cmd} does not exist or is not executable`);
    }
    await fsp.mkdir(ctx.layout.serviceDir, { recursive: true });
    // Where this start's lines begin in the log (a failed start quotes its last one).
    const before = (await fsp.stat(logPath).catch(() => undefined))?.size ?? 0;
    return { doc, cmd, args, before };
  }

  async function supervisorOptions(doc: ProcessDoc, cmd: string, args: string[], limits: KeepAliveConfig) {
    return {
      // The home's node and the home's sealed copy of the supervisor, never the checkout's (home-lib.ts).
      node: ctx.runtimeNode ?? process.execPath,
      runner: (await ensureHomeLib(ctx.layout)).keepalive,
      cmd,
      args,
      env: await resolveEnv(doc),
      graceMs: opts.startGraceMs ?? 300,
      limits,
      // The supervisor carries its own mark, the gateway this home's gateway mark (each is found without its record).
      marker,
      childEnv: { [GATEWAY_MARKER_KEY]: marker },
      onSpawned: () => faultStep('spawned'), // tests: the updater dies right after the spawn
      ...(doc.workingDirectory !== undefined ? { cwd: doc.workingDirectory } : {}),
      // OpenClaw's restart handoff is consumed through the home's launcher (docs/service.md#the-restart-handoff).
      ...((await launcherPinsVersion(cmd)) ? { handoff: { current: ctx.layout.current } } : {}),
    };
  }

  /** A supervised start that did not get a gateway running: whatever it started goes too (no half-started service). */
  async function failedStart(before: number): Promise<never> {
    await mgr.stop({ drainMs: 2_000 });
    const log = ((await readTextOrNull(logPath)) ?? '').slice(before).trim();
    throw new OcError('SERVICE_ERROR', `the gateway exited right after start${log ? `: ${log.split('\n').pop()}` : ''}`, { hint: `${setupHint(log.split('\n')) ?? 'fix what its log shows'} (log: ${logPath})` });
  }

  const mgr: ServiceManager = {
    kind: 'process',
    label,
    definitionPath,

    async readDefinition() {
      const doc = await readDoc();
      if (!doc) return null;
      // Secret refs resolve to the value when the store or the environment has it (in memory only).
      const resolved = await resolveEnv(doc);
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(doc.env)) {
        const ref = parseSecretRef(v);
        env[k] = ref ? (resolved[k] ?? `oc-secret:${ref.name}`) : (v as string);
      }
      return {
        manager: 'process',
        label: doc.label,
        program: doc.program,
        env,
        envFiles: doc.envFiles ?? [],
        ...(doc.workingDirectory !== undefined ? { workingDirectory: doc.workingDirectory } : {}),
        extra: null,
      };
    },

    async writeDefinition(def: ServiceDefinition) {
      const env: ProcessDoc['env'] = await envToSecretRefs(label, def.env, pattern, store);
      const doc: ProcessDoc = {
        label,
        program: def.program,
        env,
        envFiles: def.envFiles,
        ...(def.workingDirectory !== undefined ? { workingDirectory: def.workingDirectory } : {}),
      };
      await writeJsonAtomic(definitionPath, doc, 0o600);
    },

    async reload() {
      // process.json is read at every start.
    },

    async install(def) {
      await mgr.writeDefinition(def);
      await mgr.restart({});
    },

    async uninstall() {
      await mgr.stop({});
      await fsp.rm(definitionPath, { force: true });
    },

    async start() {
      const supervisors = await liveSupervisors(ctx.layout, marker, homeNames);
      if (supervisors.length > 0) {
        // One supervisor and no stop under way: it runs the gateway, or starts it again after its
        // backoff; a second one would race it for the port. More than one, or a stop that was
        // interrupted (its intent is still there): finish that stop, then start afresh.
        if (supervisors.length === 1 && !(await exists(ctx.layout.gatewayStopIntent))) {
          // Its gateway's pidfile lost (or not yet written): record the one gateway of this home.
          if (!(await trackedPid())) {
            const strays = await untracked(null);
            if (strays.length === 1) await writePidFile(strays[0]!);
          }
          return;
        }
        await mgr.stop({ ...(ctx.drainMs !== undefined ? { drainMs: ctx.drainMs } : {}) });
      }
      if (await trackedPid()) return;
      const strays = await untracked(null);
      if (strays.length === 1) {
        // Started by an updater that died before writing the pidfile: track it, do not start a second one.
        await writePidFile(strays[0]!);
        return;
      }
      if (strays.length > 1) await mgr.stop({ ...(ctx.drainMs !== undefined ? { drainMs: ctx.drainMs } : {}) });
      const { doc, cmd, args, before } = await prepareStart(await readDoc());
      if (ctx.keepAlive) {
        // Keep-alive: a detached supervisor runs the launcher and restarts it on a crash (keepalive.ts).
        const r = await startSupervised(ctx.layout, await supervisorOptions(doc, cmd, args, ctx.keepAlive));
        if (!r.ok) await failedStart(before);
        return;
      }
      await fsp.rm(ctx.layout.gatewayStopIntent, { force: true });
      const pid = spawnDetached(cmd, args, {
        env: { ...(await resolveEnv(doc)), [GATEWAY_MARKER_KEY]: marker },
        logFile: logPath,
        ...(doc.workingDirectory !== undefined ? { cwd: doc.workingDirectory } : {}),
      });
      faultStep('spawned'); // tests: the updater dies (or throws) between the spawn and the pidfile
      await writePidFile(pid);
      // A launcher that cannot find `current` exits at once (127): report it now.
      const grace = opts.startGraceMs ?? 300;
      for (let waited = 0; waited < grace; waited += 50) {
        await sleep(50);
        if (!isRunning(pid)) {
          await fsp.rm(pidPath, { force: true });
          const log = ((await readTextOrNull(logPath)) ?? '').slice(before).trim();
          throw new OcError('SERVICE_ERROR', `the gateway exited right after start${log ? `: ${log.split('\n').pop()}` : ''}`, {
            hint: `${setupHint(log.split('\n')) ?? 'fix what its log shows'} (log: ${logPath})`,
          });
        }
      }
    },

    async stop(o: StopOptions = {}) {
      // Our own stop is never a crash: the stop intent first, then every supervisor of this home
      // lets go (keepalive.ts, the stop protocol), then the gateways drain.
      await drainAll(await stopSupervisors(ctx.layout, marker, homeNames), o);
      await fsp.rm(pidPath, { force: true });
    },

    async restart(o: StopOptions = {}) {
      const keepAlive = ctx.keepAlive;
      const doc = keepAlive ? await readDoc() : null;
      if (!keepAlive || !doc) {
        await mgr.stop(o);
        await mgr.start();
        return;
      }
      // Keep-alive: a hand-over (keepalive.ts, HandOver). Everything that can refuse (the program,
      // the secret store) is asked before anything stops; then the stop intent, the new supervisor
      // and its standby (their node starts overlap the old gateway's service, not the outage), the
      // drain, and the new gateway.
      const { cmd, args, before } = await prepareStart(doc);
      const sup = await supervisorOptions(doc, cmd, args, keepAlive);
      const standby = await launcherTakesStandby(cmd);
      const token = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const supervisors = await stopSupervisors(ctx.layout, marker, homeNames, token);
      const tracked = await trackedPid();
      const old = [...supervisors, ...(tracked ? [tracked] : []), ...(await untracked(tracked))];
      const drainMs = o.drainMs ?? 20_000;
      const readyFile = ctx.layout.gatewayHandOverReady;
      await fsp.rm(readyFile, { force: true });
      const next = spawnSupervisor(ctx.layout, {
        ...sup,
        handOver: { pids: old, token, restarter: process.pid, deadline: Date.now() + drainMs + 45_000, readyFile, ...(standby ? { standby } : {}) },
      });
      // The old gateway serves on while the new supervisor boots and its standby parks; the drain
      // (the outage) starts once it waits (a supervisor that died or is late: the drain goes
      // ahead, and the wait for its gateway below reports it).
      const ready = await awaitHandOverReady(readyFile, next, token);
      // Only the old job drains: the new supervisor lets nothing run before markDrained, so every
      // gateway the drain finds is an old one, but for the standby its ready file names.
      await drainAll(supervisors, o, ready === false ? null : ready);
      // The pidfile names an old gateway (or a dead one) until the new supervisor replaces it:
      // read before markDrained lets it.
      const stale = (await readJson<PidFile>(pidPath).catch(() => undefined))?.pid;
      await markDrained(ctx.layout, token, next);
      const r = await awaitSupervisedGateway(ctx.layout, next, sup.graceMs, stale ? [...old, stale] : old);
      if (!r.ok) await failedStart(before);
    },

    async status(): Promise<ServiceStatus> {
      const pid = await runningPid();
      const entry = pid ? await entryOfPid(pid) : null;
      const installed = (await readTextOrNull(definitionPath)) !== null;
      return {
        manager: 'process',
        label,
        installed,
        running: pid !== null,
        pid,
        entry,
        version: versionOfEntry(entry, ctx.layout.versionsDir),
        definitionPath,
        state: pid ? 'running' : 'stopped',
        log: logPath,
        ...(await keepAliveStatus(pid)),
      };
    },
  };
  return mgr;
}

export const processBackend: Backend = {
  kind: 'process',
  defaultLabel: 'ai.openclaw.gateway',
  create: (ctx, opts) => createProcessManager(ctx, opts),
  identityEnv: () => ({}),
  gatewayLog: (layout) => layout.gatewayLog,
  restartAfterReload: false,
};
