/**
 * The import-closure walk: from the entry files, every static and string-literal
 * dynamic relative import must resolve to a file (es-module-lexer). This is what
 * catches a missing hashed chunk before a version is sealed.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { init as initLexer, parse as parseModule } from 'es-module-lexer';
import { plural, type Outcome } from './common.js';
import { isRegularFile, type Entries } from './package.js';

/** Files walked between two yields to the event loop. */
const YIELD_EVERY = 128;

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

/**
 * `./x` / `../x` made only of characters URL parsing leaves alone (no `%` to decode, no `?`/`#`
 * to drop, no `\`, whitespace or empty segment): resolved as a path, which is the same file and
 * several times cheaper than building URLs (OpenClaw's entries reach ≈ 100,000 imports).
 */
const PLAIN_RELATIVE = /^\.\.?\/(?:[\w.@+~-]+\/)*[\w.@+~-]+$/;

/** Blank out a leading `#!` line, keeping offsets (es-module-lexer rejects it in some builds). */
export function blankShebang(src: string): string {
  if (!src.startsWith('#!')) return src;
  const nl = src.indexOf('\n');
  const end = nl === -1 ? src.length : nl;
  return ' '.repeat(end) + src.slice(end);
}

/** What reading and lexing one file found. */
type Lexed =
  | { kind: 'unreadable'; code: string }
  | { kind: 'commonjs' | 'unparsable' }
  | { kind: 'module'; specifiers: string[]; nonLiteral: number };

/** Read and lex one file: its relative specifiers (static imports, re-exports, string-literal dynamic imports). */
function lexFile(file: string): Lexed {
  let src: string;
  try {
    src = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return { kind: 'unreadable', code: String((e as NodeJS.ErrnoException).code ?? 'error') };
  }
  if (file.endsWith('.cjs')) return { kind: 'commonjs' };
  let imports: ReturnType<typeof parseModule>[0];
  try {
    imports = parseModule(blankShebang(src))[0];
  } catch {
    // Not lexable as ESM (CommonJS with syntax the lexer rejects, or newer syntax): counted, not a failure.
    return { kind: 'unparsable' };
  }
  const specifiers: string[] = [];
  let nonLiteral = 0;
  for (const imp of imports) {
    if (imp.type === 'import-meta') continue;
    if (imp.type === 'dynamic' && (imp.specifier === undefined || imp.glob)) {
      nonLiteral++;
      continue;
    }
    const spec = imp.specifier;
    if (spec !== undefined && (spec.startsWith('./') || spec.startsWith('../'))) specifiers.push(spec);
  }
  return { kind: 'module', specifiers, nonLiteral };
}

/**
 * Walk every relative static import, re-export and string-literal dynamic import()
 * reachable from `roots`, resolving as Node's ESM loader does for relative
 * specifiers: URL resolution against the importer (query and fragment dropped,
 * percent-decoding), no extension guessing, no directory index. Each file is
 * read once.
 *
 * Reads are synchronous: for a just-installed tree (page cache warm) a
 * promise-based read costs several times the read itself (a FileHandle, four
 * thread-pool hops, a promise), which was most of the walk's time on the real
 * package's 5,755 files. The walk yields to the event loop every YIELD_EVERY
 * files so concurrent work (the other checks, timers) keeps moving. (Lexing in
 * worker threads was measured too: more CPU in total, no faster on 2 cores.)
 */
export async function walkImportClosure(roots: readonly string[]): Promise<ImportClosureStats> {
  await initLexer();
  const stats: ImportClosureStats = { files: 0, commonjs: 0, unparsable: 0, nonLiteral: 0, missing: [] };
  const queued = new Set<string>();
  /** The first import that led to each queued file, to name it when the file is missing. */
  const firstRef = new Map<string, { importer: string; specifier: string }>();
  const statCache = new Map<string, 'file' | 'dir' | 'missing'>();
  /** Per importer directory: each followed specifier and the file it resolved to. */
  const followedFrom = new Map<string, Map<string, string>>();
  const queue: string[] = [];

  const kindOf = (p: string): 'file' | 'dir' | 'missing' => {
    let k = statCache.get(p);
    if (!k) {
      try {
        k = fs.statSync(p).isDirectory() ? 'dir' : 'file';
      } catch {
        k = 'missing';
      }
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

  const record = (file: string, r: Lexed): void => {
    if (r.kind === 'unreadable') {
      // Named after its importer once the walk is over (the smallest importer wins).
      unreadable.set(file, r.code === 'ENOENT' ? 'missing' : r.code === 'EISDIR' ? 'is a directory' : `unreadable (${r.code})`);
      return;
    }
    stats.files++;
    if (r.kind === 'commonjs') stats.commonjs++;
    if (r.kind === 'unparsable') stats.unparsable++;
    if (r.kind !== 'module') return;
    stats.nonLiteral += r.nonLiteral;
    let base: URL | undefined;
    const dir = path.dirname(file);
    let seenHere = followedFrom.get(dir);
    if (!seenHere) followedFrom.set(dir, (seenHere = new Map()));
    for (const spec of r.specifiers) {
      // A bundle's chunks import the same few hundred specifiers from one directory ≈ 100,000
      // times: a specifier already followed from this directory only competes for the smallest importer.
      const known = seenHere.get(spec);
      if (known !== undefined) {
        const ref = firstRef.get(known);
        if (ref && file < ref.importer) firstRef.set(known, { importer: file, specifier: spec });
        continue;
      }
      let target: string;
      if (PLAIN_RELATIVE.test(spec)) {
        // What URL resolution gives for a specifier with nothing to decode, drop or strip.
        target = path.resolve(dir, spec);
      } else {
        try {
          target = fileURLToPath(new URL(spec, (base ??= pathToFileURL(file))));
        } catch {
          addMissing(`${file}\0${spec}`, file, spec, 'not a valid relative URL');
          continue;
        }
      }
      if (FOLLOW_EXT.has(path.extname(target))) {
        seenHere.set(spec, target);
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
        const k = kindOf(target);
        if (k !== 'file') addMissing(target, file, spec, k === 'dir' ? 'is a directory' : 'missing');
      }
    }
  };

  for (const r of roots) {
    if (!queued.has(r)) {
      queued.add(r);
      queue.push(r);
    }
  }
  for (let n = 1; queue.length > 0; n++) {
    const file = queue.pop()!;
    record(file, lexFile(file));
    if (n % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  for (const [file, reason] of unreadable) {
    const ref = firstRef.get(file);
    addMissing(file, ref?.importer ?? file, ref?.specifier ?? file, reason);
  }
  stats.missing.sort((a, b) => (a.importer < b.importer ? -1 : a.importer > b.importer ? 1 : a.specifier < b.specifier ? -1 : a.specifier > b.specifier ? 1 : 0));
  return stats;
}

export async function checkImportClosure(packageDir: string, prefix: string, entries: Entries): Promise<Outcome> {
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
