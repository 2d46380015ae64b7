// `npm run bench -- --real` (= node bench/run.mjs --real): the real-package rows of docs/benchmarks.md.
//
//   node bench/run.mjs --real [--from 2026.9.5] [--to 2026.9.6] [--npm-cache DIR] [--rounds 3]
//                             [--canary] [--no-xfs] [--no-second-upgrade] [--checks-script FILE] [--json out.json]
//                             [--reuse-home DIR]   (an oc home with both versions installed: downtime rows only)
//
// Opt-in, and the only part of the bench that uses the PUBLIC registry (https://registry.npmjs.org/,
// or $OC_REAL_REGISTRY): it installs the real `openclaw` <from> and <to> into a temp dir with an
// isolated HOME and reports, as ratios measured side by side in this run:
//   - upgrade <from> → <to> downtime under the process backend (the real gateway:
//     `gateway run --port P --bind loopback --allow-unconfigured`) vs <to>'s own unassisted cold
//     start (`node <service entry> gateway run …`, no launcher, no compile cache), with where the
//     outage went (old gateway's drain and exit, our stop → spawn, the new gateway's start);
//   - the compile-cache lever: <to>'s cold start with the launcher's per-version NODE_COMPILE_CACHE
//     warm, and a second upgrade (after a rollback) whose compile cache was warmed before the flip;
//   - disk of <from> + <to> vs <from> alone on the temp dir's filesystem (du) and, as root with
//     mkfs.xfs, on an XFS reflink loop mount (statfs; the mount and loop device are removed);
//   - peak RSS of `oc-versions install <to>` vs `npm install openclaw@<to> --prefix` (/usr/bin/time -v,
//     else the child's VmHWM polled from /proc);
//   - <to>'s pre-start checks on <from>'s state vs on its own, from OpenClaw's own startup timeline
//     (OPENCLAW_DIAGNOSTICS=timeline; one start each, apart from the timed ones);
//   - the import-closure walk and the content inventory of the installed <to> (bench/checks-real.mjs,
//     when present).
// Downloads ~200 MB per version into a fresh npm cache unless --npm-cache names a warm one.
// Leaves no processes, mounts or temp dirs (also on SIGINT/SIGTERM).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { registry as R, REPO } from './lib/ts-helpers.mjs';
import { cleanup, freePort, httpStatus, onCleanup, removeDir, sleep, spawnGroup, stats, tempDir, timed, waitHealthy } from './lib/util.mjs';

