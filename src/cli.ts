#!/usr/bin/env node
/**
 * Command-line surface (documented in docs/cli.md). Actions only normalise
 * options and lazy-import the command module, so `list`/`current`/`which`
 * never load pacote or arborist.
 */
import fs from 'node:fs';
import { cac } from 'cac';
import { EXIT, OcError } from './errors.js';
import { jsonDocument } from './output.js';
import { reportError, reportInterrupt } from './report.js';
import { leftBehind } from './app/interrupted.js';
import { RUNTIME_ACTIONS, SERVICE_ACTIONS, SNAPSHOT_ACTIONS, STATE_ASIDE_ACTIONS, actionsHelp, unknownWord } from './usage.js';
import type { CommandContext, ContextOptions, GlobalOptions } from './app/context.js';

type Opts = GlobalOptions & Record<string, unknown>;

/** The running command's output: its live display is stopped before an error is reported. */
let activeOut: CommandContext['out'] | undefined;
/** Its home's layout, once the context exists: what a signal left behind is looked for there. */
let activeLayout: CommandContext['layout'] | undefined;

async function ctxOf(o: Opts, ctxOpts: ContextOptions = {}) {
  const { createContext } = await import('./app/context.js');
  const ctx = await createContext(
    {
      ...(typeof o.home === 'string' ? { home: o.home } : {}),
      ...(typeof o.registry === 'string' ? { registry: o.registry } : {}),
      ...(typeof o.package === 'string' ? { package: o.package } : {}),
      json: Boolean(o.json),
      quiet: Boolean(o.quiet),
      progress: Boolean(o.progress),
      ...(o.color === false ? { color: false } : {}),
    },
    process.env,
    ctxOpts,
  );
  activeOut = ctx.out;
  activeLayout = ctx.layout;
  return ctx;
}
/** Verbs that walk phases draw a live display on a terminal. */
const LIVE: ContextOptions = { live: true };

