/** Helpers the validation checks share (no I/O of their own). */
import path from 'node:path';

/** A check's verdict before it is timed and named. */
export type Outcome = { ok: boolean; detail: string };

export function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException | undefined;
  return err?.code ? `${err.code}: ${err.message}` : String(err?.message ?? e);
}

export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** Run `fn` over items with at most `limit` in flight; results keep item order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A package-relative path that cannot leave the package (no `..`, not absolute, no NUL/backslash). */
export function safeRelative(p: string): string | undefined {
  const norm = p.replace(/^\.\//, '');
  if (norm === '' || norm.includes('\0') || norm.includes('\\') || path.posix.isAbsolute(norm)) return undefined;
  if (norm.split('/').some((part) => part === '..' || part === '')) return undefined;
  return norm.split('/').filter((part) => part !== '.').join('/');
}
