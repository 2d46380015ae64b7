/**
 * OpenClaw's restart handoff for external supervisors (2026.9.6, OPENCLAW_FACTS §7):
 * `gateway restart-handoff capabilities --json` on the exact runtime tells whether the
 * target speaks protocol 1; then, once the new gateway is up, `restart-handoff consume
 * --expected-pid <pid> --json` lets it take over the old one's sessions. A target that
 * does not know the command gets the plain stop/start, and the stage detail says so.
 */
import { run } from '../os/proc.js';

export interface HandoffProbe {
  supported: boolean;
  /** Why not, or the protocol found. */
  detail: string;
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** `cwd`: where it runs (the sealed scratch dir its env points into: src/core/upgrade.ts). */
export async function probeHandoff(node: string, bin: string, env: NodeJS.ProcessEnv, timeoutMs: number, cwd?: string): Promise<HandoffProbe> {
  if (!bin) return { supported: false, detail: 'no CLI entry to ask' };
  const r = await run(node, [bin, 'gateway', 'restart-handoff', 'capabilities', '--json'], { env, timeoutMs, ...(cwd ? { cwd } : {}) });
  if (r.timedOut) return { supported: false, detail: `capabilities timed out after ${timeoutMs} ms` };
  const doc = r.code === 0 ? parseJson(r.stdout) : null;
  const protocol = doc?.['protocol'];
  if (typeof protocol === 'number' && protocol >= 1) return { supported: true, detail: `protocol ${protocol}` };
  return { supported: false, detail: r.code === 0 ? 'no protocol 1 in its capabilities' : 'the target has no restart-handoff command' };
}

export async function consumeHandoff(node: string, bin: string, env: NodeJS.ProcessEnv, pid: number, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  const r = await run(node, [bin, 'gateway', 'restart-handoff', 'consume', '--expected-pid', String(pid), '--json'], { env, timeoutMs });
  const doc = parseJson(r.stdout);
  if (r.code === 0 && doc && doc['ok'] !== false) return { ok: true, detail: `consumed by pid ${pid}${typeof doc['result'] === 'string' ? ` (${doc['result']})` : ''}` };
  return { ok: false, detail: `consume for pid ${pid} failed: ${r.timedOut ? 'timed out' : doc?.['error'] ?? doc?.['result'] ?? `exit ${r.code}`}` };
}
