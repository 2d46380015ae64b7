/**
 * Checks that execute code: the runtime node itself (its version against
 * engines.node), and the package's own CLI (`--version` smoke, configured offline
 * checks), each in a throwaway HOME with a minimal environment so the package
 * cannot touch the user's state.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import semver from 'semver';
import type { CheckCommand } from '../config.js';
import { run, runParked, type RunResult } from '../../os/proc.js';
import { sealEnv } from '../../os/sealed-home.js';
import { readStandbyImport } from '../shims.js';
import { describeExit, lastLine, runCheckCommand } from './command.js';
import { plural, type Outcome } from './common.js';
import type { Entries, Manifest } from './package.js';

/** What the package-running checks need of the validation input. */
export interface RunInput {
  prefix: string;
  expectedVersion: string;
  runtimeNode: string;
  tmpDir: string;
  config: { offlineChecks: readonly CheckCommand[]; smokeTimeoutMs: number };
}

const CHILD_OUTPUT_CAP = 256 * 1024;

const nodeVersions = new Map<string, Promise<RunResult>>();

/**
 * `<node> -p process.version`, run once per node binary and command: the runtime
 * check and the seal both need it. When the runtime node is the binary running
 * oc-versions (the default), this process already is that node: its own version
 * is the answer and no child is spawned.
 */
export function probeNodeVersion(runtimeNode: string): Promise<RunResult> {
  let p = nodeVersions.get(runtimeNode);
  if (!p) {
    p = isThisNode(runtimeNode)
      ? Promise.resolve({ code: 0, signal: null, stdout: `${process.version}\n`, stderr: '', timedOut: false, ms: 0 })
      : run(runtimeNode, ['-p', 'process.version'], { env: minimalEnv(runtimeNode), timeoutMs: 15_000, maxOutput: 4096 });
    nodeVersions.set(runtimeNode, p);
  }
  return p;
}

function isThisNode(runtimeNode: string): boolean {
  try {
    return fs.realpathSync(runtimeNode) === fs.realpathSync(process.execPath);
  } catch {
    return false;
  }
}

export async function checkRuntime(runtimeNode: string, manifest: Manifest): Promise<Outcome> {
  const r = await probeNodeVersion(runtimeNode);
  const version = r.stdout.trim();
  if (r.error || r.code !== 0 || !semver.valid(version)) {
    return { ok: false, detail: `runtime node ${runtimeNode} does not run: ${describeExit(r)}` };
  }
  const range = manifest.enginesNode;
  if (range === undefined) return { ok: true, detail: `node ${version}; package declares no engines.node` };
  if (semver.validRange(range) === null) return { ok: false, detail: `engines.node ${JSON.stringify(range)} is not a valid range` };
  if (!semver.satisfies(version, range, { includePrerelease: false })) {
    return { ok: false, detail: `node ${version} (${runtimeNode}) does not satisfy engines.node ${JSON.stringify(range)}` };
  }
  return { ok: true, detail: `node ${version} satisfies engines.node ${JSON.stringify(range)}` };
}

/** PATH for children: the runtime node's directory first, then the system's; never the caller's environment. */
function minimalEnv(runtimeNode: string): NodeJS.ProcessEnv {
  return { PATH: [path.dirname(runtimeNode), '/usr/local/bin', '/usr/bin', '/bin'].join(path.delimiter) };
}

/** A throwaway HOME under tmpDir, and the environment that keeps the package inside it. */
async function isolatedHome(tmpDir: string, runtimeNode: string): Promise<{ home: string; env: NodeJS.ProcessEnv; remove(): Promise<void> }> {
  await fsp.mkdir(tmpDir, { recursive: true });
  const home = await fsp.mkdtemp(path.join(tmpDir, 'oc-validate-'));
  const remove = () => fsp.rm(home, { recursive: true, force: true }).catch(() => undefined);
  try {
    const stateDir = path.join(home, '.openclaw');
    await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
    const env: NodeJS.ProcessEnv = await sealEnv(
      {
        ...minimalEnv(runtimeNode),
        OPENCLAW_STATE_DIR: stateDir,
        OPENCLAW_CONFIG_PATH: path.join(stateDir, 'openclaw.json'),
        OPENCLAW_NO_AUTO_UPDATE: '1',
        OPENCLAW_DISABLE_BONJOUR: '1',
        OPENCLAW_OFFLINE: '1',
        DO_NOT_TRACK: '1',
        NO_COLOR: '1',
        NO_UPDATE_NOTIFIER: '1',
      },
      home,
      path.join(home, 'tmp'),
    );
    return { home, env, remove };
  } catch (e) {
    await remove();
    throw e;
  }
}

async function withIsolatedHome<T>(tmpDir: string, runtimeNode: string, fn: (home: string, env: NodeJS.ProcessEnv) => Promise<T>): Promise<T> {
  const h = await isolatedHome(tmpDir, runtimeNode);
  try {
    return await fn(h.home, h.env);
  } finally {
    await h.remove();
  }
}

