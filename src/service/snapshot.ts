/**
 * Snapshots: `<home>/snapshots/<txid>/`, everything needed to roll back, and no
 * secret value (invariant 4).
 *
 *   metadata.json            version + real path of `current`, service identity and
 *                            definition hash, env key names, secret store, copied files
 *   service-definition.json  the definition with secret env values replaced by
 *                            references: {"$secretRef":"<store>:<name>"} when a secret
 *                            store holds the value, "oc-secret:<name>" when none does
 *                            (then the value is NOT restorable from the snapshot)
 *   env-keys.json            sorted env key names (inline + env files)
 *   openclaw/openclaw.json   OpenClaw config, secret-looking values replaced by
 *                            "oc-secret:<name>" placeholders
 *   openclaw/<rel>.sqlite    state databases, copied with SQLite's online backup
 *                            (node:sqlite backup()) -- consistent even while the
 *                            gateway writes; without it only while the gateway is
 *                            stopped, never a torn copy of a live WAL database
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError, fromFsError } from '../errors.js';
import type { Config } from '../core/config.js';
import { readJson, writeJsonAtomic } from '../os/fs.js';
import type { Layout } from '../core/layout.js';
import { newTxid, txidTime } from '../core/journal.js';
import { configSecretValues, listStateDatabases, redactConfigText, resolveStateDir } from '../openclaw/state.js';
import { copyDatabase, sqliteUserVersion } from '../openclaw/sqlite.js';
import { isSecretKey, parseSecretRef, secretName, secretRef, type SecretStore, type SecretStoreKind } from '../secrets/types.js';
import { buildDefinitionRecord, envFilesOf, hashFile, readEnvFiles, saveDefinitionRecord } from './definition.js';
import { parseEnvFile } from '../openclaw/env-file.js';
import { envToSecretRefs, redactProgram, type RedactedValue } from '../secrets/redact.js';
import type { ServiceDefinition, ServiceManager } from './types.js';

export interface SnapshotSetup {
  layout: Layout;
  config: Config;
  env: NodeJS.ProcessEnv;
}

export interface SnapshotOptions {
  txid?: string;
  reason?: string;
  manager?: ServiceManager | null;
  store?: SecretStore;
  /** The gateway is known to be stopped: plain copies are consistent. */
  gatewayStopped?: boolean;
  openclawStateDir?: string;
}

export interface SnapshotFile {
  source: string;
  /** Path inside the snapshot dir. */
  copy: string;
  method: 'sqlite-backup' | 'copy-stopped' | 'redacted-text';
}

export interface SnapshotMeta {
  txid: string;
  createdAt: string;
  reason: string | null;
  version: string | null;
  versionPath: string | null;
  service: { manager: string; label: string; definitionPath: string; sha256: string | null } | null;
  envKeys: string[];
  secretKeys: string[];
  secretStore: SecretStoreKind;
  /** Whether every secret value referenced by this snapshot can be restored from it. */
  secretsRestorable: boolean;
  /**
   * Store names of the OpenClaw config's secret values this snapshot kept (`<label>/config/<key>#<n>`;
   * no service: `openclaw.<homeTag>/…`). The config copy refers to them as `oc-secret:config/…`, so
   * they are listed here for `uninstall-all` to delete. Absent in older snapshots.
   */
  storedConfigSecrets?: string[];
  openclaw: { stateDir: string | null; configPath: string | null; files: SnapshotFile[]; skipped: string[] };
  runtime: { node: string; platform: string; arch: string };
}

export interface SnapshotDefinition {
  definition: Omit<ServiceDefinition, 'env'> & { env: Record<string, RedactedValue> };
  envFiles: { path: string; env: Record<string, RedactedValue> }[];
}

