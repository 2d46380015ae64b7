/**
 * `oc-versions service install|adopt|restore|uninstall|start|stop|restart|status`.
 * Mutating subcommands hold the lock; status never waits for it.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { EXIT, OcError } from '../errors.js';
import { saveConfig, type Config } from '../core/config.js';
import { findSecretFlag } from '../secrets/redact.js';
import { isSecretKey, parseSecretRef, secretName, type SecretStore } from '../secrets/types.js';
import {
  checkAdoptionInputs,
  keepOriginal,
  entryOfProgram,
  originalPathFor,
  packageCliOf,
  packageVersionOfEntry,
  versionManagedNode,
  type AdoptedRecord,
  planAdoption,
  readAdoptedRecord,
  saveAdoptedRecord,
  storeSecrets,
  adoptedRecordPath,
} from '../service/adopt.js';
import {
  buildDefinitionRecord,
  captureEnvValues,
  captureServiceEnv,
  checkAndRestoreDefinition,
  hashFile,
  readDefinitionRecord,
  recordPath,
  saveDefinitionRecord,
  EXTERNAL_SUPERVISOR_ENV,
  type DefinitionCheck,
} from '../service/definition.js';
import { backendOf, defaultLabel, detectManagerKind, homeLabel, parseManagerKind } from '../service/index.js';
import { assertLauncher } from '../service/launcher.js';
import { ensureHomeLib, pruneHomeLibs } from '../service/home-lib.js';
import { applyServiceNode, planServiceNode } from '../app/runtime.js';
import type { ManagerKind, ServiceDefinition, ServiceManager } from '../service/types.js';
import type { CommandContext } from '../app/context.js';
import { mutating } from '../app/session.js';
import { openService } from '../app/service.js';
import { gateService, gateStart } from '../app/gate.js';
import { switchTo } from '../app/home.js';
import { readCurrent, readSeal } from '../core/store.js';
import { createSnapshot } from '../service/snapshot.js';
import { exists } from '../os/fs.js';
import { processesUnder, run as runProcess, sleep } from '../os/proc.js';
import { listStateDatabases, resolveStateDir } from '../openclaw/state.js';
import { copyDatabase } from '../openclaw/sqlite.js';

export interface ServiceOptions {
  manager?: string;
  label?: string;
  plist?: string;
  unit?: string;
  drainMs?: number | string;
  secretStore?: string;
  /** adopt: the node the launcher runs (default: the node the definition ran); install: the node the home runs (config.runtimeNode; default: the configured one, copied into runtimes/ when it lies in a node_modules or a checkout). */
  node?: string;
  /** install: env keys whose values are read once from this environment into the secret store. */
  env?: string[];
  /** install: env files the job reads at each start (never copied). */
  envFile?: string[];
  /** install (process backend): `false` (--no-keep-alive) turns the keep-alive supervisor off; absent: on. */
  keepAlive?: false;
  /** uninstall-all: really do it (without: print what would go, change nothing). */
  yes?: boolean;
}

export const SERVICE_SUBCOMMANDS = ['install', 'adopt', 'restore', 'uninstall', 'start', 'stop', 'restart', 'status'] as const;
// (`uninstall-all` is its own top-level command, routed here: it is the service's hand back plus the home.)

function drainOf(ctx: CommandContext, opts: ServiceOptions): number {
  if (opts.drainMs === undefined) return ctx.config.service.drainMs;
  const n = Number(opts.drainMs);
  if (!Number.isFinite(n) || n < 0) throw new OcError('INVALID_INPUT', `--drain-ms must be a number of milliseconds, got '${opts.drainMs}'`);
  return n;
}

async function saveServiceConfig(ctx: CommandContext, patch: Partial<Config['service']> | null): Promise<void> {
  const service: Config['service'] = patch === null ? { drainMs: ctx.config.service.drainMs, startDeadlineMs: ctx.config.service.startDeadlineMs } : { ...ctx.config.service, ...patch };
  ctx.config.service = service;
  await saveConfig(ctx.layout, ctx.config);
}

function checkSummary(c: DefinitionCheck): string {
  const parts: string[] = [];
  if (c.restoredKeys.length > 0) parts.push(`restored env keys: ${c.restoredKeys.join(', ')}`);
  if (c.programRestored) parts.push('re-pointed the program at the launcher');
  if (c.unrestorableKeys.length > 0) parts.push(`MISSING env keys (no value to restore): ${c.unrestorableKeys.join(', ')}`);
  return parts.join('; ');
}

/** Run `op`, then check the definition against the record, restoring missing env keys. */
async function withDefinitionCheck(
  ctx: CommandContext,
  mgr: ServiceManager,
  store: SecretStore,
  op: () => Promise<void>,
): Promise<DefinitionCheck | null> {
  const found = await readDefinitionRecord(ctx.layout);
  const record = found && found.label === mgr.label && found.manager === mgr.kind ? found : undefined;
  const memory = record ? await captureServiceEnv(mgr, record) : undefined;
  await op();
  if (!record) return null;
  const check = await checkAndRestoreDefinition({
    manager: mgr,
    record,
    layout: ctx.layout,
    ...(memory ? { memory } : {}),
    store,
    secretPattern: ctx.config.secretPattern,
    launcher: ctx.layout.gatewayShim,
  });
  if (check.rewritten) {
    ctx.out.warn(`the service definition had changed: ${checkSummary(check)}; restarting with the restored definition`);
    await mgr.reload();
    await mgr.restart({ drainMs: ctx.config.service.drainMs });
  } else if (check.unrestorableKeys.length > 0) {
    ctx.out.warn(checkSummary(check));
  }
  return check;
}

export async function run(ctx: CommandContext, sub: string, args: string[] = [], opts: ServiceOptions = {}): Promise<void | number> {
  switch (sub) {
    case 'install':
      return install(ctx, args, opts);
    case 'adopt':
      return adopt(ctx, opts);
    case 'restore':
      return restore(ctx, opts);
    case 'uninstall':
      return uninstall(ctx, opts);
    case 'start':
    case 'stop':
    case 'restart':
      return control(ctx, sub, opts);
    case 'status':
      return status(ctx, opts);
    case 'uninstall-all':
      return uninstallAll(ctx, opts);
    default:
      throw new OcError('USAGE', `unknown service subcommand '${sub}' (${SERVICE_SUBCOMMANDS.join(', ')})`);
  }
}

