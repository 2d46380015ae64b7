/**
 * `oc-versions uninstall-all` (issue 13, part 7): without --yes it only says what it would do;
 * with --yes it hands the adopted service back (service restore, with its checks), removes the
 * recovery agent and the home, and OpenClaw keeps running from its restored definition.
 * A service oc-versions installed itself is refused. launchctl double, real processes.
 * Against a real Secret Service (gnome-keyring in a private D-Bus session; skipped without it):
 * the entries `service install --env` and a snapshot made are gone afterwards, another home's stay.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { build } from 'plist';
import { afterEach, describe, expect, it } from 'vitest';
import { run as service } from '../../src/commands/service.js';
import { isOcError } from '../../src/errors.js';
import { isAlive, killGroup, run as runProc, sleep, spawnDetached } from '../../src/os/proc.js';
import { runCli } from '../helpers/cli.js';
import { filesContaining, freePort, makeContext, makeFakeHome, waitForJson, type FakeHome } from '../helpers/fake-home.js';
import { killDoubleJobs, makeGlobalInstall, serviceEnv } from '../helpers/openclaw-service.js';

type Info = { pid: number; realArgv1: string };
const fakes: FakeHome[] = [];
afterEach(async () => {
  for (const f of fakes.splice(0)) {
    killDoubleJobs(f);
    await f.cleanup();
  }
});

describe('uninstall-all', () => {
  it('hands the adopted service back and removes the agent and the home; the original keeps serving', async () => {
    const fake = await makeFakeHome({ versions: ['2026.9.5'] });
    fakes.push(fake);
    const pkg = await makeGlobalInstall(fake.root, '2026.9.5');
    const port = await freePort();
    const plistPath = path.join(fake.userHome, 'Library', 'LaunchAgents', 'ai.openclaw.gateway.plist');
    await fsp.mkdir(path.dirname(plistPath), { recursive: true });
    const original = build({
      Label: 'ai.openclaw.gateway',
      ProgramArguments: [process.execPath, path.join(pkg, 'dist', 'index.js'), 'gateway', '--port', String(port)],
      EnvironmentVariables: { HOME: fake.userHome },
      RunAtLoad: true,
      KeepAlive: true,
    });
    await fsp.writeFile(plistPath, original);
    const env = serviceEnv(fake);
    expect((await runProc('launchctl', ['bootstrap', `gui/${process.getuid!()}`, plistPath], { env })).code).toBe(0);
    await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(await service(await makeContext(fake, env), 'adopt', [], { plist: plistPath })).toBe(0);
    const agents = () => fs.readdirSync(path.dirname(plistPath)).filter((n) => n.includes('oc-versions-recover'));
    expect(agents()).toHaveLength(1);

    // Without --yes: the plan, nothing changed.
    const dry = await service(await makeContext(fake, env), 'uninstall-all', [], {}).catch((e: unknown) => e);
    expect(isOcError(dry) && dry.code).toBe('REFUSED');
    expect((dry as Error).message).toMatch(/hand back launchd service ai\.openclaw\.gateway/);
    expect((dry as { hint?: string }).hint).toMatch(/--yes/);
    expect(fs.existsSync(fake.layout.home)).toBe(true);
    expect(fs.existsSync(fake.layout.adoptedRecord)).toBe(true);

    const ctx = await makeContext(fake, env);
    expect(await service(ctx, 'uninstall-all', [], { yes: true })).toBe(0);
    expect(ctx.out.results).toHaveLength(1);
    expect(ctx.out.results[0]).toMatchObject({ action: 'uninstall-all', handedBack: true });
    expect(fs.existsSync(fake.layout.home)).toBe(false);
    expect(agents()).toEqual([]);
    expect(await fsp.readFile(plistPath, 'utf8')).toBe(original);
    expect(fs.existsSync(`${plistPath}.oc-versions-orig`)).toBe(false);
    const info = await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    expect(info.realArgv1).toBe(fs.realpathSync(path.join(pkg, 'dist', 'index.js')));
  });

  it('a service oc-versions installed itself is refused; nothing is removed', async () => {
    const fake = await makeFakeHome({ versions: ['2026.9.5'] });
    fakes.push(fake);
    const env = serviceEnv(fake);
    const port = await freePort();
    await service(await makeContext(fake, env), 'install', ['gateway', 'run', '--port', String(port)], { manager: 'launchd' });
    await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
    const err = await service(await makeContext(fake, env), 'uninstall-all', [], { yes: true }).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('REFUSED');
    expect((err as { hint?: string }).hint).toMatch(/service uninstall first/);
    expect(fs.existsSync(fake.layout.home)).toBe(true);
    await waitForJson<Info>(`http://127.0.0.1:${port}/info`);
  });
});

const TOOLS = ['dbus-run-session', 'secret-tool', 'gnome-keyring-daemon'];
const missingTools = TOOLS.filter((t) => !(process.env['PATH'] ?? '').split(':').some((d) => fs.existsSync(path.join(d, t))));

describe.skipIf(missingTools.length > 0)(
  `uninstall-all and the secret store (gnome-keyring)${missingTools.length > 0 ? ` -- SKIPPED: needs ${missingTools.join(', ')} (apt-get install gnome-keyring libsecret-tools dbus)` : ''}`,
  () => {
    let root = '';
    let sessionPid = 0;
    let bus: NodeJS.ProcessEnv = {};
    const planted: NodeJS.ProcessEnv[] = [];
    afterEach(async () => {
      for (const env of planted.splice(0)) await runCli(['service', 'stop', '--drain-ms', '1000'], env).catch(() => undefined);
      if (sessionPid && isAlive(sessionPid)) killGroup(sessionPid, 'SIGTERM');
      sessionPid = 0;
      if (root) await fsp.rm(root, { recursive: true, force: true });
      root = '';
    });

    /** oc-versions' entries in the keyring: store name (attribute `key`) → value. */
    async function entries(): Promise<Map<string, string>> {
      // secret-tool search prints each item's attributes on stderr (and its secret on stdout).
      const r = await runProc('secret-tool', ['search', '--all', 'service', 'oc-versions'], { env: bus });
      const out = new Map<string, string>();
      for (const m of r.stderr.matchAll(/^attribute\.key = (.*)$/gm)) {
        const v = await runProc('secret-tool', ['lookup', 'service', 'oc-versions', 'key', m[1]!], { env: bus });
        out.set(m[1]!, v.stdout);
      }
      return out;
    }

    it('removes every entry service install --env and snapshots made for this home; another home keeps its own', async () => {
      root = await fsp.mkdtemp(path.join((await import('node:os')).tmpdir(), 'ocv-ua-ss-'));
      const addrFile = path.join(root, 'dbus-address');
      const runtime = path.join(root, 'xdg-runtime');
      await fsp.mkdir(runtime, { recursive: true, mode: 0o700 });
      sessionPid = spawnDetached(
        'dbus-run-session',
        ['--', 'sh', '-c', `echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; echo "$DBUS_SESSION_BUS_ADDRESS" > '${addrFile}'; exec sleep 600`],
        { env: { PATH: process.env['PATH'], HOME: root, XDG_RUNTIME_DIR: runtime }, logFile: path.join(root, 'dbus.log') },
      );
      for (let i = 0; i < 100 && !fs.existsSync(addrFile); i++) await sleep(100);
      bus = { PATH: process.env['PATH'], HOME: root, XDG_RUNTIME_DIR: runtime, DBUS_SESSION_BUS_ADDRESS: (await fsp.readFile(addrFile, 'utf8')).trim() };

      /** A home with a process-backend gateway installed with --env, a config secret, and a snapshot. */
      const plant = async (name: string) => {
        const fake = await makeFakeHome({ versions: ['2026.9.5'] });
        fakes.push(fake);
        const token = `tok-${name}-${Math.random().toString(36).slice(2)}`;
        const cfgSecret = `cfg-${name}-${Math.random().toString(36).slice(2)}`;
        await fsp.mkdir(path.join(fake.userHome, '.openclaw'), { recursive: true });
        await fsp.writeFile(path.join(fake.userHome, '.openclaw', 'openclaw.json'), JSON.stringify({ gateway: { auth: { token: cfgSecret } } }));
        const env = { ...bus, HOME: fake.userHome, OC_VERSIONS_HOME: fake.layout.home, OC_VERSIONS_SECRET_STORE: 'secret-service', FAKE_DRAIN_MS: '100' };
        const port = await freePort();
        planted.push(env);
        const ins = await runCli(['service', 'install', '--manager', 'process', '--env', 'OPENCLAW_GATEWAY_TOKEN', '--', 'gateway', 'run', '--port', String(port)], { ...env, OPENCLAW_GATEWAY_TOKEN: token });
        expect(ins.code, ins.stderr).toBe(0);
        await waitForJson(`http://127.0.0.1:${port}/info`);
        const snap = await runCli(['snapshot', 'create', '--reason', 'test'], env);
        expect(snap.code, snap.stderr).toBe(0);
        return { fake, env, token, cfgSecret, port };
      };

      const b = await plant('b');
      const bEntries = await entries();
      expect([...bEntries.values()]).toEqual(expect.arrayContaining([b.token, b.cfgSecret]));
      const a = await plant('a');
      const all = await entries();
      const aNames = [...all.keys()].filter((k) => !bEntries.has(k));
      // home a's own: its --env token and its config secret (under its home-tagged label)
      expect(aNames.map((k) => all.get(k)).sort()).toEqual([a.token, a.cfgSecret].sort());
      // the secret values never sit under either home
      for (const h of [a, b]) expect(await filesContaining(h.fake.layout.home, h.token)).toEqual([]);

      // The hand back of home a: its service first (uninstall-all refuses one oc-versions installed), then the rest.
      const un = await runCli(['service', 'uninstall'], a.env);
      expect(un.code, un.stderr).toBe(0);
      const left = [...(await entries()).keys()].filter((k) => !bEntries.has(k));
      expect(left.length, 'entries of the snapshot outlive service uninstall: uninstall-all must delete them').toBeGreaterThan(0);
      const ua = await runCli(['uninstall-all', '--yes', '--json'], a.env);
      expect(ua.code, ua.stderr).toBe(0);
      expect(ua.json.secretsDeleted).toEqual(expect.arrayContaining(left));
      expect(fs.existsSync(a.fake.layout.home)).toBe(false);

      // Nothing of home a is left; home b's entries are all there, with their values, and its gateway runs.
      expect(await entries()).toEqual(bEntries);
      const st = await runCli(['service', 'status', '--json'], b.env);
      expect(st.json).toMatchObject({ running: true });
      await runCli(['service', 'uninstall'], b.env);
    });
  },
);
