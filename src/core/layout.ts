/**
 * The whole oc-versions home, declared once. Only this module builds paths
 * under the home. A version string is parsed (parseExactVersion) before it
 * becomes a path component; anything else is refused.
 *
 *   config.json              package, runtime node, service + health settings
 *   state.json               { current, previous, history[] }
 *   journal.json             the in-flight transaction (absent when idle)
 *   current -> versions/X    relative symlink, swapped with rename(2)
 *   versions/<version>/      sealed install prefixes (.oc-seal.json written last)
 *   staging/<version>.<rand> installs in progress; garbage after a crash
 *   bin/openclaw             CLI shim; bin/openclaw-gateway service launcher
 *   snapshots/<txid>/        pre-upgrade snapshots (no secret values)
 *   logs/<txid>.jsonl        one line per stage transition
 *   service/definition.json  what oc-versions last wrote (env key names, sha256)
 *   service/adopted.json     the adopted original (for service restore)
 *   service/process.json     process backend: the definition
 *   service/gateway.pid.json process backend: pid + start time
 *   service/gateway.log      process backend: the gateway's output
 *   logs/recover-agent.log   the recovery agent's output
 *   logs/detached-<n>.log    output of an `upgrade --detach`
 *   tmp/                     scratch space of one command
 *   lock, lock-owner.json    proper-lockfile target and who holds it
 *   canary/<id>/             a canary's private copy of the OpenClaw state (deleted after it)
 *   canary/<id>.json         the running canary's pid/pgid/port record (for sweepCanary)
 *   compile-cache/<version>/ NODE_COMPILE_CACHE of a version's gateway (launcher + canary)
 *   lib/oc-versions-<v>-<h>/ the programs the service runs besides the launcher (keep-alive
 *                            supervisor, the recovery agent's CLI), self-contained, sealed
 *   runtimes/<node-version>/ a managed node (bin/node, runtime.json with its sha256), never modified
 */
import os from 'node:os';
import path from 'node:path';
import { OcError } from '../errors.js';
import { parseExactVersion } from './versions.js';

export const LAYOUT_VERSION = 1;

export interface Layout {
  /**
   * Short hash of the home: names oc-versions creates outside the home (launchd/systemd labels,
   * secret-store entries of the process backend) carry it, so two homes never share one.
   */
  homeTag: string;
  home: string;
  config: string;
  state: string;
  journal: string;
  current: string;
  versionsDir: string;
  stagingDir: string;
  binDir: string;
  cliShim: string;
  gatewayShim: string;
  snapshotsDir: string;
  logsDir: string;
  serviceDir: string;
  lockTarget: string;
  lockOwner: string;
  tmpDir: string;
  definitionRecord: string;
  adoptedRecord: string;
  processDefinition: string;
  gatewayPid: string;
  gatewayLog: string;
  /** Process backend keep-alive supervisor: its pid and the crash-loop state. */
  gatewaySupervisor: string;
  /** Process backend: present while oc-versions stops the gateway on purpose (the supervisor must not restart it). */
  gatewayStopIntent: string;
  /** A restart's new keep-alive supervisor says it is booted and waiting (the hand-over, docs/service.md). */
  gatewayHandOverReady: string;
  recoveryAgentLog: string;
  detachedLog(stamp: number): string;
  /** A directory in staging/ for one install of `version` (`tag` makes it unique). */
  staging(version: string, tag: string): string;
  canaryDir: string;
  version(v: string): string;
  seal(v: string): string;
  snapshot(txid: string): string;
  log(txid: string): string;
  /** A canary's private copy of the OpenClaw state dir. */
  canary(id: string): string;
  /** The record of a running canary ({pid, pgid, dir, port, startedAt}). */
  canaryRecord(id: string): string;
  /** NODE_COMPILE_CACHE directory for a version's gateway. */
  compileCache(v: string): string;
  /** The home's copies of the programs the service runs (src/service/home-lib.ts). */
  libDir: string;
  /** Managed node runtimes (src/core/runtimes.ts). */
  runtimesDir: string;
  /** A managed runtime of node `v` (`24.21.0`): `bin/node`, `runtime.json`. */
  runtime(v: string): string;
}

