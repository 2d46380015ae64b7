/**
 * install: plan (pure: what to do) then apply (stage → check → seal → promote).
 * The old gateway keeps serving throughout: nothing here touches versions/* or
 * `current` until the one rename that publishes a sealed version.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError, fromFsError } from '../errors.js';
import {
  installTree,
  fetchPackument,
  type RegistryOptions,
  type ResolvedPackage,
  type TarEntry,
} from '../registry/index.js';
import type { Config } from './config.js';
import type { Layout } from './layout.js';
import { startFlusher, type Flusher } from '../os/proc.js';
import { prebootSmoke, probeNodeVersion, type SmokeStandby } from './checks/run-package.js';
import { readManifest, resolveEntries } from './checks/package.js';
import {
  checkTarballFiles,
  listInstalled,
  readCurrent,
  freeBytes,
  inventoryDigest,
  makeStagingDir,
  packageDirOf,
  pickBin,
  pickServiceEntry,
  readSeal,
  sealAndPromote,
  writeEntryFiles,
  type Seal,
  type SealedRuntime,
} from './store.js';
import { dedupeAgainst, inventoryHashes } from './dedupe.js';
import { formatFailure, validateTree, type CheckResult, type ValidationReport } from './validate.js';
import { pickVersion, type ParsedSpec } from './specs.js';
import { sortNewestFirst } from './versions.js';
import { SILENT, type ProgressSink } from './progress.js';
import { installFault } from './faults.js';

export interface InstallOptions {
  layout: Layout;
  config: Config;
  pkg: string;
  registry: RegistryOptions;
  ignoreScripts: boolean;
  /** Phases (resolve, tree, download, lifecycle, validate, seal), bytes and each check. */
  out?: ProgressSink;
  /** The node this version runs on (src/app/version-node.ts); default config.runtimeNode. */
  runtime?: SealedRuntime;
}

export interface InstallResult {
  version: string;
  path: string;
  alreadyInstalled: boolean;
  validation?: ValidationReport;
}

/** The registry's packument, the version picked in OpenClaw's ordering. */
async function resolveSpec(opts: InstallOptions, spec: ParsedSpec): Promise<ResolvedPackage> {
  const out = opts.out ?? SILENT;
  out.phase('resolve', `resolving ${opts.pkg}@${spec.raw}`);
  const doc = await fetchPackument(opts.pkg, opts.registry, `resolving ${opts.pkg}@${spec.raw}`, { preloadInstaller: true });
  const versions = Object.keys(doc.versions);
  const version = pickVersion(spec, versions, doc.distTags);
  const m = version ? doc.versions[version] : undefined;
  if (!version || !m) {
    const newest = sortNewestFirst(versions).slice(0, 3).join(', ');
    throw new OcError('VERSION_NOT_FOUND', `${opts.pkg}@${spec.raw} is not in the registry`, {
      hint: newest ? `newest available: ${newest} (oc-versions list --remote)` : 'the registry has no versions of this package',
    });
  }
  out.end(version === spec.raw ? undefined : `${spec.raw} is ${version}`);
  return { name: opts.pkg, version, integrity: m.integrity, resolved: m.tarball, engines: m.engines };
}

/** Resolve a spec: an exact version already installed needs no network. */
export async function resolveForInstall(opts: InstallOptions, spec: ParsedSpec): Promise<ResolvedPackage & { installed: boolean }> {
  if (spec.kind === 'version') {
    const seal = await readSeal(opts.layout, spec.value);
    if (seal && seal.package === opts.pkg) {
      return { name: opts.pkg, version: spec.value, integrity: seal.integrity ?? undefined, resolved: seal.resolved ?? undefined, engines: seal.engines ?? undefined, installed: true };
    }
  }
  const r = await resolveSpec(opts, spec);
  const seal = await readSeal(opts.layout, r.version);
  return { ...r, installed: Boolean(seal && seal.package === opts.pkg) };
}

