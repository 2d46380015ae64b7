/**
 * Pre-promotion validation: prove that an installed tree can run before it is
 * sealed (and so before it can ever become `current`). Every check is reported
 * separately; a failed check is a result, never a throw. docs/validation.md
 * describes each check and its messages.
 *
 * Ordering: the five structural checks (entrypoints, inventory, import-closure,
 * runtime, lifecycle) never execute package code, so they run concurrently and
 * are reported in their fixed order. Smoke and offline checks execute the
 * package's own code; they run only when every structural check passed,
 * because OpenClaw's entry finishes a pending lifecycle on first run and would
 * otherwise write into the staged tree we are judging. An install may hand in the smoke run's
 * node already booted and parked before any of the package's code (`smokeStandby`); it is let go
 * under the same rule.
 */
import type fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from './config.js';
import { errText, oneLine, safeRelative, type Outcome } from './checks/common.js';
import { checkImportClosure, lexingThreads } from './checks/import-closure.js';
import { checkInventory, inventoryThreads } from './checks/inventory.js';
import { readManifest, resolveEntries, type Entries, type Manifest } from './checks/package.js';
import { checkOfflineCommands, checkRuntime, checkSmoke, type SmokeStandby } from './checks/run-package.js';

export type CheckName =
  | 'entrypoints'
  | 'inventory'
  | 'import-closure'
  | 'runtime'
  | 'lifecycle'
  | 'smoke'
  | 'offline-checks';

export interface CheckResult {
  name: CheckName;
  ok: boolean;
  detail: string;
  ms: number;
  skipped?: boolean;
}

export interface ValidationReport {
  version: string;
  ok: boolean;
  checks: CheckResult[];
}

export interface ValidateInput {
  /** `<prefix>/node_modules/<name>` */
  packageDir: string;
  /** The install prefix (staging or versions/<v>). */
  prefix: string;
  expectedVersion: string;
  /** Absolute node binary the shim will run. */
  runtimeNode: string;
  config: Pick<Config, 'serviceEntry' | 'lifecycleMarkers' | 'inventoryFiles' | 'offlineChecks' | 'smokeTimeoutMs'>;
  /** Where isolated HOME dirs for smoke/offline checks may be created. */
  tmpDir: string;
  /** Progress callback, called once per check in report order (the core never prints). */
  onCheck?: (r: CheckResult) => void;
  /** Checks not to run: reported `skipped: true, ok: true` with the reason. */
  skip?: CheckName[];
  /**
   * The smoke run's node, already booted and parked (prebootSmoke): used by the smoke check when
   * it was started for the file the check runs. The caller disposes of it.
   */
  smokeStandby?: SmokeStandby;
}

export const CHECK_ORDER: readonly CheckName[] = [
  'entrypoints',
  'inventory',
  'import-closure',
  'runtime',
  'lifecycle',
  'smoke',
  'offline-checks',
];

const STRUCTURAL: readonly CheckName[] = ['entrypoints', 'inventory', 'import-closure', 'runtime', 'lifecycle'];

const SKIP_REASON: Record<CheckName, string> = {
  entrypoints: 'skipped on request',
  inventory: 'skipped on request',
  'import-closure': 'skipped on request',
  runtime: 'skipped on request',
  lifecycle: 'skipped on request: lifecycle scripts were not run for this install (--ignore-scripts)',
  smoke: 'skipped on request',
  'offline-checks': 'skipped on request',
};


// ---------------------------------------------------------------------------
// public API

export async function validateTree(input: ValidateInput): Promise<ValidationReport> {
  const skip = new Set(input.skip ?? []);
  const manifest = await readManifest(input.packageDir);
  const entries = await resolveEntries(input.packageDir, manifest, input.config.serviceEntry);

  // The inventory and the import-closure walk run at the same time, each with threads of its own
  // for a large package. The walk gets only the cores the inventory's hashing threads leave: none
  // on 2–5 cores. Measured on 2 cores, the real 2026.9.6's two checks at once in a fresh process
  // (7 runs each): ≈ 1.35 s with the walk on its thread alone, ≈ 1.39 s with a lexing thread
  // beside the hashing one, ≈ 1.39 s with one started once the inventory was done.
  const walkThreads = { threads: closureThreads(os.availableParallelism(), !skip.has('inventory')) };
  const structural: Record<string, () => Promise<CheckResult>> = {
    entrypoints: () => timed('entrypoints', () => checkEntrypoints(input, manifest, entries)),
    inventory: () => timed('inventory', () => checkInventory(input.packageDir, input.config.inventoryFiles)),
    'import-closure': () => timed('import-closure', () => checkImportClosure(input.packageDir, input.prefix, entries, walkThreads)),
    runtime: () => timed('runtime', () => checkRuntime(input.runtimeNode, manifest)),
    lifecycle: () => timed('lifecycle', () => checkLifecycle(input.packageDir, input.config.lifecycleMarkers)),
  };

  const checks: CheckResult[] = [];
  const emit = (r: CheckResult): void => {
    checks.push(r);
    input.onCheck?.(r);
  };

  // Start all structural checks at once; emit in the fixed order.
  const started = STRUCTURAL.map((name) => (skip.has(name) ? Promise.resolve(skipped(name)) : structural[name]!()));
  for (const p of started) emit(await p);

  const broken = checks.filter((c) => !c.ok).map((c) => c.name);
  for (const name of ['smoke', 'offline-checks'] as const) {
    if (skip.has(name)) {
      emit(skipped(name));
    } else if (broken.length > 0) {
      emit({ name, ok: false, skipped: true, ms: 0, detail: `not run: ${broken.join(', ')} failed` });
    } else if (name === 'smoke') {
      emit(await timed('smoke', () => checkSmoke(input, entries, input.smokeStandby)));
    } else {
      emit(await timed('offline-checks', () => checkOfflineCommands(input, entries)));
    }
  }

  return { version: input.expectedVersion, ok: checks.every((c) => c.ok), checks };
}