const TXID_RE = /^[0-9A-Za-z_-]{1,80}$/;

export function resolveHome(opt: string | undefined, env: NodeJS.ProcessEnv): string {
  const raw = opt ?? env['OC_VERSIONS_HOME'] ?? path.join(env['HOME'] ?? os.homedir(), '.oc-versions');
  if (raw.includes('\0')) throw new OcError('INVALID_INPUT', 'home path contains a NUL byte');
  return path.resolve(raw);
}

export function makeLayout(home: string): Layout {
  const j = (...p: string[]) => path.join(home, ...p);
  const versionsDir = j('versions');
  const safeVersion = (v: string): string => {
    const exact = parseExactVersion(v);
    if (!exact) {
      throw new OcError('INVALID_SPEC', `'${v}' is not an exact version`, {
        hint: 'versions look like 2026.9.6 or 2026.7.1-beta.4',
      });
    }
    return exact;
  };
  const safeTx = (t: string): string => {
    if (!TXID_RE.test(t)) throw new OcError('INVALID_INPUT', `'${t}' is not a transaction id`);
    return t;
  };
  return {
    home,
    // A getter: hashing loads node:crypto, which read-only commands never need (docs/architecture.md#startup).
    get homeTag() {
      return homeTagOf(home);
    },
    config: j('config.json'),
    state: j('state.json'),
    journal: j('journal.json'),
    current: j('current'),
    versionsDir,
    stagingDir: j('staging'),
    binDir: j('bin'),
    cliShim: j('bin', 'openclaw'),
    gatewayShim: j('bin', 'openclaw-gateway'),
    snapshotsDir: j('snapshots'),
    logsDir: j('logs'),
    serviceDir: j('service'),
    lockTarget: j('lock'),
    lockOwner: j('lock-owner.json'),
    tmpDir: j('tmp'),
    definitionRecord: j('service', 'definition.json'),
    adoptedRecord: j('service', 'adopted.json'),
    processDefinition: j('service', 'process.json'),
    gatewayPid: j('service', 'gateway.pid.json'),
    gatewayLog: j('service', 'gateway.log'),
    gatewaySupervisor: j('service', 'keepalive.json'),
    gatewayStopIntent: j('service', 'keepalive.stop'),
    gatewayHandOverReady: j('service', 'keepalive.ready'),
    recoveryAgentLog: j('logs', 'recover-agent.log'),
    detachedLog: (stamp) => j('logs', `detached-${Math.trunc(stamp)}.log`),
    staging: (v, tag) => j('staging', `${safeVersion(v)}.${tag.replace(/[^0-9A-Za-z.-]/g, '')}`),
    canaryDir: j('canary'),
    version: (v) => path.join(versionsDir, safeVersion(v)),
    seal: (v) => path.join(versionsDir, safeVersion(v), '.oc-seal.json'),
    snapshot: (t) => j('snapshots', safeTx(t)),
    log: (t) => j('logs', `${safeTx(t)}.jsonl`),
    canary: (id) => j('canary', safeTx(id)),
    canaryRecord: (id) => j('canary', `${safeTx(id)}.json`),
    compileCache: (v) => j('compile-cache', safeVersion(v)),
    libDir: j('lib'),
    runtimesDir: j('runtimes'),
    runtime: (v) => {
      if (!/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(v)) throw new OcError('INVALID_INPUT', `'${v}' is not a node version`);
      return j('runtimes', v);
    },
  };
}

/** 8 hex characters of sha256(home): stable for a home, different for another. */
export function homeTagOf(home: string): string {
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(path.resolve(home)).digest('hex').slice(0, 8);
}
