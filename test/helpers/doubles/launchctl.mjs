// The launchd model, part 1: `launchctl`. THIS IS THE TEST SUITE'S ONE DOCUMENTED MOCK: launchd
// cannot exist on Linux, so every launchd test runs against this model, which is meant to be AT
// LEAST AS STRICT as launchd. It runs the job for real (a child of launchd-job.mjs, the per-job
// half of launchd), with real signals, real files and the exit statuses launchctl prints.
//
// Behaviour, with its source (man = launchctl(1) / launchd.plist(5); OC = OpenClaw 2026.9.6
// dist/launchd-*.mjs; ocm = openclaw/ocm src/**/platform.rs; field = field reports, see
// ../shared/OPENCLAW_FACTS.md §8 and docs/service.md#the-launchd-model):
//  - bootstrap <gui/uid> <plist>: loads the job AS READ NOW (a later edit on disk needs bootout +
//    bootstrap) [man]; XML or binary plists [man; OC reads them with plutil]; RunAtLoad/KeepAlive
//    start it [launchd.plist]. Unreadable plist → 5 "Input/output error" [field].
//    Already loaded → 37 "Operation already in progress", also for two bootstraps racing [field, OC
//    probes state on 37]. While a bootout is under way (job still SIGTERMed) → 5 [field, OC retries
//    5 for 30 s]. A label with a `disable` override → 5 [field; as root the richer error is
//    "Service is disabled"; OC/ocm `enable` first].
//  - bootout <gui/uid/label> | <gui/uid> <plist>: ASYNCHRONOUS [field]: returns at once; the job
//    shows `state = SIGTERMed` in print until it exits; SIGKILL after the job's ExitTimeOut
//    (default 20 s) [launchd.plist]; then unloaded (print → 113). Not loaded → 3 "No such process";
//    a second bootout while one is under way → 36 "Operation now in progress" [field, OC].
//  - kickstart [-k] [-p] <target>: starts the job if it is not running (bypasses ThrottleInterval)
//    [man]; -k kills the running instance first, with SIGKILL: no drain [field: exit status 9].
//    Not loaded → 113. Disabled → 119 "Service is disabled" [field].
//  - KeepAlive (true, or {SuccessfulExit, Crashed}) respawns the job, never more often than
//    ThrottleInterval (default 10 s, fractions allowed here so tests can be fast) [launchd.plist].
//    StartInterval runs it every N s [launchd.plist].
//  - enable / disable <target>: persistent overrides (kept across bootout, like
//    /var/db/com.apple.xpc.launchd/disabled.<uid>.plist); print-disabled <gui/uid> lists them [man].
//    disable does not unload a loaded job [man].
//  - print <target>: launchd's text format (tabs, `key = value`, nested `{ }` blocks), the
//    `environment` block with the VALUES in clear as launchd prints them, `path`, `state`, `pid`,
//    `last exit code` / `last terminating signal`, `exit timeout`, `minimum runtime` [real output].
//    Not loaded → 113 "Could not find service" [real]. print <gui/uid> describes the domain.
//  - No GUI session (SSH without a graphical login): set OC_LAUNCHD_MODEL_NO_GUI=1; every command
//    on gui/<uid> fails with 125 ("Domain does not support specified action" / "Could not find
//    domain for …") [field, OC maps 125 to a GUI-session error]; managername says Background [ocm].
//  - StandardOutPath/StandardErrorPath's directory is NOT created by launchd: the job fails to start
//    (last exit code = 78: EX_CONFIG) [field; OC mkdirs its log dir before bootstrap].
//  - The job's environment is launchd's minimal one (PATH=/usr/bin:/bin:/usr/sbin:/sbin, HOME,
//    USER, TMPDIR, XPC_SERVICE_NAME…) plus EnvironmentVariables; the caller's env never leaks [man].
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { parse } from 'plist';
import { parseBinaryPlist } from './bplist.mjs';
import { alive, readState, stateDir, statePath, writeState } from './lib.mjs';

