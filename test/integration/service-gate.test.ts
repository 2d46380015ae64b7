/**
 * The start gate quotes the gateway's log without its secrets: a real gateway process (the fake
 * home's version, patched) that prints its token and then exits like OpenClaw without a
 * configuration. `service install` fails with NOT_RESPONSIVE (exit 7), the log line and the setup
 * hint, and the token is nowhere in the error (message, hint, details).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as service } from '../../src/commands/service.js';
import { EXIT, isOcError, type OcError } from '../../src/errors.js';
import { freePort, makeContext, makeFakeHome, type FakeHome } from '../helpers/fake-home.js';

let fake: FakeHome;
const canary = `canary-${Math.random().toString(36).slice(2)}`;
const env = (): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'], HOME: fake.userHome, OC_VERSIONS_SECRET_STORE: 'none', OPENCLAW_GATEWAY_TOKEN: canary });

beforeAll(async () => {
  fake = await makeFakeHome({ versions: ['2026.9.5'] });
  const entry = path.join(fake.layout.version('2026.9.5'), 'node_modules/openclaw/dist/index.js');
  // Prints its token (as a careless gateway might), then exits 78 after the start grace.
  await fsp.writeFile(
    entry,
    "console.error('starting with token ' + process.env.OPENCLAW_GATEWAY_TOKEN);\n" +
      "setTimeout(() => { console.error('Missing config. Run `openclaw setup` or set gateway.mode=local (or pass --allow-unconfigured).'); process.exit(78); }, 600);\n",
  );
  const cfg = JSON.parse(await fsp.readFile(fake.layout.config, 'utf8'));
  cfg.service = { ...cfg.service, startDeadlineMs: 15_000, keepAlive: { backoffMs: 5_000, maxBackoffMs: 5_000, burst: 5, intervalMs: 60_000 } };
  cfg.health.probeIntervalMs = 100;
  await fsp.writeFile(fake.layout.config, JSON.stringify(cfg));
});

afterAll(async () => {
  const ctx = await makeContext(fake, env());
  await service(ctx, 'stop', [], { drainMs: 2_000 }).catch(() => {});
  await fake.cleanup();
});

describe('start gate', () => {
  it('fails the install with the log line, redacted, and the setup hint', async () => {
    const ctx = await makeContext(fake, env());
    const port = await freePort();
    const err = await service(ctx, 'install', ['gateway', 'run', '--port', String(port)], { manager: 'process' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isOcError(err)).toBe(true);
    const e = err as OcError;
    expect(e.code).toBe('NOT_RESPONSIVE');
    expect(e.exitCode).toBe(EXIT.DEGRADED);
    expect(e.changed).toBe(true);
    expect(e.message).toContain('Missing config. Run `openclaw setup`');
    expect(e.hint).toContain('openclaw setup');
    expect(e.hint).toContain(fake.layout.gatewayLog);
    const tail = (e.details?.['logTail'] ?? []) as string[];
    expect(tail).toContain('starting with token ***');
    expect(JSON.stringify({ message: e.message, hint: e.hint, details: e.details })).not.toContain(canary);
    // The gateway really printed it: the redaction, not the absence, keeps it out.
    expect(await fsp.readFile(fake.layout.gatewayLog, 'utf8')).toContain(canary);
    // Still installed: the definition is there, for a restart after `openclaw setup`.
    expect(await fsp.readFile(fake.layout.processDefinition, 'utf8')).toContain('gateway');
  });
});
