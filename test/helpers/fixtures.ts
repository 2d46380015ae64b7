/**
 * Fixture packages that mimic the published `openclaw` package, built from the templates in
 * test/fixtures/gateway/ and published to the test registry (test/helpers/registry.ts).
 *
 * ## Inventory format (as in the real OpenClaw package)
 * Found in openclaw/openclaw `src/infra/package-dist-inventory.ts` (and its compiled
 * `dist/package-dist-inventory-*.mjs`), `scripts/check-openclaw-package-tarball.mts`, and the tests
 * around them (search corpus "code", string "postinstall-content-inventory"):
 *
 * - `dist/postinstall-inventory.json`: a JSON **array of strings**: the package-relative paths
 *   (forward slashes, all starting with `dist/`) of every packaged regular file under `dist/`
 *   except the inventory itself (so it *does* list `dist/postinstall-content-inventory.json`),
 *   sorted (`localeCompare`) and unique, written as `JSON.stringify(list, null, 2) + "\n"`.
 *   OpenClaw's postinstall prunes every dist file not listed here (the fixture's postinstall does too).
 * - `dist/postinstall-content-inventory.json`: a JSON **array of objects**
 *   `{ "path": "dist/…", "sha256": "<64 lowercase hex>", "mode": <st_mode & 0o777, e.g. 420>,
 *   "size": <bytes> }`, one per packaged dist file except the two inventory files, sorted by path.
 *   OpenClaw's parser rejects: a non-array; a path not starting with `dist/`, containing `\`, NUL,
 *   an empty / `.` / `..` segment, or naming either inventory file; a sha256 that is not 64 lowercase
 *   hex; a size that is not a safe integer ≥ 0; a mode outside 0..0o777; duplicate paths. Its
 *   comparison checks path, sha256, size and only the *executable bit* of mode (`mode & 0o111`),
 *   because npm normalizes modes on pack/install. Legacy packages may lack the content inventory;
 *   if the path inventory lists it, it must exist.
 *
 * The fixtures write exactly this. The inventories always describe the files that are really in
 * the tarball, so the `missing-*` variants have *consistent* inventories (the missing chunk is
 * simply not there, as in the real bugs #80355 / #94570): only the import-graph walk catches them.
 *
 * ## Layout of a built fixture (`<dir>/package/`)
 * ```
 * package.json                 name, version, type: module, bin {openclaw: openclaw.mjs}, main dist/index.js,
 *                              engines.node ">=20" (engines-99: ">=99"), files, scripts.postinstall
 * openclaw.mjs                 #!/usr/bin/env node, 0755; `import { main } from './dist/index.js'`
 * .openclaw-lifecycle-pending  lifecycle marker, published; the postinstall deletes it
 * scripts/postinstall.mjs      prunes dist against the inventory, deletes the marker
 * dist/index.js                imports ./cli-<h>.js and ./chunk-<h>.js (the "entry chunk"); runs the CLI
 *                              when it is process.argv[1] (service entry)
 * dist/cli-<h>.js              the CLI; static import of a chunk; `import('./server-<h>.js')` (literal)
 *                              for `gateway run`
 * dist/server-<h>.js           HTTP server; `import('./lazy-<h>.js')` (literal) on GET /lazy only
 * dist/lazy-<h>.js             imports lazy-only chunks; exports lazyValue, lazyVersion (= package version)
 * dist/chunk-<h>.js × chunkCount  ~60% reached statically from index/cli/server, the rest only via lazy
 * dist/fixture-variant.json    {variant, startDelayMs, reportedVersion}: the variant is baked in here
 * dist/build-info.json         {version, builtAt, fixture: true}
 * dist/extensions/demo/openclaw.plugin.json, dist/extensions/demo/skills/demo/SKILL.md
 * dist/fixture-pad.bin         only with padBytes (deterministic incompressible bytes)
 * dist/postinstall-inventory.json, dist/postinstall-content-inventory.json
 * ```
 * `<h>` = first 8 hex chars of the sha256 of the file's final content (dependencies are hashed
 * first, so names are real content hashes). Chunks with an odd index embed the version; the others
 * are byte-identical across versions (like real releases, which share part of their files).
 *
 * ## CLI (argv after `node openclaw.mjs` or `node dist/index.js`)
 * - `--version` / `-V`: prints the version, exit 0 (version-exits-1: exit 1).
 * - If `.openclaw-lifecycle-pending` is present, every other command fails with exit 1 and
 *   "Reinstall with package scripts enabled" (like the real launcher).
 * - `gateway` / `gateway run [--port N] [--bind …] [...]`: HTTP on 127.0.0.1 only; port = `--port`
 *   → `$OPENCLAW_GATEWAY_PORT` → 18789. At start it links
 *   `<OPENCLAW_STATE_DIR or $HOME/.openclaw>/plugin-skills/demo` → `<pkgRoot>/dist/extensions/demo/skills/demo`
 *   (temp link + rename). pkgRoot is the *real* package path. Listen failure: exit 1.
 *   Endpoints: `/healthz` `/health` → 200 {ok:true,status:"live"}; `/startupz` `/startup` → 200
 *   {ok:true,status:"started",version,uptimeMs} (503 {ok:false,status:"draining"} while draining);
 *   `/readyz` `/ready` → 200 {ready:true,failing:[],uptimeMs}; `/lazy` → dynamic import of
 *   lazy-<h>.js (not loaded at startup) → 200 {ok:true,value,version} or 500 {ok:false,error,code};
 *   `/lazy?fresh=1` re-imports it under a new URL each call (re-reads the file from disk);
 *   `/env?keys=A,B` → {keys:[sorted env names], values:{A:…|null,B:…|null}};
 *   `/info` → {pid, ppid, name, version, variant, argv1, realArgv1, argv, execPath, nodeVersion, cwd, pkgRoot, uptimeMs};
 *   `/crash?code=N` → answers, then exits with N (default 1). Anything else → 404.
 *   Before listening it logs (stdout, `openclaw fixture: …`; names and hashes, never secret values):
 *   the state dir; `env flags OPENCLAW_SKIP_CHANNELS=… OPENCLAW_SKIP_CRON=… OPENCLAW_NO_AUTO_UPDATE=…
 *   OPENCLAW_DISABLE_BONJOUR=… OPENCLAW_SUPERVISOR_MODE=…`; `compile cache <NODE_COMPILE_CACHE>`; the
 *   names of secret-looking env keys; the config (`$OPENCLAW_CONFIG_PATH` or `<state>/openclaw.json`,
 *   JSON; invalid → exit 78) with `${VAR}` references resolved from the environment as OpenClaw does
 *   (count resolved, names unresolved) and `gateway.auth.token sha256:<12 hex>`; and
 *   `plugin host link <project> -> openclaw@<version>` for each `<state>/npm/projects/<p>/node_modules/openclaw`.
 *   SIGTERM/SIGINT: stop accepting, exit 0 after `$FIXTURE_DRAIN_MS` (default 100) ms.
 *   `$FIXTURE_STATE_WRITES=<sqlite file>`: writes a row (pid, at ms) into `fixture_writes` every
 *   100 ms from its start until it exits, draining included (a gateway writing its state).
 * - `gateway status --json [--require-rpc] [--port N|--url ws://127.0.0.1:N] [--timeout ms]` →
 *   {gateway:{version}, rpc:{ok:true,server:{version}} | {ok:false,error}, port:{port}}; exit 1 only
 *   with --require-rpc when /startupz is unreachable or not 200. `gateway probe|health` and `health`
 *   / `status` → {ok,version}; exit 1 when unreachable.
 * - `config validate --json` → {valid:true} exit 0 (deep-check-fails: {valid:false,issues:[…]} exit 1);
 *   `channels status --probe --json` → {channels:[]}; `cron status` (alias automations) →
 *   {enabled:false,jobs:0}; `models status --json` → {models:[]}; `database preflight <file> --json`
 *   (and `database preflight-agent <file> --agent-id <id> --json`) → exit 0
 *   {schema:"openclaw.state-schema-preflight.v1",result:"exact"}; exit 1 with result "indeterminate"
 *   when a -wal/-shm/-journal sidecar sits beside the file, exit 1 {ok:false} if it is missing;
 *   `doctor [--lint --json --severity-min error]` → {ok:true,findings:[]};
 *   `gateway install|start|stop|restart|uninstall` → exit 1, except `gateway restart [--port N]`
 *   with OPENCLAW_SUPERVISOR_MODE=external: SIGUSR2 to the gateway answering /info there, then exit 0
 *   {ok:true,action:"restart",mode:"external",pid} once that pid is gone. Unknown command → exit 2.
 * - The restart handoff as 2026.9.6 (docs/service.md#the-restart-handoff): `gateway restart-handoff
 *   capabilities --json` → {ok:true,protocol:"openclaw.gateway.restart-handoff",protocolVersion:1,
 *   operations:["consume"]}; `consume --expected-pid N --json` → exit 0 {ok:true,protocol,
 *   protocolVersion,status:"accepted",handoff} (row deleted) | {…,status:"none",reason:"missing"} |
 *   {…,status:"rejected",reason:"expired"|"invalid"|"pid-mismatch",handoffPid?} (a mismatch keeps the
 *   row); a bad pid → exit 2 {ok:false,status:"error",reason:"invalid-expected-pid"}; the store
 *   unreadable (or FIXTURE_HANDOFF_STORE=unavailable) → exit 1 reason "store-unavailable". The row is
 *   `<state>/state/restart-handoff.json`; each consume appends {at,expectedPid,status,reason,mode} to
 *   `<state>/state/restart-handoff.consumed.jsonl`. A gateway in external mode given SIGUSR2 drains,
 *   writes the row (its pid, supervisorMode "external", expiry 60 s or $FIXTURE_HANDOFF_TTL_MS) and
 *   exits 0; outside external mode SIGUSR2 is an in-process restart (it stays).
 *
 * ## Variants
 * - `missing-dynamic-chunk`: dist/lazy-<h>.js is absent. Everything installs and the gateway is
 *   healthy; only /lazy fails (500, ERR_MODULE_NOT_FOUND) — only the import-graph check catches it.
 * - `missing-static-import`: the entry chunk imported by dist/index.js is absent: every command,
 *   including `--version`, dies with ERR_MODULE_NOT_FOUND (exit 1).
 * - `bad-inventory-hash`: the content inventory lists a wrong sha256 for dist/cli-<h>.js.
 * - `engines-99`: engines.node ">=99" (the fixture itself does not check the node version).
 * - `lifecycle-marker-left`: the postinstall runs but leaves the marker (so the CLI refuses to run).
 * - `version-exits-1`, `crash-at-start`, `wrong-version` (/startupz and gateway status report
 *   "0.0.0-wrong"; `--version` is right), `liveness-503` (/healthz, /health 503 forever; the rest
 *   normal), `deep-check-fails`, `slow-start` (listens only after startDelayMs, default 3000),
 *   `no-lifecycle` (no postinstall, no marker, no scripts/ dir: a valid package),
 *   `dies-after-liveness` (2026.5.13: /healthz 200, /startupz 503 "starting"; the gateway exits 3 about
 *   2 s after its first liveness answer: it passes the responsive gate stage, then dies).
 * - `crash-on-state` (2026.6.1): starts on empty state, but exits 1 at start when
 *   `<state>/state/openclaw.sqlite` has `PRAGMA user_version` > 18 ("state schema N is newer than this
 *   build supports"): only a canary on *copied* state catches it.
 * - `readyz-503` (2026.6.2): /healthz and /startupz 200, /readyz 503 {ready:false,failing:["channel:fixture"]}.
 * - `preflight-fails` (2026.6.3): `database preflight <db> --json` exits 1 with result "incompatible".
 * - `crash-after-start` (2026.8.1): serves healthy, then exits 1 three seconds after every start.
 * - `rewrites-definition` (2026.8.2): at every start, rewrites its own LaunchAgent plist / systemd unit
 *   (named by OPENCLAW_LAUNCHD_LABEL / OPENCLAW_SYSTEMD_UNIT) the way a regenerating updater does:
 *   no EnvironmentVariables / Environment= lines, the program pointed at itself.
 * - `rewrites-definition-always` (2026.8.4): at every start, also with no service named in its env (a
 *   canary), writes the LaunchAgent `$HOME/Library/LaunchAgents/<label or ai.openclaw.gateway>.plist`
 *   and the unit `$XDG_CONFIG_HOME/systemd/user/<unit or openclaw-gateway.service>`, created when absent,
 *   with its own port and no environment (OpenClaw issue 155229); logs `rewrote <file>`. With
 *   `OPENCLAW_FIXTURE_REAL_HOME` it also rewrites those that exist under that home (a release that finds
 *   the real home despite HOME).
 * - `crash-on-state-file` (2026.6.4): exits 1 at start when `<state>/agents/<id>/sessions/sessions.json`
 *   is not valid JSON: a file outside the config, the databases and the plugins.
 * - `crash-later` (2026.8.3): serves healthy, then exits 1 fifteen seconds after every start (for the
 *   stabilization watch: it passes the gate and the settle, then dies).
 * - `requiresConfig` (an option): `gateway run` without a config file exits 78 after ≈ 800 ms with
 *   OpenClaw's "Missing config. Run `openclaw setup` or set gateway.mode=local (or pass --allow-unconfigured)."
 * - `legacyCli` (an option, set for the good 2026.1.1): `database …` is an unknown command (exit 2) and
 *   `doctor --lint` fails with "error: unknown option '--lint'" (exit 1), like releases before them.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyUserconfig, npmEnv, publish, runCommand } from './registry.js';

export type FixtureVariant =
  | 'good'
  | 'missing-dynamic-chunk'
  | 'missing-static-import'
  | 'bad-inventory-hash'
  | 'engines-99'
  | 'lifecycle-marker-left'
  | 'version-exits-1'
  | 'crash-at-start'
  | 'wrong-version'
  | 'liveness-503'
  | 'deep-check-fails'
  | 'slow-start'
  | 'no-lifecycle'
  | 'dies-after-liveness'
  | 'crash-on-state'
  | 'readyz-503'
  | 'preflight-fails'
  | 'crash-after-start'
  | 'rewrites-definition'
  | 'crash-later'
  | 'rewrites-definition-always'
  | 'crash-on-state-file';

export type BadVariant = Exclude<FixtureVariant, 'good'>;

export interface FixtureOptions {
  /** Package name; default 'openclaw'. */
  name?: string;
  version: string;
  variant?: FixtureVariant;
  /** dist-tag used by publishFixture (default: registry.defaultTag(version)). */
  tag?: string;
  /** slow-start only: delay before listening, default 3000 ms. */
  startDelayMs?: number;
  /** Extra incompressible data file dist/fixture-pad.bin of this size (benchmarks). */
  padBytes?: number;
  /** dist/shared-pad.bin of this size, byte-identical across versions (the files versions share). */
  sharedPadBytes?: number;
  /** Its path (default dist/shared-pad.bin): a new name with the same bytes, like a hash-named chunk that did not change. */
  sharedPadPath?: string;
  /** Number of hashed chunk-<h>.js files; default 20, minimum 4. */
  chunkCount?: number;
  /** An older release without `doctor --lint` and `database preflight` (they answer "unknown"). */
  legacyCli?: boolean;
  /**
   * Like OpenClaw with no configuration of its own: `gateway run` with no config file prints
   * "Missing config. Run `openclaw setup` …" on stderr and exits 78, about 800 ms after its start.
   */
  requiresConfig?: boolean;
  /** engines.node (default ">=20"; engines-99: ">=99"). */
  enginesNode?: string;
}

