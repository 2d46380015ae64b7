/**
 * The upgrade's downtime watcher (src/core/health.ts watchDowntime) against a real HTTP server on
 * 127.0.0.1 that plays an old gateway, a slow answer before the stop (a loaded host), the outage,
 * and the new gateway. The outage reported must be the real one, not the earlier blip.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { watchDowntime } from '../../src/core/health.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let server: http.Server | null = null;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = null;
});

type Mode = 'ok' | 'slow' | 'down';

/**
 * A played gateway: 'ok' answers 200 at once, 'slow' a 200 after `slowMs` (a loaded host), 'down'
 * 503 at once; it records when each probe arrives. With a watcher on it that has seen its first
 * answer (100 ms ago).
 */
async function playedGateway(slowMs = 0): Promise<{ setMode(m: Mode): void; arrivals: number[]; w: ReturnType<typeof watchDowntime> }> {
  let mode: Mode = 'ok';
  const arrivals: number[] = [];
  server = http.createServer((_req, res) => {
    arrivals.push(Date.now());
    const answer = (code: number) => {
      res.writeHead(code);
      res.end();
    };
    if (mode === 'slow') setTimeout(() => answer(200), slowMs);
    else answer(mode === 'ok' ? 200 : 503);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const w = watchDowntime(`http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`, 20_000);
  await w.ready;
  await sleep(100);
  return { setMode: (m) => (mode = m), arrivals, w };
}

it('reports the longest gap between two 200s (the outage), not a slow answer before it', async () => {
  // 'slow' answers after 800 ms: a loaded host, 800 ms between two 200s.
  const { setMode, w } = await playedGateway(800);
  setMode('slow'); // a blip: answers take 800 ms, then come at once again
  await sleep(650);
  setMode('ok'); // (a probe sent while slow still takes its 800 ms: 200s resume within ~0.8 s)
  await sleep(1_200);
  const outageStart = Date.now();
  setMode('down'); // the old gateway stops answering
  await sleep(1_500);
  w.restarted(); // the restart returned
  setMode('ok'); // the new gateway answers
  const outageEnd = Date.now();
  await sleep(200);
  const seen = await w.stop();
  expect(seen.lastOld).not.toBeNull();
  expect(seen.firstNew).not.toBeNull();
  const gap = seen.firstNew! - seen.lastOld!;
  // The outage lasted 1.5 s; the blip about 0.5–0.8 s. The probe cadence is 10 ms (plus the
  // request itself), so the bounds are generous but exclude the blip either way.
  expect(gap).toBeGreaterThanOrEqual(outageEnd - outageStart - 50);
  expect(gap).toBeLessThan(outageEnd - outageStart + 1_000);
  expect(seen.lastOld!).toBeGreaterThan(outageStart - 100);
  expect(seen.firstNew!).toBeGreaterThanOrEqual(outageEnd - 5);
});

it('a gap still open at stop() is the outage; its end comes from the gate', async () => {
  const { setMode, w } = await playedGateway();
  const down = Date.now();
  setMode('down');
  await sleep(400);
  const seen = await w.stop();
  expect(seen.firstNew).toBeNull();
  expect(seen.lastOld).not.toBeNull();
  expect(seen.lastOld!).toBeLessThanOrEqual(down + 5);
  expect(seen.lastOld!).toBeGreaterThan(down - 200);
});

it('probes a long outage less often once it has lasted a second, and still finds its end', async () => {
  // Every probe's arrival is recorded by the server: the cadence is observed, not assumed.
  const { setMode, arrivals, w } = await playedGateway();
  const down = Date.now();
  setMode('down');
  await sleep(2_500);
  w.restarted();
  setMode('ok');
  const back = Date.now();
  await sleep(300);
  const seen = await w.stop();
  // Past the first second of the gap, probes come at least ~50 ms apart (a loaded host only adds).
  const late = arrivals.filter((t) => t > down + 1_200 && t < back);
  expect(late.length).toBeGreaterThan(3);
  for (let i = 1; i < late.length; i++) expect(late[i]! - late[i - 1]!).toBeGreaterThanOrEqual(45);
  // In the first half second the cadence is still the fine one.
  const early = arrivals.filter((t) => t > down && t < down + 500);
  expect(early.length).toBeGreaterThan(late.length / 2);
  // The outage is still found, its end within one slow interval (plus the request) of the truth.
  expect(seen.lastOld).not.toBeNull();
  expect(seen.firstNew).not.toBeNull();
  expect(seen.firstNew! - seen.lastOld!).toBeGreaterThanOrEqual(back - down - 50);
  expect(seen.firstNew! - back).toBeLessThan(500);
});

it("an old gateway's slow last answer is its last answer: the outage starts when it arrives", async () => {
  // 'slow': the answer (a 200) comes 900 ms after the request, past a 500 ms timeout but within the
  // watcher's 2 s; meanwhile the gateway stops ('down': 503 at once).
  const { setMode, w } = await playedGateway(900);
  const slowFrom = Date.now();
  setMode('slow');
  await sleep(300);
  setMode('down');
  await sleep(1_500);
  w.restarted();
  setMode('ok');
  await sleep(300);
  const seen = await w.stop();
  expect(seen.lastOld).not.toBeNull();
  expect(seen.firstNew).not.toBeNull();
  // The slow 200 was sent at or after slowFrom and took 900 ms: it is the last old answer.
  expect(seen.lastOld!).toBeGreaterThanOrEqual(slowFrom + 880);
});
