/**
 * The content-inventory check: every file OpenClaw's own inventory lists is
 * present with its size and sha256 (hashed with bounded parallel reads).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { errText, mapLimit, plural, safeRelative, type Outcome } from './common.js';

/** Files hashed at once. */
const HASH_CONCURRENCY = 16;
/** Files up to this size are hashed from one read; larger ones are streamed. */
const HASH_BUFFER_LIMIT = 1024 * 1024;

interface InventoryItem {
  path: string;
  sha256?: string;
  size?: number;
}

/**
 * Accepts the formats OpenClaw has shipped (docs/validation.md):
 * - `postinstall-inventory.json`: `["dist/a.js", ...]` (package-root-relative paths);
 * - `postinstall-content-inventory.json`: `[{ path, sha256, mode, size }, ...]`;
 * and, defensively, `{ files: <either array> }` or a `{ "<path>": "<sha256>" | {sha256,size} }` map.
 */
export function parseInventory(raw: unknown): InventoryItem[] {
  let list: unknown = raw;
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const obj = raw as Record<string, unknown>;
    if (Array.isArray(obj['files'])) list = obj['files'];
    else
      list = Object.entries(obj).map(([p, v]) =>
        typeof v === 'string' ? { path: p, sha256: v } : v && typeof v === 'object' ? { ...(v as object), path: p } : p,
      );
  }
  if (!Array.isArray(list)) throw new Error('unrecognised format (expected an array)');
  return list.map((item, i): InventoryItem => {
    if (typeof item === 'string') return { path: item };
    if (!item || typeof item !== 'object') throw new Error(`entry ${i}: not a path or an object`);
    const o = item as Record<string, unknown>;
    const p = o['path'] ?? o['file'];
    if (typeof p !== 'string') throw new Error(`entry ${i}: no path`);
    const hashField = o['sha256'] ?? o['hash'];
    let sha256: string | undefined;
    if (typeof hashField === 'string') {
      const h = hashField.replace(/^sha256[-:]/, '');
      if (/^[a-fA-F0-9]{64}$/.test(h)) sha256 = h.toLowerCase();
      else if (/^[A-Za-z0-9+/]{43}=$/.test(h)) sha256 = Buffer.from(h, 'base64').toString('hex');
      else throw new Error(`entry ${i} (${p}): sha256 is not a sha256 digest`);
    }
    const size = typeof o['size'] === 'number' && Number.isSafeInteger(o['size']) && o['size'] >= 0 ? o['size'] : undefined;
    return { path: p, ...(sha256 !== undefined ? { sha256 } : {}), ...(size !== undefined ? { size } : {}) };
  });
}

async function sha256File(file: string, size: number): Promise<string> {
  if (size <= HASH_BUFFER_LIMIT) return createHash('sha256').update(await fsp.readFile(file)).digest('hex');
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: HASH_BUFFER_LIMIT })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function checkInventory(packageDir: string, inventoryFiles: readonly string[]): Promise<Outcome> {
  const merged = new Map<string, InventoryItem>();
  const used: string[] = [];
  for (const invRel of inventoryFiles) {
    let text: string;
    try {
      text = await fsp.readFile(path.join(packageDir, invRel), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // not shipped by this package/version
      return { ok: false, detail: `${invRel}: unreadable (${errText(e)})` };
    }
    let items: InventoryItem[];
    try {
      items = parseInventory(JSON.parse(text));
    } catch (e) {
      return { ok: false, detail: `${invRel}: invalid inventory: ${e instanceof SyntaxError ? 'not JSON' : errText(e)}` };
    }
    used.push(path.posix.basename(invRel));
    for (const item of items) {
      const rel = safeRelative(item.path);
      if (rel === undefined) return { ok: false, detail: `${invRel}: unsafe path ${JSON.stringify(item.path)}` };
      const prev = merged.get(rel);
      if (prev?.sha256 && item.sha256 && prev.sha256 !== item.sha256) {
        return { ok: false, detail: `${rel}: inventories disagree about its sha256` };
      }
      merged.set(rel, { ...prev, ...item, path: rel });
    }
  }
  if (used.length === 0) return { ok: true, detail: `no inventory shipped (looked for ${inventoryFiles.join(', ') || 'nothing'})` };

  const items = [...merged.values()];
  let hashed = 0;
  let bytes = 0;
  const problems = await mapLimit(items, HASH_CONCURRENCY, async (item): Promise<string | undefined> => {
    const abs = path.join(packageDir, item.path);
    let st: fs.Stats;
    try {
      st = await fsp.stat(abs);
    } catch {
      return `${item.path}: missing`;
    }
    if (!st.isFile()) return `${item.path}: not a regular file`;
    if (item.size !== undefined && st.size !== item.size) return `${item.path}: size ${st.size}, expected ${item.size}`;
    if (item.sha256 === undefined) return undefined;
    const actual = await sha256File(abs, st.size);
    hashed++;
    bytes += st.size;
    if (actual !== item.sha256) {
      return `${item.path}: sha256 mismatch (expected ${item.sha256.slice(0, 12)}…, got ${actual.slice(0, 12)}…)`;
    }
    return undefined;
  });
  const failed = problems.filter((p): p is string => p !== undefined);
  if (failed.length > 0) {
    const more = failed.length > 1 ? ` (and ${failed.length - 1} more of ${items.length} listed files)` : '';
    return { ok: false, detail: `${failed[0]}${more}` };
  }
  const mb = (bytes / 1e6).toFixed(1);
  return { ok: true, detail: `${plural(items.length, 'file')} present, ${hashed} hashed (${mb} MB); from ${used.join(' + ')}` };
}
