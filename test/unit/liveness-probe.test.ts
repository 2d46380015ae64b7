/**
 * livenessProbe and accepts (src/os/http.ts): the pollers that wait through a gateway's start (the
 * downtime watcher, the gate's responsive stage) ask over HTTP only when something accepts a TCP
 * connection, once a probe went unanswered. Real sockets and a real HTTP server on loopback;
 * fetch is spied on (called through), to count the HTTP requests made.
 */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../helpers/fake-home.js';
import { accepts, livenessProbe } from '../../src/os/http.js';

const servers: net.Server[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** An HTTP server on `port` answering 200, counting the connections and the requests it gets. */
async function serve(port: number): Promise<{ connections: () => number; requests: () => number }> {
  let connections = 0;
  let requests = 0;
  const s = http.createServer((_q, res) => {
    requests++;
    res.end('ok');
  });
  s.on('connection', () => connections++);
  servers.push(s);
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
  return { connections: () => connections, requests: () => requests };
}

describe('accepts', () => {
  it('is true where something listens (no request is sent) and false where nothing does', async () => {
    const port = await freePort();
    expect(await accepts(`http://127.0.0.1:${port}/healthz`, 1_000)).toBe(false);
    const s = await serve(port);
    expect(await accepts(`http://127.0.0.1:${port}/healthz`, 1_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.connections()).toBe(1);
    expect(s.requests()).toBe(0);
    expect(await accepts('not a url', 1_000)).toBe(false);
  });
});

describe('livenessProbe', () => {
  it('after an unanswered probe, fetches only once something accepts; while answered, fetches directly', async () => {
    const port = await freePort();
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const probe = livenessProbe(`http://127.0.0.1:${port}/healthz`, 1_000);
    expect(await probe()).toBeNull();
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    // Still nothing there: plain connects, refused, no HTTP.
    expect(await probe()).toBeNull();
    expect(await probe()).toBeNull();
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    // The gateway binds: one connect that succeeds, then the GET.
    const s = await serve(port);
    expect(await probe()).toMatchObject({ status: 200, body: 'ok' });
    expect(fetchSpy).toHaveBeenCalledTimes(2);
    expect(s.requests()).toBe(1);
    expect(s.connections()).toBe(2);
    // Answered: the next probe is the GET alone.
    expect(await probe()).toMatchObject({ status: 200 });
    expect(fetchSpy).toHaveBeenCalledTimes(3);
    expect(s.connections()).toBe(3);
  });
});
