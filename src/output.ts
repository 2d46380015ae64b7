/**
 * Output is a contract: stdout carries exactly the result (human text, or one
 * JSON document with --json); progress and diagnostics go to stderr.
 */

/**
 * The version of the --json contract (docs/cli.md#json-contract), the first field of every
 * JSON document, success or error. Within one schemaVersion fields are only added; renaming or
 * removing a field, changing its type or meaning, or a new outcome name bumps it.
 */
export const SCHEMA_VERSION = 1;

/** The JSON document of a result: `{schemaVersion, …data}`. */
export function jsonDocument(data: Record<string, unknown>): Record<string, unknown> {
  return { schemaVersion: SCHEMA_VERSION, ...data };
}

export interface Output {
  readonly json: boolean;
  /** Print the command's result: `human` in text mode, `data` (an object) as JSON in --json mode, with `schemaVersion` first. Ends the live display first. */
  result(human: string, data: object): void;
  /** A line of progress or diagnostics (stderr); suppressed with quiet, and with --json unless --progress. */
  progress(message: string): void;
  warn(message: string): void;
  /** A phase starts (the previous one ends): its line, and on a terminal the live display. */
  phase(name: string, detail: string): void;
  /** Bytes received so far in the current phase (total when known): shown with the rate. */
  bytes(done: number, total: number | null): void;
  /** Items (packages) finished in the current phase, of total. */
  items(done: number, total: number): void;
  /** One check or stage finished: `ok`, `skip` or `FAIL`, its name and time. */
  check(r: CheckLike): void;
  /** The current phase ended; `summary` says what it did. */
  end(summary?: string): void;
  /**
   * Stop the live display: the current phase stays on screen as finished (`ok`) or cut short.
   * Called before an error report, so the report's lines are never overwritten. Idempotent.
   */
  done(ok?: boolean): void;
  /**
   * A signal ends the command (src/cli.ts): the live display stops without persisting the running
   * phase (the interrupt's one line names it) and a pending line is dropped. Returns the name of the
   * last phase started, shown or not (null before any).
   */
  interrupted(): string | null;
}

export interface CheckLike {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
  skipped?: boolean;
}

export interface OutputOptions {
  json: boolean;
  quiet?: boolean;
  /** --progress: progress on stderr even with --json (stdout stays the one document). */
  progress?: boolean;
  /** false with --no-color. */
  color?: boolean;
  /** NO_COLOR and TERM are read from here. */
  env?: NodeJS.ProcessEnv;
  /** The terminal renderer (loadLiveRenderer), when stderr is a terminal. Without it: plain lines. */
  live?: LiveRenderer;
  /** Only `write` is used: the fast path writes with writeSync (src/fast.ts). */
  stdout?: { write(text: string): unknown };
  stderr?: NodeJS.WritableStream;
}

/** Whether progress is shown at all: not with --quiet, and with --json only when --progress asks. */
export function showsProgress(opts: Pick<OutputOptions, 'json' | 'quiet' | 'progress'>): boolean {
  return !opts.quiet && (!opts.json || Boolean(opts.progress));
}

/** Whether a live display fits this stream: a terminal that can move its cursor. */
export function wantsLive(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true && env['TERM'] !== 'dumb';
}

/** NO_COLOR (no-color.org: set and not empty) or --no-color turn colour off. */
export function colorAllowed(opts: Pick<OutputOptions, 'color' | 'env'>): boolean {
  const noColor = opts.env?.['NO_COLOR'];
  return opts.color !== false && (noColor === undefined || noColor === '');
}

interface Colors {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  dim(s: string): string;
}
type LogUpdate = ((...text: string[]) => void) & { clear(): void; done(): void; persist(...text: string[]): void };
export interface LiveRenderer {
  createLogUpdate(stream: NodeJS.WritableStream): LogUpdate;
  createColors(enabled: boolean): Colors;
}

/** log-update and picocolors, loaded only when a live display will be drawn (not for `list` & co). */
export async function loadLiveRenderer(): Promise<LiveRenderer> {
  const [lu, pc] = await Promise.all([import('log-update'), import('picocolors')]);
  return {
    createLogUpdate: (stream) => lu.createLogUpdate(stream as NodeJS.WriteStream) as unknown as LogUpdate,
    createColors: (enabled) => pc.default.createColors(enabled),
  };
}

