/** Helpers shared by the backends: what a pid is running, atomic definition writes. */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fromFsError } from '../errors.js';
import { processArgvAnyOs } from '../os/proc.js';

/** node options whose value is the next argument (written `--import <url>`, not `--import=<url>`). */
const NODE_OPTIONS_WITH_VALUE = new Set([
  '--import',
  '--require',
  '-r',
  '--loader',
  '--experimental-loader',
  '--conditions',
  '-C',
  '--env-file',
  '--env-file-if-exists',
  '--title',
  '--input-type',
  '--inspect-port',
  '--disable-warning',
]);

/**
 * The real path of the script a process runs, from its argv as the OS reports it:
 * the first argument after argv[0] that is not a node option (nor the value of one, as
 * `--import <url>`: a restart's standby has one, docs/service.md#the-standby). The launcher and
 * the env-wrapper both `exec`, so the pid the manager reports is node itself.
 */
export async function entryOfPid(pid: number): Promise<string | null> {
  const argv = await processArgvAnyOs(pid);
  if (!argv || argv.length < 2) return null;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (NODE_OPTIONS_WITH_VALUE.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    try {
      return fs.realpathSync(a);
    } catch {
      return a;
    }
  }
  return null;
}

/** `<v>` when `entry` lies under `<home>/versions/<v>/` (both real paths). */
export function versionOfEntry(entry: string | null, versionsDirPath: string): string | null {
  if (!entry) return null;
  let versionsDir: string;
  try {
    versionsDir = fs.realpathSync(versionsDirPath);
  } catch {
    return null;
  }
  const rel = path.relative(versionsDir, entry);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return rel.split(path.sep)[0] ?? null;
}

/** Write a file via temp + rename in the same directory, keeping an existing file's mode. */
export async function writeFileAtomicKeepMode(file: string, text: string, defaultMode: number): Promise<void> {
  let mode = defaultMode;
  try {
    mode = (await fsp.stat(file)).mode & 0o7777;
  } catch {
    // new file
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.oc-tmp-${process.pid}`);
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(tmp, text, { mode });
    await fsp.chmod(tmp, mode);
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw fromFsError(e, `writing ${file}`) ?? e;
  }
}

export async function readTextOrNull(file: string): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromFsError(e, `reading ${file}`) ?? e;
  }
}

export function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** OpenClaw without its own configuration: `Missing config. Run openclaw setup…`, exit 78 (EX_CONFIG). */
const NEEDS_SETUP = /Missing config\b|openclaw setup\b/i;

/** The hint for a gateway whose log says it has no configuration of its own (else null). */
export function setupHint(logLines: readonly string[]): string | null {
  if (!logLines.some((l) => NEEDS_SETUP.test(l))) return null;
  return 'OpenClaw has no configuration of its own yet: run `openclaw setup` as the user the service runs as (same HOME / OPENCLAW_STATE_DIR), or write a minimal openclaw.json (docs/quick-start.md), then oc-versions service restart';
}
