/**
 * `oc-versions completion bash|zsh|fish`: prints a completion script for the shell. The script
 * completes commands, options and service/snapshot actions from the words below, and the
 * installed versions (for use, uninstall, verify, which) by running `oc-versions list` at
 * completion time, so it never reads the home itself.
 */
import { OcError } from '../errors.js';
import type { CommandContext } from '../app/context.js';
import { RUNTIME_ACTIONS, SERVICE_ACTIONS, SNAPSHOT_ACTIONS } from '../usage.js';

const COMMANDS = ['install', 'use', 'rollback', 'list', 'ls', 'current', 'which', 'uninstall', 'prune', 'verify', 'upgrade', 'recover', 'status', 'history', 'doctor', 'pin', 'unpin', 'service', 'snapshot', 'runtime', 'state', 'uninstall-all', 'completion'];
const GLOBAL_OPTIONS = ['--home', '--registry', '--package', '--json', '--quiet', '--progress', '--no-color', '--verbose', '--help', '--version'];
const OPTIONS: Record<string, readonly string[]> = {
  install: ['--use', '--ignore-scripts', '--node'],
  use: ['--no-restart', '--restore-state'],
  rollback: ['--no-restart', '--restore-state'],
  list: ['--remote'],
  ls: ['--remote'],
  which: ['--service'],
  uninstall: ['--force'],
  prune: ['--keep', '--dry-run', '--force'],
  verify: ['--canary'],
  upgrade: ['--no-restart', '--dry-run', '--detach', '--ignore-scripts', '--no-canary', '--force'],
  recover: ['--auto'],
  history: ['--limit'],
  doctor: ['--fix'],
  service: ['--manager', '--label', '--plist', '--unit', '--node', '--env', '--env-file', '--drain-ms', '--secret-store', '--no-keep-alive'],
  'uninstall-all': ['--yes', '--secret-store'],
  snapshot: ['--reason', '--manager', '--label', '--state-dir', '--secret-store'],
  runtime: ['--from', '--dry-run'],
  state: ['--force'],
};
const ACTIONS: Record<string, readonly string[]> = {
  service: Object.keys(SERVICE_ACTIONS),
  snapshot: Object.keys(SNAPSHOT_ACTIONS),
  runtime: Object.keys(RUNTIME_ACTIONS),
  state: ['aside'],
  completion: ['bash', 'zsh', 'fish'],
};
/** Commands whose first argument is an installed version. */
const VERSION_COMMANDS = ['use', 'uninstall', 'verify', 'which'];
export const SHELLS = ['bash', 'zsh', 'fish'] as const;

/** The installed versions, one a line, from `oc-versions list` (human output: marker, version, note). */
const LIST_VERSIONS = `oc-versions list 2>/dev/null | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+[.]/) { print $i; break }}'`;

function caseArms(map: Record<string, readonly string[]>, indent: string): string {
  return Object.entries(map)
    .map(([k, v]) => `${indent}${k}) opts="${v.join(' ')}" ;;`)
    .join('\n');
}

export function bashScript(): string {
  return `# oc-versions bash completion: eval "$(oc-versions completion bash)"
_oc_versions() {
  local cur cmd i opts="" words=""
  cur="\${COMP_WORDS[COMP_CWORD]}"
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      --home|--registry|--package|--keep|--limit|--manager|--label|--plist|--unit|--node|--env|--env-file|--drain-ms|--secret-store|--reason|--state-dir|--from) ((i++)) ;;
      -*) ;;
      *) if [ -z "$cmd" ]; then cmd="\${COMP_WORDS[i]}"; fi ;;
    esac
  done
  if [ -z "$cmd" ]; then
    if [[ "$cur" == -* ]]; then words="${GLOBAL_OPTIONS.join(' ')}"; else words="${COMMANDS.join(' ')}"; fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    return 0
  fi
  case "$cmd" in
${caseArms(OPTIONS, '    ')}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts ${GLOBAL_OPTIONS.join(' ')}" -- "$cur"))
    return 0
  fi
  local prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$cmd" in
${Object.entries(ACTIONS)
  .map(([k, v]) => `    ${k}) [ "$prev" = "${k}" ] && words="${v.join(' ')}" ;;`)
  .join('\n')}
    ${VERSION_COMMANDS.join('|')}) [ "$prev" = "$cmd" ] && words="$(${LIST_VERSIONS})" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  return 0
}
complete -F _oc_versions oc-versions
`;
}

export function zshScript(): string {
  // zsh runs bash completion functions through bashcompinit.
  return `# oc-versions zsh completion: eval "$(oc-versions completion zsh)"
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashScript()}`;
}

export function fishScript(): string {
  const lines = [
    '# oc-versions fish completion: oc-versions completion fish | source',
    'complete -c oc-versions -f',
    `complete -c oc-versions -n __fish_use_subcommand -a "${COMMANDS.join(' ')}"`,
    ...GLOBAL_OPTIONS.map((o) => `complete -c oc-versions -l ${o.slice(2)}`),
    ...Object.entries(OPTIONS).flatMap(([cmd, opts]) => opts.map((o) => `complete -c oc-versions -n "__fish_seen_subcommand_from ${cmd}" -l ${o.slice(2)}`)),
    ...Object.entries(ACTIONS).map(([cmd, acts]) => `complete -c oc-versions -n "__fish_seen_subcommand_from ${cmd}" -a "${acts.join(' ')}"`),
    `complete -c oc-versions -n "__fish_seen_subcommand_from ${VERSION_COMMANDS.join(' ')}" -a "(${LIST_VERSIONS})"`,
  ];
  return lines.join('\n') + '\n';
}

export async function run(ctx: CommandContext, shell: string): Promise<number> {
  const scripts: Record<(typeof SHELLS)[number], () => string> = { bash: bashScript, zsh: zshScript, fish: fishScript };
  if (!(SHELLS as readonly string[]).includes(shell)) {
    throw new OcError('USAGE', `no completion for shell '${shell}'`, { hint: `oc-versions completion ${SHELLS.join('|')}` });
  }
  const script = scripts[shell as (typeof SHELLS)[number]]();
  ctx.out.result(script, { shell, script });
  return 0;
}
