/**
 * The one door for HTTP: local probes of the gateway (liveness, version,
 * readiness). Never throws; a request that fails or times out is null.
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