/** Short doc of the two inventory files (see the comment at the top of this file for details). */
export const INVENTORY_FORMAT = `dist/postinstall-inventory.json: JSON array of sorted unique "dist/..." paths of every packaged file under dist/ except itself (it lists dist/postinstall-content-inventory.json).
dist/postinstall-content-inventory.json: JSON array, sorted by path, of {"path":"dist/...","sha256":"<64 lowercase hex>","mode":<st_mode & 0o777>,"size":<bytes>} for every packaged dist file except the two inventory files; compare path, sha256, size and the executable bit (mode & 0o111) only.
Source: openclaw/openclaw src/infra/package-dist-inventory.ts (parsePackageDistContentInventory, createPackageDistContentInventoryEntry, writePackageDistInventory).`;

export const PATH_INVENTORY = 'dist/postinstall-inventory.json';
export const CONTENT_INVENTORY = 'dist/postinstall-content-inventory.json';
export const LIFECYCLE_MARKER = '.openclaw-lifecycle-pending';

/** Version of each bad variant in the standard fixture set (package `openclaw`). */
export const VARIANT_VERSIONS: Record<BadVariant, string> = {
  'missing-dynamic-chunk': '2026.5.1',
  'missing-static-import': '2026.5.2',
  'bad-inventory-hash': '2026.5.3',
  'engines-99': '2026.5.4',
  'lifecycle-marker-left': '2026.5.5',
  'version-exits-1': '2026.5.6',
  'crash-at-start': '2026.5.7',
  'wrong-version': '2026.5.8',
  'liveness-503': '2026.5.9',
  'deep-check-fails': '2026.5.10',
  'slow-start': '2026.5.11',
  'no-lifecycle': '2026.5.12',
  'dies-after-liveness': '2026.5.13',
  'crash-on-state': '2026.6.1',
  'readyz-503': '2026.6.2',
  'preflight-fails': '2026.6.3',
  'crash-after-start': '2026.8.1',
  'rewrites-definition': '2026.8.2',
  'crash-later': '2026.8.3',
  'rewrites-definition-always': '2026.8.4',
  'crash-on-state-file': '2026.6.4',
};

