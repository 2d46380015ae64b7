/**
 * `pin` / `unpin` (issue 13, part 4) against the fixture registry (2026.3.1, 2026.3.1-2 and
 * 2026.4.1 = latest published): upgrade stays inside the pin and says so; an explicit version
 * outside it is refused without --force; status shows the pin.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { makeTestEnv, runCli, type TestEnv } from '../helpers/cli.js';

let t: TestEnv | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const current = (env: TestEnv) => fs.readlinkSync(path.join(env.ocHome, 'current'));

describe('pin and hold', () => {
  it('pin 2026.3 then upgrade with 2026.4.1 published stays on 2026.3.x and says so; 2026.4.1 needs --force', async () => {
    t = await makeTestEnv(inject('registryUrl'));
    const cli = (...a: string[]) => runCli(a, t!.env);
    expect((await cli('install', '2026.2.1', '--use')).code).toBe(0);

    const bad = await cli('pin', 'latest');
    expect(bad.code).toBe(2);
    const p = await cli('pin', '2026.3', '--json');
    expect(p.code, p.stderr).toBe(0);
    expect(p.json.pin).toMatchObject({ spec: '2026.3' });
    const st = await cli('status', '--json');
    expect(st.json.pin).toMatchObject({ spec: '2026.3' });
    expect((await cli('status')).stdout).toMatch(/pinned: 2026\.3 /);

    const up = await cli('upgrade', '--json');
    expect(up.code, up.stderr).toBe(0);
    expect(up.json.to).toMatch(/^2026\.3\./);
    expect(up.stderr).toMatch(/pinned to 2026\.3: upgrading inside the pin/);
    expect(current(t)).toBe(`versions/${up.json.to}`);

    const latest = await cli('upgrade', 'latest', '--json');
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.json.to).toMatch(/^2026\.3\./);
    expect(latest.stderr).toMatch(/instead of latest/);

    const out = await cli('upgrade', '2026.4.1');
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/2026\.4\.1 is outside the pin 2026\.3/);
    expect(out.stderr).toMatch(/--force/);
    expect(current(t)).toMatch(/^versions\/2026\.3\./);
    expect(fs.existsSync(path.join(t.ocHome, 'versions', '2026.4.1'))).toBe(false);

    const forced = await cli('upgrade', '2026.4.1', '--force', '--json');
    expect(forced.code, forced.stderr).toBe(0);
    expect(current(t)).toBe('versions/2026.4.1');

    const un = await cli('unpin', '--json');
    expect(un.code).toBe(0);
    expect(un.json.was).toMatchObject({ spec: '2026.3' });
    expect((await cli('status', '--json')).json.pin).toBeNull();
  });
});
