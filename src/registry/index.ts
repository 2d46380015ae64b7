/**
 * The only module that touches the network or imports pacote/@npmcli/arborist.
 * Both are loaded lazily so read-only commands never pay for them.
 *
 * Registry resolution: --registry, else the user's npm configuration as npm reads it
 * (registry/npm-config.ts), else the public registry.
 */
import dc from 'node:diagnostics_channel';
import fsp from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import { OcError, fromFsError } from '../errors.js';
import { npmLib, type NpmLibs } from './libs.js';
import { loadNpmConfig } from './npm-config.js';

export interface RegistryOptions {
  registry?: string;
  env: NodeJS.ProcessEnv;
  /** Where npm would look for a project .npmrc; default the process's working directory. */
  cwd?: string;
}

export interface ResolvedPackage {
  name: string;
  version: string;
  integrity: string | undefined;
  resolved: string | undefined;
  engines: Record<string, string> | undefined;
}

const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';

/** pacote 22 / arborist 10 need this (package.json engines says the same). */
export const SUPPORTED_NODE = '^22.22.2 || ^24.15.0 || >=26.0.0';

/** Refuse clearly before loading npm's libraries on a Node they do not support. */
export async function assertSupportedNode(version = process.versions.node): Promise<void> {
  const { default: semver } = await import('semver');
  if (!semver.satisfies(version, SUPPORTED_NODE)) {
    throw new OcError('ENVIRONMENT', `Node ${version} cannot run installs (needs ${SUPPORTED_NODE})`, {
      hint: 'run oc-versions with Node 24 (for example the one OpenClaw uses)',
    });
  }
}

/**
 * pacote/arborist options: npm's own flat options from the user's configuration
 * (registry/npm-config.ts), with `--registry` (or config.json's registry) replacing the default
 * registry (scoped registries still apply, as with npm's --registry), and oc-versions' own
 * network budget (one retry, short backoff: a dead registry is reported in seconds).
 */
export function npmOptions(opts: RegistryOptions): Promise<Record<string, unknown>> {
  // One command reads the npm configuration once (resolve, install and the tarball listing all need it).
  const key = `${opts.registry ?? ''}\0${opts.cwd ?? process.cwd()}`;
  let byKey = npmOptionsCache.get(opts.env);
  if (!byKey) npmOptionsCache.set(opts.env, (byKey = new Map()));
  let p = byKey.get(key);
  if (!p) {
    p = readNpmOptions(opts);
    byKey.set(key, p);
    p.catch(() => byKey.delete(key));
  }
  return p;
}

const npmOptionsCache = new WeakMap<NodeJS.ProcessEnv, Map<string, Promise<Record<string, unknown>>>>();

async function readNpmOptions(opts: RegistryOptions): Promise<Record<string, unknown>> {
  const flat = await loadNpmConfig(opts.env, opts.cwd ?? process.cwd());
  const registry = opts.registry ?? (typeof flat['registry'] === 'string' ? flat['registry'] : DEFAULT_REGISTRY);
  let url: URL;
  try {
    url = new URL(registry);
  } catch {
    throw new OcError('INVALID_INPUT', `registry '${registry}' is not a URL`, { hint: 'pass --registry http://host:port/' });
  }
  return {
    ...flat,
    registry: url.href.endsWith('/') ? url.href : url.href + '/',
    // npm's flat options carry the retry policy twice (fetchRetries… and `retry`); npm-registry-fetch
    // prefers `retry`, whose npm defaults wait 10 s and then 100 s before giving up.
    fetchRetries: 1,
    fetchRetryMintimeout: 200,
    fetchRetryMaxtimeout: 1_000,
    retry: { retries: 1, factor: 2, minTimeout: 200, maxTimeout: 1_000 },
    timeout: 60_000,
    fullMetadata: false,
    preferOnline: true,
  };
}

/**
 * The registry a package is fetched from under these options (its scope's registry, else the
 * default), for messages: credentials in the URL (`https://user:pass@host/`) are dropped.
 */
export function registryFor(name: string, npm: Record<string, unknown>): string {
  const scope = name.startsWith('@') ? name.split('/')[0] : undefined;
  const scoped = scope ? npm[`${scope}:registry`] : undefined;
  const raw = String(typeof scoped === 'string' ? scoped : npm['registry']);
  try {
    const u = new URL(raw);
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return raw;
  }
}

