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
import { LATEST_VERSION, buildFixture } from '../helpers/fixtures.js';
import { REPO, grepTree, makeTestEnv, runCli, treeState, type TestEnv } from '../helpers/cli.js';
import { createUser, nodeBin, publish, registryDown, startRegistry, type TestRegistry } from '../helpers/registry.js';

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
    expect(readmeCommand('setup')).toBe('npm ci && npm run build && npm link');
    expect(readmeCommand('test')).toBe('npm test');
    expect(readmeCommand('main')).toMatch(/^oc-versions /);
  });

  it("the README's main-job command, verbatim, installs latest and runs it through the shim", async () => {
    // `oc-versions` on PATH is this checkout's bin (what the set-up's `npm link` links); no
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

/** Build a fixture and publish it to `url` with `token`. */
async function publishTo(url: string, token: string, name: string, version: string): Promise<void> {
  const dir = await buildFixture({ name, version, variant: 'good' });
  try {
    await publish(url, dir, { tag: 'latest', token });
  } finally {
    await fsp.rm(path.dirname(dir), { recursive: true, force: true });
  }
}

describe("npm's configuration, as npm reads it", () => {
  // A second, private registry that answers only with a token: it holds `openclaw` 2026.7.1
  // (not in the shared registry) and the scoped `@ocs/gateway`.
  let priv: TestRegistry;
  let token: string;
  const PRIVATE_VERSION = '2026.7.1';
  beforeAll(async () => {
    priv = await startRegistry({ access: '$authenticated' });
    token = await createUser(priv.url, 'operator', 'correct-horse-battery');
    expect(token.length).toBeGreaterThan(8);
    await publishTo(priv.url, token, 'openclaw', PRIVATE_VERSION);
    await publishTo(priv.url, token, '@ocs/gateway', '1.0.0');
  }, 180_000);
  afterAll(async () => {
    await priv?.stop();
  });

  const authLine = () => `//127.0.0.1:${priv.port}/:_authToken=${token}`;
  /** The env of a user whose only npm configuration is ~/.npmrc. */
  const npmrcOnly = async (lines: string[]) => {
    await fsp.writeFile(path.join(t.home, '.npmrc'), lines.join('\n') + '\n', { mode: 0o600 });
    const env = { ...t.env };
    delete env['npm_config_registry'];
    return env;
  };
  const noToken = (r: { stdout: string; stderr: string }) => {
    expect(r.stdout).not.toContain(token);
    expect(r.stderr).not.toContain(token);
  };

  it('a registry that needs a token works through ~/.npmrc alone; the token is never printed or stored', async () => {
    const env = await npmrcOnly([`registry=${priv.url}`, authLine()]);
    const r = await runCli(['install', PRIVATE_VERSION, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ version: PRIVATE_VERSION, current: true });
    noToken(r);
    const v = await runCli(['list', '--remote', '--verbose'], env);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(PRIVATE_VERSION);
    noToken(v);
    expect(grepTree(t.ocHome, token)).toEqual([]);
  });

  it('without the token line the same registry refuses: exit 8, and the hint points at the npm credentials', async () => {
    const env = await npmrcOnly([`registry=${priv.url}`]);
    const before = treeState(t.ocHome);
    const r = await runCli(['install', PRIVATE_VERSION], env);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toMatch(/HTTP 40[13]/);
    expect(r.stderr).toMatch(/token|credentials|login/i);
    expect(treeState(t.ocHome)).toEqual(before);
  });

  it('a wrong token is not printed, not even with --verbose', async () => {
    const wrong = 'npm_WRONGWRONGWRONG0123456789';
    const env = await npmrcOnly([`registry=${priv.url}`, `//127.0.0.1:${priv.port}/:_authToken=${wrong}`]);
    // --progress: the progress lines must not carry it either
    const r = await runCli(['install', PRIVATE_VERSION, '--verbose', '--json', '--progress'], env);
    expect(r.code).toBe(8);
    expect(r.stdout + r.stderr).not.toContain(wrong);
    expect(grepTree(t.ocHome, wrong)).toEqual([]);
  });

  it('a scoped registry line routes only that scope', async () => {
    // default registry: the shared one (no token, no 2026.7.1); @ocs: the private one.
    const env = await npmrcOnly([`registry=${reg()}`, `@ocs:registry=${priv.url}`, authLine()]);
    const scoped = await runCli(['install', '1.0.0', '--package', '@ocs/gateway', '--json'], env);
    expect(scoped.code, scoped.stderr).toBe(0);
    expect(scoped.json).toMatchObject({ version: '1.0.0' });
    // the unscoped package still comes from the default registry: its versions, not the private one's
    const plain = await runCli(['install', '2026.2.1', '--json', '--home', path.join(t.home, 'oc2')], env);
    expect(plain.code, plain.stderr).toBe(0);
    const miss = await runCli(['install', PRIVATE_VERSION, '--home', path.join(t.home, 'oc3')], env);
    expect(miss.code, miss.stderr).toBe(3);
    // the newest versions the shared registry offers (its fixture set), never the private one
    const newest = /newest available: ([^\n(]+)/.exec(miss.stderr)?.[1] ?? '';
    expect(newest).toMatch(/^2026\.\d+\.\d+/);
    expect(newest).not.toContain(PRIVATE_VERSION);
    noToken(scoped);
    noToken(miss);
    expect(grepTree(t.ocHome, token)).toEqual([]);
  });

  it('npm_config_* in the environment wins over ~/.npmrc, as in npm', async () => {
    const env = { ...(await npmrcOnly([`registry=${priv.url}`, authLine()])), npm_config_registry: reg() };
    const r = await runCli(['install', PRIVATE_VERSION], env);
    expect(r.code, r.stderr).toBe(3); // the shared registry has no 2026.7.1
    const ok = await runCli(['install', '2026.2.1', '--json'], env);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe('ranges and bad specs', () => {
  it('a range takes the latest dist-tag when it satisfies it, not a higher version under another tag', async () => {
    // the shared registry: latest = 2026.4.1, while 2026.5.x/2026.6.x variants are published higher
    const r = await cli('install', '^2026.1', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.version).toBe(LATEST_VERSION);
  });

  it('`install -` (a lone dash) is refused like any bad spec: exit 2, nothing changed', async () => {
    expect((await cli('install', '2026.2.1')).code).toBe(0);
    const before = treeState(t.ocHome);
    for (const args of [['install', '-'], ['install', '-', '--use'], ['use', '-'], ['upgrade', '-', '--dry-run']]) {
      const r = await cli(...args, '--json');
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.json.error.code).toBe('INVALID_SPEC');
    }
    expect(treeState(t.ocHome)).toEqual(before);
  });
});

describe('error lines', () => {
  const stack = /^\s+at /m;
  const twoLines = (stderr: string) => {
    const lines = stderr.trim().split('\n');
    expect(lines, stderr).toHaveLength(2);
    expect(lines[0]).toMatch(/^oc-versions: (?!hint:)\S/);
    expect(lines[1]).toMatch(/^oc-versions: hint: \S/);
    expect(stderr).not.toMatch(stack);
    return lines;
  };

  it.each([
    ['unknown command', ['frobnicate'], 2],
    ['unknown option', ['list', '--frobnicate'], 2],
    ['path-like spec', ['install', '../x'], 2],
    ['a lone dash', ['install', '-'], 2],
    ['not installed', ['use', '2026.3.1'], 3],
    ['no previous version', ['rollback'], 3],
    ['not in the registry', ['install', '2099.1.1'], 3],
  ] as const)('%s: what failed, then what to do; the documented exit code; no stack', async (_name, args, code) => {
    const r = await cli(...args);
    expect(r.code, r.stderr).toBe(code);
    twoLines(r.stderr.split('\n').filter((l) => !/^oc-versions: (resolving|fetching)/.test(l)).join('\n'));
  });

  it('--verbose adds the cause chain (and --json carries it), still no stack', async () => {
    const down = await registryDown();
    const plain = await cli('install', '2026.2.1', '--registry', down, '--quiet');
    expect(plain.code).toBe(8);
    const [what, hint] = twoLines(plain.stderr);
    expect(what).toContain(down);
    expect(hint).toMatch(/network|registry/);
    const v = await cli('install', '2026.2.1', '--registry', down, '--quiet', '--verbose');
    expect(v.code).toBe(8);
    const lines = v.stderr.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual([what, hint]);
    expect(lines.slice(2).length).toBeGreaterThan(0);
    expect(lines.slice(2).every((l) => l.startsWith('oc-versions: cause: '))).toBe(true);
    expect(lines.slice(2).join('\n')).toMatch(/ECONNREFUSED/);
    expect(v.stderr).not.toMatch(stack);
    const j = await cli('install', '2026.2.1', '--registry', down, '--quiet', '--verbose', '--json');
    expect(j.json.error.causes.join(' ')).toMatch(/ECONNREFUSED/);
  });
});

describe('shell completion', () => {
  /** Source `oc-versions completion bash` in bash -c, complete the given words, print COMPREPLY. */
  const complete = async (words: string[]) => {
    const binDir = path.join(t.home, '..', 'path-bin');
    await fsp.mkdir(binDir, { recursive: true });
    if (!fs.existsSync(path.join(binDir, 'oc-versions'))) await fsp.symlink(path.join(REPO, 'bin', 'oc-versions.js'), path.join(binDir, 'oc-versions'));
    const env = { ...t.env, PATH: `${binDir}${path.delimiter}${path.dirname(nodeBin())}${path.delimiter}${process.env['PATH'] ?? ''}` };
    const quoted = words.map((w) => `'${w}'`).join(' ');
    const r = await sh(
      `eval "$(oc-versions completion bash)" && COMP_WORDS=(${quoted}) && COMP_CWORD=${words.length - 1} && _oc_versions && printf '%s\\n' "\${COMPREPLY[@]}"`,
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.split('\n').filter(Boolean);
  };

  it('bash: commands, options, service actions and installed versions land in COMPREPLY', async () => {
    expect(await complete(['oc-versions', ''])).toEqual(expect.arrayContaining(['install', 'use', 'upgrade', 'service', 'completion']));
    expect(await complete(['oc-versions', 'up'])).toEqual(['upgrade']);
    expect(await complete(['oc-versions', 'upgrade', '--no-'])).toEqual(['--no-restart', '--no-canary', '--no-color']);
    expect(await complete(['oc-versions', 'service', ''])).toEqual(['install', 'adopt', 'restore', 'uninstall', 'start', 'stop', 'restart', 'status']);
    expect(await complete(['oc-versions', 'use', ''])).toEqual([]);
    expect((await cli('install', '2026.2.1')).code).toBe(0);
    expect((await cli('install', '2026.3.1-2')).code).toBe(0);
    expect((await complete(['oc-versions', 'use', ''])).sort()).toEqual(['2026.2.1', '2026.3.1-2']);
    expect(await complete(['oc-versions', '--json', 'uninstall', '2026.3'])).toEqual(['2026.3.1-2']);
  });

  it('zsh and fish scripts are printed; an unknown shell is a usage error', async () => {
    const z = await cli('completion', 'zsh');
    expect(z.code).toBe(0);
    expect(z.stdout).toContain('bashcompinit');
    const f = await cli('completion', 'fish');
    expect(f.stdout).toContain('complete -c oc-versions');
    const bad = await cli('completion', 'tcsh');
    expect(bad.code).toBe(2);
  });
});
