/**
 * OpenClaw's restart handoff for external supervisors, as the real 2026.9.6 defines it
 * (docs/service.md#the-restart-handoff; in the package: docs/cli/gateway/restart-and-supervision.md
 * "External supervisors", dist/gateway-cli-*.mjs `register-restart-handoff`, dist/restart-handoff-*.mjs).
 *
 * - `gateway restart-handoff capabilities --json` → exit 0,
 *   `{"ok":true,"protocol":"openclaw.gateway.restart-handoff","protocolVersion":1,"operations":["consume"]}`.
 *   Probed on the exact runtime that will run, bounded by a cold-start-sized timeout.
 * - A gateway in external mode asked to restart (`openclaw gateway restart`, SIGUSR2, a config or
 *   plugin change) drains, writes one row (pid = its own pid, supervisorMode, expiry ≤ 60 s) and
 *   exits 0. A SIGTERM stop writes none.
 * - `gateway restart-handoff consume --expected-pid <N> --json` with N = the pid of the gateway
 *   that exited (it wrote the row), run with that gateway's own version and runtime, in external
 *   mode → exit 0 with `status` `accepted` (`handoff`: the row, deleted before success),
 *   `none` (`reason: "missing"`) or `rejected` (`reason` `expired` | `invalid` | `pid-mismatch`,
 *   `handoffPid`); exit 2 `{ok:false,status:"error",reason:"invalid-expected-pid"}`; exit 1
 *   `{…,reason:"store-unavailable"}`.
 * We accept only `accepted` whose `handoff.pid` is N and `handoff.supervisorMode` is `external`.
 */
import { run } from '../os/proc.js';

export const HANDOFF_PROTOCOL = 'openclaw.gateway.restart-handoff';
/** consume's bound (issue 29): one immediate SQLite transaction, on a CLI's cold start. */
export const CONSUME_TIMEOUT_MS = 15_000;
/** A capabilities probe's floor: a full CLI cold start (the real 2026.9.6 took 3–14 s on a loaded 2-core host). */
export const PROBE_MIN_TIMEOUT_MS = 30_000;

export interface HandoffProbe {
  supported: boolean;
  /** Why not, or the protocol found. */
  detail: string;
}

export type ConsumeStatus = 'accepted' | 'none' | 'rejected' | 'error';

/** What one consume came to, as we judge it (`accepted` only under the acceptance rule). */
export interface ConsumeResult {
  status: ConsumeStatus;
  /**
   * OpenClaw's reason (`missing`, `expired`, `invalid`, `pid-mismatch`, `invalid-expected-pid`,
   * `store-unavailable`), or ours: `not-external` (an accepted row another mode wrote), `wrong-pid`
   * (accepted for another pid), `timeout`, `bad-output`.
   */
  reason: string | null;
  /** The pid the row names, when OpenClaw said. */
  handoffPid: number | null;
  /** The CLI's exit code (null: timed out or killed). */
  exitCode: number | null;
  /** The row's `source` and `reason` when accepted (e.g. `signal`, `SIGUSR2`). */
  source: string | null;
  /** One line for logs and stage details. */
  detail: string;
}

function parseJson(text: string): Record<string, unknown> | null {
  // The CLI may log before its JSON: the document is the last `{`-led block.
  for (const cand of [text.trim(), text.slice(text.lastIndexOf('\n{') + 1).trim()]) {
    try {
      const v = JSON.parse(cand) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // next
    }
  }
  return null;
}

/** The probe's timeout: at least a cold start's worth. */
export function probeTimeoutMs(configuredMs: number): number {
  return Math.max(configuredMs, PROBE_MIN_TIMEOUT_MS);
}

