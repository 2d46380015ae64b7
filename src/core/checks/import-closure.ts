/**
 * The import-closure walk: from the entry files, every static and string-literal
 * dynamic relative import must resolve to a file (es-module-lexer). This is what
 * catches a missing hashed chunk before a version is sealed.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { init as initLexer, parse as parseModule } from 'es-module-lexer';
import { plural, type Outcome } from './common.js';
import { isRegularFile, type Entries } from './package.js';

/** Files walked between two yields to the event loop. */
const YIELD_EVERY = 128;
/**
 * A walk that knows of this many files (walked or queued) is a large one: lexing threads join
 * it from here. A thread takes ≈ 70 ms to start on a 2-core machine and slows this one while it
 * does. Measured on 2 cores, the walk alone in a fresh process: the real OpenClaw's 5,755 files
 * ≈ 0.89 s → ≈ 0.66 s; synthetic trees of 1,000–2,000 files 20–40 ms slower; the test fixtures
 * (≤ ≈ 200 files) never start one. (Validation gives the walk only the cores the inventory's
 * hashing threads leave: closureThreads in validate.ts.)
 */
const WORKER_AFTER_FILES = 500;
/** At most this many lexing threads (one per core but one). */
const MAX_WORKERS = 3;

/**
 * Lexing threads for a walk on `cores` cores when `reserved` of them are taken by threads running
 * beside it (validation: the inventory's hashing threads): one per core but one, at most MAX_WORKERS.
 */
export function lexingThreads(cores: number, reserved = 0): number {
  return Math.max(0, Math.min(MAX_WORKERS, cores - 1 - reserved));
}
/** Files handed to a lexing thread at once, and batches it may hold (so it never waits for this thread). */
const BATCH = 32;
const BATCHES_AHEAD = 2;

export interface ImportClosureStats {
  /** Files read and lexed (or counted as CommonJS / unparsable). */
  files: number;
  commonjs: number;
  unparsable: number;
  /** Dynamic imports whose argument is not one string literal (not checkable statically). */
  nonLiteral: number;
  /** Of `files`, how many a lexing thread read and lexed (the rest: this thread). */
  lexedByThreads: number;
  /** Distinct unresolvable targets, in a deterministic order (importer path, then specifier). */
  missing: Array<{ importer: string; specifier: string; reason: string }>;
}

const FOLLOW_EXT = new Set(['.js', '.mjs', '.cjs']);

/**
 * `./x` / `../x` made only of characters URL parsing leaves alone (no `%` to decode, no `?`/`#`
 * to drop, no `\`, whitespace or empty segment): resolved as a path, which is the same file and
 * several times cheaper than building URLs (OpenClaw's entries reach ≈ 45,000 relative imports).
 */
const PLAIN_RELATIVE = /^\.\.?\/(?:[\w.@+~-]+\/)*[\w.@+~-]+$/;

/**
 * Blank out what precedes a module's code, keeping offsets: a leading byte-order mark (whitespace
 * to node, which loads the imports after it; the lexer would see none of them) or a `#!` line
 * (es-module-lexer rejects it in some builds).
 */
