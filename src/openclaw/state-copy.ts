/**
 * A private, runnable copy of the OpenClaw state for the canary (src/openclaw/canary.ts), in one of
 * three scopes (`StateScope`): the whole state dir cloned copy-on-write or copied plainly into a dir
 * beside it (`whole`: everything but `canary.stateExclude`, sockets, and the files below, which get
 * the same treatment in every scope), or only the files below (`selective`, under the home):
 *
 *   <copy>/openclaw.json       the config, every secret-looking string value replaced by an
 *                              env reference `${OC_CANARY_SECRET_<n>}`; the values stay in memory
 *                              (`secretEnv`) and reach the canary only through its environment
 *   <copy>/<rel>.sqlite        each state database as ONE consolidated file (SQLite online backup:
 *                              consistent while the live gateway writes; then switched to rollback-
 *                              journal mode, so no -wal/-shm sidecars appear, which `database
 *                              preflight` would call `indeterminate`)
 *   <copy>/npm/projects, extensions, plugin-skills
 *                              the installed plugin payloads, symlinks kept as links; a link into a
 *                              version tree (versions/<v>/…, or through `current`) is re-pointed at the
 *                              same path in the target version, and a link into the live state dir at
 *                              the same path in the copy, so the canary never reads the old tree or
 *                              writes the live state
 *
 * Why env references and not a redacted file: OpenClaw resolves `${VAR}` in any config string
 * value at load time (docs: "Env var substitution in config"), so the canary runs with the real
 * values while the file under the home holds none. Placeholders (like snapshots write) would start
 * the canary with wrong credentials; a plaintext copy would break invariant 4.
 *
 * `<state>/.env` (provider keys) is not copied either: its values are parsed into memory and
 * handed to the canary's environment (the gateway reads that file only for keys not already set).
 * The live state is only read: databases through a read-only connection, the rest with lstat/read.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Layout } from '../core/layout.js';
import { parseExactVersion } from '../core/versions.js';
import { parseEnvFile } from './env-file.js';
import { copyDatabase } from './sqlite.js';
import { CONFIG_PAIR_RE, listStateDatabases } from './state.js';

/** Plugin payload dirs under the state dir (OPENCLAW_FACTS.md §4, and the skill links of links.ts). */
export const PLUGIN_DIRS = ['npm/projects', 'extensions', 'plugin-skills'] as const;

export const SECRET_ENV_PREFIX = 'OC_CANARY_SECRET_';

/**
 * What the canary rehearsed on: `whole-clone` (the whole state dir, copy-on-write clones beside
 * it), `whole-copy` (the whole state dir, copied plainly beside it: no clones, small enough) or
 * `selective` (the config, the databases and the plugins, under the home).
 */
export type StateScope = 'whole-clone' | 'whole-copy' | 'selective';

export interface StateCopy {
  stateDir: string;
  scope: StateScope;
  /** The copied config, or null when the live state has none. */
  configPath: string | null;
  /** Env references → values (memory only). */
  secretEnv: Record<string, string>;
  /** `<state>/.env` values (memory only). */
  dotenv: Record<string, string>;
  databases: Array<{ rel: string; copy: string; kind: 'state' | 'agent'; agentId: string | null }>;
  pluginDirs: string[];
  /** Link paths (relative to the copy) re-pointed at the target version or into the copy. */
  relinked: string[];
  /** Links into a version tree whose path does not exist in the target version. */
  dangling: string[];
}

/** Decode the raw text of a quoted JSON/JSON5 string value. */
function decodeString(raw: string, quote: string): string {
  const body = quote === "'" ? raw.replace(/\\'/g, "'").replace(/(^|[^\\])"/g, '$1\\"') : raw;
  try {
    return JSON.parse(`"${body}"`) as string;
  } catch {
    return raw;
  }
}

/**
 * Config text with each secret-looking string value replaced by `${OC_CANARY_SECRET_<n>}` (same
 * key matching as snapshot redaction). Values that already are env references are left alone.
 */
export function envRefConfigText(text: string, pattern: string): { text: string; env: Record<string, string> } {
  const re = new RegExp(pattern, 'i');
  const env: Record<string, string> = {};
  let n = 0;
  const out = text.replace(CONFIG_PAIR_RE, (all, q: string, key: string, sep: string, vq: string, raw: string) => {
    if (!re.test(key) || raw === '' || /^\$\{[A-Z_][A-Z0-9_]*\}$/.test(raw)) return all;
    const name = `${SECRET_ENV_PREFIX}${n++}`;
    env[name] = decodeString(raw, vq);
    return `${q}${key}${q}${sep}${vq}\${${name}}${vq}`;
  });
  return { text: out, env };
}

function underDir(p: string, dir: string): string | null {
  if (p === dir) return '';
  return p.startsWith(dir + path.sep) ? p.slice(dir.length + 1) : null;
}

