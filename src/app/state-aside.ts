/**
 * Going back across a schema bump without losing data (docs/upgrade-and-rollback.md#set-aside).
 *
 * A restore never overwrites: each live database it replaces, and each one created since the
 * snapshot, is renamed beside itself as `<file>.oc-set-aside-<txid>` (src/service/snapshot.ts).
 * Here: the consent a manual `rollback`/`use` asks before it sets aside data written well after
 * the upgrade it undoes, and `oc-versions state aside list|restore`.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline/promises';
import { OcError } from '../errors.js';
import { readHistory } from '../core/history.js';
import { newTxid } from '../core/journal.js';
import { resolveStateDir } from '../openclaw/state.js';
import { readEnvFiles } from '../service/definition.js';
import { createdSinceSnapshot, lastWriteMs, listAsideFiles, listSnapshots, migratedDatabases, moveDatabase, parseAsideName, setDatabaseAside, type AsideFile } from '../service/snapshot.js';
import type { CommandContext } from './context.js';
import { openService } from './service.js';

/** What a restore from `snapshot` would set aside, and how long after `committedAt` it was last written. */
export interface AsidePreview {
  files: Array<{ file: string; why: 'migrated' | 'created'; lastWriteAt: string | null }>;
  /** Newest write to any of them minus the commit of the transition being undone (ms, ≥ 0). */
  writtenAfterMs: number;
}

export async function previewSetAside(ctx: CommandContext, snapshot: string, committedAt: string): Promise<AsidePreview> {
  const migrated = (await migratedDatabases(ctx.layout, snapshot)).map((m) => ({ file: m.source, why: 'migrated' as const }));
  const created = (await createdSinceSnapshot(ctx.layout, snapshot)).map((file) => ({ file, why: 'created' as const }));
  const files: AsidePreview['files'] = [];
  let newest = 0;
  for (const f of [...migrated, ...created]) {
    const ms = await lastWriteMs(f.file);
    if (ms !== null) newest = Math.max(newest, ms);
    files.push({ ...f, lastWriteAt: ms === null ? null : new Date(ms).toISOString() });
  }
  return { files, writtenAfterMs: files.length ? Math.max(0, newest - Date.parse(committedAt)) : 0 };
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const h = Math.round(m / 60);
  return h < 48 ? `${h} h` : `${Math.round(h / 24)} days`;
}

/**
 * Before a manual switch back: a restore that would set aside data written more than
 * `stateAside.consentAfterMs` after the upgrade it undoes needs consent. Given (`--restore-state`),
 * asked on a terminal, else refused (REFUSED, exit 2) with nothing changed.
 */
export async function consentToSetAside(
  ctx: CommandContext,
  req: { from: string | null; to: string; snapshot: string; committedAt: string; given: boolean },
): Promise<AsidePreview | null> {
  const preview = await previewSetAside(ctx, req.snapshot, req.committedAt);
  if (preview.files.length === 0 || preview.writtenAfterMs <= ctx.config.stateAside.consentAfterMs) return preview.files.length ? preview : null;
  const what = `going back to ${req.to} sets aside ${preview.files.length} state database(s) holding ${formatDuration(preview.writtenAfterMs)} of data written on ${req.from ?? 'the newer version'} after its upgrade (${preview.files.map((f) => f.file).join(', ')})`;
  if (req.given) {
    ctx.out.progress(`${what}; kept beside each as <file>.oc-set-aside-<txid> (--restore-state)`);
    return preview;
  }
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true && !ctx.argv.includes('--json');
  if (interactive) {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    // Ctrl-C at the prompt takes the CLI's one interrupt path (readline would only pause).
    rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
    try {
      const answer = await rl.question(`${what}.\nThey are kept, not deleted (oc-versions state aside list|restore). Go back? [y/N] `);
      if (/^y(es)?$/i.test(answer.trim())) return preview;
    } finally {
      rl.close();
    }
    throw new OcError('REFUSED', `not going back to ${req.to}: declined`, { hint: `nothing changed; ${req.from ?? 'the current version'} keeps serving` });
  }
  throw new OcError('REFUSED', `${what[0]!.toUpperCase()}${what.slice(1)}; not without consent`, {
    hint: `nothing changed; rerun with --restore-state to go back and keep that data set aside (oc-versions state aside restore brings it back), or stay on ${req.from ?? 'the current version'}`,
    details: { setAside: preview.files, writtenAfterMs: preview.writtenAfterMs, consentAfterMs: ctx.config.stateAside.consentAfterMs },
  });
}