const GATEWAY_ENV = { OPENCLAW_DISABLE_BONJOUR: '1', OPENCLAW_NO_AUTO_UPDATE: '1', DO_NOT_TRACK: '1', OPENCLAW_OFFLINE: '1' };
// TLS/proxy settings of this machine (a CA-intercepting proxy needs NODE_EXTRA_CA_CERTS).
const PASS_THROUGH = ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];
const log = (...a) => console.error('[bench real]', ...a);
const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)}` : 'n/a');
const mb = (b) => (Number.isFinite(b) ? `${Math.round(b / 1e6)}` : 'n/a');
const x2 = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

export async function runReal(argv) {
  const opt = (name, def) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : def;
  };
  const FROM = opt('from', '2026.9.5');
  const TO = opt('to', '2026.9.6');
  const ROUNDS = Math.max(1, Number(opt('rounds', 3)));
  const REGISTRY = process.env.OC_REAL_REGISTRY ?? 'https://registry.npmjs.org/';
  const CANARY = argv.includes('--canary');
  const XFS = !argv.includes('--no-xfs');
  const SECOND = !argv.includes('--no-second-upgrade');
  const JSON_OUT = opt('json', null);
  const CHECKS = opt('checks-script', path.join(REPO, 'bench', 'checks-real.mjs'));
  const NODE = process.execPath;
  const CLI = path.join(REPO, 'dist', 'cli.js');
  const t0 = performance.now();
  // On a shared machine other work starves the real gateway (its state-lease heartbeat has a 5 s
  // startup deadline): as root, this bench and every child it starts (both sides of each ratio)
  // run at nice -10. Not root: unchanged.
  let niceness = 0;
  try {
    os.setPriority(0, -10);
    niceness = -10;
  } catch {
    // not permitted
  }

  const ROOT = tempDir('oc-bench-real-');
  const NPM_CACHE = path.resolve(opt('npm-cache', path.join(ROOT, 'npm-cache')));
  fs.mkdirSync(NPM_CACHE, { recursive: true });
  const cacheWasWarm = fs.readdirSync(NPM_CACHE).length > 0;
  const EMPTY_NPMRC = path.join(ROOT, 'empty-npmrc');
  fs.writeFileSync(EMPTY_NPMRC, '');
  const home = path.join(ROOT, 'home');
  // --reuse-home: an oc-versions home where <from> and <to> are already installed (downtime rows only).
  const REUSE = opt('reuse-home', null);
  const ocHome = REUSE ? path.resolve(REUSE) : path.join(ROOT, 'oc-home');
  fs.mkdirSync(home, { recursive: true });
  const passThrough = Object.fromEntries(PASS_THROUGH.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
  const envFor = (oc, extra = {}) =>
    R.npmEnv({
      ...passThrough,
      HOME: home,
      OC_VERSIONS_HOME: oc,
      npm_config_registry: REGISTRY,
      npm_config_userconfig: EMPTY_NPMRC,
      npm_config_cache: NPM_CACHE,
      OPENCLAW_STATE_DIR: path.join(home, '.openclaw'),
      ...GATEWAY_ENV,
      ...extra,
    });
  const env = envFor(ocHome);
  const cli = (args, o = {}) => timed(NODE, [CLI, ...args], { env: o.env ?? env, timeoutMs: o.timeoutMs ?? 15 * 60_000 });
  const res = { from: FROM, to: TO, registry: REGISTRY, npmCacheWasWarm: cacheWasWarm, machine: { niceness, cpus: os.cpus().length, cpu: os.cpus()[0]?.model?.trim(), node: process.version, loadavgAtStart: os.loadavg() }, rows: [] };
  /** One table row: A and B already formatted with their unit in the name; ratio = a / b. */
  const row = (what, aName, a, bName, b, fmt, note = '') => {
    res.rows.push({ what, aName, a, bName, b, ratio: Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : null, note, fa: fmt(a), fb: Number.isFinite(b) ? fmt(b) : '' });
  };
  log(`${FROM} → ${TO} from ${REGISTRY}; npm cache ${NPM_CACHE} (${cacheWasWarm ? 'warm' : 'empty'}); temp ${ROOT}`);

  if (!REUSE) {
    // ------------------------------------------------------------ peak RSS: npm install vs oc-versions install
    const hasTime = fs.existsSync('/usr/bin/time');
    /** Run with peak-RSS measurement: {ms, rssKb, stdout, stderr}. */
    const withRss = async (cmd, args, o) => {
      if (hasTime) {
        const r = await timed('/usr/bin/time', ['-v', cmd, ...args], o);
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
        return { ...r, rssKb: m ? Number(m[1]) : NaN };
      }
      return rssByPolling(cmd, args, o);
    };
    const npmPrefix = path.join(ROOT, 'npm-prefix');
    fs.mkdirSync(npmPrefix);
    fs.writeFileSync(path.join(npmPrefix, 'package.json'), `${JSON.stringify({ name: 'oc-bench-real-prefix', private: true, allowScripts: { openclaw: true } }, null, 2)}\n`);
    log(`npm install openclaw@${TO} --prefix … (peak RSS)`);
    const npmR = await withRss('npm', ['install', `openclaw@${TO}`, '--prefix', npmPrefix, '--no-audit', '--no-fund', '--loglevel', 'error'], { env, cwd: npmPrefix, timeoutMs: 15 * 60_000 });
    const npmDu = duBytes(path.join(npmPrefix, 'node_modules'));
    removeDir(npmPrefix);
    log(`npm install: ${ms(npmR.ms)} ms, peak RSS ${Math.round(npmR.rssKb / 1024)} MB, ${mb(npmDu)} MB on disk`);

    const installs = {};
    for (const v of [FROM, TO]) {
      log(`oc-versions install ${v} (ext4/tmp home; peak RSS)`);
      const r = await withRss(NODE, [CLI, 'install', v, '--json'], { env, timeoutMs: 15 * 60_000 });
      installs[v] = { ms: r.ms, rssKb: r.rssKb, du: duBytes(path.join(ocHome, 'versions', v)) };
      log(`install ${v}: ${ms(r.ms)} ms, peak RSS ${Math.round(r.rssKb / 1024)} MB, ${mb(installs[v].du)} MB`);
    }
    res.installs = installs;
    res.npmInstall = { ms: npmR.ms, rssKb: npmR.rssKb, du: npmDu };
    row(`peak RSS: install ${TO}`, 'oc-versions install (MB)', installs[TO].rssKb * 1024, 'npm install --prefix (MB)', npmR.rssKb * 1024, mb, cacheWasWarm ? 'both on a warm npm cache' : `npm ran first on an empty cache (downloads); oc-versions then read ${TO} from the cache`);
    row(`wall: install ${TO}`, 'oc-versions install (ms)', installs[TO].ms, 'npm install --prefix (ms)', npmR.ms, ms, 'oc-versions also validates and seals; one sample each');
    const fsType = (await timed('df', ['-T', ROOT], { allowFail: true })).stdout.trim().split('\n')[1]?.split(/\s+/)[1] ?? '?';
    const du95 = installs[FROM].du;
    const du96 = installs[TO].du;
    row(`disk ${FROM} + ${TO} vs ${FROM} alone (${fsType}, du)`, 'both (MB)', du95 + du96, `${FROM} alone (MB)`, du95, mb, `${TO} alone ${mb(du96)} MB`);
    // What any filesystem clone could share at best, from the contents alone: the XFS row's floor.
    let floor = null;
    try {
      floor = blockFloor(path.join(ocHome, 'versions', FROM), path.join(ocHome, 'versions', TO));
    } catch (e) {
      log(`disk floor: skipped (${e.message})`);
    }
    res.blockFloor = floor;
    if (floor) row(`disk floor, ${FROM} + ${TO} vs ${FROM} alone, if every 4 KiB block of ${TO} equal to any aligned block of ${FROM} were shared`, 'both (MB)', floor.fromBytes + floor.toBytes - floor.anyBlockBytes, `${FROM} alone (MB)`, floor.fromBytes, mb,
      `whole identical files only (what reflink clones share): ${x2(floor.fromBytes + floor.toBytes - floor.wholeFileBytes, floor.fromBytes)}; in 4 KiB blocks`);

    // ------------------------------------------------------------ import closure + inventory of the installed <to>
    if (fs.existsSync(CHECKS)) {
      // The installs just wrote ≈ 1.3 GB: let the writeback finish first (its kernel threads
      // otherwise share the 2 cores with the walk; a run without this measured the walk at 2x).
      await timed('sync', [], { allowFail: true });
      log(`checks: ${path.relative(REPO, CHECKS) || CHECKS} --tree versions/${TO}`);
      const c = await timed(NODE, [CHECKS, '--tree', path.join(ocHome, 'versions', TO), '--runs', String(ROUNDS), '--json'], { env, allowFail: true, timeoutMs: 10 * 60_000 });
      try {
        const j = JSON.parse(c.stdout.trim().split('\n').pop());
        res.checks = j;
        for (const [name, v] of Object.entries(j.checks)) row(`${name} of the real ${TO}`, 'median (ms)', v.medianMs, '', NaN, ms, `min ${v.minMs} ms, CPU median ${v.cpuMedianMs} ms; ${v.detail}`);
      } catch {
        log(`checks script failed: ${c.stderr.slice(-500)}`);
      }
    } else {
      // HOOK(install helper): bench/checks-real.mjs --tree <dir> times the import-closure walk and the
      // inventory of an installed tree; when it lands, these rows fill in.
      log('checks: bench/checks-real.mjs not present; import-closure / inventory rows skipped (hook)');
      res.checks = null;
    }

    // ------------------------------------------------------------ disk on XFS with reflink
    if (XFS) res.xfs = await xfsDisk();

    async function xfsDisk() {
      if (process.getuid?.() !== 0) return log('xfs: not root; skipped'), null;
      if ((await timed('sh', ['-c', 'command -v mkfs.xfs && command -v losetup'], { allowFail: true })).code !== 0) return log('xfs: no mkfs.xfs/losetup; skipped'), null;
      const img = path.join(ROOT, 'xfs.img');
      const mnt = path.join(ROOT, 'xfs');
      fs.mkdirSync(mnt);
      await timed('truncate', ['-s', '4G', img]);
      await timed('mkfs.xfs', ['-q', '-m', 'reflink=1', img]);
      const dev = (await timed('losetup', ['--find', '--show', img])).stdout.trim();
      onCleanup(async () => {
        await timed('losetup', ['-d', dev], { allowFail: true });
      });
      await timed('mount', [dev, mnt]);
      let mounted = true;
      onCleanup(async () => {
        if (mounted) await timed('umount', [mnt], { allowFail: true });
      });
      try {
        // statfs after a syncfs: XFS frees the blocks of unlinked inodes (the staged copies the
        // clones replaced) in the background, so a statfs right after the install still counts them.
        const used = async () => {
          await timed('sync', ['-f', mnt], { allowFail: true });
          const s = fs.statfsSync(mnt);
          return (s.blocks - s.bfree) * s.bsize;
        };
        const xHome = path.join(mnt, 'oc');
        const xEnv = envFor(xHome);
        const base = await used();
        const out = { base };
        for (const v of [FROM, TO]) {
          log(`xfs: oc-versions install ${v}`);
          // --progress: with --json the progress lines (the `shared …` one among them) are off by default.
          const r = await timed(NODE, [CLI, 'install', v, '--json', '--progress'], { env: xEnv, timeoutMs: 15 * 60_000 });
          out[v] = { used: (await used()) - base, ms: r.ms, shared: /shared (\d+) identical file\(s\) \((\d+) MB\)/.exec(r.stderr)?.slice(1).join(' files, ') ?? null };
          log(`xfs: after ${v}: ${mb(out[v].used)} MB used (${out[v].shared ?? 'nothing shared'}), install ${ms(r.ms)} ms`);
        }
        row(`disk ${FROM} + ${TO} vs ${FROM} alone (XFS reflink, statfs)`, 'both (MB)', out[TO].used, `${FROM} alone (MB)`, out[FROM].used, mb, `${TO} install: ${out[TO].shared ?? 'nothing'} MB shared by reflink`);
        return out;
      } finally {
        await timed('umount', [mnt], { allowFail: true });
        mounted = false;
        await timed('losetup', ['-d', dev], { allowFail: true });
        fs.rmSync(img, { force: true });
      }
    }
  }

  // ------------------------------------------------------------ downtime: upgrade vs unassisted cold start
  const port = await freePort();
  const stateDir = path.join(home, '.openclaw');
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(
    path.join(stateDir, 'openclaw.json'),
    JSON.stringify({ gateway: { mode: 'local', port, auth: { mode: 'token', token: `bench-${process.pid}-${Date.now()}` } }, update: { checkOnStart: false } }, null, 2),
    { mode: 0o600 },
  );
  fs.mkdirSync(path.join(ocHome, 'service'), { recursive: true });
  fs.writeFileSync(path.join(ocHome, 'service', 'gateway.env'), Object.entries(GATEWAY_ENV).map(([k, v]) => `export ${k}=${v}`).join('\n') + '\n');
  await cli(['use', FROM]);
  const gwArgs = ['gateway', 'run', '--port', String(port), '--bind', 'loopback', '--allow-unconfigured'];
  let serviceInstalled = false;
  onCleanup(async () => {
    if (!serviceInstalled) return;
    await cli(['service', 'stop'], { timeoutMs: 120_000 }).catch(() => undefined);
    await cli(['service', 'uninstall'], { timeoutMs: 120_000 }).catch(() => undefined);
  });
  const pidFile = path.join(ocHome, 'service', 'gateway.pid.json');
  const readPid = () => {
    try {
      return JSON.parse(fs.readFileSync(pidFile, 'utf8')).pid;
    } catch {
      return null;
    }
  };
  const serviceStart = Date.now();
  await cli(['service', 'install', '--manager', 'process', '--', ...gwArgs]);
  serviceInstalled = true;
  await waitHealthy(port, '/healthz', { intervalMs: 10, timeoutMs: 180_000 });
  res.fromServiceStartMs = Date.now() - serviceStart;
  log(`${FROM} gateway up under the process backend in ${ms(res.fromServiceStartMs)} ms`);
  // The state as <from> leaves it (stopped, so its databases are consistent): <to>'s first start
  // on it (its migrations included) is what an upgrade's new gateway faces, so the fair B side of
  // the downtime ratio is <to>'s cold start on a fresh copy of it, besides the one on its own state.
  await cli(['service', 'stop'], { timeoutMs: 300_000 });
  const oldState = path.join(ROOT, `state-${FROM}`);
  fs.cpSync(stateDir, oldState, { recursive: true, verbatimSymlinks: true });
  await cli(['service', 'start'], { timeoutMs: 300_000 });
  await waitHealthy(port, '/healthz', { intervalMs: 10, timeoutMs: 180_000 });

  const upgrades = [];
  const upgradeOnce = async (label) => {
    // The new gateway's compile cache at the flip: warm when a canary ran (it warms it before the
    // flip) or an earlier start left it; its baseline below is the launcher start with the same.
    const warmCache = CANARY || countFiles(cacheDir) > 0;
    const oldPid = readPid();
    const trace = traceOutage(port, oldPid);
    const r = await cli(['upgrade', TO, '--json', ...(CANARY ? [] : ['--no-canary'])], { timeoutMs: 15 * 60_000 });
    const t = await trace.stop(readPid());
    const j = JSON.parse(r.stdout);
    if (j.outcome !== 'upgraded') throw new Error(`upgrade ${label}: outcome ${j.outcome}: ${r.stderr.slice(-2000)}`);
    const u = { label, warmCache, downtimeMs: j.downtimeMs, ...t, wallMs: r.ms, stages: Object.fromEntries(j.stages.map((s) => [s.name, s.ms])) };
    upgrades.push(u);
    log(
      `upgrade (${label}): downtimeMs ${j.downtimeMs}, bench poller gap ${ms(t.gapMs)} ms = last old 200 → old pid gone ${ms(t.drainMs)} ms + ${afterExit(t)}; wall ${ms(r.ms)} ms`,
    );
    return u;
  };
  const cacheDir = path.join(ocHome, 'compile-cache', TO);
  const cacheFilesBefore = countFiles(cacheDir);
  const first = await upgradeOnce(CANARY ? 'canary warmed the compile cache' : `--no-canary, compile cache ${cacheFilesBefore ? 'warm' : 'cold: the launcher leaves it off'}`);

  // <to>'s own cold start, unassisted: the service stopped (it owns the state dir's lease), then
  // `node <service entry> gateway run` on the same port and state; no launcher, no compile cache.
  await cli(['service', 'stop'], { timeoutMs: 300_000 });
  const entry = (await cli(['which', TO, '--service'])).stdout.trim();
  const coldEnv = { ...envFor(ocHome), NODE_COMPILE_CACHE: undefined };
  delete coldEnv.NODE_COMPILE_CACHE;
  const cold = [];
  const warmCc = [];
  const coldStart = async (e, argv = [NODE, entry]) => {
    const s = performance.now();
    const g = spawnGroup(argv[0], [...argv.slice(1), ...gwArgs], { env: e });
    try {
      return (await waitHealthy(port, '/healthz', { intervalMs: 10, timeoutMs: 180_000 })) - s;
    } finally {
      await g.stop(30_000); // the real gateway drains on SIGTERM; SIGKILL only after 30 s
    }
  };
  const onOld = [];
  const onOldServiceNoCache = [];
  const onOldService = [];
  const onOldServiceWarm = [];
  const launcher = path.join(ocHome, 'bin', 'openclaw-gateway');
  const serviceDoc = JSON.parse(fs.readFileSync(path.join(ocHome, 'service', 'process.json'), 'utf8'));
  const serviceEnv = Object.fromEntries(Object.entries(serviceDoc.env ?? {}).filter(([, v]) => typeof v === 'string'));
  const runState = path.join(ROOT, 'state-run');
  /** A fresh copy of <from>'s state for one start, and the environment that points <to> at it. */
  const onFromState = () => {
    fs.rmSync(runState, { recursive: true, force: true });
    fs.cpSync(oldState, runState, { recursive: true, verbatimSymlinks: true });
    return { OPENCLAW_STATE_DIR: runState, OPENCLAW_CONFIG_PATH: path.join(runState, 'openclaw.json') };
  };
  // The launcher's cache for <to> warm before the rounds time a start on it: the upgrade above ran
  // without one when it was cold (docs/service.md#the-compile-cache), so nothing has written it.
  if (countFiles(cacheDir) === 0) await coldStart({ ...coldEnv, NODE_COMPILE_CACHE: cacheDir });
  for (let i = 0; i < ROUNDS; i++) {
    cold.push(await coldStart(coldEnv));
    warmCc.push(await coldStart({ ...coldEnv, NODE_COMPILE_CACHE: cacheDir }));
    onOld.push(await coldStart({ ...coldEnv, ...onFromState() }));
    // The same first start the way the service runs it: the launcher (which exports the external
    // supervisor mode, a per-version compile cache, here a fresh one, and gateway.env) with the
    // definition's non-secret environment (OPENCLAW_SERVICE_KIND/MARKER). No oc-versions process
    // runs beside it: the part of the outage that is the gateway's start in service mode.
    // Without a compile cache: how the launcher starts a version whose cache no canary has warmed
    // (docs/service.md#the-compile-cache), so the baseline for an upgrade whose cache was cold.
    onOldServiceNoCache.push(await coldStart({ ...coldEnv, ...serviceEnv, ...onFromState(), NODE_DISABLE_COMPILE_CACHE: '1' }, [launcher]));
    const freshCache = path.join(ROOT, 'compile-cache-fresh');
    fs.rmSync(freshCache, { recursive: true, force: true });
    onOldService.push(await coldStart({ ...coldEnv, ...serviceEnv, ...onFromState(), NODE_COMPILE_CACHE: freshCache }, [launcher]));
    // And once more, on a fresh copy of the state, with the compile cache that start just wrote:
    // warm, as a default upgrade's canary leaves it before the flip (the baseline for an upgrade
    // whose cache was warm; the fresh one above is the baseline for one whose cache was cold).
    // (node writes its compile cache at exit: a start SIGKILLed at the stop would leave it cold)
    const freshCacheFiles = countFiles(freshCache);
    onOldServiceWarm.push(await coldStart({ ...coldEnv, ...serviceEnv, ...onFromState(), NODE_COMPILE_CACHE: freshCache }, [launcher]));
    log(
      `cold start ${TO} round ${i + 1}/${ROUNDS}: plain ${ms(cold.at(-1))} ms, with the launcher's compile cache ${ms(warmCc.at(-1))} ms, first start on ${FROM}'s state ${ms(onOld.at(-1))} ms, ` +
        `the same through the launcher with the service environment ${ms(onOldServiceNoCache.at(-1))} ms (no compile cache), ${ms(onOldService.at(-1))} ms (a fresh one), ${ms(onOldServiceWarm.at(-1))} ms (that cache warm: ${freshCacheFiles} entries)`,
    );
  }
  // OpenClaw's own account of the two starts (OPENCLAW_DIAGNOSTICS=timeline), one start each, apart
  // from the timed rounds above, which run without it: what <to>'s first start on <from>'s state
  // does that its start on its own state does not (its pre-start checks and state migrations).
  const timelineStart = async (label, extra) => {
    const file = path.join(ROOT, `timeline-${label}.jsonl`);
    const healthyMs = await coldStart({ ...coldEnv, ...extra, OPENCLAW_DIAGNOSTICS: 'timeline', OPENCLAW_DIAGNOSTICS_TIMELINE_PATH: file });
    return { healthyMs, ...startPhases(file) };
  };
  const ownPhases = await timelineStart('own-state', {});
  const fromPhases = await timelineStart('from-state', onFromState());
  res.startPhases = { ownState: ownPhases, fromState: fromPhases };
  log(`${TO}'s start, OpenClaw's timeline: on its own state ${JSON.stringify(ownPhases)}; on ${FROM}'s state ${JSON.stringify(fromPhases)}`);
  fs.rmSync(runState, { recursive: true, force: true });
  res.coldStartOnOldStateServiceNoCache = stats(onOldServiceNoCache);
  res.coldStartOnOldStateService = stats(onOldService);
  res.coldStartOnOldStateServiceWarm = stats(onOldServiceWarm);
  res.coldStartOnOldState = stats(onOld);
  res.coldStart = stats(cold);
  res.coldStartCompileCache = stats(warmCc);
  await cli(['service', 'start'], { timeoutMs: 300_000 });
  await waitHealthy(port, '/healthz', { intervalMs: 10, timeoutMs: 180_000 });

  if (SECOND) {
    // Back to <from> (its state databases restored from the upgrade's snapshot), then the same
    // upgrade again: now <to>'s compile cache is warm before the flip, as the canary leaves it.
    log(`rollback to ${FROM}, then the upgrade again with ${TO}'s compile cache warm`);
    const rb = await cli(['rollback', '--json'], { timeoutMs: 15 * 60_000 });
    const rj = JSON.parse(rb.stdout);
    // A rollback that passed its gate says `switched-back` (docs/cli.md#outcomes).
    if (rj.outcome !== 'switched-back') log(`rollback outcome ${rj.outcome}; second upgrade skipped: ${rb.stderr.slice(-500)}`);
    else await upgradeOnce(`compile cache warm (${countFiles(cacheDir)} files)`);
  }
  res.upgrades = upgrades;
  const cs = res.coldStart.median;
  for (const u of upgrades) {
    row(`upgrade ${FROM} → ${TO} downtime (${u.label}) vs ${TO} unassisted cold start`, 'outage seen by a 10 ms /healthz poller (ms)', u.gapMs, `cold start, median of ${ROUNDS} (ms)`, cs, ms,
      `downtimeMs ${u.downtimeMs}; old drain+exit ${ms(u.drainMs)}, ${afterExit(u)}`);
  }
  for (const u of upgrades) {
    row(`upgrade ${FROM} → ${TO} downtime (${u.label}) vs ${TO}'s first start on ${FROM}'s state`, 'outage seen by a 10 ms /healthz poller (ms)', u.gapMs, `first start on a copy of ${FROM}'s state, median of ${ROUNDS} (ms)`, res.coldStartOnOldState.median, ms,
      `min ${ms(res.coldStartOnOldState.min)}; the upgrade's new gateway also starts on ${FROM}'s state (migrations included)`);
  }
  for (const u of upgrades) {
    // A cold cache is one the launcher leaves off (docs/service.md#the-compile-cache).
    const base = u.warmCache ? res.coldStartOnOldStateServiceWarm : res.coldStartOnOldStateServiceNoCache;
    const cacheState = u.warmCache ? 'compile cache warm' : 'no compile cache';
    row(`upgrade ${FROM} → ${TO} downtime (${u.label}) vs ${TO}'s first start on ${FROM}'s state through the launcher, service env, ${cacheState}`, 'outage seen by a 10 ms /healthz poller (ms)', u.gapMs, `that start alone, median of ${ROUNDS} (ms)`, base.median, ms,
      `min ${ms(base.min)}; what is left is oc-versions' stop, hand-over and the CLI beside the start, and the old gateway's drain and exit`);
  }
  row(`${TO}'s first start on ${FROM}'s state through the launcher: a fresh compile cache vs none`, 'fresh cache (ms)', res.coldStartOnOldStateService.median, 'no cache (ms)', res.coldStartOnOldStateServiceNoCache.median, ms,
    `mins ${ms(res.coldStartOnOldStateService.min)} vs ${ms(res.coldStartOnOldStateServiceNoCache.min)}; producing the entries during the start (the launcher no longer starts on an empty cache)`);
  const ranOrNot = (x) => (Number.isFinite(x) ? `${ms(x)} ms` : 'not run');
  row(
    `${TO}'s pre-start checks (OpenClaw's timeline: gateway-run bootstrap, its doctor config preflight) on ${FROM}'s state vs on its own`,
    `on ${FROM}'s state (ms)`,
    fromPhases.preflightMs,
    'on its own state (ms)',
    ownPhases.preflightMs,
    ms,
    `of which legacy-state migrations ${ranOrNot(fromPhases.migrationsMs)} (own state: ${ranOrNot(ownPhases.migrationsMs)}); http.bound at ${ms(fromPhases.boundMs)} vs ${ms(ownPhases.boundMs)} ms, /healthz 200 at ${ms(fromPhases.healthyMs)} vs ${ms(ownPhases.healthyMs)} ms (one start each, timeline on)`,
  );
  row(`${TO} cold start with the launcher's compile cache warm vs without`, 'with NODE_COMPILE_CACHE (ms)', res.coldStartCompileCache.median, 'plain (ms)', cs, ms, `min ${ms(res.coldStartCompileCache.min)} vs ${ms(res.coldStart.min)}`);

  serviceInstalled = false;
  await cli(['service', 'stop'], { timeoutMs: 300_000 });
  await cli(['service', 'uninstall'], { timeoutMs: 120_000 });
  res.totalMs = performance.now() - t0;
  res.machine.loadavgAtEnd = os.loadavg();

  const head = ['what', 'A', 'A', 'B', 'B', 'A/B', 'notes'];
  const lines = [head, head.map(() => '---'), ...res.rows.map((r) => [r.what, r.aName, r.fa, r.bName, r.fb, r.ratio === null ? '' : `${r.ratio.toFixed(2)}x`, r.note])];
  console.log(`\n${lines.map((l) => `| ${l.join(' | ')} |`).join('\n')}\n`);
  console.log(`real ${FROM} → ${TO}, node ${process.version}, ${res.machine.cpus} cpus, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, total ${Math.round(res.totalMs / 1000)} s`);
  if (JSON_OUT) fs.writeFileSync(path.resolve(JSON_OUT), `${JSON.stringify(res, null, 2)}\n`);
  removeDir(ROOT);
  return 0;
}