/** Where a link target should point in the copy, or null to leave it. */
function relinkTarget(target: string, layout: Layout, version: string, liveState: string, copyState: string): string | null {
  const viaCurrent = underDir(target, layout.current);
  if (viaCurrent !== null) return path.join(layout.version(version), viaCurrent);
  const inVersions = underDir(target, layout.versionsDir);
  if (inVersions !== null) {
    const [first, ...rest] = inVersions.split(path.sep);
    if (first && parseExactVersion(first) === first && first !== version) return path.join(layout.version(version), ...rest);
    return null;
  }
  const inState = underDir(target, liveState);
  if (inState !== null) return path.join(copyState, inState);
  return null;
}

async function relinkTree(root: string, copyState: string, layout: Layout, version: string, liveState: string, out: StateCopy): Promise<void> {
  let ents: fs.Dirent[];
  try {
    ents = await fsp.readdir(root, { withFileTypes: true });
  } catch {
    return;
  }
  for (const ent of ents) {
    const p = path.join(root, ent.name);
    if (ent.isSymbolicLink()) {
      const raw = await fsp.readlink(p);
      // Relative links were copied with their tree; only absolute ones can leave it.
      if (!path.isAbsolute(raw)) continue;
      const next = relinkTarget(path.resolve(raw), layout, version, liveState, copyState);
      if (next === null) continue;
      await fsp.unlink(p);
      await fsp.symlink(next, p);
      out.relinked.push(path.relative(copyState, p));
      if (!fs.existsSync(next)) out.dangling.push(path.relative(copyState, p));
    } else if (ent.isDirectory()) {
      await relinkTree(p, copyState, layout, version, liveState, out);
    }
  }
}

/**
 * The backup keeps the source's WAL journal mode, and any later open of a WAL database -- even a
 * read-only one, like `database preflight` -- leaves -wal/-shm beside it, which the next preflight
 * calls `indeterminate`. In rollback-journal mode the copy stays one file until the canary gateway
 * itself opens it (and may switch it back to WAL, as it does with its live state).
 *
 * The copy also drops the live processes' leases (`state_leases`: the live gateway's owner lease
 * among them). They name processes that run on the live state, not on the copy: with them the
 * canary gateway refuses to start ("Another Gateway owner lease is still active", seen with the
 * real 2026.9.6).
 */
