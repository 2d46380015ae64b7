/**
 * Helpers around the launchd model (test/helpers/doubles/launchctl.mjs + launchd-job.mjs, the
 * suite's one documented mock): cleanup of what it started, and the steps a test plays as
 * "the user" or "a login" (bootout is asynchronous in the model, as in launchd).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isAlive, killGroup, processStartTime } from '../../src/os/proc.js';
import { DOUBLES_DIR } from './fake-home.js';

type Rec = { pid?: number | null; startTime?: string | null; supervisor?: { pid?: number; startTime?: string | null }; ticker?: { pid?: number } };

/**
 * Kill every process a double recorded under `stateDir`: the model's per-job launchd halves
 * first (so none respawns its job), then the jobs' process groups. Same pid AND same start time
 * only: never a process that merely reused the pid.
 */
export function killRecordedJobs(stateDir: string): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync(stateDir).filter((n) => n.endsWith('.json'));
  } catch {
    return;
  }
  const recs: Rec[] = [];
  for (const n of names) {
    try {
      recs.push(JSON.parse(fs.readFileSync(path.join(stateDir, n), 'utf8')) as Rec);
    } catch {
      // not a job record
    }
  }
  const kill = (pid: number | null | undefined, startTime: string | null | undefined, group: boolean): void => {
    if (!pid || !isAlive(pid) || (startTime != null && processStartTime(pid) !== startTime)) return;
    if (group) killGroup(pid, 'SIGKILL');
    else process.kill(pid, 'SIGKILL');
  };
  for (const r of recs) kill(r.supervisor?.pid, r.supervisor?.startTime, false);
  for (const r of recs) {
    kill(r.pid, r.startTime, true);
    kill(r.ticker?.pid, null, true);
  }
}

/** Run the model's launchctl as a user would; returns status and output. */
export function launchctl(env: NodeJS.ProcessEnv, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(DOUBLES_DIR, 'launchctl.mjs'), ...args], { env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `launchctl bootout`, then wait as a login would until `print` says the job is gone (bootout is asynchronous). */
export async function bootoutAndWait(env: NodeJS.ProcessEnv, serviceTarget: string): Promise<void> {
  const r = launchctl(env, 'bootout', serviceTarget);
  if (r.status !== 0) throw new Error(`launchctl bootout ${serviceTarget}: exit ${r.status}: ${r.stderr}`);
  while (launchctl(env, 'print', serviceTarget).status === 0) await new Promise((res) => setTimeout(res, 50));
}
