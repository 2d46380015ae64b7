/**
 * How the core reports progress. The core never prints: install and the supervised
 * transition call these methods, and the command passes its Output (src/output.ts),
 * which renders them as a live display on a terminal, as plain lines elsewhere, or
 * not at all (--quiet; --json without --progress).
 *
 * A phase lasts until the next phase starts or `end` is called. The phases an
 * install walks: resolve → tree → download (bytes, packages) → lifecycle → validate
 * (one check line each) → seal. An upgrade adds: snapshot, stage (the install's
 * phases), canary, flip, restart, gate-responsive → gate-version → gate-deep (one
 * line per stage), settle, and rollback when it goes back.
 */
export interface ProgressSink {
  /** A phase starts (the previous one ends); `detail` is its line. */
  phase(name: string, detail: string): void;
  /** Bytes received so far in the current phase, and the total when known. */
  bytes(done: number, total: number | null): void;
  /** Items (packages) finished so far in the current phase, of `total`. */
  items(done: number, total: number): void;
  /** One check or stage finished: its own line. */
  check(r: { name: string; ok: boolean; ms: number; detail: string; skipped?: boolean }): void;
  /** The current phase ended; `summary` is what it did, when that says more than its start line. */
  end(summary?: string): void;
  /** A line of its own (something happened that is not a phase). */
  progress(message: string): void;
}

/** A sink that shows nothing (library use, tests). */
export const SILENT: ProgressSink = {
  phase() {},
  bytes() {},
  items() {},
  check() {},
  end() {},
  progress() {},
};

/** The same sink with every text passed through `red` first (secret values out of progress). */
export function redactedSink(sink: ProgressSink, red: (s: string) => string): ProgressSink {
  return {
    phase: (name, detail) => sink.phase(name, red(detail)),
    bytes: (d, t) => sink.bytes(d, t),
    items: (d, t) => sink.items(d, t),
    check: (r) => sink.check({ ...r, detail: red(r.detail) }),
    end: (summary) => sink.end(summary === undefined ? undefined : red(summary)),
    progress: (m) => sink.progress(red(m)),
  };
}