function duBytes(dir) {
  // Allocated bytes (du -B1): what the files cost on this filesystem.
  try {
    let total = 0;
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        const st = fs.lstatSync(p, { bigint: false });
        total += st.blocks * 512;
        if (e.isDirectory()) walk(p);
      }
    };
    walk(dir);
    return total;
  } catch {
    return NaN;
  }
}

/**
 * Phases of one gateway start from OpenClaw's timeline JSONL (docs/diagnostics/flags.md in the
 * package): the gateway-run bootstrap span (the pre-start checks: doctor config preflight, state
 * migrations, config snapshots), its legacy-state-migrations stage, and the http.bound mark (ms
 * since the process started). NaN for what the file does not hold (another version's names).
 */
function startPhases(file) {
  const out = { preflightMs: NaN, migrationsMs: NaN, boundMs: NaN };
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (!e || typeof e !== 'object') continue;
    if (e.type === 'span.end' && e.name === 'cli.main.gateway-run-bootstrap') out.preflightMs = e.durationMs;
    else if (e.type === 'span.end' && e.attributes?.stage === 'doctor.config-preflight.legacy-state-migrations') out.migrationsMs = (Number.isFinite(out.migrationsMs) ? out.migrationsMs : 0) + e.durationMs;
    else if (e.type === 'mark' && e.name === 'http.bound' && !Number.isFinite(out.boundMs)) out.boundMs = e.durationMs;
  }
  return out;
}

