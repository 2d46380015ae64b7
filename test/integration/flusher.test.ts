/**
 * The install's flusher (src/os/proc.ts, startFlusher): one `sh` that runs `sync -f <dir>` on each
 * request, so a large process forks once instead of once per flush. Real processes, a real syncfs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFlusher } from '../../src/os/proc.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-test-flusher-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Alive and not a zombie. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

describe('startFlusher', () => {
  it('flushes on each request with one sh, answers requests in order, and the sh exits on close', async () => {
    fs.writeFileSync(path.join(dir, 'a'), 'x'.repeat(1 << 20));
    const f = startFlusher(dir);
    expect(f.pid).toBeGreaterThan(0);
    const children = () => fs.readFileSync(`/proc/${f.pid}/task/${f.pid}/children`, 'utf8').trim();
    expect(await f.flush()).toBe(true);
    // Two at once: both answered, by the same sh.
    expect(await Promise.all([f.flush(), f.flush()])).toEqual([true, true]);
    expect(running(f.pid!)).toBe(true);
    expect(children()).toBe(''); // no sync left behind
    f.close();
    expect(await until(() => !running(f.pid!))).toBe(true);
  });

  it('a flusher whose sh is gone flushes the ordinary way', async () => {
    const f = startFlusher(dir);
    process.kill(f.pid!, 'SIGKILL');
    expect(await until(() => !running(f.pid!))).toBe(true);
    expect(await f.flush()).toBe(true);
    f.close();
  });

  it('a directory that is gone fails the sync -f, then the plain sync flushes everything', async () => {
    const gone = path.join(dir, 'not-there');
    const f = startFlusher(gone);
    expect(await f.flush()).toBe(true);
    f.close();
  });
});