async function prepareCopy(file: string): Promise<void> {
  const { DatabaseSync } = (await import('node:sqlite')) as unknown as {
    DatabaseSync: new (p: string) => { exec(sql: string): void; prepare(sql: string): { get(): unknown }; close(): void };
  };
  const db = new DatabaseSync(file);
  try {
    db.exec('PRAGMA journal_mode=DELETE');
    if (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'state_leases'").get()) db.exec('DELETE FROM state_leases');
  } finally {
    db.close();
  }
}

export interface CopyStateInput {
  /** Whole-state scopes: `copyDir` is beside the live state and exists; everything but `exclude` is copied. */
  whole?: { clone: boolean; exclude: readonly string[] } | null;
  layout: Layout;
  /** The target version (links into version trees are re-pointed at it). */
  version: string;
  liveStateDir: string;
  liveConfigPath: string | null;
  secretPattern: string;
  /** Destination (created 0700). */
  copyDir: string;
}

export async function copyOpenClawState(input: CopyStateInput): Promise<StateCopy> {
  const { layout, version, liveStateDir, copyDir } = input;
  await fsp.mkdir(copyDir, { recursive: true, mode: 0o700 });
  const scope: StateScope = input.whole ? (input.whole.clone ? 'whole-clone' : 'whole-copy') : 'selective';
  const out: StateCopy = { stateDir: copyDir, scope, configPath: null, secretEnv: {}, dotenv: {}, databases: [], pluginDirs: [], relinked: [], dangling: [] };
  const databases = await listStateDatabases(liveStateDir);
  if (input.whole) {
    // Everything a start may read, but what keeps today's treatment: the config (secrets as env
    // references, written below), `.env` (values in memory), the databases (a consistent backup,
    // below; a clone of a live WAL database could be torn), and what `exclude` names.
    const liveConfigPath = input.liveConfigPath ?? path.join(liveStateDir, 'openclaw.json');
    const skip = new Set(['openclaw.json', '.env', ...databases.flatMap((d) => [d, `${d}-wal`, `${d}-shm`, `${d}-journal`])]);
    const configRel = underDir(path.resolve(liveConfigPath), path.resolve(liveStateDir));
    if (configRel) skip.add(configRel);
    const excluded = excludeMatcher(input.whole.exclude);
    await fsp.cp(liveStateDir, copyDir, {
      recursive: true,
      force: true,
      verbatimSymlinks: true,
      preserveTimestamps: true,
      mode: input.whole.clone ? fs.constants.COPYFILE_FICLONE_FORCE : 0,
      filter: (src) => {
        const rel = path.relative(liveStateDir, src);
        return rel === '' || (!skip.has(rel) && !excluded(rel) && copyable(src));
      },
    });
  }

  const liveConfig = input.liveConfigPath ?? path.join(liveStateDir, 'openclaw.json');
  if (fs.existsSync(liveConfig)) {
    const { text, env } = envRefConfigText(await fsp.readFile(liveConfig, 'utf8'), input.secretPattern);
    out.configPath = path.join(copyDir, 'openclaw.json');
    await fsp.writeFile(out.configPath, text, { mode: 0o600 });
    out.secretEnv = env;
  }
  try {
    out.dotenv = parseEnvFile(await fsp.readFile(path.join(liveStateDir, '.env'), 'utf8'));
  } catch {
    // no .env
  }

  for (const rel of databases) {
    const copy = path.join(copyDir, rel);
    // gatewayStopped=false: without SQLite's backup API this refuses rather than copy a live WAL.
    await copyDatabase(path.join(liveStateDir, rel), copy, false);
    await prepareCopy(copy);
    const sidecars = ['-wal', '-shm', '-journal'].filter((s) => fs.existsSync(copy + s));
    if (sidecars.length > 0) throw new Error(`the copy of ${rel} has ${sidecars.join(', ')} beside it (not a consolidated copy)`);
    const agent = /^agents[\\/]([^\\/]+)[\\/]/.exec(rel);
    out.databases.push({ rel, copy, kind: agent ? 'agent' : 'state', agentId: agent ? agent[1]! : null });
  }

  if (input.whole) {
    // Every link of the state, not only the plugins': into a version tree → the target, into the live state → the copy.
    for (const rel of PLUGIN_DIRS) if (fs.existsSync(path.join(copyDir, rel))) out.pluginDirs.push(rel);
    await relinkTree(copyDir, copyDir, layout, version, liveStateDir, out);
    return out;
  }
  for (const rel of PLUGIN_DIRS) {
    const src = path.join(liveStateDir, rel);
    let st: fs.Stats;
    try {
      st = await fsp.lstat(src);
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    const dest = path.join(copyDir, rel);
    await fsp.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
    // Links stay links (verbatimSymlinks); file data may be cloned where the filesystem can.
    await fsp.cp(src, dest, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, mode: fs.constants.COPYFILE_FICLONE });
    out.pluginDirs.push(rel);
    await relinkTree(dest, copyDir, layout, version, liveStateDir, out);
  }
  return out;
}

/** Regular files, directories and links only: a socket or a FIFO of a live process is not state. */
function copyable(src: string): boolean {
  try {
    const st = fs.lstatSync(src);
    return st.isFile() || st.isDirectory() || st.isSymbolicLink();
  } catch {
    return false; // gone since the directory was read
  }
}

/**
 * `canary.stateExclude` as a test on paths relative to the state dir: a pattern without `/`
 * matches a name at any depth (and so everything below it), one with `/` the path from the state
 * dir; `*` matches within one name, `[0-9]` a class, as in a shell.
 */
export function excludeMatcher(patterns: readonly string[]): (rel: string) => boolean {
  const toRe = (glob: string): RegExp =>
    new RegExp(`^${glob.split(/(\*|\[[^\]]*\])/).map((part) => (part === '*' ? '[^/]*' : /^\[.*\]$/.test(part) ? part : part.replace(/[.+?^${}()|\\]/g, '\\$&'))).join('')}$`);
  const byName = patterns.filter((p) => !p.includes('/')).map(toRe);
  const byPath = patterns.filter((p) => p.includes('/')).map((p) => toRe(p.replace(/^\/+|\/+$/g, '')));
  return (rel) => {
    const posix = rel.split(path.sep).join('/');
    const names = posix.split('/');
    if (byName.some((re) => names.some((n) => re.test(n)))) return true;
    return byPath.some((re) => names.some((_, i) => re.test(names.slice(0, i + 1).join('/'))));
  };
}

/** Bytes of the state dir's regular files, `exclude` left out; stops counting once above `limit`. */
export async function stateSize(stateDir: string, exclude: readonly string[], limit: number): Promise<number> {
  const excluded = excludeMatcher(exclude);
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    let ents: fs.Dirent[];
    try {
      ents = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const ent of ents) {
      if (total > limit) return;
      const p = path.join(dir, ent.name);
      if (excluded(path.relative(stateDir, p))) continue;
      if (ent.isDirectory()) await walk(p);
      else if (ent.isFile()) total += (await fsp.lstat(p).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(stateDir);
  return total;
}

/** Can `dir` (beside the state, created) hold copy-on-write clones of the state's files? Probes one file. */
export async function canClone(stateDir: string, dir: string): Promise<boolean> {
  const probe = async (d: string, depth: number): Promise<string | null> => {
    let ents: fs.Dirent[];
    try {
      ents = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      return null;
    }
    const file = ents.find((e) => e.isFile());
    if (file) return path.join(d, file.name);
    if (depth > 2) return null;
    for (const e of ents.filter((x) => x.isDirectory())) {
      const f = await probe(path.join(d, e.name), depth + 1);
      if (f) return f;
    }
    return null;
  };
  const src = await probe(stateDir, 0);
  if (!src) return false;
  const dest = path.join(dir, '.oc-clone-probe');
  try {
    await fsp.copyFile(src, dest, fs.constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    await fsp.rm(dest, { force: true });
  }
}
