/**
 * What the service runs besides the launcher lives in the home (docs/service.md#what-the-service-runs-lives-in-the-home-decision):
 * the keep-alive supervisor (process backend) and the recovery agent's CLI (launchd agent, systemd
 * timer) run `<home>/lib/oc-versions-<version>-<hash>/`, a self-contained copy of this oc-versions
 * (scripts/bundle.mjs builds it as dist/home/: package.json, shims/, dist/cli.mjs,
 * dist/keepalive.mjs and seal.json, the sha256 of each). Never the checkout or the global install
 * oc-versions was started from: an `npm ci`, an `npm update -g` or deleting a clone would pull the
 * program out from under the running gateway.
 *
 * Rendered like a version: copied into a temp dir under lib/, each file checked against the seal,
 * renamed into place; never modified after. Its name carries the hash of its seal, so another
 * build is another directory, and a running supervisor's file is never replaced under it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import type { Layout } from '../core/layout.js';
import { packageRootOf, renameDirInto, sha256File } from '../os/fs.js';
import { isRunning, processesUnder } from '../os/proc.js';

/** dist/home/seal.json (and each rendered copy's seal.json). */
export interface HomeLibSeal {
  name: string;
  version: string;
  /** Relative path (forward slashes) → sha256 hex, every file but seal.json. */
  files: Record<string, string>;
}

export interface HomeLib {
  dir: string;
  /** The self-contained CLI (the recovery agent runs `<node> <cli> recover --auto …`). */
  cli: string;
  /** The keep-alive supervisor program. */
  keepalive: string;
}

export const HOME_LIB_PREFIX = 'oc-versions-';
const SEAL = 'seal.json';

function libOf(dir: string): HomeLib {
  return { dir, cli: path.join(dir, 'dist', 'cli.mjs'), keepalive: path.join(dir, 'dist', 'keepalive.mjs') };
}

/** Where this oc-versions' self-contained build is: the package's dist/home, or (run from a home's copy) that copy. */
export function homeLibSource(): string {
  const root = packageRootOf(import.meta.url);
  for (const dir of [path.join(root, 'dist', 'home'), root]) {
    if (fs.existsSync(path.join(dir, SEAL)) && fs.existsSync(path.join(dir, 'dist', 'keepalive.mjs'))) return dir;
  }
  throw new OcError('ENVIRONMENT', `this oc-versions has no self-contained build to render into the home (${path.join(root, 'dist', 'home')} is missing)`, {
    hint: 'reinstall oc-versions (from a checkout: npm run build)',
  });
}

async function readSeal(dir: string): Promise<HomeLibSeal | null> {
  try {
    const s = JSON.parse(await fsp.readFile(path.join(dir, SEAL), 'utf8')) as HomeLibSeal;
    return s && typeof s.files === 'object' && typeof s.version === 'string' ? s : null;
  } catch {
    return null;
  }
}

export function sealHash(seal: HomeLibSeal): string {
  const canon = JSON.stringify(Object.entries(seal.files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return crypto.createHash('sha256').update(canon).digest('hex').slice(0, 12);
}

/** What in `dir` differs from its seal (a file missing or changed); [] when it matches. `null`: no readable seal. */
export async function checkHomeLib(dir: string): Promise<string[] | null> {
  const seal = await readSeal(dir);
  if (!seal) return null;
  const bad: string[] = [];
  for (const [rel, sha] of Object.entries(seal.files)) {
    const got = await sha256File(path.join(dir, ...rel.split('/'))).catch(() => null);
    if (got !== sha) bad.push(got === null ? `${rel} (missing)` : `${rel} (sha256 ${got.slice(0, 12)}…, sealed ${sha.slice(0, 12)}…)`);
  }
  return bad;
}

/** The home's copy of this oc-versions: rendered (atomically) if absent or not matching its seal. */
export async function ensureHomeLib(layout: Layout): Promise<HomeLib> {
  const source = homeLibSource();
  const seal = await readSeal(source);
  if (!seal) throw new OcError('ENVIRONMENT', `${path.join(source, SEAL)} is missing or unreadable`, { hint: 'reinstall oc-versions (from a checkout: npm run build)' });
  const name = `${HOME_LIB_PREFIX}${seal.version}-${sealHash(seal)}`;
  const target = path.join(layout.libDir, name);
  if (path.resolve(source) === path.resolve(target)) return libOf(target);
  const found = await checkHomeLib(target);
  if (found !== null && found.length === 0) return libOf(target);
  await fsp.mkdir(layout.libDir, { recursive: true });
  const tmp = path.join(layout.libDir, `.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    await fsp.cp(source, tmp, { recursive: true, errorOnExist: true, force: false });
    const bad = await checkHomeLib(tmp);
    if (bad === null || bad.length > 0) throw new OcError('ENVIRONMENT', `the copy of ${source} does not match its seal: ${(bad ?? ['no seal']).join(', ')}`);
    // Read-only once sealed: nothing oc-versions does writes into it again.
    for (const rel of Object.keys(seal.files)) await fsp.chmod(path.join(tmp, ...rel.split('/')), 0o444);
    // A damaged copy there (a file changed or missing) is replaced.
    await renameDirInto(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    if (fs.existsSync(target) && (await checkHomeLib(target))?.length === 0) return libOf(target); // another command rendered it meanwhile
    throw e;
  }
  return libOf(target);
}

/** Every rendered copy under lib/ (names only). */
export async function listHomeLibs(layout: Layout): Promise<string[]> {
  return (await fsp.readdir(layout.libDir).catch(() => [] as string[])).filter((n) => n.startsWith(HOME_LIB_PREFIX) && !n.includes('.damaged-')).sort();
}

/** The rendered copy `file` lies in (its directory under lib/), else null. */
export function homeLibOf(layout: Layout, file: string | undefined): string | null {
  if (!file) return null;
  const rel = path.relative(layout.libDir, file);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return path.join(layout.libDir, rel.split(path.sep)[0]!);
}

/**
 * Remove the copies other than `keep` that no process runs (an older build's supervisor keeps its
 * copy until it exits) and temp dirs of dead renderers. Best effort.
 */
export async function pruneHomeLibs(layout: Layout, keep: string): Promise<string[]> {
  const removed: string[] = [];
  for (const n of await fsp.readdir(layout.libDir).catch(() => [] as string[])) {
    const p = path.join(layout.libDir, n);
    if (p === keep) continue;
    const tmp = /^\.tmp-(\d+)-/.exec(n);
    if (tmp && isRunning(Number(tmp[1]))) continue;
    if (!tmp && !n.startsWith(HOME_LIB_PREFIX)) continue;
    if (!tmp && (await processesUnder(p)).length > 0) continue;
    await fsp.rm(p, { recursive: true, force: true }).catch(() => {});
    removed.push(n);
  }
  return removed;
}