export async function createSnapshot(setup: SnapshotSetup, opts: SnapshotOptions = {}): Promise<SnapshotMeta> {
  const { layout, config } = setup;
  const txid = opts.txid ?? newTxid();
  const dir = layout.snapshot(txid);
  if (fs.existsSync(dir)) throw new OcError('INVALID_INPUT', `snapshot ${txid} already exists`);
  const tmp = `${dir}.tmp-${process.pid}`;
  const pattern = config.secretPattern;
  const store = opts.store;
  const storeOk = store ? await store.available() : false;
  const secretKeys = new Set<string>();
  try {
    await fsp.mkdir(tmp, { recursive: true, mode: 0o700 });
    // Installed version: the real target of `current`.
    let versionPath: string | null = null;
    try {
      versionPath = await fsp.realpath(layout.current);
    } catch {
      // no current yet
    }
    const version = versionPath ? path.basename(versionPath) : null;

    let service: SnapshotMeta['service'] = null;
    let envKeys: string[] = [];
    let envAll: Record<string, string> = {};
    const mgr = opts.manager;
    const def = mgr ? await mgr.readDefinition() : null;
    if (mgr && def) {
      const files: SnapshotDefinition['envFiles'] = [];
      for (const { file } of envFilesOf(def)) {
        let fileEnv: Record<string, string> = {};
        try {
          fileEnv = parseEnvFile(await fsp.readFile(file, 'utf8'));
        } catch {
          // absent optional file
        }
        envAll = { ...envAll, ...fileEnv };
        files.push({ path: file, env: await envToSecretRefs(def.label, fileEnv, pattern, store, (k) => secretKeys.add(k)) });
      }
      envAll = { ...envAll, ...def.env };
      const { program } = redactProgram(def.program);
      const snapDef: SnapshotDefinition = {
        definition: { ...def, program, env: await envToSecretRefs(def.label, def.env, pattern, store, (k) => secretKeys.add(k)) },
        envFiles: files,
      };
      await writeJsonAtomic(path.join(tmp, 'service-definition.json'), snapDef, 0o600);
      envKeys = Object.keys(envAll).sort();
      service = { manager: mgr.kind, label: mgr.label, definitionPath: mgr.definitionPath, sha256: await hashFile(mgr.definitionPath) };
    }
    await writeJsonAtomic(path.join(tmp, 'env-keys.json'), envKeys, 0o600);

    // OpenClaw config + state databases.
    const stateDir = resolveStateDir(opts.openclawStateDir ?? config.openclawStateDir, { ...setup.env, ...envAll });
    const files: SnapshotFile[] = [];
    const skipped: string[] = [];
    const storedConfigSecrets: string[] = [];
    const configPath = envAll['OPENCLAW_CONFIG_PATH'] ?? (stateDir ? path.join(stateDir, 'openclaw.json') : null);
    if (configPath && fs.existsSync(configPath)) {
      const { text, redacted } = redactConfigText(await fsp.readFile(configPath, 'utf8'), pattern);
      const copy = path.join('openclaw', 'openclaw.json');
      await fsp.mkdir(path.join(tmp, 'openclaw'), { recursive: true, mode: 0o700 });
      if (storeOk && store && redacted.length > 0) {
        const live = configSecretValues(await fsp.readFile(configPath, 'utf8'), pattern);
        for (const name of redacted) {
          const v = live.get(name);
          if (v === undefined) continue;
          // Named after this home's service, else after the home: another home's entries are never touched.
          const stored = `${service?.label ?? `openclaw.${layout.homeTag}`}/${name}`;
          await store.set(stored, v);
          storedConfigSecrets.push(stored);
        }
      }
      await fsp.writeFile(path.join(tmp, copy), text, { mode: 0o600 });
      files.push({ source: configPath, copy, method: 'redacted-text' });
    } else if (configPath) {
      skipped.push(`${configPath} (absent)`);
    }
    if (stateDir) {
      for (const rel of await listStateDatabases(stateDir)) {
        const copy = path.join('openclaw', rel);
        const method = await copyDatabase(path.join(stateDir, rel), path.join(tmp, copy), Boolean(opts.gatewayStopped));
        files.push({ source: path.join(stateDir, rel), copy, method });
      }
    }

    const meta: SnapshotMeta = {
      txid,
      createdAt: new Date().toISOString(),
      reason: opts.reason ?? null,
      version,
      versionPath,
      service,
      envKeys,
      secretKeys: [...secretKeys].sort(),
      secretStore: storeOk && store ? store.kind : 'none',
      secretsRestorable: secretKeys.size === 0 || storeOk,
      storedConfigSecrets,
      openclaw: { stateDir, configPath, files, skipped },
      runtime: { node: process.version, platform: process.platform, arch: process.arch },
    };
    await writeJsonAtomic(path.join(tmp, 'metadata.json'), meta, 0o600);
    await fsp.mkdir(layout.snapshotsDir, { recursive: true });
    await fsp.rename(tmp, dir);
    return meta;
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw fromFsError(e, 'writing a snapshot') ?? e;
  }
}

