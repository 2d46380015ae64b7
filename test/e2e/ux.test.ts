/**
 * The operator's experience (issue 12) through the built CLI: the README's first run, npm's
 * configuration (auth, scopes), range resolution, error lines, shell completion.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { LATEST_VERSION } from '../helpers/fixtures.js';
import { REPO, grepTree, makeTestEnv, runCli, treeState, type TestEnv } from '../helpers/cli.js';
import { nodeBin } from '../helpers/registry.js';

let t: TestEnv;
const reg = () => inject('registryUrl');
const cli = (...args: string[]) => runCli(args, t.env);

beforeEach(async () => {
  t = await makeTestEnv(reg());
});
afterEach(async () => {
  await t.cleanup();
});

/** A shell command line run with bash -c; resolves {code, stdout, stderr}. */
function sh(command: string, env: NodeJS.ProcessEnv, cwd = os.tmpdir()): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The fenced sh block after `<!-- first-run:<name> -->` in README.md, one command. */
function readmeCommand(name: string): string {
  const text = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- first-run:${name} -->\\s*\`\`\`sh\\n([^\\n]+)\\n\`\`\``).exec(text);
  if (!m) throw new Error(`README.md has no first-run:${name} block with exactly one command`);
  return m[1]!;
}

describe('first run (README)', () => {
  it('the README gives one set-up, one main-job and one test command', () => {
    expect(readmeCommand('setup')).toBe('npm install -g oc-versions');
    expect(readmeCommand('test')).toBe('npm test');
    expect(readmeCommand('main')).toMatch(/^oc-versions /);
  });

  it("the README's main-job command, verbatim, installs latest and runs it through the shim", async () => {
    // `oc-versions` on PATH is this checkout's bin (what `npm install -g` links); no
    // OC_VERSIONS_HOME: the default home under the fresh HOME is used, as for a new operator.
    const binDir = path.join(t.home, '..', 'path-bin');
    await fsp.mkdir(binDir, { recursive: true });
    await fsp.symlink(path.join(REPO, 'bin', 'oc-versions.js'), path.join(binDir, 'oc-versions'));
    const env: NodeJS.ProcessEnv = {
      PATH: `${binDir}${path.delimiter}${path.dirname(nodeBin())}${path.delimiter}${process.env['PATH'] ?? ''}`,
      HOME: t.home,
      TMPDIR: os.tmpdir(),
      npm_config_registry: reg(),
      npm_config_update_notifier: 'false',
    };
    const r = await sh(readmeCommand('main'), env, t.home);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(LATEST_VERSION);
    expect(fs.readlinkSync(path.join(t.home, '.oc-versions', 'current'))).toBe(path.join('versions', LATEST_VERSION));
  });
});
