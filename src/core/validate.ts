/**
 * Pre-promotion validation: prove that an installed tree can run before it is
 * sealed (and so before it can ever become `current`). Every check is reported
 * separately; a failed check is a result, never a throw. docs/validation.md
 * describes each check and its messages.
 *
 * Ordering: the five structural checks (entrypoints, inventory, import-closure,
 * runtime, lifecycle) never execute package code, so they run concurrently and
 * are reported in their fixed order. Smoke and offline checks execute the
 * package's own code; they run only when every structural check passed,
 * because OpenClaw's entry finishes a pending lifecycle on first run and would
 * otherwise write into the staged tree we are judging.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { init as initLexer, parse as parseModule } from 'es-module-lexer';
import semver from 'semver';
import type { CheckCommand, Config } from './config.js';
import { run } from '../os/proc.js';
import type { RunResult } from '../os/proc.js';

export type CheckName =
  | 'entrypoints'
  | 'inventory'
  | 'import-closure'
  | 'runtime'
  | 'lifecycle'
  | 'smoke'
  | 'offline-checks';

export interface CheckResult {
  name: CheckName;
  ok: boolean;
  detail: string;
  ms: number;
  skipped?: boolean;
}

export interface ValidationReport {
  version: string;
  ok: boolean;
  checks: CheckResult[];
}

export interface ValidateInput {
  /** `<prefix>/node_modules/<name>` */
  packageDir: string;
  /** The install prefix (staging or versions/<v>). */
  prefix: string;
  expectedVersion: string;
  /** Absolute node binary the shim will run. */
  runtimeNode: string;
  config: Pick<Config, 'serviceEntry' | 'lifecycleMarkers' | 'inventoryFiles' | 'offlineChecks' | 'smokeTimeoutMs'>;
  /** Where isolated HOME dirs for smoke/offline checks may be created. */
  tmpDir: string;
  /** Progress callback, called once per check in report order (the core never prints). */
  onCheck?: (r: CheckResult) => void;
  /** Checks not to run: reported `skipped: true, ok: true` with the reason. */
  skip?: CheckName[];
}

export const CHECK_ORDER: readonly CheckName[] = [
  'entrypoints',
  'inventory',
  'import-closure',
  'runtime',
  'lifecycle',
  'smoke',
  'offline-checks',
];

const STRUCTURAL: readonly CheckName[] = ['entrypoints', 'inventory', 'import-closure', 'runtime', 'lifecycle'];

const SKIP_REASON: Record<CheckName, string> = {
  entrypoints: 'skipped on request',
  inventory: 'skipped on request',
  'import-closure': 'skipped on request',
  runtime: 'skipped on request',
  lifecycle: 'skipped on request: lifecycle scripts were not run for this install (--ignore-scripts)',
  smoke: 'skipped on request',
  'offline-checks': 'skipped on request',
};

/** Files hashed (inventory) and files read (import closure) at once. */
const HASH_CONCURRENCY = 16;
const READ_CONCURRENCY = 64;
/** Files up to this size are hashed from one read; larger ones are streamed. */
const HASH_BUFFER_LIMIT = 1024 * 1024;
const CHILD_OUTPUT_CAP = 256 * 1024;

// ---------------------------------------------------------------------------
// public API