/** Map a pacote/arborist/npm-registry-fetch failure to an OcError with an exit code. */
export function mapRegistryError(e: unknown, what: string, registry: unknown): OcError {
  if (e instanceof OcError) return e;
  const err = e as NodeJS.ErrnoException & { statusCode?: number; errno?: string | number };
  const code = String(err?.code ?? '');
  const fsErr = fromFsError(e, what);
  if (fsErr) return fsErr;
  if (code === 'E404' || err?.statusCode === 404 || code === 'ETARGET') {
    return new OcError('VERSION_NOT_FOUND', `${what}: not found in ${String(registry)}`, {
      hint: 'check the package name and version; `oc-versions list --remote` shows what the registry offers',
      cause: e,
    });
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return new OcError('REGISTRY_ERROR', `${what}: TLS certificate problem talking to ${String(registry)} (${code})`, {
      hint: 'set cafile in ~/.npmrc (or NODE_EXTRA_CA_CERTS) to the CA your network uses',
      cause: e,
    });
  }
  if (code === 'EINTEGRITY') {
    return new OcError('INTEGRITY', `${what}: integrity check failed (the tarball does not match the registry's checksum)`, {
      hint: 'the download or the registry copy is corrupt; nothing was installed. Try again, or report it to the registry owner',
      cause: e,
    });
  }
  if (code.startsWith('TAR_') || code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || /zlib|unexpected end of file|invalid tar/i.test(String(err?.message))) {
    return new OcError('CORRUPT_TARBALL', `${what}: the tarball is corrupt (${err?.message ?? code})`, {
      hint: 'nothing was installed; the registry copy is damaged or the download was cut short',
      cause: e,
    });
  }
  if (
    ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'FETCH_ERROR', 'ERR_SOCKET_TIMEOUT'].includes(code) ||
    err?.name === 'FetchError' ||
    (typeof err?.statusCode === 'number' && err.statusCode >= 500)
  ) {
    return new OcError('REGISTRY_UNREACHABLE', `${what}: registry ${String(registry)} is unreachable (${code || err?.message})`, {
      hint: 'check the network and --registry (or your npm configuration), then try again',
      cause: e,
    });
  }
  if (err?.statusCode === 401 || err?.statusCode === 403 || code === 'E401' || code === 'E403') {
    const status = err.statusCode ?? Number(code.slice(1));
    return new OcError('REGISTRY_ERROR', `${what}: registry ${String(registry)} answered HTTP ${status} (${status === 401 ? 'not authenticated' : 'forbidden'})`, {
      hint: `give npm a token for that registry: \`npm login --registry ${String(registry)}\`, or a //host/:_authToken line in ~/.npmrc`,
      cause: e,
    });
  }
  if (typeof err?.statusCode === 'number') {
    return new OcError('REGISTRY_ERROR', `${what}: registry answered HTTP ${err.statusCode}`, {
      hint: 'check --registry and your npm credentials',
      cause: e,
    });
  }
  return new OcError('INTERNAL', `${what}: ${err?.message ?? String(e)}`, { cause: e });
}

/** What the registry says about a package: every version's dist data and the dist-tags (no choice made here). */
export interface Packument {
  name: string;
  versions: Record<string, { integrity: string | undefined; tarball: string | undefined; engines: Record<string, string> | undefined }>;
  distTags: Record<string, string>;
}

/**
 * Packuments fetched by this process in the last minute, handed to pacote and arborist as
 * (the front of) their packument cache: the packument an install resolved its version from is
 * the one arborist builds the tree from and the tarball listing reads, so one install asks the
 * registry for it once, not three times. Arborist's own cache (an LRU bounded by heap size) holds
 * everything else.
 */
const RECENT_MS = 60_000;
const recentPackuments = new Map<string, { doc: unknown; at: number }>();

interface PackumentCacheLike {
  has(key: string): boolean;
  get(key: string): unknown;
  set(key: string, value: unknown): unknown;
  delete(key: string): unknown;
}

function recentPackument(key: string): { doc: unknown } | undefined {
  const hit = recentPackuments.get(key);
  if (hit && Date.now() - hit.at < RECENT_MS) return hit;
  if (hit) recentPackuments.delete(key);
  return undefined;
}

