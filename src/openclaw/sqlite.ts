/**
 * Consistent single-file copies of OpenClaw's SQLite databases and their schema
 * version. node:sqlite's online backup gives a WAL-consistent copy while the
 * gateway writes; without it, a copy is only taken while the gateway is stopped.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';

export type CopyMethod = 'sqlite-backup' | 'copy-stopped';

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
export async function copyDatabase(src: string, dest: string, gatewayStopped: boolean): Promise<CopyMethod> {
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
