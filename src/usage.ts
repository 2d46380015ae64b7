/**
 * What the command line offers beside cac's own table (src/cli.ts): the actions of `service` and
 * `snapshot` with a line each (their --help, the completion script, and the check of an action
 * before its module loads), and "did you mean" for a mistyped command, action or option.
 * Small and dependency-free: src/cli.ts loads it for every command.
 */
import { OcError } from './errors.js';

/** `service <action>`: the same set as SERVICE_SUBCOMMANDS (src/commands/service.ts; a unit test keeps them equal). */
export const SERVICE_ACTIONS: Readonly<Record<string, string>> = {
  install: 'run the gateway as a service through the launcher (launchd, systemd or process); gateway args after --',
  adopt: 'take over an existing LaunchAgent or systemd unit (--plist/--unit), keeping its original to hand back',
  restore: 'hand an adopted service back to its original definition',
  uninstall: 'stop and remove a service oc-versions installed',
  start: 'start the service (no-op when it runs)',
  stop: 'stop the service (drains up to --drain-ms, then SIGKILL)',
  restart: 'restart the service on the current version',
  status: 'the service: manager, label, running pid and the version it serves',
};

/** `snapshot <action> [id]`. */
export const SNAPSHOT_ACTIONS: Readonly<Record<string, string>> = {
  create: 'snapshot the service definition, env keys and state databases now (--reason)',
  list: 'the snapshots, newest first',
  show: 'one snapshot (by id): what it holds, without secret values',
};

/** `runtime <action> [version]`. */
export const RUNTIME_ACTIONS: Readonly<Record<string, string>> = {
  list: 'the managed node runtimes in the home: size, source and what runs on each',
  install: 'install a node (exact version or range) from the mirror or the npm registry (--from)',
  prune: 'remove the runtimes nothing uses (never one a kept version, the service or the recovery agent runs)',
};

/** `state aside <action> [file]`. */
export const STATE_ASIDE_ACTIONS: Readonly<Record<string, string>> = {
  list: 'the state databases a restore set aside (never deleted), newest first',
  restore: 'put a set-aside database back where it lived (the live one is set aside in turn)',
};

/** The "Actions:" help section of a command with actions. */
export function actionsHelp(actions: Readonly<Record<string, string>>): string {
  const width = Math.max(...Object.keys(actions).map((a) => a.length));
  return Object.entries(actions)
    .map(([a, line]) => `  ${a.padEnd(width)}  ${line}`)
    .join('\n');
}

/** Edit distance with adjacent transpositions (optimal string alignment): `strat` is 1 from `start`. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `word`, when close enough to be a typo: at most a third of the longer
 * word's letters differ (at least 1, at most 3), or the word is a prefix of exactly one candidate.
 */
export function closest(word: string, candidates: readonly string[]): string | null {
  const w = word.toLowerCase();
  const prefixed = candidates.filter((c) => w.length >= 2 && c.startsWith(w));
  if (prefixed.length === 1) return prefixed[0]!;
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  const limit = Math.min(3, Math.max(1, Math.floor(Math.max(w.length, best?.length ?? 0) / 3)));
  return best !== null && bestD <= limit ? best : null;
}

/** A USAGE error for an unknown word, with "did you mean" when one is close: one line, and the hint. */
export function unknownWord(kind: string, word: string, candidates: readonly string[], hint: string): OcError {
  const near = closest(word, candidates);
  return new OcError('USAGE', `unknown ${kind} '${word}'${near ? ` (did you mean '${near}'?)` : ''}`, { hint });
}
