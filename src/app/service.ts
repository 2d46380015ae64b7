/**
 * The one way to open the gateway's service: which backend (--manager, else the
 * configured one, else the platform's), which label and definition, and which
 * secret store. Verbs and the transition's ServicePort all come through here.
 */
import { resolveSecretStore, type SecretStore } from '../secrets/index.js';
import { createServiceManager, defaultLabel, detectManagerKind, parseManagerKind, type ManagerKind, type ServiceManager } from '../service/index.js';
import type { CommandContext } from './context.js';

export interface OpenServiceOptions {
  /** --manager */
  manager?: string;
  /** --label; default: the configured label, else the backend's default. */
  label?: string;
  /** --plist / --unit; default: the configured path when it is the configured service. */
  definitionPath?: string;
  /** --secret-store; default: what the platform has. */
  secretStore?: string;
}

export interface OpenedService {
  kind: ManagerKind;
  mgr: ServiceManager;
  store: SecretStore;
}

export async function openService(ctx: CommandContext, opts: OpenServiceOptions = {}): Promise<OpenedService> {
  const svc = ctx.config.service;
  const kind = parseManagerKind(opts.manager) ?? svc.manager ?? (await detectManagerKind(ctx.env));
  const label = opts.label ?? svc.label ?? defaultLabel(kind, ctx.layout);
  const sameService = kind === svc.manager && label === svc.label;
  const definitionPath = opts.definitionPath ?? (sameService ? svc.definitionPath : undefined);
  const store = await resolveSecretStore(ctx.env, opts.secretStore);
  const mgr = await createServiceManager(kind, ctx, {
    label,
    ...(definitionPath ? { definitionPath } : {}),
    secretStore: store,
    note: (m) => ctx.out.warn(m),
  });
  return { kind, mgr, store };
}