/** The good version that predates the supervisor commands (`legacyCli`): the canary reports them `unsupported`. */
export const LEGACY_CLI_VERSION = '2026.1.1';

/** Good versions of `openclaw` in the standard set, in OpenClaw order. */
export const GOOD_VERSIONS = ['2026.1.1', '2026.2.1', '2026.3.1', '2026.3.1-2', '2026.4.1-beta.1', '2026.4.1'] as const;
/** The `latest` dist-tag of `openclaw` in the standard set (the 2026.5.x variants are *above* it). */
export const LATEST_VERSION = '2026.4.1';
/** The second package name in the standard set (for `--package` tests). */
export const OTHER_PACKAGE = { name: 'oc-fixture-other', version: '1.0.0', tag: 'latest' } as const;

/**
 * What global setup publishes, in order. Dist-tags: 2026.4.1 → latest, 2026.4.1-beta.1 → beta,
 * every other version → registry.defaultTag(version) (e.g. v2026-3-1-2). Note that verdaccio
 * gives the first published version `latest` until 2026.4.1 takes it.
 */
export const STANDARD_FIXTURES: readonly FixtureOptions[] = [
  ...GOOD_VERSIONS.map((version): FixtureOptions => ({
    version,
    variant: 'good',
    ...(version === LEGACY_CLI_VERSION ? { legacyCli: true } : {}),
    ...(version === LATEST_VERSION ? { tag: 'latest' } : version === '2026.4.1-beta.1' ? { tag: 'beta' } : {}),
  })),
  ...(Object.entries(VARIANT_VERSIONS) as [BadVariant, string][]).map(
    ([variant, version]): FixtureOptions => ({ version, variant }),
  ),
  { name: OTHER_PACKAGE.name, version: OTHER_PACKAGE.version, variant: 'good', tag: OTHER_PACKAGE.tag },
];

