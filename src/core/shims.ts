/**
 * Renders the POSIX sh shims from the repo's shims/ folder into <home>/bin.
 * Placeholders: @OC_HOME@ (the home), @OC_NODE@ (the runtime node). Values are
 * single-quoted for sh. Written to a temp file and renamed, so a running shell
 * never reads a half-written shim.
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromFsError } from '../errors.js';
import type { Layout } from './layout.js';

export function shimsSourceDir(): string {
  // dist/core/shims.js and src/core/shims.ts both sit two levels below the package root.
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'shims');
}

export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function renderShim(template: string, values: Record<string, string>): string {
  let out = template;
  for (const [k, v] of Object.entries(values)) out = out.split(`'@${k}@'`).join(shQuote(v));
  return out;
}

/** Install (or refresh) one shim; returns true when the file changed. */
export async function installShim(layout: Layout, name: string, runtimeNode: string): Promise<boolean> {
  const template = await fsp.readFile(path.join(shimsSourceDir(), name), 'utf8');
  const body = renderShim(template, { OC_HOME: layout.home, OC_NODE: runtimeNode });
  const dest = name === 'openclaw' ? layout.cliShim : layout.gatewayShim;
  try {
    const existing = await fsp.readFile(dest, 'utf8').catch(() => null);
    if (existing === body) return false;
    await fsp.mkdir(layout.binDir, { recursive: true });
    const tmp = `${dest}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    await fsp.writeFile(tmp, body, { mode: 0o755 });
    await fsp.chmod(tmp, 0o755);
    await fsp.rename(tmp, dest);
    return true;
  } catch (e) {
    throw fromFsError(e, `installing ${name} shim`) ?? e;
  }
}