/** The OpenClaw state dirs to look in: the live one (config, the service's env, HOME) and every one a snapshot recorded. */
export async function stateDirsOf(ctx: CommandContext): Promise<string[]> {
  const dirs = new Set<string>();
  let serviceEnv: Record<string, string> = {};
  if (ctx.config.service.manager) {
    try {
      const def = await (await openService(ctx, { secretStore: 'none' })).mgr.readDefinition();
      if (def) serviceEnv = { ...(await readEnvFiles(def)), ...def.env };
    } catch {
      // the service cannot be read: the other sources still count
    }
  }
  const live = resolveStateDir(ctx.config.openclawStateDir, { ...ctx.env, ...serviceEnv });
  if (live) dirs.add(live);
  for (const m of await listSnapshots(ctx.layout)) if (m.openclaw.stateDir) dirs.add(m.openclaw.stateDir);
  return [...dirs];
}

export async function listAside(ctx: CommandContext): Promise<AsideFile[]> {
  const out: AsideFile[] = [];
  for (const dir of await stateDirsOf(ctx)) out.push(...(await listAsideFiles(dir)));
  return out.sort((a, b) => b.txid.localeCompare(a.txid) || a.aside.localeCompare(b.aside));
}

/**
 * The transaction a set-aside suffix names: `<stamp>-<6 hex>`, with `-N` when one transaction set
 * the same file aside twice. The hex may be all digits, so only a suffix after it is dropped.
 */
export function asideTransaction(txid: string): string {
  return /^(\d{8}T\d{6}Z-[0-9a-f]{6})(?:-\d+)?$/.exec(txid)?.[1] ?? txid;
}

/** The version whose gateway wrote a set-aside database: the `from` of the transition that set it aside. */
async function writerOf(ctx: CommandContext, txid: string): Promise<string | null> {
  const base = asideTransaction(txid);
  const item = (await readHistory(ctx.layout, 200)).find((h) => h.txid === base);
  return item?.from ?? null;
}

export interface AsideRestore {
  restored: string;
  from: string;
  /** The live database it replaced, set aside in turn (null: there was none). */
  setAside: string | null;
  /** Whether the gateway was stopped for the swap and started again. */
  restarted: boolean;
}

/** Put a set-aside database back where it lived; the live one there is set aside in turn. The caller holds the lock. */
export async function restoreAside(ctx: CommandContext, which: string, opts: { force: boolean }): Promise<AsideRestore> {
  const all = await listAside(ctx);
  const wanted = path.resolve(which);
  const match = all.filter((a) => a.aside === wanted || path.basename(a.aside) === which);
  if (match.length === 0) {
    const parsed = parseAsideName(wanted);
    const byOriginal = all.filter((a) => a.original === wanted);
    const hint = byOriginal.length
      ? `name one of its set-aside copies: ${byOriginal.map((a) => a.aside).join(', ')}`
      : parsed
        ? 'oc-versions state aside list shows what is set aside'
        : `give a set-aside file (<database>.oc-set-aside-<txid>); oc-versions state aside list shows them`;
    throw new OcError('NOT_FOUND', `no set-aside database ${which}`, { hint });
  }
  if (match.length > 1) {
    throw new OcError('INVALID_INPUT', `${which} names ${match.length} set-aside databases`, { hint: `give the full path: ${match.map((a) => a.aside).join(', ')}` });
  }
  const a = match[0]!;
  if (!opts.force && a.schema !== null && a.liveSchema !== null && a.schema > a.liveSchema) {
    const writer = await writerOf(ctx, a.txid);
    throw new OcError('REFUSED', `${a.aside} has schema ${a.schema}, newer than the live database's ${a.liveSchema}: the version now serving may refuse it`, {
      hint: `nothing changed; switch to the version that wrote it first${writer ? ` (oc-versions use ${writer})` : ''}, then restore it; --force restores it anyway`,
    });
  }
  let mgr: Awaited<ReturnType<typeof openService>>['mgr'] | null = null;
  if (ctx.config.service.manager) mgr = (await openService(ctx, { secretStore: 'none' })).mgr;
  const running = mgr ? (await mgr.status()).running : false;
  // The gateway holds its databases open: swap them only with it stopped.
  if (mgr && running) {
    ctx.out.progress(`stopping the gateway to swap ${path.basename(a.original)}`);
    await mgr.stop({ drainMs: ctx.config.service.drainMs });
  }
  let liveAside: string | null = null;
  try {
    if ((await lastWriteMs(a.original)) !== null) liveAside = await setDatabaseAside(a.original, newTxid());
    await fsp.rm(`${a.original}-shm`, { force: true });
    await moveDatabase(a.aside, a.original);
  } finally {
    if (mgr && running) {
      ctx.out.progress('starting the gateway again');
      await mgr.start();
    }
  }
  return { restored: a.original, from: a.aside, setAside: liveAside, restarted: Boolean(mgr && running) };
}
