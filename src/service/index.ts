/**
 * Backend selection. Explicit --manager wins, then config.service.manager, then
 * the platform: darwin -> launchd; linux with a reachable user manager
 * (`systemctl --user show-environment` succeeds) -> systemd; else process.
 */
import fs from 'node:fs';
import path from 'node:path';
import { OcError } from '../errors.js';
import type { Config } from '../core/config.js';
import type { Layout } from '../core/layout.js';
import { run } from '../os/proc.js';
import type { SecretStore } from '../secrets/types.js';
import { launchdBackend } from './launchd.js';
import { processBackend } from './process.js';
import { keepAliveConfig } from './keepalive.js';
import { systemdBackend } from './systemd.js';
import type { Backend, ManagerKind, ServiceManager } from './types.js';

export type { Backend, ManagerKind, ServiceDefinition, ServiceManager, ServiceStatus, StopOptions } from './types.js';

/** Every backend, one row each (a new backend: its file, its row, its name in ManagerKind). */
export const BACKENDS: Readonly<Record<ManagerKind, Backend>> = {
  launchd: launchdBackend,
  systemd: systemdBackend,
  process: processBackend,
};

export function backendOf(kind: ManagerKind): Backend {
  return BACKENDS[kind];
}

export interface ServiceSetup {
  layout: Layout;
  config: Config;
  env: NodeJS.ProcessEnv;
}

export interface ManagerOptions {
  label?: string;
  definitionPath?: string;
  secretStore?: SecretStore;
  uid?: number;
  note?: (message: string) => void;
}

export function parseManagerKind(v: string | undefined): ManagerKind | undefined {
  if (v === undefined || v === '') return undefined;
  if (Object.hasOwn(BACKENDS, v)) return v as ManagerKind;
  throw new OcError('INVALID_INPUT', `unknown service manager '${v}' (${Object.keys(BACKENDS).join(', ')})`);
}

/**
 * The platform's manager. With `strict` (a service is being installed or adopted and no
 * --manager was given), a Linux host that has systemctl but whose user manager does not
 * answer is an error that says why (exit 9), not a silent fall back to the process
 * backend: typically an SSH session without XDG_RUNTIME_DIR, or a user without lingering.
 */
export async function detectManagerKind(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform, opts: { strict?: boolean } = {}): Promise<ManagerKind> {
  if (platform === 'darwin') return 'launchd';
  if (platform === 'linux') {
    const r = await run('systemctl', ['--user', 'show-environment'], { env, timeoutMs: 5_000 });
    if (r.code === 0) return 'systemd';
    if (opts.strict && r.error === undefined) throw userManagerUnreachable(env, r.stderr || (r.timedOut ? 'timed out' : `exit ${r.code}`));
  }
  return 'process';
}

function userManagerUnreachable(env: NodeJS.ProcessEnv, stderr: string): OcError {
  const runtime = env['XDG_RUNTIME_DIR'];
  const said = stderr.trim().split('\n')[0] ?? '';
  const why = !runtime
    ? 'XDG_RUNTIME_DIR is not set, so this session has no systemd user manager (typical over SSH after su/sudo, or for a user without lingering)'
    : !env['DBUS_SESSION_BUS_ADDRESS'] && !fs.existsSync(path.join(runtime, 'bus'))
      ? `there is no user bus at ${path.join(runtime, 'bus')}: the user manager is not running (no login session and no lingering)`
      : 'the user manager did not answer';
  return new OcError('ENVIRONMENT', `systemctl --user cannot reach the user manager: ${why}${said ? ` (systemctl: ${said})` : ''}`, {
    hint:
      'enable lingering so the user manager runs without a login (sudo loginctl enable-linger $USER), log in again or export XDG_RUNTIME_DIR=/run/user/$(id -u), then retry; ' +
      'or choose explicitly: --manager systemd, or --manager process (no service manager: oc-versions runs the gateway under its own keep-alive)',
  });
}

/**
 * The label a new service gets. launchd/systemd: OpenClaw's own name (what its tooling and
 * `adopt` expect). The process backend's label names only secret-store entries and is
 * always the home's own (`ai.openclaw.gateway.<homeTag>`), so two homes never share a secret.
 */
export function defaultLabel(kind: ManagerKind, layout?: Layout): string {
  if (kind === 'process' && layout) return `${BACKENDS.process.defaultLabel}.${layout.homeTag}`;
  return BACKENDS[kind].defaultLabel;
}

/** The home's own launchd label / systemd unit, for a second home on one user account. */
export function homeLabel(kind: ManagerKind, layout: Layout): string {
  if (kind === 'systemd') return BACKENDS.systemd.defaultLabel.replace(/\.service$/, `-${layout.homeTag}.service`);
  return `${BACKENDS[kind].defaultLabel}.${layout.homeTag}`;
}

export async function createServiceManager(
  kind: ManagerKind | undefined,
  setup: ServiceSetup,
  opts: ManagerOptions = {},
): Promise<ServiceManager> {
  const chosen = kind ?? setup.config.service.manager ?? (await detectManagerKind(setup.env));
  const label = opts.label ?? setup.config.service.label;
  const ctx = {
    env: setup.env,
    layout: setup.layout,
    ...(label !== undefined ? { label } : {}),
    ...(opts.definitionPath !== undefined ? { definitionPath: opts.definitionPath } : {}),
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.note ? { note: opts.note } : {}),
    drainMs: setup.config.service.drainMs,
    runtimeNode: setup.config.runtimeNode,
    keepAlive: keepAliveConfig(setup.config.service.keepAlive),
  };
  return BACKENDS[chosen].create(ctx, {
    secretPattern: setup.config.secretPattern,
    ...(opts.secretStore ? { secretStore: opts.secretStore } : {}),
  });
}
