/**
 * Nothing the service runs lives outside the home (issue 32). oc-versions is run from a clone of
 * this repository (its dist, bin, shims and its node_modules — hard links of the repo's, so no
 * extra disk — with the `node` devDependency it runs on), in a temp dir. `service install` copies
 * that node into `<home>/runtimes/<version>/` and runs the keep-alive supervisor and the recovery
 * agent's CLI from the home's sealed copy (`<home>/lib/…`). Then the clone's node_modules and dist
 * are removed: a kill -9 of the gateway is still followed by a restart, and the recovery agent's
 * program still runs. Doctor warns about a home node inside a checkout (`--node` names one on
 * purpose) and `--fix` repoints it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as plist from 'plist';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { homeTagOf } from '../../src/core/layout.js';
import { REPO, makeTestEnv, runCli, type CliResult, type TestEnv } from '../helpers/cli.js';
import { doublesHost, freePort, getJson, waitFor } from '../helpers/gateway.js';

const registryUrl = inject('registryUrl');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Clone {
  dir: string;
  node: string;
  run(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult>;
}

/** A clone of the repo as a developer has one: its build and its node_modules (hard links). */
async function makeClone(): Promise<Clone> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-clone-'));
  cleanups.push(() => fsp.rm(root, { recursive: true, force: true }));
  const dir = path.join(root, 'oc-versions');
  await fsp.mkdir(dir);
  for (const f of ['package.json', 'bin', 'dist', 'shims']) await fsp.cp(path.join(REPO, f), path.join(dir, f), { recursive: true });
  execFileSync('cp', ['-al', fs.realpathSync(path.join(REPO, 'node_modules')), path.join(dir, 'node_modules')]);
  const node = path.join(dir, 'node_modules', 'node', 'bin', 'node');
  expect(fs.statSync(node).isFile()).toBe(true);
  return { dir, node, run: (args, env) => runCli(args, env, { node, cli: path.join(dir, 'bin', 'oc-versions.js') }) };
}

/** A clone, a temp home with 2026.1.1 installed by the clone, fast deadlines, a port. */
async function cloneHost(): Promise<{ clone: Clone; t: TestEnv; port: number }> {
  const clone = await makeClone();
  const t = await makeTestEnv(registryUrl, { OC_VERSIONS_SECRET_STORE: 'none' });
  cleanups.push(() => t.cleanup());
  expect((await clone.run(['install', '2026.1.1'], t.env)).code).toBe(0);
  fastConfig(t.ocHome);
  return { clone, t, port: await freePort() };
}

/** The clone loses what `npm ci` (or rm -rf) takes: node_modules and the build. */
async function pullOut(c: Clone): Promise<void> {
  await fsp.rm(path.join(c.dir, 'node_modules'), { recursive: true, force: true });
  await fsp.rm(path.join(c.dir, 'dist'), { recursive: true, force: true });
  expect(fs.existsSync(c.node)).toBe(false);
}

function fastConfig(ocHome: string): void {
  const p = path.join(ocHome, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(p, 'utf8'));
  cfg.health = { ...cfg.health, probeIntervalMs: 100 };
  cfg.service = { ...cfg.service, drainMs: 3_000 };
  fs.writeFileSync(p, JSON.stringify(cfg, null, 2));
}

const sha256 = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const argvOf = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);

/** Every process whose command line names a file under `dir`. */
function processesUsing(dir: string): string[] {
  const out: string[] = [];
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const argv = argvOf(Number(n));
      if (argv.some((a) => a.startsWith(dir + path.sep))) out.push(`${n}: ${argv.join(' ')}`);
    } catch {
      // gone
    }
  }
  return out;
}

function stopAndUninstall(t: TestEnv): () => Promise<void> {
  return async () => {
    await runCli(['service', 'stop'], t.env).catch(() => undefined);
    await runCli(['service', 'uninstall'], t.env).catch(() => undefined);
  };
}

