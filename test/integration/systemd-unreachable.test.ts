/**
 * systemd over SSH (issue 13, part 6): on Linux with systemctl present but no reachable
 * user manager, `service install` / `adopt` without --manager say why and exit 9
 * (ENVIRONMENT) instead of silently picking the process backend. A stand-in systemctl
 * that fails like the real one does without a user bus.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as service } from '../../src/commands/service.js';
import { ERROR_EXIT, isOcError } from '../../src/errors.js';
import { freePort, makeContext, makeFakeHome, type FakeHome } from '../helpers/fake-home.js';

describe.skipIf(process.platform !== 'linux')('systemd user manager unreachable', () => {
  let fake: FakeHome;
  let bin: string;
  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.5'] });
    bin = path.join(fake.root, 'bin');
    await fsp.mkdir(bin);
    await fsp.writeFile(
      path.join(bin, 'systemctl'),
      '#!/bin/sh\necho "Failed to connect to bus: No medium found" >&2\nexit 1\n',
      { mode: 0o755 },
    );
  });
  afterAll(async () => {
    await fake.cleanup();
  });

  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: `${bin}:${process.env['PATH']}`,
    HOME: fake.userHome,
    OC_VERSIONS_SECRET_STORE: 'none',
    ...extra,
  });

  it('no XDG_RUNTIME_DIR: install says why and exits 9; nothing is installed', async () => {
    const ctx = await makeContext(fake, env());
    const port = await freePort();
    const err = await service(ctx, 'install', ['gateway', 'run', '--port', String(port)], {}).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('ENVIRONMENT');
    expect(ERROR_EXIT.ENVIRONMENT).toBe(9);
    expect((err as Error).message).toMatch(/XDG_RUNTIME_DIR is not set/);
    expect((err as Error).message).toMatch(/No medium found/);
    expect((err as { hint?: string }).hint).toMatch(/loginctl enable-linger/);
    expect((err as { hint?: string }).hint).toMatch(/--manager process/);
    expect(fs.existsSync(fake.layout.processDefinition)).toBe(false);
    expect(JSON.parse(await fsp.readFile(fake.layout.config, 'utf8')).service.manager).toBeUndefined();
  });

  it('XDG_RUNTIME_DIR without a user bus: names the missing bus (adopt too)', async () => {
    const runtime = path.join(fake.root, 'run-user');
    await fsp.mkdir(runtime);
    const ctx = await makeContext(fake, env({ XDG_RUNTIME_DIR: runtime }));
    const err = await service(ctx, 'install', ['gateway', 'run'], {}).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('ENVIRONMENT');
    expect((err as Error).message).toContain(`no user bus at ${path.join(runtime, 'bus')}`);
    const a = await service(await makeContext(fake, env({ XDG_RUNTIME_DIR: runtime })), 'adopt', [], {}).catch((e: unknown) => e);
    expect(isOcError(a) && a.code).toBe('ENVIRONMENT');
  });

  it('--manager process is still a deliberate choice that works', async () => {
    const ctx = await makeContext(fake, env());
    const port = await freePort();
    await service(ctx, 'install', ['gateway', 'run', '--port', String(port)], { manager: 'process' });
    expect(ctx.out.results[0]).toMatchObject({ action: 'install', manager: 'process', running: true });
    await service(await makeContext(fake, env()), 'uninstall', [], {});
    expect(fs.existsSync(fake.layout.processDefinition)).toBe(false);
  });
});
