/**
 * What a test can see of the gateways of an oc-versions home without asking oc-versions:
 * process-group leaders whose command line names the home (the launcher `sh <home>/bin/openclaw-gateway`
 * or, after its exec, `node <home>/versions/<v>/…/dist/index.js`), the process backend's pidfile, and
 * temp files an interrupted write can leave. Linux (/proc) only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { walkTree } from './cli.js';

function statFields(pid: number): string[] | null {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return raw.slice(raw.lastIndexOf(')') + 2).trim().split(' ');
  } catch {
    return null;
  }
}

/** Live process-group leaders (not zombies) whose /proc/<pid>/<file> (NUL-separated) matches. Linux only. */
function liveLeaders(file: 'cmdline' | 'environ', match: (parts: string[]) => boolean): number[] {
  const out: number[] = [];
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    const pid = Number(n);
    const st = statFields(pid);
    if (!st || st[0] === 'Z' || Number(st[2]) !== pid) continue;
    let parts: string[];
    try {
      parts = fs.readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (match(parts)) out.push(pid);
  }
  return out;
}

/**
 * Live process-group leaders (not zombies) whose argv mentions `home/`: every gateway of that home.
 * Not the keep-alive supervisors, which run the home's copy of their program (`<home>/lib/…`).
 */
export function gatewaysOf(home: string): number[] {
  const lib = path.join(home, 'lib') + path.sep;
  return liveLeaders('cmdline', (argv) => argv.some((a) => a.startsWith(home + path.sep)) && !(argv[1] ?? '').startsWith(lib));
}

/** The pid the process backend's pidfile names, or null (absent). */
export function trackedPid(home: string): number | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(home, 'service', 'gateway.pid.json'), 'utf8')) as { pid: number }).pid;
  } catch {
    return null;
  }
}

/**
 * Temp files of interrupted writes anywhere under the home except inside version trees: swap temps
 * (`*.tmp-<pid>…`), write-file-atomic temps (`<name>.json.<n>`), lock claims (`*.claim-<pid>`).
 */
export function tempFiles(home: string): string[] {
  const hits: string[] = [];
  const versions = path.join(home, 'versions');
  walkTree(home, (p, e) => {
    if (p === versions) return false;
    if (/\.tmp-\d+|\.json\.\d+$|\.claim-\d+$/.test(e.name)) hits.push(path.relative(home, p));
  });
  return hits;
}

/**
 * Live keep-alive supervisors of a home: process-group leaders whose environment carries the
 * supervisor's mark for that home (`OC_VERSIONS_SUPERVISOR=<label>@<home>`). Linux (/proc) only.
 */
export function supervisorsOf(home: string): number[] {
  return liveLeaders('environ', (env) => env.some((e) => e.startsWith('OC_VERSIONS_SUPERVISOR=') && e.endsWith(`@${home}`)));
}