function listOpt(v: string[] | string | undefined): string[] {
  return v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String);
}

/**
 * `--env KEY` (value read once from this environment) and `--env-file PATH` (read by the
 * job at each start, never copied). A process service keeps --env values only in the
 * secret store (process.json holds references), so without a store it is refused: the
 * value would otherwise have to be written in plaintext under the home.
 */
async function passedEnv(
  ctx: CommandContext,
  kind: ManagerKind,
  store: SecretStore,
  opts: ServiceOptions,
): Promise<{ values: Record<string, string>; envFiles: string[]; secretPattern: string }> {
  const keys = listOpt(opts.env);
  const files = listOpt(opts.envFile);
  let secretPattern = ctx.config.secretPattern;
  const values: Record<string, string> = {};
  for (const k of keys) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new OcError('INVALID_INPUT', `--env takes a variable name (KEY), not '${k.split('=')[0]}=…'`, { hint: 'export KEY=value in this shell, then pass --env KEY' });
    const v = ctx.env[k];
    if (v === undefined) throw new OcError('INVALID_INPUT', `--env ${k}: ${k} is not set in this environment`, { hint: `export ${k}=… first (it is read once and kept in the secret store)` });
    values[k] = v;
    if (!isSecretKey(k, secretPattern)) secretPattern = `${secretPattern}|^${k}$`;
  }
  if (keys.length > 0 && kind === 'process' && !(store.kind !== 'none' && (await store.available()))) {
    throw new OcError('ENVIRONMENT', `no secret store to keep ${keys.join(', ')}: refusing to write the value in plaintext under ${ctx.layout.home}`, {
      hint: 'use a secret store (macOS Keychain; on Linux a Secret Service such as gnome-keyring or KeePassXC on the session bus, OC_VERSIONS_SECRET_STORE=secret-service), or put the values in a file only you can read and pass --env-file PATH (read at each start, never copied)',
    });
  }
  for (const f of files) {
    if (kind === 'launchd') throw new OcError('USAGE', '--env-file is not supported by launchd (a LaunchAgent has no env files); use --env KEY', {});
    if (kind === 'systemd') throw new OcError('USAGE', '--env-file: add EnvironmentFile= to the unit and adopt it, or use --env KEY', {});
    if (!path.isAbsolute(f)) throw new OcError('INVALID_INPUT', `--env-file must be an absolute path, got '${f}'`);
    if (f === ctx.layout.home || f.startsWith(ctx.layout.home + path.sep)) throw new OcError('INVALID_INPUT', `--env-file ${f} lies under the oc-versions home, which never holds secret values`);
    try {
      await fsp.access(f, fsp.constants.R_OK);
    } catch {
      throw new OcError('NOT_FOUND', `--env-file ${f} does not exist or is not readable`);
    }
  }
  return { values, envFiles: files, secretPattern };
}