/**
 * The contents' own bound on sharing between two installed trees, counted in 4 KiB blocks (a
 * file's tail takes a whole block): `anyBlockBytes`, the blocks of `to` equal to some block of
 * `from`, or to an earlier block of `to`, at a block-aligned offset of any file (the most that
 * FICLONERANGE / FIDEDUPERANGE could share, at any offsets); `wholeFileBytes`, the blocks of `to`'s files byte-identical to a file of
 * `from` (what whole-file reflink clones share). Symlinks and empty files take no block.
 */
function blockFloor(fromDir, toDir) {
  const B = 4096;
  // Directory by directory, never through a symlink (a recursive readdir follows symlinked
  // directories: their files would count twice).
  const eachFile = (dir, fn) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) eachFile(p, fn);
      else if (e.isFile()) {
        const buf = fs.readFileSync(p);
        if (buf.length > 0) fn(buf);
      }
    }
  };
  const blocksOf = (buf) => Math.ceil(buf.length / B);
  const fromBlocks = new Set();
  const fromFiles = new Set();
  let fromN = 0;
  eachFile(fromDir, (buf) => {
    fromN += blocksOf(buf);
    fromFiles.add(crypto.hash('sha256', buf));
    for (let o = 0; o < buf.length; o += B) fromBlocks.add(crypto.hash('sha256', buf.subarray(o, o + B)));
  });
  const toBlocks = new Set();
  let toN = 0;
  let anyN = 0;
  let wholeN = 0;
  eachFile(toDir, (buf) => {
    const n = blocksOf(buf);
    toN += n;
    if (fromFiles.has(crypto.hash('sha256', buf))) wholeN += n;
    for (let o = 0; o < buf.length; o += B) {
      const h = crypto.hash('sha256', buf.subarray(o, o + B));
      if (fromBlocks.has(h) || toBlocks.has(h)) anyN++;
      else toBlocks.add(h);
    }
  });
  return { fromBytes: fromN * B, toBytes: toN * B, anyBlockBytes: anyN * B, wholeFileBytes: wholeN * B };
}

