/**
 * The content-inventory check: every file OpenClaw's own inventory lists is
 * present with its size and sha256.
 *
 * Reading and hashing ≈ 11,000 files / 280 MB is the cost: each file is opened,
 * fstat'ed, read into one reused buffer and hashed with synchronous calls (no
 * promise or thread-pool hop per file): in worker threads for a large inventory,
 * leaving this thread's core to the import-closure walk that runs at the same
 * time; a small inventory is checked inline (a worker costs more than it saves).
 */
import { createHash, hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { errText, plural, safeRelative, type Outcome } from './common.js';

/** Inventories with fewer listed files are checked on this thread. */
const WORKER_MIN_FILES = 1500;
/** At most this many hashing threads (one per core but one). */
const MAX_WORKERS = 4;

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

/** What was found for one listed file: [missing|not-file|unreadable|ok, size, sha256 hex or '' when not hashed / not ok]. */
type FileVerdict = [kind: 'ok' | 'missing' | 'not-file' | 'unreadable', size: number, sha256: string, error: string];
interface HashJob {
  path: string;
  /** Expected size: a different size is reported without reading the file. */
  size?: number;
  hash: boolean;
}

/**
 * Stat and hash `jobs` under `dir` with synchronous calls. Self-contained (its modules are
 * parameters) because worker threads run its source text: keep it free of outer references.
 */
function verifyFiles(
  dir: string,
  jobs: readonly HashJob[],
  fsm: typeof fs,
  cryptom: { createHash: typeof createHash; hash: typeof hash },
  pathm: typeof path,
): FileVerdict[] {
  const CHUNK = 1 << 20;
  const buf = Buffer.allocUnsafe(CHUNK);
  const out: FileVerdict[] = [];
  for (const job of jobs) {
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO listed by mistake must not hang the check.
      fd = fsm.openSync(pathm.join(dir, job.path), fsm.constants.O_RDONLY | (fsm.constants.O_NONBLOCK ?? 0));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      out.push(code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' ? ['missing', 0, '', ''] : ['unreadable', 0, '', String(code ?? e)]);
      continue;
    }
    try {
      const st = fsm.fstatSync(fd);
      if (!st.isFile()) {
        out.push(['not-file', 0, '', '']);
        continue;
      }
      if (!job.hash || (job.size !== undefined && job.size !== st.size)) {
        out.push(['ok', st.size, '', '']);
        continue;
      }
      let digest: string;
      if (st.size <= CHUNK) {
        const n = fsm.readSync(fd, buf, 0, CHUNK, 0);
        digest = cryptom.hash('sha256', buf.subarray(0, n), 'hex');
      } else {
        const h = cryptom.createHash('sha256');
        for (let pos = 0, n; (n = fsm.readSync(fd, buf, 0, CHUNK, pos)) > 0; pos += n) h.update(buf.subarray(0, n));
        digest = h.digest('hex');
      }
      out.push(['ok', st.size, digest, '']);
    } catch (e) {
      out.push(['unreadable', 0, '', String((e as NodeJS.ErrnoException).code ?? e)]);
    } finally {
      fsm.closeSync(fd);
    }
  }
  return out;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const verifyFiles = ${verifyFiles.toString()};
parentPort.postMessage(verifyFiles(workerData.dir, workerData.jobs, require('node:fs'), require('node:crypto'), require('node:path')));
`;

function verifyInWorker(dir: string, jobs: HashJob[]): Promise<FileVerdict[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { dir, jobs } });
    w.once('message', (m: FileVerdict[]) => resolve(m));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`hashing thread exited (${code}) before answering`)));
  });
}

/** The hashing threads a large inventory uses: one per core but one (left to the import-closure walk), at most MAX_WORKERS. */
export function inventoryThreads(cores = os.availableParallelism()): number {
  return Math.max(1, Math.min(MAX_WORKERS, cores - 1));
}

/** Verdicts in job order: inline for a small list, else interleaved slices across worker threads. */
async function verifyAll(dir: string, jobs: HashJob[]): Promise<FileVerdict[]> {
  if (jobs.length < WORKER_MIN_FILES) return verifyFiles(dir, jobs, fs, { createHash, hash }, path);
  // One core stays with this thread (the import-closure walk runs here at the same time).
  const threads = inventoryThreads();
  // Interleaved so big and small files spread evenly.
  const slices = Array.from({ length: threads }, (_, t) => jobs.filter((_, i) => i % threads === t));
  const results = await Promise.all(slices.map((slice) => verifyInWorker(dir, slice)));
  return jobs.map((_, i) => results[i % threads]![Math.floor(i / threads)]!);
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
  const jobs = items.map((item): HashJob => ({ path: item.path, hash: item.sha256 !== undefined, ...(item.size !== undefined ? { size: item.size } : {}) }));
  const verdicts = await verifyAll(packageDir, jobs);
  let hashed = 0;
  let bytes = 0;
  const problems = items.map((item, i): string | undefined => {
    const [kind, size, actual, error] = verdicts[i]!;
    if (kind === 'missing') return `${item.path}: missing`;
    if (kind === 'not-file') return `${item.path}: not a regular file`;
    if (kind === 'unreadable') return `${item.path}: unreadable (${error})`;
    if (item.size !== undefined && size !== item.size) return `${item.path}: size ${size}, expected ${item.size}`;
    if (item.sha256 === undefined) return undefined;
    hashed++;
    bytes += size;
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
