// Part of the launchctl double: launchd's StartInterval. Started detached by
// `bootstrap` for a job with StartInterval; every N seconds it kickstarts the job
// (which, like launchd, starts it only when it is not already running). It exits on
// its own when the job is booted out (its state record is gone).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readState } from './lib.mjs';

const [uid, label, seconds] = process.argv.slice(2);
const launchctl = path.join(path.dirname(fileURLToPath(import.meta.url)), 'launchctl.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (;;) {
  await sleep(Number(seconds) * 1000);
  const job = readState('launchd', label);
  if (!job || job.ticker?.pid !== process.pid) process.exit(0);
  spawnSync(process.execPath, [launchctl, 'kickstart', `gui/${uid}/${label}`], { stdio: 'ignore', env: process.env });
}