function serviceOpts(o: Opts) {
  const pick = (k: string) => (typeof o[k] === 'string' || typeof o[k] === 'number' ? String(o[k]) : undefined);
  const out: Record<string, string> = {};
  for (const [k, name] of [['manager', 'manager'], ['label', 'label'], ['plist', 'plist'], ['unit', 'unit'], ['drainMs', 'drainMs'], ['secretStore', 'secretStore'], ['node', 'node']] as const) {
    const v = pick(k);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** The version in our own package.json (dist/cli.js → ../package.json), so a release needs one edit. */
function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function buildCli() {
  const cli = cac('oc-versions');
  cli
    .option('--home <dir>', 'oc-versions home (default $OC_VERSIONS_HOME or ~/.oc-versions)')
    .option('--registry <url>', 'npm registry (default: your npm configuration)')
    .option('--package <name>', 'managed package (default openclaw)')
    .option('--json', 'print one JSON document on stdout')
    .option('--quiet', 'no progress on stderr')
    .option('--progress', 'with --json: progress on stderr all the same')
    .option('--no-color', 'no colour in the progress display (as does NO_COLOR)')
    .option('--verbose', 'on failure, also print the cause chain (credentials redacted)');

  cli
    .command('install [spec]', 'install a version (exact, range or dist-tag; default latest) side by side')
    .option('--use', 'switch to it afterwards')
    .option('--ignore-scripts', "do not run the package's lifecycle scripts")
    .option('--node <path|version>', 'the node this version runs on: a path, or an exact version (a managed runtime); default: a stable node that satisfies its engines.node, else a managed runtime')
    .action(async (spec: string | undefined, o: Opts) =>
      (await import('./commands/install.js')).run(await ctxOf(o, LIVE), spec, {
        use: Boolean(o.use),
        ignoreScripts: Boolean(o.ignoreScripts),
        ...(typeof o['node'] === 'string' ? { node: o['node'] } : {}),
      }),
    );
  cli
    .command('use <version>', 'switch current to an installed version or range (atomic)')
    .option('--no-restart', 'flip current only; do not restart a running service')
    .option('--restore-state', 'going back across a schema bump: set aside (never delete) data written since the upgrade without asking')
    .action(async (v: string, o: Opts) =>
      (await import('./commands/use.js')).run(await ctxOf(o, LIVE), v, { noRestart: o.restart === false, restoreState: Boolean(o.restoreState) }),
    );
  cli
    .command('rollback', 'switch back to the previous version')
    .option('--no-restart', 'flip current only; do not restart a running service')
    .option('--restore-state', 'across a schema bump: set aside (never delete) data written since the upgrade without asking')
    .action(async (o: Opts) => (await import('./commands/use.js')).rollback(await ctxOf(o, LIVE), { noRestart: o.restart === false, restoreState: Boolean(o.restoreState) }));
  cli
    .command('list', 'installed versions, newest first')
    .alias('ls')
    .option('--remote', 'list what the registry offers, with dist-tags')
    .action(async (o: Opts) => (await import('./commands/list.js')).run(await ctxOf(o), { remote: Boolean(o.remote) }));
  cli.command('current', 'the current version').action(async (o: Opts) => (await import('./commands/current.js')).current(await ctxOf(o)));
  cli
    .command('which [version]', 'the absolute entry file the shim would run')
    .option('--service', 'the service entry instead of the CLI bin')
    .action(async (v: string | undefined, o: Opts) => (await import('./commands/current.js')).which(await ctxOf(o), v, { service: Boolean(o.service) }));
  cli
    .command('uninstall <version>', 'remove an installed version (not the current one)')
    .option('--force', 'also remove the previous version / ignore links into it')
    .action(async (v: string, o: Opts) => (await import('./commands/remove.js')).uninstall(await ctxOf(o), v, { force: Boolean(o.force) }));
  cli
    .command('prune', 'remove old versions; keeps current, previous and the N newest')
    .option('--keep <n>', 'how many newest versions to keep', { default: 3 })
    .option('--dry-run', 'only print what would be removed')
    .option('--force', 'remove even versions still linked from the OpenClaw state dir')
    .action(async (o: Opts) =>
      (await import('./commands/remove.js')).prune(await ctxOf(o), { keep: o.keep as string | number, dryRun: Boolean(o.dryRun), force: Boolean(o.force) }),
    );
  cli
    .command('verify [version]', 'validate an installed version (default: current) as before sealing')
    .option('--canary', 'instead: start it as a canary on a copy of the live state (a rehearsal of the upgrade; no restart)')
    .action(async (v: string | undefined, o: Opts) => (await import('./commands/verify.js')).run(await ctxOf(o, LIVE), v, { canary: Boolean(o.canary) }));
  cli
    .command('upgrade [spec]', 'supervised upgrade: stage, validate, flip, restart, health-gate, roll back on failure')
    .option('--no-restart', 'flip current only; the running gateway keeps its version until restarted')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--detach', 'continue outside the caller\'s process tree (e.g. when started from the gateway)')
    .option('--ignore-scripts', "do not run the package's lifecycle scripts")
    .option('--no-canary', 'skip the canary on a copy of the live state (the new version then first meets it after the stop)')
    .option('--force', 'an exact version outside the pin (oc-versions pin)')
    .action(async (spec: string | undefined, o: Opts) =>
      (await import('./commands/upgrade.js')).run(await ctxOf(o, LIVE), spec, {
        force: Boolean(o.force),
        noCanary: o.canary === false,
        noRestart: o.restart === false,
        dryRun: Boolean(o.dryRun),
        detach: Boolean(o.detach),
        ignoreScripts: Boolean(o.ignoreScripts),
      }),
    );
  cli
    .command('pin <spec>', 'hold upgrades inside a version or range (e.g. 2026.3); upgrade says so, --force leaves it once')
    .action(async (spec: string, o: Opts) => (await import('./commands/pin.js')).pin(await ctxOf(o), spec));
  cli.command('unpin', 'remove the pin').action(async (o: Opts) => (await import('./commands/pin.js')).unpin(await ctxOf(o)));
  cli
    .command('recover', 'finish or undo an interrupted upgrade')
    .option('--auto', 'unattended (the launchd recovery agent): report a degraded transaction instead of retrying it')
    .action(async (o: Opts) => (await import('./commands/recover.js')).recover(await ctxOf(o, LIVE), { auto: Boolean(o.auto) }));
  cli
    .command('history', 'every upgrade, use, rollback, recovery and watch rollback, newest first (never waits for the lock)')
    .option('--limit <n>', 'how many transitions', { default: 20 })
    .action(async (o: Opts) => (await import('./commands/history.js')).run(await ctxOf(o), { limit: o.limit as string | number }));
  cli.command('status', 'current version, in-flight transaction, service and last outcome (never waits for the lock)').action(async (o: Opts) => (await import('./commands/recover.js')).status(await ctxOf(o)));
  cli
    .command('service <action> [...args]', 'install|adopt|restore|uninstall|start|stop|restart|status the gateway service (gateway args after --)')
    .option('--manager <kind>', 'launchd, systemd or process (default: from the platform)')
    .option('--label <label>', 'launchd label / systemd unit (default ai.openclaw.gateway / openclaw-gateway.service)')
    .option('--plist <path>', 'adopt: the LaunchAgent plist to take over')
    .option('--unit <path>', 'adopt: the systemd unit to take over')
    .option('--node <path>', 'install: the node the service runs (default: this one, copied into the home when it lies in a node_modules or a checkout); adopt: the node the launcher runs (default: the node the definition ran)')
    .option('--env <KEY>', 'install: pass KEY from this environment to the gateway, kept in the secret store (repeatable)')
    .option('--env-file <path>', 'install (process backend): an env file the gateway reads at each start, never copied (repeatable)')
    .option('--drain-ms <ms>', 'how long a stop may drain before SIGKILL')
    .option('--no-keep-alive', 'install (process backend): do not restart the gateway after an unexpected exit (keep-alive is on by default)')
    .option('--secret-store <kind>', 'keychain, secret-service or none (default: what the platform has)')
    .action(async (action: string, args: string[], o: Opts) => {
      if (!Object.hasOwn(SERVICE_ACTIONS, action)) throw unknownWord('service action', action, Object.keys(SERVICE_ACTIONS), 'oc-versions service --help lists its actions');
      const extra = Array.isArray(o['--']) ? (o['--'] as string[]) : [];
      const { run } = await import('./commands/service.js');
      const lists = Object.fromEntries(
        (['env', 'envFile'] as const).filter((k) => o[k] !== undefined).map((k) => [k, (Array.isArray(o[k]) ? (o[k] as unknown[]) : [o[k]]).map(String)]),
      );
      const code = await run(await ctxOf(o), action, [...args, ...extra], { ...serviceOpts(o), ...lists, ...(o['keepAlive'] === false ? { keepAlive: false } : {}) });
      return typeof code === 'number' ? code : 0;
    });
  cli
    .command('uninstall-all', 'hand an adopted service back (service restore) and remove the recovery agent, secret-store entries, snapshots and the home')
    .option('--yes', 'do it (without: print what would be removed, change nothing)')
    .option('--secret-store <kind>', 'keychain, secret-service or none (default: what the platform has)')
    .action(async (o: Opts) => {
      const { run } = await import('./commands/service.js');
      const code = await run(await ctxOf(o), 'uninstall-all', [], { yes: Boolean(o.yes), ...serviceOpts(o) });
      return typeof code === 'number' ? code : 0;
    });
  cli
    .command('snapshot <action> [id]', 'create|list|show pre-upgrade snapshots (no secret values)')
    .option('--reason <text>', 'create: why')
    .option('--manager <kind>', 'the service whose definition is snapshotted (default: the configured one)')
    .option('--label <label>', 'launchd label / systemd unit (default: the configured one)')
    .option('--state-dir <dir>', 'OpenClaw state dir (default: from the service env, else ~/.openclaw)')
    .option('--secret-store <kind>', 'keychain, secret-service or none')
    .action(async (action: string, id: string | undefined, o: Opts) => {
      if (!Object.hasOwn(SNAPSHOT_ACTIONS, action)) throw unknownWord('snapshot action', action, Object.keys(SNAPSHOT_ACTIONS), 'oc-versions snapshot --help lists its actions');
      const { run } = await import('./commands/snapshot.js');
      const code = await run(await ctxOf(o), action, id ? [id] : [], {
        ...serviceOpts(o),
        ...(typeof o['reason'] === 'string' ? { reason: o['reason'] } : {}),
        ...(typeof o['stateDir'] === 'string' ? { stateDir: o['stateDir'] } : {}),
      });
      return typeof code === 'number' ? code : 0;
    });
  cli
    .command('runtime <action> [version]', 'list|install|prune the managed node runtimes (runtimes/ in the home)')
    .option('--from <source>', 'install: mirror (the Node.js distribution layout), npm (the registry\'s node-<os>-<arch>) or auto (default: config, else the mirror and the registry when it cannot be reached)')
    .option('--dry-run', 'prune: only print what would be removed')
    .action(async (action: string, version: string | undefined, o: Opts) => {
      if (!Object.hasOwn(RUNTIME_ACTIONS, action)) throw unknownWord('runtime action', action, Object.keys(RUNTIME_ACTIONS), 'oc-versions runtime --help lists its actions');
      return (await import('./commands/runtime.js')).run(await ctxOf(o, LIVE), action, version, {
        ...(typeof o['from'] === 'string' ? { from: o['from'] } : {}),
        dryRun: Boolean(o.dryRun),
      });
    });
  cli
    .command('state <group> [action] [file]', 'state databases set aside by a restore: state aside list | state aside restore <file>')
    .option('--force', 'restore: even a database whose schema is newer than the live one')
    .action(async (group: string, action: string | undefined, file: string | undefined, o: Opts) =>
      (await import('./commands/state.js')).run(await ctxOf(o), group, action, file, { force: Boolean(o.force) }),
    );
  cli
    .command('doctor', 'check the home, shims, versions, service, secret store, disk and registry (never waits for the lock)')
    .option('--fix', 'apply the safe fixes (takes the lock) and say what changed')
    .action(async (o: Opts) => (await import('./commands/doctor.js')).run(await ctxOf(o), { fix: Boolean(o.fix) }));
  cli
    .command('completion <shell>', 'print a completion script: bash, zsh or fish (eval "$(oc-versions completion bash)")')
    .action(async (shell: string, o: Opts) => (await import('./commands/completion.js')).run(await ctxOf(o), shell));
  for (const c of cli.commands) for (const e of EXAMPLES[c.name] ?? []) c.example(`  $ oc-versions ${e}`);
  cli.help((sections) => {
    // cac gives every `--no-x` flag "(default: true)": true of the hidden `x`, misleading on `--no-x`.
    const out = sections.map((sec) => ({ ...sec, body: sec.body.replace(/^(\s*--no-[^\n]*?)\s*\(default: true\)/gm, '$1') }));
    // A command's own --help: cac prints no description; after the usage line, it and the actions.
    const cmd = cli.matchedCommand;
    if (!cmd) return out;
    const actions = cmd.name === 'service' ? SERVICE_ACTIONS : cmd.name === 'snapshot' ? SNAPSHOT_ACTIONS : cmd.name === 'runtime' ? RUNTIME_ACTIONS : cmd.name === 'state' ? prefixed('aside ', STATE_ASIDE_ACTIONS) : null;
    return [...out.slice(0, 2), { body: cmd.description }, ...(actions ? [{ title: 'Actions', body: actionsHelp(actions) }] : []), ...out.slice(2)];
  });
  cli.version(packageVersion());
  return cli;
}

/** The actions of a command group (`state aside …`) as its help lists them. */
function prefixed(prefix: string, actions: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(actions).map(([a, line]) => [`${prefix}${a}`, line]));
}

