/**
 * Backend selection. Explicit --manager wins, then config.service.manager, then
 * the platform: darwin -> launchd; linux with a reachable user manager
 * (`systemctl --user show-environment` succeeds) -> systemd; else process.
 */
import { OcError } from '../errors.js';
import type { Config } from '../core/config.js';
import type { Layout } from '../core/layout.js';
import { run } from '../core/proc.js';
import type { SecretStore } from '../secrets/types.js';
import { createLaunchdManager, DEFAULT_LAUNCHD_LABEL } from './launchd.js';
import { createProcessManager } from './process.js';
import { createSystemdManager, DEFAULT_SYSTEMD_UNIT } from './systemd.js';
import type { ManagerKind, ServiceManager } from './types.js';

export type { ManagerKind, ServiceDefinition, ServiceManager, ServiceStatus, StopOptions } from './types.js';

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
  if (v === 'launchd' || v === 'systemd' || v === 'process') return v;
  throw new OcError('INVALID_INPUT', `unknown service manager '${v}' (launchd, systemd or process)`);
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
  return kind === 'systemd' ? DEFAULT_SYSTEMD_UNIT : DEFAULT_LAUNCHD_LABEL;
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
    home: setup.layout.home,
    serviceDir: setup.layout.serviceDir,
    ...(label !== undefined ? { label } : {}),
    ...(opts.definitionPath !== undefined ? { definitionPath: opts.definitionPath } : {}),
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    drainMs: setup.config.service.drainMs,
  };
  switch (chosen) {
    case 'launchd':
      return createLaunchdManager(ctx);
    case 'systemd':
      return createSystemdManager(ctx);
    case 'process':
      return createProcessManager(ctx, {
        secretPattern: setup.config.secretPattern,
        ...(opts.secretStore ? { secretStore: opts.secretStore } : {}),
      });
  }
}
