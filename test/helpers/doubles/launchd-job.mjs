// The launchd model, part 2: the per-job half of launchd. THE ONE DOCUMENTED MOCK of the test
// suite (launchd cannot exist on Linux); see launchctl.mjs for the table of behaviours and their
// sources. `launchctl bootstrap` starts one of these per loaded job, detached; it is the job's
// parent (as launchd is), so it sees every exit with its status, and it stays until the job is
// booted out. The record under $OC_DOUBLE_STATE (launchd-<label>.json) is what `launchctl print`
// reads; only this process writes it after the bootstrap. launchctl talks to it with signals:
//   SIGHUP  = bootout         (SIGTERM the job, SIGKILL after ExitTimeOut, then unload)
//   SIGUSR1 = kickstart       (start now if not running; a throttled respawn is brought forward)
//   SIGUSR2 = kickstart -k    (SIGKILL the running instance, then start it again at once)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { alive, procStartTime, readState, removeState, signalGroup, writeState } from './lib.mjs';

const [label] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let rec = readState('launchd', label);
if (!rec) process.exit(0);
const doc = rec.plist;
/** launchd.plist(5): ThrottleInterval, default 10 s; ExitTimeOut, default 20 s. Fractions allowed in the model only. */
const throttleMs = 1000 * (typeof doc.ThrottleInterval === 'number' ? doc.ThrottleInterval : 10);
const exitTimeoutMs = 1000 * (typeof doc.ExitTimeOut === 'number' ? doc.ExitTimeOut : 20);
const keepAlive = doc.KeepAlive;
// launchd.plist(5): KeepAlive <true/> or a dictionary; SuccessfulExit "implies RunAtLoad".
const startsAtLoad = doc.RunAtLoad === true || keepAlive === true || (keepAlive && typeof keepAlive === 'object' && ('SuccessfulExit' in keepAlive || 'Crashed' in keepAlive));

let child = null; // the running job
let booting = false; // bootout under way
let killAndRestart = false; // kickstart -k under way
let respawnTimer = null;
let lastSpawnAt = 0;

function save(patch) {
  const cur = readState('launchd', label);
  // The record was removed (a test's cleanup) or belongs to another instance: this job is gone.
  if (!cur || cur.supervisor?.pid !== process.pid) exitQuietly();
  rec = { ...cur, ...patch };
  writeState('launchd', label, rec);
}

function exitQuietly() {
  if (child && alive(jobRec())) killGroup('SIGKILL');
  process.exit(0);
}

function jobRec() {
  return child ? { pid: child.pid, startTime: rec.startTime } : null;
}

function killGroup(sig) {
  if (child) signalGroup(child.pid, sig);
}

function signalJob(sig) {
  // launchd signals the job's process (not its group); the rest of the group is killed after it exits.
  if (!child) return;
  try {
    process.kill(child.pid, sig);
  } catch {}
}

function openLog(p) {
  // launchd does NOT create StandardOutPath/StandardErrorPath's directory: the open fails and
  // the job does not start (field reports; OpenClaw mkdirs ~/Library/Logs/openclaw itself).
  if (!p) return 'ignore';
  return fs.openSync(p, 'a');
}

function spawnJob() {
  clearTimeout(respawnTimer);
  respawnTimer = null;
  if (child || booting) return;
  const argv = Array.isArray(doc.ProgramArguments) ? [...doc.ProgramArguments] : [doc.Program];
  if (doc.Program) argv[0] = doc.Program;
  // launchd's job environment: a minimal default PATH and the session's basics, then the plist's
  // EnvironmentVariables on top. Nothing of the caller's environment leaks in.
  const env = {
    PATH: '/usr/bin:/bin:/usr/sbin:/sbin',
    HOME: process.env.HOME,
    USER: process.env.USER || os.userInfo().username,
    LOGNAME: process.env.USER || os.userInfo().username,
    SHELL: '/bin/sh',
    TMPDIR: os.tmpdir(),
    XPC_SERVICE_NAME: doc.Label,
    XPC_FLAGS: '0x0',
    ...(doc.EnvironmentVariables || {}),
  };
  lastSpawnAt = Date.now();
  let out, err;
  try {
    out = openLog(doc.StandardOutPath);
    err = doc.StandardErrorPath === doc.StandardOutPath ? out : openLog(doc.StandardErrorPath);
    if (doc.WorkingDirectory && !fs.statSync(doc.WorkingDirectory).isDirectory()) throw new Error('not a directory');
  } catch {
    // The spawn fails before exec: launchd records EX_CONFIG (78) and, with KeepAlive, tries again
    // after ThrottleInterval.
    return exited(78, null, true);
  }
  if (typeof doc.Umask === 'number') process.umask(doc.Umask);
  const c = spawn(argv[0], argv.slice(1), { env, cwd: doc.WorkingDirectory || '/', detached: true, stdio: ['ignore', out, err] });
  for (const fd of new Set([out, err])) if (typeof fd === 'number') fs.closeSync(fd);
  c.on('error', () => {});
  if (!c.pid) return exited(78, null, true);
  child = c;
  const startTime = procStartTime(c.pid);
  save({ pid: c.pid, startTime, state: 'running', runs: (rec.runs || 0) + 1, startedAt: new Date().toISOString() });
  c.on('exit', (code, signal) => {
    // launchd kills what is left of the job's process group once the job itself has exited
    // (launchd.plist(5) AbandonProcessGroup, default false).
    if (doc.AbandonProcessGroup !== true) killGroup('SIGKILL');
    child = null;
    exited(code, signal, false);
  });
}