/** Each command's examples in its --help (test/unit/help-docs.test.ts: every command has one). */
const EXAMPLES: Record<string, string[]> = {
  install: ['install', 'install 2026.9.6', "install '^2026.9' --use"],
  use: ['use 2026.9.5', 'use 2026.9 --no-restart'],
  rollback: ['rollback', 'rollback --restore-state'],
  list: ['list', 'list --remote --json'],
  current: ['current'],
  which: ['which', 'which 2026.9.5 --service'],
  uninstall: ['uninstall 2026.9.4'],
  prune: ['prune --dry-run', 'prune --keep 2'],
  verify: ['verify', 'verify 2026.9.6 --canary'],
  upgrade: ['upgrade', 'upgrade 2026.9.6 --dry-run', 'upgrade --detach'],
  pin: ['pin 2026.9', 'pin 2026.9.6'],
  unpin: ['unpin'],
  recover: ['recover'],
  history: ['history --limit 5'],
  status: ['status', 'status --json'],
  service: ['service install -- gateway run --port 18789', 'service adopt --plist ~/Library/LaunchAgents/ai.openclaw.gateway.plist', 'service status'],
  'uninstall-all': ['uninstall-all', 'uninstall-all --yes'],
  snapshot: ['snapshot create --reason "before the migration"', 'snapshot list', 'snapshot show <id>'],
  runtime: ['runtime list', 'runtime install 24.21.0', 'runtime install 24 --from npm', 'runtime prune --dry-run'],
  state: ['state aside list', 'state aside restore ~/.openclaw/state/openclaw.sqlite.oc-set-aside-<txid>'],
  doctor: ['doctor', 'doctor --fix'],
  completion: ['completion bash >> ~/.bashrc'],
};

