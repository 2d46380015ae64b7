/**
 * state.json: { current, previous, history[] }. The `current` symlink is the
 * truth for what runs; state.json mirrors it and remembers `previous` and history.
 */
import { readJson, writeJsonAtomic } from '../os/fs.js';
import type { Layout } from './layout.js';

export interface HistoryEntry {
  at: string;
  action: string;
  from: string | null;
  to: string | null;
  txid?: string;
}

export interface State {
  current: string | null;
  previous: string | null;
  history: HistoryEntry[];
  /**
   * Measured start of each version's gateway (restart → first healthy answer, ms), the
   * latest gated start: the canary's allowance for the next upgrade derives from it.
   */
  startMs?: Record<string, number>;
}

const HISTORY_MAX = 200;

export async function readState(layout: Layout): Promise<State> {
  const s = await readJson<Partial<State>>(layout.state);
  return { current: s?.current ?? null, previous: s?.previous ?? null, history: s?.history ?? [], ...(s?.startMs ? { startMs: s.startMs } : {}) };
}

export async function writeState(layout: Layout, state: State): Promise<void> {
  const history = state.history.slice(-HISTORY_MAX);
  await writeJsonAtomic(layout.state, { ...state, history }, 0o644);
}

export function recordHistory(state: State, entry: Omit<HistoryEntry, 'at'>, now = new Date()): State {
  return { ...state, history: [...state.history, { at: now.toISOString(), ...entry }] };
}
