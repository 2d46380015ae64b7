/**
 * `service adopt` takes over the version the gateway runs NOW (issue 13, part 1):
 * that version becomes current without a restart, the definition is snapshotted,
 * and the one restart onto the launcher goes through the health gate; a refusing
 * gate puts the original definition back and the original process serves again.
 * Through the launchctl and systemctl doubles, which really run the job.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { build, parse } from 'plist';
import { afterEach, describe, expect, it } from 'vitest';
import { run as service } from '../../src/commands/service.js';
import { isOcError } from '../../src/errors.js';
import { run as runProc } from '../../src/os/proc.js';
import { freePort, getJson, makeContext, makeFakeHome, waitForJson, type FakeHome } from '../helpers/fake-home.js';
import { killDoubleJobs, makeGlobalInstall, serviceEnv } from '../helpers/openclaw-service.js';

type Info = { pid: number; realArgv1: string; version: string };
type Kind = 'launchd' | 'systemd';

const fakes: FakeHome[] = [];
afterEach(async () => {
  for (const f of fakes.splice(0)) {
    killDoubleJobs(f);
    await f.cleanup();
  }
});

/** A node under an nvm-style versioned path (a symlink to this node). */
async function nvmNode(fake: FakeHome): Promise<string> {
  const p = path.join(fake.userHome, '.nvm', 'versions', 'node', 'v24.0.0', 'bin', 'node');
  await fsp.mkdir(path.dirname(p), { recursive: true });
  await fsp.symlink(process.execPath, p);
  return p;
}

