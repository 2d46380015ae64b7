/**
 * Output is a contract: stdout carries exactly the result (human text, or one
 * JSON document with --json); progress and diagnostics go to stderr.
 */
export interface Output {
  readonly json: boolean;
  /** Print the command's result: `human` in text mode, `data` as JSON in --json mode. */
  result(human: string, data: unknown): void;
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
        stdout.write(JSON.stringify(data, null, 2) + '\n');
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
