/**
 * What a command that SIGINT/SIGTERM ends leaves behind, found synchronously in the signal handler
 * (src/cli.ts) so the one line it prints is true. Nothing here waits: the command exits right after,
 * as after a SIGKILL, and every leftover is one the next command already cleans (docs/cli.md#interrupts):
 *  - staging dirs of this pid: swept by sweepLeftovers (the writer is dead);
 *  - an open transaction (journal.json of this pid): finished or undone by recoverBefore / recover;
 *  - a canary this process runs: its process group is sent SIGTERM here (a gateway copy must not
 *    keep a port after its runner is gone); its copy and record are swept by sweepCanary;
 *  - the lock: proper-lockfile removes its directory on exit; its owner file is removed here, so
 *    the next command finds the lock free.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Layout } from '../core/layout.js';

export interface LeftBehind {
  left: string[];
  transaction: boolean;
}

function readJsonSync(file: string): Record<string, unknown> | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export function leftBehind(layout: Layout, pid = process.pid): LeftBehind {
  const left: string[] = [];
  let transaction = false;
  const j = readJsonSync(layout.journal);
  if (j && j['pid'] === pid) {
    transaction = true;
    left.push(`an unfinished ${String(j['op'])} ${String(j['from'] ?? '(none)')} → ${String(j['to'])} (journal at phase ${String(j['phase'])})`);
  }
  let staging: string[] = [];
  try {
    staging = fs.readdirSync(layout.stagingDir).filter((n) => n.includes(`.${pid}.`));
  } catch {
    // no staging dir yet
  }
  for (const n of staging) left.push(`a staging dir (${path.join(path.basename(layout.stagingDir), n)})`);
  let records: string[] = [];
  try {
    records = fs.readdirSync(layout.canaryDir).filter((n) => n.endsWith('.json'));
  } catch {
    // no canary
  }
  for (const n of records) {
    const rec = readJsonSync(path.join(layout.canaryDir, n));
    if (!rec || rec['runnerPid'] !== pid) continue;
    const pgid = typeof rec['pgid'] === 'number' ? rec['pgid'] : null;
    if (pgid !== null) {
      try {
        process.kill(-pgid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    left.push(`a canary's copy of the state (${path.basename(layout.canaryDir)}/${n.slice(0, -'.json'.length)})`);
  }
  const owner = readJsonSync(layout.lockOwner);
  if (owner && owner['pid'] === pid) fs.rmSync(layout.lockOwner, { force: true });
  return { left, transaction };
}
