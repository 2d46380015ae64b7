/**
 * A real npm registry for tests: verdaccio 6 in a child process on 127.0.0.1, storage in a temp dir,
 * no uplinks (tests never reach the public registry), anyone may read and publish.
 *
 * The child runs a few lines of ESM (passed with `-e`) that call verdaccio's `runServer` and
 * `listen(0, '127.0.0.1')`, then print the bound port as one JSON line on stdout: no port race.
 * It is started in its own process group (`detached`) and stopped by signalling that group only.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface TestRegistry {
  /** `http://127.0.0.1:<port>/` (with the trailing slash npm likes). */
  url: string;
  port: number;
  /** verdaccio storage dir: `<storage>/<name>/<name>-<version>.tgz` (scoped: `<storage>/@s/n/n-<v>.tgz`). */
  storage: string;
  /** PID of the verdaccio child (also its process group id). */
  pid: number;
  /** Stops verdaccio (SIGTERM to its group, SIGKILL after 3 s) and deletes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  /** Use this storage dir instead of a fresh temp one (it is not deleted by stop()). */
  storage?: string;
  /** Max body size of a publish; default '1024mb' (benchmarks publish big padded tarballs). */
  maxBodySize?: string;
  /** Who may read packages: '$all' (default) or '$authenticated' (a registry that needs a token). */
  access?: '$all' | '$authenticated';
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * A Node >= 22 binary (verdaccio 6 refuses Node 20): the current one if recent enough, else the
 * repo's `node_modules/.bin/node` (devDependency `node`, Node 24).
 */
export function nodeBin(): string {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22) return process.execPath;
  const local = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');
  if (fs.existsSync(local)) return fs.realpathSync(local);
  return process.execPath;
}

/** Environment for npm child processes: inherited env minus npm_config_* leaking from `npm test`. */
export function npmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k)) continue;
    env[k] = v;
  }
  // npm scripts and npm itself run on the Node found first on PATH: make it the >=22 one.
  const binDir = path.dirname(nodeBin());
  env.PATH = `${binDir}${path.delimiter}${env.PATH ?? ''}`;
  env.npm_config_update_notifier = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_audit = 'false';
  return { ...env, ...extra };
}

function verdaccioEntry(): string {
  const require = createRequire(path.join(REPO_ROOT, 'package.json'));
  const pkgJson = require.resolve('verdaccio/package.json');
  return pathToFileURL(path.join(path.dirname(pkgJson), 'build', 'index.mjs')).href;
}

// If the parent dies without calling stop() (a timed-out test, a killed worker), the stdin pipe
// closes: the runner then exits and deletes its own temp dir, so no registry is orphaned.
const RUNNER = `
import { rmSync } from 'node:fs';
const [entry, cfgJson, ownDir] = process.argv.slice(1);
const { runServer } = await import(entry);
const cfg = JSON.parse(cfgJson);
const server = await runServer(cfg);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port, pid: process.pid }) + '\\n');
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', () => {
  if (ownDir) { try { rmSync(ownDir, { recursive: true, force: true }); } catch {} }
  stop();
});
process.stdin.resume();
`;

