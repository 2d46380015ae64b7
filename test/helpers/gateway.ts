/** Helpers for tests that run a real fixture gateway under a service backend. */
import fs from 'node:fs';
import net from 'node:net';
import { expect } from 'vitest';
import path from 'node:path';
import { makeTestEnv, runCli, type CliResult, type TestEnv } from './cli.js';
import { DOUBLES_DIR } from './fake-home.js';
import { killRecordedJobs } from './launchd-model.js';

/**
 * A free loopback port below the kernel's ephemeral range (32768+), so that neither another
 * worker's listen(0) nor an outgoing connection is handed the same port before the gateway binds.
 * Each vitest worker draws from its own slice of 20000–31999 (3,000 ports, the top 500 left for
 * the canaries, which take the first free port from live + 120 upward): between this check and
 * the gateway's bind, a test in another worker once took the port (a gateway or a canary of its
 * own: `listen EADDRINUSE` at `service install`). Tests within one worker run one at a time.
 */
export async function freePort(): Promise<number> {
  const pool = Number(process.env['VITEST_POOL_ID'] ?? 1);
  const base = 20_000 + ((Number.isInteger(pool) && pool > 0 ? pool - 1 : 0) % 4) * 3_000;
  for (let i = 0; i < 200; i++) {
    const port = base + Math.floor(Math.random() * 2_500);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port found');
}

export async function getJson(url: string, timeoutMs = 2_000): Promise<{ status: number; body: any } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body };
  } catch {
    return null;
  }
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface GatewayHost {
  t: TestEnv;
  port: number;
  cli(...args: string[]): Promise<CliResult>;
  version(): Promise<string | null>;
  cleanup(): Promise<void>;
}

/**
 * A temp host with `from` installed and the gateway running under the process
 * backend (real detached process group; under its keep-alive supervisor unless
 * `keepAlive: false`) on a free loopback port. Fast deadlines
 * come from config.json so fault cells finish in seconds.
 */
export async function gatewayHost(registryUrl: string, from: string, opts: { manager?: string; env?: NodeJS.ProcessEnv; keepAlive?: boolean } = {}): Promise<GatewayHost> {
  const t = await makeTestEnv(registryUrl, opts.env ?? {});
  const port = await freePort();
  const cli = (...args: string[]) => runCli(args, t.env);
  try {
    return await startOn(t, port, cli, from, opts);
  } catch (e) {
    // A host that failed to come up leaves neither a gateway nor its temp dir behind.
    await cli('service', 'stop').catch(() => undefined);
    await cli('service', 'uninstall').catch(() => undefined);
    await t.cleanup();
    throw e;
  }
}

async function startOn(t: TestEnv, port: number, cli: (...args: string[]) => Promise<CliResult>, from: string, opts: { manager?: string; keepAlive?: boolean }): Promise<GatewayHost> {
  const ins = await cli('install', from);
  expect(ins.code, ins.stderr).toBe(0);
  const fs = await import('node:fs');
  const path = await import('node:path');
  const cfgPath = path.join(t.ocHome, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  cfg.health = { ...cfg.health, responsiveDeadlineMs: 8_000, versionDeadlineMs: 4_000, deepDeadlineMs: 20_000, probeIntervalMs: 100, settle: { probes: 4, minWindowMs: 800 } };
  cfg.service = { ...cfg.service, drainMs: 3_000 };
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  // The process backend's keep-alive is on by default; `keepAlive: false` installs with --no-keep-alive.
  const noKeepAlive = opts.keepAlive === false ? ['--no-keep-alive'] : [];
  const svc = await cli('service', 'install', '--manager', opts.manager ?? 'process', ...noKeepAlive, '--', 'gateway', 'run', '--port', String(port), '--bind', 'loopback');
  expect(svc.code, svc.stderr + svc.stdout).toBe(0);
  await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/healthz`))?.status === 200, 15_000, 'the gateway to answer /healthz');
  return {
    t,
    port,
    cli,
    async version() {
      const r = await getJson(`http://127.0.0.1:${port}/startupz`);
      return r?.status === 200 ? (r.body.version as string) : null;
    },
    async cleanup() {
      await cli('service', 'stop').catch(() => undefined);
      await cli('service', 'uninstall').catch(() => undefined);
      await t.cleanup();
    },
  };
}

