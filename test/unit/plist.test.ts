import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build, parse } from 'plist';
import { describe, expect, it } from 'vitest';
import { isOcError } from '../../src/errors.js';
import { planAdoption, versionManagedNode } from '../../src/service/adopt.js';
import { labelDisabled, launchdBaseEnv, parseLaunchctlPrint } from '../../src/service/launchd.js';
import { decodeBinaryPlist, plistXmlOf } from '../../src/service/bplist.js';
import { definitionToPlist, OPENCLAW_LAUNCHD_POLICY, plistToDefinition } from '../../src/service/plist.js';
import { buildBinaryPlist } from '../helpers/doubles/bplist.mjs';
import type { ServiceDefinition } from '../../src/service/types.js';

const LAUNCHER = '/h/.oc-versions/bin/openclaw-gateway';

function plistText(doc: Record<string, unknown>): string {
  return build(doc as Parameters<typeof build>[0]);
}

describe('plist <-> definition', () => {
  const doc = {
    Label: 'ai.openclaw.gateway',
    RunAtLoad: true,
    KeepAlive: true,
    ThrottleInterval: 10,
    ExitTimeOut: 20,
    Umask: 63,
    ProgramArguments: ['/usr/local/bin/node', '/usr/local/lib/node_modules/openclaw/dist/index.js', 'gateway', '--port', '18789'],
    EnvironmentVariables: { HOME: '/Users/me', OPENCLAW_GATEWAY_TOKEN: 'tok' },
    StandardOutPath: '/Users/me/Library/Logs/openclaw/gateway.log',
    WorkingDirectory: '/Users/me',
    CustomKey: { nested: ['a', 1] },
  };

  it('round-trips every key, unmanaged keys verbatim', () => {
    const def = plistToDefinition(plistText(doc), 'test.plist');
    expect(def).toMatchObject({ label: 'ai.openclaw.gateway', program: doc.ProgramArguments, env: doc.EnvironmentVariables, workingDirectory: '/Users/me' });
    expect(parse(definitionToPlist(def))).toEqual(doc);
  });

  it('Program overrides argv[0]; no ProgramArguments uses Program alone', () => {
    expect(plistToDefinition(plistText({ Label: 'x', Program: '/bin/a', ProgramArguments: ['a', 'b'] }), 'p').program).toEqual(['/bin/a', 'b']);
    expect(plistToDefinition(plistText({ Label: 'x', Program: '/bin/a' }), 'p').program).toEqual(['/bin/a']);
  });

  it('a fresh definition gets OpenClaw policy keys', () => {
    const def: ServiceDefinition = { manager: 'launchd', label: 'ai.openclaw.gateway', program: [LAUNCHER, 'gateway'], env: {}, envFiles: [], extra: null };
    const out = parse(definitionToPlist(def)) as Record<string, unknown>;
    for (const [k, v] of Object.entries(OPENCLAW_LAUNCHD_POLICY)) expect(out[k]).toEqual(v);
    expect(out['EnvironmentVariables']).toBeUndefined();
  });

  it.each([
    ['not xml', 'garbage'],
    ['unclosed', '<?xml version="1.0"?><plist version="1.0"><dict><key>Label</key>'],
    ['array root', plistText(['a'] as unknown as Record<string, unknown>)],
    ['no label', plistText({ ProgramArguments: ['/bin/a'] })],
    ['no program', plistText({ Label: 'x' })],
    ['env not a dict', plistText({ Label: 'x', ProgramArguments: ['/bin/a'], EnvironmentVariables: ['A'] })],
  ])('rejects %s with a one-line INVALID_INPUT', (_name, text) => {
    let err: unknown;
    try {
      plistToDefinition(text, 'bad.plist');
    } catch (e) {
      err = e;
    }
    expect(isOcError(err) && err.code).toBe('INVALID_INPUT');
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('planAdoption', () => {
  const base = (program: string[], env: Record<string, string> = {}): ServiceDefinition => ({
    manager: 'launchd',
    label: 'ai.openclaw.gateway',
    program,
    env,
    envFiles: [],
    extra: {},
  });

  it.each([
    [['/n/node', '/p/openclaw/dist/index.js', 'gateway', '--port', '1'], [LAUNCHER, 'gateway', '--port', '1'], 'inline'],
    [['/n/node', '/p/openclaw/dist/entry.js', 'gateway'], [LAUNCHER, 'gateway'], 'inline'],
    [['/n/node', '/p/openclaw/openclaw.mjs', 'gateway', 'run'], [LAUNCHER, 'gateway', 'run'], 'inline'],
    [
      ['/bin/sh', '/s/service-env/ai.openclaw.gateway-env-wrapper.sh', '/s/service-env/ai.openclaw.gateway.env', '/n/node', '/p/openclaw/dist/index.js', 'gateway', '--port', '2'],
      ['/bin/sh', '/s/service-env/ai.openclaw.gateway-env-wrapper.sh', '/s/service-env/ai.openclaw.gateway.env', LAUNCHER, 'gateway', '--port', '2'],
      'env-wrapper',
    ],
  ])('%j -> %j (%s)', (program, expected, layout) => {
    const plan = planAdoption(base(program, { A: '1' }), LAUNCHER);
    expect(plan.definition.program).toEqual(expected);
    expect(plan.layout).toBe(layout);
    // The node the definition ran is kept for the launcher (OC_VERSIONS_NODE).
    expect(plan.definition.env).toEqual({ A: '1', OPENCLAW_SUPERVISOR_MODE: 'external', OPENCLAW_SERVICE_REPAIR_POLICY: 'external', OC_VERSIONS_NODE: '/n/node' });
    expect(plan.entry).toBe(program[program.length - (expected.length - (layout === 'env-wrapper' ? 3 : 0))]);
  });

  it('--node replaces the kept node; nodes under version managers are named', () => {
    const plan = planAdoption(base(['/n/node', '/p/dist/index.js', 'gateway']), LAUNCHER, { node: '/usr/bin/node' });
    expect(plan.definition.env['OC_VERSIONS_NODE']).toBe('/usr/bin/node');
    expect(versionManagedNode('/Users/a/.nvm/versions/node/v22.1.0/bin/node')).toBe('nvm');
    expect(versionManagedNode('/opt/homebrew/Cellar/node/22.1.0/bin/node')).toBe('Homebrew (Cellar)');
    expect(versionManagedNode('/Users/a/.volta/tools/image/node/22.1.0/bin/node')).toBe('volta');
    expect(versionManagedNode('/Users/a/.local/share/fnm/node-versions/v22.1.0/installation/bin/node')).toBe('fnm');
    expect(versionManagedNode('/Users/a/.asdf/installs/nodejs/22.1.0/bin/node')).toBe('asdf');
    expect(versionManagedNode('/opt/homebrew/bin/node')).toBeNull();
    expect(versionManagedNode('/usr/bin/node')).toBeNull();
  });

  it('moves node flags into NODE_OPTIONS without duplicating them', () => {
    const plan = planAdoption(base(['/n/node', '--max-old-space-size=512', '/p/dist/index.js', 'gateway'], { NODE_OPTIONS: '--max-old-space-size=512 --x' }), LAUNCHER);
    expect(plan.definition.env['NODE_OPTIONS']).toBe('--max-old-space-size=512 --x');
    const plan2 = planAdoption(base(['/n/node', '--inspect', '/p/dist/index.js', 'gateway']), LAUNCHER);
    expect(plan2.definition.env['NODE_OPTIONS']).toBe('--inspect');
  });

  it('is idempotent on an adopted program', () => {
    const plan = planAdoption(base([LAUNCHER, 'gateway']), LAUNCHER);
    expect(plan.alreadyAdopted).toBe(true);
    expect(plan.definition.program).toEqual([LAUNCHER, 'gateway']);
  });

  it('refuses a program without an OpenClaw entry (e.g. a custom --wrapper)', () => {
    expect(() => planAdoption(base(['/usr/local/bin/my-wrapper', 'gateway']), LAUNCHER)).toThrow(/cannot find the OpenClaw entry/);
  });
});

describe('launchctl print parsing', () => {
  it('reads pid, state, last exit code from the top level only', () => {
    const text = [
      'gui/501/ai.openclaw.gateway = {',
      '\tactive count = 1',
      '\tstate = running',
      '\tprogram = /bin/sh',
      '\tenvironment = {',
      '\t\tpid = 999',
      '\t}',
      '\tpid = 4242',
      '\tlast exit code = (never exited)',
      '}',
    ].join('\n');
    expect(parseLaunchctlPrint(text)).toEqual({ pid: 4242, state: 'running', lastExitCode: '(never exited)', program: '/bin/sh', path: null, exitTimeoutS: null, runs: null, environment: {} });
    expect(parseLaunchctlPrint('gui/501/x = {\n\tstate = not running\n}').pid).toBeNull();
  });

  it('reads path, exit timeout, runs, the environment block and a terminating signal', () => {
    const text = [
      'gui/501/ai.openclaw.gateway = {',
      '\tpath = /Users/u/Library/LaunchAgents/ai.openclaw.gateway.plist',
      '\tstate = SIGTERMed',
      '\tenvironment = {',
      '\t\tOPENCLAW_GATEWAY_PORT => 18789',
      '\t\tWITH_ARROW => a => b',
      '\t}',
      '',
      '\texit timeout = 5',
      '\truns = 3',
      '\tlast terminating signal = Killed: 9',
      '}',
    ].join('\n');
    expect(parseLaunchctlPrint(text)).toMatchObject({
      path: '/Users/u/Library/LaunchAgents/ai.openclaw.gateway.plist',
      state: 'SIGTERMed',
      exitTimeoutS: 5,
      runs: 3,
      lastExitCode: 'Killed: 9',
      environment: { OPENCLAW_GATEWAY_PORT: '18789', WITH_ARROW: 'a => b' },
    });
  });
});

describe('launchctl print-disabled parsing', () => {
  it('reads a label override in both formats; other labels and absent ones are enabled', () => {
    const now = 'disabled services = {\n\t"ai.openclaw.gateway" => disabled\n\t"com.other" => enabled\n}\n';
    expect(labelDisabled(now, 'ai.openclaw.gateway')).toBe(true);
    expect(labelDisabled(now, 'com.other')).toBe(false);
    expect(labelDisabled(now, 'ai.openclaw')).toBe(false);
    expect(labelDisabled('disabled services = {\n\t"ai.openclaw.gateway" => true\n}\n', 'ai.openclaw.gateway')).toBe(true);
  });
});

describe('launchdBaseEnv', () => {
  it('puts Homebrew bin dirs that exist first, then the system dirs; HOME and TMPDIR', () => {
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'brew-'));
    try {
      fs.mkdirSync(path.join(prefix, 'bin'));
      const env = launchdBaseEnv({ HOMEBREW_PREFIX: prefix, HOME: '/Users/u', TMPDIR: '/tmp/x' });
      expect(env['PATH']!.split(':')[0]).toBe(path.join(prefix, 'bin'));
      expect(env['PATH']).not.toContain(path.join(prefix, 'sbin'));
      expect(env['PATH']!.endsWith('/usr/bin:/bin:/usr/sbin:/sbin')).toBe(true);
      expect(env).toMatchObject({ HOME: '/Users/u', TMPDIR: '/tmp/x' });
    } finally {
      fs.rmSync(prefix, { recursive: true, force: true });
    }
  });
});

describe('binary plists (our reader, checked against the launchd model\'s independent writer)', () => {
  const doc = {
    Label: 'ai.openclaw.gateway',
    ProgramArguments: ['/usr/bin/node', '/x/dist/index.js', 'gateway'],
    EnvironmentVariables: { A: 'same', B: 'same', UNI: 'ünïcode — ✓', LONG: 'x'.repeat(300) },
    KeepAlive: { SuccessfulExit: false },
    RunAtLoad: true,
    ThrottleInterval: 10,
    Big: 2 ** 40,
    Ratio: 0.5,
  };

  it('decodes every value the model writes (dicts, arrays, ASCII and UTF-16 strings, repeated strings, integers, reals, booleans)', () => {
    const bytes = buildBinaryPlist(doc);
    const copy = Buffer.from(bytes);
    expect(decodeBinaryPlist(bytes, 'x.plist')).toEqual(doc);
    // Decoding twice gives the same (the UTF-16 swap works on a copy) and leaves the input as it was.
    expect(decodeBinaryPlist(bytes, 'x.plist')).toEqual(doc);
    expect(bytes.equals(copy)).toBe(true);
  });

  it('plistXmlOf: XML as it is; binary converted to XML the definition parser reads', async () => {
    const xml = build(doc as Parameters<typeof build>[0]);
    expect(await plistXmlOf(Buffer.from(xml), 'x.plist', { PATH: '' })).toBe(xml);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bplist-')), 'x.plist');
    fs.writeFileSync(file, buildBinaryPlist(doc));
    try {
      const converted = await plistXmlOf(fs.readFileSync(file), file, { PATH: '' });
      expect(parse(converted)).toEqual(doc);
      expect(plistToDefinition(converted, file).env).toMatchObject({ UNI: 'ünïcode — ✓' });
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('a truncated or corrupt binary plist: INVALID_INPUT naming the file, one line', () => {
    const bytes = buildBinaryPlist(doc);
    for (const bad of [bytes.subarray(0, 48), Buffer.concat([bytes.subarray(0, 8), Buffer.alloc(40, 0xff)])]) {
      let err: unknown;
      try {
        decodeBinaryPlist(bad, '/x/y.plist');
      } catch (e) {
        err = e;
      }
      expect(isOcError(err) && err.code).toBe('INVALID_INPUT');
      expect((err as Error).message).toMatch(/^\/x\/y\.plist is not a valid binary plist: [^\n]+$/);
    }
  });
});