async function pingOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(new URL('-/ping', url), { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** Start a private verdaccio (≈1–2 s). Always call stop() (afterAll). */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-test-registry-'));
  const storage = opts.storage ?? path.join(dir, 'storage');
  await fsp.mkdir(storage, { recursive: true });
  const config = {
    self_path: path.join(dir, 'config.yaml'),
    config_path: path.join(dir, 'config.yaml'),
    storage,
    uplinks: {},
    packages: { '**': { access: opts.access ?? '$all', publish: opts.access ?? '$all', unpublish: opts.access ?? '$all' } },
    // registration is open only on a registry that needs a token (createUser makes the test's user)
    auth: { htpasswd: { file: path.join(dir, 'htpasswd'), max_users: opts.access === '$authenticated' ? 10 : -1 } },
    log: { type: 'stdout', format: 'pretty', level: 'fatal' },
    web: { enable: false },
    max_body_size: opts.maxBodySize ?? '1024mb',
    server: { keepAliveTimeout: 60 },
  };
  await fsp.writeFile(config.self_path, JSON.stringify(config, null, 2));

  const child: ChildProcess = spawn(
    nodeBin(),
    ['--input-type=module', '--no-warnings', '-e', RUNNER, verdaccioEntry(), JSON.stringify(config), dir],
    { cwd: dir, detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });

  const killGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      /* already gone */
    }
  };

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`verdaccio did not start in 30 s: ${stderr}`)), 30_000);
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('{"port"'));
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`verdaccio exited early (code ${code}, signal ${sig}): ${stderr}`));
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } catch (e) {
    killGroup('SIGKILL');
    await fsp.rm(dir, { recursive: true, force: true });
    throw e;
  }
  child.stdout!.resume();

  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 20_000;
  while (!(await pingOk(url))) {
    if (Date.now() > deadline) {
      killGroup('SIGKILL');
      throw new Error(`verdaccio on ${url} does not answer /-/ping: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let stopped: Promise<void> | undefined;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const stop = () => {
    stopped ??= (async () => {
      killGroup('SIGTERM');
      const t = setTimeout(() => killGroup('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
      await fsp.rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  return { url, port, storage, pid: child.pid!, stop };
}

export interface PublishOptions {
  /** dist-tag; default `v<version with dots replaced by '-'>` (npm 11 needs an explicit tag). */
  tag?: string;
  /** Extra environment for npm. */
  env?: NodeJS.ProcessEnv;
  /** The auth token to publish with (a registry started with access '$authenticated'); default a dummy. */
  token?: string;
}

/** The dist-tag publish() uses when none is given: `2026.3.1-2` → `v2026-3-1-2`. */
export function defaultTag(version: string): string {
  return `v${version.replace(/\./g, '-')}`;
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }) {
  return new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}\n${stdout}`));
        } else resolve({ stdout, stderr });
      },
    );
  });
}

/** An empty npmrc to pass as `--userconfig` so the machine's user config cannot interfere. */
export function emptyUserconfig(): string {
  const file = path.join(os.tmpdir(), 'oc-test-empty-npmrc');
  if (!fs.existsSync(file)) fs.writeFileSync(file, '');
  return file;
}

/** Run a command (no shell); rejects with stdout+stderr on a non-zero exit. */
export { run as runCommand };

/** The `--//host:port/:_authToken=x` flag npm needs to publish to a test registry. */
export function authFlag(registryUrl: string, token = 'x'): string {
  const u = new URL(registryUrl);
  return `--//${u.host}${u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`}:_authToken=${token}`;
}

/** Create a user on a test verdaccio (htpasswd) and return its auth token. */
export async function createUser(registryUrl: string, name: string, password: string): Promise<string> {
  const res = await fetch(new URL(`-/user/org.couchdb.user:${encodeURIComponent(name)}`, registryUrl), {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password, type: 'user', roles: [], date: new Date().toISOString() }),
  });
  const body = (await res.json()) as { token?: string };
  if (!res.ok || !body.token) throw new Error(`createUser ${name}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/**
 * `npm publish <dir>` to the given registry with an explicit dist-tag. `dir` is a package directory
 * or a `.tgz`. Returns npm's stdout.
 */
export async function publish(registryUrl: string, dir: string, opts: PublishOptions = {}): Promise<string> {
  let tag = opts.tag;
  if (!tag) {
    let version: string;
    if (dir.endsWith('.tgz')) {
      const m = /-(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)\.tgz$/.exec(path.basename(dir));
      if (!m) throw new Error(`publish: cannot infer the version of ${dir}; pass opts.tag`);
      version = m[1]!;
    } else {
      version = (JSON.parse(await fsp.readFile(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    }
    tag = defaultTag(version);
  }
  const { stdout } = await run(
    'npm',
    [
      'publish',
      dir,
      '--registry',
      registryUrl,
      authFlag(registryUrl, opts.token),
      '--tag',
      tag,
      '--ignore-scripts',
      '--userconfig',
      emptyUserconfig(),
      '--no-audit',
      '--no-fund',
      '--loglevel',
      'error',
    ],
    { cwd: os.tmpdir(), env: npmEnv(opts.env) },
  );
  return stdout;
}

/** Path of a published tarball inside verdaccio's storage (so a test can corrupt or delete it). */
export function tarballPath(storage: string, name: string, version: string): string {
  const base = name.startsWith('@') ? name.split('/')[1]! : name;
  return path.join(storage, ...name.split('/'), `${base}-${version}.tgz`);
}

/**
 * A registry URL nobody answers: binds a free 127.0.0.1 port, closes it, returns its URL
 * (connections are refused).
 */
export async function registryDown(): Promise<string> {
  const port = await new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  return `http://127.0.0.1:${port}/`;
}
