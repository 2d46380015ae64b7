// Shared by the launchctl / systemctl doubles: state under $OC_DOUBLE_STATE, and
// real processes started detached in their own process group. A double only ever
// signals process groups it recorded itself (pid + start time).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export function stateDir() {
  // Jobs the double starts (e.g. the recovery agent calling launchctl) may not carry
  // OC_DOUBLE_STATE; like launchd's per-user domain, fall back to one under $HOME.
  const dir = process.env.OC_DOUBLE_STATE || (process.env.HOME ? `${process.env.HOME}/.double-state` : undefined);
  if (!dir) {
    process.stderr.write('double: OC_DOUBLE_STATE is not set\n');
    process.exit(70);
  }
  // Its parent (a test's temp root, or $HOME) is gone: the test that owned it has cleaned up, and
  // a late call (a job's watcher, a leftover command) must not bring the removed temp dir back.
  if (!fs.existsSync(path.dirname(dir))) {
    process.stderr.write(`double: ${path.dirname(dir)} is gone\n`);
    process.exit(70);
  }
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export function statePath(kind, name) {
  return path.join(stateDir(), `${kind}-${name.replace(/[^A-Za-z0-9._@-]/g, '_')}.json`);
}

export function readState(kind, name) {
  try {
    return JSON.parse(fs.readFileSync(statePath(kind, name), 'utf8'));
  } catch {
    return null;
  }
}

export function writeState(kind, name, state) {
  const p = statePath(kind, name);
  fs.writeFileSync(`${p}.tmp`, JSON.stringify(state, null, 2));
  fs.renameSync(`${p}.tmp`, p);
}

export function removeState(kind, name) {
  fs.rmSync(statePath(kind, name), { force: true });
}

function procStat(pid) {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The start time (/proc stat field 22) of a process, or null. */
export function procStartTime(pid) {
  const st = procStat(pid);
  return st ? st[19] : null;
}

/** Alive, not a zombie, and the same process we started (start time matches). */
export function alive(rec) {
  if (!rec || !rec.pid) return false;
  const st = procStat(rec.pid);
  if (!st) return false;
  if (st[0] === 'Z' || st[0] === 'X') return false;
  return rec.startTime == null || st[19] === rec.startTime;
}

export function spawnJob(argv, env, { cwd, stdout, stderr } = {}) {
  const open = (p) => {
    if (!p) return 'ignore';
    fs.mkdirSync(path.dirname(p), { recursive: true });
    return fs.openSync(p, 'a');
  };
  const out = open(stdout);
  const err = stderr === stdout ? out : open(stderr);
  const child = spawn(argv[0], argv.slice(1), { env, cwd: cwd || '/', detached: true, stdio: ['ignore', out, err] });
  child.on('error', () => {});
  child.unref();
  const pid = child.pid;
  const st = pid ? procStat(pid) : null;
  return { pid: pid ?? null, startTime: st ? st[19] : null, startedAt: new Date().toISOString() };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Signal a process group we started (its leader alone if the group is gone). */
export function signalGroup(pid, s) {
  try {
    process.kill(-pid, s);
  } catch {
    try {
      process.kill(pid, s);
    } catch {}
  }
}

/** SIGTERM the recorded group, wait up to timeoutMs, then SIGKILL. */
export async function stopJob(rec, timeoutMs) {
  if (!alive(rec)) return 'not-running';
  const sig = (s) => signalGroup(rec.pid, s);
  sig('SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive(rec)) await sleep(50);
  if (!alive(rec)) return 'terminated';
  sig('SIGKILL');
  for (let i = 0; i < 100 && alive(rec); i++) await sleep(50);
  return 'killed';
}