/** `cwd`: where it runs (the sealed scratch dir its env points into: src/core/upgrade.ts). */
export async function probeHandoff(node: string, bin: string, env: NodeJS.ProcessEnv, timeoutMs: number, cwd?: string): Promise<HandoffProbe> {
  if (!bin) return { supported: false, detail: 'no CLI entry to ask' };
  const r = await run(node, [bin, 'gateway', 'restart-handoff', 'capabilities', '--json'], { env, timeoutMs, ...(cwd ? { cwd } : {}) });
  if (r.timedOut) return { supported: false, detail: `capabilities timed out after ${timeoutMs} ms` };
  if (r.code !== 0) return { supported: false, detail: 'the target has no restart-handoff command' };
  const doc = parseJson(r.stdout);
  const ops = Array.isArray(doc?.['operations']) ? (doc['operations'] as unknown[]) : [];
  if (doc?.['ok'] === true && doc['protocol'] === HANDOFF_PROTOCOL && doc['protocolVersion'] === 1 && ops.includes('consume')) {
    return { supported: true, detail: `${HANDOFF_PROTOCOL} v1` };
  }
  return { supported: false, detail: `no ${HANDOFF_PROTOCOL} v1 with consume in its capabilities` };
}

/** Judge consume's output for expected pid `pid` (the acceptance rule). */
export function judgeConsume(pid: number, r: { code: number | null; stdout: string; timedOut: boolean }): ConsumeResult {
  const base = { handoffPid: null as number | null, exitCode: r.code, source: null as string | null };
  if (r.timedOut) return { ...base, status: 'error', reason: 'timeout', detail: `consume for pid ${pid} timed out` };
  const doc = parseJson(r.stdout);
  const reason = typeof doc?.['reason'] === 'string' ? (doc['reason'] as string) : null;
  const handoff = doc?.['handoff'] && typeof doc['handoff'] === 'object' ? (doc['handoff'] as Record<string, unknown>) : null;
  const rowPid = typeof handoff?.['pid'] === 'number' ? (handoff['pid'] as number) : typeof doc?.['handoffPid'] === 'number' ? (doc['handoffPid'] as number) : null;
  const status = doc?.['status'];
  if (!doc || doc['protocol'] !== HANDOFF_PROTOCOL || typeof status !== 'string') {
    return { ...base, status: 'error', reason: 'bad-output', detail: `consume for pid ${pid}: no ${HANDOFF_PROTOCOL} document (exit ${r.code})` };
  }
  if (status === 'error' || r.code !== 0) {
    return { ...base, handoffPid: rowPid, status: 'error', reason: reason ?? `exit-${r.code}`, detail: `consume for pid ${pid} failed: ${reason ?? 'error'} (exit ${r.code})` };
  }
  if (status === 'accepted') {
    const mode = handoff?.['supervisorMode'];
    const src = [handoff?.['source'], handoff?.['reason']].filter((s) => typeof s === 'string').join(' ') || null;
    if (rowPid !== pid) return { ...base, handoffPid: rowPid, status: 'rejected', reason: 'wrong-pid', detail: `consume for pid ${pid}: accepted a row of pid ${rowPid}: not ours` };
    if (mode !== 'external') return { ...base, handoffPid: rowPid, status: 'rejected', reason: 'not-external', detail: `consume for pid ${pid}: the row was written for ${String(mode)}, not external` };
    return { ...base, handoffPid: rowPid, source: src, status: 'accepted', reason: null, detail: `handoff of pid ${pid} accepted${src ? ` (${src})` : ''}` };
  }
  if (status === 'none' || status === 'rejected') {
    return { ...base, handoffPid: rowPid, status, reason, detail: `handoff of pid ${pid}: ${status}${reason ? ` (${reason}${rowPid !== null && rowPid !== pid ? `, row of pid ${rowPid}` : ''})` : ''}` };
  }
  return { ...base, status: 'error', reason: 'bad-output', detail: `consume for pid ${pid}: unknown status ${status}` };
}

/**
 * Consume the handoff the exited gateway `pid` wrote: `node bin` must be that gateway's own version
 * and runtime (a newer runtime's writable open may migrate the state schema); always external mode.
 */
export async function consumeHandoff(node: string, args: readonly string[], env: NodeJS.ProcessEnv, pid: number, timeoutMs = CONSUME_TIMEOUT_MS, cwd?: string): Promise<ConsumeResult> {
  const r = await run(node, [...args, 'gateway', 'restart-handoff', 'consume', '--expected-pid', String(pid), '--json'], {
    env: { ...env, OPENCLAW_SUPERVISOR_MODE: 'external' },
    timeoutMs,
    ...(cwd ? { cwd } : {}),
  });
  return judgeConsume(pid, r);
}