/**
 * A temp host whose PATH starts with the launchctl/systemctl doubles (they really run the
 * job). Its cleanup, pushed onto `cleanups`, uninstalls the service and kills only the
 * process groups the doubles recorded.
 */
export async function doublesHost(registryUrl: string, cleanups: Array<() => Promise<void> | void>): Promise<TestEnv> {
  const t = await makeTestEnv(registryUrl, {
    PATH: `${DOUBLES_DIR}${path.delimiter}${path.dirname(process.execPath)}${path.delimiter}${process.env['PATH']}`,
    OC_VERSIONS_SECRET_STORE: 'none',
  });
  const stateDir = path.join(t.home, '.double-state');
  t.env['OC_DOUBLE_STATE'] = stateDir;
  cleanups.push(async () => {
    await runCli(['service', 'uninstall'], t.env).catch(() => undefined);
    killRecordedJobs(stateDir);
    await t.cleanup();
  });
  return t;
}

/**
 * OpenClaw's own service definition (inline env with a secret), written into the user's home and
 * adopted by oc-versions: a LaunchAgent (launchctl double) or a user unit (systemctl double).
 * `version` must be installed already; `extraEnv` goes into the definition's environment.
 */
export async function adoptedOpenClawService(
  t: TestEnv,
  kind: 'launchd' | 'systemd',
  version: string,
  secret: string,
  extraEnv: Record<string, string> = {},
  /** More top-level plist keys (launchd only): ThrottleInterval, ExitTimeOut, … */
  plistKeys: Record<string, unknown> = {},
): Promise<{ definitionPath: string; port: number }> {
  const port = await freePort();
  const entry = path.join(t.ocHome, 'versions', version, 'node_modules', 'openclaw', 'dist', 'index.js');
  const env: Record<string, string> = { HOME: t.home, OPENCLAW_GATEWAY_TOKEN: secret, OPENCLAW_STATE_DIR: path.join(t.home, '.openclaw'), ...extraEnv };
  let definitionPath: string;
  if (kind === 'launchd') {
    const plist = await import('plist');
    definitionPath = path.join(t.home, 'Library', 'LaunchAgents', 'ai.openclaw.gateway.plist');
    fs.mkdirSync(path.dirname(definitionPath), { recursive: true });
    fs.writeFileSync(
      definitionPath,
      plist.build({
        Label: 'ai.openclaw.gateway',
        ProgramArguments: [process.execPath, entry, 'gateway', '--port', String(port)],
        EnvironmentVariables: { ...env, OPENCLAW_LAUNCHD_LABEL: 'ai.openclaw.gateway' },
        RunAtLoad: true,
        KeepAlive: true,
        ...plistKeys,
      } as Parameters<typeof plist.build>[0]),
    );
  } else {
    definitionPath = path.join(t.home, '.config', 'systemd', 'user', 'openclaw-gateway.service');
    fs.mkdirSync(path.dirname(definitionPath), { recursive: true });
    const envLine = Object.entries({ ...env, OPENCLAW_SYSTEMD_UNIT: 'openclaw-gateway.service' })
      .map(([k, v]) => `"${k}=${v}"`)
      .join(' ');
    fs.writeFileSync(
      definitionPath,
      ['[Unit]', 'Description=OpenClaw Gateway', '', '[Service]', `ExecStart=${process.execPath} ${entry} gateway --port ${port}`, 'Restart=always', `Environment=${envLine}`, '', '[Install]', 'WantedBy=default.target', ''].join('\n'),
    );
  }
  const adopt = await runCli(['service', 'adopt', kind === 'launchd' ? '--plist' : '--unit', definitionPath], t.env);
  expect(adopt.code, adopt.stderr).toBe(0);
  await waitFor(async () => (await getJson(`http://127.0.0.1:${port}/healthz`))?.status === 200, 15_000, 'the adopted gateway');
  return { definitionPath, port };
}