const TEMPLATE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/gateway');

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hashedName(prefix: string, content: string): string {
  return `${prefix}-${sha256(content).slice(0, 8)}.js`;
}

function fill(template: string, values: Record<string, string>): string {
  let out = template;
  for (const [k, v] of Object.entries(values)) out = out.split(k).join(v);
  const left = /__[A-Z][A-Z_]*__/.exec(out);
  if (left) throw new Error(`fixture template: unreplaced placeholder ${left[0]}`);
  return out;
}

function deterministicBytes(seed: string, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  let block = createHash('sha256').update(seed).digest();
  // Expand with a cheap counter-mode stream so large pads stay fast and incompressible.
  for (let n = 0; off < size; n++) {
    if (n % 1024 === 0) block = createHash('sha256').update(block).update(String(n)).digest();
    const h = createHash('sha256').update(block).update(String(n)).digest();
    off += h.copy(buf, off, 0, Math.min(h.length, size - off));
  }
  return buf;
}

interface FileSpec {
  content: string | Buffer;
  mode: number;
}

/** Generate a tree of chunks (index i imports 2i+1 and 2i+2); returns names by index. */
function makeChunks(
  files: Map<string, FileSpec>,
  label: string,
  count: number,
  version: string,
  firstIndex: number,
): string[] {
  const names: string[] = new Array<string>(count);
  for (let i = count - 1; i >= 0; i--) {
    const kids = [2 * i + 1, 2 * i + 2].filter((k) => k < count);
    const n = firstIndex + i;
    const lines = [`// oc-versions fixture chunk ${label}${i}`];
    kids.forEach((k, j) => lines.push(`import { value as v${j} } from './${names[k]}';`));
    lines.push(`export const name = '${label}${i}';`);
    lines.push(`export const value = ${n + 1}${kids.map((_, j) => ` + v${j}`).join('')};`);
    if (n % 2 === 1) lines.push(`export const builtFor = '${version}';`);
    const content = `${lines.join('\n')}\n`;
    const name = hashedName('chunk', content);
    names[i] = name;
    files.set(`dist/${name}`, { content, mode: 0o644 });
  }
  return names;
}

