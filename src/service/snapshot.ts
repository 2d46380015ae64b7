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
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError, fromFsError } from '../errors.js';
import type { Config } from '../core/config.js';
import { readJson, writeJsonAtomic } from '../core/fsutil.js';
import type { Layout } from '../core/layout.js';
import { isSecretKey, parseSecretRef, secretName, secretRef, type SecretStore, type SecretStoreKind } from '../secrets/types.js';
import { buildDefinitionRecord, envFilesOf, hashFile, parseEnvFile, readEnvFiles, redactProgram, saveDefinitionRecord } from './definition.js';
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
  openclaw: { stateDir: string | null; configPath: string | null; files: SnapshotFile[]; skipped: string[] };
  runtime: { node: string; platform: string; arch: string };
}

type RedactedValue = string | { $secretRef: string };

export interface SnapshotDefinition {
  definition: Omit<ServiceDefinition, 'env'> & { env: Record<string, RedactedValue> };
  envFiles: { path: string; env: Record<string, RedactedValue> }[];
}

export function newTxid(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${stamp}-${crypto.randomBytes(3).toString('hex')}`;
}

async function redactEnv(
  label: string,
  env: Record<string, string>,
  pattern: string,
  store: SecretStore | undefined,
  storeOk: boolean,
  secretKeys: Set<string>,
): Promise<Record<string, RedactedValue>> {
  const out: Record<string, RedactedValue> = {};
  for (const [k, v] of Object.entries(env)) {
    if (!isSecretKey(k, pattern) || parseSecretRef(v)) {
      out[k] = v;
      continue;
    }
    secretKeys.add(k);
    const name = secretName(label, k);
    if (storeOk && store) await store.set(name, v);
    out[k] = secretRef(storeOk && store ? store.kind : 'none', name);
  }
  return out;
}

/**
 * A `key: "value"` pair in JSON/JSON5 text: quote, key, separator, value quote, raw value.
 * Shared with the canary (src/openclaw/canary.ts), which swaps the same values for env references.
 */
export const CONFIG_PAIR_RE = /(["']?)([A-Za-z0-9_$-]+)\1(\s*:\s*)(["'])((?:\\.|(?!\4)[^\\])*)\4/g;

/** Replace string values of secret-looking keys in JSON/JSON5 text with placeholders. */
export function redactConfigText(text: string, pattern: string): { text: string; redacted: string[] } {
  const re = new RegExp(pattern, 'i');
  const counts = new Map<string, number>();
  const redacted: string[] = [];
  const out = text.replace(CONFIG_PAIR_RE, (all, q: string, key: string, sep: string, vq: string) => {
    if (!re.test(key)) return all;
    const n = counts.get(key) ?? 0;
    counts.set(key, n + 1);
    const name = `config/${key}#${n}`;
    redacted.push(name);
    return `${q}${key}${q}${sep}${vq}oc-secret:${name}${vq}`;
  });
  return { text: out, redacted };
}

/** Values of the nth occurrence of each secret-looking key in a live config text. */
function configSecretValues(text: string, pattern: string): Map<string, string> {
  const re = new RegExp(pattern, 'i');
  const counts = new Map<string, number>();
  const values = new Map<string, string>();
  for (const m of text.matchAll(CONFIG_PAIR_RE)) {
    const key = m[2]!;
    if (!re.test(key)) continue;
    const n = counts.get(key) ?? 0;
    counts.set(key, n + 1);
    values.set(`config/${key}#${n}`, m[5]!);
  }
  return values;
}

function resolveStateDir(setup: SnapshotSetup, opts: SnapshotOptions, envAll: Record<string, string>): string | null {
  const dir = opts.openclawStateDir ?? setup.config.openclawStateDir ?? envAll['OPENCLAW_STATE_DIR'];
  if (dir) return dir;
  const home = envAll['HOME'] ?? setup.env['HOME'];
  return home ? path.join(home, '.openclaw') : null;
}

