/**
 * Managed runtimes installed by oc-versions itself (issue 28): `runtimes/<node-version>/` from the
 * Node.js distribution layout (`<mirror>/v<v>/node-v<v>-<os>-<arch>.tar.gz|.tar.xz`, checked
 * against `<mirror>/v<v>/SHASUMS256.txt`) or from the npm registry's `node-<os>-<arch>` packages
 * (pacote: the packument's integrity checked). Like a version: unpacked into
 * `runtimes/.tmp-<pid>-<hex>/` (swept when its pid is dead: a SIGKILL converges on the next
 * mutating command), its node run and asked its version, `runtime.json` written last, then one
 * rename into place; never modified after (bin/node 0555, runtime.json 0444).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcError, fromFsError } from '../errors.js';
import { renameDirInto, sha256File, writeJsonAtomic } from '../os/fs.js';
import { fetchResponse } from '../os/http.js';
import type { Config } from './config.js';
import type { Layout } from './layout.js';
import { checkRuntime, nodeVersionOf, type RuntimeRecord } from './runtimes.js';

export const DEFAULT_NODE_MIRROR = 'https://nodejs.org/dist';

export type RuntimeSource = 'mirror' | 'npm';

export interface RuntimeInstallOptions {
  layout: Layout;
  config: Pick<Config, 'runtimes'>;
  env: NodeJS.ProcessEnv;
  /** --registry / config.registry (the npm source), else the user's npm configuration. */
  registry: string | undefined;
  /** Where from: the mirror, the npm registry, or (default) the mirror and, when it cannot be reached, the registry. */
  from?: RuntimeSource | 'auto';
  progress?: (line: string) => void;
}

export interface InstalledRuntime {
  version: string;
  node: string;
  dir: string;
  /** false: it was there already (sound). */
  installed: boolean;
  source: string;
  bytes: number;
}

/** `linux-x64`, `darwin-arm64`, … as Node's distribution and the npm `node-<os>-<arch>` packages name them. */
export function platformTriple(platform = process.platform, arch = process.arch): string {
  const os = platform === 'win32' ? 'win' : platform;
  return `${os}-${arch}`;
}

/** OC_VERSIONS_NODE_MIRROR, else config.runtimes.mirror, else NVM_NODEJS_ORG_MIRROR (same layout), else nodejs.org. */
export function nodeMirror(config: Pick<Config, 'runtimes'>, env: NodeJS.ProcessEnv): string {
  const raw = env['OC_VERSIONS_NODE_MIRROR'] || config.runtimes?.mirror || env['NVM_NODEJS_ORG_MIRROR'] || DEFAULT_NODE_MIRROR;
  try {
    return new URL(raw).href.replace(/\/+$/, '');
  } catch {
    throw new OcError('INVALID_INPUT', `the node mirror '${raw}' is not a URL`, { hint: 'set runtimes.mirror in config.json (or OC_VERSIONS_NODE_MIRROR) to e.g. https://nodejs.org/dist' });
  }
}

/** An exact node version (`24.21.0`, `v24.21.0`), or null. */
export function exactNodeVersion(raw: string): string | null {
  const m = /^v?(\d+\.\d+\.\d+)$/.exec(raw.trim());
  return m ? m[1]! : null;
}

async function get(url: string, what: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetchResponse(url, 120_000);
  } catch (e) {
    throw new OcError('REGISTRY_UNREACHABLE', `${what}: cannot reach ${new URL(url).origin} (${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message})`, {
      hint: 'check the node mirror (runtimes.mirror in config.json, OC_VERSIONS_NODE_MIRROR) or use --from npm',
      cause: e,
    });
  }
  if (res.status === 404) {
    throw new OcError('VERSION_NOT_FOUND', `${what}: not found at ${url}`, { hint: 'oc-versions runtime install <an exact node version the mirror has, e.g. 24.21.0>' });
  }
  if (!res.ok) throw new OcError('REGISTRY_ERROR', `${what}: ${url} answered ${res.status}`, { hint: 'check the node mirror (runtimes.mirror in config.json, OC_VERSIONS_NODE_MIRROR)' });
  return res;
}