/**
 * Write a fixture package directory (a fresh temp dir under os.tmpdir()) and return its path
 * (`<tmp>/package`). The caller owns it (fs.rm(path.dirname(dir)) when done).
 */
export async function buildFixture(opts: FixtureOptions): Promise<string> {
  const name = opts.name ?? 'openclaw';
  const version = opts.version;
  const variant: FixtureVariant = opts.variant ?? 'good';
  const chunkCount = Math.max(4, opts.chunkCount ?? 20);
  const tpl = (rel: string) => fs.readFileSync(path.join(TEMPLATE_DIR, rel), 'utf8');
  const files = new Map<string, FileSpec>();

  // Chunks: ~60% reachable from the static graph, the rest only through lazy-<h>.js.
  const staticCount = Math.max(2, Math.ceil(chunkCount * 0.6));
  const lazyCount = Math.max(2, chunkCount - staticCount);
  const staticChunks = makeChunks(files, 's', staticCount, version, 0);
  const lazyChunks = makeChunks(files, 'l', lazyCount, version, staticCount);

  const lazy = fill(tpl('dist/lazy.js'), { __LAZY_DEP_CHUNK__: lazyChunks[0]!, __VERSION__: version });
  const lazyName = hashedName('lazy', lazy);
  files.set(`dist/${lazyName}`, { content: lazy, mode: 0o644 });

  const server = fill(tpl('dist/server.js'), {
    __SERVER_DEP_CHUNK__: staticChunks[staticCount - 1]!,
    __LAZY_CHUNK__: lazyName,
  });
  const serverName = hashedName('server', server);
  files.set(`dist/${serverName}`, { content: server, mode: 0o644 });

  const cli = fill(tpl('dist/cli.js'), { __CLI_DEP_CHUNK__: staticChunks[1]!, __SERVER_CHUNK__: serverName });
  const cliName = hashedName('cli', cli);
  files.set(`dist/${cliName}`, { content: cli, mode: 0o644 });

  const index = fill(tpl('dist/index.js'), { __CLI_CHUNK__: cliName, __ENTRY_CHUNK__: staticChunks[0]! });
  files.set('dist/index.js', { content: index, mode: 0o644 });
  files.set('openclaw.mjs', { content: tpl('openclaw.mjs'), mode: 0o755 });

  const startDelayMs = opts.startDelayMs ?? 3000;
  files.set('dist/fixture-variant.json', {
    content: `${JSON.stringify(
      {
        variant,
        startDelayMs,
        reportedVersion: variant === 'wrong-version' ? '0.0.0-wrong' : version,
        ...(variant === 'crash-after-start' ? { crashAfterMs: 3_000 } : variant === 'crash-later' ? { crashAfterMs: 15_000 } : {}),
        ...(opts.legacyCli ? { supervisorCommands: false } : {}),
        ...(opts.requiresConfig ? { requiresConfig: true } : {}),
      },
      null,
      2,
    )}\n`,
    mode: 0o644,
  });
  files.set('dist/build-info.json', {
    content: `${JSON.stringify({ version, builtAt: '2026-01-01T00:00:00.000Z', fixture: true }, null, 2)}\n`,
    mode: 0o644,
  });
  for (const rel of ['dist/extensions/demo/openclaw.plugin.json', 'dist/extensions/demo/skills/demo/SKILL.md']) {
    files.set(rel, { content: fill(tpl(rel), { __VERSION__: version }), mode: 0o644 });
  }
  if (opts.sharedPadBytes && opts.sharedPadBytes > 0) {
    files.set(opts.sharedPadPath ?? 'dist/shared-pad.bin', { content: deterministicBytes(`${name}-shared`, opts.sharedPadBytes), mode: 0o644 });
  }
  if (opts.padBytes && opts.padBytes > 0) {
    files.set('dist/fixture-pad.bin', { content: deterministicBytes(`${name}@${version}`, opts.padBytes), mode: 0o644 });
  }

  const lifecycle = variant !== 'no-lifecycle';
  if (lifecycle) {
    files.set('scripts/postinstall.mjs', { content: tpl('scripts/postinstall.mjs'), mode: 0o644 });
    files.set(LIFECYCLE_MARKER, {
      content: 'OpenClaw package lifecycle pending: run the postinstall script.\n',
      mode: 0o644,
    });
  }

  // Break the package *before* computing the inventories: they describe what really ships.
  if (variant === 'missing-dynamic-chunk') files.delete(`dist/${lazyName}`);
  if (variant === 'missing-static-import') files.delete(`dist/${staticChunks[0]!}`);

  const pkg: Record<string, unknown> = {
    name,
    version,
    description: 'oc-versions test fixture mimicking the OpenClaw gateway package',
    license: 'MIT',
    type: 'module',
    main: 'dist/index.js',
    bin: { openclaw: 'openclaw.mjs' },
    engines: { node: opts.enginesNode ?? (variant === 'engines-99' ? '>=99' : '>=20') },
    files: ['openclaw.mjs', 'dist/', ...(lifecycle ? ['scripts/', LIFECYCLE_MARKER] : [])],
    ...(lifecycle ? { scripts: { postinstall: 'node scripts/postinstall.mjs' } } : {}),
  };
  files.set('package.json', { content: `${JSON.stringify(pkg, null, 2)}\n`, mode: 0o644 });

  // Inventories (format: see INVENTORY_FORMAT).
  const distFiles = [...files.keys()].filter((p) => p.startsWith('dist/'));
  const contentEntries = distFiles
    .filter((p) => p !== PATH_INVENTORY && p !== CONTENT_INVENTORY)
    .sort((a, b) => a.localeCompare(b))
    .map((p) => {
      const f = files.get(p)!;
      const bytes = typeof f.content === 'string' ? Buffer.from(f.content) : f.content;
      return { path: p, sha256: sha256(bytes), mode: f.mode & 0o777, size: bytes.byteLength };
    });
  if (variant === 'bad-inventory-hash') {
    const e = contentEntries.find((x) => x.path === `dist/${cliName}`)!;
    e.sha256 = sha256(`not the content of ${e.path}`);
  }
  files.set(CONTENT_INVENTORY, { content: `${JSON.stringify(contentEntries, null, 2)}\n`, mode: 0o644 });
  const pathInventory = [...distFiles, CONTENT_INVENTORY]
    .filter((p, i, a) => p !== PATH_INVENTORY && a.indexOf(p) === i)
    .sort((a, b) => a.localeCompare(b));
  files.set(PATH_INVENTORY, { content: `${JSON.stringify(pathInventory, null, 2)}\n`, mode: 0o644 });

  const root = await fsp.mkdtemp(path.join(os.tmpdir(), `oc-fixture-${name.replace(/[^a-z0-9]/gi, '_')}-${version}-`));
  const dir = path.join(root, 'package');
  for (const [rel, f] of files) {
    const abs = path.join(dir, rel);
    await fsp.mkdir(path.dirname(abs), { recursive: true });
    await fsp.writeFile(abs, f.content, { mode: f.mode });
    await fsp.chmod(abs, f.mode);
  }
  return dir;
}

