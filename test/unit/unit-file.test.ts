import { describe, expect, it } from 'vitest';
import { isOcError } from '../../src/errors.js';
import { parseEnvFile } from '../../src/openclaw/env-file.js';
import { redactProgram } from '../../src/secrets/redact.js';
import { parseUnit, renderUnit, splitUnitWords, stopTimeoutValue, unitExtraOf, withStopBudget } from '../../src/service/unit.js';
import { redactConfigText } from '../../src/openclaw/state.js';

const UNIT = `[Unit]
Description=OpenClaw Gateway
After=network-online.target

[Service]
# comment kept
ExecStart=/usr/bin/node --max-old-space-size=2048 "/opt/open claw/dist/index.js" gateway --port 18789
Restart=always
Environment=HOME=/home/me "OPENCLAW_GATEWAY_TOKEN=a b" PERCENT=100%%
Environment='SINGLE=x y'
EnvironmentFile=-/home/me/.openclaw/gateway.systemd.env
KillMode=mixed

[Install]
WantedBy=default.target
`;

describe('systemd unit parse/render', () => {
  it('parses ExecStart, Environment (quotes, %%), EnvironmentFile', () => {
    const def = parseUnit(UNIT, 'u', 'openclaw-gateway.service');
    expect(def.program).toEqual(['/usr/bin/node', '--max-old-space-size=2048', '/opt/open claw/dist/index.js', 'gateway', '--port', '18789']);
    expect(def.env).toEqual({ HOME: '/home/me', OPENCLAW_GATEWAY_TOKEN: 'a b', PERCENT: '100%', SINGLE: 'x y' });
    expect(def.envFiles).toEqual(['-/home/me/.openclaw/gateway.systemd.env']);
  });

  it('renders back: unmanaged lines verbatim, values re-quoted, parse(render(x)) == x', () => {
    const def = parseUnit(UNIT, 'u', 'openclaw-gateway.service');
    const text = renderUnit(def);
    for (const line of ['# comment kept', 'Restart=always', 'KillMode=mixed', 'EnvironmentFile=-/home/me/.openclaw/gateway.systemd.env', 'WantedBy=default.target']) {
      expect(text).toContain(line);
    }
    expect(text).toContain('"/opt/open claw/dist/index.js"');
    expect(text).toContain('Environment=PERCENT=100%%');
    const again = parseUnit(text, 'u', 'openclaw-gateway.service');
    expect(again.program).toEqual(def.program);
    expect(again.env).toEqual(def.env);
  });

  it('escapes $ in ExecStart and quotes/backslashes in values', () => {
    const def = parseUnit(UNIT, 'u', 'x.service');
    def.program = ['/bin/launcher', 'a$b', 'c"d', 'e\\f'];
    def.env = { Q: 'say "hi"', D: '$HOME' };
    const back = parseUnit(renderUnit(def), 'u', 'x.service');
    expect(back.program).toEqual(def.program);
    expect(back.env).toEqual(def.env);
  });

  it('fresh render uses OpenClaw policy', () => {
    const text = renderUnit({ manager: 'systemd', label: 'openclaw-gateway.service', program: ['/l', 'gateway'], env: { A: '1' }, envFiles: [], extra: null });
    expect(text).toMatch(/RestartPreventExitStatus=78/);
    expect(text).toMatch(/\[Service\]\nExecStart=\/l gateway\nEnvironment=A=1\n/);
  });

  it.each([
    ['no section', 'ExecStart=/bin/a\n'],
    ['no [Service]', '[Unit]\nDescription=x\n'],
    ['no ExecStart', '[Service]\nRestart=always\n'],
    ['garbage line', '[Service]\nExecStart=/bin/a\nnot a line\n'],
    ['unterminated quote', '[Service]\nExecStart=/bin/a "oops\n'],
    ['two ExecStart', '[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n'],
  ])('rejects %s with INVALID_INPUT', (_n, text) => {
    let err: unknown;
    try {
      parseUnit(text, 'bad.service', 'bad.service');
    } catch (e) {
      err = e;
    }
    expect(isOcError(err) && err.code).toBe('INVALID_INPUT');
  });

  it('splitUnitWords handles escapes', () => {
    expect(splitUnitWords(`a "b c" 'd e' f\\ g "h\\"i"`)).toEqual(['a', 'b c', 'd e', 'f g', 'h"i']);
  });
});