describe('installed from a clone', () => {
  it('process backend: the node is copied into runtimes/, the supervisor runs the home copy; with the clone gone a kill -9 is still restarted', async () => {
    const { clone, t, port } = await cloneHost();
    cleanups.push(stopAndUninstall(t));
    const ins = await clone.run(['service', 'install', '--manager', 'process', '--json', '--', 'gateway', 'run', '--port', String(port)], t.env);
    expect(ins.code, ins.stderr + ins.stdout).toBe(0);

    // The node: a sealed copy under runtimes/<version>/, recorded in config.json and the launcher.
    const managed = path.join(t.ocHome, 'runtimes', process.versions.node, 'bin', 'node');
    expect(ins.json.node).toBe(managed);
    const rec = JSON.parse(fs.readFileSync(path.join(t.ocHome, 'runtimes', process.versions.node, 'runtime.json'), 'utf8'));
    expect(rec).toMatchObject({ version: process.versions.node, source: fs.realpathSync(clone.node) });
    expect(rec.sha256).toBe(sha256(managed));
    expect(fs.statSync(managed).mode & 0o777).toBe(0o555);
    expect(JSON.parse(fs.readFileSync(path.join(t.ocHome, 'config.json'), 'utf8')).runtimeNode).toBe(managed);
    const launcher = fs.readFileSync(path.join(t.ocHome, 'bin', 'openclaw-gateway'), 'utf8');
    expect(launcher).toContain(`'${managed}'`);
    expect(launcher).not.toContain(clone.dir);

    // The supervisor: the managed node running the home's sealed copy of its program.
    const sup = JSON.parse(fs.readFileSync(path.join(t.ocHome, 'service', 'keepalive.json'), 'utf8')).pid as number;
    const [supNode, supProgram] = argvOf(sup);
    expect(supNode).toBe(managed);
    expect(supProgram).toMatch(new RegExp(`^${t.ocHome}/lib/oc-versions-[^/]+/dist/keepalive\\.mjs$`));
    const libDir = path.dirname(path.dirname(supProgram!));
    const seal = JSON.parse(fs.readFileSync(path.join(libDir, 'seal.json'), 'utf8'));
    expect(seal.files['dist/keepalive.mjs']).toBe(sha256(supProgram!));
    expect(processesUsing(clone.dir)).toEqual([]);

    await pullOut(clone);
    const before = (await getJson(`http://127.0.0.1:${port}/info`))!.body as { pid: number; execPath: string };
    expect(before.execPath).toBe(managed);
    process.kill(before.pid, 'SIGKILL');
    const after = await waitFor(async () => {
      const r = await getJson(`http://127.0.0.1:${port}/info`);
      return r?.status === 200 && r.body.pid !== before.pid ? (r.body as { pid: number; execPath: string }) : null;
    }, 30_000, 'the keep-alive to restart the gateway');
    expect(after.execPath).toBe(managed);
    const st = await runCli(['service', 'status', '--json'], t.env);
    expect(st.json).toMatchObject({ running: true, pid: after.pid, restarts: 1, crashLoop: false });

    // Doctor: nothing of the service lives outside the home, every copy matches its seal.
    const doc = await runCli(['doctor', '--json'], t.env);
    const ids = doc.json.findings.filter((f: { severity: string }) => f.severity !== 'info').map((f: { id: string }) => f.id);
    expect(ids.filter((id: string) => /^(service-node|keep-alive-program|recovery-agent|home-lib|runtime)/.test(id))).toEqual([]);
    // A changed byte in the home's copy is an error, and --fix renders it again.
    fs.chmodSync(path.join(libDir, 'dist', 'cli.mjs'), 0o644);
    fs.appendFileSync(path.join(libDir, 'dist', 'cli.mjs'), '\n// tampered\n');
    const bad = await runCli(['doctor', '--json'], t.env);
    expect(bad.code).toBe(9);
    expect(bad.json.findings.find((f: { id: string }) => f.id === `home-lib/${path.basename(libDir)}`)).toMatchObject({ severity: 'error', fixable: true });
    const fix = await runCli(['doctor', '--fix', '--json'], t.env);
    expect(fix.json.findings.find((f: { id: string }) => f.id === `home-lib/${path.basename(libDir)}`)).toMatchObject({ fixed: true });
    expect(sha256(path.join(libDir, 'dist', 'cli.mjs'))).toBe(seal.files['dist/cli.mjs']);
  });

  it('launchd recovery agent: it runs the home node and the home copy of the CLI, which still runs once the clone is gone', async () => {
    const clone = await makeClone();
    const t = await doublesHost(registryUrl, cleanups);
    expect((await clone.run(['install', '2026.1.1'], t.env)).code).toBe(0);
    fastConfig(t.ocHome);
    const port = await freePort();
    const ins = await clone.run(['service', 'install', '--manager', 'launchd', '--json', '--', 'gateway', 'run', '--port', String(port)], t.env);
    expect(ins.code, ins.stderr + ins.stdout).toBe(0);
    const managed = path.join(t.ocHome, 'runtimes', process.versions.node, 'bin', 'node');
    const agentPlist = path.join(t.home, 'Library', 'LaunchAgents', `ai.openclaw.oc-versions-recover.${homeTagOf(t.ocHome)}.plist`);
    const program = (plist.parse(fs.readFileSync(agentPlist, 'utf8')) as Record<string, any>)['ProgramArguments'] as string[];
    expect(program[0]).toBe(managed);
    expect(program[1]).toMatch(new RegExp(`^${t.ocHome}/lib/oc-versions-[^/]+/dist/cli\\.mjs$`));
    expect(program.slice(2)).toEqual(['recover', '--auto', '--home', t.ocHome, '--quiet']);

    await pullOut(clone);
    // What launchd runs at its next interval, run here: it works without the clone.
    const r = spawnSync(program[0]!, [...program.slice(1, -1), '--json'], { env: { PATH: '/usr/bin:/bin', HOME: t.home }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'none', version: '2026.1.1' });
  });

  it('--node names a node inside the clone on purpose; doctor warns, --fix repoints the home at a copy; a bad --node changes nothing', async () => {
    const { clone, t, port } = await cloneHost();
    const args = ['service', 'install', '--manager', 'process', '--json'];
    const cfgBefore = fs.readFileSync(path.join(t.ocHome, 'config.json'), 'utf8');
    const rel = await clone.run([...args, '--node', 'node_modules/node/bin/node', '--', 'gateway', 'run', '--port', String(port)], t.env);
    expect(rel.code).toBe(2);
    expect(rel.json.error.message).toContain('--node must be an absolute path');
    const notNode = await clone.run([...args, '--node', path.join(clone.dir, 'package.json'), '--', 'gateway', 'run', '--port', String(port)], t.env);
    expect(notNode.code).toBe(2);
    expect(fs.readFileSync(path.join(t.ocHome, 'config.json'), 'utf8')).toBe(cfgBefore);
    expect(fs.existsSync(path.join(t.ocHome, 'service', 'process.json'))).toBe(false);

    cleanups.push(stopAndUninstall(t));
    const ins = await clone.run([...args, '--node', clone.node, '--', 'gateway', 'run', '--port', String(port)], t.env);
    expect(ins.code, ins.stderr + ins.stdout).toBe(0);
    expect(ins.json.node).toBe(clone.node);
    expect(fs.existsSync(path.join(t.ocHome, 'runtimes'))).toBe(false);

    const doc = await runCli(['doctor', '--json'], t.env);
    const warn = doc.json.findings.find((f: { id: string }) => f.id === 'service-node');
    expect(warn).toMatchObject({ severity: 'warning', fixable: true });
    expect(warn.what).toContain(`inside ${path.join(clone.dir, 'node_modules')}`);
    const fix = await runCli(['doctor', '--fix', '--json'], t.env);
    expect(fix.json.findings.find((f: { id: string }) => f.id === 'service-node')).toMatchObject({ fixed: true });
    const managed = path.join(t.ocHome, 'runtimes', process.versions.node, 'bin', 'node');
    expect(JSON.parse(fs.readFileSync(path.join(t.ocHome, 'config.json'), 'utf8')).runtimeNode).toBe(managed);
    expect(fs.readFileSync(path.join(t.ocHome, 'bin', 'openclaw-gateway'), 'utf8')).toContain(`'${managed}'`);
    // The running gateway takes it at its next restart; then the clone can go.
    const restart = await runCli(['service', 'restart', '--json'], t.env);
    expect(restart.code, restart.stderr).toBe(0);
    expect(processesUsing(clone.dir)).toEqual([]);
    await pullOut(clone);
    const before = (await getJson(`http://127.0.0.1:${port}/info`))!.body as { pid: number; execPath: string };
    expect(before.execPath).toBe(managed);
    process.kill(before.pid, 'SIGKILL');
    await waitFor(async () => {
      const r = await getJson(`http://127.0.0.1:${port}/info`);
      return r?.status === 200 && r.body.pid !== before.pid;
    }, 30_000, 'the keep-alive to restart the gateway');
  });
});
