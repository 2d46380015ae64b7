/**
 * A real `systemd --user` for tests (test/helpers/systemd-user.sh does the work; read its header).
 *
 * One manager per test file (start it in beforeAll, stop it in afterAll): journald and the user
 * manager run in a private mount namespace as a dedicated unprivileged user created for this run
 * (`ocv-sd-<pid>`, UID >= 1000) and deleted at stop. Everything is torn down by PID; stop() reports
 * whatever was left behind (a process of the user, a cgroup, a host /run change) as `leaks`.
 *
 * How tests and the oc-versions CLI reach it:
 * - `runCli(args, env)` runs the BUILT CLI as the test user inside the namespace (the realistic case:
 *   a user's own oc-versions driving its own user manager; inside, `systemctl`/`journalctl` are the
 *   real binaries and XDG_RUNTIME_DIR / DBUS_SESSION_BUS_ADDRESS are set);
 * - `systemctl(...)`, `show(...)`, `journal(...)` for the test's own assertions (from root, through
 *   the generated `<state>/bin/systemctl` wrapper: nsenter + setpriv);
 * - `binDir`: `systemctl`/`journalctl`/`as-user` wrappers to put first on PATH for any other caller.
 *
 * Files the user's units run (the launcher, node, dist/) must be readable by the test user:
 * `makeUserDir()` gives a temp dir owned by it; the repo and node binary are world-readable.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO, runCli, type CliResult } from './cli.js';

export const SYSTEMD_USER_SH = path.resolve(import.meta.dirname, 'systemd-user.sh');

/** '' when this host can run a real user manager (root + Debian packages), else why not. */
export function systemdUserSkipReason(): string {
  if (process.platform !== 'linux') return 'not Linux';
  const r = spawnSync(SYSTEMD_USER_SH, ['check'], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', SYSD_STATE: '/nonexistent', SYSD_HOME: '/nonexistent' },
    encoding: 'utf8',
  });
  if (r.error) return `cannot run ${SYSTEMD_USER_SH}: ${r.error.message}`;
  if (r.status !== 0) return (r.stdout || r.stderr).trim() || `check exited ${r.status}`;
  return unreachableByOthers([process.execPath, path.join(REPO, 'dist', 'cli.js')]);
}

/**
 * The lane runs node and the built CLI as an unprivileged test user: every directory above them
 * must let others through (a checkout cloned into a `mktemp -d` dir, mode 0700, does not). Then the
 * first command fails with EACCES and every later test fails after it; '' when they are reachable.
 */