/** Options that take a value: a negative number after them is their value, not a flag (`--keep -1`). */
const VALUE_OPTIONS = new Set(['--keep', '--drain-ms', '--limit']);
export function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (VALUE_OPTIONS.has(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** cac's "Unknown option `--dryRn`" as our one line, with "did you mean" among the command's and the global options. */
function withSuggestion(e: unknown, cli: ReturnType<typeof buildCli>, argv: readonly string[]): unknown {
  const m = (e as { name?: string })?.name === 'CACError' ? /^Unknown option `(-{1,2})([^`]+)`$/.exec((e as Error).message) : null;
  if (!m) return e;
  // cac names the option camelCased (`--dry-rn` → `dryRn`) and without a `no-`: back to what was typed.
  const kebab = `${m[1]}${m[2]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const negated = `--no-${kebab.slice(2)}`;
  const typed = argv.some((a) => a === negated || a.startsWith(`${negated}=`)) ? negated : kebab;
  const cmd = cli.matchedCommand;
  const options = [...(cmd?.options ?? []), ...cli.globalCommand.options].flatMap((o) => o.rawName.match(/--[a-z][a-z-]*/g) ?? []);
  const where = cmd ? `oc-versions ${cmd.name} --help` : 'oc-versions --help';
  return unknownWord('option', typed, [...new Set(options)], `${where} lists its options`);
}

/**
 * The one interrupt path (docs/cli.md#interrupts): SIGINT or SIGTERM, at any phase, terminal or
 * not, ends the command at once — as a SIGKILL would, which every phase already survives — with one
 * line saying what was left and that the next command cleans it, exit 130 (SIGTERM 143). Our own
 * listener also keeps signal-exit's handlers (arborist's reify, proper-lockfile) from swallowing the
 * signal; they still run on the way out (proper-lockfile removes the lock directory).
 */
function onInterrupt(signal: 'SIGINT' | 'SIGTERM', command: () => string | null, json: boolean): void {
  let code: number;
  try {
    const phase = activeOut?.interrupted() ?? null;
    const { left, transaction } = activeLayout ? leftBehind(activeLayout) : { left: [], transaction: false };
    code = reportInterrupt({ signal, command: command(), phase, left, transaction }, { json });
  } catch {
    code = signal === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED;
  }
  process.exit(code);
}

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const verbose = argv.includes('--verbose');
  let command: string | null = null;
  let cli: ReturnType<typeof buildCli> | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => onInterrupt(signal, () => command, json));
  try {
    // cac drops a lone `-` (it would install latest): refuse it like any bad spec.
    const args = argv.indexOf('--') === -1 ? argv : argv.slice(0, argv.indexOf('--'));
    if (args.includes('-')) {
      throw new OcError('INVALID_SPEC', "invalid version spec '-': a lone dash is not a version", {
        hint: 'give an exact version (2026.9.6), a semver range (^2026.9) or a dist-tag (latest)',
      });
    }
    cli = buildCli();
    // `--version --json`: one document instead of cac's `oc-versions/<v> <platform> node-<v>` line.
    if (json) cli.showVersionOnExit = false;
    cli.parse(['node', 'oc-versions', ...joinNegativeValues(argv)], { run: false });
    if (json && cli.options['version'] && !cli.matchedCommandName && !cli.options['help']) {
      process.stdout.write(JSON.stringify(jsonDocument({ name: 'oc-versions', version: packageVersion(), node: process.versions.node }), null, 2) + '\n');
      return EXIT.OK;
    }
    if (cli.options['help'] || cli.options['version']) return EXIT.OK;
    command = cli.matchedCommandName ?? null;
    if (!cli.matchedCommand) {
      const name = cli.args[0];
      if (!name) throw new OcError('USAGE', 'no command given', { hint: 'oc-versions --help lists commands' });
      throw unknownWord('command', name, cli.commands.flatMap((c) => [c.name, ...c.aliasNames]), 'oc-versions --help lists commands');
    }
    const code = (await cli.runMatchedCommand()) as unknown;
    return typeof code === 'number' ? code : EXIT.OK;
  } catch (e) {
    // The live display ends first (its phase marked cut short): the error's lines come after it.
    activeOut?.done(false);
    return reportError(cli ? withSuggestion(e, cli, argv) : e, { json, verbose });
  } finally {
    activeOut?.done(true);
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
