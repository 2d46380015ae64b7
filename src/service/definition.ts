/**
 * The definition check: at install/adopt time oc-versions records the sha256 of
 * the service definition file and its env key set (names only, never values) in
 * `<home>/service/definition.json`. After every operation that could change the
 * definition, checkAndRestoreDefinition compares the live file with the record;
 * a missing env key is put back (value from the in-memory capture taken at the
 * start of the operation, else the secret store) and reported.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { readJson, writeFileAtomicBytes, writeJsonAtomic } from '../os/fs.js';
import type { Layout } from '../core/layout.js';
import { processEnviron } from '../os/proc.js';
import { redactProgram } from '../secrets/redact.js';
import { parseEnvFile } from '../openclaw/env-file.js';
import { isSecretKey, secretName, type SecretStore } from '../secrets/types.js';
import type { ManagerKind, ServiceDefinition, ServiceManager } from './types.js';

export const SUPERVISOR_MODE_KEY = 'OPENCLAW_SUPERVISOR_MODE';
/** OpenClaw's Doctor leaves the service definition alone (a policy separate from the supervisor mode). */
export const REPAIR_POLICY_KEY = 'OPENCLAW_SERVICE_REPAIR_POLICY';
/** What an external supervisor sets in every definition it writes (OPENCLAW_FACTS §7). */
export const EXTERNAL_SUPERVISOR_ENV: Readonly<Record<string, string>> = { [SUPERVISOR_MODE_KEY]: 'external', [REPAIR_POLICY_KEY]: 'external' };

export interface DefinitionRecord {
  manager: ManagerKind;
  label: string;
  definitionPath: string;
  sha256: string | null;
  /** Sorted inline env key names. */
  envKeys: string[];
  /** Sorted key names found in env files the job sources (env-wrapper .env, EnvironmentFile=). */
  envFileKeys: string[];
  /** argv with values of --token/--password style flags redacted. */
  program: string[];
  programRedacted: boolean;
  adopted: boolean;
  recordedAt: string;
}

export interface DefinitionCheck {
  /** The definition file exists. */
  present: boolean;
  /** Hash differs from the record. */
  changed: boolean;
  restoredKeys: string[];
  /** Keys missing that could not be restored (no value in memory or the store). */
  unrestorableKeys: string[];
  programRestored: boolean;
  /** Whether the file was rewritten (the manager must reload it before the next start). */
  rewritten: boolean;
  sha256: string | null;
}

export function recordPath(layout: Layout): string {
  return layout.definitionRecord;
}

export async function readDefinitionRecord(layout: Layout): Promise<DefinitionRecord | undefined> {
  return readJson<DefinitionRecord>(recordPath(layout));
}

export async function hashFile(file: string): Promise<string | null> {
  try {
    return crypto.createHash('sha256').update(await fsp.readFile(file)).digest('hex');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

const SHELLS = new Set(['/bin/sh', '/bin/bash', '/usr/bin/sh', '/usr/bin/bash', 'sh', 'bash', '/bin/zsh', 'zsh']);

/** The env-wrapper layout: `/bin/sh <dir>/<label>-env-wrapper.sh <dir>/<label>.env <cmd...>`. */
export function envWrapperOf(program: readonly string[]): { wrapper: string; envFile: string } | undefined {
  const [sh, wrapper, envFile] = program;
  if (sh === undefined || wrapper === undefined || envFile === undefined) return undefined;
  if (!SHELLS.has(sh) || !/env-wrapper\.sh$/.test(wrapper)) return undefined;
  return { wrapper, envFile };
}

/** Every env file the job reads, with systemd's optional `-` prefix stripped. */
export function envFilesOf(def: ServiceDefinition): { file: string; optional: boolean }[] {
  const files = def.envFiles.map((f) => ({ file: f.replace(/^-/, ''), optional: f.startsWith('-') }));
  const w = envWrapperOf(def.program);
  if (w) files.push({ file: w.envFile, optional: false });
  return files;
}



/** Env values the job gets from its env files (missing optional files count as empty). */
export async function readEnvFiles(def: ServiceDefinition): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const { file } of envFilesOf(def)) {
    try {
      Object.assign(env, parseEnvFile(await fsp.readFile(file, 'utf8')));
    } catch {
      // unreadable / absent: its keys count as missing in the check
    }
  }
  return env;
}

/**
 * In-memory capture of every env value the job gets (inline + env files), taken
 * at the start of an operation. Never written anywhere.
 */
export async function captureEnvValues(def: ServiceDefinition): Promise<Record<string, string>> {
  return { ...(await readEnvFiles(def)), ...def.env };
}

/**
 * Values of `keys` in the environment of the running job (/proc/<pid>/environ),
 * in memory only. This is where a value dropped from a regenerated definition
 * still lives when no secret store holds it. Empty where /proc is unavailable.
 */