function unreachableByOthers(files: readonly string[]): string {
  for (const f of files) {
    for (let d = path.dirname(f); ; d = path.dirname(d)) {
      let mode: number;
      try {
        mode = fs.statSync(d).mode;
      } catch {
        break;
      }
      if ((mode & 0o001) === 0) return `the test user cannot reach ${f}: ${d} is mode ${(mode & 0o777).toString(8)} (no x for others); check out the repo where an unprivileged user can read it`;
      if (path.dirname(d) === d) break;
    }
  }
  return '';
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SystemdUser {
  user: string;
  uid: number;
  gid: number;
  /** HOME of the manager; units live in `<home>/.config/systemd/user`. */
  home: string;
  root: string;
  state: string;
  binDir: string;
  managerPid: number;
  journaldPid: number;
  supervisorPid: number;
  startMs: number;
  /** Env for a process running as the test user (HOME, XDG_CONFIG_HOME, a PATH with node). */
  userEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** A fresh directory under the run's root, owned by the test user (mode 0755). */
  makeUserDir(name: string): Promise<string>;
  /** Write a file as the test user would own it. */
  writeUserFile(file: string, text: string, mode?: number): Promise<void>;
  /** The built CLI as the test user, inside the namespace. */
  runCli(args: string[], env: NodeJS.ProcessEnv, opts?: { timeoutMs?: number }): Promise<CliResult>;
  /** `systemctl --user ARGS` against this manager. */
  systemctl(...args: string[]): Promise<RunResult>;
  /** `systemctl --user show -p P1,P2 UNIT` as a record. */
  show(unit: string, props: string[]): Promise<Record<string, string>>;
  /** `journalctl --user -u UNIT -o cat` (the unit's output and the manager's lines about it). */
  journal(unit: string, lines?: number): Promise<string>;
  /** Stop everything by PID; returns what was left behind (each entry is a leak). */
  stop(): Promise<{ leaks: string[]; ms: number }>;
}

function runFile(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** What a clean teardown must leave unchanged on the host. */
function hostSnapshot(): string {
  const list = (d: string) => {
    try {
      return fs.readdirSync(d).sort().join(',');
    } catch {
      return '(none)';
    }
  };
  return `/run/systemd: ${list('/run/systemd')}\n/run/user: ${list('/run/user')}`;
}

export async function startSystemdUser(): Promise<SystemdUser> {
  const t0 = Date.now();
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocv-sd-'));
  await fsp.chmod(root, 0o755);
  const state = path.join(root, 'state');
  const home = path.join(root, 'home');
  const user = `ocv-sd-${process.pid}`;
  const baseEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', SYSD_STATE: state, SYSD_HOME: home, SYSD_USER: user };
  const before = hostSnapshot();
  const started = await runFile(SYSTEMD_USER_SH, ['start'], baseEnv, 60_000);
  const readPid = (n: string) => Number(fs.readFileSync(path.join(state, `${n}.pid`), 'utf8').trim());
  if (started.code !== 0) {
    const stopped = await runFile(SYSTEMD_USER_SH, ['stop'], baseEnv, 60_000).catch(() => null);
    await fsp.rm(root, { recursive: true, force: true });
    throw new Error(`systemd-user.sh start failed (exit ${started.code}): ${started.stderr}${started.stdout}\nstop: ${stopped?.stdout ?? ''}`);
  }
  const m = /uid=(\d+)/.exec(started.stdout);
  const uid = Number(m?.[1]);
  const gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
  const binDir = path.join(state, 'bin');
  const asUser = path.join(binDir, 'as-user');
  const nodeDir = path.dirname(process.execPath);
  const clientEnv = { PATH: `${binDir}:${baseEnv.PATH}`, HOME: home };

  const sd: SystemdUser = {
    user,
    uid,
    gid,
    home,
    root,
    state,
    binDir,
    managerPid: readPid('manager'),
    journaldPid: readPid('journald'),
    supervisorPid: readPid('supervisor'),
    startMs: Date.now() - t0,

    userEnv(extra = {}) {
      return {
        PATH: `${nodeDir}:/usr/local/bin:/usr/bin:/bin`,
        HOME: home,
        XDG_CONFIG_HOME: path.join(home, '.config'),
        TMPDIR: path.join(root, 'tmp'),
        LANG: 'C.UTF-8',
        ...extra,
      };
    },

    async makeUserDir(name) {
      const dir = path.join(root, name);
      await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
      await fsp.chown(dir, uid, gid);
      return dir;
    },

    async writeUserFile(file, text, mode = 0o644) {
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await fsp.writeFile(file, text, { mode });
      await fsp.chmod(file, mode);
      await fsp.chown(file, uid, gid);
    },

    runCli(args, env, opts = {}) {
      // as-user execs (nsenter -> setpriv -> env -> node): the child pid is the CLI's node.
      return runCli(args, env, { ...opts, wrapper: asUser });
    },

    systemctl(...args) {
      return runFile(path.join(binDir, 'systemctl'), ['--user', '--no-pager', ...args], clientEnv, 60_000);
    },

    async show(unit, props) {
      const r = await sd.systemctl('show', '-p', props.join(','), unit);
      const out: Record<string, string> = {};
      for (const line of r.stdout.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
      }
      return out;
    },

    async journal(unit, lines = 50) {
      const r = await runFile(path.join(binDir, 'journalctl'), ['--user', '-u', unit, '-n', String(lines), '--no-pager', '-o', 'cat'], clientEnv, 30_000);
      return r.stdout;
    },

    async stop() {
      const s0 = Date.now();
      const leaks: string[] = [];
      const r = await runFile(SYSTEMD_USER_SH, ['stop'], baseEnv, 120_000);
      for (const l of r.stdout.split('\n')) if (l.startsWith('leftover')) leaks.push(l);
      if (r.code !== 0 && leaks.length === 0) leaks.push(`systemd-user.sh stop exited ${r.code}: ${r.stderr.trim()}`);
      for (const pid of [sd.managerPid, sd.journaldPid, sd.supervisorPid]) {
        try {
          process.kill(pid, 0);
          leaks.push(`pid ${pid} still alive`);
        } catch {
          // gone
        }
      }
      const ps = spawnSync('ps', ['-o', 'pid=,args=', '-u', String(uid)], { encoding: 'utf8' });
      if (ps.stdout.trim()) leaks.push(`processes of uid ${uid}: ${ps.stdout.trim()}`);
      for (const h of ['unified', 'systemd', '']) {
        const d = path.join('/sys/fs/cgroup', h, 'user.slice', `user-${uid}.slice`);
        if (fs.existsSync(d)) leaks.push(`cgroup ${d}`);
      }
      if (spawnSync('id', ['-u', user]).status === 0) leaks.push(`user ${user} still exists`);
      const after = hostSnapshot();
      if (after !== before) leaks.push(`host /run changed:\nbefore ${before}\nafter  ${after}`);
      await fsp.rm(root, { recursive: true, force: true });
      return { leaks, ms: Date.now() - s0 };
    },
  };
  await sd.makeUserDir('tmp');
  return sd;
}
