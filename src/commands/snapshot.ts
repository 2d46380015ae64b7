/** `oc-versions snapshot create|list|show`. */
import { OcError } from '../errors.js';
import { resolveSecretStore } from '../secrets/index.js';
import { createSnapshot, listSnapshots, readSnapshot } from '../service/snapshot.js';
import { readDefinitionRecord } from '../service/definition.js';
import type { ServiceManager } from '../service/types.js';
import type { CommandContext } from '../app/context.js';
import { mutating } from '../app/session.js';
import { openService, type OpenServiceOptions } from '../app/service.js';

export interface SnapshotCommandOptions extends OpenServiceOptions {
  reason?: string;
  /** OpenClaw state dir (default: from the service env, else ~/.openclaw). */
  stateDir?: string;
}

async function serviceManagerIfAny(ctx: CommandContext, opts: OpenServiceOptions): Promise<ServiceManager | null> {
  const configured = ctx.config.service.manager !== undefined || (await readDefinitionRecord(ctx.layout)) !== undefined;
  if (!configured && !opts.manager) return null;
  return (await openService(ctx, opts)).mgr;
}

export async function run(ctx: CommandContext, sub: string, args: string[] = [], opts: SnapshotCommandOptions = {}): Promise<void> {
  switch (sub) {
    case 'create': {
      const store = await resolveSecretStore(ctx.env, opts.secretStore);
      const manager = await serviceManagerIfAny(ctx, opts);
      const meta = await mutating(ctx, 'snapshot create', async () => {
        const running = manager ? (await manager.status()).running : false;
        return createSnapshot(ctx, {
          manager,
          store,
          gatewayStopped: !running,
          ...(opts.reason ? { reason: opts.reason } : {}),
          ...(opts.stateDir ? { openclawStateDir: opts.stateDir } : {}),
        });
      }, 'keep-degraded');
      const lines = [
        `snapshot ${meta.txid}`,
        `  version: ${meta.version ?? '(none)'}`,
        meta.service ? `  service: ${meta.service.manager} ${meta.service.label}, ${meta.envKeys.length} env keys` : '  service: (none)',
        `  files: ${meta.openclaw.files.map((f) => f.copy).join(', ') || '(none)'}`,
        meta.secretKeys.length > 0
          ? `  secrets: ${meta.secretKeys.join(', ')} -> ${meta.secretsRestorable ? `references into ${meta.secretStore}` : 'NOT restorable from this snapshot (no secret store)'}`
          : '',
      ].filter((l) => l !== '');
      ctx.out.result(lines.join('\n'), { changed: true, ...meta });
      return;
    }
    case 'list': {
      const all = await listSnapshots(ctx.layout);
      const human = all.length === 0 ? 'no snapshots' : all.map((m) => `${m.txid}  ${m.createdAt}  ${m.version ?? '-'}${m.reason ? `  ${m.reason}` : ''}`).join('\n');
      ctx.out.result(human, { snapshots: all });
      return;
    }
    case 'show': {
      const txid = args[0];
      if (!txid) throw new OcError('USAGE', 'snapshot show needs a snapshot id');
      const snap = await readSnapshot(ctx.layout, txid);
      ctx.out.result(JSON.stringify(snap, null, 2), snap);
      return;
    }
    default:
      throw new OcError('USAGE', `unknown snapshot subcommand '${sub}' (create, list, show)`);
  }
}
