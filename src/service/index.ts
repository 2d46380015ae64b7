/**
 * Backend selection. Explicit --manager wins, then config.service.manager, then
 * the platform: darwin -> launchd; linux with a reachable user manager
 * (`systemctl --user show-environment` succeeds) -> systemd; else process.
 */
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
}

export function parseManagerKind(v: string | undefined): ManagerKind | undefined {
  if (v === undefined || v === '') return undefined;
  if (Object.hasOwn(BACKENDS, v)) return v as ManagerKind;
  throw new OcError('INVALID_INPUT', `unknown service manager '${v}' (${Object.keys(BACKENDS).join(', ')})`);
}

export async function detectManagerKind(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): Promise<ManagerKind> {
  if (platform === 'darwin') return 'launchd';
  if (platform === 'linux') {
    const r = await run('systemctl', ['--user', 'show-environment'], { env, timeoutMs: 5_000 });
    if (r.code === 0) return 'systemd';
  }
  return 'process';
}

export function defaultLabel(kind: ManagerKind): string {
  return BACKENDS[kind].defaultLabel;
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
    drainMs: setup.config.service.drainMs,
    keepAlive: keepAliveConfig(setup.config.service.keepAlive),
  };
  return BACKENDS[chosen].create(ctx, {
    secretPattern: setup.config.secretPattern,
    ...(opts.secretStore ? { secretStore: opts.secretStore } : {}),
  });
}
