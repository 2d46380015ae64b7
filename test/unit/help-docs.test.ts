/**
 * `--help` and docs/cli.md agree (issue 13, part 8): every option the cli.md option tables name
 * for `service`, `snapshot` and `upgrade` is in that command's --help, every global option in the
 * top-level --help and the completion script, and no `--no-x` flag claims
 * "(default: true)". Runs the built CLI.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, REPO } from '../helpers/cli.js';

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