export async function validateTree(input: ValidateInput): Promise<ValidationReport> {
  const skip = new Set(input.skip ?? []);
  const manifest = await readManifest(input.packageDir);
  const entries = await resolveEntries(input.packageDir, manifest, input.config.serviceEntry);

  const structural: Record<string, () => Promise<CheckResult>> = {
    entrypoints: () => timed('entrypoints', () => checkEntrypoints(input, manifest, entries)),
    inventory: () => timed('inventory', () => checkInventory(input.packageDir, input.config.inventoryFiles)),
    'import-closure': () => timed('import-closure', () => checkImportClosure(input.packageDir, input.prefix, entries)),
    runtime: () => timed('runtime', () => checkRuntime(input.runtimeNode, manifest)),
    lifecycle: () => timed('lifecycle', () => checkLifecycle(input.packageDir, input.config.lifecycleMarkers)),
  };

  const checks: CheckResult[] = [];
  const emit = (r: CheckResult): void => {
    checks.push(r);
    input.onCheck?.(r);
  };

  // Start all structural checks at once; emit in the fixed order.
  const started = STRUCTURAL.map((name) => (skip.has(name) ? Promise.resolve(skipped(name)) : structural[name]!()));
  for (const p of started) emit(await p);

  const broken = checks.filter((c) => !c.ok).map((c) => c.name);
  for (const name of ['smoke', 'offline-checks'] as const) {
    if (skip.has(name)) {
      emit(skipped(name));
    } else if (broken.length > 0) {
      emit({ name, ok: false, skipped: true, ms: 0, detail: `not run: ${broken.join(', ')} failed` });
    } else if (name === 'smoke') {
      emit(await timed('smoke', () => checkSmoke(input, entries)));
    } else {
      emit(await timed('offline-checks', () => checkOfflineCommands(input, entries)));
    }
  }

  return { version: input.expectedVersion, ok: checks.every((c) => c.ok), checks };
}

/** The first check that failed and actually ran (a check not run because of it comes later). */
export function firstFailure(r: ValidationReport): CheckResult | undefined {
  return r.checks.find((c) => !c.ok && !c.skipped) ?? r.checks.find((c) => !c.ok);
}

/** One line `<check>: <detail>` for the first failure; '' when the report passed. */
export function formatFailure(r: ValidationReport): string {
  const f = firstFailure(r);
  return f ? `${f.name}: ${oneLine(f.detail)}` : '';
}

// ---------------------------------------------------------------------------
// plumbing

type Outcome = { ok: boolean; detail: string };

async function timed(name: CheckName, fn: () => Promise<Outcome>): Promise<CheckResult> {
  const t0 = performance.now();
  let out: Outcome;
  try {
    out = await fn();
  } catch (e) {
    // A check that cannot complete is a failed check, not a crash of the whole validation.
    out = { ok: false, detail: `check could not run: ${errText(e)}` };
  }
  return { name, ok: out.ok, detail: out.detail, ms: Math.round(performance.now() - t0) };
}

