/** The package's manifest as the checks need it, and the entry files they start from. */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { errText, safeRelative } from './common.js';

export interface Manifest {
  ok: boolean;
  error?: string;
  name?: string;
  version?: string;
  bin: Record<string, string>;
  enginesNode?: string;
}

export async function readManifest(packageDir: string): Promise<Manifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(await fsp.readFile(path.join(packageDir, 'package.json'), 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, bin: {}, error: code === 'ENOENT' ? 'package.json: missing' : `package.json: unreadable (${errText(e)})` };
  }
  if (!raw || typeof raw !== 'object') return { ok: false, bin: {}, error: 'package.json: not an object' };
  const pkg = raw as Record<string, unknown>;
  const name = typeof pkg['name'] === 'string' ? pkg['name'] : undefined;
  const bin: Record<string, string> = {};
  const rawBin = pkg['bin'];
  if (typeof rawBin === 'string') {
    // String form: npm names the command after the package (without its scope).
    bin[(name ?? 'bin').replace(/^@[^/]+\//, '')] = rawBin;
  } else if (rawBin && typeof rawBin === 'object') {
    for (const [k, v] of Object.entries(rawBin as Record<string, unknown>)) if (typeof v === 'string') bin[k] = v;
  }
  const engines = pkg['engines'];
  const enginesNode =
    engines && typeof engines === 'object' && typeof (engines as Record<string, unknown>)['node'] === 'string'
      ? ((engines as Record<string, unknown>)['node'] as string)
      : undefined;
  return {
    ok: true,
    ...(name !== undefined ? { name } : {}),
    ...(typeof pkg['version'] === 'string' ? { version: pkg['version'] } : {}),
    bin,
    ...(enginesNode !== undefined ? { enginesNode } : {}),
  };
}

interface Entry {
  /** package-relative path as declared */
  rel: string;
  abs: string;
}

export interface Entries {
  bins: Array<Entry & { command: string }>;
  /** bin paths that would escape the package */
  unsafeBins: string[];
  service?: Entry;
  /** The file `--version` and offline checks run: preferred bin, else the service entry. */
  cli?: Entry;
}

export async function isRegularFile(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isFile();
  } catch {
    return false;
  }
}

export async function resolveEntries(packageDir: string, manifest: Manifest, serviceEntry: readonly string[]): Promise<Entries> {
  const bins: Entries['bins'] = [];
  const unsafeBins: string[] = [];
  for (const [command, target] of Object.entries(manifest.bin)) {
    const rel = safeRelative(target);
    if (rel === undefined) unsafeBins.push(`${command} -> ${target}`);
    else bins.push({ command, rel, abs: path.join(packageDir, rel) });
  }
  let service: Entry | undefined;
  for (const candidate of serviceEntry) {
    const rel = safeRelative(candidate);
    if (rel === undefined) continue;
    const abs = path.join(packageDir, rel);
    if (await isRegularFile(abs)) {
      service = { rel, abs };
      break;
    }
  }
  // The real CLI answers --version from its bin (openclaw.mjs); prefer the bin named after the package.
  const short = manifest.name?.replace(/^@[^/]+\//, '');
  const preferred = bins.find((b) => b.command === short) ?? bins[0];
  const cli = preferred && (await isRegularFile(preferred.abs)) ? preferred : service;
  return { bins, unsafeBins, ...(service ? { service } : {}), ...(cli ? { cli } : {}) };
}
