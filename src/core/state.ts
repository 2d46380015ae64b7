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
  /** The stabilization watch of the last committed upgrade, while its window is open. */
  watch?: Watch;
}

/**
 * What the stabilization watch knows between its ticks (each tick is a `recover --auto`
 * run by the service manager: the launchd recovery agent or the systemd user timer).
 */
export interface Watch {
  txid: string;
  /** The version being watched, and the one a watch rollback returns to. */
  version: string;
  from: string | null;
  since: string;
  until: string;
  /** How long the gateway may be down, or restarting, before that is a failure (the settle budget). */
  budgetMs: number;
  /** The pid the gate accepted, then the last pid a tick saw. */
  lastPid: number | null;
  /** The manager's own restart count at the commit (launchd runs, systemd NRestarts), when it has one. */
  baselineRestarts: number | null;
  /** The supervisor's accepted restart handoffs at the last tick (a new pid after one more is no restart). */
  lastHandoffs?: number | null;
  /** Restarts seen since the commit (a new pid, or the manager's count). */
  restarts: number;
  downSince: string | null;
  readyFailingSince: string | null;
  lastProbe: { at: string; ok: boolean; detail: string } | null;
}

const HISTORY_MAX = 200;

export async function readState(layout: Layout): Promise<State> {
  const s = await readJson<Partial<State>>(layout.state);
  return {
    current: s?.current ?? null,
    previous: s?.previous ?? null,
    history: s?.history ?? [],
    ...(s?.startMs ? { startMs: s.startMs } : {}),
    ...(s?.watch ? { watch: s.watch } : {}),
  };
}

export async function writeState(layout: Layout, state: State): Promise<void> {
  const history = state.history.slice(-HISTORY_MAX);
  await writeJsonAtomic(layout.state, { ...state, history }, 0o644);
}

export function recordHistory(state: State, entry: Omit<HistoryEntry, 'at'>, now = new Date()): State {
  return { ...state, history: [...state.history, { at: now.toISOString(), ...entry }] };
}