describe('env files, redaction', () => {
  it('parses OpenClaw .env and EnvironmentFile syntax', () => {
    expect(parseEnvFile(`# openclaw service env\nexport A='x y'\nB="q \\"z\\""\nC=plain # c\nexport D='it'\\''s'\n\n;x\n`)).toEqual({
      A: 'x y',
      B: 'q "z"',
      C: 'plain',
      D: "it's",
    });
  });

  it('redacts --token style args', () => {
    expect(redactProgram(['/l', 'gateway', '--token', 's3cret', '--password=p', '--port', '1'])).toEqual({
      program: ['/l', 'gateway', '--token', 'oc-secret:redacted', '--password=oc-secret:redacted', '--port', '1'],
      redacted: true,
    });
  });

  it('redacts secret-looking values in JSON5 config text', () => {
    const { text, redacted } = redactConfigText(`{ gateway: { auth: { mode: "token", token: "abc" } }, models: { "apiKey": 'k1' }, port: 1 }`, 'TOKEN|KEY|SECRET|PASSWORD');
    expect(text).toBe(`{ gateway: { auth: { mode: "token", token: "oc-secret:config/token#0" } }, models: { "apiKey": 'oc-secret:config/apiKey#0' }, port: 1 }`);
    expect(redacted).toEqual(['config/token#0', 'config/apiKey#0']);
  });
});

describe('stop budget in the unit (TimeoutStopSec/KillMode follow config.service.drainMs)', () => {
  it('formats the drain exactly and never as 0 (which systemd reads as "no timeout")', () => {
    expect(stopTimeoutValue(20_000)).toBe('20s');
    expect(stopTimeoutValue(2_500)).toBe('2500ms');
    expect(stopTimeoutValue(0)).toBe('1ms');
  });

  it('replaces the lines in place, drops repeats, keeps every other line', () => {
    const text = ['[Unit]', 'Description=x', '[Service]', 'ExecStart=/l gateway', 'TimeoutStopSec=330', 'KillMode=process', 'KillMode=none', 'Restart=always', '[Install]', 'WantedBy=default.target', ''].join('\n');
    const def = parseUnit(text, 'u', 'x.service');
    const out = renderUnit({ ...def, extra: withStopBudget(unitExtraOf(def), 3_000) });
    expect(out).toBe(['[Unit]', 'Description=x', '[Service]', 'ExecStart=/l gateway', 'TimeoutStopSec=3s', 'KillMode=mixed', 'Restart=always', '[Install]', 'WantedBy=default.target', ''].join('\n'));
  });

  it('adds missing lines after the environment, only in [Service]', () => {
    const text = ['[Unit]', 'KillMode=process', '[Service]', 'ExecStart=/l', 'Environment=A=1', 'Restart=always', ''].join('\n');
    const def = parseUnit(text, 'u', 'x.service');
    const out = renderUnit({ ...def, extra: withStopBudget(unitExtraOf(def), 1_500) });
    expect(out).toBe(['[Unit]', 'KillMode=process', '[Service]', 'ExecStart=/l', 'Environment=A=1', 'TimeoutStopSec=1500ms', 'KillMode=mixed', 'Restart=always', ''].join('\n'));
  });

  it('applies to the fresh-install template (OpenClaw policy otherwise unchanged)', () => {
    const def = { manager: 'systemd' as const, label: 'g.service', program: ['/l'], env: {}, envFiles: [], extra: null };
    const out = renderUnit({ ...def, extra: withStopBudget(unitExtraOf(def), 20_000) });
    expect(out).toContain('TimeoutStopSec=20s\n');
    expect(out).not.toContain('TimeoutStopSec=330');
    expect(out.match(/KillMode=/g)).toHaveLength(1);
    expect(out).toContain('StartLimitBurst=10\nStartLimitIntervalSec=300\n');
  });
});
