/**
 * systemd user unit <-> ServiceDefinition. The unit is kept as its list of
 * lines; only `ExecStart=` and `Environment=` in [Service] are managed, every
 * other line (comments, policy, EnvironmentFile=) is written back verbatim.
 *
 * Quoting follows systemd.syntax(7)/systemd.service(5): values may be "double"
 * or 'single' quoted with C-style escapes in double quotes; `%%` is a literal
 * `%` (specifiers), and in ExecStart `$$` is a literal `$`.
 */
import { OcError } from '../errors.js';
import path from 'node:path';
import type { ServiceDefinition } from './types.js';

export type UnitLine =
  | { kind: 'raw'; text: string }
  | { kind: 'section'; name: string }
  | { kind: 'exec-slot' }
  | { kind: 'env-slot' };

export interface UnitExtra {
  lines: UnitLine[];
  /** Prefix characters of ExecStart (`-`, `@`, `+`, `!`, ...) kept on rewrite. */
  execPrefix: string;
}

/** OpenClaw's unit policy (OPENCLAW_FACTS §2), for fresh installs only. */
export function openclawUnitTemplate(description: string): UnitExtra {
  const raw = (text: string): UnitLine => ({ kind: 'raw', text });
  return {
    execPrefix: '',
    lines: [
      { kind: 'section', name: 'Unit' },
      raw(`Description=${description}`),
      raw('After=network-online.target'),
      raw('Wants=network-online.target'),
      raw('StartLimitBurst=10'),
      raw('StartLimitIntervalSec=300'),
      raw(''),
      { kind: 'section', name: 'Service' },
      { kind: 'exec-slot' },
      { kind: 'env-slot' },
      raw('Restart=always'),
      raw('RestartSec=5'),
      raw('RestartPreventExitStatus=78'),
      raw('TimeoutStopSec=330'),
      raw('TimeoutStartSec=30'),
      raw('SuccessExitStatus=0 143'),
      raw('OOMPolicy=continue'),
      raw('KillMode=mixed'),
      raw(''),
      { kind: 'section', name: 'Install' },
      raw('WantedBy=default.target'),
    ],
  };
}

/** Split a systemd value into words, honouring quotes and escapes. */
export function splitUnitWords(value: string): string[] {
  const words: string[] = [];
  let i = 0;
  const n = value.length;
  while (i < n) {
    while (i < n && /\s/.test(value[i]!)) i++;
    if (i >= n) break;
    let word = '';
    let quoted = false;
    while (i < n && !/\s/.test(value[i]!)) {
      const c = value[i]!;
      if (c === '"' || c === "'") {
        quoted = true;
        const q = c;
        i++;
        while (i < n && value[i] !== q) {
          if (value[i] === '\\' && q === '"' && i + 1 < n) {
            word += unescapeChar(value[i + 1]!);
            i += 2;
          } else word += value[i++]!;
        }
        if (i >= n) throw new OcError('INVALID_INPUT', `unterminated quote in: ${value}`);
        i++;
      } else if (c === '\\' && i + 1 < n) {
        word += unescapeChar(value[i + 1]!);
        i += 2;
      } else {
        word += c;
        i++;
      }
    }
    if (word !== '' || quoted) words.push(word);
  }
  return words;
}

function unescapeChar(c: string): string {
  switch (c) {
    case 'n':
      return '\n';
    case 't':
      return '\t';
    default:
      return c;
  }
}

