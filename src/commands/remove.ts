import { OcError } from '../errors.js';
import { linksInto, processesUsing, scanStateLinks } from '../openclaw/links.js';
import { resolveStateDir } from '../openclaw/state.js';
import { readState, recordHistory, writeState } from '../core/state.js';
import { listInstalled, readCurrent, removeVersion } from '../core/store.js';
import { parseExactVersion } from '../core/versions.js';
import { exists } from '../os/fs.js';
import type { CommandContext } from '../app/context.js';
import { mutating } from '../app/session.js';

async function refuseIfLinked(ctx: CommandContext, version: string, force: boolean): Promise<void> {
  const links = linksInto(await scanStateLinks(ctx.layout, resolveStateDir(ctx.config.openclawStateDir, ctx.env)), version);
  const procs = await processesUsing(ctx.layout, version);
  if (ctx.config.service.manager) {
    // Where /proc cannot tell (macOS), the service manager still knows what the gateway runs.
    const { openServicePort } = await import('../app/service-port.js');
    const st = await (await openServicePort(ctx))?.status().catch(() => null);
    const v = st?.entry ? ctx.layout.version(version) : null;
    if (st?.running && st.pid && v && st.entry!.startsWith(v + '/') && !procs.some((p) => p.pid === st.pid)) procs.push({ pid: st.pid, arg: st.entry! });
  }
  if (procs.length > 0) {
    // Never delete files from under a running process (even with --force).
    throw new OcError('REFUSED', `${version} is in use by running process(es): ${procs.map((p) => `pid ${p.pid} (${p.arg})`).join(', ')}`, {
      hint: 'stop or restart those processes on another version first',
      details: { processes: procs },
    });
  }
  if (links.length > 0 && !force) {
    throw new OcError('REFUSED', `${version} is still linked from the OpenClaw state dir: ${links.map((l) => l.link).join(', ')}`, {
      hint: 'restart the gateway on the current version first (it relinks), or pass --force',
      details: { links: links.map((l) => ({ link: l.link, target: l.target })) },
    });
  }
}

export async function uninstall(ctx: CommandContext, raw: string | undefined, opts: { force?: boolean }): Promise<number> {
  if (!raw) throw new OcError('USAGE', 'uninstall needs a version', { hint: 'oc-versions uninstall 2026.9.5' });
  const version = parseExactVersion(raw);
  if (!version) {
    throw new OcError('INVALID_SPEC', `'${raw}' is not an exact version`, { hint: 'uninstall takes an exact installed version (see oc-versions list)' });
  }
  if (!(await listInstalled(ctx.layout)).some((v) => v.version === version)) {
    throw new OcError('NOT_INSTALLED', `${version} is not installed`, { hint: 'oc-versions list' });
  }
  return mutating(ctx, 'uninstall', async () => {
    const installed = (await listInstalled(ctx.layout)).map((v) => v.version);
    if (!installed.includes(version)) throw new OcError('NOT_INSTALLED', `${version} is not installed`, { hint: 'oc-versions list' });
    const current = await readCurrent(ctx.layout);
    let state = await readState(ctx.layout);
    if (version === current) {
      throw new OcError('REFUSED', `${version} is the current version`, { hint: 'switch first: oc-versions use <other version>' });
    }
    if (version === state.previous && !opts.force) {
      throw new OcError('REFUSED', `${version} is the previous version (the rollback target)`, { hint: 'pass --force to remove it anyway' });
    }
    await refuseIfLinked(ctx, version, Boolean(opts.force));
    await removeVersion(ctx.layout, version);
    state = recordHistory({ ...state, previous: state.previous === version ? null : state.previous }, { action: 'uninstall', from: version, to: null });
    await writeState(ctx.layout, state);
    ctx.out.result(`removed ${version}`, { changed: true, removed: [version] });
    return 0;
  });
}

export async function prune(ctx: CommandContext, opts: { keep?: string | number; dryRun?: boolean; force?: boolean }): Promise<number> {
  const keepN = opts.keep === undefined ? 3 : Number(opts.keep);
  if (!Number.isInteger(keepN) || keepN < 0) throw new OcError('INVALID_INPUT', `--keep must be a whole number ≥ 0, got '${opts.keep}'`, { hint: 'oc-versions prune --keep 3' });
  const plan = async () => {
    const installed = (await listInstalled(ctx.layout)).map((v) => v.version); // newest first
    const current = await readCurrent(ctx.layout);
    const state = await readState(ctx.layout);
    const keep = new Set<string>(installed.slice(0, keepN));
    if (current) keep.add(current);
    if (state.previous) keep.add(state.previous);
    const remove = installed.filter((v) => !keep.has(v));
    return { kept: installed.filter((v) => keep.has(v)), remove };
  };
  if (opts.dryRun || !(await exists(ctx.layout.versionsDir))) {
    const p = await plan();
    ctx.out.result(
      p.remove.length ? `would remove: ${p.remove.join(', ')}\nwould keep: ${p.kept.join(', ')}` : 'nothing to prune',
      { changed: false, removed: p.remove, kept: p.kept, ...(opts.dryRun ? { dryRun: true } : {}) },
    );
    return 0;
  }
  return mutating(ctx, 'prune', async () => {
    const p = await plan();
    for (const v of p.remove) await refuseIfLinked(ctx, v, Boolean(opts.force));
    for (const v of p.remove) {
      ctx.out.progress(`removing ${v}`);
      await removeVersion(ctx.layout, v);
    }
    if (p.remove.length) {
      const state = await readState(ctx.layout);
      await writeState(ctx.layout, recordHistory(state, { action: `prune (${p.remove.join(', ')})`, from: null, to: null }));
    }
    ctx.out.result(p.remove.length ? `removed: ${p.remove.join(', ')}` : 'nothing to prune', { changed: p.remove.length > 0, removed: p.remove, kept: p.kept });
    return 0;
  });
}
