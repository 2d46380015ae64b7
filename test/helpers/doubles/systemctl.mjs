// systemctl double (--user only): daemon-reload, start, stop, restart, enable,
// disable, reset-failed, is-active, show -p ..., show-environment. Units are read from
// $XDG_CONFIG_HOME/systemd/user (or ~/.config/systemd/user). Like systemd, the
// job runs from the unit as LOADED (at daemon-reload, or on first use); a unit
// edited on disk without daemon-reload keeps its old definition and a warning
// is printed. The parser here is deliberately independent of src/service/unit.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alive, readState, spawnJob, stateDir, stopJob, writeState } from './lib.mjs';

const argv = process.argv.slice(2);
const die = (code, msg) => {
  if (msg) process.stderr.write(msg + '\n');
  process.exit(code);
};
if (!argv.includes('--user')) die(1, 'Failed to connect to bus: double supports --user only');
const rest = argv.filter((a) => a !== '--user' && a !== '--no-pager' && a !== '--quiet');
const [cmd, ...args] = rest;

const unitDir = path.join(process.env.XDG_CONFIG_HOME || path.join(process.env.HOME || os.homedir(), '.config'), 'systemd', 'user');
const unitFile = (u) => path.join(unitDir, u);
const norm = (u) => (u.endsWith('.service') || u.endsWith('.timer') ? u : `${u}.service`);

function words(value) {
  const out = [];
  let i = 0;
  while (i < value.length) {
    while (i < value.length && /\s/.test(value[i])) i++;
    if (i >= value.length) break;
    let w = '';
    while (i < value.length && !/\s/.test(value[i])) {
      const c = value[i];
      if (c === '"' || c === "'") {
        i++;
        while (i < value.length && value[i] !== c) {
          if (value[i] === '\\' && c === '"') i++;
          w += value[i++];
        }
        i++;
      } else if (c === '\\') {
        w += value[i + 1];
        i += 2;
      } else {
        w += c;
        i++;
      }
    }
    out.push(w);
  }
  return out;
}

function parseUnitText(text) {
  const u = { exec: null, env: {}, envFiles: [], cwd: null, stdout: null, timeoutStop: 90 };
  let section = null;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1];
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !section) return null;
    if (section !== 'Service') continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === 'ExecStart') u.exec = value.replace(/^[-@:+!]+/, '');
    else if (key === 'Environment') {
      for (const w of words(value)) {
        const e = w.indexOf('=');
        if (e > 0) u.env[w.slice(0, e)] = w.slice(e + 1).replace(/%%/g, '%');
      }
    } else if (key === 'EnvironmentFile') u.envFiles.push(value);
    else if (key === 'WorkingDirectory') u.cwd = value;
    else if (key === 'StandardOutput' && value.startsWith('append:')) u.stdout = value.slice(7);
    else if (key === 'TimeoutStopSec') u.timeoutStop = Number(value) || 90;
  }
  return u.exec ? u : null;
}

function readEnvFile(spec) {
  const optional = spec.startsWith('-');
  const file = spec.replace(/^-/, '');
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    if (optional) return {};
    throw new Error(`Failed to load environment files: ${file}`);
  }
  const env = {};
  for (const raw of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
    if (!m) continue;
    let v = m[2].trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    env[m[1]] = v;
  }
  return env;
}

function loaded(unit) {
  const st = readState('systemd', unit) || { unit, enabled: false, loadedText: null, pid: null, nrestarts: 0 };
  if (st.loadedText == null) {
    try {
      st.loadedText = fs.readFileSync(unitFile(unit), 'utf8');
    } catch {
      return null;
    }
  }
  return st;
}

function warnIfChanged(st) {
  let disk = null;
  try {
    disk = fs.readFileSync(unitFile(st.unit), 'utf8');
  } catch {}
  if (disk !== null && disk !== st.loadedText) {
    process.stderr.write(`Warning: The unit file, source configuration file or drop-ins of ${st.unit} changed on disk. Run 'systemctl --user daemon-reload' to reload units.\n`);
  }
}

function startUnit(st) {
  const u = parseUnitText(st.loadedText);
  if (!u) die(1, `Failed to start ${st.unit}: Unit ${st.unit} has a bad unit file setting.`);
  let fileEnv = {};
  try {
    for (const f of u.envFiles) Object.assign(fileEnv, readEnvFile(f));
  } catch (e) {
    die(1, `Failed to start ${st.unit}: ${e.message}`);
  }
  // EnvironmentFile= settings override Environment= (systemd.exec(5)).
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME, USER: process.env.USER || os.userInfo().username, ...u.env, ...fileEnv };
  const expand = (w) => w.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, k) => (m === '$$' ? '$' : (env[k] ?? '')));
  const cmd = words(u.exec).map((w) => expand(w.replace(/%%/g, '%')));
  const log = u.stdout || path.join(stateDir(), `${st.unit}.log`);
  Object.assign(st, spawnJob(cmd, env, { cwd: u.cwd || process.env.HOME, stdout: log, stderr: log }), { timeoutStop: u.timeoutStop });
  if (!st.pid) die(1, `Failed to start ${st.unit}: exec failed`);
}

