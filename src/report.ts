/**
 * The only place that prints errors and decides the exit code. Everything
 * below throws OcError (or returns an exit code); this maps it to one line
 * on stderr (message + hint) and, with --json, one error document on stdout.
 */
import { EXIT, OcError, fromFsError, isOcError } from './errors.js';

export function toOcError(e: unknown): OcError {
  if (isOcError(e)) return e;
  const fsErr = fromFsError(e, 'running the command');
  if (fsErr) return fsErr;
  const name = (e as { name?: string })?.name;
  if (name === 'CACError') {
    return new OcError('USAGE', (e as Error).message, { hint: 'oc-versions --help lists commands and options' });
  }
  return new OcError('INTERNAL', (e as Error)?.message ?? String(e), {
    hint: 'this is a bug in oc-versions; rerun with OC_VERSIONS_DEBUG=1 for a stack trace',
    cause: e,
  });
}

export function reportError(e: unknown, json: boolean, env: NodeJS.ProcessEnv = process.env): number {
  const err = toOcError(e);
  const line = `oc-versions: ${err.message}${err.hint ? ` (hint: ${err.hint})` : ''}`;
  process.stderr.write(line.replace(/\s*\n\s*/g, ' ') + '\n');
  if (env['OC_VERSIONS_DEBUG']) {
    const c = err.cause as Error | undefined;
    process.stderr.write(String(c?.stack ?? err.stack) + '\n');
  }
  if (json) {
    const doc = { error: { code: err.code, message: err.message, hint: err.hint ?? null, exitCode: err.exitCode, ...(err.details ?? {}) } };
    process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  }
  return err.exitCode ?? EXIT.INTERNAL;
}