export async function captureRunningEnv(mgr: ServiceManager, keys: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const st = await mgr.status().catch(() => null);
  if (!st?.pid) return out;
  const env = (await jobEnviron(mgr, st.pid))?.env;
  if (!env) return out;
  for (const k of keys) {
    const v = env.get(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * Every env value the job has now, in memory only: the running process's environment
 * first (it still has keys a regenerated definition already dropped), then what the
 * definition and its env files say. The source for restoring keys a rewrite dropped.
 */
export async function captureServiceEnv(mgr: ServiceManager, record: DefinitionRecord | undefined): Promise<Record<string, string>> {
  const running = record ? await captureRunningEnv(mgr, [...record.envKeys, ...record.envFileKeys]).catch(() => ({})) : {};
  const def = await mgr.readDefinition().catch(() => null);
  return { ...running, ...(def ? await captureEnvValues(def) : {}) };
}

export async function buildDefinitionRecord(
  mgr: ServiceManager,
  def: ServiceDefinition,
  adopted: boolean,
): Promise<DefinitionRecord> {
  const { program, redacted } = redactProgram(def.program);
  return {
    manager: mgr.kind,
    label: mgr.label,
    definitionPath: mgr.definitionPath,
    sha256: await hashFile(mgr.definitionPath),
    envKeys: Object.keys(def.env).sort(),
    envFileKeys: Object.keys(await readEnvFiles(def)).sort(),
    program,
    programRedacted: redacted,
    adopted,
    recordedAt: new Date().toISOString(),
  };
}

export async function saveDefinitionRecord(layout: Layout, record: DefinitionRecord): Promise<void> {
  await writeJsonAtomic(recordPath(layout), record, 0o600);
}

export interface CheckOptions {
  manager: ServiceManager;
  record: DefinitionRecord;
  layout: Layout;
  /** Values captured at the start of the operation (captureEnvValues). */
  memory?: Record<string, string>;
  store?: SecretStore;
  secretPattern: string;
  /** Path the program must run through (<home>/bin/openclaw-gateway). */
  launcher: string;
  /** Ask the manager to load the rewritten definition (launchd: bootout+bootstrap). */
  reload?: boolean;
}

export async function checkAndRestoreDefinition(opts: CheckOptions): Promise<DefinitionCheck> {
  const { manager, record } = opts;
  const result: DefinitionCheck = {
    present: false,
    changed: false,
    restoredKeys: [],
    unrestorableKeys: [],
    programRestored: false,
    rewritten: false,
    sha256: null,
  };
  const def = await manager.readDefinition();
  result.sha256 = await hashFile(manager.definitionPath);
  if (!def) {
    result.changed = true;
    result.unrestorableKeys = [...record.envKeys, ...record.envFileKeys].sort();
    return result;
  }
  result.present = true;
  result.changed = result.sha256 !== record.sha256;
  const fromFiles = await readEnvFiles(def);
  const wanted = [...new Set([...record.envKeys, ...record.envFileKeys])].sort();
  let dirty = false;
  for (const key of wanted) {
    if (key in def.env || key in fromFiles) continue;
    let value = opts.memory?.[key];
    if (value === undefined && opts.store && isSecretKey(key, opts.secretPattern)) {
      value = await opts.store.get(secretName(record.label, key)).catch(() => undefined);
    }
    if (value === undefined) value = EXTERNAL_SUPERVISOR_ENV[key];
    if (value === undefined) {
      result.unrestorableKeys.push(key);
      continue;
    }
    // Keys that lived in an env file come back inline: the env file is not ours to rewrite.
    def.env[key] = value;
    result.restoredKeys.push(key);
    dirty = true;
  }
  if (!def.program.includes(opts.launcher) && !record.programRedacted && record.program.includes(opts.launcher)) {
    def.program = [...record.program];
    result.programRestored = true;
    dirty = true;
  }
  if (dirty) {
    await manager.writeDefinition(def);
    result.rewritten = true;
    result.sha256 = await hashFile(manager.definitionPath);
    if (opts.reload) await manager.reload();
  }
  if (result.changed || dirty) {
    // Keys that could not be restored stay in the record: the record is the contract, not the file.
    const next = await buildDefinitionRecord(manager, def, record.adopted);
    next.envKeys = [...new Set([...next.envKeys, ...record.envKeys.filter((k) => !next.envFileKeys.includes(k))])].sort();
    next.envFileKeys = [...new Set([...next.envFileKeys, ...record.envFileKeys.filter((k) => !next.envKeys.includes(k))])].sort();
    await saveDefinitionRecord(opts.layout, next);
  }
  return result;
}

/**
 * Whether the job the manager has running agrees with the record: its process runs
 * from the versions tree (so it came through the launcher) and its environment has
 * every recorded key. null where the OS cannot tell (no /proc environ).
 */
export async function loadedJobAgrees(mgr: ServiceManager, record: DefinitionRecord): Promise<boolean | null> {
  const st = await mgr.status().catch(() => null);
  if (!st?.running || !st.pid) return false;
  if (st.version === null) return false;
  const found = await jobEnviron(mgr, st.pid);
  if (!found) return null;
  // The manager's view has the definition's keys only: env-file keys are the wrapper's, at exec.
  return [...record.envKeys, ...(found.fromProcess ? record.envFileKeys : [])].every((k) => found.env.has(k));
}

/**
 * The running job's environment: its process's own (/proc), else the environment the manager
 * gives the loaded job (launchd's `print`: no /proc on macOS). null when neither can be read.
 */
async function jobEnviron(mgr: ServiceManager, pid: number): Promise<{ env: Map<string, string>; fromProcess: boolean } | null> {
  const env = processEnviron(pid);
  if (env) return { env, fromProcess: true };
  const loaded = await mgr.loadedEnv?.().catch(() => null);
  return loaded ? { env: new Map(Object.entries(loaded)), fromProcess: false } : null;
}

/** What guardDefinition found after the guarded step. */
export interface DefinitionGuardResult {
  /** False only when a changed file could not be put back. */
  ok: boolean;
  /** Something changed during the guarded step (a file, the job's pid). */
  changed: boolean;
  /** Files put back byte for byte (or removed, when they did not exist before). */
  restored: string[];
  /** The job was reloaded (and restarted, where a reload alone does not reach the running job). */
  reloaded: boolean;
  /** The service's pid before and after, when it changed. */
  pidChanged: { before: number | null; after: number | null } | null;
  detail: string;
}

async function readExact(file: string): Promise<{ bytes: Buffer | null; mode: number }> {
  try {
    const [bytes, st] = await Promise.all([fsp.readFile(file), fsp.stat(file)]);
    return { bytes, mode: st.mode & 0o7777 };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { bytes: null, mode: 0o600 };
    throw e;
  }
}

/**
 * Remember the live definition (its file and every env file it names, byte for byte, in memory
 * only; the job's pid) before a step that runs code of a version that is not live yet and must
 * change none of it: the canary (issue 31). `verify()` puts back every file that changed since,
 * exactly as it was, and reloads the job when the manager may have loaded a rewritten definition
 * (`restartAfterReload` managers, whose reload restarts nothing) or the running job no longer has
 * every recorded key (then it is also restarted on what `current` says, which is still the old
 * version before the flip).
 */
export async function guardDefinition(mgr: ServiceManager, layout: Layout, restartAfterReload: boolean): Promise<{ files: string[]; verify(): Promise<DefinitionGuardResult> }> {
  const def = await mgr.readDefinition().catch(() => null);
  const files = [...new Set([mgr.definitionPath, ...(def ? envFilesOf(def).map((f) => f.file) : [])])];
  const before = await Promise.all(files.map(readExact));
  const pid0 = (await mgr.status().catch(() => null))?.pid ?? null;
  return {
    files,
    async verify() {
      const restored: string[] = [];
      try {
        for (const [i, file] of files.entries()) {
          const was = before[i]!;
          const now = await readExact(file);
          if (now.bytes === null ? was.bytes === null : was.bytes !== null && now.bytes.equals(was.bytes) && now.mode === was.mode) continue;
          if (was.bytes === null) await fsp.rm(file, { force: true });
          else await writeFileAtomicBytes(file, was.bytes, was.mode);
          restored.push(file);
        }
      } catch (e) {
        const done = restored.length ? `; restored ${restored.join(', ')}` : '';
        return { ok: false, changed: true, restored, reloaded: false, pidChanged: null, detail: `the live service definition changed and could not be put back: ${(e as Error).message}${done}` };
      }
      const pid1 = (await mgr.status().catch(() => null))?.pid ?? null;
      const pidChanged = pid0 !== pid1 ? { before: pid0, after: pid1 } : null;
      let reloaded = false;
      if (restored.length > 0 || pidChanged) {
        const record = await readDefinitionRecord(layout);
        const agrees = record ? await loadedJobAgrees(mgr, record) : null;
        if (restartAfterReload || agrees === false) {
          await mgr.reload();
          if (agrees === false && restartAfterReload) await mgr.restart({});
          reloaded = true;
        }
      }
      if (restored.length === 0 && !pidChanged) {
        return { ok: true, changed: false, restored, reloaded, pidChanged, detail: `the live service definition is unchanged (${files.length} file(s) compared byte for byte)` };
      }
      const parts = [restored.length ? `the live service definition changed during the canary: put back ${restored.join(', ')} byte for byte` : 'the live service definition is unchanged'];
      if (reloaded) parts.push('reloaded the job');
      if (pidChanged) parts.push(`the gateway's pid changed ${pidChanged.before ?? 'none'} → ${pidChanged.after ?? 'none'} during the canary`);
      return { ok: true, changed: true, restored, reloaded, pidChanged, detail: parts.join('; ') };
    },
  };
}
