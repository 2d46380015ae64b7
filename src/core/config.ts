/**
 * config.json: what is managed and how. Every field has a default that works
 * for OpenClaw with no configuration; every URL, command and deadline can be
 * overridden here (docs/configuration.md).
 */
import { readJson, writeJsonAtomic } from '../os/fs.js';
import type { Layout } from './layout.js';
import { LAYOUT_VERSION } from './layout.js';

export interface CheckCommand {
  name: string;
  /** Arguments passed to the version's CLI entry (`<node> <bin> ...args`). Offline checks substitute `{prefix}`/`{staging}`/`{version}`; deep checks `{version}`/`{port}`. */
  args: string[];
  timeoutMs?: number;
  /** Exit codes that count as a pass (default [0]). */
  okExitCodes?: number[];
}

export interface HealthConfig {
  /** Liveness probe path or absolute URL; `{port}` is substituted. */
  livenessUrl: string;
  /** Version probe; its JSON must carry `versionField`. */
  versionUrl: string;
  versionField: string;
  readinessUrl?: string;
  responsiveDeadlineMs: number;
  versionDeadlineMs: number;
  deepDeadlineMs: number;
  probeIntervalMs: number;
  deepChecks: CheckCommand[];
  defaultPort: number;
  /** After the gate: consecutive healthy observations spread over a window (docs/upgrade-and-rollback.md#settle). */
  settle: SettleConfig;
}

export interface SettleConfig {
  /** Observations, all of which must be healthy (0 turns the settle stage off). */
  probes: number;
  /** The window is at least this long, and at least the new version's measured canary start. */
  minWindowMs: number;
}

/** The stabilization watch after a committed upgrade (docs/upgrade-and-rollback.md#watch). */
export interface WatchConfig {
  /** How long after the commit the version is watched; 0 turns the watch off. */
  windowMs: number;
  /** How often the service manager runs `recover --auto` (the recovery agent / timer), seconds. */
  intervalS: number;
  /** Restarts by the service manager within the window that count as a crash loop. */
  crashRestarts: number;
  /** How long /readyz may fail before the watch rolls back. */
  readyGraceMs: number;
}

/** Going back across a schema bump (docs/upgrade-and-rollback.md#set-aside). */
export interface StateAsideConfig {
  /**
   * A manual `rollback`/`use` that would set aside databases written more than this long after
   * the upgrade it undoes asks first (a prompt on a terminal; else it refuses without
   * --restore-state). Within it no consent is asked. The automatic rollbacks never ask.
   */
  consentAfterMs: number;
}

export interface ServiceConfig {
  manager?: 'launchd' | 'systemd' | 'process';
  label?: string;
  gatewayArgs?: string[];
  /** How long a stop may drain before SIGKILL. */
  drainMs: number;
  /**
   * `service install|start|restart` wait this long for the gateway to be responsive (a new pid
   * from the current version, its liveness answering 200, as the upgrade gate's first stage) and
   * fail (exit 7) with the end of its log when it is not (docs/service.md#start-gate).
   */
  startDeadlineMs: number;
  /** Path of the definition file (plist / unit) when installed or adopted. */
  definitionPath?: string;
  adopted?: boolean;
  /**
   * Process backend: restart a gateway that exits unexpectedly (like launchd KeepAlive /
   * systemd Restart=always). false turns the supervisor off; fields override the defaults.
   */
  keepAlive?: false | Partial<KeepAliveConfig>;
}

export interface KeepAliveConfig {
  /** First restart delay; doubled per restart inside the window, up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** More than `burst` unexpected exits within `intervalMs`: stop restarting (crash loop). */
  burst: number;
  intervalMs: number;
}

/** A command run with the target version's CLI on the canary's copy of the state. */
export interface PreflightCommand {
  name: string;
  /** `{db}` (the copied database), `{agentId}`, `{stateDir}`, `{config}` and `{version}` are substituted. */
  args: string[];
  /** Run once per copied database: `all`, only the shared `state` one, or only `agent` ones. */
  perDatabase?: 'all' | 'state' | 'agent';
  timeoutMs?: number;
  okExitCodes?: number[];
}

/** The canary: the new version started on a copy of the state before any downtime (docs/upgrade-and-rollback.md#canary). */
export interface CanaryConfig {
  enabled: boolean;
  preflight: PreflightCommand[];
  /** Allowance for /startupz + /readyz = measured start of the current version × this factor ... */
  allowanceFactor: number;
  /** ... but never less than this. */
  minAllowanceMs: number;
  /** Allowance when no start time was measured. */
  defaultAllowanceMs: number;
  /** Default timeout of each preflight command. */
  timeoutMs: number;
  /** SIGTERM → SIGKILL grace when the canary is stopped. */
  stopGraceMs: number;
  /** The canary's port is at least live port + this (OpenClaw uses base..base+110). */
  portOffset: number;
  /** Rehearse on the whole state dir (a clone beside it, else a plain copy up to plainCopyMaxBytes); false: the config, databases and plugins only. */
  wholeState: boolean;
  /** What a start never reads, left out of a whole-state copy: a name (any depth) or a path from the state dir; `*` matches within a name. */
  stateExclude: string[];
  /** Without copy-on-write clones, the whole state is copied plainly only up to this many bytes; above, the selective copy. */
  plainCopyMaxBytes: number;
}