function skipped(name: CheckName): CheckResult {
  return { name, ok: true, skipped: true, ms: 0, detail: SKIP_REASON[name] };
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException | undefined;
  return err?.code ? `${err.code}: ${err.message}` : String(err?.message ?? e);
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** Run `fn` over items with at most `limit` in flight; results keep item order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A package-relative path that cannot leave the package (no `..`, not absolute, no NUL/backslash). */
function safeRelative(p: string): string | undefined {
  const norm = p.replace(/^\.\//, '');
  if (norm === '' || norm.includes('\0') || norm.includes('\\') || path.posix.isAbsolute(norm)) return undefined;
  if (norm.split('/').some((part) => part === '..' || part === '')) return undefined;
  return norm.split('/').filter((part) => part !== '.').join('/');
}

// ---------------------------------------------------------------------------
// package.json and entries

interface Manifest {
  ok: boolean;
  error?: string;
  name?: string;
  version?: string;
  bin: Record<string, string>;
  enginesNode?: string;
}

async function readManifest(packageDir: string): Promise<Manifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(await fsp.readFile(path.join(packageDir, 'package.json'), 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, bin: {}, error: code === 'ENOENT' ? 'package.json: missing' : `package.json: unreadable (${errText(e)})` };
  }
  if (!raw || typeof raw !== 'object') return { ok: false, bin: {}, error: 'package.json: not an object' };
  const pkg = raw as Record<string, unknown>;
  const name = typeof pkg['name'] === 'string' ? pkg['name'] : undefined;
  const bin: Record<string, string> = {};
  const rawBin = pkg['bin'];
  if (typeof rawBin === 'string') {
    // String form: npm names the command after the package (without its scope).
    bin[(name ?? 'bin').replace(/^@[^/]+\//, '')] = rawBin;
  } else if (rawBin && typeof rawBin === 'object') {
    for (const [k, v] of Object.entries(rawBin as Record<string, unknown>)) if (typeof v === 'string') bin[k] = v;
  }
  const engines = pkg['engines'];
  const enginesNode =
    engines && typeof engines === 'object' && typeof (engines as Record<string, unknown>)['node'] === 'string'
      ? ((engines as Record<string, unknown>)['node'] as string)
      : undefined;
  return {
    ok: true,
    ...(name !== undefined ? { name } : {}),
    ...(typeof pkg['version'] === 'string' ? { version: pkg['version'] } : {}),
    bin,
    ...(enginesNode !== undefined ? { enginesNode } : {}),
  };
}

interface Entry {
  /** package-relative path as declared */
  rel: string;
  abs: string;
}

interface Entries {
  bins: Array<Entry & { command: string }>;
  /** bin paths that would escape the package */
  unsafeBins: string[];
  service?: Entry;
  /** The file `--version` and offline checks run: preferred bin, else the service entry. */
  cli?: Entry;
}

async function isRegularFile(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isFile();
  } catch {
    return false;
  }
}

async function resolveEntries(packageDir: string, manifest: Manifest, serviceEntry: readonly string[]): Promise<Entries> {
  const bins: Entries['bins'] = [];
  const unsafeBins: string[] = [];
  for (const [command, target] of Object.entries(manifest.bin)) {
    const rel = safeRelative(target);
    if (rel === undefined) unsafeBins.push(`${command} -> ${target}`);
    else bins.push({ command, rel, abs: path.join(packageDir, rel) });
  }
  let service: Entry | undefined;
  for (const candidate of serviceEntry) {
    const rel = safeRelative(candidate);
    if (rel === undefined) continue;
    const abs = path.join(packageDir, rel);
    if (await isRegularFile(abs)) {
      service = { rel, abs };
      break;
    }
  }
  // The real CLI answers --version from its bin (openclaw.mjs); prefer the bin named after the package.
  const short = manifest.name?.replace(/^@[^/]+\//, '');
  const preferred = bins.find((b) => b.command === short) ?? bins[0];
  const cli = preferred && (await isRegularFile(preferred.abs)) ? preferred : service;
  return { bins, unsafeBins, ...(service ? { service } : {}), ...(cli ? { cli } : {}) };
}

// ---------------------------------------------------------------------------
// 1. entrypoints

async function checkEntrypoints(input: ValidateInput, manifest: Manifest, entries: Entries): Promise<Outcome> {
  if (!manifest.ok) return { ok: false, detail: manifest.error ?? 'package.json: invalid' };
  const problems: string[] = [];
  if (manifest.version !== input.expectedVersion) {
    problems.push(`package.json version is ${manifest.version ?? '(none)'}, expected ${input.expectedVersion}`);
  }
  for (const u of entries.unsafeBins) problems.push(`bin ${u}: path leaves the package`);
  for (const b of entries.bins) {
    const problem = await fileProblem(b.abs, true);
    if (problem) problems.push(`bin ${b.command} (${b.rel}): ${problem}`);
  }
  if (!entries.service) {
    const tried = input.config.serviceEntry;
    const first = tried[0] ?? '(none configured)';
    // Say why the first candidate was rejected (missing, dangling link, directory…).
    const why = tried[0] ? ((await fileProblem(path.join(input.packageDir, tried[0]), false)) ?? 'unusable') : 'not configured';
    problems.push(`service entry ${first}: ${why}${tried.length > 1 ? ` (also tried ${tried.slice(1).join(', ')})` : ''}`);
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    return { ok: false, detail: `${problems[0]}${more}` };
  }
  const binList = entries.bins.map((b) => b.rel).join(', ') || 'no bin';
  return { ok: true, detail: `${binList}; service entry ${entries.service!.rel}` };
}

/** Why `p` cannot serve as an entry file, or undefined when it can. */
async function fileProblem(p: string, mustBeExecutable: boolean): Promise<string | undefined> {
  let lst: fs.Stats;
  try {
    lst = await fsp.lstat(p);
  } catch {
    return 'missing';
  }
  let st: fs.Stats;
  try {
    st = await fsp.stat(p);
  } catch {
    return lst.isSymbolicLink() ? 'dangling symlink' : 'unreadable';
  }
  if (!st.isFile()) return st.isDirectory() ? 'is a directory, not a file' : 'not a regular file';
  if (mustBeExecutable && (st.mode & 0o111) === 0) return `not executable (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

// ---------------------------------------------------------------------------
// 2. inventory

interface InventoryItem {
  path: string;
  sha256?: string;
  size?: number;
}

/**
 * Accepts the formats OpenClaw has shipped (docs/validation.md):
 * - `postinstall-inventory.json`: `["dist/a.js", ...]` (package-root-relative paths);
 * - `postinstall-content-inventory.json`: `[{ path, sha256, mode, size }, ...]`;
 * and, defensively, `{ files: <either array> }` or a `{ "<path>": "<sha256>" | {sha256,size} }` map.
 */
export function parseInventory(raw: unknown): InventoryItem[] {
  let list: unknown = raw;
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const obj = raw as Record<string, unknown>;
    if (Array.isArray(obj['files'])) list = obj['files'];
    else
      list = Object.entries(obj).map(([p, v]) =>
        typeof v === 'string' ? { path: p, sha256: v } : v && typeof v === 'object' ? { ...(v as object), path: p } : p,
      );
  }
  if (!Array.isArray(list)) throw new Error('unrecognised format (expected an array)');
  return list.map((item, i): InventoryItem => {
    if (typeof item === 'string') return { path: item };
    if (!item || typeof item !== 'object') throw new Error(`entry ${i}: not a path or an object`);
    const o = item as Record<string, unknown>;
    const p = o['path'] ?? o['file'];
    if (typeof p !== 'string') throw new Error(`entry ${i}: no path`);
    const hashField = o['sha256'] ?? o['hash'];
    let sha256: string | undefined;
    if (typeof hashField === 'string') {
      const h = hashField.replace(/^sha256[-:]/, '');
      if (/^[a-fA-F0-9]{64}$/.test(h)) sha256 = h.toLowerCase();
      else if (/^[A-Za-z0-9+/]{43}=$/.test(h)) sha256 = Buffer.from(h, 'base64').toString('hex');
      else throw new Error(`entry ${i} (${p}): sha256 is not a sha256 digest`);
    }
    const size = typeof o['size'] === 'number' && Number.isSafeInteger(o['size']) && o['size'] >= 0 ? o['size'] : undefined;
    return { path: p, ...(sha256 !== undefined ? { sha256 } : {}), ...(size !== undefined ? { size } : {}) };
  });
}

async function sha256File(file: string, size: number): Promise<string> {
  if (size <= HASH_BUFFER_LIMIT) return createHash('sha256').update(await fsp.readFile(file)).digest('hex');
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: HASH_BUFFER_LIMIT })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function checkInventory(packageDir: string, inventoryFiles: readonly string[]): Promise<Outcome> {
  const merged = new Map<string, InventoryItem>();
  const used: string[] = [];
  for (const invRel of inventoryFiles) {
    let text: string;
    try {
      text = await fsp.readFile(path.join(packageDir, invRel), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // not shipped by this package/version
      return { ok: false, detail: `${invRel}: unreadable (${errText(e)})` };
    }
    let items: InventoryItem[];
    try {
      items = parseInventory(JSON.parse(text));
    } catch (e) {
      return { ok: false, detail: `${invRel}: invalid inventory: ${e instanceof SyntaxError ? 'not JSON' : errText(e)}` };
    }
    used.push(path.posix.basename(invRel));
    for (const item of items) {
      const rel = safeRelative(item.path);
      if (rel === undefined) return { ok: false, detail: `${invRel}: unsafe path ${JSON.stringify(item.path)}` };
      const prev = merged.get(rel);
      if (prev?.sha256 && item.sha256 && prev.sha256 !== item.sha256) {
        return { ok: false, detail: `${rel}: inventories disagree about its sha256` };
      }
      merged.set(rel, { ...prev, ...item, path: rel });
    }
  }
  if (used.length === 0) return { ok: true, detail: `no inventory shipped (looked for ${inventoryFiles.join(', ') || 'nothing'})` };

  const items = [...merged.values()];
  let hashed = 0;
  let bytes = 0;
  const problems = await mapLimit(items, HASH_CONCURRENCY, async (item): Promise<string | undefined> => {
    const abs = path.join(packageDir, item.path);
    let st: fs.Stats;
    try {
      st = await fsp.stat(abs);
    } catch {
      return `${item.path}: missing`;
    }
    if (!st.isFile()) return `${item.path}: not a regular file`;
    if (item.size !== undefined && st.size !== item.size) return `${item.path}: size ${st.size}, expected ${item.size}`;
    if (item.sha256 === undefined) return undefined;
    const actual = await sha256File(abs, st.size);
    hashed++;
    bytes += st.size;
    if (actual !== item.sha256) {
      return `${item.path}: sha256 mismatch (expected ${item.sha256.slice(0, 12)}…, got ${actual.slice(0, 12)}…)`;
    }
    return undefined;
  });
  const failed = problems.filter((p): p is string => p !== undefined);
  if (failed.length > 0) {
    const more = failed.length > 1 ? ` (and ${failed.length - 1} more of ${items.length} listed files)` : '';
    return { ok: false, detail: `${failed[0]}${more}` };
  }
  const mb = (bytes / 1e6).toFixed(1);
  return { ok: true, detail: `${plural(items.length, 'file')} present, ${hashed} hashed (${mb} MB); from ${used.join(' + ')}` };
}

// ---------------------------------------------------------------------------
// 3. import closure

export interface ImportClosureStats {
  /** Files read and lexed (or counted as CommonJS / unparsable). */
  files: number;
  commonjs: number;
  unparsable: number;
  /** Dynamic imports whose argument is not one string literal (not checkable statically). */
  nonLiteral: number;
  /** Distinct unresolvable targets, in a deterministic order (importer path, then specifier). */
  missing: Array<{ importer: string; specifier: string; reason: string }>;
}

const FOLLOW_EXT = new Set(['.js', '.mjs', '.cjs']);

/** Blank out a leading `#!` line, keeping offsets (es-module-lexer rejects it in some builds). */
export function blankShebang(src: string): string {
  if (!src.startsWith('#!')) return src;
  const nl = src.indexOf('\n');
  const end = nl === -1 ? src.length : nl;
  return ' '.repeat(end) + src.slice(end);
}

/**
 * Walk every relative static import, re-export and string-literal dynamic import()
 * reachable from `roots`, resolving as Node's ESM loader does for relative
 * specifiers: URL resolution against the importer (query and fragment dropped,
 * percent-decoding), no extension guessing, no directory index. Each file is
 * read once; reads run with bounded concurrency while lexing stays on this thread.
 */
export async function walkImportClosure(roots: readonly string[], concurrency = READ_CONCURRENCY): Promise<ImportClosureStats> {
  await initLexer();
  const stats: ImportClosureStats = { files: 0, commonjs: 0, unparsable: 0, nonLiteral: 0, missing: [] };
  const queued = new Set<string>();
  /** The first import that led to each queued file, to name it when the file is missing. */
  const firstRef = new Map<string, { importer: string; specifier: string }>();
  const statCache = new Map<string, Promise<'file' | 'dir' | 'missing'>>();
  const queue: string[] = [];

  const kindOf = (p: string): Promise<'file' | 'dir' | 'missing'> => {
    let k = statCache.get(p);
    if (!k) {
      k = fsp.stat(p).then(
        (st) => (st.isDirectory() ? 'dir' : 'file'),
        () => 'missing' as const,
      );
      statCache.set(p, k);
    }
    return k;
  };
  const unreadable = new Map<string, string>();
  const missingOnce = new Set<string>();
  const addMissing = (target: string, importer: string, specifier: string, reason: string): void => {
    if (missingOnce.has(target)) return;
    missingOnce.add(target);
    stats.missing.push({ importer, specifier, reason });
  };

  const processFile = async (file: string): Promise<void> => {
    let src: string;
    try {
      src = await fsp.readFile(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Named after its importer once the walk is over (the smallest importer wins).
      unreadable.set(file, code === 'ENOENT' ? 'missing' : code === 'EISDIR' ? 'is a directory' : `unreadable (${code ?? 'error'})`);
      return;
    }
    stats.files++;
    if (file.endsWith('.cjs')) {
      stats.commonjs++;
      return;
    }
    let imports: ReturnType<typeof parseModule>[0];
    try {
      imports = parseModule(blankShebang(src))[0];
    } catch {
      // Not lexable as ESM (CommonJS with syntax the lexer rejects, or newer syntax): count, do not fail.
      stats.unparsable++;
      return;
    }
    const base = pathToFileURL(file);
    const pending: Promise<void>[] = [];
    for (const imp of imports) {
      if (imp.type === 'import-meta') continue;
      if (imp.type === 'dynamic' && (imp.specifier === undefined || imp.glob)) {
        stats.nonLiteral++;
        continue;
      }
      const spec = imp.specifier;
      if (spec === undefined || !(spec.startsWith('./') || spec.startsWith('../'))) continue;
      let target: string;
      try {
        target = fileURLToPath(new URL(spec, base));
      } catch {
        addMissing(`${file}\0${spec}`, file, spec, 'not a valid relative URL');
        continue;
      }
      if (FOLLOW_EXT.has(path.extname(target))) {
        if (!queued.has(target)) {
          queued.add(target);
          firstRef.set(target, { importer: file, specifier: spec });
          queue.push(target);
        } else {
          // Keep the smallest importer so a missing file is named the same way on every run.
          const ref = firstRef.get(target);
          if (ref && file < ref.importer) firstRef.set(target, { importer: file, specifier: spec });
        }
      } else {
        // JSON, wasm, .node…: must exist and be a file; not followed.
        pending.push(
          kindOf(target).then((k) => {
            if (k !== 'file') addMissing(target, file, spec, k === 'dir' ? 'is a directory' : 'missing');
          }),
        );
      }
    }
    await Promise.all(pending);
  };

  for (const r of roots) {
    if (!queued.has(r)) {
      queued.add(r);
      queue.push(r);
    }
  }
  await new Promise<void>((resolve, reject) => {
    let active = 0;
    const pump = (): void => {
      while (active < concurrency && queue.length > 0) {
        const f = queue.pop()!;
        active++;
        processFile(f).then(
          () => {
            active--;
            if (active === 0 && queue.length === 0) resolve();
            else pump();
          },
          reject,
        );
      }
      if (active === 0 && queue.length === 0) resolve();
    };
    pump();
  });
  for (const [file, reason] of unreadable) {
    const ref = firstRef.get(file);
    addMissing(file, ref?.importer ?? file, ref?.specifier ?? file, reason);
  }
  stats.missing.sort((a, b) => (a.importer < b.importer ? -1 : a.importer > b.importer ? 1 : a.specifier < b.specifier ? -1 : a.specifier > b.specifier ? 1 : 0));
  return stats;
}

async function checkImportClosure(packageDir: string, prefix: string, entries: Entries): Promise<Outcome> {
  const roots: string[] = [];
  for (const e of [...entries.bins, ...(entries.service ? [entries.service] : [])]) {
    if (!(await isRegularFile(e.abs))) continue; // reported by `entrypoints`
    // Node resolves relative imports against the entry's real path.
    roots.push(await fsp.realpath(e.abs));
  }
  if (roots.length === 0) return { ok: false, detail: 'no entry file exists to walk from' };
  const s = await walkImportClosure([...new Set(roots)]);
  const realPkg = await fsp.realpath(packageDir).catch(() => packageDir);
  const realPrefix = await fsp.realpath(prefix).catch(() => prefix);
  const show = (abs: string): string => {
    const inPkg = path.relative(realPkg, abs);
    if (!inPkg.startsWith('..')) return inPkg;
    const inPrefix = path.relative(realPrefix, abs);
    return inPrefix.startsWith('..') ? abs : inPrefix;
  };
  const skippedNote = [
    s.commonjs ? `${s.commonjs} CommonJS` : '',
    s.unparsable ? `${s.unparsable} not lexable` : '',
    s.nonLiteral ? `${plural(s.nonLiteral, 'non-literal dynamic import')} skipped` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const walked = `${plural(s.files, 'file')} walked from ${plural(roots.length, 'entry', 'entries')}${skippedNote ? ` (${skippedNote})` : ''}`;
  const first = s.missing[0];
  if (first) {
    const more = s.missing.length > 1 ? ` (${s.missing.length} unresolved in total)` : '';
    return { ok: false, detail: `${show(first.importer)} imports ${first.specifier}: ${first.reason}${more}; ${walked}` };
  }
  return { ok: true, detail: walked };
}

// ---------------------------------------------------------------------------
// 4. runtime

async function checkRuntime(runtimeNode: string, manifest: Manifest): Promise<Outcome> {
  const r = await run(runtimeNode, ['-p', 'process.version'], {
    env: minimalEnv(runtimeNode),
    timeoutMs: 15_000,
    maxOutput: 4096,
  });
  const version = r.stdout.trim();
  if (r.error || r.code !== 0 || !semver.valid(version)) {
    return { ok: false, detail: `runtime node ${runtimeNode} does not run: ${describeExit(r)}` };
  }
  const range = manifest.enginesNode;
  if (range === undefined) return { ok: true, detail: `node ${version}; package declares no engines.node` };
  if (semver.validRange(range) === null) return { ok: false, detail: `engines.node ${JSON.stringify(range)} is not a valid range` };
  if (!semver.satisfies(version, range, { includePrerelease: false })) {
    return { ok: false, detail: `node ${version} (${runtimeNode}) does not satisfy engines.node ${JSON.stringify(range)}` };
  }
  return { ok: true, detail: `node ${version} satisfies engines.node ${JSON.stringify(range)}` };
}

// ---------------------------------------------------------------------------
// 5. lifecycle

async function checkLifecycle(packageDir: string, markers: readonly string[]): Promise<Outcome> {
  for (const m of markers) {
    const rel = safeRelative(m);
    if (rel === undefined) continue;
    try {
      await fsp.lstat(path.join(packageDir, rel));
      return { ok: false, detail: `${rel} is present: the package's install scripts did not complete` };
    } catch {
      // absent: good
    }
  }
  return { ok: true, detail: markers.length ? `no ${markers.join(', ')}` : 'no lifecycle markers configured' };
}

// ---------------------------------------------------------------------------
// 6 + 7. running the package's own code, isolated

/** PATH for children: the runtime node's directory first, then the system's; never the caller's environment. */
function minimalEnv(runtimeNode: string): NodeJS.ProcessEnv {
  return { PATH: [path.dirname(runtimeNode), '/usr/local/bin', '/usr/bin', '/bin'].join(path.delimiter) };
}

/** A throwaway HOME under tmpDir, and the environment that keeps the package inside it. */
async function withIsolatedHome<T>(tmpDir: string, runtimeNode: string, fn: (home: string, env: NodeJS.ProcessEnv) => Promise<T>): Promise<T> {
  await fsp.mkdir(tmpDir, { recursive: true });
  const home = await fsp.mkdtemp(path.join(tmpDir, 'oc-validate-'));
  try {
    const stateDir = path.join(home, '.openclaw');
    const tmp = path.join(home, 'tmp');
    await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
    await fsp.mkdir(tmp, { recursive: true, mode: 0o700 });
    const env: NodeJS.ProcessEnv = {
      ...minimalEnv(runtimeNode),
      HOME: home,
      USERPROFILE: home,
      TMPDIR: tmp,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_DATA_HOME: path.join(home, '.local', 'share'),
      XDG_STATE_HOME: path.join(home, '.local', 'state'),
      XDG_CACHE_HOME: path.join(home, '.cache'),
      OPENCLAW_STATE_DIR: stateDir,
      OPENCLAW_CONFIG_PATH: path.join(stateDir, 'openclaw.json'),
      OPENCLAW_NO_AUTO_UPDATE: '1',
      OPENCLAW_DISABLE_BONJOUR: '1',
      OPENCLAW_OFFLINE: '1',
      DO_NOT_TRACK: '1',
      NO_COLOR: '1',
      NO_UPDATE_NOTIFIER: '1',
    };
    return await fn(home, env);
  } finally {
    await fsp.rm(home, { recursive: true, force: true }).catch(() => undefined);
  }
}

function lastLine(s: string): string {
  const lines = s.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const l = lines[lines.length - 1] ?? '';
  return l.length > 200 ? `${l.slice(0, 200)}…` : l;
}

function describeExit(r: RunResult, timeoutMs?: number): string {
  if (r.error) return `could not start (${r.error.code ?? r.error.message})`;
  const stderr = lastLine(r.stderr);
  const tail = stderr ? `; stderr: ${stderr}` : '';
  if (r.timedOut) return `timed out after ${timeoutMs ?? r.ms} ms${tail}`;
  if (r.code === null) return `killed by ${r.signal ?? 'a signal'}${tail}`;
  return `exit ${r.code}${tail}`;
}

function mentionsVersion(stdout: string, version: string): boolean {
  const v = version.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // `2026.9.6` must not match inside `2026.9.60` or `2026.9.6-beta.1`.
  return new RegExp(`(^|[^0-9A-Za-z.+-])v?${v}(?![0-9A-Za-z+-]|\\.[0-9A-Za-z])`).test(stdout);
}

async function checkSmoke(input: ValidateInput, entries: Entries): Promise<Outcome> {
  const cli = entries.cli;
  if (!cli) return { ok: false, detail: 'no bin or service entry to run' };
  const timeoutMs = input.config.smokeTimeoutMs;
  const r = await withIsolatedHome(input.tmpDir, input.runtimeNode, (home, env) =>
    run(input.runtimeNode, [cli.abs, '--version'], { cwd: home, env, timeoutMs, maxOutput: CHILD_OUTPUT_CAP }),
  );
  const cmd = `node ${cli.rel} --version`;
  if (r.error || r.timedOut || r.code !== 0) return { ok: false, detail: `${cmd}: ${describeExit(r, timeoutMs)}` };
  if (!mentionsVersion(r.stdout, input.expectedVersion)) {
    const said = lastLine(r.stdout) || '(nothing)';
    return { ok: false, detail: `${cmd}: printed ${JSON.stringify(said)}, expected version ${input.expectedVersion}` };
  }
  return { ok: true, detail: `${cmd} reported ${input.expectedVersion} in ${r.ms} ms` };
}

function substitute(arg: string, input: ValidateInput): string {
  return arg.replaceAll('{prefix}', input.prefix).replaceAll('{staging}', input.prefix).replaceAll('{version}', input.expectedVersion);
}

async function checkOfflineCommands(input: ValidateInput, entries: Entries): Promise<Outcome> {
  const checks: readonly CheckCommand[] = input.config.offlineChecks;
  if (checks.length === 0) return { ok: true, detail: 'none configured' };
  const cli = entries.cli;
  if (!cli) return { ok: false, detail: 'no bin or service entry to run' };
  const failures: string[] = [];
  for (const c of checks) {
    const args = c.args.map((a) => substitute(a, input));
    const timeoutMs = c.timeoutMs ?? input.config.smokeTimeoutMs;
    const okCodes = c.okExitCodes ?? [0];
    const r = await withIsolatedHome(input.tmpDir, input.runtimeNode, (home, env) =>
      run(input.runtimeNode, [cli.abs, ...args], { cwd: home, env, timeoutMs, maxOutput: CHILD_OUTPUT_CAP }),
    );
    const passed = !r.error && !r.timedOut && r.code !== null && okCodes.includes(r.code);
    if (!passed) failures.push(`${c.name} (${[cli.rel, ...c.args].join(' ')}): ${describeExit(r, timeoutMs)}`);
  }
  if (failures.length > 0) {
    const more = failures.length > 1 ? ` (and ${failures.length - 1} more of ${checks.length})` : '';
    return { ok: false, detail: `${failures[0]}${more}` };
  }
  return { ok: true, detail: `${plural(checks.length, 'check')} passed: ${checks.map((c) => c.name).join(', ')}` };
}
