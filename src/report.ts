/**
 * The only place that prints errors and decides the exit code. Everything
 * below throws OcError (or returns an exit code); this maps it to two lines
 * on stderr — what failed, then what to do (the hint) — and, with --json, one
 * error document on stdout. `--verbose` adds the cause chain (credentials
 * redacted). No stack trace is printed for an expected failure; an INTERNAL
 * error (a bug) prints its stack only with OC_VERSIONS_DEBUG=1.
 */
import { EXIT, OcError, fromFsError, isOcError, type ExitCode } from './errors.js';
import { jsonDocument } from './output.js';
import { redactCredentials } from './secrets/redact.js';

export function toOcError(e: unknown): OcError {
  if (isOcError(e)) return e;
  const fsErr = fromFsError(e, 'running the command');
  if (fsErr) return fsErr;
  const name = (e as { name?: string })?.name;
  if (name === 'CACError') {
    return new OcError('USAGE', (e as Error).message, { hint: 'oc-versions --help lists commands and options' });
  }
  return new OcError('INTERNAL', (e as Error)?.message ?? String(e), {
    hint: 'this is a bug in oc-versions; rerun with OC_VERSIONS_DEBUG=1 for a stack trace and report it',
    cause: e,
  });
}

/** The hint of an error that carries none: what to do, by exit code. */
const DEFAULT_HINT: Record<ExitCode, string> = {
  [EXIT.OK]: '',
  [EXIT.INTERNAL]: 'this is a bug in oc-versions; rerun with OC_VERSIONS_DEBUG=1 for a stack trace and report it',
  [EXIT.USAGE]: 'oc-versions --help lists commands and options',
  [EXIT.NOT_FOUND]: 'oc-versions list shows what is installed; oc-versions list --remote what the registry offers',
  [EXIT.BUSY]: 'wait for the other oc-versions command to finish, then try again',
  [EXIT.VALIDATION]: 'nothing was changed; oc-versions verify <version> shows the checks',
  [EXIT.ROLLED_BACK]: 'the old version is serving; oc-versions status shows the outcome',
  [EXIT.DEGRADED]: 'oc-versions recover (or use <version>) brings a healthy version back',
  [EXIT.REGISTRY]: 'check the network and your npm configuration (npm config list), then try again',
  [EXIT.ENVIRONMENT]: 'fix the environment problem named above, then try again',
  [EXIT.INTERRUPTED]: 'the next oc-versions command cleans up what was left (or run oc-versions recover)',
  [EXIT.TERMINATED]: 'the next oc-versions command cleans up what was left (or run oc-versions recover)',
};

export function hintOf(err: OcError): string {
  return err.hint ?? DEFAULT_HINT[err.exitCode];
}

/** The messages of an error's causes, outermost first (an OcError's own message excluded). */
export function causeChain(err: Error): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>([err]);
  for (let c = err.cause; c !== undefined && c !== null && !seen.has(c) && out.length < 10; c = (c as Error).cause) {
    seen.add(c);
    const e = c as Partial<NodeJS.ErrnoException> & { statusCode?: number };
    const code = e.code ?? (e.statusCode !== undefined ? `HTTP ${e.statusCode}` : undefined);
    const message = c instanceof Error || typeof e.message === 'string' ? String(e.message) : String(c);
    out.push(redactCredentials(`${code ? `${code}: ` : ''}${message}`.replace(/\s*\n\s*/g, ' ')));
  }
  return out;
}

export interface ReportOptions {
  json: boolean;
  verbose?: boolean;
  env?: NodeJS.ProcessEnv;
}

export function reportError(e: unknown, opts: ReportOptions): number {
  const env = opts.env ?? process.env;
  const err = toOcError(e);
  const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ');
  const hint = hintOf(err);
  const causes = opts.verbose ? causeChain(err) : [];
  const lines = [`oc-versions: ${oneLine(err.message)}`, ...(hint ? [`oc-versions: hint: ${oneLine(hint)}`] : []), ...causes.map((c) => `oc-versions: cause: ${c}`)];
  process.stderr.write(lines.join('\n') + '\n');
  if (env['OC_VERSIONS_DEBUG']) {
    const c = err.cause as Error | undefined;
    process.stderr.write(String(c?.stack ?? err.stack) + '\n');
  }
  if (opts.json) writeErrorDocument(err, hint, opts.verbose ? { causes } : {});
  return err.exitCode ?? EXIT.INTERNAL;
}

function writeErrorDocument(err: OcError, hint: string, extra: Record<string, unknown>): void {
  // `changed`: whether the failed command changed anything before it failed (docs/cli.md#changed);
  // null when not known (a bug: exit 1).
  const changed = err.changed ?? (err.exitCode === EXIT.INTERNAL ? null : false);
  const doc = jsonDocument({
    changed,
    error: { code: err.code, message: err.message, hint: hint || null, exitCode: err.exitCode, ...extra, ...(err.details ?? {}) },
  });
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
}

/** What a signal interrupted (src/cli.ts gathers it; src/app/interrupted.ts says what was left). */
export interface Interruption {
  signal: 'SIGINT' | 'SIGTERM';
  /** The command that was running, when one had been parsed. */
  command: string | null;
  /** The progress phase it was in (resolve, download, validate, seal, restart, …), when one had started. */
  phase: string | null;
  /** What it left behind, one short phrase each; empty when nothing. */
  left: string[];
  /** A transaction (journal) was open: the next command finishes or undoes it. */
  transaction: boolean;
}

/**
 * A command ended by SIGINT/SIGTERM: exactly one line on stderr — what was interrupted, what it
 * left and how that is cleaned — and with --json the error document `INTERRUPTED` (exit 130, or
 * 143 for SIGTERM; docs/exit-codes.md). Never "a bug": an interrupt is the operator's choice.
 */
export function reportInterrupt(i: Interruption, opts: ReportOptions): number {
  const exitCode = i.signal === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED;
  const what = `${i.command ?? 'oc-versions'} interrupted by ${i.signal}${i.phase ? ` during ${i.phase}` : ''}`;
  const message = i.left.length === 0 ? `${what}; nothing was left behind` : `${what}; left ${i.left.join(', ')}`;
  const hint =
    i.left.length === 0
      ? ''
      : i.transaction
        ? `the next oc-versions command finishes or undoes the ${i.command ?? 'transaction'} and cleans the rest (or run oc-versions recover)`
        : 'the next oc-versions command cleans it (or run oc-versions recover)';
  const err = new OcError('INTERRUPTED', message, {
    exitCode,
    details: { signal: i.signal, phase: i.phase, left: i.left },
    // An open transaction is a change (a snapshot, maybe a flip or restart) the next command finishes
    // or undoes; a staging dir or the lock alone changed nothing the next command does not sweep.
    changed: i.transaction,
  });
  process.stderr.write(`oc-versions: ${message}${hint ? `; ${hint}` : ''}\n`);
  if (opts.json) writeErrorDocument(err, hint, {});
  return exitCode;
}
