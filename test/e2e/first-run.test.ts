/**
 * The README's first run, verbatim, from a clean copy of this checkout with a fresh HOME
 * (issue 12): the set-up command (`npm ci && npm run build && npm link`), then the main-job
 * command with the `oc-versions` that `npm link` put on PATH.
 *
 * Deliberate differences from a new operator's machine, each configuration and never a change
 * to the commands: `npm link` links into a temp global prefix (`npm_config_prefix`) instead of
 * the machine's; `npm ci` reads the npm cache this machine's own `npm ci` already filled
 * (`npm_config_cache`, `npm_config_prefer_offline`), so it does not download the dependency tree
 * a second time; the main job's registry is the private test registry (`npm_config_registry`),
 * never the public one; the machine's global npmrc (npm_config_globalconfig) stays in effect,
 * since it lives under the prefix that the temp prefix replaces.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LATEST_VERSION } from '../helpers/fixtures.js';
import { REPO } from '../helpers/cli.js';
import { npmEnv } from '../helpers/registry.js';

/** The fenced sh block after `<!-- first-run:<name> -->` in README.md, one command. */
function readmeCommand(name: string): string {
  const text = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- first-run:${name} -->\\s*\`\`\`sh\\n([^\\n]+)\\n\`\`\``).exec(text);
  if (!m) throw new Error(`README.md has no first-run:${name} block with exactly one command`);
  return m[1]!;
}

function sh(command: string, env: NodeJS.ProcessEnv, cwd: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // the whole group: npm's own children too (started by us, stopped by our group id)
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The argv line of each npm run's debug log, to say which npm command failed. */
function npmLogArgv(): string {
  const dir = path.join(root, 'npm-logs');
  if (!fs.existsSync(dir)) return '';
  return fs
    .readdirSync(dir)
    .sort()
    .map((f) => /verbose argv .*/.exec(fs.readFileSync(path.join(dir, f), 'utf8'))?.[0] ?? f)
    .join('\n');
}

let root: string;
let checkout: string;
let home: string;
let prefix: string;

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-first-run-'));
  checkout = path.join(root, 'oc-versions');
  home = path.join(root, 'home');
  prefix = path.join(root, 'prefix');
  await fsp.mkdir(home, { mode: 0o700 });
  await fsp.mkdir(prefix);
  // A clean copy: the files git knows (tracked, and untracked but not ignored), never
  // node_modules/ or dist/.
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const f of files) {
    const from = path.join(REPO, f);
    const st = fs.lstatSync(from, { throwIfNoEntry: false });
    if (!st) continue; // deleted in the work tree, not yet committed
    const to = path.join(checkout, f);
    await fsp.mkdir(path.dirname(to), { recursive: true });
    if (st.isSymbolicLink()) await fsp.symlink(await fsp.readlink(from), to);
    else await fsp.copyFile(from, to);
    if (!st.isSymbolicLink()) await fsp.chmod(to, st.mode & 0o777);
  }
  expect(fs.existsSync(path.join(checkout, 'node_modules'))).toBe(false);
  expect(fs.existsSync(path.join(checkout, 'dist'))).toBe(false);
});

afterAll(async () => {
  if (root) await fsp.rm(root, { recursive: true, force: true });
});

describe('the README first run, verbatim, from a clean copy with a fresh HOME', () => {
  it('set-up, then the main job through the linked oc-versions', async () => {
    const base = npmEnv();
    const npmGet = (key: string) => execFileSync('npm', ['config', 'get', key], { env: base, encoding: 'utf8' }).trim();
    const cache = npmGet('cache');
    // The machine's global npmrc lives under npm's prefix; keep reading it (TLS settings such
    // as cafile) when the prefix moves to the temp dir.
    const globalconfig = npmGet('globalconfig');
    const env: NodeJS.ProcessEnv = {
      PATH: `${path.join(prefix, 'bin')}${path.delimiter}${base.PATH}`,
      HOME: home,
      TMPDIR: os.tmpdir(),
      npm_config_prefix: prefix,
      npm_config_globalconfig: globalconfig,
      npm_config_cache: cache,
      npm_config_prefer_offline: 'true',
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
      npm_config_logs_dir: path.join(root, 'npm-logs'),
    };
    const setup = await sh(readmeCommand('setup'), env, checkout, 600_000);
    expect(setup.code, `${setup.stderr.slice(-3000)}\n${npmLogArgv()}`).toBe(0);
    // what `npm link` put on PATH is this copy's bin
    const linked = path.join(prefix, 'bin', 'oc-versions');
    expect(fs.realpathSync(linked)).toBe(fs.realpathSync(path.join(checkout, 'bin', 'oc-versions.js')));

    const main = await sh(readmeCommand('main'), { ...env, npm_config_registry: inject('registryUrl') }, home, 180_000);
    expect(main.code, main.stderr).toBe(0);
    expect(main.stdout).toContain(LATEST_VERSION);
    expect(fs.readlinkSync(path.join(home, '.oc-versions', 'current'))).toBe(path.join('versions', LATEST_VERSION));
    // the test command is the one .ci/run runs (running the suite inside itself is not useful)
    expect(readmeCommand('test')).toBe('npm test');
    expect(fs.readFileSync(path.join(REPO, '.ci', 'run'), 'utf8')).toMatch(/^npm test$/m);
  }, 900_000);
});
