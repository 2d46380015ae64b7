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
import { reportError } from './report.js';
import type { CommandContext, ContextOptions, GlobalOptions } from './app/context.js';

type Opts = GlobalOptions & Record<string, unknown>;

/** The running command's output: its live display is stopped before an error is reported. */
let activeOut: CommandContext['out'] | undefined;

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
    .action(async (spec: string | undefined, o: Opts) =>
      (await import('./commands/install.js')).run(await ctxOf(o, LIVE), spec, { use: Boolean(o.use), ignoreScripts: Boolean(o.ignoreScripts) }),
    );
  cli
    .command('use <version>', 'switch current to an installed version or range (atomic)')
    .option('--no-restart', 'flip current only; do not restart a running service')
    .action(async (v: string, o: Opts) => (await import('./commands/use.js')).run(await ctxOf(o, LIVE), v, { noRestart: o.restart === false }));
  cli
    .command('rollback', 'switch back to the previous version')
    .option('--no-restart', 'flip current only; do not restart a running service')
    .action(async (o: Opts) => (await import('./commands/use.js')).rollback(await ctxOf(o, LIVE), { noRestart: o.restart === false }));
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
      const { run } = await import('./commands/snapshot.js');
      const code = await run(await ctxOf(o), action, id ? [id] : [], {
        ...serviceOpts(o),
        ...(typeof o['reason'] === 'string' ? { reason: o['reason'] } : {}),
        ...(typeof o['stateDir'] === 'string' ? { stateDir: o['stateDir'] } : {}),
      });
      return typeof code === 'number' ? code : 0;
    });
  cli
    .command('doctor', 'check the home, shims, versions, service, secret store, disk and registry (never waits for the lock)')
    .option('--fix', 'apply the safe fixes (takes the lock) and say what changed')
    .action(async (o: Opts) => (await import('./commands/doctor.js')).run(await ctxOf(o), { fix: Boolean(o.fix) }));
  cli
    .command('completion <shell>', 'print a completion script: bash, zsh or fish (eval "$(oc-versions completion bash)")')
    .action(async (shell: string, o: Opts) => (await import('./commands/completion.js')).run(await ctxOf(o), shell));
  // cac gives every `--no-x` flag "(default: true)": true of the hidden `x`, misleading on `--no-x`.
  cli.help((sections) => sections.map((sec) => ({ ...sec, body: sec.body.replace(/^(\s*--no-[^\n]*?)\s*\(default: true\)/gm, '$1') })));
  cli.version(packageVersion());
  return cli;
}

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

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const verbose = argv.includes('--verbose');
  try {
    // cac drops a lone `-` (it would install latest): refuse it like any bad spec.
    const args = argv.indexOf('--') === -1 ? argv : argv.slice(0, argv.indexOf('--'));
    if (args.includes('-')) {
      throw new OcError('INVALID_SPEC', "invalid version spec '-': a lone dash is not a version", {
        hint: 'give an exact version (2026.9.6), a semver range (^2026.9) or a dist-tag (latest)',
      });
    }
    const cli = buildCli();
    // `--version --json`: one document instead of cac's `oc-versions/<v> <platform> node-<v>` line.
    if (json) cli.showVersionOnExit = false;
    cli.parse(['node', 'oc-versions', ...joinNegativeValues(argv)], { run: false });
    if (json && cli.options['version'] && !cli.matchedCommandName && !cli.options['help']) {
      process.stdout.write(JSON.stringify(jsonDocument({ name: 'oc-versions', version: packageVersion(), node: process.versions.node }), null, 2) + '\n');
      return EXIT.OK;
    }
    if (cli.options['help'] || cli.options['version']) return EXIT.OK;
    if (!cli.matchedCommand) {
      const name = cli.args[0];
      throw new OcError('USAGE', name ? `unknown command '${name}'` : 'no command given', { hint: 'oc-versions --help lists commands' });
    }
    const code = (await cli.runMatchedCommand()) as unknown;
    return typeof code === 'number' ? code : EXIT.OK;
  } catch (e) {
    // The live display ends first (its phase marked cut short): the error's lines come after it.
    activeOut?.done(false);
    return reportError(e, { json, verbose });
  } finally {
    activeOut?.done(true);
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
