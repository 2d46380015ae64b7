/**
 * The gate's first stage (gateResponsive, src/core/health.ts) against real processes and a real
 * listener on loopback: a 200 counts only when the new pid (or a child) owns the listener that
 * answered, and until something answers the stage does not read the kernel's socket tables.
 *
 * Real: the "new gateway" is a node child whose entry file lives in the version's directory, the
 * foreign listener is another node child, the probes are real HTTP, ownership is read from /proc.
 * Stand-in: the service manager's status() (which pid runs, from which entry). The backends'
 * own status() is covered by the e2e and integration upgrade tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../helpers/fake-home.js';
import { defaultConfig } from '../../src/core/config.js';
import { gateResponsive, type GateTarget } from '../../src/core/health.js';
import { makeLayout } from '../../src/core/layout.js';
import * as proc from '../../src/os/proc.js';

const linux = process.platform === 'linux';
const VERSION = '2026.2.1';
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  vi.restoreAllMocks();
});

/**
 * A node process running `file`. With a status, it serves that status on every path on a port of
 * its own choosing on 127.0.0.1 (no window for another process to take it) and reports it.
 */
function serve(file: string, status: number | null): Promise<{ child: ChildProcess; port: number | null }> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    status === null
      ? 'setInterval(() => {}, 1000); console.log("up");\n'
      : `const s = require('node:http').createServer((q, r) => { r.statusCode = ${status}; r.end('x'); }).listen(0, '127.0.0.1', () => console.log(s.address().port));\n`,
  );
  const c = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  return new Promise((resolve, reject) => {
    c.once('error', reject);
    c.once('exit', (code) => reject(new Error(`${file} exited (${code}) before it was up`)));
    c.stdout!.once('data', (d) => resolve({ child: c, port: status === null ? null : Number(String(d).trim()) }));
  });
}

function target(home: string, port: number, pid: number, entry: string): GateTarget {
  const layout = makeLayout(home);
  const health = { ...defaultConfig(process.execPath, 'openclaw').health, responsiveDeadlineMs: 1_500, probeIntervalMs: 50 };
  return {
    layout,
    version: VERSION,
    prePid: null,
    port,
    health,
    runtimeNode: process.execPath,
    bin: entry,
    env: {},
    stateDir: null,
    service: { status: async () => ({ running: true, pid, entry }) },
  };
}

describe.skipIf(!linux)('gateResponsive (Linux /proc)', () => {
  const home = (): string => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ocv-gate-'));
    dirs.push(d);
    return d;
  };

  it('passes when the new pid answers on a listener it owns', async () => {
    const h = home();
    const entry = path.join(makeLayout(h).version(VERSION), 'dist', 'index.js');
    const { child: gw, port } = await serve(entry, 200);
    const r = await gateResponsive(target(h, port!, gw.pid!, fs.realpathSync(entry)));
    expect(r).toMatchObject({ ok: true, pid: gw.pid });
    expect(r.detail).toMatch(/→ 200$/);
  });

  it('does not pass for a 200 from another process that holds the port, and says so', async () => {
    const h = home();
    const entry = path.join(makeLayout(h).version(VERSION), 'dist', 'index.js');
    const { child: gw } = await serve(entry, null); // the new gateway runs but never binds
    const { port } = await serve(path.join(h, 'elsewhere', 'squatter.js'), 200); // a foreign process answers 200
    const r = await gateResponsive(target(h, port!, gw.pid!, fs.realpathSync(entry)));
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(new RegExp(`pid ${gw.pid} does not own the listener on port ${port} \\(another process holds it\\)`));
  });

  it('names the other process holding the port when that one answers no 200', async () => {
    const h = home();
    const entry = path.join(makeLayout(h).version(VERSION), 'dist', 'index.js');
    const { child: gw } = await serve(entry, null);
    const { port } = await serve(path.join(h, 'elsewhere', 'squatter.js'), 503);
    const r = await gateResponsive(target(h, port!, gw.pid!, fs.realpathSync(entry)));
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(new RegExp(`pid ${gw.pid} does not own the listener on port ${port} \\(another process holds it; http://127\\.0\\.0\\.1:${port}/healthz answered 503\\)`));
  });

  it('reads the socket tables only once, at its deadline, while nothing answers', async () => {
    const h = home();
    const port = await freePort();
    const entry = path.join(makeLayout(h).version(VERSION), 'dist', 'index.js');
    const { child: gw } = await serve(entry, null);
    const reads = vi.spyOn(fs, 'readFileSync');
    const r = await gateResponsive(target(h, port, gw.pid!, fs.realpathSync(entry)));
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/not responsive within 1500 ms: http:\/\/127\.0\.0\.1:\d+\/healthz did not answer/);
    // Once, at the deadline (to name another holder of the port): not at each of its ≈ 30 rounds.
    const tables = (): string[] => reads.mock.calls.map(([f]) => String(f)).filter((f) => f.startsWith('/proc/net/tcp'));
    expect(tables()).toEqual(['/proc/net/tcp', '/proc/net/tcp6']);
    // The listener check itself reads them each time it is asked (so the spy sees what it would).
    proc.ownsListener(gw.pid!, port);
    expect(tables()).toHaveLength(4);
  });
});
