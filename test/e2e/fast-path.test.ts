/**
 * The read-only fast path (src/fast.ts): `current`, `list` and `which` through the package's bin
 * answer exactly as the full CLI (dist/cli.js) does — same stdout, stderr and exit code — on
 * healthy and broken homes, and the fast path really is the one that answered (no chunk of the
 * full CLI loaded) where it should, and hands over where it should not.
 *
 * Everything is real: the built bin and CLI as child processes on temp homes. The module-load
 * log comes from a `module.registerHooks` preload (node's own API), not from a hook in our code.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFast } from '../../src/fast-path.js';
import { CLI, REPO } from '../helpers/cli.js';
import { spawnBin } from '../helpers/bin.js';
import { addFakeVersion, setCurrent } from '../helpers/fake-home.js';
import { makeLayout } from '../../src/core/layout.js';

const BIN = path.join(REPO, 'bin', 'oc-versions.js');
let root: string;
let hook: string;

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocv-fast-'));
  hook = path.join(root, 'load-log.mjs');
  await fsp.writeFile(
    hook,
    `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const seen = [];
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
process.on('exit', () => writeFileSync(process.env.LOAD_LOG, seen.join('\\n')));
`,
  );
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** A home in one of the shapes the read-only verbs must handle. */
async function home(name: string, shape: (dir: string) => Promise<void>): Promise<string> {
  const dir = path.join(root, name);
  await fsp.mkdir(dir, { recursive: true });
  await shape(dir);
  return dir;
}

async function sealed(dir: string, versions: string[], current: string | null, previous?: string) {
  const layout = makeLayout(dir);
  for (const v of versions) await addFakeVersion(layout, v);
  if (current) await setCurrent(layout, current);
  if (previous) await fsp.writeFile(layout.state, JSON.stringify({ previous }));
}

let n = 0;
async function both(args: string[], env: NodeJS.ProcessEnv) {
  const log = path.join(root, `load-${n++}.log`);
  const viaBin = await spawnBin(process.execPath, `--import=${pathToFileURL(hook).href}`, [BIN, ...args], { ...env, LOAD_LOG: log });
  const viaCli = await spawnBin(process.execPath, CLI, args, env);
  const loaded = fs.readFileSync(log, 'utf8').split('\n');
  return { viaBin, viaCli, fullCliLoaded: loaded.some((u) => u.endsWith('/dist/cli.js')), fastLoaded: loaded.some((u) => u.endsWith('/dist/fast.js')) };
}

