/** `oc-versions state aside list|restore <file>`: the databases a restore set aside (docs/cli.md#state). */
import path from 'node:path';
import { OcError } from '../errors.js';
import type { CommandContext } from '../app/context.js';
import { mutating } from '../app/session.js';
import { listAside, restoreAside } from '../app/state-aside.js';
import { STATE_ASIDE_ACTIONS, unknownWord } from '../usage.js';

const USAGE_HINT = 'oc-versions state aside list; oc-versions state aside restore <file>';

export async function run(ctx: CommandContext, group: string, action: string | undefined, file: string | undefined, opts: { force: boolean }): Promise<void> {
  if (group !== 'aside') throw unknownWord('state subcommand', group, ['aside'], USAGE_HINT);
  switch (action ?? 'list') {
    case 'list': {
      const aside = await listAside(ctx);
      const human =
        aside.length === 0
          ? 'nothing set aside'
          : aside
              .map((a) => `${a.aside}\n  from ${a.original}, set aside ${a.at ?? '?'} (txid ${a.txid}), ${a.bytes} bytes, schema ${a.schema ?? '?'} (live ${a.liveSchema ?? 'none'}), last written ${a.modifiedAt}`)
              .join('\n');
      ctx.out.result(human, { aside });
      return;
    }
    case 'restore': {
      if (!file) throw new OcError('USAGE', 'state aside restore needs the set-aside file', { hint: USAGE_HINT });
      const r = await mutating(ctx, 'state aside restore', () => restoreAside(ctx, file, opts), 'keep-degraded');
      const human = [
        `restored ${r.restored} from ${path.basename(r.from)}`,
        r.setAside ? `  the database it replaced is set aside as ${path.basename(r.setAside)}` : '',
        r.restarted ? '  the gateway was stopped for the swap and started again' : '',
      ]
        .filter(Boolean)
        .join('\n');
      ctx.out.result(human, { changed: true, ...r });
      return;
    }
    default:
      throw unknownWord('state aside action', String(action), Object.keys(STATE_ASIDE_ACTIONS), USAGE_HINT);
  }
}