/** `inner` (arborist's cache) behind the packuments this process fetched itself; with no inner, a recording cache. */
function packumentCache(inner?: PackumentCacheLike): PackumentCacheLike {
  return {
    has: (k) => recentPackument(k) !== undefined || (inner?.has(k) ?? false),
    get: (k) => recentPackument(k)?.doc ?? inner?.get(k),
    set: (k, v) => (inner ? inner.set(k, v) : recentPackuments.set(k, { doc: v, at: Date.now() })),
    delete: (k) => {
      recentPackuments.delete(k);
      return inner?.delete(k);
    },
  };
}

let installerModules: Promise<unknown> | undefined;
const HTTP_REQUEST_START = 'http.client.request.start';

/**
 * Load arborist (≈ 0.2–0.3 s of module evaluation, npm's price too) while the registry answers:
 * the load starts when the next HTTP request is created (the packument's; Node announces it on
 * a diagnostics channel), one turn later so the request is written first. Returns a cancel for
 * when no request was made. A load failure surfaces where arborist is used.
 */
function preloadInstallerOnNextRequest(): () => void {
  const start = (): void => {
    dc.unsubscribe(HTTP_REQUEST_START, start);
    installerModules ??= new Promise((resolve) => setImmediate(resolve)).then(() => npmLib('Arborist'));
    installerModules.catch(() => undefined);
  };
  dc.subscribe(HTTP_REQUEST_START, start);
  return () => dc.unsubscribe(HTTP_REQUEST_START, start);
}

/**
 * Fetch a packument; `what` names the operation in the error. Versions are chosen by
 * core/versions.ts. `preloadInstaller`: an install follows, so load arborist while the request is out.
 */
export async function fetchPackument(name: string, opts: RegistryOptions, what = `fetching ${name}`, { preloadInstaller: preload = false } = {}): Promise<Packument> {
  await assertSupportedNode();
  const npm = await npmOptions(opts);
  const pacote = await npmLib('pacote');
  const cancelPreload = preload ? preloadInstallerOnNextRequest() : undefined;
  try {
    const doc = await pacote.packument(name, { ...npm, packumentCache: packumentCache() });
    const versions: Packument['versions'] = {};
    for (const [v, m] of Object.entries(doc.versions ?? {})) {
      versions[v] = { integrity: m?.dist?.integrity, tarball: m?.dist?.tarball, engines: m?.engines };
    }
    return { name, versions, distTags: doc['dist-tags'] ?? {} };
  } catch (e) {
    throw mapRegistryError(e, what, registryFor(name, npm));
  } finally {
    cancelPreload?.();
  }
}

export interface TarEntry {
  path: string;
  size: number;
  mode: number;
}

/**
 * The regular files of a package tarball (integrity-checked by pacote), paths relative to the
 * package root. Read from npm's cache by integrity when it is there (no registry request);
 * `cachedOnly`: fail (ENOTCACHED) rather than download it.
 */