describe('the fast path answers exactly as the full CLI', () => {
  const env = (ocHome: string): NodeJS.ProcessEnv => ({
    PATH: process.env['PATH'],
    HOME: path.join(root, 'user'),
    XDG_CACHE_HOME: path.join(root, 'cache'),
    OC_VERSIONS_HOME: ocHome,
  });

  const ANSWERED = [
    ['current'],
    ['current', '--json'],
    ['list'],
    ['ls', '--json'],
    ['--json', 'list', '--quiet'],
    ['which'],
    ['which', '--service', '--json'],
    ['current', '--no-color', '--progress', '--json'],
    ['list', '--verbose', '--package', 'openclaw', '--registry', 'http://127.0.0.1:9'],
  ];
  /** Shapes the fast path hands to the full CLI (and the CLI's answer is still the same). */
  const HANDED_OVER = [['which', '2026.9.5'], ['current', '--help'], ['list', '--json', '--json'], ['current', '--bogus'], ['list', 'extra'], ['which', '--service=yes'], ['current', '--', 'x']];

  it('on a home with current, previous, a correction release and debris', async () => {
    const dir = await home('healthy', async (d) => {
      await sealed(d, ['2026.9.5', '2026.9.6', '2026.9.6-2', '2026.10.1-beta.1'], '2026.9.6', '2026.9.5');
      await fsp.mkdir(path.join(d, 'versions', 'not-a-version'));
      await fsp.mkdir(path.join(d, 'versions', '2026.9.7')); // unsealed: staging debris, not listed
    });
    for (const args of ANSWERED) {
      const r = await both(args, env(dir));
      expect({ args, ...r.viaBin }).toEqual({ args, ...r.viaCli });
      expect({ args, code: r.viaBin.code }).toEqual({ args, code: 0 });
      expect({ args, fast: r.fastLoaded, full: r.fullCliLoaded }).toEqual({ args, fast: true, full: false });
    }
    // The order is OpenClaw's (a correction after its release), not plain semver's.
    const list = await both(['list', '--json'], env(dir));
    expect(JSON.parse(list.viaBin.stdout).versions.map((v: { version: string }) => v.version)).toEqual(['2026.10.1-beta.1', '2026.9.6-2', '2026.9.6', '2026.9.5']);
    for (const args of HANDED_OVER) {
      const r = await both(args, env(dir));
      expect({ args, ...r.viaBin }).toEqual({ args, ...r.viaCli });
      expect({ args, full: r.fullCliLoaded }).toEqual({ args, full: true });
    }
  });

  it('--home and --home= name the home as the full CLI does', async () => {
    const dir = await home('named', (d) => sealed(d, ['2026.9.5'], '2026.9.5'));
    for (const args of [['current', '--home', dir], [`--home=${dir}`, 'which', '--json']]) {
      const r = await both(args, env(path.join(root, 'elsewhere')));
      expect({ args, ...r.viaBin }).toEqual({ args, ...r.viaCli });
      expect(r.viaBin.stdout).toContain('2026.9.5');
      expect(r.fullCliLoaded).toBe(false);
    }
  });

  it('on an empty, a dangling and a broken home (errors come from the full CLI, unchanged)', async () => {
    const empty = path.join(root, 'never-created');
    const dangling = await home('dangling', async (d) => {
      await sealed(d, ['2026.9.5'], null);
      await fsp.symlink(path.join('versions', '2026.9.9'), path.join(d, 'current'));
    });
    const broken = await home('broken', async (d) => {
      await sealed(d, ['2026.9.5'], '2026.9.5');
      await fsp.writeFile(path.join(d, 'config.json'), '{ not json');
    });
    for (const dir of [empty, dangling, broken]) {
      for (const args of [['current'], ['current', '--json'], ['list', '--json'], ['which'], ['which', '--json']]) {
        const r = await both(args, env(dir));
        expect({ dir, args, ...r.viaBin }).toEqual({ dir, args, ...r.viaCli });
      }
    }
    // `which` with no current is the full CLI's two-line error.
    const w = await both(['which'], env(empty));
    expect(w.viaBin.code).not.toBe(0);
    expect(w.viaBin.stderr).toBe('oc-versions: no current version\noc-versions: hint: oc-versions install\n');
    expect(w.fullCliLoaded).toBe(true);
    // A broken config.json is refused, not silently defaulted by the fast path.
    const b = await both(['current'], env(broken));
    expect(b.viaBin.code).not.toBe(0);
    expect(b.fullCliLoaded).toBe(true);
    // And `current` on a home that does not exist creates nothing.
    expect(fs.existsSync(empty)).toBe(false);
  });
});

describe('parseFast', () => {
  it.each([
    [['current'], { verb: 'current', opts: {}, service: false }],
    [['ls', '--json', '--quiet'], { verb: 'list', opts: { json: true, quiet: true }, service: false }],
    [['--home', '/h', 'which', '--service'], { verb: 'which', opts: { home: '/h' }, service: true }],
    [['--home=/h', 'current', '--no-color'], { verb: 'current', opts: { home: '/h', color: false }, service: false }],
  ])('%j is answered', (argv, want) => {
    expect(parseFast(argv)).toEqual(want);
  });
  it.each([[[]], [['install']], [['list', '--remote']], [['current', '--service']], [['which', '1.2.3']], [['--home']], [['--home', '--json', 'current']], [['current', '-h']], [['current', '--json=false']], [['-']], [['list', '--home', 'a', '--home', 'b']]])(
    '%j is handed to the full CLI',
    (argv) => {
      expect(parseFast(argv)).toBeNull();
    },
  );
});
