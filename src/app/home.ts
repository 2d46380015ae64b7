/**
 * The home as every mutating verb needs it: created and initialised (config,
 * shims), leftovers of interrupted operations swept, versions resolved from
 * what is installed, and the plain atomic switch of `current`.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError, fromFsError } from '../errors.js';
import { saveConfig } from '../core/config.js';
import { exists, findAtomicTemps } from '../os/fs.js';
import { installShim } from '../core/shims.js';
import { readState, recordHistory, writeState, type State } from '../core/state.js';
import { findDeadOwned, listInstalled, readCurrent, STAGING_DIR, SWAP_TEMP, swapCurrent } from '../core/store.js';
import type { Layout } from '../core/layout.js';
import { parseSpec, maxSatisfying } from '../core/specs.js';
import { installGatewayShim } from '../service/launcher.js';
import { sweepCanary } from '../openclaw/canary.js';
import type { CommandContext } from './context.js';

/** Snapshots and shims being written: `<name>.tmp-<pid>[-<rand>]`. */
const DEAD_TEMP = /\.tmp-(\d+)(?:-[0-9a-f]+)?$/;

/** What an interrupted operation leaves behind, found without touching anything. */
export interface Leftover {
  kind: 'staging' | 'temp';
  dir: string;
  name: string;
}

/**
 * Leftovers of interrupted operations whose writer is dead: staging dirs, temp symlinks of
 * `current`, write-file-atomic temps of our state files and of the process backend's files,
 * snapshots and shims being written. `sweepLeftovers` removes exactly these (and canaries).
 */
export async function findLeftovers(layout: Layout): Promise<Leftover[]> {
  const at = (kind: Leftover['kind'], dir: string) => (names: string[]) => names.map((name) => ({ kind, dir, name }));
  const groups = await Promise.all([
    findDeadOwned(layout.stagingDir, STAGING_DIR).then(at('staging', layout.stagingDir)),
    findDeadOwned(layout.home, SWAP_TEMP).then(at('temp', layout.home)),
    findAtomicTemps(layout.home, [layout.state, layout.config, layout.journal, layout.lockOwner].map((f) => path.basename(f))).then(at('temp', layout.home)),
    // the process backend's pidfile and definition (a SIGKILL mid-write leaves `<file>.<n>`)
    findAtomicTemps(layout.serviceDir, [layout.gatewayPid, layout.processDefinition].map((f) => path.basename(f))).then(at('temp', layout.serviceDir)),
    // a canary's record (`canary/<id>.json`), written only under the lock: its temps are orphans here
    canaryRecordBases(layout.canaryDir).then((bases) => findAtomicTemps(layout.canaryDir, bases)).then(at('temp', layout.canaryDir)),
    findDeadOwned(layout.snapshotsDir, DEAD_TEMP).then(at('temp', layout.snapshotsDir)),
    findDeadOwned(layout.binDir, DEAD_TEMP).then(at('temp', layout.binDir)),
    // a runtime being unpacked (runtime install, or install choosing a node)
    findDeadOwned(layout.runtimesDir, DEAD_TEMP).then(at('temp', layout.runtimesDir)),
    // a lock takeover's claim of a dead holder's owner file, by a process that died claiming it
    findDeadOwned(layout.home, new RegExp(`^${path.basename(layout.lockOwner).replace(/\./g, '\\.')}\\.claim-(\\d+)$`)).then(at('temp', layout.home)),
  ]);
  return groups.flat();
}

/** The record names a write-file-atomic temp in the canary dir belongs to (`<id>.json` of `<id>.json.<n>`). */
async function canaryRecordBases(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return [...new Set(names.map((n) => /^(.+\.json)\.[0-9a-f]+$/i.exec(n)?.[1]).filter((b): b is string => b !== undefined))];
}

export async function removeLeftover(l: Leftover): Promise<void> {
  await fsp.rm(path.join(l.dir, l.name), { recursive: true, force: true });
}

export async function sweepLeftovers(ctx: CommandContext): Promise<string[]> {
  const { layout } = ctx;
  const found = await findLeftovers(layout);
  for (const l of found) await removeLeftover(l);
  const removed = [
    ...found.map((l) => l.name),
    // A canary whose runner died (upgrade or verify --canary killed): its group, copy and record.
    ...(await sweepCanary(layout)).removed,
  ];
  if (removed.length > 0) ctx.out.progress(`removed leftovers of an interrupted operation: ${removed.join(', ')}`);
  return removed;
}

/** Persist config (first mutating use records the runtime node) and render the shims. */
export async function ensureHome(ctx: CommandContext): Promise<void> {
  try {
    // The home holds the service definition's records and snapshots: only its owner reads it.
    await fsp.mkdir(ctx.layout.home, { recursive: true, mode: 0o700 });
    await fsp.mkdir(ctx.layout.versionsDir, { recursive: true });
    await fsp.mkdir(ctx.layout.stagingDir, { recursive: true });
    await fsp.mkdir(ctx.layout.tmpDir, { recursive: true });
  } catch (e) {
    throw fromFsError(e, 'creating the oc-versions home') ?? e;
  }
  if (!(await exists(ctx.layout.config))) await saveConfig(ctx.layout, ctx.config);
  await installShim(ctx.layout, ctx.config.runtimeNode);
  await installGatewayShim(ctx.layout, ctx.config);
}

/** Resolve an installed version from an exact version or range (no network). */
export async function resolveInstalled(ctx: CommandContext, raw: string): Promise<string> {
  const spec = parseSpec(raw);
  const installed = (await listInstalled(ctx.layout)).map((v) => v.version);
  let hit: string | null = null;
  if (spec.kind === 'version') hit = installed.includes(spec.value) ? spec.value : null;
  else if (spec.kind === 'range') hit = maxSatisfying(installed, spec.value);
  else if (spec.kind === 'tag') {
    throw new OcError('INVALID_SPEC', `'${raw}' is a dist-tag; use needs an installed version or range`, {
      hint: 'oc-versions install ' + raw + ' --use',
    });
  }
  if (!hit) {
    throw new OcError('NOT_INSTALLED', `no installed version matches '${raw}'`, {
      hint: installed.length ? `installed: ${installed.join(', ')} (oc-versions install ${raw})` : `nothing is installed yet: oc-versions install ${raw}`,
    });
  }
  return hit;
}

/** Switch current (atomic) and record previous + history. */
export async function switchTo(ctx: CommandContext, version: string, action: string, txid?: string): Promise<State> {
  const from = await readCurrent(ctx.layout);
  await swapCurrent(ctx.layout, version);
  let state = await readState(ctx.layout);
  state = recordHistory({ ...state, current: version, previous: from !== version ? from : state.previous }, { action, from, to: version, ...(txid ? { txid } : {}) });
  delete state.watch;
  await writeState(ctx.layout, state);
  return state;
}
