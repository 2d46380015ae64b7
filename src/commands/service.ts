/**
 * `oc-versions service install|adopt|restore|uninstall|start|stop|restart|status`.
 * Mutating subcommands hold the lock; status never waits for it.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import { saveConfig, type Config } from '../core/config.js';
import { findSecretFlag } from '../secrets/redact.js';
import { isSecretKey, type SecretStore } from '../secrets/types.js';
import {
  checkAdoptionInputs,
  keepOriginal,
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
import { backendOf, defaultLabel, detectManagerKind, parseManagerKind } from '../service/index.js';
import { assertLauncher } from '../service/launcher.js';
import type { ManagerKind, ServiceDefinition, ServiceManager } from '../service/types.js';
import type { CommandContext } from '../app/context.js';
import { mutating } from '../app/session.js';
import { openService } from '../app/service.js';

export interface ServiceOptions {
  manager?: string;
  label?: string;
  plist?: string;
  unit?: string;
  drainMs?: number | string;
  secretStore?: string;
}

export const SERVICE_SUBCOMMANDS = ['install', 'adopt', 'restore', 'uninstall', 'start', 'stop', 'restart', 'status'] as const;

function drainOf(ctx: CommandContext, opts: ServiceOptions): number {
  if (opts.drainMs === undefined) return ctx.config.service.drainMs;
  const n = Number(opts.drainMs);
  if (!Number.isFinite(n) || n < 0) throw new OcError('INVALID_INPUT', `--drain-ms must be a number of milliseconds, got '${opts.drainMs}'`);
  return n;
}

async function saveServiceConfig(ctx: CommandContext, patch: Partial<Config['service']> | null): Promise<void> {
  const service: Config['service'] = patch === null ? { drainMs: ctx.config.service.drainMs } : { ...ctx.config.service, ...patch };
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

export async function run(ctx: CommandContext, sub: string, args: string[] = [], opts: ServiceOptions = {}): Promise<void> {
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
    default:
      throw new OcError('USAGE', `unknown service subcommand '${sub}' (${SERVICE_SUBCOMMANDS.join(', ')})`);
  }
}

async function install(ctx: CommandContext, args: string[], opts: ServiceOptions): Promise<void> {
  const kind = parseManagerKind(opts.manager) ?? ctx.config.service.manager ?? (await detectManagerKind(ctx.env));
  const label = opts.label ?? defaultLabel(kind);
  const launcher = ctx.layout.gatewayShim;
  await assertLauncher(launcher);
  const { mgr } = await openService(ctx, { ...opts, manager: kind, label });
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
  const env: Record<string, string> = {
    ...(existing?.env ?? {}),
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
    envFiles: existing?.envFiles ?? [],
    extra: existing?.extra ?? null,
  };
  if (backend.defaultLogPath) {
    const log = backend.defaultLogPath(ctx.env);
    def.stdoutPath = existing?.stdoutPath ?? log;
    def.stderrPath = existing?.stderrPath ?? log;
  }
  await mutating(ctx, 'service install', async () => {
    ctx.out.progress(`installing ${kind} service ${mgr.label}`);
    await mgr.install(def);
    await saveDefinitionRecord(ctx.layout, await buildDefinitionRecord(mgr, def, false));
    await saveServiceConfig(ctx, { manager: kind, label: mgr.label, definitionPath: mgr.definitionPath, gatewayArgs, adopted: false });
    await backend.recoveryAgent?.install(ctx.layout, ctx.config, ctx.env);
  }, 'keep-degraded');
  const st = await mgr.status();
  ctx.out.result(
    `installed ${kind} service ${mgr.label} (${mgr.definitionPath})\n${st.running ? `running, pid ${st.pid}` : 'not running'}`,
    { action: 'install', manager: kind, label: mgr.label, definitionPath: mgr.definitionPath, program: def.program, running: st.running, pid: st.pid },
  );
}

async function adopt(ctx: CommandContext, opts: ServiceOptions): Promise<void> {
  if (opts.plist && opts.unit) throw new OcError('USAGE', 'give --plist or --unit, not both');
  // --plist names a LaunchAgent, --unit a systemd unit; otherwise --manager or the platform's.
  const kind: ManagerKind = opts.plist ? 'launchd' : opts.unit ? 'systemd' : (parseManagerKind(opts.manager) ?? (await detectManagerKind(ctx.env)));
  const backend = backendOf(kind);
  if (!backend.adopt) throw new OcError('USAGE', 'adopt takes over a launchd or systemd service (--plist PATH or --unit PATH)');
  const definitionPath = opts.plist ?? opts.unit;
  let label = opts.label;
  if (definitionPath && !label) label = await backend.adopt.labelOf(definitionPath);
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
  const plan = planAdoption(def, launcher);
  const memory = await captureEnvValues(def);

  const result = await mutating(ctx, 'service adopt', async () => {
    const original = await keepOriginal(mgr.definitionPath);
    const previous = await readAdoptedRecord(ctx.layout);
    const storedSecrets = await storeSecrets(mgr.label, memory, ctx.config.secretPattern, store);
    await mgr.writeDefinition(plan.definition);
    await mgr.reload();
    if (backend.restartAfterReload) await mgr.restart({ drainMs: drainOf(ctx, opts) });
    await saveAdoptedRecord(ctx.layout, {
      manager: kind,
      label: mgr.label,
      definitionPath: mgr.definitionPath,
      originalPath: original.path,
      originalSha256: previous?.definitionPath === mgr.definitionPath ? previous.originalSha256 : original.sha256,
      layout: plan.layout,
      adoptedAt: new Date().toISOString(),
      storedSecrets,
    });
    const record = await buildDefinitionRecord(mgr, plan.definition, true);
    await saveDefinitionRecord(ctx.layout, record);
    await saveServiceConfig(ctx, { manager: kind, label: mgr.label, definitionPath: mgr.definitionPath, adopted: true });
    await backend.recoveryAgent?.install(ctx.layout, ctx.config, ctx.env);
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
    return { original, storedSecrets, check };
  }, 'keep-degraded');
  const st = await mgr.status();
  const secretKeys = Object.keys(memory).filter((k) => isSecretKey(k, ctx.config.secretPattern)).sort();
  const human = [
    `adopted ${kind} service ${mgr.label} (${plan.layout} layout)`,
    `  definition: ${mgr.definitionPath}`,
    `  original kept at: ${result.original.path} (for oc-versions service restore)`,
    `  program: ${plan.definition.program.join(' ')}`,
    `  env keys kept: ${Object.keys(memory).length}${secretKeys.length > 0 ? ` (secret: ${secretKeys.join(', ')}; ${result.storedSecrets.length > 0 ? `copied to the ${store.kind} store` : 'no secret store: values stay only in the definition'})` : ''}`,
    `  ${st.running ? `running, pid ${st.pid}${st.version ? `, version ${st.version}` : ''}` : 'not running'}`,
  ];
  ctx.out.result(human.join('\n'), {
    action: 'adopt',
    manager: kind,
    label: mgr.label,
    layout: plan.layout,
    definitionPath: mgr.definitionPath,
    originalPath: result.original.path,
    programBefore: plan.before.length,
    program: plan.definition.program,
    envKeys: Object.keys(memory).sort(),
    secretKeys,
    secretStore: store.kind,
    storedSecrets: result.storedSecrets,
    check: result.check,
    running: st.running,
    pid: st.pid,
  });
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
  ctx.out.result(`restored the original ${rec.manager} service ${rec.label} (${rec.definitionPath})`, {
    action: 'restore',
    manager: rec.manager,
    label: rec.label,
    definitionPath: rec.definitionPath,
    identicalToOriginal: same,
  });
}

async function uninstall(ctx: CommandContext, opts: ServiceOptions): Promise<void> {
  if (await readAdoptedRecord(ctx.layout)) {
    throw new OcError('REFUSED', 'this service was adopted; run oc-versions service restore to give it back instead');
  }
  const { mgr } = await openService(ctx, opts);
  if (!(await mgr.readDefinition())) throw new OcError('NOT_FOUND', `no ${mgr.kind} service '${mgr.label}' is installed`);
  await mutating(ctx, 'service uninstall', async () => {
    await mgr.stop({ drainMs: drainOf(ctx, opts) }).catch(() => {});
    await mgr.uninstall();
    await fsp.rm(recordPath(ctx.layout), { force: true });
    await saveServiceConfig(ctx, null);
    await backendOf(mgr.kind).recoveryAgent?.uninstall(ctx.layout, ctx.env);
  }, 'keep-degraded');
  ctx.out.result(`uninstalled ${mgr.kind} service ${mgr.label}`, { action: 'uninstall', manager: mgr.kind, label: mgr.label });
}

async function control(ctx: CommandContext, sub: 'start' | 'stop' | 'restart', opts: ServiceOptions): Promise<void> {
  const { mgr, store } = await openService(ctx, opts);
  const drainMs = drainOf(ctx, opts);
  let check: DefinitionCheck | null = null;
  await mutating(ctx, `service ${sub}`, async () => {
    if (sub === 'stop') await mgr.stop({ drainMs });
    else check = await withDefinitionCheck(ctx, mgr, store, () => (sub === 'start' ? mgr.start() : mgr.restart({ drainMs })));
  }, 'keep-degraded');
  const st = await mgr.status();
  ctx.out.result(
    `${sub === 'stop' ? 'stopped' : sub === 'start' ? 'started' : 'restarted'} ${mgr.kind} service ${mgr.label}${st.running ? ` (pid ${st.pid}${st.version ? `, version ${st.version}` : ''})` : ''}`,
    { action: sub, manager: mgr.kind, label: mgr.label, running: st.running, pid: st.pid, version: st.version, entry: st.entry, definitionCheck: check },
  );
}

async function status(ctx: CommandContext, opts: ServiceOptions): Promise<void> {
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
    adopted: Boolean(adopted),
    definitionMatchesRecord: mine ? mine.sha256 === sha : null,
    secrets,
  };
  const human = [
    `${st.manager} service ${st.label}: ${st.running ? `running (pid ${st.pid})` : st.installed ? `not running (${st.state ?? 'stopped'})` : 'not installed'}`,
    st.entry ? `  entry: ${st.entry}${st.version ? ` (version ${st.version})` : ''}` : '',
    `  definition: ${st.definitionPath}${adopted ? ' (adopted)' : ''}${data.definitionMatchesRecord === false ? ' -- CHANGED since oc-versions wrote it' : ''}`,
    secrets.keys.length > 0 ? `  secrets: ${secrets.keys.join(', ')} (${secrets.restorable ? `restorable from ${store.kind}` : 'NOT restorable: no secret store'})` : '',
  ].filter((l) => l !== '');
  ctx.out.result(human.join('\n'), data);
}
