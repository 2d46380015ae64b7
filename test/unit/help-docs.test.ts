/**
 * `--help` and docs/cli.md agree (issue 13, part 8): every option the cli.md option tables name
 * for `service`, `snapshot` and `upgrade` is in that command's --help, every global option in the
 * top-level --help and the completion script, and no `--no-x` flag claims
 * "(default: true)". Runs the built CLI.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, REPO } from '../helpers/cli.js';
import { SERVICE_SUBCOMMANDS } from '../../src/commands/service.js';
import { closest, SERVICE_ACTIONS, SNAPSHOT_ACTIONS } from '../../src/usage.js';

const help = (cmd: string) => execFileSync(process.execPath, [CLI, cmd, '--help'], { encoding: 'utf8' });
const doc = fs.readFileSync(path.join(REPO, 'docs', 'cli.md'), 'utf8');

/** The `--options` in the first option table after a heading. */
function documentedOptions(heading: string): string[] {
  const at = doc.indexOf(heading);
  expect(at, heading).toBeGreaterThanOrEqual(0);
  const rest = doc.slice(at);
  const lines = rest.slice(rest.indexOf('| option |')).split('\n');
  const end = lines.findIndex((l, i) => i > 1 && !l.startsWith('|'));
  const body = lines.slice(2, end).join('\n');
  return [...new Set([...body.matchAll(/^\| `([^|]*)`/gm)].flatMap((m) => [...m[1]!.matchAll(/--[a-z][a-z-]*/g)].map((x) => x[0])))];
}