/**
 * Lexing threads for the import-closure walk on a machine with `cores` cores: one per core but
 * one (at most 3), less the inventory's hashing threads when the inventory runs beside it.
 */
export function closureThreads(cores: number, inventoryRuns: boolean): number {
  return lexingThreads(cores, inventoryRuns ? inventoryThreads(cores) : 0);
}

/** The first check that failed and actually ran (a check not run because of it comes later). */
export function firstFailure(r: ValidationReport): CheckResult | undefined {
  return r.checks.find((c) => !c.ok && !c.skipped) ?? r.checks.find((c) => !c.ok);
}

/** One line `<check>: <detail>` for the first failure; '' when the report passed. */
export function formatFailure(r: ValidationReport): string {
  const f = firstFailure(r);
  return f ? `${f.name}: ${oneLine(f.detail)}` : '';
}

// ---------------------------------------------------------------------------
// plumbing


async function timed(name: CheckName, fn: () => Promise<Outcome>): Promise<CheckResult> {
  const t0 = performance.now();
  let out: Outcome;
  try {
    out = await fn();
  } catch (e) {
    // A check that cannot complete is a failed check, not a crash of the whole validation.
    out = { ok: false, detail: `check could not run: ${errText(e)}` };
  }
  return { name, ok: out.ok, detail: out.detail, ms: Math.round(performance.now() - t0) };
}

function skipped(name: CheckName): CheckResult {
  return { name, ok: true, skipped: true, ms: 0, detail: SKIP_REASON[name] };
}











// ---------------------------------------------------------------------------
// 1. entrypoints

async function checkEntrypoints(input: ValidateInput, manifest: Manifest, entries: Entries): Promise<Outcome> {
  if (!manifest.ok) return { ok: false, detail: manifest.error ?? 'package.json: invalid' };
  const problems: string[] = [];
  if (manifest.version !== input.expectedVersion) {
    problems.push(`package.json version is ${manifest.version ?? '(none)'}, expected ${input.expectedVersion}`);
  }
  for (const u of entries.unsafeBins) problems.push(`bin ${u}: path leaves the package`);
  for (const b of entries.bins) {
    const problem = await fileProblem(b.abs, true);
    if (problem) problems.push(`bin ${b.command} (${b.rel}): ${problem}`);
  }
  if (!entries.service) {
    const tried = input.config.serviceEntry;
    const first = tried[0] ?? '(none configured)';
    // Say why the first candidate was rejected (missing, dangling link, directory…).
    const why = tried[0] ? ((await fileProblem(path.join(input.packageDir, tried[0]), false)) ?? 'unusable') : 'not configured';
    problems.push(`service entry ${first}: ${why}${tried.length > 1 ? ` (also tried ${tried.slice(1).join(', ')})` : ''}`);
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    return { ok: false, detail: `${problems[0]}${more}` };
  }
  const binList = entries.bins.map((b) => b.rel).join(', ') || 'no bin';
  return { ok: true, detail: `${binList}; service entry ${entries.service!.rel}` };
}

/** Why `p` cannot serve as an entry file, or undefined when it can. */
async function fileProblem(p: string, mustBeExecutable: boolean): Promise<string | undefined> {
  let lst: fs.Stats;
  try {
    lst = await fsp.lstat(p);
  } catch {
    return 'missing';
  }
  let st: fs.Stats;
  try {
    st = await fsp.stat(p);
  } catch {
    return lst.isSymbolicLink() ? 'dangling symlink' : 'unreadable';
  }
  if (!st.isFile()) return st.isDirectory() ? 'is a directory, not a file' : 'not a regular file';
  if (mustBeExecutable && (st.mode & 0o111) === 0) return `not executable (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

// ---------------------------------------------------------------------------
// 5. lifecycle

async function checkLifecycle(packageDir: string, markers: readonly string[]): Promise<Outcome> {
  for (const m of markers) {
    const rel = safeRelative(m);
    if (rel === undefined) continue;
    try {
      await fsp.lstat(path.join(packageDir, rel));
      return { ok: false, detail: `${rel} is present: the package's install scripts did not complete` };
    } catch {
      // absent: good
    }
  }
  return { ok: true, detail: markers.length ? `no ${markers.join(', ')}` : 'no lifecycle markers configured' };
}

