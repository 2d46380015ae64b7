/**
 * `oc-versions doctor`: every check a host needs, each a finding with its severity, what is
 * wrong and what to do; `--fix` applies only the safe fixes.
 *
 * Read-only by default: nothing under the home is written and the lock is neither taken nor
 * waited for, so it runs beside any other command and names the lock's holder. With `fix`,
 * the lock is taken like any mutating command (acquireLock takes over a lock whose holder is
 * dead, which is that finding's fix; a live holder's lock is never touched: LOCKED, exit 4),
 * then the checks run again under the lock, the safe fixes are applied (stale staging and
 * orphaned temp files removed, a wrong or missing shim/launcher re-rendered, env keys the
 * definition lost restored from the last snapshot, the record and the secret store exactly as
 * the operations' own definition check does it), and the fixable checks run a third time: a
 * finding is `fixed` only when that re-check no longer finds it.
 *
 * Never here: recovery of a transaction, a restart of the gateway, a chmod, anything that
 * removes a version. Those are named as the fix for the operator to run.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import semver from 'semver';
import { isOcError } from '../errors.js';
import type { Config } from '../core/config.js';
import { LAYOUT_VERSION } from '../core/layout.js';
import { readJournal, isOrphaned, type Journal } from '../core/journal.js';
import { isDegraded } from '../core/recover.js';
import { inspectLock, withLock, type LockInspection } from '../core/lock.js';
import { installShim, renderCliShim } from '../core/shims.js';
import { freeBytes, listInstalled, packageDirOf, readCurrent, resolveEntry, treeBytes, type Seal } from '../core/store.js';
import { parseExactVersion, sortNewestFirst } from '../core/versions.js';
import { probeNodeVersion } from '../core/checks/run-package.js';
import { exists, readJson } from '../os/fs.js';
import { probeRegistry } from '../registry/index.js';
import { redactCredentials } from '../secrets/redact.js';
import { isSecretKey, noSecretStore, parseSecretRef, resolveSecretStore, secretName, type SecretStore } from '../secrets/index.js';
import { NODE_KEY } from '../service/adopt.js';
import { checkHomeLib, ensureHomeLib, listHomeLibs } from '../service/home-lib.js';
import { adoptRuntime, checkRuntime, listRuntimes, projectLocalNode } from '../core/runtimes.js';
import { isRunning, processArgv, processesUnder } from '../os/proc.js';
import { useNode } from './runtime.js';
import {
  buildDefinitionRecord,
  captureServiceEnv,
  checkAndRestoreDefinition,
  EXTERNAL_SUPERVISOR_ENV,
  hashFile,
  readDefinitionRecord,
  readEnvFiles,
  type DefinitionRecord,
} from '../service/definition.js';
import { backendOf } from '../service/index.js';
import { installGatewayShim, renderGatewayLauncher } from '../service/launcher.js';
import { lastServiceSnapshot, resolveSnapshotEnv } from '../service/snapshot.js';
import type { ServiceDefinition, ServiceManager } from '../service/types.js';
import type { CommandContext } from './context.js';
import { findLeftovers, removeLeftover } from './home.js';
import { openService } from './service.js';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  /** The check's name; `<check>/<subject>` where one check finds several things. */
  id: string;
  severity: Severity;
  what: string;
  /** What to do ('' when there is nothing to do). */
  fix: string;
  /** `doctor --fix` can apply the fix. */
  fixable: boolean;
  /** Set by `--fix`: the fix was applied and the re-check no longer finds it. */
  fixed?: boolean;
}

export interface DoctorReport {
  /** No error-severity finding remains (fixed ones do not count). */
  ok: boolean;
  /** `--fix` changed something on disk. */
  changed: boolean;
  findings: Finding[];
}

/** A finding and, when it is fixable, how to fix it. */
interface Check {
  finding: Finding;
  apply?: () => Promise<void>;
}

/** The registry must answer within this; doctor stays quick offline. */
const REGISTRY_TIMEOUT_MS = 5_000;

const MB = 1024 * 1024;
const mb = (n: number) => `${Math.round(n / MB)} MB`;

function finding(id: string, severity: Severity, what: string, fix = '', apply?: () => Promise<void>): Check {
  return { finding: { id, severity, what, fix, fixable: Boolean(apply) }, ...(apply ? { apply } : {}) };
}

const errText = (e: unknown) => redactCredentials(isOcError(e) ? e.message : ((e as Error)?.message ?? String(e)));

