/**
 * Hand back (issue 13, part 7): `service restore` first checks that the original entry still
 * exists and that the original version can open the state as it is now (its own CLI's
 * `database preflight <copy> --json` on a consistent copy); otherwise it refuses with the exact
 * next step and changes nothing. launchctl double; a stand-in global install whose CLI refuses
 * a database schema newer than 17, like OpenClaw's forward-only migrations.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { build } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as service } from '../../src/commands/service.js';
import { isOcError } from '../../src/errors.js';
import { run as runProc } from '../../src/os/proc.js';
import { FAKE_GATEWAY_SOURCE, freePort, makeContext, makeFakeHome, waitForJson, type FakeHome } from '../helpers/fake-home.js';
import { killDoubleJobs, serviceEnv } from '../helpers/openclaw-service.js';

const CLI = `#!/usr/bin/env node
const [cmd, sub, db] = process.argv.slice(2);
if (cmd === 'database' && sub === 'preflight') {
  const { DatabaseSync } = await import('node:sqlite');
  const v = new DatabaseSync(db, { readOnly: true }).prepare('PRAGMA user_version').get().user_version;
  if (v > 17) { console.error('database schema ' + v + ' is newer than this build supports (17)'); process.exit(1); }
  console.log(JSON.stringify({ ok: true, schema: v }));
  process.exit(0);
}
await import('./dist/index.js');
`;

describe('service restore checks before handing back', () => {
  let fake: FakeHome;
  let plistPath: string;
  let pkg: string;
  let db: string;
  const setSchema = (v: number) => {
    const d = new DatabaseSync(db);
    d.exec(`PRAGMA user_version = ${v}`);
    d.close();
  };

  beforeAll(async () => {
    fake = await makeFakeHome({ versions: ['2026.9.5'] });
    pkg = path.join(fake.root, 'global', 'lib', 'node_modules', 'openclaw');
    await fsp.mkdir(path.join(pkg, 'dist'), { recursive: true });
    await fsp.writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'openclaw', version: '2026.9.5', type: 'module', bin: { openclaw: 'openclaw.mjs' } }));
    await fsp.writeFile(path.join(pkg, 'dist', 'index.js'), FAKE_GATEWAY_SOURCE);
    await fsp.writeFile(path.join(pkg, 'openclaw.mjs'), CLI, { mode: 0o755 });
    const stateDir = path.join(fake.userHome, '.openclaw');
    await fsp.mkdir(path.join(stateDir, 'state'), { recursive: true });
    db = path.join(stateDir, 'state', 'openclaw.sqlite');
    const d = new DatabaseSync(db);
    d.exec('CREATE TABLE t (x INTEGER); PRAGMA user_version = 17;');
    d.close();
    const port = await freePort();
    plistPath = path.join(fake.userHome, 'Library', 'LaunchAgents', 'ai.openclaw.gateway.plist');
    await fsp.mkdir(path.dirname(plistPath), { recursive: true });
    await fsp.writeFile(
      plistPath,
      build({
        Label: 'ai.openclaw.gateway',
        ProgramArguments: [process.execPath, path.join(pkg, 'dist', 'index.js'), 'gateway', '--port', String(port)],
        EnvironmentVariables: { HOME: fake.userHome, OPENCLAW_STATE_DIR: stateDir },
        RunAtLoad: true,
        KeepAlive: true,
      }),
    );
    const env = serviceEnv(fake);
    expect((await runProc('launchctl', ['bootstrap', `gui/${process.getuid!()}`, plistPath], { env })).code).toBe(0);
    await waitForJson(`http://127.0.0.1:${port}/info`);
    const ctx = await makeContext(fake, env);
    expect(await service(ctx, 'adopt', [], { plist: plistPath })).toBe(0);
  });

  afterAll(async () => {
    killDoubleJobs(fake);
    await fake.cleanup();
  });

  it('a state the original version cannot open: refused with the next step; nothing changes', async () => {
    setSchema(18); // a newer version migrated the state
    const adopted = await fsp.readFile(plistPath, 'utf8');
    const ctx = await makeContext(fake, serviceEnv(fake));
    const err = await service(ctx, 'restore', [], {}).catch((e: unknown) => e);
    expect(isOcError(err) && err.code).toBe('REFUSED');
    expect((err as Error).message).toMatch(/cannot open the current state: database schema 18 is newer/);
    expect((err as { hint?: string }).hint).toMatch(/npm install -g openclaw@2026\.9\.5/);
    expect(await fsp.readFile(plistPath, 'utf8')).toBe(adopted);
    expect(fs.existsSync(fake.layout.adoptedRecord)).toBe(true);
    expect(fs.existsSync(`${plistPath}.oc-versions-orig`)).toBe(true);
    expect(fs.readdirSync(fake.layout.tmpDir)).toEqual([]); // the copy is gone
  });

  it('an original entry that no longer exists: refused with the reinstall command', async () => {
    setSchema(17);
    const moved = `${pkg}.moved`;
    await fsp.rename(pkg, moved);
    try {
      const ctx = await makeContext(fake, serviceEnv(fake));
      const err = await service(ctx, 'restore', [], {}).catch((e: unknown) => e);
      expect(isOcError(err) && err.code).toBe('REFUSED');
      expect((err as Error).message).toContain(`${path.join(pkg, 'dist', 'index.js')}, which no longer exists`);
      expect((err as { hint?: string }).hint).toMatch(/^reinstall it first \(npm install -g openclaw@2026\.9\.5\)/);
      expect(fs.existsSync(fake.layout.adoptedRecord)).toBe(true);
    } finally {
      await fsp.rename(moved, pkg);
    }
  });

  it('when the original opens the state: restored, and the result says it was checked', async () => {
    const ctx = await makeContext(fake, serviceEnv(fake));
    await service(ctx, 'restore', [], {});
    expect(ctx.out.results[0]).toMatchObject({ action: 'restore', identicalToOriginal: true, preflight: { checked: true } });
    expect(fs.existsSync(fake.layout.adoptedRecord)).toBe(false);
  });
});
