/**
 * The one runner for configured check commands (CheckCommand): offline checks
 * against a staged tree and deep checks against a running gateway both run
 * `<node> <cli> <args…>` with a timeout and a set of accepted exit codes.
 */
import type { CheckCommand } from '../config.js';
import { run, type RunResult } from '../../os/proc.js';

export interface CommandCheck {
  name: string;
  ok: boolean;
  ms: number;
  /** `exit N` when it passed; otherwise how it failed, with the last stderr line. */
  detail: string;
}

function lastLine(s: string): string {
  const lines = s.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const l = lines[lines.length - 1] ?? '';
  return l.length > 200 ? `${l.slice(0, 200)}…` : l;
}

/** How a child ended, in one line: could not start / timed out / killed / exit N, plus the last stderr line. */
export function describeExit(r: RunResult, timeoutMs?: number): string {
  if (r.error) return `could not start (${r.error.code ?? r.error.message})`;
  const stderr = lastLine(r.stderr);
  const tail = stderr ? `; stderr: ${stderr}` : '';
  if (r.timedOut) return `timed out after ${timeoutMs ?? r.ms} ms${tail}`;
  if (r.code === null) return `killed by ${r.signal ?? 'a signal'}${tail}`;
  return `exit ${r.code}${tail}`;
}

export { lastLine };

export interface RunCheckOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** When the check names no timeout. */
  defaultTimeoutMs: number;
  /** Placeholder substitution for each argument ({version}, {port}, {prefix}). */
  substitute: (arg: string) => string;
  maxOutput?: number;
}

export async function runCheckCommand(node: string, cli: string, c: CheckCommand, opts: RunCheckOptions): Promise<CommandCheck> {
  const timeoutMs = c.timeoutMs ?? opts.defaultTimeoutMs;
  const r = await run(node, [cli, ...c.args.map(opts.substitute)], {
    env: opts.env,
    timeoutMs,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.maxOutput ? { maxOutput: opts.maxOutput } : {}),
  });
  const ok = !r.error && !r.timedOut && r.code !== null && (c.okExitCodes ?? [0]).includes(r.code);
  return { name: c.name, ok, ms: r.ms, detail: ok ? `exit ${r.code}` : describeExit(r, timeoutMs) };
}