const stopTimeout = (st) => 1000 * Math.min(st.timeoutStop || 90, Number(process.env.OC_DOUBLE_STOP_TIMEOUT_S || 30));

switch (cmd) {
  case 'show-environment':
    for (const [k, v] of Object.entries(process.env)) process.stdout.write(`${k}=${v}\n`);
    break;
  case 'daemon-reload': {
    let names = [];
    try {
      names = fs.readdirSync(unitDir).filter((n) => n.endsWith('.service'));
    } catch {}
    for (const n of names) {
      const st = readState('systemd', n) || { unit: n, enabled: false, pid: null, nrestarts: 0 };
      st.loadedText = fs.readFileSync(unitFile(n), 'utf8');
      writeState('systemd', n, st);
    }
    break;
  }
  case 'enable':
  case 'disable': {
    const now = args.includes('--now');
    const unit = norm(args.filter((a) => !a.startsWith('--'))[0] || '');
    if (unit.endsWith('.timer')) {
      // Timers are recorded (enabled, active) but not run by the double: tests that need the
      // tick run the timer's service themselves, or use the real user manager.
      if (!fs.existsSync(unitFile(unit))) die(1, `Failed to ${cmd} unit: Unit file ${unit} does not exist.`);
      writeState('systemd', unit, { unit, enabled: cmd === 'enable', active: cmd === 'enable' && now, pid: null, nrestarts: 0 });
      break;
    }
    const st = loaded(unit);
    if (!st) die(1, `Failed to ${cmd} unit: Unit file ${unit} does not exist.`);
    st.enabled = cmd === 'enable';
    writeState('systemd', unit, st);
    if (cmd === 'enable') process.stderr.write(`Created symlink ${path.join(unitDir, 'default.target.wants', unit)} → ${unitFile(unit)}.\n`);
    break;
  }
  case 'start':
  case 'restart': {
    const unit = norm(args[0] || '');
    const st = loaded(unit);
    if (!st) die(5, `Failed to ${cmd} ${unit}: Unit ${unit} not found.`);
    warnIfChanged(st);
    if (alive(st) && cmd === 'start') break;
    if (alive(st)) await stopJob(st, stopTimeout(st));
    startUnit(st);
    writeState('systemd', unit, st);
    break;
  }
  case 'stop': {
    const unit = norm(args[0] || '');
    const st = readState('systemd', unit);
    if (!st) die(5, `Failed to stop ${unit}: Unit ${unit} not loaded.`);
    await stopJob(st, stopTimeout(st));
    st.pid = null;
    writeState('systemd', unit, st);
    break;
  }
  case 'reset-failed': {
    // The double has no start rate limit; like systemd, an unknown unit is an error.
    const unit = norm(args[0] || '');
    if (!readState('systemd', unit) && !loaded(unit)) die(1, `Failed to reset failed state of unit ${unit}: Unit ${unit} not loaded.`);
    break;
  }
  case 'is-active': {
    const st = readState('systemd', norm(args[0] || ''));
    const active = st && alive(st);
    process.stdout.write(active ? 'active\n' : 'inactive\n');
    process.exit(active ? 0 : 3);
  }
  case 'show': {
    let props = ['MainPID', 'ActiveState', 'SubState', 'NRestarts', 'LoadState'];
    const unitArgs = [];
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '-p' || args[i] === '--property') props = args[++i].split(',');
      else if (args[i].startsWith('--property=')) props = args[i].slice(11).split(',');
      else unitArgs.push(args[i]);
    }
    const unit = norm(unitArgs[0] || '');
    const st = readState('systemd', unit) || loaded(unit);
    const running = st && alive(st);
    const values = {
      MainPID: running ? st.pid : 0,
      ActiveState: running ? 'active' : 'inactive',
      SubState: running ? 'running' : 'dead',
      NRestarts: st?.nrestarts ?? 0,
      LoadState: st ? 'loaded' : 'not-found',
    };
    for (const p of props) process.stdout.write(`${p}=${values[p] ?? ''}\n`);
    break;
  }
  default:
    die(1, `Unknown command verb ${cmd}.`);
}
