// Small helpers for bench/run.mjs: timed child processes, statistics, loopback HTTP polling,
// and bookkeeping of everything the bench starts (temp dirs, process groups) so it can clean up.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Everything the bench created: removed / killed by cleanup(), also on SIGINT/SIGTERM. */
const tempDirs = new Set();
const groups = new Set(); // pids of children started detached (own process group) by the bench
const running = new Set(); // children of timed() still running (stopped first by cleanup())
const cleanups = [];

export function tempDir(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}
export function removeDir(d) {
  fs.rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}
export function onCleanup(fn) {
  cleanups.push(fn);
}

export function killGroup(pid, sig = 'SIGTERM') {
  try {
    process.kill(-pid, sig);
    return true;
  } catch {
    return false;
  }
}

let cleaned = false;
export async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  // A step still running (an install writing into a mount about to go) stops before anything is removed.
  for (const c of running) c.kill('SIGTERM');
  await Promise.all([...running].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('close', r)))));
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (e) {
      console.error(`bench: cleanup step failed: ${e?.message ?? e}`);
    }
  }
  for (const pid of groups) killGroup(pid, 'SIGKILL');
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    console.error(`bench: ${sig}, cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

/**
 * Run a command to completion; resolves {code, stdout, stderr, ms} where ms is wall time from
 * spawn to exit (what a user waits). Rejects on a non-zero exit unless opts.allowFail.
 */
export function timed(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd ?? os.tmpdir(), env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.once('close', () => running.delete(child));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    const marks = {}; // first arrival (ms since spawn) of progress lines, for oc-versions phase timing
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr = (stderr + d).slice(-20_000);
      if (opts.stamps) {
        const now = performance.now() - t0;
        if (marks.installing === undefined && /: installing /.test(stderr)) marks.installing = now;
        if (marks.validating === undefined && /: validating /.test(stderr)) marks.validating = now;
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      if ((code !== 0 || signal) && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')} → ${code ?? signal}\n${stderr}\n${stdout.slice(0, 4000)}`));
      } else {
        const phases = opts.stamps
          ? {
              'start+resolve': marks.installing,
              'fetch+extract+lifecycle': marks.validating - marks.installing,
              'validate+seal+promote': ms - marks.validating,
            }
          : undefined;
        resolve({ code, signal, stdout, stderr, ms, phases });
      }
    });
  });
}

/** Spawn a long-running child in its own process group (tracked; killed by cleanup()). */
export function spawnGroup(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { cwd: opts.cwd ?? os.tmpdir(), env: opts.env ?? process.env, stdio: 'ignore', detached: true });
  groups.add(child.pid);
  const exited = new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
  return {
    pid: child.pid,
    exited,
    async stop(graceMs = 3000) {
      killGroup(child.pid, 'SIGTERM');
      const t = setTimeout(() => killGroup(child.pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
      groups.delete(child.pid);
    },
  };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** GET http://127.0.0.1:port/path without keep-alive; resolves the status or null. */
export function httpStatus(port, p, timeoutMs = 500) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? null));
      res.once('error', () => resolve(null));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(null));
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll until GET port/path answers 200; resolves performance.now() of that answer. */
export async function waitHealthy(port, p, { intervalMs = 5, timeoutMs = 30_000 } = {}) {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const s = await httpStatus(port, p, 1000);
    if (s === 200) return performance.now();
    if (performance.now() > end) throw new Error(`127.0.0.1:${port}${p} not healthy within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/**
 * Poll GET port/path every intervalMs until stop(); returns the longest gap between two
 * consecutive 200 answers (i.e. the outage as a client polling that often sees it).
 */
export function gapWatcher(port, p, intervalMs = 20) {
  let running = true;
  let last = null;
  let maxGap = 0;
  let oks = 0;
  const loop = (async () => {
    while (running) {
      const s = await httpStatus(port, p, 500);
      const now = performance.now();
      if (s === 200) {
        if (last !== null) maxGap = Math.max(maxGap, now - last);
        last = now;
        oks++;
      }
      await sleep(intervalMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { maxGapMs: maxGap, oks };
    },
  };
}

export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { n, median, min: s[0], max: s[n - 1] };
}
