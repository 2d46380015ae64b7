/**
 * Finding the process backend's own gateways without its pidfile.
 *
 * Every gateway the process backend starts carries OC_VERSIONS_GATEWAY=<label>@<home> in its
 * environment (set before the spawn, inherited across the launcher's exec) and leads its own
 * process group (spawned detached). So a gateway whose pidfile was never written (the updater
 * was SIGKILLed between the spawn and the write) or was lost is still found: a process-group
 * leader of this user whose environment carries this home's marker. Children of the gateway
 * inherit the marker but are not group leaders, so they never count on their own; one the gateway
 * started in a group of its own (its parent is a marked leader) does not count either, nor does a
 * process whose command line does not name the home (the launcher or a version tree).
 */
import fs from 'node:fs';
import { processArgv, processEnviron, run } from '../core/proc.js';

export const GATEWAY_MARKER_KEY = 'OC_VERSIONS_GATEWAY';

export function gatewayMarker(label: string, home: string): string {
  return `${label}@${home}`;
}

/** [state, ppid, pgrp, …, starttime at 19] of /proc/<pid>/stat after the `(comm)` field. */
function statFields(pid: number): string[] | null {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = raw.lastIndexOf(')');
    return close < 0 ? null : raw.slice(close + 2).trim().split(' ');
  } catch {
    return null;
  }
}

export interface MarkedProcess {
  pid: number;
  /** /proc start time (clock ticks since boot); null where unknown. */
  startTime: string | null;
}

/**
 * Live (non-zombie) process-group leaders whose environment has `key=value`, oldest first.
 * Linux reads /proc; elsewhere `ps -E` (best effort: BSD ps appends the environment).
 */
export async function findMarkedLeaders(key: string, value: string, argvMentions?: readonly string[]): Promise<MarkedProcess[]> {
  const named = (text: string) => argvMentions === undefined || argvMentions.some((m) => text.includes(m));
  let names: string[] | null = null;
  try {
    names = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    names = null;
  }
  const out: MarkedProcess[] = [];
  if (names && names.length > 0) {
    const found: Array<MarkedProcess & { ppid: number }> = [];
    for (const n of names) {
      const pid = Number(n);
      if (pid === process.pid) continue;
      const st = statFields(pid);
      if (!st || st[0] === 'Z' || Number(st[2]) !== pid) continue;
      const env = processEnviron(pid); // null for other users' processes: never ours
      if (env?.get(key) !== value) continue;
      if (!(processArgv(pid) ?? []).some(named)) continue;
      found.push({ pid, startTime: st[19] ?? null, ppid: Number(st[1]) });
    }
    const pids = new Set(found.map((f) => f.pid));
    for (const f of found) if (!pids.has(f.ppid)) out.push({ pid: f.pid, startTime: f.startTime });
    return out.sort((a, b) => Number(a.startTime ?? 0) - Number(b.startTime ?? 0));
  }
  const r = await run('ps', ['-A', '-ww', '-E', '-o', 'pid=,pgid=,command='], { timeoutMs: 5_000 });
  if (r.code !== 0) return out;
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!m || m[1] !== m[2] || Number(m[1]) === process.pid) continue;
    if (m[3]!.includes(`${key}=${value}`) && named(m[3]!)) out.push({ pid: Number(m[1]), startTime: null });
  }
  return out;
}
