/**
 * The journal: the one in-flight transaction and its phase. Each phase is
 * recorded *before* it runs (atomic write + directory fsync), so after a crash
 * at any instant the journal names the last phase that may have had effects,
 * and recovery (src/core/recover.ts) knows what to undo or finish.
 *
 * Phases of an upgrade, in order:
 *   begin → snapshot → stage → flip → definition → restart → gate-responsive
 *   → gate-version → gate-deep → commit
 * and of its automatic rollback:
 *   rollback-flip → rollback-definition → rollback-restart → rollback-gate
 * `use`/`rollback` with a service skip stage (the version is already sealed).
 *
 * Fault points for tests: OC_VERSIONS_FAULT=<phase>:<kill|throw> makes the
 * updater SIGKILL itself or throw right after recording <phase>; <phase>/<step>
 * fires at a step inside a phase (src/core/faults.ts). Unset, it does nothing.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import { readJson, writeJsonAtomic } from '../os/fs.js';
import type { Layout } from './layout.js';
import { armFault, fireFault, parseFault, setFaultPhase, STEP_FAULT_POINTS, type FaultSpec } from './faults.js';
import { isAlive, processStartTime } from '../os/proc.js';

export { parseFault, type FaultSpec };

export const PHASES = [
  'begin',
  'snapshot',
  'stage',
  'canary',
  'flip',
  'definition',
  'restart',
  'gate-responsive',
  'gate-version',
  'gate-deep',
  'settle',
  'commit',
  'rollback-flip',
  'rollback-definition',
  'rollback-restart',
  'rollback-gate',
] as const;
export type Phase = (typeof PHASES)[number];

/** Every point OC_VERSIONS_FAULT can name: each phase, and the steps inside phases. */
export const FAULT_POINTS: readonly string[] = [...PHASES, ...STEP_FAULT_POINTS];

export interface Journal {
  txid: string;
  op: 'upgrade' | 'use' | 'rollback';
  pid: number;
  host: string;
  startedAt: string;
  from: string | null;
  to: string;
  phase: Phase;
  phases: Array<{ phase: Phase; at: string }>;
  /** Service identity at the start, so recovery can act without guessing. */
  manager: string | null;
  label: string | null;
  prePid: number | null;
  snapshot: string | null;
  /** Why a rollback started (first failed stage). */
  reason?: string;
  /** State DBs were restored from an older snapshot during this transaction. */
  stateRestored?: boolean;
  /** Start time of the owner process (pid reuse after a reboot must not look alive). */
  pidStart?: string | null;
}

export function newTxid(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${crypto.randomBytes(3).toString('hex')}`;
}

/** `20261201T044250Z-abc123` → its ISO time, or null for a name that is not a txid. */
export function txidTime(txid: string): string | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(txid);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z` : null;
}

export async function readJournal(layout: Layout): Promise<Journal | undefined> {
  return readJson<Journal>(layout.journal);
}

/** An unfinished journal whose owner is gone (crash, SIGKILL, reboot). */
export function isOrphaned(j: Journal): boolean {
  if (j.host !== os.hostname() || j.pid === process.pid || !isAlive(j.pid)) return true;
  // Alive, but is it still the same process? (a pid reused after a crash or reboot)
  const now = processStartTime(j.pid);
  return j.pidStart != null && now !== null && now !== j.pidStart;
}

export class JournalWriter {
  constructor(
    private readonly layout: Layout,
    public journal: Journal,
    private readonly fault: FaultSpec | null,
    private readonly onLog: (entry: Record<string, unknown>) => Promise<void>,
  ) {}

  static async begin(
    layout: Layout,
    init: Omit<Journal, 'pid' | 'host' | 'startedAt' | 'phase' | 'phases'>,
    fault: FaultSpec | null,
    onLog: (entry: Record<string, unknown>) => Promise<void>,
  ): Promise<JournalWriter> {
    const now = new Date().toISOString();
    const journal: Journal = { ...init, pid: process.pid, pidStart: processStartTime(process.pid), host: os.hostname(), startedAt: now, phase: 'begin', phases: [] };
    armFault(fault);
    const w = new JournalWriter(layout, journal, fault, onLog);
    await w.enter('begin');
    return w;
  }

  /** Record the phase durably, then (tests only) fire the fault for it. */
  async enter(phase: Phase, extra: Partial<Journal> = {}): Promise<void> {
    const at = new Date().toISOString();
    this.journal = { ...this.journal, ...extra, phase, phases: [...this.journal.phases, { phase, at }] };
    await writeJsonAtomic(this.layout.journal, this.journal, 0o644);
    await this.onLog({ event: 'phase', phase, at });
    setFaultPhase(phase);
    fireFault(phase, this.fault);
  }

  async update(extra: Partial<Journal>): Promise<void> {
    this.journal = { ...this.journal, ...extra };
    await writeJsonAtomic(this.layout.journal, this.journal, 0o644);
  }
}

export async function clearJournal(layout: Layout): Promise<void> {
  await fsp.rm(layout.journal, { force: true });
}

/** Append one JSON line to logs/<txid>.jsonl (never holds secret values: callers log names and versions only). */
export async function appendLog(layout: Layout, txid: string, entry: Record<string, unknown>): Promise<void> {
  await fsp.mkdir(layout.logsDir, { recursive: true });
  const line = JSON.stringify({ at: new Date().toISOString(), txid, ...entry }) + '\n';
  const fh = await fsp.open(layout.log(txid), 'a', 0o644);
  try {
    await fh.writeFile(line);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