/** 1234567 → "1.2 MB" (decimal units, as npm and browsers count downloads). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Phase {
  name: string;
  detail: string;
  t0: number;
  bytes: number | null;
  totalBytes: number | null;
  items: { done: number; total: number } | null;
}

/** What a phase moved: "1.2 MB received (3.4 MB/s), 12/40 package(s)". */
function phaseStats(p: Phase, now: number): string {
  const parts: string[] = [];
  if (p.bytes !== null) {
    const rate = now > p.t0 ? (p.bytes * 1000) / (now - p.t0) : 0;
    parts.push(`${formatBytes(p.bytes)}${p.totalBytes ? ` of ${formatBytes(p.totalBytes)}` : ''} received (${formatBytes(Math.round(rate))}/s)`);
  }
  if (p.items) parts.push(`${p.items.done}/${p.items.total} package(s)`);
  return parts.join(', ');
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_MS = 100;

export function createOutput(opts: OutputOptions): Output {
  const stdout = opts.stdout ?? process.stdout;
  // process.stderr is created on first use: building that stream (a pipe's socket) costs a read-only
  // command more than its own work, and `current`/`list`/`which` print nothing there.
  const stderr = { write: (text: string) => (opts.stderr ?? process.stderr).write(text) };
  const shown = showsProgress(opts);
  const live = shown ? opts.live : undefined;
  const c: Colors = live ? live.createColors(colorAllowed(opts)) : { green: (s) => s, red: (s) => s, yellow: (s) => s, cyan: (s) => s, dim: (s) => s };
  let printed = false;
  let current: Phase | null = null;
  let lastPhase: string | null = null;
  // Plain lines: the `resolve` phase's line waits until the resolve succeeds (the next line or
  // the result), so a bad spec, an unknown version or a registry that is down prints only the
  // two error lines, as every other bad input does.
  let pending: string | null = null;
  const flushPending = () => {
    if (pending === null) return;
    const text = pending;
    pending = null;
    stderr.write(`oc-versions: ${text}\n`);
  };

  // ---- the live display (stderr is a terminal): one block for the running phase, redrawn by
  // log-update; everything finished is persisted above it.
  let screen: LogUpdate | null = null;
  let timer: NodeJS.Timeout | null = null;
  let frame = 0;
  const draw = () => {
    // Between phases nothing is drawn: the finished phase's line was just persisted.
    if (!screen || !current) return;
    const stats = phaseStats(current, Date.now());
    screen(`${c.cyan(SPINNER[frame++ % SPINNER.length]!)} ${current.detail}${stats ? c.dim(` · ${stats}`) : ''} ${c.dim(`(${seconds(Date.now() - current.t0)})`)}`);
  };
  const startLive = () => {
    if (!live || screen) return;
    screen = live.createLogUpdate(opts.stderr ?? process.stderr);
    timer = setInterval(draw, FRAME_MS);
    timer.unref();
  };
  const stopLive = (ok: boolean, why?: string) => {
    if (!screen) return;
    if (current) {
      const p = current;
      current = null;
      persist(phaseLine(p, ok, why));
    }
    screen.clear();
    screen.done();
    screen = null;
    if (timer) clearInterval(timer);
    timer = null;
  };
  /** A finished line: above the live block on a terminal, else a plain `oc-versions: ` line. */
  const persist = (text: string) => {
    if (screen) {
      screen.persist(text);
      draw();
    } else stderr.write(text + '\n');
  };
  const phaseLine = (p: Phase, ok: boolean, note?: string) => {
    const stats = phaseStats(p, Date.now());
    const mark = ok ? c.green('✔') : c.red('✖');
    return `${mark} ${p.detail}${stats ? c.dim(` · ${stats}`) : ''} ${c.dim(`(${seconds(Date.now() - p.t0)}${note ? `, ${note}` : ''})`)}`;
  };
  const line = (text: string) => {
    if (screen) return persist(text);
    flushPending();
    stderr.write(`oc-versions: ${text}\n`);
  };
  const finish = (summary?: string) => {
    const p = current;
    if (!p) return;
    current = null;
    if (screen) persist(phaseLine(p, true, summary));
    else if (summary || p.bytes !== null || p.items) {
      const stats = phaseStats(p, Date.now());
      line(`${p.name} done in ${seconds(Date.now() - p.t0)}${stats ? `: ${stats}` : ''}${summary ? `; ${summary}` : ''}`);
    }
  };

  const out: Output = {
    json: opts.json,
    result(human, data) {
      out.done(true);
      if (opts.json) {
        if (printed) return; // one JSON document, whatever happens
        printed = true;
        stdout.write(JSON.stringify(jsonDocument(data as Record<string, unknown>), null, 2) + '\n');
      } else if (human.length > 0) {
        stdout.write(human.endsWith('\n') ? human : human + '\n');
      }
    },
    progress(message) {
      if (shown) line(message);
    },
    warn(message) {
      const text = `oc-versions: warning: ${message}`;
      if (screen) persist(c.yellow(text));
      else {
        flushPending();
        stderr.write(text + '\n');
      }
    },
    phase(name, detail) {
      lastPhase = name;
      if (!shown) return;
      finish();
      current = { name, detail, t0: Date.now(), bytes: null, totalBytes: null, items: null };
      if (live) {
        startLive();
        draw();
      } else if (name === 'resolve') {
        flushPending();
        pending = detail;
      } else line(detail);
    },
    bytes(done, total) {
      if (!current) return;
      current.bytes = done;
      current.totalBytes = total;
    },
    items(done, total) {
      if (current) current.items = { done, total };
    },
    check(r) {
      if (!shown) return;
      const text = checkLine(r, '  ');
      if (!screen) return line(text);
      const mark = text.slice(2, 6);
      persist(`  ${mark === 'FAIL' ? c.red(mark) : mark === 'skip' ? c.yellow(mark) : c.green(mark)}${text.slice(6)}`);
    },
    end(summary) {
      finish(summary);
      draw();
    },
    done(ok = true) {
      if (screen) stopLive(ok);
      else current = null;
      if (ok) flushPending();
      else pending = null;
    },
    interrupted() {
      pending = null;
      // On a terminal the running phase stays on screen, marked cut short, before the one line.
      stopLive(false, 'interrupted');
      current = null;
      return lastPhase;
    },
  };
  return out;
}

/** One check or stage as a line: `ok  `, `skip` or `FAIL`, its name, time, and its detail where it says something. */
export function checkLine(c: Omit<CheckLike, 'ms'> & { ms: number | null }, indent = '  '): string {
  const skipped = c.skipped ?? (c.ok && c.detail.startsWith('skipped'));
  const mark = skipped ? 'skip' : c.ok ? 'ok  ' : 'FAIL';
  // A time a log did not record (history of older logs) says so rather than "(0 ms)".
  return `${indent}${mark} ${c.name} (${c.ms === null ? 'time not logged' : `${c.ms} ms`})${c.detail ? `: ${c.detail}` : ''}`;
}
