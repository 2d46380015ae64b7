/**
 * A minimal sealed-looking oc-versions home for service tests, without a
 * registry: versions/<v>/node_modules/openclaw/dist/index.js is a tiny gateway
 * (node http on 127.0.0.1) answering /healthz, /startupz {version},
 * /env?keys=A,B and /info {pid, argv1, realArgv1}; it drains on SIGTERM.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { CommandContext } from '../../src/app/context.js';
import { defaultConfig, saveConfig, type Config } from '../../src/core/config.js';
import { makeLayout, type Layout } from '../../src/core/layout.js';
import { loadConfig } from '../../src/core/config.js';
import { checkLine, type Output } from '../../src/output.js';
import { installGatewayShim } from '../../src/service/launcher.js';
import { grepTree } from './cli.js';

export const DOUBLES_DIR = path.resolve(import.meta.dirname, 'doubles');

export const FAKE_GATEWAY_SOURCE = String.raw`
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
const here = path.dirname(fileURLToPath(import.meta.url));
// The gateway's own code runs from here on (a standby parked at the launcher's barrier has not got this far).
if (process.env.FAKE_STARTS_FILE) fs.appendFileSync(process.env.FAKE_STARTS_FILE, process.pid + ' ' + Date.now() + '\n');
const pkg = JSON.parse(fs.readFileSync(path.join(here, '..', 'package.json'), 'utf8'));
const args = process.argv.slice(2);
const pi = args.indexOf('--port');
const port = pi >= 0 ? Number(args[pi + 1]) : Number(process.env.OPENCLAW_GATEWAY_PORT || 18789);
let draining = false;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const send = (code, body) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
  if (url.pathname === '/healthz') return send(200, { ok: true, status: 'live' });
  if (url.pathname === '/startupz') return send(draining ? 503 : 200, { ok: !draining, status: draining ? 'draining' : 'started', version: pkg.version });
  if (url.pathname === '/env') {
    const keys = (url.searchParams.get('keys') || '').split(',').filter(Boolean);
    const values = {};
    for (const k of keys) values[k] = process.env[k] ?? null;
    return send(200, { keys: Object.keys(process.env).sort(), values });
  }
  if (url.pathname === '/info') {
    return send(200, { pid: process.pid, version: pkg.version, argv1: process.argv[1], realArgv1: fs.realpathSync(process.argv[1]), args, cwd: process.cwd() });
  }
  send(404, { ok: false });
});
server.listen(port, '127.0.0.1', () => console.log('fake gateway ' + pkg.version + ' listening on ' + port));
process.on('SIGTERM', () => {
  draining = true;
  server.close();
  setTimeout(() => process.exit(0), Number(process.env.FAKE_DRAIN_MS || 100));
});
`;

export interface FakeHome {
  root: string;
  layout: Layout;
  config: Config;
  /** A HOME for the user (LaunchAgents, .config/systemd, .openclaw live here). */
  userHome: string;
  cleanup(): Promise<void>;
}

export async function addFakeVersion(layout: Layout, version: string): Promise<string> {
  const dir = layout.version(version);
  const pkgDir = path.join(dir, 'node_modules', 'openclaw');
  await fsp.mkdir(path.join(pkgDir, 'dist'), { recursive: true });
  await fsp.writeFile(path.join(pkgDir, 'package.json'), JSON.stringify({ name: 'openclaw', version, type: 'module', bin: { openclaw: 'openclaw.mjs' } }));
  await fsp.writeFile(path.join(pkgDir, 'dist', 'index.js'), FAKE_GATEWAY_SOURCE);
  await fsp.writeFile(path.join(pkgDir, 'openclaw.mjs'), "import './dist/index.js';\n");
  await fsp.writeFile(path.join(dir, '.oc-service-entry'), 'node_modules/openclaw/dist/index.js\n');
  await fsp.writeFile(path.join(dir, '.oc-bin'), 'node_modules/openclaw/openclaw.mjs\n');
  await fsp.writeFile(path.join(dir, '.oc-seal.json'), JSON.stringify({ version, fake: true }));
  return dir;
}

export async function setCurrent(layout: Layout, version: string): Promise<void> {
  const tmp = `${layout.current}.tmp-${process.pid}`;
  await fsp.rm(tmp, { force: true });
  await fsp.symlink(path.join('versions', version), tmp);
  await fsp.rename(tmp, layout.current);
}

export async function makeFakeHome(opts: { versions?: string[]; current?: string | null } = {}): Promise<FakeHome> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocv-svc-'));
  const layout = makeLayout(path.join(root, 'oc-home'));
  const userHome = path.join(root, 'user');
  await fsp.mkdir(userHome, { recursive: true });
  await fsp.mkdir(layout.home, { recursive: true });
  const config = defaultConfig(process.execPath);
  // The fake gateway has no CLI (`openclaw config validate`, …): the gate's deep checks cannot run.
  config.health.deepChecks = [];
  await saveConfig(layout, config);
  const versions = opts.versions ?? ['2026.9.5'];
  for (const v of versions) await addFakeVersion(layout, v);
  const current = opts.current === undefined ? versions[versions.length - 1] : opts.current;
  if (current) await setCurrent(layout, current);
  await installGatewayShim(layout, config);
  return { root, layout, config, userHome, cleanup: () => fsp.rm(root, { recursive: true, force: true }) };
}

export interface CapturedOutput extends Output {
  results: unknown[];
  human: string[];
  progressLines: string[];
  warnings: string[];
}

export function captureOutput(json = true): CapturedOutput {
  const o: CapturedOutput = {
    json,
    results: [],
    human: [],
    progressLines: [],
    warnings: [],
    result(human, data) {
      o.human.push(human);
      o.results.push(data);
    },
    progress(m) {
      o.progressLines.push(m);
    },
    warn(m) {
      o.warnings.push(m);
    },
    // Phases and checks as the plain renderer would print them.
    phase(_name, detail) {
      o.progressLines.push(detail);
    },
    bytes() {},
    items() {},
    check(r) {
      o.progressLines.push(checkLine(r));
    },
    end(summary) {
      if (summary) o.progressLines.push(summary);
    },
    done() {},
    interrupted() {
      return null;
    },
  };
  return o;
}

/** A CommandContext over a fake home; config is re-read from disk (commands persist it). */
export async function makeContext(fake: FakeHome, env: NodeJS.ProcessEnv): Promise<CommandContext & { out: CapturedOutput }> {
  const config = await loadConfig(fake.layout, process.execPath);
  return {
    layout: fake.layout,
    config,
    env,
    out: captureOutput(true),
    registry: undefined,
    pkg: 'openclaw',
    argv: [],
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export function getJson<T = Record<string, unknown>>(url: string, timeoutMs = 2_000): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as T });
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export async function waitForJson<T = Record<string, unknown>>(url: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const r = await getJson<T>(url);
      if (r.status === 200) return r.body;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${String(last)}`);
}

export async function waitForDown(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await getJson(url, 500);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} still answers after ${timeoutMs} ms`);
}

/** Every regular file under dir whose content contains needle (symlinks not followed). */
export async function filesContaining(dir: string, needle: string): Promise<string[]> {
  return grepTree(dir, needle);
}