/**
 * The smoke run's node, started early and parked at the standby barrier (shims/standby.mjs)
 * before any code of the package: an install starts it once the package is extracted, so node
 * boots while the lifecycle scripts and the structural checks run, and the smoke run then costs
 * only the package's own `--version`. It is the same command in the same kind of isolated HOME;
 * the barrier removes itself from execArgv and the environment before the package's code runs
 * (docs/validation.md, "smoke"). Nothing of the package runs unless the smoke check lets it go.
 */
export interface SmokeStandby {
  /** The file it will run (the smoke check uses it only for this same file). */
  readonly cli: string;
  readonly pid: number | undefined;
  /** True once node is up and parked; false if it ended first. */
  readonly parked: Promise<boolean>;
  /** Run it (`--version`) with this timeout; null when it never parked (the caller runs it plainly). */
  run(timeoutMs: number): Promise<RunResult | null>;
  /** Release it unless it ran, and remove its HOME. Safe to call more than once. */
  dispose(): Promise<void>;
}

export async function prebootSmoke(tmpDir: string, runtimeNode: string, cliAbs: string): Promise<SmokeStandby> {
  const [h, barrier] = await Promise.all([isolatedHome(tmpDir, runtimeNode), readStandbyImport()]);
  const parkedRun = runParked(runtimeNode, ['--import', barrier, cliAbs, '--version'], { cwd: h.home, env: h.env, maxOutput: CHILD_OUTPUT_CAP });
  let disposed: Promise<void> | undefined;
  return {
    cli: cliAbs,
    pid: parkedRun.pid,
    parked: parkedRun.parked,
    async run(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const parked = await Promise.race([parkedRun.parked, new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
      clearTimeout(timer);
      if (!parked) {
        await parkedRun.release();
        return null;
      }
      return parkedRun.go(timeoutMs);
    },
    dispose() {
      disposed ??= (async () => {
        await parkedRun.release();
        await h.remove();
      })();
      return disposed;
    },
  };
}

function mentionsVersion(stdout: string, version: string): boolean {
  const v = version.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // `2026.9.6` must not match inside `2026.9.60` or `2026.9.6-beta.1`.
  return new RegExp(`(^|[^0-9A-Za-z.+-])v?${v}(?![0-9A-Za-z+-]|\\.[0-9A-Za-z])`).test(stdout);
}

/** `node <cli> --version` in an isolated HOME: through `standby` when it was started for this file. */
export async function checkSmoke(input: RunInput, entries: Entries, standby?: SmokeStandby): Promise<Outcome> {
  const cli = entries.cli;
  if (!cli) return { ok: false, detail: 'no bin or service entry to run' };
  const timeoutMs = input.config.smokeTimeoutMs;
  const r =
    (standby?.cli === cli.abs ? await standby.run(timeoutMs) : null) ??
    (await withIsolatedHome(input.tmpDir, input.runtimeNode, (home, env) =>
      run(input.runtimeNode, [cli.abs, '--version'], { cwd: home, env, timeoutMs, maxOutput: CHILD_OUTPUT_CAP }),
    ));
  const cmd = `node ${cli.rel} --version`;
  if (r.error || r.timedOut || r.code !== 0) return { ok: false, detail: `${cmd}: ${describeExit(r, timeoutMs)}` };
  if (!mentionsVersion(r.stdout, input.expectedVersion)) {
    const said = lastLine(r.stdout) || '(nothing)';
    return { ok: false, detail: `${cmd}: printed ${JSON.stringify(said)}, expected version ${input.expectedVersion}` };
  }
  return { ok: true, detail: `${cmd} reported ${input.expectedVersion} in ${r.ms} ms` };
}

function substitute(arg: string, input: RunInput): string {
  return arg.replaceAll('{prefix}', input.prefix).replaceAll('{staging}', input.prefix).replaceAll('{version}', input.expectedVersion);
}

export async function checkOfflineCommands(input: RunInput, entries: Entries): Promise<Outcome> {
  const checks: readonly CheckCommand[] = input.config.offlineChecks;
  if (checks.length === 0) return { ok: true, detail: 'none configured' };
  const cli = entries.cli;
  if (!cli) return { ok: false, detail: 'no bin or service entry to run' };
  const failures: string[] = [];
  for (const c of checks) {
    const r = await withIsolatedHome(input.tmpDir, input.runtimeNode, (home, env) =>
      runCheckCommand(input.runtimeNode, cli.abs, c, {
        env,
        cwd: home,
        defaultTimeoutMs: input.config.smokeTimeoutMs,
        substitute: (a) => substitute(a, input),
        maxOutput: CHILD_OUTPUT_CAP,
      }),
    );
    if (!r.ok) failures.push(`${c.name} (${[cli.rel, ...c.args].join(' ')}): ${r.detail}`);
  }
  if (failures.length > 0) {
    const more = failures.length > 1 ? ` (and ${failures.length - 1} more of ${checks.length})` : '';
    return { ok: false, detail: `${failures[0]}${more}` };
  }
  return { ok: true, detail: `${plural(checks.length, 'check')} passed: ${checks.map((c) => c.name).join(', ')}` };
}