export async function listStateDatabases(stateDir: string): Promise<string[]> {
  const found: string[] = [];
  const main = path.join('state', 'openclaw.sqlite');
  if (fs.existsSync(path.join(stateDir, main))) found.push(main);
  let agents: string[] = [];
  try {
    agents = await fsp.readdir(path.join(stateDir, 'agents'));
  } catch {
    // no agents
  }
  for (const id of agents.sort()) {
    const rel = path.join('agents', id, 'agent', 'openclaw-agent.sqlite');
    if (fs.existsSync(path.join(stateDir, rel))) found.push(rel);
  }
  return found;
}

type SqliteModule = {
  DatabaseSync: new (p: string, o?: { readOnly?: boolean }) => { close(): void };
  backup?: (db: unknown, dest: string) => Promise<number>;
};

async function loadSqlite(): Promise<SqliteModule | null> {
  try {
    const mod = (await import('node:sqlite')) as unknown as SqliteModule;
    return typeof mod.backup === 'function' ? mod : null;
  } catch {
    return null;
  }
}

/** A consistent copy of one SQLite database (backup API, or a copy while stopped). */
export async function copyDatabase(src: string, dest: string, gatewayStopped: boolean): Promise<SnapshotFile['method']> {
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  const sqlite = await loadSqlite();
  if (sqlite?.backup) {
    const db = new sqlite.DatabaseSync(src, { readOnly: true });
    try {
      await sqlite.backup(db, dest);
    } finally {
      db.close();
    }
    await fsp.chmod(dest, 0o600);
    return 'sqlite-backup';
  }
  if (!gatewayStopped) {
    throw new OcError('ENVIRONMENT', `cannot take a consistent copy of ${src} while the gateway runs (this node has no node:sqlite backup)`, {
      hint: 'run oc-versions on Node >= 22.16, or stop the gateway first',
    });
  }
  // Stopped: the main file and its WAL are quiescent; copy them together (the -shm is rebuilt).
  await fsp.copyFile(src, dest);
  if (fs.existsSync(`${src}-wal`)) await fsp.copyFile(`${src}-wal`, `${dest}-wal`);
  await fsp.chmod(dest, 0o600);
  return 'copy-stopped';
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
        files.push({ path: file, env: await redactEnv(def.label, fileEnv, pattern, store, storeOk, secretKeys) });
      }
      envAll = { ...envAll, ...def.env };
      const { program } = redactProgram(def.program);
      const snapDef: SnapshotDefinition = {
        definition: { ...def, program, env: await redactEnv(def.label, def.env, pattern, store, storeOk, secretKeys) },
        envFiles: files,
      };
      await writeJsonAtomic(path.join(tmp, 'service-definition.json'), snapDef, 0o600);
      envKeys = Object.keys(envAll).sort();
      service = { manager: mgr.kind, label: mgr.label, definitionPath: mgr.definitionPath, sha256: await hashFile(mgr.definitionPath) };
    }
    await writeJsonAtomic(path.join(tmp, 'env-keys.json'), envKeys, 0o600);

    // OpenClaw config + state databases.
    const stateDir = resolveStateDir(setup, opts, envAll);
    const files: SnapshotFile[] = [];
    const skipped: string[] = [];
    const configPath = envAll['OPENCLAW_CONFIG_PATH'] ?? (stateDir ? path.join(stateDir, 'openclaw.json') : null);
    if (configPath && fs.existsSync(configPath)) {
      const { text, redacted } = redactConfigText(await fsp.readFile(configPath, 'utf8'), pattern);
      const copy = path.join('openclaw', 'openclaw.json');
      await fsp.mkdir(path.join(tmp, 'openclaw'), { recursive: true, mode: 0o700 });
      if (storeOk && store && redacted.length > 0) {
        const live = configSecretValues(await fsp.readFile(configPath, 'utf8'), pattern);
        for (const name of redacted) {
          const v = live.get(name);
          if (v !== undefined) await store.set(`${service?.label ?? 'openclaw'}/${name}`, v);
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
    const meta = await readJson<SnapshotMeta>(path.join(layout.snapshotsDir, name, 'metadata.json')).catch(() => undefined);
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
  config?: boolean;
}

export interface RestoreOptions {
  manager?: ServiceManager | null;
  store?: SecretStore;
  /** Env values captured in memory at the start of the operation. */
  memory?: Record<string, string>;
  /** Load the restored definition (launchd bootout+bootstrap / daemon-reload). */
  reload?: boolean;
}

export interface RestoreReport {
  txid: string;
  definition: { restored: boolean; unresolvedKeys: string[] } | null;
  databases: string[];
  config: { restored: boolean; unresolved: string[] } | null;
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
  const report: RestoreReport = { txid, definition: null, databases: [], config: null };
  const mgr = opts.manager;

  if (what.definition) {
    if (!definition || !mgr) {
      throw new OcError('NOT_FOUND', `snapshot ${txid} has no service definition to restore`);
    }
    const live = await mgr.readDefinition().catch(() => null);
    const liveAll = live ? { ...(await readEnvFiles(live)), ...live.env } : {};
    const env: Record<string, string> = {};
    const unresolved: string[] = [];
    for (const [k, v] of Object.entries(definition.definition.env)) {
      const ref = parseSecretRef(v);
      if (!ref) {
        env[k] = v as string;
        continue;
      }
      const value =
        opts.memory?.[k] ??
        (ref.kind !== 'none' && opts.store ? await opts.store.get(ref.name).catch(() => undefined) : undefined) ??
        liveAll[k];
      if (value === undefined) unresolved.push(k);
      else env[k] = value;
    }
    const restored: ServiceDefinition = { ...definition.definition, env };
    if (restored.program.some((a) => a.includes('oc-secret:')) && live) restored.program = live.program;
    await mgr.writeDefinition(restored);
    if (opts.reload) await mgr.reload();
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
      await fsp.copyFile(path.join(dir, f.copy), tmp);
      // The old WAL/SHM belong to the replaced database: remove them, or SQLite would replay them.
      await fsp.rm(`${f.source}-wal`, { force: true });
      await fsp.rm(`${f.source}-shm`, { force: true });
      if (fs.existsSync(path.join(dir, `${f.copy}-wal`))) await fsp.copyFile(path.join(dir, `${f.copy}-wal`), `${f.source}-wal`);
      await fsp.rename(tmp, f.source);
      report.databases.push(f.source);
    }
  }

  if (what.config) {
    const f = meta.openclaw.files.find((x) => x.method === 'redacted-text');
    if (f) {
      const text = await fsp.readFile(path.join(dir, f.copy), 'utf8');
      const liveText = fs.existsSync(f.source) ? await fsp.readFile(f.source, 'utf8') : '';
      const live = configSecretValues(liveText, setup.config.secretPattern);
      const unresolved: string[] = [];
      const out: string[] = [];
      let last = 0;
      for (const m of text.matchAll(/oc-secret:(config\/[A-Za-z0-9_$-]+#\d+)/g)) {
        const name = m[1]!;
        const stored = opts.store ? await opts.store.get(`${meta.service?.label ?? 'openclaw'}/${name}`).catch(() => undefined) : undefined;
        const value = stored ?? live.get(name);
        out.push(text.slice(last, m.index));
        if (value === undefined) {
          unresolved.push(name);
          out.push(m[0]);
        } else out.push(value);
        last = m.index + m[0].length;
      }
      out.push(text.slice(last));
      const tmp = `${f.source}.oc-restore-${process.pid}`;
      await fsp.writeFile(tmp, out.join(''), { mode: 0o600 });
      await fsp.rename(tmp, f.source);
      report.config = { restored: true, unresolved };
    }
  }
  return report;
}

/** PRAGMA user_version of a SQLite file (OpenClaw's schema version), or null if unreadable. */
export async function sqliteUserVersion(file: string): Promise<number | null> {
  const sqlite = await loadSqlite();
  if (!sqlite || !fs.existsSync(file)) return null;
  try {
    const db = new sqlite.DatabaseSync(file, { readOnly: true });
    try {
      const row = (db as unknown as { prepare(sql: string): { get(): Record<string, unknown> } }).prepare('PRAGMA user_version').get();
      const v = row['user_version'];
      return typeof v === 'number' ? v : null;
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
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