async function nodeVersion(node: string): Promise<string | null> {
  const r = await probeNodeVersion(node);
  return r.code === 0 ? r.stdout.trim() : null;
}

/** Stage, check, validate, seal and publish one version. Caller holds the lock. */
export async function stageVersion(opts: InstallOptions, resolved: ResolvedPackage): Promise<InstallResult> {
  const { layout } = opts;
  // Everything below (lifecycle scripts, validation, the smoke run, the seal) runs on the version's own node.
  const config = opts.runtime ? { ...opts.config, runtimeNode: opts.runtime.node } : opts.config;
  const out = opts.out ?? SILENT;
  const staging = await makeStagingDir(layout, resolved.version);
  const packageDir = packageDirOf(staging, opts.pkg);
  let smoke: Promise<SmokeStandby | undefined> | undefined;
  let flusher: Flusher | undefined;
  let settled = false;
  const flush = () => (flusher ??= startFlusher(staging)).flush();
  try {
    let entries: TarEntry[] = [];
    // The seal and the runtime check need the runtime node's version: ask while arborist works.
    void probeNodeVersion(config.runtimeNode);
    out.progress(`installing ${opts.pkg}@${resolved.version} into staging (with its dependency tree)`);
    await installTree({
      ...opts.registry,
      progress: out,
      prefix: staging,
      pkg: resolved,
      runScripts: !opts.ignoreScripts,
      runtimeNodeDir: path.dirname(config.runtimeNode),
      beforeScripts: async (listed) => {
        // Before lifecycle scripts can legitimately remove anything (OpenClaw's
        // postinstall deletes its pending marker), every tarball file must be on disk
        // with its size: pacote can report success on a full disk.
        entries = listed;
        const { missing, wrongSize } = await checkTarballFiles(packageDir, entries, new Set());
        if (missing.length + wrongSize.length > 0) {
          const free = await freeBytes(staging);
          const first = missing[0] ?? wrongSize[0];
          if (free !== null && free < 4 * 1024 * 1024) {
            throw new OcError('DISK_FULL', `no space left while extracting ${opts.pkg}@${resolved.version} (${first} is incomplete)`, {
              hint: 'free some disk space (oc-versions prune removes old versions) and try again',
            });
          }
          throw new OcError('CORRUPT_TARBALL', `${opts.pkg}@${resolved.version}: ${missing.length} file(s) missing and ${wrongSize.length} with the wrong size after extraction (first: ${first})`, {
            hint: 'nothing was installed; try again (the extraction was incomplete)',
          });
        }
        // The package is on disk: boot the smoke run's node now, parked before any of the
        // package's code, so its start overlaps the lifecycle scripts and the checks.
        smoke = startSmoke(packageDir, config, layout.tmpDir);
        // The flusher's one fork, on the next turn: after arborist starts the lifecycle scripts,
        // while this thread waits for them.
        setImmediate(() => {
          if (!settled) flusher ??= startFlusher(staging);
        });
      },
    });
    const pkgJson = JSON.parse(await fsp.readFile(path.join(packageDir, 'package.json'), 'utf8')) as {
      name?: string;
      version?: string;
      bin?: string | Record<string, string>;
      engines?: Record<string, string>;
    };
    if (pkgJson.version !== resolved.version) {
      throw new OcError('VALIDATION_FAILED', `installed package says version ${pkgJson.version}, expected ${resolved.version}`);
    }
    const bin = pickBin(pkgJson);
    const serviceEntry = pickServiceEntry(packageDir, config, bin);
    if (!bin || !serviceEntry) {
      throw new OcError('VALIDATION_FAILED', `entrypoints: ${opts.pkg}@${resolved.version} has no bin and no service entry (${config.serviceEntry.join(', ')})`, {
        hint: 'this package cannot be run by oc-versions; check --package',
      });
    }
    await writeEntryFiles(staging, opts.pkg, bin, serviceEntry, opts.runtime && opts.runtime.kind !== 'home' ? opts.runtime.node : undefined);
    // Start writing the staged tree back to disk while the checks read it from the page cache;
    // the sync before the seal then has little left to do.
    const flushing = flush();
    out.phase('validate', `validating ${resolved.version}`);
    await installFault('install/validate');
    const report = await validateTree({
      packageDir,
      prefix: staging,
      expectedVersion: resolved.version,
      runtimeNode: config.runtimeNode,
      config,
      tmpDir: layout.tmpDir,
      onCheck: (r) => out.check(r),
      smokeStandby: await smoke,
    });
    out.end();
    if (!report.ok) {
      throw new OcError('VALIDATION_FAILED', `${opts.pkg}@${resolved.version} failed validation: ${formatFailure(report)}`, {
        hint: 'the staged install was discarded; current and the running gateway are untouched',
        details: { validation: report },
      });
    }
    // Identical files of the current (or newest) installed version cost disk once where the
    // filesystem can clone; the staged tree is not sealed yet, so replacing files is allowed.
    out.phase('seal', `sealing ${resolved.version} and moving it into versions/`);
    await installFault('install/seal');
    const base = (await readCurrent(layout)) ?? (await listInstalled(layout))[0]?.version ?? null;
    if (base) {
      // The inventory check just hashed the package's own files: those hashes need not be computed again.
      const inventoryOk = report.checks.some((c) => c.name === 'inventory' && c.ok && !c.skipped);
      const verified = inventoryOk ? await inventoryHashes(staging, packageDir, config.inventoryFiles) : undefined;
      const d = await dedupeAgainst(staging, layout.version(base), verified ? { verified } : {});
      if (d.cloned > 0) out.progress(`shared ${d.cloned} identical file(s) (${Math.round(d.bytes / 1024 / 1024)} MB) with ${base} by reflink`);
    }
    const seal: Seal = {
      sealVersion: 1,
      package: opts.pkg,
      version: resolved.version,
      integrity: resolved.integrity ?? null,
      resolved: resolved.resolved ?? null,
      node: config.runtimeNode,
      nodeVersion: await nodeVersion(config.runtimeNode),
      engines: pkgJson.engines ?? null,
      ...(opts.runtime ? { runtime: { node: opts.runtime.node, version: opts.runtime.version, kind: opts.runtime.kind } } : {}),
      inventoryDigest: inventoryDigest(entries),
      files: entries.length,
      bin: path.relative(staging, path.join(packageDir, bin)),
      serviceEntry: path.relative(staging, path.join(packageDir, serviceEntry)),
      lifecycle: opts.ignoreScripts ? 'skipped' : 'completed',
      sealedAt: new Date().toISOString(),
    };
    // The seal promises complete files: flush the staged tree to disk first, so a power loss
    // after the seal cannot leave a "sealed" version with empty files (syncfs where available).
    await flushing;
    await flush();
    const outcome = await sealAndPromote(layout, staging, seal);
    out.end();
    return { version: resolved.version, path: layout.version(resolved.version), alreadyInstalled: outcome === 'exists', validation: report };
  } catch (e) {
    await fsp.rm(staging, { recursive: true, force: true }).catch(() => {});
    throw fromFsError(e, `installing ${opts.pkg}@${resolved.version}`) ?? e;
  } finally {
    settled = true;
    flusher?.close();
    await (await smoke)?.dispose();
  }
}

/**
 * The smoke run's node, booted ahead and parked (checks/run-package.ts, prebootSmoke) for the file
 * the smoke check will run as the package stands now; undefined when there is none or it cannot
 * start (the check then runs it as before).
 */
async function startSmoke(packageDir: string, config: Config, tmpDir: string): Promise<SmokeStandby | undefined> {
  try {
    const manifest = await readManifest(packageDir);
    if (!manifest.ok) return undefined;
    const cli = (await resolveEntries(packageDir, manifest, config.serviceEntry)).cli;
    return cli ? await prebootSmoke(tmpDir, config.runtimeNode, cli.abs) : undefined;
  } catch {
    return undefined;
  }
}
