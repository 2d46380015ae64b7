/**
 * `oc-versions uninstall-all` (issue 13, part 7): without --yes it only says what it would do;
 * with --yes it hands the adopted service back (service restore, with its checks), removes the
 * recovery agent and the home, and OpenClaw keeps running from its restored definition.
 * A service oc-versions installed itself is refused. launchctl double, real processes.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { build } from 'plist';
import { afterEach, describe, expect, it } from 'vitest';
import { run as service } from '../../src/commands/service.js';
import { isOcError } from '../../src/errors.js';
import { run as runProc } from '../../src/os/proc.js';
import { freePort, makeContext, makeFakeHome, waitForJson, type FakeHome } from '../helpers/fake-home.js';
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