/** The newest version the mirror's index.json offers inside `range` (nvm reads the same file). */
async function resolveFromMirror(mirror: string, range: string): Promise<string> {
  const { default: semver } = await import('semver');
  const index = (await (await get(`${mirror}/index.json`, `resolving node ${range}`)).json()) as Array<{ version: string }>;
  const best = semver.maxSatisfying(index.map((e) => e.version.replace(/^v/, '')), range);
  if (!best) throw new OcError('VERSION_NOT_FOUND', `no node version in ${mirror} satisfies ${range}`, { hint: 'oc-versions runtime install <exact version>' });
  return best;
}

async function resolveFromNpm(pkg: string, range: string, o: RuntimeInstallOptions): Promise<string> {
  const { default: semver } = await import('semver');
  const { fetchPackument } = await import('../registry/index.js');
  const doc = await fetchPackument(pkg, { registry: o.registry, env: o.env }, `resolving ${pkg}@${range}`);
  const best = semver.maxSatisfying(Object.keys(doc.versions), range);
  if (!best) throw new OcError('VERSION_NOT_FOUND', `no ${pkg} version in the registry satisfies ${range}`, { hint: 'oc-versions runtime install <exact version>' });
  return best;
}

/** The archive's name and expected sha256 from SHASUMS256.txt: `.tar.gz` (unpacked in-process) preferred, else `.tar.xz` (the system's tar). */
export function pickArchive(shasums: string, version: string, triple: string): { file: string; sha256: string } | null {
  const want = [`node-v${version}-${triple}.tar.gz`, `node-v${version}-${triple}.tar.xz`];
  const lines = new Map(
    shasums
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((p) => p.length === 2)
      .map(([sum, name]) => [name!.replace(/^\*/, ''), sum!.toLowerCase()]),
  );
  for (const file of want) {
    const sha256 = lines.get(file);
    if (sha256) return { file, sha256 };
  }
  return null;
}

/** Download the archive into `tmp`, hashing it on the way; refused unless it matches SHASUMS256.txt. */
async function fromMirror(mirror: string, version: string, tmp: string, o: RuntimeInstallOptions): Promise<string> {
  const triple = platformTriple();
  const base = `${mirror}/v${version}`;
  const shasums = await (await get(`${base}/SHASUMS256.txt`, `node ${version}`)).text();
  const pick = pickArchive(shasums, version, triple);
  if (!pick) throw new OcError('VERSION_NOT_FOUND', `node ${version}: ${base}/SHASUMS256.txt lists no ${triple} .tar.gz or .tar.xz`, { hint: `a node build for ${triple} from another mirror, or --from npm` });
  const url = `${base}/${pick.file}`;
  o.progress?.(`downloading ${url}`);
  const archive = path.join(tmp, pick.file);
  const res = await get(url, `node ${version}`);
  const hash = crypto.createHash('sha256');
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (c: Buffer) => hash.update(c));
  await pipeline(body, fs.createWriteStream(archive, { mode: 0o600 }));
  const got = hash.digest('hex');
  if (got !== pick.sha256) {
    throw new OcError('CORRUPT_TARBALL', `node ${version}: ${pick.file} has sha256 ${got.slice(0, 12)}…, SHASUMS256.txt says ${pick.sha256.slice(0, 12)}…`, {
      hint: 'nothing was installed; check the mirror (a proxy rewriting downloads?) and retry',
      details: { url, sha256: got, expected: pick.sha256 },
    });
  }
  const unpacked = path.join(tmp, 'unpacked');
  await fsp.mkdir(unpacked);
  if (pick.file.endsWith('.tar.gz')) {
    const { npmLib } = await import('../registry/libs.js');
    const tar = await npmLib('tar');
    await tar.x({ file: archive, cwd: unpacked, strip: 1 });
  } else {
    const { run } = await import('../os/proc.js');
    const r = await run('tar', ['-xJf', archive, '-C', unpacked, '--strip-components=1'], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new OcError('ENVIRONMENT', `unpacking ${pick.file} failed: ${r.stderr.trim().split('\n')[0] ?? `tar exit ${r.code}`}`, { hint: 'install xz (xz-utils) or use a mirror with .tar.gz' });
  }
  await fsp.rm(archive);
  return url;
}