const [cmd, ...args] = process.argv.slice(2);
const die = (code, msg) => {
  process.stderr.write(msg + '\n');
  process.exit(code);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const noGui = process.env.OC_LAUNCHD_MODEL_NO_GUI === '1';
const verbName = { bootstrap: 'Bootstrap', bootout: 'Boot-out', enable: 'Enable', disable: 'Disable' };

function domainOf(spec) {
  const m = /^gui\/(\d+)$/.exec(spec || '');
  if (!m) die(64, `Unrecognized target specifier: ${spec}`);
  requireGui(m[1]);
  return m[1];
}

function target(spec) {
  const m = /^gui\/(\d+)\/(.+)$/.exec(spec || '');
  if (!m) die(64, `Unrecognized target specifier: ${spec}`);
  requireGui(m[1]);
  return { uid: m[1], label: m[2] };
}

function requireGui(uid) {
  if (!noGui) return;
  if (cmd === 'print' || cmd === 'print-disabled') die(125, `Bad request.\nCould not find domain for user gui: ${uid}`);
  const verb = verbName[cmd];
  die(125, verb ? `${verb} failed: 125: Domain does not support specified action` : `Could not find domain for user gui: ${uid}`);
}

function readPlist(file) {
  let doc;
  try {
    const buf = fs.readFileSync(file);
    if (buf.subarray(0, 8).toString('latin1') === 'bplist00') doc = parseBinaryPlist(buf);
    else {
      const saved = console.error;
      console.error = () => {};
      try {
        doc = parse(buf.toString('utf8'));
      } finally {
        console.error = saved;
      }
    }
  } catch {
    return null;
  }
  if (!doc || typeof doc !== 'object' || typeof doc.Label !== 'string') return null;
  const argv = Array.isArray(doc.ProgramArguments) ? doc.ProgramArguments : doc.Program ? [doc.Program] : null;
  if (!argv || argv.length === 0) return null;
  return doc;
}

// Persistent enable/disable overrides, per user domain.
const overridesPath = (uid) => statePath('launchd-overrides', `gui-${uid}`);
function overrides(uid) {
  try {
    return JSON.parse(fs.readFileSync(overridesPath(uid), 'utf8')).disabled || {};
  } catch {
    return {};
  }
}
function setOverride(uid, label, disabled) {
  const all = overrides(uid);
  all[label] = disabled;
  fs.writeFileSync(`${overridesPath(uid)}.tmp`, JSON.stringify({ disabled: all }));
  fs.renameSync(`${overridesPath(uid)}.tmp`, overridesPath(uid));
}

function supervisorAlive(job) {
  return job?.supervisor && alive(job.supervisor);
}

/** The loaded job, or null. A record whose launchd half is gone is not a loaded job. */
function loadedJob(label) {
  const job = readState('launchd', label);
  return job && supervisorAlive(job) ? job : null;
}

async function waitFor(pred, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = pred();
    if (v) return v;
    await sleep(15);
  }
  return null;
}

function lockBootstrap(label) {
  const lock = statePath('launchd-bootstrap', label) + '.lock';
  try {
    fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
    return lock;
  } catch {
    const holder = Number(fs.readFileSync(lock, 'utf8'));
    if (holder && alive({ pid: holder })) return null;
    fs.rmSync(lock, { force: true });
    return lockBootstrap(label);
  }
}

function signal(job, sig) {
  try {
    process.kill(job.supervisor.pid, sig);
  } catch {}
}

switch (cmd) {
  case 'bootstrap': {
    const [domain, file] = args;
    if (!file) die(64, 'Usage: launchctl bootstrap <domain-target> <path>');
    const uid = domainOf(domain);
    const doc = readPlist(file);
    if (!doc) die(5, 'Bootstrap failed: 5: Input/output error');
    if (overrides(uid)[doc.Label] === true) die(5, 'Bootstrap failed: 5: Input/output error\nTry re-running the command as root for richer errors.');
    const lock = lockBootstrap(doc.Label);
    if (!lock) die(37, 'Bootstrap failed: 37: Operation already in progress');
    const fail = (code, msg) => {
      fs.rmSync(lock, { force: true });
      die(code, msg);
    };
    try {
      const existing = loadedJob(doc.Label);
      if (existing?.bootingOut) fail(5, 'Bootstrap failed: 5: Input/output error');
      if (existing) fail(37, 'Bootstrap failed: 37: Operation already in progress');
      writeState('launchd', doc.Label, { label: doc.Label, uid, path: file, plist: doc, pid: null, runs: 0, state: 'not running', loadedAt: new Date().toISOString() });
      const c = spawn(process.execPath, [new URL('./launchd-job.mjs', import.meta.url).pathname, doc.Label], {
        env: { ...process.env, OC_DOUBLE_STATE: stateDir() },
        detached: true,
        stdio: 'ignore',
      });
      c.unref();
      const ok = await waitFor(() => readState('launchd', doc.Label)?.supervisor?.ready);
      if (!ok) fail(5, 'Bootstrap failed: 5: Input/output error');
    } finally {
      fs.rmSync(lock, { force: true });
    }
    break;
  }
  case 'bootout': {
    let t;
    if (args.length >= 2) {
      const uid = domainOf(args[0]);
      const doc = readPlist(args[1]);
      if (!doc) die(5, 'Boot-out failed: 5: Input/output error');
      t = { uid, label: doc.Label };
    } else t = target(args[0]);
    const job = loadedJob(t.label);
    if (!job) die(3, 'Boot-out failed: 3: No such process');
    if (job.bootingOut) die(36, 'Boot-out failed: 36: Operation now in progress');
    signal(job, 'SIGHUP');
    // Returns once launchd has taken the request, NOT when the job is gone.
    await waitFor(() => {
      const j = readState('launchd', t.label);
      return !j || j.bootingOut || !supervisorAlive(j);
    }, 5_000);
    break;
  }
  case 'kickstart': {
    const kill = args.includes('-k');
    const printPid = args.includes('-p');
    const t = target(args.filter((a) => !a.startsWith('-'))[0]);
    const job = loadedJob(t.label);
    if (!job) die(113, `Could not find service "${t.label}" in domain for user gui: ${t.uid}`);
    if (overrides(t.uid)[t.label] === true) die(119, `Could not kickstart service "${t.label}": 119: Service is disabled`);
    if (job.bootingOut) die(36, `Could not kickstart service "${t.label}": 36: Operation now in progress`);
    const running = job.pid && alive(job);
    if (running && !kill) {
      if (printPid) process.stdout.write(`${job.pid}\n`);
      break;
    }
    signal(job, kill ? 'SIGUSR2' : 'SIGUSR1');
    const started = await waitFor(() => {
      const j = readState('launchd', t.label);
      if (!j) return 'gone';
      if ((j.runs || 0) > (job.runs || 0) && j.pid) return 'started';
      if ((j.runs || 0) >= (job.runs || 0) && j.spawnFailed && j.state !== 'running' && !running) return 'failed';
      return null;
    });
    if (printPid && started === 'started') process.stdout.write(`${readState('launchd', t.label)?.pid}\n`);
    break;
  }
  case 'enable':
  case 'disable': {
    const t = target(args[0]);
    setOverride(t.uid, t.label, cmd === 'disable');
    break;
  }
  case 'print-disabled': {
    const uid = domainOf(args[0]);
    const lines = Object.entries(overrides(uid)).map(([l, d]) => `\t"${l}" => ${d ? 'disabled' : 'enabled'}`);
    process.stdout.write(['disabled services = {', ...lines, '}', ''].join('\n'));
    break;
  }
  case 'managername':
    process.stdout.write(noGui ? 'Background\n' : 'Aqua\n');
    break;
  case 'print': {
    if (/^gui\/\d+$/.test(args[0] || '')) {
      const uid = domainOf(args[0]);
      process.stdout.write(`gui/${uid} = {\n\ttype = login\n\thandle = ${uid}\n\tactive count = 1\n\tcreator = loginwindow\n}\n`);
      break;
    }
    const t = target(args[0]);
    const job = loadedJob(t.label);
    if (!job) die(113, `Bad request.\nCould not find service "${t.label}" in domain for user gui: ${t.uid}`);
    process.stdout.write(printJob(t, job));
    break;
  }
  default:
    die(64, `Unrecognized subcommand: ${cmd}\nUsage: launchctl <subcommand> ... | help [subcommand]`);
}