/** Run a fix once however many findings share it. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

// ---------------------------------------------------------------------------------------------
// The home

async function checkConfig(ctx: CommandContext): Promise<Check[]> {
  let stored: Partial<Config> | undefined;
  try {
    stored = await readJson<Partial<Config>>(ctx.layout.config);
  } catch (e) {
    return [finding('config', 'error', errText(e), 'restore config.json from a backup or remove it (the defaults then apply)')];
  }
  if (!stored) return [finding('config', 'warning', `no ${path.basename(ctx.layout.config)} in ${ctx.layout.home}: nothing has been installed in this home yet`, 'oc-versions install')];
  const v = stored.layoutVersion;
  if (v === LAYOUT_VERSION) return [];
  if (typeof v === 'number' && v > LAYOUT_VERSION) {
    return [finding('layout-version', 'error', `the home has layout version ${v}; this oc-versions knows layout ${LAYOUT_VERSION}`, 'run the newer oc-versions that wrote this home')];
  }
  return [finding('layout-version', 'error', `the home has layout version ${String(v ?? 'none')}; this oc-versions writes layout ${LAYOUT_VERSION}`, `set "layoutVersion": ${LAYOUT_VERSION} in ${ctx.layout.config} after checking the home against docs/on-disk-layout.md`)];
}

async function checkMode(ctx: CommandContext): Promise<Check[]> {
  const st = await fsp.stat(ctx.layout.home);
  const mode = st.mode & 0o777;
  if ((mode & 0o077) === 0) return [];
  return [
    finding(
      'home-mode',
      'warning',
      `${ctx.layout.home} is mode ${mode.toString(8).padStart(4, '0')}: other users can read its service records, snapshots and logs`,
      `chmod 700 ${ctx.layout.home}`,
    ),
  ];
}

async function checkJournal(ctx: CommandContext): Promise<Check[]> {
  let j: Journal | undefined;
  try {
    j = await readJournal(ctx.layout);
  } catch (e) {
    return [finding('transaction', 'error', errText(e), `oc-versions recover (or remove ${ctx.layout.journal})`)];
  }
  if (!j) return [];
  const what = `${j.op} ${j.from ?? '(none)'} → ${j.to} (${j.txid}, phase ${j.phase})`;
  if (!isOrphaned(j)) return [finding('transaction', 'info', `an ${what} is running in pid ${j.pid}`)];
  if (isDegraded(j)) return [finding('transaction', 'error', `the ${what} ended degraded`, 'oc-versions recover, or oc-versions use <version> to choose one')];
  return [finding('transaction', 'error', `an ${what} was interrupted`, 'oc-versions recover finishes or undoes it')];
}

function lockChecks(ctx: CommandContext, lock: LockInspection): Check[] {
  const o = lock.owner;
  const who = o ? `pid ${o.pid} (${o.command}, since ${o.since}${lock.otherHost ? `, on host ${o.host}` : ''})` : '';
  // The fix is taking the lock: under --fix that happened before the checks (acquireLock took
  // over the dead or stale lock), so applying it is nothing more.
  const taken = async () => {};
  switch (lock.state) {
    case 'free':
      return [];
    case 'held':
      return [finding('lock', 'info', `the lock is held by ${who}${lock.otherHost ? ' (its liveness cannot be checked from here)' : ''}`)];
    case 'dead-holder':
      return [finding('lock', 'warning', `the lock is held by ${who}, which is no longer running`, 'take the lock over (oc-versions doctor --fix, or any mutating command)', taken)];
    case 'unnamed':
      return lock.stale
        ? [finding('lock', 'warning', `the lock names no holder and has not been refreshed for ${Math.round((lock.ageMs ?? 0) / 1000)} s`, 'take the lock over (oc-versions doctor --fix, or any mutating command)', taken)]
        : [finding('lock', 'info', 'the lock is being taken by a starting command')];
    case 'orphan-owner':
      return [finding('lock', 'warning', `${path.basename(ctx.layout.lockOwner)} names ${who} but no lock is held`, 'take the lock once (oc-versions doctor --fix, or any mutating command)', taken)];
  }
}

/** Scratch entries in tmp/ older than this belong to no running command (validation HOMEs live seconds). */
const TMP_STALE_MS = 60 * 60_000;

