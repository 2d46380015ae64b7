/**
 * The transition history, newest first, read from what is already written: one
 * `logs/<txid>.jsonl` per transaction (upgrade, use, rollback, their recovery, a
 * watch rollback, a refusal before the flip) and the plain switches state.json
 * records without a transaction. Read-only; never takes the lock.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Layout } from './layout.js';
import { readState } from './state.js';
import { txidTime as txidOf } from './journal.js';

export interface HistoryStage {
  name: string;
  ok: boolean;
  ms: number | null;
  detail: string;
}

export interface HistoryItem {
  txid: string | null;
  /** When it started. */
  at: string;
  /** upgrade, use, rollback, install, … */
  op: string;
  from: string | null;
  to: string | null;
  /**
   * upgraded / switched / switched-back (committed upgrade / use / rollback), rolled-back,
   * degraded, refused (before the flip: staging, validation, canary), recovered-old /
   * recovered-new, in-flight (no outcome yet), removed (uninstall, prune); a plain flip with
   * no service to gate is switched / switched-back too.
   */
  outcome: string;
  /** Why it ran when no person asked (the stabilization watch). */
  cause: string | null;
  stages: HistoryStage[];
  rollback: { reason: string; stages: HistoryStage[] } | null;
  /** First to last logged event. */
  ms: number | null;
  /** State databases it set aside instead of overwriting (`<file>.oc-set-aside-<txid>`). */
  setAside: string[];
}

type LogLine = Record<string, unknown> & { event?: string; at?: string };

function parseLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const l of text.split('\n')) {
    if (!l.trim()) continue;
    try {
      out.push(JSON.parse(l) as LogLine);
    } catch {
      // a torn last line of a killed writer
    }
  }
  return out;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function itemFromLog(txid: string, lines: readonly LogLine[]): HistoryItem {
  const begin = lines.find((l) => l.event === 'begin');
  const times = lines.map((l) => (typeof l.at === 'string' ? Date.parse(l.at) : NaN)).filter((n) => !Number.isNaN(n));
  const t0 = times.length ? Math.min(...times) : NaN;
  // `installed+promoted` counts from the transaction's start (staging included); logs written before
  // it carried its ms have the time of its line for that.
  const since = (l: LogLine): number | null => (l['name'] === 'installed+promoted' && typeof l.at === 'string' && !Number.isNaN(t0) ? Date.parse(l.at) - t0 : null);
  const stage = (l: LogLine): HistoryStage => ({ name: String(l['name']), ok: Boolean(l['ok']), ms: typeof l['ms'] === 'number' ? l['ms'] : since(l), detail: str(l['detail']) ?? '' });
  const stages = lines.filter((l) => l.event === 'stage').map(stage);
  const rb = lines.find((l) => l.event === 'rollback');
  const outcomeLine = [...lines].reverse().find((l) => l.event === 'outcome');
  const recovered = [...lines].reverse().find((l) => l.event === 'recovered');
  const op = str(begin?.['op']) ?? 'unknown';
  let outcome = legacyOutcome(op, str(outcomeLine?.['outcome'])) ?? 'in-flight';
  if (!outcomeLine && recovered) outcome = `recovered-${str(recovered['outcome']) ?? 'old'}`;
  else if (!outcomeLine && (lines.some((l) => l.event === 'stage-failed' || l.event === 'snapshot-failed') || stages.some((s) => s.name === 'canary' && !s.ok))) outcome = 'refused';
  return {
    txid,
    at: times.length ? new Date(Math.min(...times)).toISOString() : txidTime(txid),
    op,
    from: str(begin?.['from']),
    to: str(begin?.['to']),
    outcome,
    cause: str(begin?.['cause']),
    stages,
    rollback: rb ? { reason: str(rb['reason']) ?? '', stages: lines.filter((l) => l.event === 'rollback-stage').map(stage) } : null,
    ms: times.length > 1 ? Math.max(...times) - Math.min(...times) : null,
    setAside: lines.filter((l) => l.event === 'state-set-aside').flatMap((l) => (Array.isArray(l['files']) ? l['files'].map(String) : [])),
  };
}

/** Logs written before schemaVersion 1 said `upgraded` for every committed transition. */
function legacyOutcome(op: string, outcome: string | null): string | null {
  if (outcome !== 'upgraded') return outcome;
  return op === 'use' ? 'switched' : op === 'rollback' ? 'switched-back' : outcome;
}

/** The outcome of a switch state.json records without a transaction. */
function plainOutcome(action: string): string {
  if (action === 'rollback') return 'switched-back';
  if (action === 'uninstall' || action.startsWith('prune')) return 'removed';
  return 'switched';
}

/** A txid's time (for logs without timestamps); the epoch for a name that is not a txid. */
function txidTime(txid: string): string {
  return txidOf(txid) ?? new Date(0).toISOString();
}

export async function readHistory(layout: Layout, limit = 50): Promise<HistoryItem[]> {
  const items: HistoryItem[] = [];
  let names: string[] = [];
  try {
    names = (await fsp.readdir(layout.logsDir)).filter((n) => n.endsWith('.jsonl'));
  } catch {
    names = [];
  }
  for (const n of names) {
    const txid = n.slice(0, -'.jsonl'.length);
    let text: string;
    try {
      text = await fsp.readFile(path.join(layout.logsDir, n), 'utf8');
    } catch {
      continue;
    }
    const lines = parseLines(text);
    if (lines.some((l) => l.event === 'begin' || l.event === 'recover')) items.push(itemFromLog(txid, lines));
  }
  // Switches with no transaction (no service to restart): state.json is their only record.
  const state = await readState(layout);
  for (const h of state.history) {
    if (h.txid) continue;
    items.push({ txid: null, at: h.at, op: h.action, from: h.from, to: h.to, outcome: plainOutcome(h.action), cause: null, stages: [], rollback: null, ms: null, setAside: [] });
  }
  return items.sort((a, b) => b.at.localeCompare(a.at)).slice(0, Math.max(0, limit));
}
