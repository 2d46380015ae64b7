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
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
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

/** A node process running `file`; with a port, it serves 200 on every path there (127.0.0.1). */
function serve(file: string, port: number | null): Promise<ChildProcess> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    port === null
      ? 'setInterval(() => {}, 1000); console.log("up");\n'
      : `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1', () => console.log('up'));\n`,
  );
  const c = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  return new Promise((resolve, reject) => {
    c.once('error', reject);
    c.stdout!.once('data', () => resolve(c));
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
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
    const port = await freePort();
    const entry = path.join(makeLayout(h).version(VERSION), 'dist', 'index.js');
    const gw = await serve(entry, port);
    const r = await gateResponsive(target(h, port, gw.pid!, fs.realpathSync(entry)));
    expect(r).toMatchObject({ ok: true, pid: gw.pid });
    expect(r.detail).toMatch(/→ 200$/);
  });

  it('does not pass for a 200 from another process that holds the port, and says so', async () => {
    const h = home();
    const port = await freePort();
    const entry = path.join(makeLayout(h).version(VERSION), 'dist', 'index.js');
    const gw = await serve(entry, null); // the new gateway runs but never binds
    await serve(path.join(h, 'elsewhere', 'squatter.js'), port); // a foreign process answers 200
    const r = await gateResponsive(target(h, port, gw.pid!, fs.realpathSync(entry)));
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(new RegExp(`pid ${gw.pid} does not own the listener on port ${port} \\(another process holds it\\)`));
  });

  it('reads no socket table while nothing answers, and fails at its deadline', async () => {
    const h = home();
    const port = await freePort();
    const entry = path.join(makeLayout(h).version(VERSION), 'dist', 'index.js');
    const gw = await serve(entry, null);
    const reads = vi.spyOn(fs, 'readFileSync');
    const r = await gateResponsive(target(h, port, gw.pid!, fs.realpathSync(entry)));
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/not responsive within 1500 ms: http:\/\/127\.0\.0\.1:\d+\/healthz did not answer/);
    expect(reads.mock.calls.filter(([f]) => String(f).startsWith('/proc/net/tcp'))).toEqual([]);
    // The listener check itself still reads them when asked (so the spy sees what it would).
    proc.ownsListener(gw.pid!, port);
    expect(reads.mock.calls.some(([f]) => String(f).startsWith('/proc/net/tcp'))).toBe(true);
  });
});
