/**
 * `service adopt`: take over an existing OpenClaw LaunchAgent / user unit.
 *
 * planAdoption is pure: it rewrites only the program so the job runs through
 * `<home>/bin/openclaw-gateway` (node + entry are replaced by the launcher; the
 * gateway args are kept; an env-wrapper + env file in front stay in front so the
 * env file is still sourced), moves node flags into NODE_OPTIONS, and sets
 * OPENCLAW_SUPERVISOR_MODE=external and OPENCLAW_SERVICE_REPAIR_POLICY=external. Every other key
 * and every env key is kept.
 *
 * The original is kept for `service restore` BESIDE the original definition
 * (`<definition>.oc-versions-orig`, mode 0600), never under the oc-versions home:
 * an older plist carries secrets inline and the home must never hold a secret value.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError, fromFsError } from '../errors.js';
import { readJson, writeJsonAtomic } from '../os/fs.js';
import type { Layout } from '../core/layout.js';
import { isSecretKey, secretName, type SecretStore } from '../secrets/types.js';
import { envWrapperOf, EXTERNAL_SUPERVISOR_ENV, hashFile } from './definition.js';
import type { ServiceDefinition } from './types.js';

export type AdoptLayout = 'inline' | 'env-wrapper';

export interface AdoptionPlan {
  layout: AdoptLayout;
  before: string[];
  definition: ServiceDefinition;
  /** The program already ran through the launcher. */
  alreadyAdopted: boolean;
  movedNodeFlags: string[];
  /** The node the definition ran (kept: the launcher execs it through OC_VERSIONS_NODE). */
  node: string | null;
  /** The OpenClaw entry the definition ran (null when already adopted). */
  entry: string | null;
}

/** The definition env key the launcher reads to exec the adopted node instead of its own. */
export const NODE_KEY = 'OC_VERSIONS_NODE';

export interface AdoptedRecord {
  manager: ServiceDefinition['manager'];
  label: string;
  definitionPath: string;
  originalPath: string;
  originalSha256: string | null;
  layout: AdoptLayout;
  adoptedAt: string;
  /** Secret store entries written at adopt time (names only). */
  storedSecrets: string[];
  /** The version the original definition ran (what `service restore` hands back to). */
  originalVersion?: string;
}

const ENTRY_RE = /(^|\/)dist\/(index|entry)\.m?js$/;
const BIN_RE = /(^|\/)(openclaw|moltbot|clawdbot)\.mjs$/;

export function planAdoption(def: ServiceDefinition, launcher: string, opts: { node?: string } = {}): AdoptionPlan {
  const wrapper = envWrapperOf(def.program);
  const prefix = wrapper ? def.program.slice(0, 3) : [];
  const rest = wrapper ? def.program.slice(3) : [...def.program];
  const layout: AdoptLayout = wrapper ? 'env-wrapper' : 'inline';
  const env = { ...def.env };
  let program: string[];
  let movedNodeFlags: string[] = [];
  let node: string | null = env[NODE_KEY] ?? null;
  let entry: string | null = null;
  const alreadyAdopted = rest[0] === launcher;
  if (alreadyAdopted) {
    program = [...def.program];
  } else {
    const e = rest.findIndex((a, i) => i >= 1 && (ENTRY_RE.test(a) || BIN_RE.test(a)));
    if (e < 0) {
      throw new OcError('INVALID_INPUT', `cannot find the OpenClaw entry (dist/index.js) in the program of ${def.label}: ${rest.join(' ')}`, {
        hint: 'adopt supports `<node> <pkg>/dist/index.js gateway ...`, optionally behind the env-wrapper',
      });
    }
    movedNodeFlags = rest.slice(1, e);
    const bad = movedNodeFlags.find((f) => !f.startsWith('-'));
    if (bad !== undefined) throw new OcError('INVALID_INPUT', `unexpected argument '${bad}' between node and the entry in ${def.label}`);
    program = [...prefix, launcher, ...rest.slice(e + 1)];
    entry = rest[e]!;
    // `node dist/index.js` (node found on PATH) or an openclaw.mjs run directly: no node to keep.
    node = e >= 1 && path.isAbsolute(rest[0]!) ? rest[0]! : node;
    if (movedNodeFlags.length > 0) {
      const current = env['NODE_OPTIONS'] ?? '';
      const add = movedNodeFlags.filter((f) => !current.split(/\s+/).includes(f));
      env['NODE_OPTIONS'] = [current, ...add].filter((s) => s !== '').join(' ');
    }
  }
  Object.assign(env, EXTERNAL_SUPERVISOR_ENV);
  if (opts.node !== undefined) node = opts.node;
  if (node) env[NODE_KEY] = node;
  return { layout, before: [...def.program], definition: { ...def, program, env }, alreadyAdopted, movedNodeFlags, node, entry };
}