export async function listTarball(pkg: ResolvedPackage, opts: RegistryOptions, { cachedOnly = false } = {}): Promise<TarEntry[]> {
  const npm: Record<string, unknown> = {
    ...(await npmOptions(opts)),
    integrity: pkg.integrity,
    ...(pkg.resolved ? { resolved: pkg.resolved } : {}),
    // The tarball was just fetched with integrity: the cached copy is the same bytes.
    preferOnline: false,
    ...(cachedOnly ? { offline: true } : {}),
    packumentCache: packumentCache(),
  };
  const pacote = await npmLib('pacote');
  const tar = await npmLib('tar');
  const entries: TarEntry[] = [];
  try {
    await pacote.tarball.stream(
      `${pkg.name}@${pkg.version}`,
      async (stream) => {
        entries.length = 0; // pacote retries the handler on a corrupt cache entry
        await new Promise<void>((resolve, reject) => {
          const parser = new tar.Parser({
            onReadEntry: (entry) => {
              if (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile') {
                // npm tarballs put everything under one top folder (usually `package/`).
                const rel = entry.path.replace(/^[^/]+\//, '');
                entries.push({ path: rel, size: entry.size ?? 0, mode: entry.mode ?? 0o644 });
              }
              entry.resume();
            },
          });
          parser.on('error', reject);
          parser.on('end', () => resolve());
          stream.on('error', reject);
          stream.pipe(parser as unknown as NodeJS.WritableStream);
        });
      },
      npm,
    );
  } catch (e) {
    if (cachedOnly) throw e;
    throw mapRegistryError(e, `reading the tarball of ${pkg.name}@${pkg.version}`, registryFor(pkg.name, npm));
  }
  return entries;
}

export interface InstallTreeOptions extends RegistryOptions {
  prefix: string;
  pkg: ResolvedPackage;
  /** Run the managed package's lifecycle scripts (allowScripts policy naming only it). */
  runScripts: boolean;
  /** Directory prepended to PATH while lifecycle scripts run, so they use the runtime node. */
  runtimeNodeDir: string;
  /**
   * Called between extraction and lifecycle scripts, with the package's tarball listing
   * (the tarball file check goes here) and where it came from: `extraction`, recorded from the
   * tarball as arborist extracted it, or `tarball`, the tarball read again from npm's cache.
   */
  beforeScripts?: (entries: TarEntry[], from: 'extraction' | 'tarball') => Promise<void>;
  /** Where the install's phases, bytes and packages are reported (src/core/progress.ts). */
  progress?: InstallProgress;
}

/** The part of the core's progress sink an install reports to. */
export interface InstallProgress {
  phase(name: string, detail: string): void;
  bytes(done: number, total: number | null): void;
  items(done: number, total: number): void;
  end(summary?: string): void;
}

/**
 * Bytes this process received over HTTP(S), counted at the sockets: every request npm's
 * libraries make (packuments, tarballs, through npm's own agent and proxies) publishes
 * `http.client.request.start`; its socket's `bytesRead` (TLS: after decryption) counts the
 * response headers and bodies. Sockets are shared by keep-alive: each is counted once.
 */
const sockets = new Map<Socket, number>();
let closedBytes = 0;
let meterOn = false;
function trackSocket(s: Socket): void {
  if (sockets.has(s)) return;
  // A keep-alive socket opened before the meter started: only what it reads from now on counts.
  sockets.set(s, s.bytesRead);
  s.once('close', () => {
    closedBytes += s.bytesRead - (sockets.get(s) ?? 0);
    sockets.delete(s);
  });
}
function bytesReceived(): number {
  if (!meterOn) {
    meterOn = true;
    dc.subscribe('http.client.request.start', (msg) => {
      const request = (msg as { request: { socket: Socket | null; once(ev: 'socket', fn: (s: Socket) => void): void } }).request;
      if (request.socket) trackSocket(request.socket);
      else request.once('socket', trackSocket);
    });
  }
  let n = closedBytes;
  for (const [s, base] of sockets) n += s.bytesRead - base;
  return n;
}

/**
 * Follow arborist while it reifies, from what it reports of itself: proc-log's `time` events
 * (`idealTree`, `reify:unpack`, one `reifyNode:<location>` per package it unpacks) and its `http
 * cache` log lines (`… (cache hit)` or `(cache revalidated)` for a tarball npm's cache held), plus
 * the bytes the sockets received. Returns a stop function.
 */
function followArborist(progress: InstallProgress, label: string): () => void {
  let phaseBase = bytesReceived();
  let started = 0;
  let finished = 0;
  const fromCache = new Set<string>();
  let phase: 'tree' | 'download' | null = null;
  const onTime = (kind: unknown, name: unknown) => {
    if (typeof name !== 'string') return;
    if (kind === 'start' && name === 'idealTree') {
      phase = 'tree';
      phaseBase = bytesReceived();
      progress.phase('tree', `resolving the dependency tree of ${label}`);
    } else if (kind === 'end' && name === 'idealTree' && phase === 'tree') {
      progress.end();
      phase = null;
    } else if (kind === 'start' && name === 'reify:unpack') {
      phase = 'download';
      phaseBase = bytesReceived();
      fromCache.clear();
      progress.phase('download', `downloading and unpacking ${label} and its dependencies`);
    } else if (name.startsWith('reifyNode:') && phase === 'download') {
      if (kind === 'start') started++;
      else finished++;
      progress.items(finished, started);
    } else if (kind === 'end' && name === 'reify:unpack' && phase === 'download') {
      progress.bytes(bytesReceived() - phaseBase, null);
      progress.end(fromCache.size > 0 ? `${fromCache.size} of ${started} package(s) from npm's cache` : undefined);
      phase = null;
    }
  };
  const onLog = (level: unknown, topic: unknown, message: unknown) => {
    // While unpacking, a tarball read from npm's cache: pacote's `cache <name>@<url.tgz> … (cache
    // hit)` when it reads by integrity (cachedTarballs), npm-registry-fetch's `cache <url.tgz> …
    // (cache hit)` or `(cache revalidated)` (a 304) through the HTTP cache. Counted once per
    // tarball URL (a corrupt entry that falls back through the HTTP cache logs twice); packuments
    // are not tarballs.
    if (phase !== 'download' || level !== 'http' || (topic !== 'cache' && topic !== 'fetch') || typeof message !== 'string') return;
    if (!/\(cache (?:hit|revalidated)\)/.test(message)) return;
    const url = /\bhttps?:\/\/\S+?\.tgz\b/.exec(message)?.[0];
    if (url) fromCache.add(url);
  };
  const timer = setInterval(() => {
    // The tree's packuments often come from npm's cache or were just fetched by the resolve: a
    // tree phase that received nothing says nothing about bytes.
    const n = bytesReceived() - phaseBase;
    if (phase === 'download' || (phase === 'tree' && n > 0)) progress.bytes(n, null);
  }, 100);
  timer.unref();
  process.on('time', onTime);
  process.on('log', onLog);
  return () => {
    clearInterval(timer);
    process.off('time', onTime);
    process.off('log', onLog);
  };
}

/** Library functions replaced by wrapMethodOnce, per object. */
const wrapped = new WeakMap<object, Set<string>>();

/**
 * Replace `target[key]` once with `wrap(original)` (recordExtraction, cachedTarballs). A target
 * that is not an object, a key that is not a function, or a property that cannot be redefined is
 * left as it was; the caller then runs without its hook.
 */
function wrapMethodOnce<F extends (this: unknown, ...args: never[]) => unknown>(target: unknown, key: string, wrap: (original: F) => F): void {
  if (!target || typeof target !== 'object') return;
  const done = wrapped.get(target) ?? new Set<string>();
  const desc = Object.getOwnPropertyDescriptor(target, key);
  // Read through the property: tar's exports are getters.
  const original = (target as Record<string, unknown>)[key];
  if (done.has(key) || typeof original !== 'function' || !desc?.configurable) return;
  Object.defineProperty(target, key, { configurable: true, enumerable: desc.enumerable ?? true, writable: true, value: wrap(original as F) });
  wrapped.set(target, done.add(key));
}

/** A tarball listing recorded while tar extracted it (see recordExtraction). */
interface ExtractionRecord {
  entries: TarEntry[];
  /** tar reached the end of the archive. */
  done: boolean;
}

/** Extractions to record, by the directory tar extracts into. */
const recording = new Map<string, ExtractionRecord>();

/**
 * Record the managed package's tarball listing as arborist extracts it, instead of reading the
 * tarball a second time: the listing is what the file check and the seal need, and reading it
 * again (gunzip and tar parsing on this thread) cost the large fixture 70–160 ms, competing with
 * arborist's own extraction. pacote extracts with `tar.x({ cwd: <node_modules/name>, filter })`,
 * calling the `tar` this process shares with it (npm-libs.cjs, or node_modules' CommonJS tar):
 * `tar.x` is wrapped once, and for a `cwd` registered here its filter also records each regular
 * file the filter lets through (its path as extracted, with pacote's `.gitignore` rename, without
 * the tarball's top folder; its size). Like the listing, the entries come from the tarball's
 * headers, not from what reached the disk. For any other `cwd`, and if tar cannot be wrapped, tar
 * runs as it was, and installTree reads the tarball again.
 */
function recordExtraction(tar: unknown, dir: string): { record: ExtractionRecord; stop(): void } {
  const record: ExtractionRecord = { entries: [], done: false };
  type X = (this: unknown, opt: unknown, ...rest: unknown[]) => { on?(ev: string, fn: () => void): unknown } | undefined;
  wrapMethodOnce<X>(
    tar,
    'x',
    (original) =>
      function x(this: unknown, opt: unknown, ...rest: unknown[]) {
        const o = opt as { cwd?: unknown; filter?: unknown } | null;
        const rec = o && typeof o.cwd === 'string' && typeof o.filter === 'function' ? recording.get(path.resolve(o.cwd)) : undefined;
        if (!rec || !o) return original.call(this, opt, ...rest);
        // pacote retries an extraction whose cached tarball was bad: each attempt starts over.
        rec.entries = [];
        rec.done = false;
        const filter = o.filter as (p: string, entry: { path: string; type: string; size?: number; mode?: number }) => unknown;
        const extractor = original.call(
          this,
          {
            ...o,
            filter: (p: string, entry: { path: string; type: string; size?: number; mode?: number }) => {
              const mode = entry.mode;
              const keep = filter(p, entry);
              if (keep && (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile')) {
                rec.entries.push({ path: entry.path.replace(/^[^/]+\//, ''), size: entry.size ?? 0, mode: mode ?? 0o644 });
              }
              return keep;
            },
          },
          ...rest,
        );
        extractor?.on?.('end', () => {
          rec.done = true;
        });
        return extractor;
      }
  );
  const key = path.resolve(dir);
  recording.set(key, record);
  return { record, stop: () => recording.delete(key) };
}

/**
 * How much of a tree's tarballs may come from npm's cache (cachedTarballs): each at most `each`
 * bytes, and at most `inFlight` bytes read from the cache at once. Measured on the real 2026.9.6
 * with a warm cache, side by side (peak RSS of the install): none 599–636 MB; 12/12 MiB 611–617 MB;
 * 16/32 MiB 658–710 MB; npm 683 MB. 12 MiB still takes the bench's large fixture (8.4 MB) from
 * the cache. Exported for tests.
 */
export const CACHED_TARBALLS = { each: 12 * 1024 * 1024, inFlight: 12 * 1024 * 1024 };

/** Installs in progress (cachedTarballs), and the bytes granted to cached reads running now. */
const cacheBudget = { installs: 0, inFlight: 0 };

/**
 * Let small tarballs come from npm's cache, within a memory budget. Installs run with
 * `preferOnline`, under which pacote skips npm's cache for tarballs: a registry that gives no
 * validator to revalidate with (verdaccio; this machine's proxy) then sends every tarball again
 * on a warm install. npm's default (`preferOnline` off for the whole tree) is not an option:
 * pacote reads a cached tarball in reads of up to 64 MB, and arborist extracts the whole tree at
 * once, so the real 2026.9.6's install peaked at 881 MB instead of 584 MB; taking only OpenClaw's
 * own tarball (95 MB) from the cache still cost +200 MB. So arborist's `pacote.extract` is wrapped
 * once and, during an install, an extraction whose integrity is known and whose content npm's
 * cache holds (cacache's `get.hasContent`) runs with `preferOnline` off when that content is at most `CACHED_TARBALLS.each`
 * bytes and the cached reads running now stay within `CACHED_TARBALLS.inFlight`; every other
 * extraction streams from the registry as before. cacache checks the integrity as it reads, and
 * pacote fetches again a cached tarball that fails it. The wrapper is installed once per pacote
 * (wrapMethodOnce: a property that cannot be redefined is left alone, and everything then streams) and grants only
 * while an install is in progress; the budget is shared by every install in the process. Returns
 * the function that ends this install's part. Exported for tests.
 */
export function cachedTarballs(pacote: unknown, cacache: NpmLibs['cacache']): () => void {
  type Extract = (this: unknown, spec: unknown, dest: unknown, opts?: Record<string, unknown>) => Promise<unknown>;
  wrapMethodOnce<Extract>(
    pacote,
    'extract',
    (original) =>
      async function extract(this: unknown, spec: unknown, dest: unknown, opts?: Record<string, unknown>) {
        const cache = opts?.['cache'];
        const integrity = opts?.['integrity'];
        const resolved = opts?.['resolved'];
        // pacote reads from the cache only with an integrity and a resolved URL (its tarballStream).
        const asked =
          cacheBudget.installs > 0 && opts?.['preferOnline'] === true && typeof cache === 'string' && cache !== '' &&
          typeof integrity === 'string' && typeof resolved === 'string' && resolved !== '';
        const found = asked ? await cacache.get.hasContent(cache, integrity).catch(() => undefined) : undefined;
        const size = found ? found.size : 0;
        if (size <= 0 || size > CACHED_TARBALLS.each || cacheBudget.inFlight + size > CACHED_TARBALLS.inFlight) {
          return original.call(this, spec, dest, opts);
        }
        cacheBudget.inFlight += size;
        try {
          return await original.call(this, spec, dest, { ...opts, preferOnline: false });
        } finally {
          cacheBudget.inFlight -= size;
        }
      },
  );
  cacheBudget.installs++;
  let ended = false;
  return () => {
    if (!ended) cacheBudget.installs--;
    ended = true;
  };
}

/** arborist's (symbol-named) step between extraction and lifecycle scripts, overridden to run the file check. */
const BUILD_STEP = Symbol.for('build');

/**
 * Install `<name>@<version>` with its full dependency tree into `prefix` using npm's own
 * installer (arborist), in one reify: scripts run under an allowScripts policy naming only the
 * managed package (what OpenClaw's own updater does with --allow-scripts=openclaw); other
 * dependencies' scripts never run. Between extraction and the lifecycle (arborist's build step)
 * `beforeScripts` gets the package's tarball listing, recorded as arborist extracted it
 * (recordExtraction), else read from npm's cache. On an arborist without that step: reify with scripts
 * off, the check, then a `rebuild` for the lifecycle.
 */
export async function installTree(opts: InstallTreeOptions): Promise<void> {
  const npm = await npmOptions(opts);
  const Arborist = await npmLib('Arborist');
  const { name, version } = opts.pkg;
  await fsp.writeFile(
    path.join(opts.prefix, 'package.json'),
    JSON.stringify({ name: 'oc-versions-install', private: true, dependencies: { [name]: version } }, null, 2) + '\n',
  );
  const common = {
    ...npm,
    // preferOnline stays on here (npmOptions), unlike npm's default; small tarballs come from
    // npm's cache within a memory budget (cachedTarballs says why).
    path: opts.prefix,
    audit: false,
    fund: false,
    save: false,
    packageLock: true,
    binLinks: true,
    allowScripts: { [name]: true },
  };
  // The listing as arborist extracts the package (recordExtraction); the tarball read again from
  // npm's cache only when that was not recorded.
  const extraction = recordExtraction(await npmLib('tar'), path.join(opts.prefix, 'node_modules', name));
  const stopCached = cachedTarballs(await npmLib('pacote'), await npmLib('cacache'));
  const listing = async (): Promise<[TarEntry[], 'extraction' | 'tarball']> =>
    extraction.record.done ? [extraction.record.entries, 'extraction'] : [await listTarball(opts.pkg, opts), 'tarball'];
  const savedPath = process.env['PATH'];
  const progress = opts.progress;
  const stopFollowing = progress ? followArborist(progress, `${name}@${version}`) : () => {};
  // npm scripts resolve `node` from PATH: make it the runtime node the shim will use.
  const scriptPath = `${opts.runtimeNodeDir}${path.delimiter}${savedPath ?? ''}`;
  let inLifecycle = false;
  const enterLifecycle = () => {
    process.env['PATH'] = scriptPath;
    stopFollowing();
    progress?.phase('lifecycle', `running ${name}'s lifecycle scripts`);
    inLifecycle = true;
  };
  try {
    const proto = Arborist.prototype as unknown as Record<symbol, unknown>;
    if (typeof proto[BUILD_STEP] === 'function') {
      const beforeScripts = async (): Promise<void> => {
        await opts.beforeScripts?.(...(await listing()));
        if (opts.runScripts) enterLifecycle();
      };
      const arb = new Arborist({ ...common, ignoreScripts: !opts.runScripts }) as unknown as Record<symbol, () => Promise<void>> & {
        options: { packumentCache?: PackumentCacheLike };
        reify(o: Record<string, unknown>): Promise<unknown>;
      };
      arb.options.packumentCache = packumentCache(arb.options.packumentCache);
      const build = arb[BUILD_STEP]!.bind(arb);
      arb[BUILD_STEP] = async () => {
        await beforeScripts();
        await build();
      };
      try {
        await arb.reify({ save: false });
      } finally {
        stopFollowing();
      }
      if (inLifecycle) progress?.end();
    } else {
      try {
        await new Arborist({ ...common, ignoreScripts: true }).reify({ save: false });
      } finally {
        stopFollowing();
      }
      await opts.beforeScripts?.(...(await listing()));
      if (opts.runScripts) {
        enterLifecycle();
        await new Arborist({ ...common, ignoreScripts: false }).rebuild({});
        progress?.end();
      }
    }
  } catch (e) {
    if (e instanceof OcError) throw e;
    const err = e as { code?: string; event?: string; pkgid?: string; script?: string };
    if (err?.code === 'ELIFECYCLE' || err?.event) {
      throw new OcError('LIFECYCLE_INCOMPLETE', `${name}@${version}: lifecycle script '${err.event ?? '?'}' failed`, {
        hint: 'the staged install was discarded; see the output above, or install with --ignore-scripts to skip scripts (the version may then not run)',
        cause: e,
      });
    }
    throw mapRegistryError(e, `installing ${name}@${version}`, registryFor(name, npm));
  } finally {
    process.env['PATH'] = savedPath;
    extraction.stop();
    stopCached();
  }
}


/** What `probeRegistry` found; never carries a credential. */
export interface RegistryProbe {
  ok: boolean;
  /** The registry the package is fetched from (credentials in the URL dropped). */
  registry: string;
  /** npm's configuration has credentials for that registry (never their value). */
  auth: boolean;
  /** How many versions the registry offers. */
  versions: number;
  error: OcError | null;
}

/** The nerf dart (`//host:port/path/`) prefixes of a registry URL, longest first, as npm matches auth. */
function nerfDarts(registry: string): string[] {
  try {
    const u = new URL(registry);
    const parts = u.pathname.split('/').filter(Boolean);
    const out: string[] = [];
    for (let i = parts.length; i >= 0; i--) out.push(`//${u.host}/${parts.slice(0, i).map((p) => p + '/').join('')}`);
    return out;
  } catch {
    return [];
  }
}

/**
 * One packument request with a short timeout and no retry: is the registry reachable with the
 * configured auth? A failure is a value (the mapped OcError), never a throw, except for an
 * unreadable npm configuration.
 */
export async function probeRegistry(name: string, opts: RegistryOptions, timeoutMs: number): Promise<RegistryProbe> {
  await assertSupportedNode();
  const npm = await npmOptions(opts);
  const registry = registryFor(name, npm);
  const darts = nerfDarts(registry);
  const auth = Object.keys(npm).some((k) => darts.some((d) => k.startsWith(d + ':') && /:(_authToken|_auth|username|_password|certfile)$/.test(k) && Boolean(npm[k])));
  const pacote = await npmLib('pacote');
  try {
    const doc = await pacote.packument(name, {
      ...npm,
      timeout: timeoutMs,
      fetchRetries: 0,
      retry: { retries: 0 },
      preferOnline: true,
    });
    return { ok: true, registry, auth, versions: Object.keys(doc.versions ?? {}).length, error: null };
  } catch (e) {
    return { ok: false, registry, auth, versions: 0, error: mapRegistryError(e, `fetching ${name}`, registry) };
  }
}

/**
 * Extract one package into `dest` through pacote (the packument's integrity checked), with the
 * user's npm configuration: its resolved URL and integrity. For the registry's `node-<os>-<arch>`
 * runtimes (src/core/runtime-install.ts); versions go through the installer instead.
 */
export async function extractPackage(spec: string, dest: string, opts: RegistryOptions, what: string, progress?: (line: string) => void): Promise<string> {
  const npm = await npmOptions(opts);
  const name = spec.slice(0, spec.lastIndexOf('@') > 0 ? spec.lastIndexOf('@') : spec.length);
  const pacote = await npmLib('pacote');
  progress?.(`${what} from ${registryFor(name, npm)}`);
  try {
    const r = await pacote.extract(spec, dest, { ...npm });
    return `${r.resolved} (${r.integrity})`;
  } catch (e) {
    throw mapRegistryError(e, what, registryFor(name, npm));
  }
}