async function install(ctx: CommandContext, args: string[], opts: ServiceOptions): Promise<void> {
  const kind = parseManagerKind(opts.manager) ?? ctx.config.service.manager ?? (await detectManagerKind(ctx.env, process.platform, { strict: true }));
  let label = opts.label ?? defaultLabel(kind, ctx.layout);
  const launcher = ctx.layout.gatewayShim;
  if (opts.keepAlive === false && kind !== 'process') {
    throw new OcError('USAGE', `--no-keep-alive is for the process backend; ${kind} restarts the gateway itself (${kind === 'launchd' ? 'KeepAlive' : 'Restart='})`, {
      hint: 'drop --no-keep-alive, or install with --manager process',
    });
  }
  await assertLauncher(launcher);
  // Keep-alive (process backend): on unless --no-keep-alive; limits set in config.json stay.
  const keepAliveBefore = JSON.stringify(ctx.config.service.keepAlive ?? null);
  const keepAlive: Config['service']['keepAlive'] = opts.keepAlive === false ? false : ctx.config.service.keepAlive === false ? undefined : ctx.config.service.keepAlive;
  if (kind === 'process') {
    if (keepAlive === undefined) delete ctx.config.service.keepAlive;
    else ctx.config.service.keepAlive = keepAlive;
  }
  let { mgr, store } = await openService(ctx, { ...opts, manager: kind, label });
  if (!opts.label && kind !== 'process') {
    // OpenClaw's name is taken by another oc-versions home's service: this home gets its own.
    const taken = await mgr.readDefinition().catch(() => null);
    const otherHome = taken?.program.find((a) => a !== launcher && a.endsWith(`${path.sep}bin${path.sep}openclaw-gateway`));
    if (taken && otherHome) {
      label = homeLabel(kind, ctx.layout);
      ctx.out.progress(`${mgr.label} runs another oc-versions home (${otherHome}); this home's service is ${label}`);
      ({ mgr, store } = await openService(ctx, { ...opts, manager: kind, label }));
    }
  }
  const backend = backendOf(kind);
  const existing = await mgr.readDefinition();
  if (existing && !existing.program.includes(launcher)) {
    throw new OcError('REFUSED', `${mgr.definitionPath} already exists and does not run through oc-versions`, {
      hint: 'take it over with oc-versions service adopt (keeps its environment), or remove it first',
    });
  }
  const gatewayArgs = args.length > 0 ? args : (ctx.config.service.gatewayArgs ?? ['gateway', 'run']);
  // Arguments are stored in config.json and the definition: a secret there would sit in plaintext.
  const secretFlag = findSecretFlag(gatewayArgs);
  if (secretFlag) {
    throw new OcError('INVALID_INPUT', `refusing to store ${secretFlag.split('=')[0]} in the service arguments (it would be written in plaintext)`, {
      hint: 'put the value in the environment instead, e.g. OPENCLAW_GATEWAY_TOKEN (kept in the secret store where one exists)',
    });
  }
  const passed = await passedEnv(ctx, kind, store, opts);
  // The node the service runs: --node, else never one inside a checkout (copied into runtimes/).
  const nodePlan = await planServiceNode(ctx, opts.node);
  const widened = passed.secretPattern !== ctx.config.secretPattern;
  if (widened) {
    // The backend writes keys matching the pattern as secret-store references: open it with the new one.
    ctx.config.secretPattern = passed.secretPattern;
    ({ mgr, store } = await openService(ctx, { ...opts, manager: kind, label }));
  }
  const env: Record<string, string> = {
    ...(backend.freshEnv?.(ctx.env) ?? {}),
    ...(existing?.env ?? {}),
    ...passed.values,
    ...EXTERNAL_SUPERVISOR_ENV,
    OPENCLAW_SERVICE_MARKER: 'openclaw',
    OPENCLAW_SERVICE_KIND: 'gateway',
  };
  Object.assign(env, backend.identityEnv(mgr.label));
  const def: ServiceDefinition = {
    manager: kind,
    label: mgr.label,
    program: [launcher, ...gatewayArgs],
    env,
    envFiles: [...new Set([...(existing?.envFiles ?? []), ...passed.envFiles])],
    extra: existing?.extra ?? null,
  };
  if (backend.defaultLogPath) {
    const log = backend.defaultLogPath(ctx.env);
    def.stdoutPath = existing?.stdoutPath ?? log;
    def.stderrPath = existing?.stderrPath ?? log;
  }
  // The gateway that runs now (a re-install restarts it: the gate waits for another pid).
  const prePid = existing ? ((await mgr.status().catch(() => null))?.pid ?? null) : null;
  const changed = await mutating(ctx, 'service install', async () => {
    // A re-run with nothing to change (same definition, same configuration — keep-alive included —
    // running) leaves the gateway alone: no rewrite, no restart, `changed: false`.
    const keepAliveSame = keepAliveBefore === JSON.stringify(ctx.config.service.keepAlive ?? null);
    if (!widened && keepAliveSame && nodePlan.same && existing && sameDefinition(existing, def)) {
      const record = await readDefinitionRecord(ctx.layout);
      const svc = ctx.config.service;
      const configured =
        record?.manager === kind && record.label === mgr.label && svc.manager === kind && svc.label === mgr.label && svc.definitionPath === mgr.definitionPath && !svc.adopted && JSON.stringify(svc.gatewayArgs ?? null) === JSON.stringify(gatewayArgs);
      if (configured && (await mgr.status()).running) return false;
    }
    ctx.out.progress(`installing ${kind} service ${mgr.label}`);
    // A key passed with --env is a secret wherever oc-versions meets it (records, snapshots, logs).
    if (widened) await saveConfig(ctx.layout, ctx.config);
    if (!nodePlan.same) {
      await applyServiceNode(ctx, nodePlan);
      // Reopened: the backend runs its supervisor on the node just chosen.
      ({ mgr } = await openService(ctx, { ...opts, manager: kind, label }));
    }
    await mgr.install(def);
    await saveDefinitionRecord(ctx.layout, await buildDefinitionRecord(mgr, def, false));
    await saveServiceConfig(ctx, { manager: kind, label: mgr.label, definitionPath: mgr.definitionPath, gatewayArgs, adopted: false });
    await backend.recoveryAgent?.install(ctx.layout, ctx.config, ctx.env);
    // Older builds' copies no process runs any more.
    await pruneHomeLibs(ctx.layout, (await ensureHomeLib(ctx.layout)).dir);
    return true;
  }, 'keep-degraded');
  // Installed is not enough: the gateway must come up (exit 7 with the end of its log if not).
  const gate = await gateStart(ctx, mgr, changed ? prePid : null, `${changed ? 'installed' : 'already installed:'} ${kind} service ${mgr.label} (${mgr.definitionPath})`, changed);
  const st = await mgr.status();
  ctx.out.result(
    `${changed ? 'installed' : 'already installed as asked:'} ${kind} service ${mgr.label} (${mgr.definitionPath})\n${st.running ? `running, pid ${st.pid}` : 'not running'}${gate.pid ? `; responsive in ${gate.ms} ms` : ''}\n  node: ${ctx.config.runtimeNode}${st.log ? `\n  log: ${st.log}` : ''}`,
    { changed, action: 'install', manager: kind, label: mgr.label, definitionPath: mgr.definitionPath, program: def.program, node: ctx.config.runtimeNode, running: st.running, pid: st.pid, responsive: { ms: gate.ms, detail: gate.detail }, log: st.log ?? null },
  );
}