export async function readSnapshot(layout: Layout, txid: string): Promise<{ meta: SnapshotMeta; definition: SnapshotDefinition | undefined }> {
  const dir = layout.snapshot(txid);
  const meta = await readJson<SnapshotMeta>(path.join(dir, 'metadata.json'));
  if (!meta) throw new OcError('NOT_FOUND', `no snapshot ${txid}`, { hint: 'oc-versions snapshot list shows the snapshots' });
  return { meta, definition: await readJson<SnapshotDefinition>(path.join(dir, 'service-definition.json')) };
}

export async function listSnapshots(layout: Layout): Promise<SnapshotMeta[]> {
  let names: string[] = [];
  try {
    names = await fsp.readdir(layout.snapshotsDir);
  } catch {
    return [];
  }
  const out: SnapshotMeta[] = [];
  for (const name of names) {
    if (name.includes('.tmp-')) continue;
    const meta = await readJson<SnapshotMeta>(path.join(layout.snapshot(name), 'metadata.json')).catch(() => undefined);
    if (meta) out.push(meta);
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export interface RestoreWhat {
  definition?: boolean;
  /** State databases (the gateway must be stopped). */
  state?: boolean;
  /** Restore only these database paths (live source paths); default all in the snapshot. */
  onlyDatabases?: string[];
}

export interface RestoreOptions {
  manager?: ServiceManager | null;
  store?: SecretStore;
  /** Env values captured in memory at the start of the operation. */
  memory?: Record<string, string>;
  /**
   * The transaction that restores: each live database it replaces is set aside as
   * `<file>.oc-set-aside-<asideTxid>` (default: the snapshot's id), never deleted.
   */
  asideTxid?: string;
  /** Called after a live database is set aside, before the snapshot's copy takes its place (a fault point for tests). */
  afterSetAside?: () => void;
}

export interface RestoreReport {
  txid: string;
  definition: { restored: boolean; unresolvedKeys: string[] } | null;
  databases: string[];
  /** Where each replaced live database went (its -wal/-shm beside it): nothing is overwritten. */
  setAside: Array<{ file: string; aside: string }>;
}

/**
 * The values of a snapshot's env (plain values as kept; a secret reference from, in order, the
 * values captured in memory, the secret store it names, the live definition). In memory only.
 */
export async function resolveSnapshotEnv(
  snapEnv: Record<string, RedactedValue>,
  opts: { store?: SecretStore | undefined; memory?: Record<string, string> | undefined; live?: Record<string, string> },
): Promise<{ env: Record<string, string>; unresolved: string[] }> {
  const env: Record<string, string> = {};
  const unresolved: string[] = [];
  for (const [k, v] of Object.entries(snapEnv)) {
    const ref = parseSecretRef(v);
    if (!ref) {
      env[k] = v as string;
      continue;
    }
    const value =
      opts.memory?.[k] ??
      (ref.kind !== 'none' && opts.store ? await opts.store.get(ref.name).catch(() => undefined) : undefined) ??
      opts.live?.[k];
    if (value === undefined) unresolved.push(k);
    else env[k] = value;
  }
  return { env, unresolved };
}

/** The newest snapshot of this service (same manager and label) that recorded its definition. */
export async function lastServiceSnapshot(layout: Layout, manager: string, label: string): Promise<{ meta: SnapshotMeta; definition: SnapshotDefinition } | undefined> {
  const all = await listSnapshots(layout);
  for (const meta of all.reverse()) {
    if (meta.service?.manager !== manager || meta.service.label !== label) continue;
    const { definition } = await readSnapshot(layout, meta.txid).catch(() => ({ definition: undefined }));
    if (definition) return { meta, definition };
  }
  return undefined;
}

export async function restoreSnapshot(
  setup: SnapshotSetup,
  txid: string,
  what: RestoreWhat,
  opts: RestoreOptions = {},
): Promise<RestoreReport> {
  const { layout } = setup;
  const dir = layout.snapshot(txid);
  const { meta, definition } = await readSnapshot(layout, txid);
  const report: RestoreReport = { txid, definition: null, databases: [], setAside: [] };
  const mgr = opts.manager;

  if (what.definition) {
    if (!definition || !mgr) {
      throw new OcError('NOT_FOUND', `snapshot ${txid} has no service definition to restore`);
    }
    const live = await mgr.readDefinition().catch(() => null);
    const liveAll = live ? { ...(await readEnvFiles(live)), ...live.env } : {};
    const { env, unresolved } = await resolveSnapshotEnv(definition.definition.env, { ...opts, live: liveAll });
    const restored: ServiceDefinition = { ...definition.definition, env };
    if (restored.program.some((a) => a.includes('oc-secret:')) && live) restored.program = live.program;
    await mgr.writeDefinition(restored);
    await saveDefinitionRecord(layout, await buildDefinitionRecord(mgr, restored, Boolean(setup.config.service.adopted)));
    report.definition = { restored: true, unresolvedKeys: unresolved.sort() };
  }

  if (what.state) {
    if (mgr && (await mgr.status()).running) {
      throw new OcError('REFUSED', 'stop the gateway before restoring its state databases');
    }
    for (const f of meta.openclaw.files) {
      if (f.method === 'redacted-text') continue;
      if (what.onlyDatabases && !what.onlyDatabases.includes(f.source)) continue;
      const tmp = `${f.source}.oc-restore-${process.pid}`;
      await fsp.mkdir(path.dirname(f.source), { recursive: true });
      await fsp.copyFile(path.join(dir, f.copy), tmp);
      // The live database moves aside with its WAL/SHM (they belong to it; SQLite would replay
      // them into the restored copy): renamed on the same filesystem, never deleted.
      if (fs.existsSync(f.source) || fs.existsSync(`${f.source}-wal`)) {
        report.setAside.push({ file: f.source, aside: await setDatabaseAside(f.source, opts.asideTxid ?? txid) });
        opts.afterSetAside?.();
      }
      await fsp.rm(`${f.source}-shm`, { force: true });
      if (fs.existsSync(path.join(dir, `${f.copy}-wal`))) await fsp.copyFile(path.join(dir, `${f.copy}-wal`), `${f.source}-wal`);
      await fsp.rename(tmp, f.source);
      report.databases.push(f.source);
    }
  }

  return report;
}

/** Databases whose live schema is newer than the snapshot's copy: the newer version migrated them. */
export async function migratedDatabases(layout: Layout, txid: string): Promise<Array<{ source: string; live: number; snapshot: number }>> {
  let meta: SnapshotMeta;
  try {
    meta = (await readSnapshot(layout, txid)).meta;
  } catch {
    return [];
  }
  const out: Array<{ source: string; live: number; snapshot: number }> = [];
  for (const f of meta.openclaw.files) {
    if (f.method === 'redacted-text') continue;
    const live = await sqliteUserVersion(f.source);
    const snap = await sqliteUserVersion(path.join(layout.snapshot(txid), f.copy));
    if (live !== null && snap !== null && live > snap) out.push({ source: f.source, live, snapshot: snap });
  }
  return out;
}

/**
 * State databases that exist now but were not there when the snapshot was taken: a newer version
 * created them (at its schema, which an older build refuses, as OpenClaw 2026.9.5 refuses the agent
 * database 2026.9.6 creates). Going back to the snapshot means they did not exist.
 */
export async function createdSinceSnapshot(layout: Layout, txid: string): Promise<string[]> {
  let meta: SnapshotMeta;
  try {
    meta = (await readSnapshot(layout, txid)).meta;
  } catch {
    return [];
  }
  const stateDir = meta.openclaw.stateDir;
  if (!stateDir) return [];
  const known = new Set(meta.openclaw.files.map((f) => f.source));
  return (await listStateDatabases(stateDir)).map((rel) => path.join(stateDir, rel)).filter((f) => !known.has(f));
}

/** The marker between a database's name and the transaction that set it aside. */
export const ASIDE_MARK = '.oc-set-aside-';

/**
 * Move a database (and its -wal/-shm) aside as `<file>.oc-set-aside-<txid>` (`-2`, `-3`, … when
 * that name is taken, as when one transaction sets the same file aside twice); nothing is deleted.
 */
export async function setDatabaseAside(file: string, txid: string): Promise<string> {
  let dest = `${file}${ASIDE_MARK}${txid}`;
  for (let n = 2; ['', '-wal', '-shm'].some((x) => fs.existsSync(`${dest}${x}`)); n++) dest = `${file}${ASIDE_MARK}${txid}-${n}`;
  await moveDatabase(file, dest);
  return dest;
}

/**
 * Rename a database with its -wal/-shm (each where present), the database file last: never a WAL
 * left beside no database, which SQLite would replay into a new one.
 */
export async function moveDatabase(from: string, to: string): Promise<void> {
  for (const suffix of ['-wal', '-shm', '']) {
    await fsp.rename(`${from}${suffix}`, `${to}${suffix}`).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
}

export interface AsideFile {
  /** The set-aside database (its -wal/-shm, if any, beside it). */
  aside: string;
  /** Where it lived, and where `state aside restore` puts it back. */
  original: string;
  /** The transaction that set it aside (its log: logs/<txid>.jsonl). */
  txid: string;
  /** When it was set aside (the txid's time). */
  at: string | null;
  /** Bytes, the database with its -wal. */
  bytes: number;
  /** Its schema (PRAGMA user_version), and the live database's at `original` (null: none there). */
  schema: number | null;
  liveSchema: number | null;
  /** Last write to the file or its WAL. */
  modifiedAt: string;
}

/** A set-aside database's parts from its name, or null when the name is not one. */
export function parseAsideName(file: string): { original: string; txid: string } | null {
  const at = file.lastIndexOf(ASIDE_MARK);
  if (at <= 0 || /-(wal|shm)$/.test(file)) return null;
  const txid = file.slice(at + ASIDE_MARK.length);
  if (!/^\d{8}T\d{6}Z-[0-9a-f]+(-\d+)?$/.test(txid)) return null;
  return { original: file.slice(0, at), txid };
}

/** Every set-aside database under the state dir (where state databases live: `state/`, `agents/<id>/agent/`). */
export async function listAsideFiles(stateDir: string): Promise<AsideFile[]> {
  const dirs = [path.join(stateDir, 'state')];
  try {
    for (const id of (await fsp.readdir(path.join(stateDir, 'agents'))).sort()) dirs.push(path.join(stateDir, 'agents', id, 'agent'));
  } catch {
    // no agents
  }
  const out: AsideFile[] = [];
  for (const dir of dirs) {
    let names: string[] = [];
    try {
      names = await fsp.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const aside = path.join(dir, name);
      const parsed = parseAsideName(aside);
      if (!parsed) continue;
      const st = await fsp.stat(aside).catch(() => null);
      if (!st?.isFile()) continue;
      const wal = await fsp.stat(`${aside}-wal`).catch(() => null);
      out.push({
        aside,
        original: parsed.original,
        txid: parsed.txid,
        at: txidTime(parsed.txid),
        bytes: st.size + (wal?.size ?? 0),
        schema: await sqliteUserVersion(aside),
        liveSchema: fs.existsSync(parsed.original) ? await sqliteUserVersion(parsed.original) : null,
        modifiedAt: new Date(Math.max(st.mtimeMs, wal?.mtimeMs ?? 0)).toISOString(),
      });
    }
  }
  return out;
}

/** The last write to a database: the newest mtime of the file and its WAL (ms), null when absent. */
export async function lastWriteMs(file: string): Promise<number | null> {
  const times = await Promise.all(['', '-wal'].map((x) => fsp.stat(`${file}${x}`).then((st) => st.mtimeMs, () => null)));
  const found = times.filter((t): t is number => t !== null);
  return found.length ? Math.max(...found) : null;
}