async function checkLeftovers(ctx: CommandContext): Promise<Check[]> {
  const tmpDir = ctx.layout.tmpDir;
  const scratch: Check[] = [];
  for (const name of await fsp.readdir(tmpDir).catch(() => [] as string[])) {
    const p = path.join(tmpDir, name);
    const st = await fsp.lstat(p).catch(() => null);
    if (!st || Date.now() - st.mtimeMs < TMP_STALE_MS) continue;
    const rel = path.relative(ctx.layout.home, p);
    scratch.push(finding(`orphaned-temp/${rel}`, 'warning', `${rel} is scratch space untouched for ${Math.floor((Date.now() - st.mtimeMs) / 3_600_000)} h: no running command uses it`, `remove ${rel}`, () => fsp.rm(p, { recursive: true, force: true })));
  }
  return [...scratch, ...(await findLeftovers(ctx.layout)).map((l) => {
    const rel = path.relative(ctx.layout.home, path.join(l.dir, l.name));
    return l.kind === 'staging'
      ? finding(`stale-staging/${l.name}`, 'warning', `${rel} is a staging directory left by a process that is gone`, `remove ${rel}`, () => removeLeftover(l))
      : finding(`orphaned-temp/${rel}`, 'warning', `${rel} is a temp file left by an interrupted write`, `remove ${rel}`, () => removeLeftover(l));
  })];
}

/** The shim and launcher: present, this home's, executable, as this oc-versions renders them now. */
async function checkShims(ctx: CommandContext, anyInstalled: boolean): Promise<Check[]> {
  const { layout, config } = ctx;
  // No config.json: no command has set this home up (nor recorded its runtime node) yet.
  if (!(await exists(layout.config))) return [];
  const needed = anyInstalled || Boolean(config.service.manager);
  const out: Check[] = [];
  const shims: Array<[string, string, string, () => Promise<string>, () => Promise<unknown>]> = [
    ['shim', layout.cliShim, 'the CLI shim', () => renderCliShim(layout, config.runtimeNode), () => installShim(layout, config.runtimeNode)],
    ['launcher', layout.gatewayShim, 'the service launcher', () => renderGatewayLauncher(layout, config), () => installGatewayShim(layout, config)],
  ];
  for (const [id, file, name, render, install] of shims) {
    let expected: string;
    try {
      expected = await render();
    } catch (e) {
      out.push(finding(id, 'error', `${name} cannot be rendered: ${errText(e)}`, `check runtimeNode in ${layout.config}`));
      continue;
    }
    const apply = async () => {
      await install();
    };
    const fix = `re-render ${path.relative(layout.home, file)}`;
    const text = await fsp.readFile(file, 'utf8').catch(() => null);
    if (text === null) {
      out.push(finding(id, needed ? 'error' : 'warning', `${name} ${file} is missing`, fix, apply));
      continue;
    }
    if (text !== expected) {
      const named = /^(?:OC_HOME|home)='([^']*)'/m.exec(text)?.[1];
      const why = named !== undefined && named !== layout.home ? `points at another home (${named})` : 'differs from what this oc-versions renders (stale or edited)';
      out.push(finding(id, 'error', `${name} ${file} ${why}`, fix, apply));
      continue;
    }
    const st = await fsp.stat(file);
    if ((st.mode & 0o111) !== 0o111) out.push(finding(id, 'error', `${name} ${file} is not executable (mode ${(st.mode & 0o777).toString(8)})`, fix, apply));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Versions: seals, current, engines.node

interface NodeInfo {
  who: string;
  node: string;
  version: string | null;
}

async function nodeInfo(who: string, node: string): Promise<NodeInfo> {
  const r = await probeNodeVersion(node);
  const v = r.code === 0 ? r.stdout.trim() : '';
  return { who, node, version: semver.valid(v) };
}