function exited(code, signal, spawnFailed) {
  const last = signal ? { signal } : { code };
  if (booting) return unload(last);
  save({ pid: null, startTime: null, state: 'not running', last, spawnFailed });
  if (killAndRestart) {
    killAndRestart = false;
    return spawnJob();
  }
  if (!shouldRespawn(code, signal)) return;
  // launchd.plist(5) ThrottleInterval: "the job will not be spawned more than once every N seconds".
  const wait = Math.max(0, lastSpawnAt + throttleMs - Date.now());
  save({ state: 'spawn scheduled' });
  respawnTimer = setTimeout(spawnJob, wait);
}

function shouldRespawn(code, signal) {
  if (keepAlive === true) return true;
  if (!keepAlive || typeof keepAlive !== 'object') return false;
  const success = !signal && code === 0;
  if ('SuccessfulExit' in keepAlive && keepAlive.SuccessfulExit === success) return true;
  if (keepAlive.Crashed === true && signal) return true;
  return false;
}

function unload(last) {
  // Unloaded: `print` now answers 113 "Could not find service".
  const cur = readState('launchd', label);
  if (cur && cur.supervisor?.pid === process.pid) removeState('launchd', label);
  void last;
  process.exit(0);
}

async function bootout() {
  if (booting) return;
  booting = true;
  clearTimeout(respawnTimer);
  clearInterval(ticker);
  if (!child) return unload(null);
  // Asynchronous: launchctl has returned already. The job shows as SIGTERMed until it exits;
  // after ExitTimeOut launchd sends SIGKILL (launchd.plist(5) ExitTimeOut; field reports).
  save({ state: 'SIGTERMed', bootingOut: true });
  signalJob('SIGTERM');
  await sleep(exitTimeoutMs);
  if (child) {
    save({ state: 'SIGKILLed' });
    signalJob('SIGKILL');
  }
}

process.on('SIGHUP', () => void bootout());
process.on('SIGUSR1', () => {
  if (!booting && !child) spawnJob();
});
process.on('SIGUSR2', () => {
  if (booting) return;
  // kickstart -k: field reports show the old instance ending with signal 9 (SIGKILL), no drain.
  if (child) {
    killAndRestart = true;
    signalJob('SIGKILL');
  } else spawnJob();
});
process.on('SIGTERM', () => exitQuietly());

// launchd.plist(5) StartInterval: start the job every N seconds (if it is not already running).
const ticker =
  typeof doc.StartInterval === 'number' && doc.StartInterval > 0
    ? setInterval(() => {
        if (!booting && !child) spawnJob();
      }, doc.StartInterval * 1000)
    : null;

// Stop when the test that owns the state has cleaned up (the record or its directory is gone:
// readState then exits this process).
setInterval(() => {
  const cur = readState('launchd', label);
  if (!cur || cur.supervisor?.pid !== process.pid) exitQuietly();
}, 500);

// Claim the record `launchctl bootstrap` wrote; it waits for `ready` before it returns.
{
  const cur = readState('launchd', label);
  if (!cur || cur.supervisor) process.exit(0);
  rec = { ...cur, supervisor: { pid: process.pid, startTime: procStartTime(process.pid), ready: true }, state: 'not running' };
  writeState('launchd', label, rec);
}
if (startsAtLoad) spawnJob();