function quoteWord(w: string, exec: boolean): string {
  let v = w.replace(/%/g, '%%');
  if (exec) v = v.replace(/\$/g, '$$$$');
  if (v !== '' && !/[\s"'\\;]/.test(v)) return v;
  return '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

const unpercent = (s: string): string => s.replace(/%%/g, '%');

export function parseUnit(text: string, where: string, label: string): ServiceDefinition {
  // Join continuation lines first (a trailing backslash continues the value).
  const physical = text.replace(/\r\n/g, '\n').split('\n');
  const logical: string[] = [];
  for (let i = 0; i < physical.length; i++) {
    let line = physical[i]!;
    while (/\\$/.test(line) && !/^\s*[#;]/.test(line) && i + 1 < physical.length) {
      line = line.slice(0, -1) + ' ' + physical[++i]!;
    }
    logical.push(line);
  }
  if (logical.length > 0 && logical[logical.length - 1] === '') logical.pop();

  const lines: UnitLine[] = [];
  let section: string | null = null;
  let exec: string | undefined;
  let execPrefix = '';
  const env: Record<string, string> = {};
  const envFiles: string[] = [];
  let envSlot = false;
  let workingDirectory: string | undefined;
  let stdoutPath: string | undefined;
  logical.forEach((line, idx) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) {
      lines.push({ kind: 'raw', text: line });
      return;
    }
    const sec = /^\[([^\]]+)\]$/.exec(t);
    if (sec) {
      section = sec[1]!;
      lines.push({ kind: 'section', name: section });
      return;
    }
    const eq = t.indexOf('=');
    if (section === null || eq <= 0) {
      throw new OcError('INVALID_INPUT', `${where}:${idx + 1}: not a unit file line: ${t.slice(0, 60)}`);
    }
    const key = t.slice(0, eq).trim();
    const value = t.slice(eq + 1).trim();
    if (section !== 'Service') {
      lines.push({ kind: 'raw', text: line });
      return;
    }
    if (key === 'ExecStart') {
      if (value === '') {
        exec = undefined; // an empty assignment resets the list
        return;
      }
      if (exec !== undefined) throw new OcError('INVALID_INPUT', `${where}: more than one ExecStart= (Type=oneshot units are not a gateway)`);
      const m = /^([-@:+!]*)(.*)$/.exec(value)!;
      execPrefix = m[1]!;
      exec = m[2]!;
      if (!lines.some((l) => l.kind === 'exec-slot')) lines.push({ kind: 'exec-slot' });
      return;
    }
    if (key === 'Environment') {
      for (const w of splitUnitWords(value)) {
        const e = w.indexOf('=');
        if (e <= 0) throw new OcError('INVALID_INPUT', `${where}:${idx + 1}: bad Environment= assignment: ${w.slice(0, 40)}`);
        env[w.slice(0, e)] = unpercent(w.slice(e + 1));
      }
      if (!envSlot) {
        lines.push({ kind: 'env-slot' });
        envSlot = true;
      }
      return;
    }
    if (key === 'EnvironmentFile') envFiles.push(unpercent(value));
    if (key === 'WorkingDirectory') workingDirectory = unpercent(value);
    if (key === 'StandardOutput' && value.startsWith('append:')) stdoutPath = value.slice(7);
    lines.push({ kind: 'raw', text: line });
  });
  if (!lines.some((l) => l.kind === 'section' && l.name === 'Service')) {
    throw new OcError('INVALID_INPUT', `${where} has no [Service] section`);
  }
  if (exec === undefined) throw new OcError('INVALID_INPUT', `${where} has no ExecStart=`);
  const program = splitUnitWords(exec).map((w) => unpercent(w).replace(/\$\$/g, '$'));
  if (program.length === 0) throw new OcError('INVALID_INPUT', `${where}: empty ExecStart=`);
  if (!envSlot) {
    // Keep new Environment= lines right after ExecStart.
    const at = lines.findIndex((l) => l.kind === 'exec-slot');
    lines.splice(at + 1, 0, { kind: 'env-slot' });
  }
  const extra: UnitExtra = { lines, execPrefix };
  return {
    manager: 'systemd',
    label,
    program,
    env,
    envFiles,
    ...(workingDirectory !== undefined ? { workingDirectory } : {}),
    ...(stdoutPath !== undefined ? { stdoutPath } : {}),
    extra,
  };
}

/** The unit document of a definition: its own lines, or OpenClaw's policy for a fresh install. */
export function unitExtraOf(def: ServiceDefinition): UnitExtra {
  return isUnitExtra(def.extra) ? def.extra : openclawUnitTemplate(`OpenClaw gateway (${def.label}, via oc-versions)`);
}

/** `TimeoutStopSec=` value for a drain budget: exact milliseconds, never 0 (0 means "no timeout"). */
export function stopTimeoutValue(drainMs: number): string {
  const ms = Math.max(1, Math.round(drainMs));
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * The unit's stop policy follows oc-versions' drain budget (config.service.drainMs): in [Service],
 * `TimeoutStopSec=<drain>` and `KillMode=mixed` (SIGTERM to the gateway, which drains; when the
 * budget is spent the manager SIGKILLs everything left in the unit's cgroup). Existing lines are
 * replaced in place, missing ones are added after the environment; every other line is kept.
 */
export function withStopBudget(extra: UnitExtra, drainMs: number): UnitExtra {
  const want: Record<string, string> = { TimeoutStopSec: stopTimeoutValue(drainMs), KillMode: 'mixed' };
  const seen = new Set<string>();
  const lines: UnitLine[] = [];
  let section: string | null = null;
  for (const l of extra.lines) {
    if (l.kind === 'section') section = l.name;
    if (l.kind === 'raw' && section === 'Service') {
      const m = /^\s*(TimeoutStopSec|KillMode)\s*=/.exec(l.text);
      if (m) {
        const key = m[1]!;
        if (!seen.has(key)) lines.push({ kind: 'raw', text: `${key}=${want[key]}` });
        seen.add(key); // a repeated assignment would override ours: drop it
        continue;
      }
    }
    lines.push(l);
  }
  const missing = Object.keys(want).filter((k) => !seen.has(k));
  if (missing.length > 0) {
    const at = lines.findIndex((l) => l.kind === 'env-slot');
    lines.splice(at + 1, 0, ...missing.map((k): UnitLine => ({ kind: 'raw', text: `${k}=${want[k]}` })));
  }
  return { ...extra, lines };
}

export function renderUnit(def: ServiceDefinition): string {
  const extra = unitExtraOf(def);
  const out: string[] = [];
  for (const l of extra.lines) {
    switch (l.kind) {
      case 'raw':
        out.push(l.text);
        break;
      case 'section':
        out.push(`[${l.name}]`);
        break;
      case 'exec-slot':
        out.push(`ExecStart=${extra.execPrefix}${def.program.map((w) => quoteWord(w, true)).join(' ')}`);
        break;
      case 'env-slot':
        for (const [k, v] of Object.entries(def.env)) out.push(`Environment=${quoteWord(`${k}=${v}`, false)}`);
        break;
    }
  }
  return out.join('\n') + '\n';
}

function isUnitExtra(v: unknown): v is UnitExtra {
  return v !== null && typeof v === 'object' && Array.isArray((v as UnitExtra).lines);
}

/** `$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`. */
export function userUnitDir(env: NodeJS.ProcessEnv): string {
  const xdg = env['XDG_CONFIG_HOME'];
  if (xdg) return path.join(xdg, 'systemd', 'user');
  const home = env['HOME'];
  if (!home) throw new OcError('ENVIRONMENT', 'HOME is not set; cannot locate ~/.config/systemd/user');
  return path.join(home, '.config', 'systemd', 'user');
}