/** Extract `node-<os>-<arch>@version` through pacote (integrity from the packument checked). */
async function fromNpm(pkg: string, version: string, tmp: string, o: RuntimeInstallOptions): Promise<string> {
  const { extractPackage } = await import('../registry/index.js');
  return extractPackage(`${pkg}@${version}`, path.join(tmp, 'unpacked'), { registry: o.registry, env: o.env }, `fetching ${pkg}@${version}`, o.progress);
}

/** The bytes of the regular files under `dir` (0 when it is gone). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) total += (await fsp.stat(path.join(e.parentPath, e.name))).size;
  }
  return total;
}

async function resolveRange(spec: string, from: RuntimeSource | 'auto', mirror: string, pkg: string, o: RuntimeInstallOptions): Promise<string> {
  const { default: semver } = await import('semver');
  if (!semver.validRange(spec)) throw new OcError('INVALID_SPEC', `'${spec}' is not a node version or range`, { hint: 'e.g. oc-versions runtime install 24.21.0 (or 24, or ">=24.16 <25")' });
  if (from === 'npm') return resolveFromNpm(pkg, spec, o);
  try {
    return await resolveFromMirror(mirror, spec);
  } catch (e) {
    if (from === 'auto' && e instanceof OcError && e.code === 'REGISTRY_UNREACHABLE') return resolveFromNpm(pkg, spec, o);
    throw e;
  }
}

/**
 * `runtimes/<version>/` for `spec` (an exact version or a range), installed unless a sound one is
 * there. Nothing is left under `runtimes/` when it fails.
 */
export async function installRuntime(spec: string, o: RuntimeInstallOptions): Promise<InstalledRuntime> {
  const { layout } = o;
  const from = o.from ?? o.config.runtimes?.from ?? 'auto';
  const pkg = `node-${platformTriple()}`;
  const mirror = nodeMirror(o.config, o.env);
  const version = exactNodeVersion(spec) ?? (await resolveRange(spec, from, mirror, pkg, o));
  const dir = layout.runtime(version);
  const node = path.join(dir, 'bin', 'node');
  if (fs.existsSync(dir) && (await checkRuntime(dir)) === null) {
    const rec = JSON.parse(await fsp.readFile(path.join(dir, 'runtime.json'), 'utf8')) as RuntimeRecord;
    return { version, node, dir, installed: false, source: rec.source, bytes: await dirBytes(dir) };
  }
  await fsp.mkdir(layout.runtimesDir, { recursive: true });
  const tmp = path.join(layout.runtimesDir, `.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    await fsp.mkdir(tmp);
    let source: string;
    let kind: RuntimeSource = from === 'npm' ? 'npm' : 'mirror';
    if (from === 'npm') source = await fromNpm(pkg, version, tmp, o);
    else {
      try {
        source = await fromMirror(mirror, version, tmp, o);
      } catch (e) {
        if (from !== 'auto' || !(e instanceof OcError) || e.code !== 'REGISTRY_UNREACHABLE') throw e;
        o.progress?.(`${e.message}; trying the npm registry's ${pkg}`);
        await fsp.rm(tmp, { recursive: true, force: true });
        await fsp.mkdir(tmp);
        source = await fromNpm(pkg, version, tmp, o);
        kind = 'npm';
      }
    }
    const unpacked = path.join(tmp, 'unpacked');
    const bin = path.join(unpacked, 'bin', 'node');
    const ran = await nodeVersionOf(bin).catch(() => null);
    if (ran !== version) {
      throw new OcError('CORRUPT_TARBALL', `node ${version} from ${source}: its bin/node ${ran ? `reports ${ran}` : 'does not run'}`, { hint: 'nothing was installed; check the mirror or registry' });
    }
    await fsp.chmod(bin, 0o555);
    const record: RuntimeRecord = { version, sha256: await sha256File(bin), source, copiedAt: new Date().toISOString(), kind };
    await writeJsonAtomic(path.join(unpacked, 'runtime.json'), record, 0o444);
    await renameDirInto(unpacked, dir);
    await fsp.rm(tmp, { recursive: true, force: true });
    return { version, node, dir, installed: true, source, bytes: await dirBytes(dir) };
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    if (fs.existsSync(dir) && (await checkRuntime(dir)) === null) return { version, node, dir, installed: false, source: 'another command', bytes: await dirBytes(dir) };
    throw fromFsError(e, `installing node ${version}`) ?? e;
  }
}