function printJob(t, job) {
  const doc = job.plist;
  const running = Boolean(job.pid && alive(job));
  const argv = Array.isArray(doc.ProgramArguments) ? doc.ProgramArguments : [doc.Program];
  const env = { ...(doc.EnvironmentVariables || {}), XPC_SERVICE_NAME: doc.Label };
  const last = job.last;
  const props = [doc.KeepAlive ? 'keepalive' : null, doc.RunAtLoad ? 'runatload' : null, doc.Program ? null : 'inferred program'].filter(Boolean);
  const lines = [
    `gui/${t.uid}/${t.label} = {`,
    `\tactive count = ${running ? 1 : 0}`,
    `\tpath = ${job.path}`,
    `\ttype = LaunchAgent`,
    `\tstate = ${job.state || (running ? 'running' : 'not running')}`,
    '',
    `\tprogram = ${doc.Program || argv[0]}`,
    `\targuments = {`,
    ...argv.map((a) => `\t\t${a}`),
    `\t}`,
    '',
    ...(doc.WorkingDirectory ? [`\tworking directory = ${doc.WorkingDirectory}`] : []),
    `\tstdout path = ${doc.StandardOutPath || '/dev/null'}`,
    `\tstderr path = ${doc.StandardErrorPath || '/dev/null'}`,
    `\tdefault environment = {`,
    `\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin`,
    `\t}`,
    '',
    `\tenvironment = {`,
    ...Object.entries(env).map(([k, v]) => `\t\t${k} => ${v}`),
    `\t}`,
    '',
    `\tdomain = gui/${t.uid} [100008]`,
    `\tasid = 100008`,
    `\tminimum runtime = ${typeof doc.ThrottleInterval === 'number' ? doc.ThrottleInterval : 10}`,
    `\texit timeout = ${typeof doc.ExitTimeOut === 'number' ? doc.ExitTimeOut : 20}`,
    `\truns = ${job.runs || 0}`,
    ...(running ? [`\tpid = ${job.pid}`] : []),
    `\timmediate reason = ${running ? 'speculative' : 'inefficient'}`,
    `\tforks = 0`,
    `\texecs = ${job.runs || 0}`,
    `\tinitialized = 1`,
    `\ttrampolined = 1`,
    last?.signal
      ? `\tlast terminating signal = ${signalName(last.signal)}`
      : `\tlast exit code = ${last == null ? '(never exited)' : last.code === 78 ? '78: EX_CONFIG' : last.code}`,
    '',
    `\tspawn type = interactive (4)`,
    `\tproperties = ${props.join(' | ')}`,
    '}',
  ];
  return lines.join('\n') + '\n';
}

function signalName(sig) {
  return { SIGKILL: 'Killed: 9', SIGTERM: 'Terminated: 15', SIGABRT: 'Abort trap: 6', SIGSEGV: 'Segmentation fault: 11' }[sig] || sig;
}
