import net from 'node:net';

/**
 * The one door for HTTP: local probes of the gateway (liveness, version,
 * readiness; never throws, a request that fails or times out is null) and the node mirror's
 * downloads (fetchResponse).
 * The registry's network traffic goes through pacote (src/registry) instead.
 */
export async function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' } });
    const body = await res.text();
    return { status: res.status, body };
  } catch {
    return null;
  }
}

/**
 * A GET whose response the caller reads (a body streamed to disk, a JSON index): the node mirror's
 * downloads (src/core/runtime-install.ts). Throws as fetch does when nothing answers in time.
 */
export function fetchResponse(url: string, timeoutMs: number): Promise<Response> {
  return fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
}

/**
 * Whether something accepts TCP connections at the URL's host and port: connected, then closed at
 * once, no request sent. False when refused, unreachable or not connected within `timeoutMs`.
 */
export function accepts(url: string, timeoutMs: number): Promise<boolean> {
  let host: string;
  let port: number;
  try {
    const u = new URL(url);
    host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * A poller's GET of one URL, for loops that wait through a gateway's start (seconds to tens of
 * seconds of refused connections): after an unanswered probe, the next one first tries a plain TCP
 * connect and asks over HTTP only when something accepts. A refused fetch costs this process
 * ≈ 1 ms of CPU, a refused connect ≈ 0.2 ms (Node 24, 2 cores), CPU taken from the gateway
 * starting beside it. Each returned function keeps its own state; its results are httpGet's.
 */
export function livenessProbe(url: string, timeoutMs: number): () => Promise<{ status: number; body: string } | null> {
  let unanswered = false;
  return async () => {
    const res = unanswered && !(await accepts(url, timeoutMs)) ? null : await httpGet(url, timeoutMs);
    unanswered = res === null;
    return res;
  };
}