export function blankPrelude(src: string): string {
  if (src.charCodeAt(0) === 0xfeff) return ` ${src.slice(1)}`;
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

/**
 * Read and lex one file: its relative specifiers (static imports, re-exports, string-literal
 * dynamic imports). Self-contained (its modules are parameters) because lexing threads run its
 * source text: keep it free of outer references.
 */
function lexFileWith(file: string, fsm: typeof fs, parse: typeof parseModule, blank: typeof blankPrelude): Lexed {
  let src: string;
  try {
    // Read as bytes and decode in one call: on Node 24 this takes ≈ 30 % less CPU than
    // readFileSync(file, 'utf8') over the real OpenClaw's dist (measured: 8,737 files, 93 MB,
    // 0.69 s vs 1.00 s median), the same UTF-8 decoding (invalid bytes become U+FFFD either way).
    src = fsm.readFileSync(file).toString();
  } catch (e) {
    return { kind: 'unreadable', code: String((e as NodeJS.ErrnoException).code ?? 'error') };
  }
  if (file.endsWith('.cjs')) return { kind: 'commonjs' };
  let imports: ReturnType<typeof parseModule>[0];
  try {
    imports = parse(blank(src))[0];
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
 * A lexing thread: lexes the batches of paths it is sent and posts `[path, Lexed]` pairs on its
 * port, then bumps the shared counter and wakes whoever waits on it (Atomics), so the walking
 * thread can take results synchronously between files (receiveMessageOnPort) and sleep only
 * when it has nothing else to do.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const lexer = require(workerData.lexer);
const blankPrelude = ${blankPrelude.toString()};
const lexFileWith = ${lexFileWith.toString()};
const { port, signal } = workerData;
const answer = (m) => {
  port.postMessage(m);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
};
Promise.resolve(typeof lexer.init === 'function' ? lexer.init() : lexer.init).then(() => {
  parentPort.on('message', (files) => answer(files.map((f) => [f, lexFileWith(f, fs, lexer.parse, blankPrelude)])));
  answer('ready');
});
`;

/** ES2024's Atomics.waitAsync (Node ≥ 16), which this project's ES2023 lib does not declare. */
interface AtomicsWaitAsync {
  waitAsync(
    ta: Int32Array,
    index: number,
    value: number,
  ): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}

interface Lexer {
  worker: Worker;
  port: MessagePort;
  /** Paths sent to it and not yet answered, a batch per entry. */
  pending: string[][];
  /** Its lexer is loaded: only then is it sent files (a thread takes tens of ms to start). */
  ready: boolean;
  failed: boolean;
}

/** Lexing threads for one walk, started on demand; their failures fall back to this thread. */
class LexerPool {
  readonly lexers: Lexer[] = [];
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));

  started = false;

  constructor(
    private readonly size: number,
    private readonly lexerModule: string | undefined,
  ) {}

  start(): void {
    if (this.started || this.size === 0) return;
    this.started = true;
    let lexerPath = this.lexerModule;
    try {
      lexerPath ??= createRequire(import.meta.url).resolve('es-module-lexer');
    } catch {
      return; // no CommonJS build to load: this thread lexes alone
    }
    for (let i = 0; i < this.size; i++) {
      const { port1, port2 } = new MessageChannel();
      let worker: Worker;
      try {
        worker = new Worker(WORKER_SOURCE, {
          eval: true,
          workerData: { lexer: lexerPath, port: port2, signal: this.signal },
          transferList: [port2],
        });
      } catch {
        port1.close();
        return; // no thread to be had (resource limits): the ones started, if any, and this thread
      }
      const lexer: Lexer = { worker, port: port1, pending: [], ready: false, failed: false };
      const fail = (): void => {
        lexer.failed = true;
        Atomics.add(this.signal, 0, 1);
        Atomics.notify(this.signal, 0);
      };
      worker.on('error', fail);
      worker.on('exit', fail);
      this.lexers.push(lexer);
    }
  }

  /** Hand batches from the front of `queue` to lexers with room (the walking thread pops from the back). */
  feed(queue: string[]): void {
    for (const l of this.lexers) {
      while (l.ready && !l.failed && l.pending.length < BATCHES_AHEAD && queue.length >= 2) {
        const batch = queue.splice(0, Math.min(BATCH, queue.length >> 1));
        l.pending.push(batch);
        l.worker.postMessage(batch);
      }
    }
  }

  /** Every thread has started (or failed). */
  get settled(): boolean {
    return this.lexers.every((l) => l.ready || l.failed);
  }

  get busy(): boolean {
    return this.lexers.some((l) => l.pending.length > 0);
  }

  /**
   * Answers that have arrived, without waiting. A failed lexer's unanswered paths go back to
   * `queue` for this thread.
   */
  take(queue: string[], into: (file: string, r: Lexed) => void): void {
    for (const l of this.lexers) {
      for (let m; (!l.ready || l.pending.length > 0) && (m = receiveMessageOnPort(l.port)); ) {
        if (m.message === 'ready') {
          l.ready = true;
          continue;
        }
        l.pending.shift();
        for (const [file, r] of m.message as Array<[string, Lexed]>) into(file, r);
      }
      if (l.failed && l.pending.length > 0) queue.push(...l.pending.splice(0).flat());
    }
  }

  /** A count that moves whenever a lexer answers or fails: read it before take(), then wait on it. */
  seq(): number {
    return Atomics.load(this.signal, 0);
  }

  /** Sleep until a lexer answers or fails after seq() returned `seen`. */
  async waitSince(seen: number): Promise<void> {
    const w = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.signal, 0, seen);
    if (w.async) await w.value;
  }

  /** Stop the threads without waiting for them (ending one that is still starting takes ≈ 10 ms). */
  close(): void {
    for (const l of this.lexers) {
      l.port.close();
      l.worker.unref();
      l.worker.terminate().catch(() => {});
    }
  }
}

export interface WalkOptions {
  /** Lexing threads besides this one (default: one per core but one, at most MAX_WORKERS). */
  threads?: number;
  /** Files the walk must know of (walked or queued) before lexing threads start (default WORKER_AFTER_FILES). */
  threadsAfter?: number;
  /** The es-module-lexer CommonJS build the threads load (tests: a broken one, to see the fallback). */
  lexerModule?: string;
  /** Wait for the threads to start before walking on (tests: a small walk would end first). */
  awaitThreads?: boolean;
}

/**
 * Walk every relative static import, re-export and string-literal dynamic import()
 * reachable from `roots`, resolving as Node's ESM loader does for relative
 * specifiers: URL resolution against the importer (query and fragment dropped,
 * percent-decoding), no extension guessing, no directory index. Each file is
 * read once a walk (a closure with a missing module is walked twice: below).
 *
 * Reads are synchronous: for a just-installed tree (page cache warm) a
 * promise-based read costs several times the read itself (a FileHandle, four
 * thread-pool hops, a promise), which was most of the walk's time on the real
 * package's 5,755 files. The walk yields to the event loop every YIELD_EVERY
 * files so concurrent work (the other checks, timers) keeps moving.
 *
 * A large walk (more than `threadsAfter` files) shares the reading and lexing
 * with lexing threads (LexerPool): they take batches from the front of the
 * queue, this thread pops from its back and does all the bookkeeping, taking
 * their answers synchronously between files. On the real 2026.9.6 and 2 cores,
 * warm: ≈ 0.59 s → ≈ 0.45 s, for ≈ 150 ms more CPU (the thread's start and cold JIT).
 * (An earlier try with a lexing thread measured no faster; this one takes the
 * answers synchronously and never waits while it has files of its own.)
 */
export async function walkImportClosure(roots: readonly string[], opts: WalkOptions = {}): Promise<ImportClosureStats> {
  const fast = await walk(roots, opts, false);
  // Naming a missing module by its smallest importer means comparing paths at each import that
  // repeats one already followed: ≈ 39,000 of OpenClaw's ≈ 45,000 (≈ 30 ms a walk on this thread).
  // A closure whose modules all resolve names none, so the first walk skips that; one with a
  // missing module walks again with it, so failures read the same on every run, in any walk order.
  return fast.approximate ? (await walk(roots, opts, true)).stats : fast.stats;
}

/**
 * One walk. `exact`: keep each followed target's smallest importer (what names a missing or
 * unreadable module). Without it, `approximate` says whether a name came from the first importer
 * found instead (other unresolved targets are always named by their smallest importer).
 */
async function walk(roots: readonly string[], opts: WalkOptions, exact: boolean): Promise<{ stats: ImportClosureStats; approximate: boolean }> {
  await initLexer();
  const stats: ImportClosureStats = { files: 0, commonjs: 0, unparsable: 0, nonLiteral: 0, lexedByThreads: 0, missing: [] };
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
  /** Each unresolvable target once, named by its smallest importer (the same on every run, in any walk order). */
  const missingTargets = new Map<string, { importer: string; specifier: string; reason: string }>();
  const addMissing = (target: string, importer: string, specifier: string, reason: string): void => {
    const prev = missingTargets.get(target);
    if (!prev || importer < prev.importer) missingTargets.set(target, { importer, specifier, reason });
  };

  /** Files recorded (a lexing thread that fails hands its batches back, one may have been answered). */
  const recorded = new Set<string>();
  /** Record one file's lexing; true when it counts as a walked file. */
  const record = (file: string, r: Lexed): boolean => {
    if (recorded.has(file)) return false;
    recorded.add(file);
    if (r.kind === 'unreadable') {
      // Named after its importer once the walk is over (the smallest importer wins).
      unreadable.set(file, r.code === 'ENOENT' ? 'missing' : r.code === 'EISDIR' ? 'is a directory' : `unreadable (${r.code})`);
      return false;
    }
    stats.files++;
    if (r.kind === 'commonjs') stats.commonjs++;
    if (r.kind === 'unparsable') stats.unparsable++;
    if (r.kind !== 'module') return true;
    stats.nonLiteral += r.nonLiteral;
    let base: URL | undefined;
    const dir = path.dirname(file);
    let seenHere = followedFrom.get(dir);
    if (!seenHere) followedFrom.set(dir, (seenHere = new Map()));
    for (const spec of r.specifiers) {
      // A bundle's chunks import the same few hundred specifiers from one directory ≈ 39,000
      // times: a specifier already followed from this directory only competes for the smallest importer.
      const known = seenHere.get(spec);
      if (known !== undefined) {
        if (exact) {
          const ref = firstRef.get(known);
          if (ref && file < ref.importer) firstRef.set(known, { importer: file, specifier: spec });
        }
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
        } else if (exact) {
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
    return true;
  };

  for (const r of roots) {
    if (!queued.has(r)) {
      queued.add(r);
      queue.push(r);
    }
  }
  // Large walks share the lexing with other threads: they take batches from the front of the
  // queue while this thread pops from its back, and their answers are recorded here, so the
  // bookkeeping (and every verdict) is the same as a walk on this thread alone.
  const pool = new LexerPool(opts.threads ?? lexingThreads(os.availableParallelism()), opts.lexerModule);
  const threadsAfter = opts.threadsAfter ?? WORKER_AFTER_FILES;
  const fromThread = (file: string, r: Lexed): void => {
    if (record(file, r)) stats.lexedByThreads++;
  };
  try {
    for (let n = 1; ; ) {
      const seen = pool.seq();
      pool.take(queue, fromThread);
      if (recorded.size + queue.length >= threadsAfter && queue.length > 1 && !pool.started) {
        pool.start();
        while (opts.awaitThreads && !pool.settled) {
          const s = pool.seq();
          pool.take(queue, fromThread);
          if (!pool.settled) await pool.waitSince(s);
        }
      }
      pool.feed(queue);
      const file = queue.pop();
      if (file !== undefined) {
        record(file, lexFileWith(file, fs, parseModule, blankPrelude));
        if (n++ % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      } else if (pool.busy) {
        await pool.waitSince(seen);
      } else {
        break;
      }
    }
  } finally {
    pool.close();
  }
  for (const [file, reason] of unreadable) {
    const ref = firstRef.get(file);
    addMissing(file, ref?.importer ?? file, ref?.specifier ?? file, reason);
  }
  stats.missing = [...missingTargets.values()];
  stats.missing.sort((a, b) => (a.importer < b.importer ? -1 : a.importer > b.importer ? 1 : a.specifier < b.specifier ? -1 : a.specifier > b.specifier ? 1 : 0));
  return { stats, approximate: !exact && unreadable.size > 0 };
}

export async function checkImportClosure(packageDir: string, prefix: string, entries: Entries, walkOpts: WalkOptions = {}): Promise<Outcome> {
  const roots: string[] = [];
  for (const e of [...entries.bins, ...(entries.service ? [entries.service] : [])]) {
    if (!(await isRegularFile(e.abs))) continue; // reported by `entrypoints`
    // Node resolves relative imports against the entry's real path.
    roots.push(await fsp.realpath(e.abs));
  }
  if (roots.length === 0) return { ok: false, detail: 'no entry file exists to walk from' };
  const s = await walkImportClosure([...new Set(roots)], walkOpts);
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