async function checkVersions(ctx: CommandContext, nodes: NodeInfo[]): Promise<Check[]> {
  const { layout, config } = ctx;
  const out: Check[] = [];
  for (const n of nodes) {
    if (!n.version) out.push(finding(`runtime-node/${n.who}`, 'error', `the ${n.who}'s node ${n.node} does not run`, n.who === 'shim' ? `install Node there, or set runtimeNode in ${layout.config}` : `install Node there, or change ${NODE_KEY} in the service definition`));
  }
  const names = await fsp.readdir(layout.versionsDir).catch(() => [] as string[]);
  const current = await readCurrent(layout);
  const link = await fsp.readlink(layout.current).catch(() => null);
  const sealed: string[] = [];
  for (const name of names.sort()) {
    const v = parseExactVersion(name);
    if (!v || v !== name) {
      out.push(finding(`version-dir/${name}`, 'warning', `versions/${name} is not a version directory`, `move ${path.join(layout.versionsDir, name)} out of the home`));
      continue;
    }
    const prefix = layout.version(v);
    const seal = await readJson<Seal>(layout.seal(v)).catch(() => null);
    const reinstall = `oc-versions uninstall ${v} --force && oc-versions install ${v}`;
    if (!seal) {
      out.push(finding(`seal/${v}`, 'error', `versions/${v} has no readable seal (.oc-seal.json): an incomplete or damaged install`, `move ${prefix} out of the home, then oc-versions install ${v}`));
      continue;
    }
    if (seal.version !== v) {
      out.push(finding(`seal/${v}`, 'error', `the seal of versions/${v} names version ${seal.version}`, reinstall));
      continue;
    }
    if (seal.package !== ctx.pkg) out.push(finding(`seal-package/${v}`, 'warning', `versions/${v} is sealed for package ${seal.package}; this home manages ${ctx.pkg}`, `check --package / package in ${layout.config}`));
    const pkgJson = await readJson<{ name?: string; version?: string }>(path.join(packageDirOf(prefix, seal.package), 'package.json')).catch(() => undefined);
    if (!pkgJson || pkgJson.version !== v || pkgJson.name !== seal.package) {
      out.push(finding(`seal/${v}`, 'error', `versions/${v} does not match its seal: ${pkgJson ? `its package.json says ${pkgJson.name}@${pkgJson.version}` : `${seal.package}'s package.json is missing`}`, reinstall));
      continue;
    }
    const missing = (['bin', 'service'] as const).filter((w) => resolveEntry(layout, v, w) === null);
    if (missing.length > 0) {
      out.push(finding(`seal/${v}`, 'error', `versions/${v}: the ${missing.join(' and ')} entry file is missing`, reinstall));
      continue;
    }
    const packageDir = packageDirOf(prefix, seal.package);
    const pending = seal.lifecycle === 'completed' ? (await Promise.all(config.lifecycleMarkers.map(async (m) => ((await exists(path.join(packageDir, m))) ? m : null)))).filter(Boolean) : [];
    if (pending.length > 0) {
      out.push(finding(`seal/${v}`, 'error', `versions/${v}: lifecycle marker ${pending.join(', ')} is back in a sealed version (something wrote into it)`, reinstall));
      continue;
    }
    sealed.push(v);
    const range = seal.engines?.['node'];
    if (range !== undefined) {
      for (const n of nodes) {
        if (!n.version) continue;
        if (semver.validRange(range) === null) {
          out.push(finding(`engines/${v}`, 'warning', `${v} declares engines.node ${JSON.stringify(range)}, which is not a valid range`));
          break;
        }
        if (!semver.satisfies(n.version, range)) {
          out.push(
            finding(
              `engines/${v}`,
              v === current ? 'error' : 'warning',
              `${v}${v === current ? ' (current)' : ''} needs node ${range}; the ${n.who} runs node ${n.version} (${n.node})`,
              n.who === 'shim' ? `point runtimeNode in ${layout.config} at a node that satisfies ${range}` : `point ${NODE_KEY} in the service definition at a node that satisfies ${range}`,
            ),
          );
        }
      }
    }
  }
  const newest = sortNewestFirst(sealed);
  if (link !== null && current === null) {
    out.push(finding('current', 'error', `current points at ${link}, which is not a sealed version`, newest[0] ? `oc-versions use ${newest[0]}` : 'oc-versions install --use'));
  } else if (link === null && newest[0]) {
    out.push(finding('current', 'warning', `no current version (${sealed.length} installed)`, `oc-versions use ${newest[0]}`));
  } else if (current !== null) {
    out.push(finding('versions', 'info', `${sealed.length} sealed version(s): ${newest.join(', ')}; current ${current}`));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The service definition and the secret store

interface ServiceFacts {
  mgr: ServiceManager;
  store: SecretStore;
  storeError: string | null;
  def: ServiceDefinition | null;
}

async function openForDoctor(ctx: CommandContext): Promise<ServiceFacts | Check[]> {
  // The store as the operations open it; one that does not answer is a finding, not a crash.
  let storeError: string | null = null;
  let opened;
  try {
    opened = await openService(ctx);
  } catch (e) {
    storeError = errText(e);
    try {
      opened = await openService(ctx, { secretStore: 'none' });
    } catch (e2) {
      return [finding('service', 'error', `the ${ctx.config.service.manager} service cannot be opened: ${errText(e2)}`, 'oc-versions service status shows more')];
    }
  }
  let def: ServiceDefinition | null;
  try {
    def = await opened.mgr.readDefinition();
  } catch (e) {
    return [finding('service-definition', 'error', `${opened.mgr.definitionPath}: ${errText(e)}`, 'repair the definition, or oc-versions service install / service adopt again')];
  }
  return { mgr: opened.mgr, store: storeError ? noSecretStore : opened.store, storeError, def };
}

/**
 * A configured service whose gateway is stopped or crash-looping is an error: doctor never says
 * "ok" while the gateway does not serve. Never fixed here (a start is the operator's call).
 */
async function checkServiceRunning(mgr: ServiceManager): Promise<Check[]> {
  const st = await mgr.status().catch(() => null);
  if (!st) return [];
  const log = st.log ? ` (log: ${st.log})` : '';
  if (st.crashLoop) {
    return [
      finding(
        'service-running',
        'error',
        `the ${mgr.kind} service ${mgr.label} is in a crash loop: ${st.restarts ?? '?'} restart${st.restarts === 1 ? '' : 's'}, last exit ${st.lastExitCode ?? '?'}${st.running ? '' : ', not running'}`,
        `fix what the gateway's log shows${log}, then oc-versions service restart`,
      ),
    ];
  }
  if (!st.running) {
    return [finding('service-running', 'error', `the ${mgr.kind} service ${mgr.label} is installed but its gateway is not running (${st.state ?? 'stopped'})`, `oc-versions service start${log}`)];
  }
  return [];
}

// ---------------------------------------------------------------------------------------------
// What the service runs lives in the home (docs/service.md#what-the-service-runs-lives-in-the-home-decision)

/** A path in the home (as configured or its real path). */
function inHome(ctx: CommandContext, p: string | undefined): boolean {
  if (!p) return false;
  const homes = [ctx.layout.home, realpathOr(ctx.layout.home)];
  const real = realpathOr(p);
  return homes.some((h) => [p, real].some((x) => x === h || x.startsWith(h + path.sep)));
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * The node, the supervisor and the recovery agent's CLI of a configured service: none may live in
 * a node_modules or a checkout (an `npm ci` or deleting the clone would stop the service from
 * starting); the home's copies (lib/, runtimes/) must match their seals.
 */
async function checkHomePrograms(ctx: CommandContext, facts: ServiceFacts | null): Promise<Check[]> {
  const { layout, config } = ctx;
  const out: Check[] = [];
  const restartNote = ' (the running gateway gets it at its next restart: oc-versions service restart)';
  if (config.service.manager) {
    const why = projectLocalNode(config.runtimeNode, layout, ctx.env);
    if (why) {
      out.push(
        finding(
          'service-node',
          'warning',
          `the home's node ${config.runtimeNode} (launcher, keep-alive, recovery agent) lives outside the home: ${why}; an npm ci or removing it stops the service from starting`,
          `copy it into ${layout.runtimesDir}/<version>/ and run that${restartNote}; or oc-versions service install --node PATH with a node outside any project`,
          async () => {
            const r = await adoptRuntime(layout, config.runtimeNode);
            await useNode(ctx, r.node);
          },
        ),
      );
    }
    const adoptedNode = facts?.def?.env[NODE_KEY];
    const whyAdopted = adoptedNode && path.isAbsolute(adoptedNode) ? projectLocalNode(adoptedNode, layout, ctx.env) : null;
    if (whyAdopted) {
      out.push(finding('service-node/definition', 'warning', `the service definition runs node ${adoptedNode} (${NODE_KEY}): ${whyAdopted}`, `set ${NODE_KEY} in ${facts!.mgr.definitionPath} to a node outside any project, then oc-versions service restart`));
    }
    const agent = backendOf(config.service.manager).recoveryAgent;
    const program = agent ? await agent.program(layout, ctx.env).catch(() => null) : null;
    if (agent && program) {
      const [node, entry] = program;
      // Its node: not one inside a project (a system node is fine); its CLI: the home's copy.
      const outside = [...(node && projectLocalNode(node, layout, ctx.env) ? [node] : []), ...(entry && !inHome(ctx, entry) ? [entry] : [])];
      if (outside.length > 0) {
        out.push(
          finding('recovery-agent', 'warning', `the recovery agent runs ${outside.join(' and ')}, outside the home: an npm ci or removing it breaks the agent`, 'reinstall the agent with the home\'s node and its copy of the CLI', async () => {
            await agent.install(layout, config, ctx.env);
          }),
        );
      }
    }
    if (config.service.manager === 'process') {
      const sup = await readJson<{ pid: number }>(layout.gatewaySupervisor).catch(() => undefined);
      const argv = sup && isRunning(sup.pid) ? processArgv(sup.pid) : null;
      const runner = argv?.[1];
      if (runner && argv && argv.some((a) => a.includes(layout.home)) && !inHome(ctx, runner)) {
        out.push(finding('keep-alive-program', 'warning', `the keep-alive supervisor (pid ${sup!.pid}) runs ${runner}, outside the home`, 'oc-versions service restart (the new supervisor runs the home\'s copy)'));
      }
    }
  }
  for (const name of await listHomeLibs(layout)) {
    const dir = path.join(layout.libDir, name);
    const bad = await checkHomeLib(dir);
    if (bad === null || bad.length > 0) {
      out.push(
        finding(`home-lib/${name}`, 'error', `lib/${name} does not match its seal: ${bad === null ? 'no readable seal.json' : bad.join(', ')}`, 'render it again from this oc-versions (the service then runs the fresh copy)', async () => {
          await fsp.rm(dir, { recursive: true, force: true });
          const lib = await ensureHomeLib(layout);
          if (config.service.manager) await backendOf(config.service.manager).recoveryAgent?.install(layout, config, ctx.env);
          if (lib.dir !== dir && (await processesUnder(dir)).length === 0) await fsp.rm(dir, { recursive: true, force: true });
        }),
      );
    }
  }
  for (const v of await listRuntimes(layout)) {
    const why = await checkRuntime(layout.runtime(v));
    if (why) out.push(finding(`runtime/${v}`, 'error', `runtimes/${v} is damaged: ${why}`, `move ${layout.runtime(v)} out of the home, then oc-versions service install --node PATH (or from the node to copy)`));
  }
  return out;
}

async function checkService(ctx: CommandContext, facts: ServiceFacts): Promise<Check[]> {
  const { layout, config } = ctx;
  const { mgr, store, def } = facts;
  const out: Check[] = [];
  if (!def) {
    return [finding('service-definition', 'error', `the ${mgr.kind} service ${mgr.label} is configured but its definition ${mgr.definitionPath} is missing`, config.service.adopted ? 'oc-versions service restore, then service adopt again' : 'oc-versions service install')];
  }
  const found = await readDefinitionRecord(layout).catch(() => undefined);
  const record = found && found.label === mgr.label && found.manager === mgr.kind ? found : undefined;
  const snap = await lastServiceSnapshot(layout, mgr.kind, mgr.label).catch(() => undefined);
  const fromFiles = await readEnvFiles(def);
  const present = new Set([...Object.keys(def.env), ...Object.keys(fromFiles)]);
  const launcherOk = def.program.includes(layout.gatewayShim);
  const wanted = [...new Set([...(record ? [...record.envKeys, ...record.envFileKeys] : []), ...(snap?.meta.envKeys ?? [])])].sort();
  const missing = wanted.filter((k) => !present.has(k));
  const secretRefs = Object.entries(def.env).filter(([, v]) => parseSecretRef(v)?.kind === 'none').map(([k]) => k);

  // Values for the missing keys, in memory only: the running gateway and the definition, then
  // the last snapshot (its secret references resolved from the store, as restoreSnapshot does).
  const memory = missing.length > 0 ? await captureServiceEnv(mgr, record).catch(() => ({}) as Record<string, string>) : {};
  const snapEnv = snap ? { ...Object.assign({}, ...snap.definition.envFiles.map((f) => f.env)), ...snap.definition.definition.env } : {};
  const fromSnap = missing.length > 0 && snap ? (await resolveSnapshotEnv(snapEnv, { store, memory, live: { ...fromFiles, ...def.env } })).env : {};
  const values: Record<string, string> = { ...fromSnap, ...memory };
  const restorable: string[] = [];
  for (const k of missing) {
    if (values[k] !== undefined || EXTERNAL_SUPERVISOR_ENV[k] !== undefined) restorable.push(k);
    else if (isSecretKey(k, config.secretPattern) && (await store.get(secretName(mgr.label, k)).catch(() => undefined)) !== undefined) restorable.push(k);
  }
  // Rewriting a definition with secret references needs the store they point at.
  const secretsInDef = Object.keys(def.env).some((k) => isSecretKey(k, config.secretPattern));
  const canRewrite = !(facts.storeError && secretsInDef);
  const programFixable = !launcherOk && Boolean(record && !record.programRedacted && record.program.includes(layout.gatewayShim));
  const restore = once(async () => {
    const base: DefinitionRecord = record ?? (await buildDefinitionRecord(mgr, def, Boolean(config.service.adopted)));
    const keys = restorable.filter((k) => !base.envFileKeys.includes(k));
    await checkAndRestoreDefinition({
      manager: mgr,
      record: { ...base, envKeys: [...new Set([...base.envKeys, ...keys])].sort() },
      layout,
      memory: values,
      store,
      secretPattern: config.secretPattern,
      launcher: layout.gatewayShim,
      // systemd: daemon-reload only; launchd's reload would restart the job (never from doctor).
      reload: backendOf(mgr.kind).restartAfterReload,
    });
  });
  const restartNote = ` (the running gateway gets it at its next restart: oc-versions service restart)`;

  if (!launcherOk) {
    out.push(
      finding(
        'service-launcher',
        'error',
        `the ${mgr.kind} service ${mgr.label} does not launch through ${layout.gatewayShim} (it runs ${def.program[0] ?? 'nothing'})`,
        programFixable && canRewrite ? `re-point the program at the launcher, as oc-versions last wrote it${restartNote}` : config.service.adopted ? 'oc-versions service adopt again' : 'oc-versions service install again',
        programFixable && canRewrite ? restore : undefined,
      ),
    );
  }
  for (const k of missing) {
    const where = snap?.meta.envKeys.includes(k) ? `the last snapshot (${snap.meta.txid})` : "oc-versions' record of the definition";
    const ok = restorable.includes(k) && canRewrite;
    out.push(
      finding(
        `service-env/${k}`,
        'error',
        `the service definition ${mgr.definitionPath} lacks env key ${k} (present in ${where})`,
        ok
          ? `restore ${k} into the definition${restartNote}`
          : restorable.includes(k)
            ? 'make the secret store answer first (see the secret-store finding), then oc-versions doctor --fix'
            : `set ${k} in the definition by hand (no value to restore: not in the snapshot, the secret store or the running gateway)`,
        ok ? restore : undefined,
      ),
    );
  }
  if (!record) {
    out.push(finding('service-record', 'warning', `no record of the definition oc-versions wrote for ${mgr.label}: drift cannot be checked`, config.service.adopted ? 'oc-versions service adopt again' : 'oc-versions service install again'));
  } else {
    const sha = await hashFile(mgr.definitionPath);
    if (sha !== record.sha256 && missing.length === 0 && launcherOk) {
      out.push(finding('service-drift', 'warning', `${mgr.definitionPath} changed since oc-versions last wrote or restored it (${record.recordedAt})`, 'review the change; oc-versions service restart checks it and records it'));
    }
  }
  if (out.length === 0) out.push(finding('service', 'info', `the ${mgr.kind} service ${mgr.label} launches through the launcher; ${wanted.length} env key(s) present${snap ? ` (last snapshot ${snap.meta.txid})` : ''}`));
  out.push(...(await checkServiceRunning(mgr)));

  // The secret store: needed when the definition (or the snapshots) keep secret values there.
  const secretKeys = [...new Set([...wanted, ...present].filter((k) => isSecretKey(k, config.secretPattern)))].sort();
  const referenced = Boolean(snap && snap.meta.secretStore !== 'none' && snap.meta.secretKeys.length > 0) || (mgr.kind === 'process' && secretKeys.length > 0);
  if (facts.storeError) {
    out.push(finding('secret-store', secretKeys.length > 0 ? 'error' : 'warning', `the secret store does not answer: ${facts.storeError}`, 'unlock or start it (macOS Keychain; a Secret Service on the session bus), or set OC_VERSIONS_SECRET_STORE'));
  } else if (secretKeys.length > 0) {
    if (store.kind === 'none' && referenced) {
      out.push(finding('secret-store', 'error', `no secret store answers, but ${secretKeys.join(', ')} are kept there`, 'unlock or start the secret store (macOS Keychain; a Secret Service on the session bus)'));
    } else if (store.kind === 'none') {
      out.push(finding('secret-store', 'info', `no secret store: ${secretKeys.join(', ')} live only in the service definition (not restorable from snapshots)`));
    } else {
      out.push(finding('secret-store', 'info', `the ${store.kind} secret store answers`));
    }
    for (const k of secretRefs) {
      out.push(finding(`secret-missing/${k}`, 'error', `${k} is a secret-store reference that resolves to nothing`, `oc-versions service install --env ${k} (with ${k} exported)`));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Disk and registry

async function checkDisk(ctx: CommandContext, base: string | null): Promise<Check[]> {
  if (!base) return [];
  const [size, free] = await Promise.all([treeBytes(ctx.layout.version(base)), freeBytes(ctx.layout.home)]);
  if (free === null) return [finding('disk-space', 'info', `free space on ${ctx.layout.home} is unknown; one more version needs about ${mb(size)} (the size of ${base})`)];
  if (free < size) {
    return [finding('disk-space', 'error', `${mb(free)} free on the filesystem of ${ctx.layout.home}; one more version needs about ${mb(size)} (the size of ${base})`, 'free some space: oc-versions prune removes old versions')];
  }
  return [finding('disk-space', 'info', `${mb(free)} free; one more version needs about ${mb(size)} (the size of ${base})`)];
}

async function checkRegistry(ctx: CommandContext): Promise<Check[]> {
  try {
    const p = await probeRegistry(ctx.pkg, { registry: ctx.registry, env: ctx.env }, REGISTRY_TIMEOUT_MS);
    const auth = p.auth ? 'credentials configured' : 'no credentials configured';
    if (p.ok) return [finding('registry', 'info', `${p.registry} answers for ${ctx.pkg} (${p.versions} version${p.versions === 1 ? '' : 's'}; ${auth})`)];
    const err = p.error!;
    const what = `${redactCredentials(err.message)} (${auth})`;
    if (err.code === 'REGISTRY_UNREACHABLE') return [finding('registry', 'warning', what, 'check the network and your npm configuration (npm config list); installs and upgrades need the registry')];
    return [finding('registry', 'error', what, redactCredentials(err.hint ?? 'check --registry and your npm configuration (npm config list)'))];
  } catch (e) {
    return [finding('registry', 'error', errText(e), isOcError(e) && e.hint ? e.hint : 'check --registry and your npm configuration (npm config list)')];
  }
}

// ---------------------------------------------------------------------------------------------

interface DiagnoseOptions {
  /** The lock as seen before doctor took it (`--fix`), or undefined to look now. */
  lock?: LockInspection;
  /** Only the checks a fix can change (the re-check after fixing). */
  fixableOnly: boolean;
}

async function diagnose(ctx: CommandContext, opts: DiagnoseOptions): Promise<Check[]> {
  const { layout, config } = ctx;
  const names = await fsp.readdir(layout.versionsDir).catch(() => [] as string[]);
  const anyInstalled = names.some((n) => parseExactVersion(n) === n);
  const facts = config.service.manager ? await openForDoctor(ctx) : null;
  const serviceNode = facts && !Array.isArray(facts) ? facts.def?.env[NODE_KEY] : undefined;
  const fixableGroups = [
    checkLeftovers(ctx),
    checkShims(ctx, anyInstalled),
    facts ? (Array.isArray(facts) ? Promise.resolve(facts) : checkService(ctx, facts)) : Promise.resolve([]),
    checkHomePrograms(ctx, facts && !Array.isArray(facts) ? facts : null),
  ];
  if (opts.fixableOnly) return (await Promise.all(fixableGroups)).flat();
  const nodes = Promise.all([
    nodeInfo('shim', config.runtimeNode),
    ...(serviceNode && serviceNode !== config.runtimeNode && path.isAbsolute(serviceNode) ? [nodeInfo('service', serviceNode)] : []),
  ]);
  const base = (await readCurrent(layout)) ?? (await listInstalled(layout))[0]?.version ?? null;
  const groups = await Promise.all([
    checkConfig(ctx),
    checkMode(ctx),
    checkJournal(ctx),
    Promise.resolve(lockChecks(ctx, opts.lock ?? (await inspectLock(layout)))),
    ...fixableGroups,
    nodes.then((n) => checkVersions(ctx, n)),
    checkDisk(ctx, base),
    checkRegistry(ctx),
  ]);
  return groups.flat();
}

function report(checks: Check[], changed: boolean): DoctorReport {
  const findings = checks.map((c) => c.finding);
  return { ok: !findings.some((f) => f.severity === 'error' && !f.fixed), changed, findings };
}

export async function runDoctor(ctx: CommandContext, opts: { fix: boolean }): Promise<DoctorReport> {
  const { layout } = ctx;
  if (!(await exists(layout.home))) {
    // Nothing to check, and nothing is created (not even by --fix: the lock would create the home).
    return report([finding('home', 'error', `no oc-versions home at ${layout.home}`, 'oc-versions install creates it; or pass --home / set OC_VERSIONS_HOME to the home you meant')], false);
  }
  if (!opts.fix) return report(await diagnose(ctx, { fixableOnly: false }), false);

  const lockBefore = await inspectLock(layout);
  return withLock(layout, 'doctor --fix', async () => {
    const checks = await diagnose(ctx, { lock: lockBefore, fixableOnly: false });
    const applied = new Set<Check>();
    let changed = lockBefore.state === 'dead-holder' || lockBefore.state === 'orphan-owner' || (lockBefore.state === 'unnamed' && lockBefore.stale);
    for (const c of checks) {
      if (!c.apply) continue;
      try {
        await c.apply();
        applied.add(c);
      } catch (e) {
        c.finding.what += ` (the fix failed: ${errText(e)})`;
      }
    }
    const again = new Map((await diagnose(ctx, { fixableOnly: true })).map((c) => [c.finding.id, c]));
    for (const c of checks) {
      if (!applied.has(c)) continue;
      // The lock's fix was taking it; the others are re-checked.
      const gone = c.finding.id === 'lock' || !again.has(c.finding.id);
      c.finding.fixed = gone;
      if (gone) changed = true;
      else c.finding.what += ' (still found after the fix)';
    }
    const ids = new Set(checks.map((c) => c.finding.id));
    const fresh = [...again.values()].filter((c) => !ids.has(c.finding.id));
    return report([...checks, ...fresh], changed);
  });
}

