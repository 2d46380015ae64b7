/**
 * Renders the POSIX sh shims from the repo's shims/ folder into <home>/bin: the
 * one renderer for both the CLI shim and the gateway launcher. A placeholder is
 * `'@NAME@'` (with its quotes) and becomes the value single-quoted for sh.
 * Written to a temp file and renamed, so a running shell or a service manager
 * never reads a half-written shim.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fromFsError } from '../errors.js';
import { packageRootOf } from '../os/fs.js';
import type { Layout } from './layout.js';

export function shimsSourceDir(): string {
  return path.join(packageRootOf(import.meta.url), 'shims');
}

/** How the standby barrier's `--import` URL begins (rendered by standbyImport, looked for by launcherTakesStandby). */
export const STANDBY_URL_PREFIX = 'data:text/javascript;base64,';

/**
 * The standby barrier (shims/standby.mjs) as node's `--import` argument: a data: URL, so no
 * running gateway depends on a file of ours. Its comment lines stay in shims/standby.mjs (the URL
 * is in the process's argv).
 */
export function standbyImport(barrierSource: string): string {
  const code = barrierSource
    .split('\n')
    .filter((l) => !/^\s*\/\//.test(l))
    .join('\n');
  return `${STANDBY_URL_PREFIX}${Buffer.from(code, 'utf8').toString('base64')}`;
}

/** standbyImport of this oc-versions' shims/standby.mjs. */
export async function readStandbyImport(): Promise<string> {
  return standbyImport(await fsp.readFile(path.join(shimsSourceDir(), 'standby.mjs'), 'utf8'));
}

export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function renderShim(template: string, values: Record<string, string>): string {
  let out = template;
  for (const [k, v] of Object.entries(values)) out = out.split(`'@${k}@'`).join(shQuote(v));
  return out;
}

/** The shim at `dest` has exactly this text and is executable. */
export async function shimIsCurrent(dest: string, body: string): Promise<boolean> {
  if ((await fsp.readFile(dest, 'utf8').catch(() => null)) !== body) return false;
  const st = await fsp.stat(dest).catch(() => null);
  return Boolean(st && (st.mode & 0o111) === 0o111);
}

/**
 * Write a rendered shim to `dest` (0755) unless it already has exactly this
 * text and mode (a failed command must change nothing on disk); returns true when written.
 */
export async function writeShim(dest: string, body: string, what: string): Promise<boolean> {
  if (await shimIsCurrent(dest, body)) return false;
  const tmp = `${dest}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    await fsp.writeFile(tmp, body, { mode: 0o755 });
    await fsp.chmod(tmp, 0o755);
    await fsp.rename(tmp, dest);
    return true;
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw fromFsError(e, `installing ${what}`) ?? e;
  }
}

/** The CLI shim as this oc-versions renders it for this home and node. */
export async function renderCliShim(layout: Layout, runtimeNode: string): Promise<string> {
  const template = await fsp.readFile(path.join(shimsSourceDir(), 'openclaw'), 'utf8');
  return renderShim(template, { OC_HOME: layout.home, OC_NODE: runtimeNode });
}

/** Install (or refresh) the CLI shim; returns true when the file changed. */
export async function installShim(layout: Layout, runtimeNode: string): Promise<boolean> {
  return writeShim(layout.cliShim, await renderCliShim(layout, runtimeNode), 'the openclaw shim');
}