describe.skipIf(!fs.existsSync(CLI))('help and docs agree', () => {
  it.each([
    ['## Service', 'service'],
    ['## Snapshots', 'snapshot'],
    ['### `upgrade [spec]`', 'upgrade'],
  ])('every option documented under %s is in `%s --help`', (heading, cmd) => {
    const documented = documentedOptions(heading);
    expect(documented.length).toBeGreaterThan(2);
    const text = help(cmd);
    const missing = documented.filter((o) => !new RegExp(`(^|\\s)${o}(\\s|,|$)`, 'm').test(text));
    expect(missing).toEqual([]);
  });

  it('every global option documented is in `--help`, and the completion script offers it', () => {
    const documented = documentedOptions('## Global options');
    expect(documented).toEqual(expect.arrayContaining(['--json', '--quiet', '--progress', '--no-color']));
    const top = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    const completion = execFileSync(process.execPath, [CLI, 'completion', 'bash'], { encoding: 'utf8' });
    for (const o of documented) {
      expect(top, o).toMatch(new RegExp(`(^|\\s)${o}(\\s|,|$)`, 'm'));
      expect(completion, o).toContain(o);
    }
  });

  it('the completion script offers every command of `--help` and each command\'s own options', () => {
    const top = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    const commands = [...top.slice(top.indexOf('Commands:')).matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!);
    expect(commands).toEqual(expect.arrayContaining(['install', 'upgrade', 'doctor', 'pin', 'history', 'uninstall-all']));
    const completion = execFileSync(process.execPath, [CLI, 'completion', 'bash'], { encoding: 'utf8' });
    const globals = new Set(documentedOptions('## Global options').concat(['--help', '--version', '-h', '-v']));
    for (const cmd of commands) {
      expect(completion, cmd).toMatch(new RegExp(`(^|[\\s"'])${cmd}([\\s"')]|$)`, 'm'));
      const own = [...help(cmd).matchAll(/^ {2}(--[a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((o) => !globals.has(o));
      for (const o of own) expect(completion, `${cmd} ${o}`).toContain(o);
    }
  });

  it('no --no-x flag says "(default: true)"', () => {
    for (const cmd of ['use', 'rollback', 'upgrade']) {
      const text = help(cmd);
      expect(text).toMatch(/--no-restart/);
      expect(text).not.toMatch(/--no-[a-z-]+[^\n]*\(default: true\)/);
    }
  });

  it('doctor is a command; its documented option is in its --help', () => {
    const top = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    expect(top).toMatch(/^\s+doctor /m);
    expect(documentedOptions('### `doctor`')).toEqual(['--fix']);
    expect(help('doctor')).toMatch(/(^|\s)--fix(\s|$)/m);
  });

  it('pin and unpin are commands', () => {
    const top = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    expect(top).toMatch(/^\s+pin <spec>/m);
    expect(top).toMatch(/^\s+unpin /m);
  });
});

describe.skipIf(!fs.existsSync(CLI))('each command explains itself (issue 32)', () => {
  const top = () => execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  /** `name` → its one-line description, from the top-level command table. */
  const table = () =>
    new Map(
      [...top().slice(top().indexOf('Commands:')).matchAll(/^ {2}([a-z][a-z-]*)[^\n]*? {2,}(\S[^\n]*)$/gm)].map((m) => [m[1]!, m[2]!.trim()] as const),
    );

  it("every command's --help has its one-line description and at least one example of itself", () => {
    const commands = table();
    expect(commands.size).toBeGreaterThanOrEqual(20);
    for (const [cmd, description] of commands) {
      const text = help(cmd);
      const sections = text.split('\n\n');
      // banner, usage, then the description
      expect(sections[1], cmd).toMatch(new RegExp(`^Usage:\\n {2}\\$ oc-versions ${cmd}`));
      expect(sections[2], cmd).toBe(description);
      const examples = text.slice(text.indexOf('Examples:'));
      expect(text, cmd).toContain('Examples:');
      expect(examples, cmd).toMatch(new RegExp(`^ {2}\\$ oc-versions ${cmd}( |$)`, 'm'));
    }
  });

  it.each([
    ['service', SERVICE_ACTIONS],
    ['snapshot', SNAPSHOT_ACTIONS],
  ] as const)('`%s --help` lists each action with a line', (cmd, actions) => {
    const text = help(cmd);
    const section = text.slice(text.indexOf('Actions:\n'), text.indexOf('\n\n', text.indexOf('Actions:\n')));
    for (const [action, line] of Object.entries(actions)) expect(section).toMatch(new RegExp(`^ {2}${action} +${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  });

  it('the service actions in --help are the ones `service` runs', () => {
    expect(Object.keys(SERVICE_ACTIONS).sort()).toEqual([...SERVICE_SUBCOMMANDS].sort());
  });
});

describe('did you mean', () => {
  it('picks the near word, and none when nothing is near', () => {
    expect(closest('intall', ['install', 'uninstall', 'list'])).toBe('install');
    expect(closest('strat', ['start', 'stop', 'status'])).toBe('start');
    expect(closest('--dry-rn', ['--dry-run', '--detach'])).toBe('--dry-run');
    expect(closest('hist', ['history', 'list'])).toBe('history');
    expect(closest('frobnicate', ['install', 'use', 'rollback'])).toBeNull();
    expect(closest('x', ['install', 'use'])).toBeNull();
  });

  it.skipIf(!fs.existsSync(CLI)).each([
    [['intall', '2026.1.1'], "unknown command 'intall' (did you mean 'install'?)", 'oc-versions --help lists commands'],
    [['service', 'strat'], "unknown service action 'strat' (did you mean 'start'?)", 'oc-versions service --help lists its actions'],
    [['snapshot', 'lst'], "unknown snapshot action 'lst' (did you mean 'list'?)", 'oc-versions snapshot --help lists its actions'],
    [['upgrade', '--dry-rn'], "unknown option '--dry-rn' (did you mean '--dry-run'?)", 'oc-versions upgrade --help lists its options'],
    [['use', '2026.1.1', '--no-restrat'], "unknown option '--no-restrat' (did you mean '--no-restart'?)", 'oc-versions use --help lists its options'],
    [['list', '--jsno'], "unknown option '--jsno' (did you mean '--json'?)", 'oc-versions list --help lists its options'],
    [['frobnicate'], "unknown command 'frobnicate'", 'oc-versions --help lists commands'],
  ])('%j: USAGE exit 2, one line and the hint; nothing written', (args, message, hint) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-dym-'));
    try {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, OC_VERSIONS_HOME: path.join(root, 'home') } });
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`oc-versions: ${message}`, `oc-versions: hint: ${hint}`]);
      expect(fs.readdirSync(root)).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