/** The same program, environment and env files (what install would write; the backend's own keys are kept from the existing one). */
function sameDefinition(a: ServiceDefinition, b: ServiceDefinition): boolean {
  const env = (e: Record<string, string>) => JSON.stringify(Object.entries(e).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return JSON.stringify(a.program) === JSON.stringify(b.program) && env(a.env) === env(b.env) && JSON.stringify(a.envFiles) === JSON.stringify(b.envFiles) && a.workingDirectory === b.workingDirectory;
}

/** What adopt must put back when the gate refuses the restart onto the launcher. */
interface AdoptUndo {
  definitionText: Buffer;
  createdOriginal: boolean;
  previousRecord: AdoptedRecord | undefined;
  previousDefinitionRecord: Awaited<ReturnType<typeof readDefinitionRecord>>;
  previousService: Config['service'];
  previousCurrent: string | null;
  storedSecrets: string[];
}

/** The version the gateway runs now: the running process's entry first, else the definition's. */
async function runningVersion(ctx: CommandContext, mgr: ServiceManager, planEntry: string | null): Promise<{ version: string | null; source: string; pid: number | null }> {
  const st = await mgr.status();
  if (st.running && st.entry) {
    const v = st.version ?? (await packageVersionOfEntry(st.entry));
    if (v) return { version: v, source: `the running process (pid ${st.pid}, ${st.entry})`, pid: st.pid };
  }
  const fromDef = await packageVersionOfEntry(planEntry);
  if (fromDef) return { version: fromDef, source: `the definition's entry (${planEntry})`, pid: st.running ? st.pid : null };
  if (!planEntry) {
    const cur = await readCurrent(ctx.layout);
    if (cur) return { version: cur, source: 'current (the definition already runs through the launcher)', pid: st.running ? st.pid : null };
  }
  return { version: null, source: '', pid: st.running ? st.pid : null };
}

async function adopt(ctx: CommandContext, opts: ServiceOptions): Promise<number> {
  if (opts.plist && opts.unit) throw new OcError('USAGE', 'give --plist or --unit, not both');
  // --plist names a LaunchAgent, --unit a systemd unit; otherwise --manager or the platform's.
  const kind: ManagerKind = opts.plist ? 'launchd' : opts.unit ? 'systemd' : (parseManagerKind(opts.manager) ?? ctx.config.service.manager ?? (await detectManagerKind(ctx.env, process.platform, { strict: true })));
  const backend = backendOf(kind);
  if (!backend.adopt) throw new OcError('USAGE', 'adopt takes over a launchd or systemd service (--plist PATH or --unit PATH)');
  const definitionPath = opts.plist ?? opts.unit;
  let label = opts.label;
  if (definitionPath && !label) label = await backend.adopt.labelOf(definitionPath, ctx.env);
  label ??= defaultLabel(kind);
  const launcher = ctx.layout.gatewayShim;
  const { mgr, store } = await openService(ctx, { ...opts, manager: kind, label, ...(definitionPath ? { definitionPath } : {}) });

  // Validate everything before writing anything.
  const def = await mgr.readDefinition();
  if (!def) {
    throw new OcError('NOT_FOUND', `no ${kind} service '${label}': ${mgr.definitionPath} does not exist`, {
      hint: 'pass the definition with --plist PATH / --unit PATH, or the label with --label',
    });
  }
  await assertLauncher(launcher);
  await checkAdoptionInputs(def);
  if (opts.node !== undefined && !path.isAbsolute(opts.node)) throw new OcError('INVALID_INPUT', `--node must be an absolute path, got '${opts.node}'`);
  const plan = planAdoption(def, launcher, opts.node !== undefined ? { node: opts.node } : {});
  // The version the gateway runs now: adopt makes it current and restarts onto it, never onto another.
  const running = await runningVersion(ctx, mgr, plan.entry);
  if (!running.version) {
    throw new OcError('NOT_FOUND', `cannot tell which OpenClaw version ${mgr.label} runs (no package.json above ${plan.entry ?? 'its entry'})`, {
      hint: 'start the service so its process can be read, or repair its definition first',
    });
  }
  const version = running.version;
  if (!(await readSeal(ctx.layout, version))) {
    throw new OcError('NOT_INSTALLED', `the gateway runs ${version} (from ${running.source}), which is not installed side by side`, {
      hint: `oc-versions install ${version}${ctx.registry ? ` --registry ${ctx.registry}` : ''} && oc-versions service adopt${opts.plist ? ` --plist ${opts.plist}` : opts.unit ? ` --unit ${opts.unit}` : ''}`,
    });
  }
  // A definition without its own node runs the home's: never one inside a checkout (copied into runtimes/).
  const nodePlan = plan.node ? null : await planServiceNode(ctx, undefined);
  const managedBy = versionManagedNode(plan.node);
  if (managedBy) {
    ctx.out.warn(`the service's node ${plan.node} lives under a ${managedBy} versioned path: removing that node version breaks the gateway; pass --node PATH for a stable node`);
  }
  const memory = await captureEnvValues(def);

  const result = await mutating(ctx, 'service adopt', async () => {
    const previousCurrent = await readCurrent(ctx.layout);
    const previousRecord = await readAdoptedRecord(ctx.layout);
    const undo: AdoptUndo = {
      definitionText: await fsp.readFile(mgr.definitionPath),
      createdOriginal: !(await exists(originalPathFor(mgr.definitionPath))),
      previousRecord,
      previousDefinitionRecord: await readDefinitionRecord(ctx.layout),
      previousService: { ...ctx.config.service },
      previousCurrent,
      storedSecrets: [],
    };
    // 1. The running version becomes current: nothing restarts, the launcher would now run what runs.
    if (previousCurrent !== version) {
      ctx.out.progress(`making ${version} current (the version the gateway runs; no restart)`);
      await switchTo(ctx, version, 'adopt');
    }
    if (nodePlan && !nodePlan.same) await applyServiceNode(ctx, nodePlan);
    // 2. A snapshot of the definition (secret values as references) before it is rewritten.
    const snap = await createSnapshot({ layout: ctx.layout, config: ctx.config, env: ctx.env }, { reason: 'adopt', manager: mgr, store });
    // 3. The original beside itself, then the rewrite.
    const original = await keepOriginal(mgr.definitionPath);
    const storedSecrets = await storeSecrets(mgr.label, memory, ctx.config.secretPattern, store);
    if (!previousRecord) undo.storedSecrets = storedSecrets;
    await mgr.writeDefinition(plan.definition);
    await saveAdoptedRecord(ctx.layout, {
      manager: kind,
      label: mgr.label,
      definitionPath: mgr.definitionPath,
      originalPath: original.path,
      originalSha256: previousRecord?.definitionPath === mgr.definitionPath ? previousRecord.originalSha256 : original.sha256,
      layout: plan.layout,
      adoptedAt: new Date().toISOString(),
      storedSecrets,
      ...(previousRecord?.originalVersion !== undefined ? { originalVersion: previousRecord.originalVersion } : { originalVersion: version }),
    });
    const record = await buildDefinitionRecord(mgr, plan.definition, true);
    await saveDefinitionRecord(ctx.layout, record);
    await saveServiceConfig(ctx, { manager: kind, label: mgr.label, definitionPath: mgr.definitionPath, adopted: true });
    // 4. The one restart onto the launcher, through the health gate.
    ctx.out.progress(`restarting ${mgr.label} through the launcher on ${version}`);
    await mgr.reload();
    if (backend.restartAfterReload) await mgr.restart({ drainMs: drainOf(ctx, opts) });
    const check = await checkAndRestoreDefinition({
      manager: mgr,
      record,
      layout: ctx.layout,
      memory,
      store,
      secretPattern: ctx.config.secretPattern,
      launcher,
      reload: true,
    });
    if (check.rewritten) await mgr.restart({ drainMs: drainOf(ctx, opts) });
    const gate = await gateService(ctx, version, running.pid);
    if (!gate.ok) {
      ctx.out.progress(`the gate refused the restart onto the launcher (${gate.reason}); putting the original definition back`);
      await undoAdoption(ctx, mgr, store, undo, drainOf(ctx, opts));
      return { ok: false as const, gate, snapshot: snap.txid, check };
    }
    await backend.recoveryAgent?.install(ctx.layout, ctx.config, ctx.env);
    return { ok: true as const, gate, snapshot: snap.txid, original, storedSecrets, check, previousCurrent };
  }, 'keep-degraded');
  const st = await mgr.status();
  const stages = result.gate.stages;
  if (!result.ok) {
    const human = [
      `adopt of ${kind} service ${mgr.label}: ROLLED BACK (the original definition is back)`,
      ...stages.map((s) => `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.name} (${s.ms} ms): ${s.detail}`),
      `  ${st.running ? `running the original again, pid ${st.pid}` : 'NOT running after the original definition was restored'}`,
    ];
    ctx.out.result(human.join('\n'), {
      // The gateway was restarted onto the launcher and back: a change, though the definition is the original again.
      changed: true,
      action: 'adopt',
      outcome: 'rolled-back',
      manager: kind,
      label: mgr.label,
      version,
      reason: result.gate.reason,
      stages,
      snapshot: result.snapshot,
      running: st.running,
      pid: st.pid,
    });
    return EXIT.ROLLED_BACK;
  }
  const secretKeys = Object.keys(memory).filter((k) => isSecretKey(k, ctx.config.secretPattern)).sort();
  const human = [
    `adopted ${kind} service ${mgr.label} (${plan.layout} layout) on ${version}`,
    `  version: ${version} (from ${running.source}; now current)`,
    `  definition: ${mgr.definitionPath}`,
    `  original kept at: ${result.original.path} (for oc-versions service restore)`,
    `  snapshot: ${result.snapshot}`,
    `  program: ${plan.definition.program.join(' ')}`,
    `  node: ${plan.node ?? `${ctx.config.runtimeNode} (oc-versions' own)`}`,
    `  env keys kept: ${Object.keys(memory).length}${secretKeys.length > 0 ? ` (secret: ${secretKeys.join(', ')}; ${result.storedSecrets.length > 0 ? `copied to the ${store.kind} store` : 'no secret store: values stay only in the definition'})` : ''}`,
    ...stages.map((s) => `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.name} (${s.ms} ms): ${s.detail}`),
    `  ${st.running ? `running, pid ${st.pid}${st.version ? `, version ${st.version}` : ''}` : 'not running'}`,
  ];
  ctx.out.result(human.join('\n'), {
    changed: true,
    action: 'adopt',
    outcome: 'adopted',
    manager: kind,
    label: mgr.label,
    layout: plan.layout,
    version,
    versionSource: running.source,
    previousCurrent: result.previousCurrent,
    node: plan.node,
    nodeManagedBy: managedBy,
    definitionPath: mgr.definitionPath,
    originalPath: result.original.path,
    snapshot: result.snapshot,
    programBefore: plan.before.length,
    program: plan.definition.program,
    envKeys: Object.keys(memory).sort(),
    secretKeys,
    secretStore: store.kind,
    storedSecrets: result.storedSecrets,
    check: result.check,
    stages,
    running: st.running,
    pid: st.pid,
  });
  return EXIT.OK;
}

/** Put back what adopt changed: the definition byte for byte, the records, config, current. */
async function undoAdoption(ctx: CommandContext, mgr: ServiceManager, store: SecretStore, undo: AdoptUndo, drainMs: number): Promise<void> {
  const tmp = `${mgr.definitionPath}.oc-restore-${process.pid}`;
  await fsp.writeFile(tmp, undo.definitionText, { mode: 0o600 });
  await fsp.chmod(tmp, (await fsp.stat(mgr.definitionPath).catch(() => undefined))?.mode ?? 0o644);
  await fsp.rename(tmp, mgr.definitionPath);
  await mgr.reload();
  if (backendOf(mgr.kind).restartAfterReload) await mgr.restart({ drainMs });
  if (undo.createdOriginal) await fsp.rm(originalPathFor(mgr.definitionPath), { force: true });
  for (const name of undo.storedSecrets) await store.delete(name).catch(() => {});
  if (undo.previousRecord) await saveAdoptedRecord(ctx.layout, undo.previousRecord);
  else await fsp.rm(adoptedRecordPath(ctx.layout), { force: true });
  if (undo.previousDefinitionRecord) await saveDefinitionRecord(ctx.layout, undo.previousDefinitionRecord);
  else await fsp.rm(recordPath(ctx.layout), { force: true });
  ctx.config.service = undo.previousService;
  await saveConfig(ctx.layout, ctx.config);
  if (undo.previousCurrent && undo.previousCurrent !== (await readCurrent(ctx.layout))) await switchTo(ctx, undo.previousCurrent, 'adopt-undone');
}

async function restore(ctx: CommandContext, opts: ServiceOptions): Promise<void> {
  const rec = await readAdoptedRecord(ctx.layout);
  if (!rec) throw new OcError('NOT_FOUND', 'no adopted service to restore', { hint: 'service restore undoes service adopt' });
  try {
    await fsp.access(rec.originalPath);
  } catch {
    throw new OcError('NOT_FOUND', `the adopted original ${rec.originalPath} is gone; cannot restore`);
  }
  const { mgr, store } = await openService(ctx, { ...opts, manager: rec.manager, label: rec.label, definitionPath: rec.definitionPath });
  // Before the original is written back: launchd without a GUI session could not load it.
  await mgr.ready?.();
  const preflight = await restorePreflight(ctx, rec);
  await mutating(ctx, 'service restore', async () => {
    const tmp = `${rec.definitionPath}.oc-restore-${process.pid}`;
    await fsp.copyFile(rec.originalPath, tmp);
    await fsp.chmod(tmp, (await fsp.stat(rec.definitionPath).catch(() => undefined))?.mode ?? 0o644);
    await fsp.rename(tmp, rec.definitionPath);
    await mgr.reload();
    if (backendOf(rec.manager).restartAfterReload) await mgr.restart({ drainMs: drainOf(ctx, opts) });
    await fsp.rm(rec.originalPath, { force: true });
    for (const name of rec.storedSecrets) await store.delete(name).catch(() => {});
    await fsp.rm(adoptedRecordPath(ctx.layout), { force: true });
    await fsp.rm(recordPath(ctx.layout), { force: true });
    await saveServiceConfig(ctx, null);
    await backendOf(rec.manager).recoveryAgent?.uninstall(ctx.layout, ctx.env);
  }, 'keep-degraded');
  const same = (await hashFile(rec.definitionPath)) === rec.originalSha256;
  ctx.out.result(`restored the original ${rec.manager} service ${rec.label} (${rec.definitionPath})${preflight.detail ? `\n  ${preflight.detail}` : ''}`, {
    changed: true,
    action: 'restore',
    preflight,
    manager: rec.manager,
    label: rec.label,
    definitionPath: rec.definitionPath,
    identicalToOriginal: same,
  });
}

/**
 * Before handing back: the original definition's entry must still exist, and the original
 * version must be able to open the state as it is now (a newer version may have migrated it):
 * its own CLI runs `database preflight <copy> --json` on a consistent copy of the state DB.
 * A refusal names the exact next step; nothing is changed.
 */
async function restorePreflight(ctx: CommandContext, rec: AdoptedRecord): Promise<{ entry: string | null; checked: boolean; detail: string }> {
  const { mgr: origMgr } = await openService(ctx, { manager: rec.manager, label: rec.label, definitionPath: rec.originalPath, secretStore: 'none' });
  const orig = await origMgr.readDefinition();
  const found = orig ? entryOfProgram(orig.program) : null;
  if (!orig || !found) return { entry: null, checked: false, detail: '' };
  const installCmd = `npm install -g ${ctx.config.package}@${rec.originalVersion ?? '<the version it ran>'}`;
  if (!(await exists(found.entry))) {
    throw new OcError('REFUSED', `the original definition runs ${found.entry}, which no longer exists; restoring it would leave no gateway`, {
      hint: `reinstall it first (${installCmd}), then run oc-versions service restore again`,
    });
  }
  const cli = await packageCliOf(found.entry);
  const env = { ...(await captureEnvValues(orig)) };
  const stateDir = resolveStateDir(ctx.config.openclawStateDir, { ...ctx.env, ...env });
  const dbs = stateDir ? await listStateDatabases(stateDir) : [];
  const stateDb = dbs.find((d) => !d.startsWith('agents'));
  if (!cli || !stateDir || !stateDb) {
    return { entry: found.entry, checked: false, detail: `not checked: ${!cli ? 'the original install has no CLI' : 'no OpenClaw state database'}` };
  }
  await fsp.mkdir(ctx.layout.tmpDir, { recursive: true });
  const dir = await fsp.mkdtemp(path.join(ctx.layout.tmpDir, 'restore-preflight-'));
  try {
    const copy = path.join(dir, 'openclaw.sqlite');
    await copyDatabase(path.join(stateDir, stateDb), copy, false);
    const node = found.node && path.isAbsolute(found.node) ? found.node : ctx.config.runtimeNode;
    const r = await runProcess(node, [cli, 'database', 'preflight', copy, '--json'], {
      env: { PATH: ctx.env['PATH'], HOME: ctx.env['HOME'], OPENCLAW_STATE_DIR: stateDir, OPENCLAW_NO_AUTO_UPDATE: '1' },
      timeoutMs: 60_000,
    });
    if (r.code !== 0) {
      const said = (r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? `exit ${r.code}`;
      throw new OcError('REFUSED', `the original version (${found.entry}) cannot open the current state: ${said}`, {
        hint: `a newer version migrated the state; upgrade the original install to the current version first (npm install -g ${ctx.config.package}@${(await readCurrent(ctx.layout)) ?? '<current>'}), then run oc-versions service restore again`,
      });
    }
    return { entry: found.entry, checked: true, detail: `the original version opens the current state (database preflight ok)` };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Every secret-store entry this home made: `{"$secretRef":"<store>:<name>"}` anywhere in the
 * snapshots and the service records (process.json, definition.json: `service install --env`,
 * adopt, snapshots of the definition), and the OpenClaw config values each snapshot kept
 * (`storedConfigSecrets`; older snapshots: `oc-secret:config/…` in their config copy, named after
 * the snapshot's service label or `openclaw`).
 */
async function homeSecretNames(ctx: CommandContext): Promise<string[]> {
  const names = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && e.name.endsWith('.json')) {
        const text = await fsp.readFile(p, 'utf8').catch(() => '');
        for (const m of text.matchAll(/"\$secretRef"\s*:\s*"(?:keychain|secret-service):([^"]+)"/g)) names.add(m[1]!);
      }
    }
  };
  await walk(ctx.layout.snapshotsDir);
  await walk(ctx.layout.serviceDir);
  for (const e of await fsp.readdir(ctx.layout.snapshotsDir, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory()) continue;
    const dir = path.join(ctx.layout.snapshotsDir, e.name);
    const meta = JSON.parse(await fsp.readFile(path.join(dir, 'metadata.json'), 'utf8').catch(() => '{}')) as {
      secretStore?: string;
      service?: { label?: string } | null;
      storedConfigSecrets?: string[];
    };
    if (meta.secretStore === 'none') continue;
    if (Array.isArray(meta.storedConfigSecrets)) {
      for (const n of meta.storedConfigSecrets) names.add(n);
      continue;
    }
    const copy = await fsp.readFile(path.join(dir, 'openclaw', 'openclaw.json'), 'utf8').catch(() => '');
    for (const m of copy.matchAll(/oc-secret:(config\/[^"'\s]+)/g)) names.add(`${meta.service?.label ?? 'openclaw'}/${m[1]!}`);
  }
  return [...names].sort();
}

/**
 * `oc-versions uninstall-all --yes`: hand the adopted service back (`service restore`, with its
 * checks), remove the recovery agent, every secret-store entry oc-versions made (adopt,
 * process --env, snapshots) and the home. OpenClaw keeps running from its restored definition.
 * A service oc-versions installed itself (nothing to hand back to) is refused: removing it would
 * stop the gateway, so that takes an explicit `service uninstall` first.
 */
async function uninstallAll(ctx: CommandContext, opts: ServiceOptions): Promise<number> {
  const adopted = await readAdoptedRecord(ctx.layout);
  const svc = ctx.config.service;
  if (!adopted && svc.manager) {
    throw new OcError('REFUSED', `the ${svc.manager} service ${svc.label ?? ''} was installed by oc-versions, not adopted: there is no original definition to hand back to`, {
      hint: 'run oc-versions service uninstall first (this stops the gateway), then oc-versions uninstall-all --yes',
    });
  }
  const secretNames = await homeSecretNames(ctx);
  const plan = [
    ...(adopted ? [`hand back ${adopted.manager} service ${adopted.label}: restore ${adopted.definitionPath} from ${adopted.originalPath}`] : []),
    ...(secretNames.length > 0 ? [`delete ${secretNames.length} secret-store entr${secretNames.length === 1 ? 'y' : 'ies'} this home made (service --env, adopt, snapshots)`] : []),
    `remove the recovery agent (if any) and the home ${ctx.layout.home} (versions, snapshots, logs, config, shims)`,
  ];
  if (!opts.yes) {
    throw new OcError('REFUSED', `uninstall-all would:\n  - ${plan.join('\n  - ')}`, { hint: 'rerun with --yes to do it' });
  }
  // restore refuses (and changes nothing) when the original cannot run; its own result is not printed.
  if (adopted) await restore({ ...ctx, out: { ...ctx.out, result: () => {} } }, opts);
  // Nothing may still run from the home (the launcher-run gateway is gone once the original runs).
  let busy: Array<{ pid: number; arg: string }> = [];
  for (const until = Date.now() + ctx.config.service.drainMs + 5_000; ; await sleep(200)) {
    busy = (await processesUnder(ctx.layout.home)).filter((p) => p.pid !== process.pid);
    if (busy.length === 0 || Date.now() > until) break;
  }
  if (busy.length > 0) {
    throw new OcError('REFUSED', `${adopted ? 'the service was handed back, but ' : ''}processes still run from ${ctx.layout.home}: ${busy.map((p) => `pid ${p.pid} (${p.arg})`).join(', ')}; the home was kept`, {
      hint: 'stop them, then run oc-versions uninstall-all --yes again',
      changed: Boolean(adopted),
    });
  }
  const { store } = await openService(ctx, opts.secretStore ? { secretStore: opts.secretStore } : {});
  for (const name of secretNames) await store.delete(name).catch(() => {});
  for (const kind of ['launchd'] as const) await backendOf(kind).recoveryAgent?.uninstall(ctx.layout, ctx.env).catch(() => {});
  await fsp.rm(ctx.layout.home, { recursive: true, force: true });
  // What was done, in the past tense (the plan above is what would be done).
  const done = [
    ...(adopted ? [`handed the ${adopted.manager} service ${adopted.label} back (${adopted.definitionPath} restored from ${adopted.originalPath})`] : []),
    ...(secretNames.length > 0 ? [`deleted ${secretNames.length} secret-store entr${secretNames.length === 1 ? 'y' : 'ies'}`] : []),
    `removed the home ${ctx.layout.home} (versions, snapshots, logs, config, shims) and the recovery agent, if there was one`,
  ];
  ctx.out.result(`uninstalled oc-versions: ${done.join('; ')}`, { changed: true, action: 'uninstall-all', handedBack: Boolean(adopted), secretsDeleted: secretNames, home: ctx.layout.home });
  return EXIT.OK;
}

async function uninstall(ctx: CommandContext, opts: ServiceOptions): Promise<void> {
  if (await readAdoptedRecord(ctx.layout)) {
    throw new OcError('REFUSED', 'this service was adopted; run oc-versions service restore to give it back instead');
  }
  const { mgr, store } = await openService(ctx, opts);
  // launchd without a GUI session: say so (it may still have the label loaded), not "not installed".
  await mgr.ready?.();
  if (!(await mgr.readDefinition())) throw new OcError('NOT_FOUND', `no ${mgr.kind} service '${mgr.label}' is installed`);
  // The process backend's --env values live only in the secret store: they go with the service.
  const storedNames: string[] = [];
  if (mgr.kind === 'process') {
    const doc = JSON.parse(await fsp.readFile(mgr.definitionPath, 'utf8').catch(() => '{}')) as { env?: Record<string, unknown> };
    for (const v of Object.values(doc.env ?? {})) {
      const ref = parseSecretRef(v);
      if (ref && ref.kind !== 'none') storedNames.push(ref.name);
    }
  } else {
    // launchd/systemd keep --env values inline; the copy `install` put in the store goes too.
    const def = await mgr.readDefinition();
    for (const k of Object.keys(def?.env ?? {})) if (isSecretKey(k, ctx.config.secretPattern)) storedNames.push(secretName(mgr.label, k));
  }
  await mutating(ctx, 'service uninstall', async () => {
    await mgr.stop({ drainMs: drainOf(ctx, opts) }).catch(() => {});
    await mgr.uninstall();
    for (const name of storedNames) await store.delete(name).catch(() => {});
    await fsp.rm(recordPath(ctx.layout), { force: true });
    await saveServiceConfig(ctx, null);
    await backendOf(mgr.kind).recoveryAgent?.uninstall(ctx.layout, ctx.env);
  }, 'keep-degraded');
  ctx.out.result(`uninstalled ${mgr.kind} service ${mgr.label}`, { changed: true, action: 'uninstall', manager: mgr.kind, label: mgr.label });
}

async function control(ctx: CommandContext, sub: 'start' | 'stop' | 'restart', opts: ServiceOptions): Promise<void> {
  const { mgr, store } = await openService(ctx, opts);
  const drainMs = drainOf(ctx, opts);
  let check: DefinitionCheck | null = null;
  let wasRunning = false;
  let prePid: number | null = null;
  await mutating(ctx, `service ${sub}`, async () => {
    const before = await mgr.status().catch(() => ({ running: false, pid: null }));
    wasRunning = before.running;
    prePid = before.running ? before.pid : null;
    if (sub === 'stop') await mgr.stop({ drainMs });
    else check = await withDefinitionCheck(ctx, mgr, store, () => (sub === 'start' ? mgr.start() : mgr.restart({ drainMs })));
  }, 'keep-degraded');
  // A stop of a stopped service, or a start of a running one whose definition needed nothing, changes nothing.
  const rewritten = Boolean((check as DefinitionCheck | null)?.rewritten);
  const changed = sub === 'restart' || (sub === 'stop' ? wasRunning : !wasRunning || rewritten);
  const verb = sub === 'stop' ? 'stopped' : sub === 'start' ? 'started' : 'restarted';
  // start and restart are gated like an upgrade's restart: a gateway that does not come up is exit 7.
  // A restart (or a start that restarted it) must bring another pid than the one before.
  const gate = sub === 'stop' ? null : await gateStart(ctx, mgr, sub === 'restart' || rewritten ? prePid : null, `${verb} ${mgr.kind} service ${mgr.label}`, changed);
  const st = await mgr.status();
  ctx.out.result(
    `${verb} ${mgr.kind} service ${mgr.label}${st.running ? ` (pid ${st.pid}${st.version ? `, version ${st.version}` : ''}${gate?.pid ? `; responsive in ${gate.ms} ms` : ''})` : ''}`,
    {
      changed,
      action: sub,
      manager: mgr.kind,
      label: mgr.label,
      running: st.running,
      pid: st.pid,
      version: st.version,
      entry: st.entry,
      definitionCheck: check,
      ...(gate ? { responsive: { ms: gate.ms, detail: gate.detail } } : {}),
    },
  );
}

async function status(ctx: CommandContext, opts: ServiceOptions): Promise<number> {
  const { mgr, store } = await openService(ctx, opts);
  const st = await mgr.status();
  const record = await readDefinitionRecord(ctx.layout);
  const adopted = await readAdoptedRecord(ctx.layout);
  const mine = record && record.label === mgr.label && record.manager === mgr.kind ? record : undefined;
  const sha = await hashFile(mgr.definitionPath);
  const keys = mine ? [...mine.envKeys, ...mine.envFileKeys] : [];
  const secretKeys = [...new Set(keys.filter((k) => isSecretKey(k, ctx.config.secretPattern)))].sort();
  const secrets = {
    store: store.kind,
    keys: secretKeys,
    restorable: secretKeys.length === 0 || store.kind !== 'none',
    note:
      secretKeys.length > 0 && store.kind === 'none'
        ? 'no secret store: secret values live only in the service definition; snapshots hold references that cannot be restored'
        : undefined,
  };
  const data = {
    manager: st.manager,
    label: st.label,
    installed: st.installed,
    running: st.running,
    pid: st.pid,
    version: st.version,
    entry: st.entry,
    definitionPath: st.definitionPath,
    state: st.state,
    restarts: st.restarts ?? null,
    lastExitCode: st.lastExitCode ?? null,
    handoffs: st.handoffs ?? null,
    lastHandoff: st.lastHandoff ?? null,
    crashLoop: Boolean(st.crashLoop),
    log: st.log ?? null,
    adopted: Boolean(adopted),
    definitionMatchesRecord: mine ? mine.sha256 === sha : null,
    secrets,
  };
  const looping = data.crashLoop
    ? `CRASH LOOP: ${st.state === 'crash-loop' ? 'the keep-alive gave up' : 'it keeps exiting'} after ${st.restarts ?? '?'} restart${st.restarts === 1 ? '' : 's'}, last exit ${st.lastExitCode ?? '?'}; fix what its log shows, then oc-versions service restart`
    : '';
  const human = [
    `${st.manager} service ${st.label}: ${st.running ? `running (pid ${st.pid})${looping ? ` -- ${looping}` : ''}` : st.installed ? `not running (${looping || (st.state ?? 'stopped')})` : 'not installed'}`,
    st.entry ? `  entry: ${st.entry}${st.version ? ` (version ${st.version})` : ''}` : '',
    st.installed && (st.restarts !== undefined || st.lastExitCode !== undefined) ? `  restarts: ${st.restarts ?? '?'}; last exit: ${st.lastExitCode ?? 'none'}` : '',
    st.lastHandoff ? `  restart handoffs accepted: ${st.handoffs ?? 0}; last: ${st.lastHandoff.detail} (${st.lastHandoff.action === 'restarted' ? 'restarted at once' : 'treated as an unexpected exit'})` : '',
    st.installed && st.log ? `  log: ${st.log}` : '',
    `  definition: ${st.definitionPath}${adopted ? ' (adopted)' : ''}${data.definitionMatchesRecord === false ? ' -- CHANGED since oc-versions wrote it' : ''}`,
    secrets.keys.length > 0 ? `  secrets: ${secrets.keys.join(', ')} (${secrets.restorable ? `restorable from ${store.kind}` : 'NOT restorable: no secret store'})` : '',
  ].filter((l) => l !== '');
  ctx.out.result(human.join('\n'), data);
  // A crash loop is not a healthy service: exit 7 (DEGRADED) with the normal document.
  return data.crashLoop ? EXIT.DEGRADED : EXIT.OK;
}