export interface Config {
  layoutVersion: number;
  package: string;
  registry?: string;
  /** Node binary the shims exec (absolute). */
  runtimeNode: string;
  /** Service entry relative to the package root, with fallbacks. */
  serviceEntry: string[];
  lifecycleMarkers: string[];
  inventoryFiles: string[];
  offlineChecks: CheckCommand[];
  smokeTimeoutMs: number;
  secretPattern: string;
  /** OpenClaw state dir scanned for links into version trees. */
  openclawStateDir?: string;
  health: HealthConfig;
  service: ServiceConfig;
  canary: CanaryConfig;
  watch: WatchConfig;
  stateAside: StateAsideConfig;
  /** `oc-versions pin`: upgrade stays inside this version or range unless told --force. */
  pin?: VersionPin;
  /** Managed runtimes (docs/configuration.md#runtimes). */
  runtimes?: RuntimesConfig;
}

/** Where `runtime install` (and install's choice of a node) fetch a node from. */
export interface RuntimesConfig {
  /** Node.js distribution layout (`<mirror>/v<v>/SHASUMS256.txt`); OC_VERSIONS_NODE_MIRROR overrides it, NVM_NODEJS_ORG_MIRROR stands in for it. Default https://nodejs.org/dist. */
  mirror?: string;
  /** `mirror`, `npm` (the registry's `node-<os>-<arch>` packages) or `auto` (default: the mirror, the registry when the mirror cannot be reached). */
  from?: 'mirror' | 'npm' | 'auto';
  /** The node every version installs onto (an absolute path, or an exact version: a managed runtime), as `install --node` does; default: chosen from engines.node. */
  node?: string;
}

export interface VersionPin {
  /** As the user gave it (`2026.3`, `2026.3.1`, `^2026.3`). */
  spec: string;
  /** The semver range it stands for (an exact version is its own range). */
  range: string;
  at: string;
}

export function defaultConfig(runtimeNode: string, pkg = 'openclaw'): Config {
  return {
    layoutVersion: LAYOUT_VERSION,
    package: pkg,
    runtimeNode,
    serviceEntry: ['dist/index.js', 'dist/entry.js'],
    lifecycleMarkers: ['.openclaw-lifecycle-pending'],
    inventoryFiles: ['dist/postinstall-inventory.json', 'dist/postinstall-content-inventory.json'],
    offlineChecks: [],
    smokeTimeoutMs: 30_000,
    secretPattern: 'TOKEN|KEY|SECRET|PASSWORD',
    health: {
      livenessUrl: 'http://127.0.0.1:{port}/healthz',
      versionUrl: 'http://127.0.0.1:{port}/startupz',
      versionField: 'version',
      readinessUrl: 'http://127.0.0.1:{port}/readyz',
      responsiveDeadlineMs: 60_000,
      versionDeadlineMs: 30_000,
      deepDeadlineMs: 120_000,
      probeIntervalMs: 250,
      defaultPort: 18789,
      deepChecks: [
        { name: 'config validate', args: ['config', 'validate', '--json'], timeoutMs: 30_000 },
        { name: 'gateway status', args: ['gateway', 'status', '--json', '--require-rpc', '--timeout', '10000'], timeoutMs: 30_000 },
        { name: 'channels probe', args: ['channels', 'status', '--probe', '--json', '--timeout', '10000'], timeoutMs: 30_000 },
        { name: 'cron status', args: ['cron', 'status'], timeoutMs: 30_000 },
        { name: 'models status', args: ['models', 'status', '--json'], timeoutMs: 30_000 },
      ],
      // OpenClaw's own updater settles on 12 probes.
      settle: { probes: 12, minWindowMs: 10_000 },
    },
    watch: { windowMs: 30 * 60_000, intervalS: 60, crashRestarts: 3, readyGraceMs: 120_000 },
    service: { drainMs: 20_000, startDeadlineMs: 30_000 },
    stateAside: { consentAfterMs: 5 * 60_000 },
    canary: {
      enabled: true,
      preflight: [
        { name: 'doctor lint', args: ['doctor', '--lint', '--json', '--severity-min', 'error'] },
        { name: 'database preflight', args: ['database', 'preflight', '{db}', '--json'], perDatabase: 'state' },
        { name: 'agent database preflight', args: ['database', 'preflight-agent', '{db}', '--agent-id', '{agentId}', '--json'], perDatabase: 'agent' },
      ],
      allowanceFactor: 3,
      minAllowanceMs: 15_000,
      defaultAllowanceMs: 60_000,
      timeoutMs: 60_000,
      stopGraceMs: 5_000,
      portOffset: 120,
      wholeState: true,
      stateExclude: ['logs', 'tmp', 'temp', 'cache', '.cache', '*.log', '*.log.[0-9]*'],
      plainCopyMaxBytes: 256 * 1024 * 1024,
    },
  };
}

/** Deep-merge a stored config over the defaults so new fields get defaults. */
function mergeConfig(base: Config, stored: Partial<Config>): Config {
  return {
    ...base,
    ...stored,
    health: { ...base.health, ...(stored.health ?? {}), settle: { ...base.health.settle, ...(stored.health?.settle ?? {}) } },
    watch: { ...base.watch, ...(stored.watch ?? {}) },
    stateAside: { ...base.stateAside, ...(stored.stateAside ?? {}) },
    service: { ...base.service, ...(stored.service ?? {}) },
    canary: { ...base.canary, ...(stored.canary ?? {}) },
  };
}

export async function loadConfig(layout: Layout, fallbackNode: string, pkg?: string): Promise<Config> {
  const stored = await readJson<Partial<Config>>(layout.config);
  const base = defaultConfig(fallbackNode, pkg ?? stored?.package ?? 'openclaw');
  return stored ? mergeConfig(base, stored) : base;
}

export async function saveConfig(layout: Layout, config: Config): Promise<void> {
  await writeJsonAtomic(layout.config, config, 0o644);
}
