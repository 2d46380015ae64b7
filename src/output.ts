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
  /** Print the command's result: `human` in text mode, `data` (an object) as JSON in --json mode, with `schemaVersion` first. */
  result(human: string, data: object): void;
  /** Progress and diagnostics (stderr); suppressed with quiet. */
  progress(message: string): void;
  warn(message: string): void;
}

export interface OutputOptions {
  json: boolean;
  quiet?: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export function createOutput(opts: OutputOptions): Output {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  let printed = false;
  return {
    json: opts.json,
    result(human, data) {
      if (opts.json) {
        if (printed) return; // one JSON document, whatever happens
        printed = true;
        stdout.write(JSON.stringify(jsonDocument(data as Record<string, unknown>), null, 2) + '\n');
      } else if (human.length > 0) {
        stdout.write(human.endsWith('\n') ? human : human + '\n');
      }
    },
    progress(message) {
      if (!opts.quiet) stderr.write(`oc-versions: ${message}\n`);
    },
    warn(message) {
      stderr.write(`oc-versions: warning: ${message}\n`);
    },
  };
}

/** One check or stage as a line: `ok  `, `skip` or `FAIL`, its name, time, and its detail where it says something. */
export function checkLine(c: { name: string; ok: boolean; ms: number; detail: string; skipped?: boolean }, indent = '  '): string {
  const skipped = c.skipped ?? (c.ok && c.detail.startsWith('skipped'));
  const mark = skipped ? 'skip' : c.ok ? 'ok  ' : 'FAIL';
  return `${indent}${mark} ${c.name} (${c.ms} ms)${c.detail ? `: ${c.detail}` : ''}`;
}