/** The node and OpenClaw entry a (not yet adopted) program runs, behind an env-wrapper or not. */
export function entryOfProgram(program: readonly string[]): { node: string | null; entry: string } | null {
  const rest = envWrapperOf([...program]) ? program.slice(3) : program;
  const e = rest.findIndex((a, i) => i >= 1 && (ENTRY_RE.test(a) || BIN_RE.test(a)));
  if (e < 0) return null;
  return { node: rest[0] ?? null, entry: rest[e]! };
}

/** The package root above an entry (dist/index.js → .., openclaw.mjs → its dir) and its CLI bin. */
export async function packageCliOf(entry: string): Promise<string | null> {
  const root = BIN_RE.test(entry) ? path.dirname(entry) : path.dirname(path.dirname(entry));
  try {
    const pkg = JSON.parse(await fsp.readFile(path.join(root, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> };
    const bin = typeof pkg.bin === 'string' ? pkg.bin : (pkg.bin?.['openclaw'] ?? Object.values(pkg.bin ?? {})[0]);
    if (!bin) return null;
    const p = path.join(root, bin);
    await fsp.access(p);
    return p;
  } catch {
    return null;
  }
}

/** A node under a version manager's versioned path: it disappears when that version is removed. */
export function versionManagedNode(node: string | null): string | null {
  if (!node) return null;
  const rules: Array<[RegExp, string]> = [
    [/\/\.nvm\/versions\/node\//, 'nvm'],
    [/\/Cellar\/node(@\d+)?\//, 'Homebrew (Cellar)'],
    [/\/\.volta\/tools\/image\/node\//, 'volta'],
    [/\/fnm\/node-versions\/|\/\.fnm\//, 'fnm'],
    [/\/\.asdf\/installs\/nodejs\//, 'asdf'],
  ];
  for (const [re, name] of rules) if (re.test(node)) return name;
  return null;
}

/** The version of the package whose entry this is: the nearest package.json above it with a version. */
export async function packageVersionOfEntry(entry: string | null): Promise<string | null> {
  if (!entry || !path.isAbsolute(entry)) return null;
  let dir = path.dirname(entry);
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(await fsp.readFile(path.join(dir, 'package.json'), 'utf8')) as { version?: unknown };
      if (typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** Inputs that must exist before anything is written (env-wrapper script and env file). */
export async function checkAdoptionInputs(def: ServiceDefinition): Promise<void> {
  const w = envWrapperOf(def.program);
  if (!w) return;
  for (const [what, p] of [['env-wrapper', w.wrapper], ['env file', w.envFile]] as const) {
    try {
      await fsp.access(p);
    } catch {
      throw new OcError('NOT_FOUND', `the ${what} ${p} named by ${def.label} does not exist`, {
        hint: 'repair the service with `openclaw gateway install --force` first, then adopt',
      });
    }
  }
}

export function originalPathFor(definitionPath: string): string {
  return `${definitionPath}.oc-versions-orig`;
}

export function adoptedRecordPath(layout: Layout): string {
  return layout.adoptedRecord;
}

export async function readAdoptedRecord(layout: Layout): Promise<AdoptedRecord | undefined> {
  return readJson<AdoptedRecord>(adoptedRecordPath(layout));
}

/** Copy the original beside itself (0600); an earlier original is kept (re-adopt keeps the first). */
export async function keepOriginal(definitionPath: string): Promise<{ path: string; sha256: string | null }> {
  const orig = originalPathFor(definitionPath);
  try {
    await fsp.copyFile(definitionPath, orig, fsp.constants.COPYFILE_EXCL);
    await fsp.chmod(orig, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromFsError(e, `keeping the original ${definitionPath}`) ?? e;
  }
  return { path: orig, sha256: await hashFile(orig) };
}

/** Put secret env values (inline + env files) in the store so they can be restored. */
export async function storeSecrets(
  label: string,
  values: Record<string, string>,
  pattern: string,
  store: SecretStore | undefined,
): Promise<string[]> {
  if (!store || !(await store.available())) return [];
  const stored: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (!isSecretKey(k, pattern)) continue;
    const name = secretName(label, k);
    await store.set(name, v);
    stored.push(name);
  }
  return stored.sort();
}

export async function saveAdoptedRecord(layout: Layout, rec: AdoptedRecord): Promise<void> {
  await writeJsonAtomic(adoptedRecordPath(layout), rec, 0o600);
}