/** Files (not directories) under dir: a compile cache node never wrote to holds only its directory. */
function countFiles(dir) {
  try {
    return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
  } catch {
    return 0;
  }
}

/** Peak RSS without /usr/bin/time: VmHWM of the child polled from /proc every 50 ms (the child only). */
function rssByPolling(cmd, args, o) {
  return new Promise((resolve, reject) => {
    const s = performance.now();
    const child = spawn(cmd, args, { cwd: o.cwd ?? os.tmpdir(), env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hwm = NaN;
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-20_000)));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwm = Math.max(Number.isFinite(hwm) ? hwm : 0, Number(m[1]));
      } catch {
        // gone
      }
    }, 50);
    child.once('error', reject);
    child.once('close', (code) => {
      clearInterval(poll);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} → ${code}\n${stderr}`));
      else resolve({ code, stdout, stderr, ms: performance.now() - s, rssKb: hwm });
    });
  });
}

/**
 * The outage after the old pid was gone. The new gateway's node may have started before that: a
 * process-backend restart boots it as a standby, parked until the old job is gone
 * (docs/service.md#the-standby), so "exit → new pid" is then negative.
 */
function afterExit(t) {
  if (!Number.isFinite(t.respawnMs) || !Number.isFinite(t.startMs)) return `→ first new 200 (split unknown)`;
  if (t.respawnMs >= 0) return `exit → new pid ${ms(t.respawnMs)} ms, new pid → first 200 ${ms(t.startMs)} ms`;
  return `old pid gone → first new 200 ${ms(t.respawnMs + t.startMs)} ms (its node started ${ms(-t.respawnMs)} ms before, as a standby)`;
}

/**
 * /proc start time of a pid as epoch ms, or null. Relative to /proc/uptime read now, not to
 * /proc/stat's btime: btime is whole seconds, which put a start time up to 1 s off (the run of
 * 2026-12-01 split its outage with a negative "old pid gone → new pid started").
 */
function pidStartedAt(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const now = Date.now();
    const uptimeS = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    return now - (uptimeS * 1000 - (ticks * 1000) / 100); // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/**
 * Watch an upgrade's outage from outside: /healthz every 10 ms, the old pid every 5 ms (when it is
 * gone: drain + exit), and the new pid's start time (when the launcher was spawned). Epoch ms.
 * The outage is the **longest** interval between two consecutive 200s, as oc-versions' own watcher
 * measures it: the first gap can be one slow answer of the old gateway on a loaded host (the run
 * of 2026-12-01 recorded such a 1.1 s blip as "the outage" and split it into negative intervals).
 */
function traceOutage(port, oldPid) {
  let running = true;
  let lastOk = null;
  let openSince = null;
  let longest = null;
  let oldGoneAt = null;
  const alive = (pid) => {
    try {
      process.kill(pid, 0);
      const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  };
  const http = (async () => {
    while (running) {
      const s = await httpStatus(port, '/healthz', 1000);
      const now = Date.now();
      if (s === 200) {
        if (openSince !== null && (!longest || now - openSince > longest.end - longest.start)) longest = { start: openSince, end: now };
        openSince = null;
        lastOk = now;
      } else if (openSince === null && lastOk !== null) openSince = lastOk;
      await sleep(10);
    }
  })();
  const pid = (async () => {
    while (running && oldPid && oldGoneAt === null) {
      if (!alive(oldPid)) oldGoneAt = Date.now();
      await sleep(5);
    }
  })();
  return {
    async stop(newPid) {
      running = false;
      await Promise.all([http, pid]);
      const newAt = newPid ? pidStartedAt(newPid) : null;
      const gapStart = longest?.start ?? null;
      const gapEnd = longest?.end ?? null;
      return {
        gapMs: gapStart !== null && gapEnd !== null ? gapEnd - gapStart : NaN,
        drainMs: gapStart !== null && oldGoneAt !== null ? oldGoneAt - gapStart : NaN,
        respawnMs: oldGoneAt !== null && newAt !== null ? newAt - oldGoneAt : NaN,
        startMs: newAt !== null && gapEnd !== null ? gapEnd - newAt : NaN,
      };
    },
  };
}

export async function main(argv) {
  let code = 0;
  try {
    code = await runReal(argv);
  } catch (e) {
    console.error(`bench real: ${e?.stack ?? e}`);
    code = 1;
  } finally {
    await cleanup();
  }
  return code;
}
