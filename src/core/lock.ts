/**
 * One mutating operation at a time.
 *
 * Mutating commands take `<home>/lock` with proper-lockfile (an mkdir lock whose
 * mtime is refreshed while held). Next to it, `lock-owner.json` names the holder
 * (pid, command, start time). A second mutating command fails at once with
 * LOCKED (exit 4) naming the holder, unless the holder is provably dead: a lock
 * whose owner pid no longer exists on this host is taken over immediately; one
 * whose owner cannot be checked goes stale after STALE_MS without refresh.
 * Read-only commands never take or wait for the lock.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { OcError, fromFsError } from '../errors.js';
import { readJson, writeJsonAtomic } from '../os/fs.js';
import type { Layout } from './layout.js';
import { isAlive, sleep } from '../os/proc.js';

const STALE_MS = 5_000;
const UPDATE_MS = 1_000;

export interface LockOwner {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export interface HeldLock {
  release(): Promise<void>;
  owner: LockOwner;
}

function ownerFile(layout: Layout): string {
  return layout.lockOwner;
}

function lockDir(layout: Layout): string {
  return layout.lockTarget;
}

export async function readLockOwner(layout: Layout): Promise<LockOwner | undefined> {
  try {
    return await readJson<LockOwner>(ownerFile(layout));
  } catch {
    return undefined;
  }
}

async function tryLock(layout: Layout): Promise<() => Promise<void>> {
  return lockfile.lock(layout.home, {
    lockfilePath: lockDir(layout),
    realpath: false,
    stale: STALE_MS,
    update: UPDATE_MS,
    retries: 0,
    onCompromised: () => {
      // Another process took the lock over (it judged us dead). Nothing safe to do
      // but keep going: the journal makes every phase restartable.
    },
  });
}

/** The holder is provably gone: on this host, not us, and its pid no longer exists. */
function isDeadHolder(holder: LockOwner): boolean {
  return holder.host === os.hostname() && holder.pid !== process.pid && !isAlive(holder.pid);
}

export async function acquireLock(layout: Layout, command: string): Promise<HeldLock> {
  await fsp.mkdir(layout.home, { recursive: true, mode: 0o700 }).catch((e) => {
    throw fromFsError(e, 'creating the oc-versions home') ?? e;
  });
  const owner: LockOwner = { pid: process.pid, host: os.hostname(), command, since: new Date().toISOString() };
  let release: (() => Promise<void>) | undefined;
  // A holder that has not yet written lock-owner.json (or died before it could) is
  // waited for until proper-lockfile judges the lock stale (STALE_MS without refresh).
  const giveUpAt = Date.now() + STALE_MS + 2_000;
  while (!release) {
    try {
      release = await tryLock(layout);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw fromFsError(e, 'taking the lock') ?? e;
      const holder = await readLockOwner(layout);
      if (holder && isDeadHolder(holder)) {
        // The holder is dead (e.g. SIGKILLed): take over at once instead of waiting for staleness.
        // Claim the takeover by renaming the owner file: only one contender's rename succeeds.
        if (await claimDeadOwner(layout, holder)) await fsp.rm(lockDir(layout), { recursive: true, force: true });
        else await sleep(50);
        if (Date.now() > giveUpAt) throw lockedError(holder);
        continue;
      }
      if (holder || Date.now() > giveUpAt) throw lockedError(holder);
      await sleep(200);
    }
  }
  await writeJsonAtomic(ownerFile(layout), owner, 0o644);
  return {
    owner,
    release: async () => {
      await fsp.rm(ownerFile(layout), { force: true });
      await release!().catch(() => {});
    },
  };
}

/**
 * Atomically claim a dead holder's lock: rename lock-owner.json away (one winner), check the
 * renamed file still names that dead pid (a live new owner's file is put back untouched).
 */
async function claimDeadOwner(layout: Layout, dead: LockOwner): Promise<boolean> {
  const claimed = `${ownerFile(layout)}.claim-${process.pid}`;
  try {
    await fsp.rename(ownerFile(layout), claimed);
  } catch {
    return false; // someone else claimed it first
  }
  const got = await readJson<LockOwner>(claimed).catch(() => undefined);
  if (got && got.pid === dead.pid && got.since === dead.since) {
    await fsp.rm(claimed, { force: true });
    return true;
  }
  await fsp.rename(claimed, ownerFile(layout)).catch(() => {});
  return false;
}

export function lockedError(holder: LockOwner | undefined): OcError {
  const who = holder ? `pid ${holder.pid} (${holder.command}, since ${holder.since})` : 'another oc-versions process';
  return new OcError('LOCKED', `another operation is in progress: ${who}`, {
    hint: 'wait for it to finish, or run `oc-versions status` to follow it',
    details: holder ? { holder } : {},
  });
}

/**
 * What the lock looks like now, judged by acquireLock's own rules, without taking it:
 *  - `free`: no lock (a lock-owner.json alone is `orphan-owner`);
 *  - `held`: its owner is alive on this host, or on another host (cannot be checked);
 *  - `dead-holder`: its owner pid no longer exists on this host (acquireLock takes it over at once);
 *  - `unnamed`: no owner named; `stale` once not refreshed for STALE_MS (acquireLock then takes it).
 */
export interface LockInspection {
  state: 'free' | 'held' | 'dead-holder' | 'unnamed' | 'orphan-owner';
  owner: LockOwner | undefined;
  /** The holder is on another host: its liveness cannot be checked. */
  otherHost: boolean;
  /** `unnamed`: ms since proper-lockfile last refreshed the lock. */
  ageMs: number | null;
  stale: boolean;
}

export async function inspectLock(layout: Layout): Promise<LockInspection> {
  const owner = await readLockOwner(layout);
  const st = await fsp.stat(lockDir(layout)).catch(() => null);
  const otherHost = Boolean(owner && owner.host !== os.hostname());
  if (!st) return { state: owner ? 'orphan-owner' : 'free', owner, otherHost, ageMs: null, stale: false };
  const ageMs = Math.max(0, Date.now() - st.mtimeMs);
  if (!owner) return { state: 'unnamed', owner, otherHost, ageMs, stale: ageMs > STALE_MS };
  if (isDeadHolder(owner)) return { state: 'dead-holder', owner, otherHost, ageMs, stale: true };
  return { state: 'held', owner, otherHost, ageMs, stale: false };
}

export async function withLock<T>(layout: Layout, command: string, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(layout, command);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
