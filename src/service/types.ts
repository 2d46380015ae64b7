/**
 * One ServiceManager interface, three backends (launchd, systemd, process).
 *
 * A ServiceDefinition is the backend-neutral view of a plist / unit / process
 * definition: the argv the job runs, its inline environment, and `extra`, the
 * backend's own document minus program and environment (so every other key is
 * kept verbatim on rewrite). `extra` never carries env values, which is what
 * lets a definition be redacted by replacing values in `env` alone.
 */
import type { Config } from '../core/config.js';
import type { Layout } from '../core/layout.js';
import type { SecretStore } from '../secrets/types.js';

export type ManagerKind = 'launchd' | 'systemd' | 'process';

export interface ServiceDefinition {
  manager: ManagerKind;
  label: string;
  /** Full argv: program[0] is the executable. */
  program: string[];
  /** Inline environment (plist EnvironmentVariables / unit Environment= / process env). */
  env: Record<string, string>;
  /** Env files the job reads (unit EnvironmentFile= values, `-` prefix kept; env-wrapper .env file). */
  envFiles: string[];
  workingDirectory?: string;
  stdoutPath?: string;
  stderrPath?: string;
  /** Backend document without program/env (plist keys, unit lines); kept verbatim on rewrite. */
  extra: unknown;
}

export interface ServiceStatus {
  manager: ManagerKind;
  label: string;
  /** Whether a definition exists (plist / unit / process.json). */
  installed: boolean;
  running: boolean;
  pid: number | null;
  /** Real path of the script the running process was started with, read from the OS. */
  entry: string | null;
  /** Version directory name when `entry` lies under `<home>/versions/<v>/`. */
  version: string | null;
  definitionPath: string;
  /** Backend-specific state words (launchd `state`, systemd ActiveState/SubState). */
  state?: string;
  restarts?: number;
  lastExitCode?: string;
  /** Restart handoffs accepted by the supervisor (docs/service.md#the-restart-handoff): never restarts above. */
  handoffs?: number;
  /** The last handoff the supervisor consumed, whatever came of it. */
  lastHandoff?: { pid: number; status: string; reason: string | null; action: 'restarted' | 'policy'; at: string; detail: string } | null;
  /**
   * The job keeps exiting and the manager keeps restarting it, or gave up (docs/service.md#crash-loop):
   * the keep-alive's `crash-loop`/`failed-start`, or 2+ unexpected exits within its window; systemd
   * `auto-restart` or `failed`; launchd not running with a non-zero last exit.
   */
  crashLoop?: boolean;
  /** Where the gateway's output goes: a file, or (systemd) the journal command that shows it. */
  log?: string;
}

export interface StopOptions {
  /** How long the job may drain after SIGTERM before it is killed. */
  drainMs?: number;
}

export interface ServiceManager {
  readonly kind: ManagerKind;
  readonly label: string;
  /** Where the definition lives (plist / unit / `<home>/service/process.json`). */
  readonly definitionPath: string;
  /** Write the definition and load/start the job. */
  install(def: ServiceDefinition): Promise<void>;
  /** Stop and unload the job and remove its definition. */
  uninstall(): Promise<void>;
  /**
   * The environment the manager gives the loaded job (launchd: `launchctl print`'s environment
   * block), for where the process's own environment cannot be read (no /proc on macOS). Keys the
   * job's wrapper sources from env files are not in it. null when not loaded.
   */
  loadedEnv?(): Promise<Record<string, string> | null>;
  /** Refuse up front when the manager cannot act for this user (launchd: no GUI domain); nothing is written. */
  ready?(): Promise<void>;
  start(): Promise<void>;
  stop(opts?: StopOptions): Promise<void>;
  /** Restart without unloading the definition (launchd: SIGTERM + drain + kickstart / systemctl restart / stop+start). */
  restart(opts?: StopOptions): Promise<void>;
  status(): Promise<ServiceStatus>;
  /** null when no definition exists; OcError INVALID_INPUT when it is malformed. */
  readDefinition(): Promise<ServiceDefinition | null>;
  /** Write the definition only (no load/reload of a running job beyond what the backend needs). */
  writeDefinition(def: ServiceDefinition): Promise<void>;
  /** Make the manager pick up a rewritten definition (bootout+bootstrap / daemon-reload). */
  reload(): Promise<void>;
  /** The job's recent output from the manager's log (systemd journal), unredacted; '' when none. */
  logTail?(): Promise<string>;
}

export interface ServiceContext {
  /** Environment of the invoking user (HOME, XDG_CONFIG_HOME, PATH for launchctl/systemctl). */
  env: NodeJS.ProcessEnv;
  /** The oc-versions home (process backend files, version detection). */
  layout: Layout;
  label?: string;
  /** Explicit definition path (adopt --plist / --unit). */
  definitionPath?: string;
  uid?: number;
  /** Drain budget (config.service.drainMs): the systemd unit's TimeoutStopSec follows it. */
  drainMs?: number;
  /** The node the home's programs run on (config.runtimeNode): the process backend's supervisor. */
  runtimeNode?: string;
  /** Process backend: the keep-alive supervisor's limits; null = off (config.service.keepAlive). */
  keepAlive?: import('../core/config.js').KeepAliveConfig | null;
  /** Something the user should know that is not an error (launchd: a disabled label enabled and disabled again). */
  note?: (message: string) => void;
}

/** Options a backend's factory takes beyond the context. */
export interface BackendOptions {
  secretStore?: SecretStore;
  secretPattern?: string;
}

/**
 * What oc-versions needs to know about a kind of service manager, besides the
 * ServiceManager it creates. The table of backends (src/service/index.ts) holds one
 * of these per kind: adding a backend is one file exporting one of these, plus its row.
 */
export interface Backend {
  readonly kind: ManagerKind;
  /** The label / unit a new service gets when none is given. */
  readonly defaultLabel: string;
  create(ctx: ServiceContext, opts: BackendOptions): ServiceManager;
  /** Env keys that tell OpenClaw which job it runs as (OPENCLAW_LAUNCHD_LABEL, OPENCLAW_SYSTEMD_UNIT). */
  identityEnv(label: string): Record<string, string>;
  /** stdout/stderr for a new definition when the backend does not choose them itself. */
  defaultLogPath?(env: NodeJS.ProcessEnv): string;
  /** Environment a fresh definition starts from (launchd: PATH with Homebrew first, HOME, TMPDIR). */
  freshEnv?(env: NodeJS.ProcessEnv): Record<string, string>;
  /** The gateway's own log when the definition names none (process backend: under the home). */
  gatewayLog?(layout: Layout): string;
  /** A reloaded definition takes effect only with a restart of the job (systemd). */
  readonly restartAfterReload: boolean;
  /**
   * `service adopt` can take over an existing job of this kind; the label inside
   * the definition file (launchd: the plist's Label; systemd: the file name).
   */
  adopt?: { labelOf(definitionPath: string, env: NodeJS.ProcessEnv): Promise<string> };
  /** A periodic job that runs `recover --auto` so an interrupted upgrade heals with no person. */
  recoveryAgent?: {
    install(layout: Layout, config: Config, env: NodeJS.ProcessEnv): Promise<string>;
    uninstall(layout: Layout, env: NodeJS.ProcessEnv): Promise<void>;
    /** The argv the installed agent runs (node, CLI, `recover` …), or null when none is installed (doctor checks where it lives). */
    program(layout: Layout, env: NodeJS.ProcessEnv): Promise<string[] | null>;
  };
}