/** Build a fixture, publish it (tag: opts.tag or the default tag), delete the build dir. */
export async function publishFixture(registryUrl: string, opts: FixtureOptions): Promise<void> {
  const dir = await buildFixture(opts);
  try {
    await publish(registryUrl, dir, opts.tag ? { tag: opts.tag } : {});
  } finally {
    await fsp.rm(path.dirname(dir), { recursive: true, force: true });
  }
}

export interface InstallResult {
  /** The npm prefix (contains package.json, node_modules/). */
  prefix: string;
  /** `<prefix>/node_modules/<name>`. */
  pkgRoot: string;
  stdout: string;
  stderr: string;
}

/**
 * `npm install <spec>` into a prefix (default: a new temp dir; the caller deletes it), the way a
 * user would: the prefix gets a package.json whose `allowScripts` allows the fixture packages'
 * postinstall (npm 11 refuses `--allow-scripts` for project installs). Rejects if npm fails.
 */
export async function npmInstallFixture(
  registryUrl: string,
  spec: string,
  opts: { prefix?: string; ignoreScripts?: boolean; cache?: string } = {},
): Promise<InstallResult> {
  const prefix = opts.prefix ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-fixture-install-')));
  const pj = path.join(prefix, 'package.json');
  if (!fs.existsSync(pj)) {
    await fsp.writeFile(
      pj,
      `${JSON.stringify({ name: 'oc-fixture-prefix', private: true, allowScripts: { openclaw: true, [OTHER_PACKAGE.name]: true } }, null, 2)}\n`,
    );
  }
  const at = spec.lastIndexOf('@');
  const name = at > 0 ? spec.slice(0, at) : spec;
  const { stdout, stderr } = await runCommand(
    'npm',
    [
      'install',
      spec,
      '--prefix',
      prefix,
      '--registry',
      registryUrl,
      '--userconfig',
      emptyUserconfig(),
      '--no-audit',
      '--no-fund',
      '--loglevel',
      'error',
      // npm's default retry backoff turns an EINTEGRITY into a 70 s wait; localhost needs none of it.
      '--fetch-retry-mintimeout',
      '100',
      '--fetch-retry-maxtimeout',
      '500',
      ...(opts.ignoreScripts ? ['--ignore-scripts'] : []),
      ...(opts.cache ? ['--cache', opts.cache] : []),
    ],
    { cwd: prefix, env: npmEnv() },
  );
  return { prefix, pkgRoot: path.join(prefix, 'node_modules', name), stdout, stderr };
}