/** OpenClaw's own job, running `node <global>/dist/index.js gateway --port N`, started by the double. */
async function startOriginal(fake: FakeHome, kind: Kind, node: string, entry: string, port: number): Promise<{ file: string; text: string }> {
  const env = serviceEnv(fake);
  if (kind === 'launchd') {
    const file = path.join(fake.userHome, 'Library', 'LaunchAgents', 'ai.openclaw.gateway.plist');
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const text = build({
      Label: 'ai.openclaw.gateway',
      ProgramArguments: [node, entry, 'gateway', '--port', String(port)],
      EnvironmentVariables: { HOME: fake.userHome, OPENCLAW_GATEWAY_PORT: String(port) },
      RunAtLoad: true,
      KeepAlive: true,
    });
    await fsp.writeFile(file, text);
    expect((await runProc('launchctl', ['bootstrap', `gui/${process.getuid!()}`, file], { env })).code).toBe(0);
    return { file, text };
  }
  const file = path.join(fake.userHome, '.config', 'systemd', 'user', 'openclaw-gateway.service');
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const text = [
    '[Unit]',
    'Description=OpenClaw Gateway',
    '',
    '[Service]',
    `ExecStart=${node} ${entry} gateway --port ${port}`,
    'Restart=always',
    'RestartSec=5',
    `Environment=HOME=${fake.userHome}`,
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
  await fsp.writeFile(file, text);
  expect((await runProc('systemctl', ['--user', 'daemon-reload'], { env })).code).toBe(0);
  expect((await runProc('systemctl', ['--user', 'start', 'openclaw-gateway.service'], { env })).code).toBe(0);
  return { file, text };
}

function adoptOpts(kind: Kind, file: string): { plist?: string; unit?: string } {
  return kind === 'launchd' ? { plist: file } : { unit: file };
}

/** Every version the port answered with while `fn` ran (polled like a client). */
async function versionsSeenDuring<T>(port: number, fn: () => Promise<T>): Promise<{ value: T; seen: Set<string> }> {
  const seen = new Set<string>();
  let done = false;
  const poll = (async () => {
    while (!done) {
      try {
        const r = await getJson<{ version?: string }>(`http://127.0.0.1:${port}/startupz`, 500);
        if (r.body.version) seen.add(r.body.version);
      } catch {
        // restarting
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  try {
    return { value: await fn(), seen };
  } finally {
    done = true;
    await poll;
  }
}

function argv0(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!;
}

describe.each(['launchd', 'systemd'] as const)('service adopt through the %s double', (kind) => {
  it('adopts the running version (not current): it becomes current, one gated restart onto it, the node is kept', async () => {
    const fake = await makeFakeHome({ versions: ['2026.9.1', '2026.9.5'], current: '2026.9.5' });
    fakes.push(fake);
    const port = await freePort();
    const pkg = await makeGlobalInstall(fake.root, '2026.9.1');
    const node = await nvmNode(fake);
    const orig = await startOriginal(fake, kind, node, path.join(pkg, 'dist', 'index.js'), port);
    const before = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(before.version).toBe('2026.9.1');

    const ctx = await makeContext(fake, serviceEnv(fake));
    const { value: code, seen } = await versionsSeenDuring(port, () => service(ctx, 'adopt', [], adoptOpts(kind, orig.file)));
    expect(code).toBe(0);
    const res = ctx.out.results[0] as Record<string, any>;
    expect(res).toMatchObject({ outcome: 'adopted', version: '2026.9.1', previousCurrent: '2026.9.5', node, nodeManagedBy: 'nvm' });
    // The one restart went through the gate, on the running version.
    expect(res['stages'].map((s: { name: string; ok: boolean }) => [s.name, s.ok])).toEqual([
      ['restarted+responsive', true],
      ['health-verified', true],
    ]);
    // Never onto another version: clients only ever saw the version that was running.
    expect([...seen]).toEqual(['2026.9.1']);
    expect(fs.readlinkSync(fake.layout.current)).toBe(path.join('versions', '2026.9.1'));
    const after = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(after.pid).not.toBe(before.pid);
    expect(after.realArgv1).toBe(fs.realpathSync(path.join(fake.layout.version('2026.9.1'), 'node_modules/openclaw/dist/index.js')));
    // The adopted node runs the gateway (not oc-versions' own), and a warning named the version manager.
    expect(argv0(after.pid)).toBe(node);
    expect(ctx.out.warnings.join('\n')).toMatch(/nvm versioned path/);
    // The definition was snapshotted before the rewrite.
    const meta = JSON.parse(await fsp.readFile(path.join(fake.layout.snapshot(res['snapshot']), 'metadata.json'), 'utf8'));
    expect(meta).toMatchObject({ reason: 'adopt', version: '2026.9.1' });
    const snapDef = await fsp.readFile(path.join(fake.layout.snapshot(res['snapshot']), 'service-definition.json'), 'utf8');
    expect(snapDef).toContain(path.join(pkg, 'dist', 'index.js'));
  });

  it('a gate that refuses the launcher restores the original definition, current, and the original process', async () => {
    const fake = await makeFakeHome({ versions: ['2026.9.1', '2026.9.5'], current: '2026.9.5' });
    fakes.push(fake);
    const cfgPath = fake.layout.config;
    const cfg = JSON.parse(await fsp.readFile(cfgPath, 'utf8'));
    cfg.health = { ...cfg.health, responsiveDeadlineMs: 6_000 };
    await fsp.writeFile(cfgPath, JSON.stringify(cfg));
    // The side-by-side copy of the running version crashes at start (a broken install).
    await fsp.writeFile(path.join(fake.layout.version('2026.9.1'), 'node_modules/openclaw/dist/index.js'), "console.error('boom'); process.exit(1);\n");
    const port = await freePort();
    const pkg = await makeGlobalInstall(fake.root, '2026.9.1');
    const orig = await startOriginal(fake, kind, process.execPath, path.join(pkg, 'dist', 'index.js'), port);
    await waitForJson<Info>(`http://127.0.0.1:${port}/info`);

    const ctx = await makeContext(fake, serviceEnv(fake));
    const code = await service(ctx, 'adopt', [], adoptOpts(kind, orig.file));
    expect(code).toBe(6);
    const res = ctx.out.results[0] as Record<string, any>;
    expect(res).toMatchObject({ outcome: 'rolled-back', version: '2026.9.1' });
    expect(res['stages'][0]).toMatchObject({ name: 'restarted+responsive', ok: false });
    // Everything adopt changed is back: the definition byte for byte, records, config, current.
    expect(await fsp.readFile(orig.file, 'utf8')).toBe(orig.text);
    expect(fs.existsSync(`${orig.file}.oc-versions-orig`)).toBe(false);
    expect(fs.existsSync(fake.layout.adoptedRecord)).toBe(false);
    expect(JSON.parse(await fsp.readFile(cfgPath, 'utf8')).service.manager).toBeUndefined();
    expect(fs.readlinkSync(fake.layout.current)).toBe(path.join('versions', '2026.9.5'));
    // The original process serves again, from the global install.
    const info = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(info.realArgv1).toBe(fs.realpathSync(path.join(pkg, 'dist', 'index.js')));
    if (kind === 'launchd') expect(parse(await fsp.readFile(orig.file, 'utf8'))).toMatchObject({ ProgramArguments: [process.execPath, path.join(pkg, 'dist', 'index.js'), 'gateway', '--port', String(port)] });
  });

  it('a running version that is not installed side by side: exit 3 with the exact install command; nothing changes', async () => {
    const fake = await makeFakeHome({ versions: ['2026.9.5'] });
    fakes.push(fake);
    const port = await freePort();
    const pkg = await makeGlobalInstall(fake.root, '2026.9.3');
    const orig = await startOriginal(fake, kind, process.execPath, path.join(pkg, 'dist', 'index.js'), port);
    const before = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    const homeBefore = await fsp.readdir(fake.layout.home);
    const ctx = await makeContext(fake, serviceEnv(fake));
    const err = await service(ctx, 'adopt', [], adoptOpts(kind, orig.file)).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('NOT_INSTALLED');
    expect((err as { hint?: string }).hint).toMatch(/^oc-versions install 2026\.9\.3 /);
    expect(await fsp.readFile(orig.file, 'utf8')).toBe(orig.text);
    expect(await fsp.readdir(fake.layout.home)).toEqual(homeBefore);
    expect((await waitForJson<Info>(`http://127.0.0.1:${port}/info`)).pid).toBe(before.pid);
  });
});
