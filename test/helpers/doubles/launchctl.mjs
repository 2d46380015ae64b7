// launchctl double: bootstrap / bootout / kickstart [-k] / print on gui/<uid>,
// running the job for real from the plist (ProgramArguments, EnvironmentVariables,
// WorkingDirectory, StandardOutPath/StandardErrorPath). Like launchd, the job
// definition is the one LOADED at bootstrap: a plist edited on disk takes effect
// only after bootout + bootstrap (set OC_DOUBLE_KICKSTART_FROM_DISK=1 to re-read it).
import fs from 'node:fs';
import os from 'node:os';
import { parse } from 'plist';
import { alive, readState, removeState, spawnJob, stopJob, writeState } from './lib.mjs';

const [cmd, ...args] = process.argv.slice(2);
const die = (code, msg) => {
  process.stderr.write(msg + '\n');
  process.exit(code);
};

function target(spec) {
  const m = /^gui\/(\d+)\/(.+)$/.exec(spec || '');
  if (!m) die(64, `Unrecognized target specifier: ${spec}`);
  return { uid: m[1], label: m[2] };
}

function notFound(t) {
  die(113, `Bad request.\nCould not find service "${t.label}" in domain for user gui: ${t.uid}`);
}

function readPlist(file) {
  let doc;
  try {
    const saved = console.error;
    console.error = () => {};
    try {
      doc = parse(fs.readFileSync(file, 'utf8'));
    } finally {
      console.error = saved;
    }
  } catch {
    return null;
  }
  if (!doc || typeof doc !== 'object' || typeof doc.Label !== 'string') return null;
  const argv = Array.isArray(doc.ProgramArguments) ? [...doc.ProgramArguments] : doc.Program ? [doc.Program] : null;
  if (!argv || argv.length === 0) return null;
  if (doc.Program) argv[0] = doc.Program;
  return doc;
}

function launch(job) {
  const doc = job.plist;
  const argv = Array.isArray(doc.ProgramArguments) ? [...doc.ProgramArguments] : [doc.Program];
  if (doc.Program) argv[0] = doc.Program;
  const env = {
    PATH: '/usr/bin:/bin:/usr/sbin:/sbin',
    HOME: process.env.HOME,
    USER: process.env.USER || os.userInfo().username,
    LOGNAME: process.env.USER || os.userInfo().username,
    SHELL: '/bin/sh',
    TMPDIR: os.tmpdir(),
    XPC_SERVICE_NAME: doc.Label,
    XPC_FLAGS: '0x0',
    ...(doc.EnvironmentVariables || {}),
  };
  const rec = spawnJob(argv, env, { cwd: doc.WorkingDirectory, stdout: doc.StandardOutPath, stderr: doc.StandardErrorPath });
  return { ...job, ...rec, runs: (job.runs || 0) + 1 };
}

const exitTimeoutMs = (job) => 1000 * (typeof job.plist.ExitTimeOut === 'number' ? job.plist.ExitTimeOut : 20);

switch (cmd) {
  case 'bootstrap': {
    const [domain, file] = args;
    if (!/^gui\/\d+$/.test(domain || '') || !file) die(64, 'Usage: launchctl bootstrap <domain-target> <path>');
    const doc = readPlist(file);
    if (!doc) die(5, 'Bootstrap failed: 5: Input/output error');
    const existing = readState('launchd', doc.Label);
    if (existing) die(5, 'Bootstrap failed: 5: Input/output error');
    let job = { label: doc.Label, path: file, plist: doc, pid: null, runs: 0 };
    if (doc.RunAtLoad || doc.KeepAlive) job = launch(job);
    if (typeof doc.StartInterval === 'number' && doc.StartInterval > 0) {
      // launchd runs the job every StartInterval seconds while it is loaded.
      const uid = domain.split('/')[1];
      const ticker = spawnJob([process.execPath, new URL('./launchd-interval.mjs', import.meta.url).pathname, uid, doc.Label, String(doc.StartInterval)], process.env, {});
      job.ticker = ticker;
    }
    writeState('launchd', doc.Label, job);
    break;
  }
  case 'bootout': {
    const t = target(args[0]);
    const job = readState('launchd', t.label);
    if (!job) die(113, 'Boot-out failed: 113: Could not find specified service');
    await stopJob(job, exitTimeoutMs(job));
    if (job.ticker) await stopJob(job.ticker, 1000);
    removeState('launchd', t.label);
    break;
  }
  case 'kickstart': {
    const kill = args.includes('-k');
    const t = target(args.filter((a) => !a.startsWith('-'))[0]);
    let job = readState('launchd', t.label);
    if (!job) die(113, `Could not find service "${t.label}" in domain for user gui: ${t.uid}`);
    if (alive(job) && !kill) break;
    if (alive(job)) await stopJob(job, exitTimeoutMs(job));
    if (process.env.OC_DOUBLE_KICKSTART_FROM_DISK === '1') job.plist = readPlist(job.path) || job.plist;
    job = launch(job);
    // Keep what a concurrent kickstart of the ticker may not know: re-read the ticker record.
    const latest = readState('launchd', t.label);
    if (latest?.ticker) job.ticker = latest.ticker;
    writeState('launchd', t.label, job);
    process.stdout.write(`service spawned with pid: ${job.pid}\n`);
    break;
  }
  case 'print': {
    const t = target(args[0]);
    const job = readState('launchd', t.label);
    if (!job) notFound(t);
    const running = alive(job);
    const doc = job.plist;
    const argv = Array.isArray(doc.ProgramArguments) ? doc.ProgramArguments : [doc.Program];
    const env = Object.entries(doc.EnvironmentVariables || {}).map(([k]) => `\t\t${k} => (redacted by double)`);
    const lines = [
      `gui/${t.uid}/${t.label} = {`,
      `\tactive count = ${running ? 1 : 0}`,
      `\tpath = ${job.path}`,
      `\ttype = LaunchAgent`,
      `\tstate = ${running ? 'running' : 'not running'}`,
      '',
      `\tprogram = ${doc.Program || argv[0]}`,
      `\targuments = {`,
      ...argv.map((a) => `\t\t${a}`),
      `\t}`,
      '',
      `\tstdout path = ${doc.StandardOutPath || '/dev/null'}`,
      `\tstderr path = ${doc.StandardErrorPath || '/dev/null'}`,
      `\tenvironment = {`,
      ...env,
      `\t}`,
      '',
      `\tdomain = gui/${t.uid} [100008]`,
      `\truns = ${job.runs || 0}`,
      ...(running ? [`\tpid = ${job.pid}`] : []),
      `\timmediate reason = ${running ? 'speculative' : 'inefficient'}`,
      `\tforks = 0`,
      `\texecs = ${job.runs || 0}`,
      `\tlast exit code = ${running && job.runs <= 1 ? '(never exited)' : '0'}`,
      '}',
    ];
    process.stdout.write(lines.join('\n') + '\n');
    break;
  }
  default:
    die(64, `Unrecognized subcommand: ${cmd}\nUsage: launchctl <subcommand> ... | help [subcommand]`);
}
