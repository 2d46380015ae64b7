/**
 * validateTree against small package trees built on disk: each way a staged
 * version can be broken must be refused by its own check, and a good tree passes.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckName, ValidateInput, ValidationReport } from '../../src/core/validate.js';
import { CHECK_ORDER, closureThreads, firstFailure, formatFailure, validateTree } from '../../src/core/validate.js';
import { blankPrelude, walkImportClosure } from '../../src/core/checks/import-closure.js';
import { checkInventory, parseInventory } from '../../src/core/checks/inventory.js';
import { run } from '../../src/os/proc.js';
import { prebootSmoke } from '../../src/core/checks/run-package.js';

const VERSION = '2026.9.6';
let root: string;
let counter = 0;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-validate-test-'));
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

type Files = Record<string, string>;

/** The files of a healthy OpenClaw-shaped package (paths relative to the package dir). */
function goodFiles(version = VERSION): Files {
  return {
    'package.json': JSON.stringify({
      name: 'openclaw',
      version,
      type: 'module',
      bin: { openclaw: 'openclaw.mjs' },
      engines: { node: '>=18' },
    }),
    'openclaw.mjs': [
      '#!/usr/bin/env node',
      "import { VERSION } from './dist/version-Ab12Cd34.js';",
      "if (process.argv.includes('--version')) { console.log(`OpenClaw ${VERSION} (abc1234)`); process.exit(0); }",
      "await import('./dist/index.js');",
      '',
    ].join('\n'),
    'dist/index.js': [
      "import './static-Qw12Er34.js';",
      "import fs from 'node:fs';",
      "import data from './data.json' with { type: 'json' };",
      "export * from './reexport-Zx98Cv76.js';",
      "export { named } from './named-Lk45Jh67.js';",
      "export const lazy = () => import('./chunk-Lazy1234.js');",
      "export const byName = (n) => import('./' + n + '.js');",
      'export const byTemplate = (n) => import(`./locale-${n}.js`);',
      "export const legacy = () => import('./legacy-Mn11Bb22.cjs');",
      "export const withQuery = () => import('./query-Pp33Oo44.js?v=1#frag');",
      'export const size = data.n + fs.constants.F_OK;',
      '',
    ].join('\n'),
    'dist/version-Ab12Cd34.js': `export const VERSION = '${version}';\n`,
    'dist/static-Qw12Er34.js': "import { deep } from './deep/deep-Ty55Ui66.js';\nexport const s = deep;\n",
    'dist/deep/deep-Ty55Ui66.js': "export const deep = 1;\nexport const back = () => import('../chunk-Lazy1234.js');\n",
    'dist/reexport-Zx98Cv76.js': 'export const r = 1;\n',
    'dist/named-Lk45Jh67.js': 'export const named = 2;\n',
    'dist/chunk-Lazy1234.js': 'export default 3;\n',
    'dist/legacy-Mn11Bb22.cjs': "module.exports = require('./not-checked-because-cjs.js');\n",
    'dist/query-Pp33Oo44.js': 'export default 4;\n',
    'dist/data.json': '{"n": 1}\n',
    'dist/unreferenced.txt': 'listed in the inventory only\n',
  };
}

interface TreeOptions {
  files?: Files;
  /** Change files after the inventories are written (simulates damage after packing). */
  damage?: (pkgDir: string) => void;
  /** Write the inventories (default true); 'paths' writes only postinstall-inventory.json. */
  inventory?: boolean | 'paths';
}

/** Build `<prefix>/node_modules/openclaw` with the package's own inventories, like the real one. */
function buildTree(opts: TreeOptions = {}): { prefix: string; packageDir: string } {
  const prefix = path.join(root, `prefix-${++counter}`);
  const packageDir = path.join(prefix, 'node_modules', 'openclaw');
  const files = opts.files ?? goodFiles();
  for (const [rel, body] of Object.entries(files)) {
    const abs = path.join(packageDir, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, body);
  }
  if (fs.existsSync(path.join(packageDir, 'openclaw.mjs'))) fs.chmodSync(path.join(packageDir, 'openclaw.mjs'), 0o755);
  if (opts.inventory !== false) {
    const distFiles = Object.keys(files)
      .filter((p) => p.startsWith('dist/'))
      .sort();
    const content = distFiles.map((p) => {
      const buf = fs.readFileSync(path.join(packageDir, p));
      return { path: p, sha256: createHash('sha256').update(buf).digest('hex'), mode: 0o644, size: buf.length };
    });
    const paths = opts.inventory === 'paths' ? distFiles : [...distFiles, 'dist/postinstall-content-inventory.json'].sort();
    fs.writeFileSync(path.join(packageDir, 'dist/postinstall-inventory.json'), JSON.stringify(paths, null, 2) + '\n');
    if (opts.inventory !== 'paths') {
      fs.writeFileSync(path.join(packageDir, 'dist/postinstall-content-inventory.json'), JSON.stringify(content));
    }
  }
  opts.damage?.(packageDir);
  return { prefix, packageDir };
}

/** Alive and not a zombie waiting for whichever process inherited it to reap it. */
function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

function input(tree: { prefix: string; packageDir: string }, over: Partial<ValidateInput> = {}): ValidateInput {
  return {
    packageDir: tree.packageDir,
    prefix: tree.prefix,
    expectedVersion: VERSION,
    runtimeNode: process.execPath,
    tmpDir: path.join(root, 'tmp'),
    config: {
      serviceEntry: ['dist/index.js', 'dist/entry.js'],
      lifecycleMarkers: ['.openclaw-lifecycle-pending'],
      inventoryFiles: ['dist/postinstall-inventory.json', 'dist/postinstall-content-inventory.json'],
      offlineChecks: [],
      smokeTimeoutMs: 20_000,
    },
    ...over,
  };
}

function check(r: ValidationReport, name: CheckName) {
  const c = r.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} in report`);
  return c;
}

/** The report fails, and the first real failure is `name`. */
function expectRefusedBy(r: ValidationReport, name: CheckName): string {
  expect(r.ok).toBe(false);
  expect(firstFailure(r)?.name, JSON.stringify(r.checks, null, 2)).toBe(name);
  return check(r, name).detail;
}

describe('validateTree', () => {
  it('passes a good tree, reporting every check in order', async () => {
    const seen: CheckName[] = [];
    const r = await validateTree(input(buildTree(), { onCheck: (c) => seen.push(c.name) }));
    expect(r.checks.filter((c) => !c.ok), JSON.stringify(r.checks, null, 2)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.version).toBe(VERSION);
    expect(r.checks.map((c) => c.name)).toEqual(CHECK_ORDER);
    expect(seen).toEqual(CHECK_ORDER);
    for (const c of r.checks) {
      expect(c.ms).toBeGreaterThanOrEqual(0);
      expect(c.skipped).toBeUndefined();
    }
    // openclaw.mjs, version, index, static, deep, reexport, named, chunk, legacy(.cjs), query
    expect(check(r, 'import-closure').detail).toMatch(/^10 files walked from 2 entries \(1 CommonJS, 2 non-literal dynamic imports skipped\)$/);
    expect(check(r, 'inventory').detail).toMatch(/^12 files present, 11 hashed/);
    expect(check(r, 'smoke').detail).toContain(`node openclaw.mjs --version reported ${VERSION}`);
    expect(check(r, 'offline-checks').detail).toBe('none configured');
    expect(formatFailure(r)).toBe('');
    expect(firstFailure(r)).toBeUndefined();
  });

  it('refuses a missing dynamic chunk (import-closure)', async () => {
    const files = goodFiles();
    delete files['dist/chunk-Lazy1234.js']; // also absent from the shipped inventory, as in #80355
    const r = await validateTree(input(buildTree({ files })));
    const detail = expectRefusedBy(r, 'import-closure');
    expect(detail).toMatch(/^dist\/deep\/deep-Ty55Ui66\.js imports \.\.\/chunk-Lazy1234\.js: missing;/);
    expect(check(r, 'inventory').ok).toBe(true);
    expect(check(r, 'smoke')).toMatchObject({ ok: false, skipped: true, detail: 'not run: import-closure failed' });
    expect(check(r, 'offline-checks').skipped).toBe(true);
    expect(formatFailure(r)).toBe(`import-closure: ${detail}`);
  });

  it('refuses a missing static import (import-closure)', async () => {
    const files = goodFiles();
    delete files['dist/deep/deep-Ty55Ui66.js'];
    const detail = expectRefusedBy(await validateTree(input(buildTree({ files }))), 'import-closure');
    expect(detail).toMatch(/^dist\/static-Qw12Er34\.js imports \.\/deep\/deep-Ty55Ui66\.js: missing;/);
  });

  it('refuses a missing re-export target (import-closure), counting every missing file', async () => {
    const files = goodFiles();
    delete files['dist/reexport-Zx98Cv76.js'];
    delete files['dist/named-Lk45Jh67.js'];
    const detail = expectRefusedBy(await validateTree(input(buildTree({ files }))), 'import-closure');
    expect(detail).toMatch(/^dist\/index\.js imports \.\/named-Lk45Jh67\.js: missing \(2 unresolved in total\);/);
  });

  it('refuses a missing JSON import that is checked but not followed', async () => {
    const files = goodFiles();
    delete files['dist/data.json'];
    const detail = expectRefusedBy(await validateTree(input(buildTree({ files }))), 'import-closure');
    expect(detail).toMatch(/^dist\/index\.js imports \.\/data\.json: missing/);
  });

  it('refuses a bad inventory hash (inventory)', async () => {
    const tree = buildTree({
      damage: (dir) => fs.writeFileSync(path.join(dir, 'dist/named-Lk45Jh67.js'), 'export const named = 9;\n'),
    });
    const detail = expectRefusedBy(await validateTree(input(tree)), 'inventory');
    expect(detail).toMatch(/^dist\/named-Lk45Jh67\.js: sha256 mismatch \(expected [0-9a-f]{12}…, got [0-9a-f]{12}…\)$/);
  });

  it('refuses a size mismatch without hashing (inventory)', async () => {
    const tree = buildTree({ damage: (dir) => fs.appendFileSync(path.join(dir, 'dist/chunk-Lazy1234.js'), '//\n') });
    const detail = expectRefusedBy(await validateTree(input(tree)), 'inventory');
    expect(detail).toMatch(/^dist\/chunk-Lazy1234\.js: size \d+, expected \d+$/);
  });

  it('refuses a missing inventory file (inventory)', async () => {
    const tree = buildTree({ damage: (dir) => fs.rmSync(path.join(dir, 'dist/unreferenced.txt')) });
    const r = await validateTree(input(tree));
    const detail = expectRefusedBy(r, 'inventory');
    expect(detail).toBe('dist/unreferenced.txt: missing');
    expect(check(r, 'import-closure').ok).toBe(true);
  });

  it('uses a path-only inventory (simple array form) when no content inventory ships', async () => {
    const good = await validateTree(input(buildTree({ inventory: 'paths' })));
    expect(check(good, 'inventory')).toMatchObject({ ok: true });
    expect(check(good, 'inventory').detail).toMatch(/^11 files present, 0 hashed .*from postinstall-inventory\.json$/);
    const bad = buildTree({ inventory: 'paths', damage: (dir) => fs.rmSync(path.join(dir, 'dist/unreferenced.txt')) });
    expect(expectRefusedBy(await validateTree(input(bad)), 'inventory')).toBe('dist/unreferenced.txt: missing');
  });

  it('passes when the package ships no inventory', async () => {
    const r = await validateTree(input(buildTree({ inventory: false })));
    expect(check(r, 'inventory')).toMatchObject({ ok: true });
    expect(check(r, 'inventory').detail).toMatch(/^no inventory shipped/);
  });

  it('refuses an inventory that is not valid JSON or names an unsafe path', async () => {
    const notJson = buildTree({ damage: (dir) => fs.writeFileSync(path.join(dir, 'dist/postinstall-content-inventory.json'), '[') });
    expect(expectRefusedBy(await validateTree(input(notJson)), 'inventory')).toBe(
      'dist/postinstall-content-inventory.json: invalid inventory: not JSON',
    );
    const escape = buildTree({
      damage: (dir) => fs.writeFileSync(path.join(dir, 'dist/postinstall-inventory.json'), JSON.stringify(['dist/../../../etc/passwd'])),
    });
    expect(expectRefusedBy(await validateTree(input(escape)), 'inventory')).toMatch(/unsafe path/);
  });

  it('refuses engines.node ">=99" (runtime)', async () => {
    const files = goodFiles();
    files['package.json'] = JSON.stringify({ ...JSON.parse(files['package.json']!), engines: { node: '>=99' } });
    const detail = expectRefusedBy(await validateTree(input(buildTree({ files }))), 'runtime');
    expect(detail).toMatch(/^node v\d+\.\d+\.\d+ \(.+\) does not satisfy engines.node ">=99"$/);
  });

  it('refuses a runtime node that cannot run (runtime)', async () => {
    const r = await validateTree(input(buildTree(), { runtimeNode: path.join(root, 'no-such-node') }));
    expect(expectRefusedBy(r, 'runtime')).toMatch(/does not run: could not start \(ENOENT\)/);
  });

  it('refuses a leftover lifecycle marker (lifecycle), and never runs the package then', async () => {
    const tree = buildTree({ damage: (dir) => fs.writeFileSync(path.join(dir, '.openclaw-lifecycle-pending'), '') });
    const r = await validateTree(input(tree));
    expect(expectRefusedBy(r, 'lifecycle')).toBe(
      ".openclaw-lifecycle-pending is present: the package's install scripts did not complete",
    );
    expect(check(r, 'smoke')).toMatchObject({ ok: false, skipped: true, ms: 0 });
  });

  it('reports a skipped check as skipped and passing when the caller asks', async () => {
    const tree = buildTree({ damage: (dir) => fs.writeFileSync(path.join(dir, '.openclaw-lifecycle-pending'), '') });
    const r = await validateTree(input(tree, { skip: ['lifecycle'] }));
    expect(check(r, 'lifecycle')).toMatchObject({ ok: true, skipped: true });
    expect(check(r, 'lifecycle').detail).toMatch(/--ignore-scripts/);
    expect(r.ok).toBe(true);
  });

  it('refuses an entry that exits 1 on --version (smoke), naming the exit code and stderr', async () => {
    const files = goodFiles();
    files['openclaw.mjs'] = "#!/usr/bin/env node\nconsole.error('warming up');\nconsole.error('Error: boom');\nprocess.exit(1);\n";
    const detail = expectRefusedBy(await validateTree(input(buildTree({ files }))), 'smoke');
    expect(detail).toBe('node openclaw.mjs --version: exit 1; stderr: Error: boom');
  });

  it('refuses a --version that names another version (smoke)', async () => {
    const files = goodFiles();
    files['dist/version-Ab12Cd34.js'] = `export const VERSION = '${VERSION}0';\n`;
    const detail = expectRefusedBy(await validateTree(input(buildTree({ files }))), 'smoke');
    expect(detail).toBe(`node openclaw.mjs --version: printed "OpenClaw ${VERSION}0 (abc1234)", expected version ${VERSION}`);
  });

  it('kills a --version that hangs (smoke timeout) and cleans up its HOME', async () => {
    const files = goodFiles();
    const pidFile = path.join(root, `hang-${counter}.pid`);
    // The entry starts a grandchild in the same process group: the whole group must die.
    files['openclaw.mjs'] = [
      '#!/usr/bin/env node',
      "import { spawn } from 'node:child_process';",
      "import fs from 'node:fs';",
      "const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });",
      `fs.writeFileSync(${JSON.stringify(pidFile)}, String(c.pid));`,
      'setInterval(() => {}, 1000);',
      '',
    ].join('\n');
    const tmpDir = path.join(root, `tmp-hang-${counter}`);
    const r = await validateTree(
      input(buildTree({ files }), { tmpDir, config: { ...input(buildTree()).config, smokeTimeoutMs: 1500 } }),
    );
    expect(expectRefusedBy(r, 'smoke')).toBe('node openclaw.mjs --version: timed out after 1500 ms');
    const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
    await new Promise((res) => setTimeout(res, 200));
    expect(isRunning(grandchild)).toBe(false);
    expect(fs.readdirSync(tmpDir)).toEqual([]);
  });

  it('runs the smoke test isolated: HOME, state dir, cwd and environment', async () => {
    const files = goodFiles();
    const out = path.join(root, `env-${counter}.json`);
    files['openclaw.mjs'] = [
      '#!/usr/bin/env node',
      `import fs from 'node:fs';`,
      `fs.writeFileSync(${JSON.stringify(out)}, JSON.stringify({ env: process.env, cwd: process.cwd() }));`,
      `console.log('${VERSION}');`,
      '',
    ].join('\n');
    const tmpDir = path.join(root, `tmp-env-${counter}`);
    const r = await validateTree(input(buildTree({ files }), { tmpDir }));
    expect(check(r, 'smoke').ok).toBe(true);
    const seen = JSON.parse(fs.readFileSync(out, 'utf8')) as { env: Record<string, string>; cwd: string };
    const home = seen.env['HOME']!;
    expect(path.dirname(home)).toBe(tmpDir);
    expect(seen.cwd).toBe(home);
    expect(seen.env).toMatchObject({
      OPENCLAW_STATE_DIR: path.join(home, '.openclaw'),
      OPENCLAW_CONFIG_PATH: path.join(home, '.openclaw', 'openclaw.json'),
      OPENCLAW_NO_AUTO_UPDATE: '1',
      OPENCLAW_DISABLE_BONJOUR: '1',
      DO_NOT_TRACK: '1',
    });
    // Nothing leaks from the test runner's environment.
    expect(Object.keys(seen.env).filter((k) => k.startsWith('VITEST'))).toEqual([]);
    expect(fs.existsSync(home)).toBe(false);
  });

  it('runs configured offline checks with {prefix}/{version} substituted and their own exit codes', async () => {
    const files = goodFiles();
    files['openclaw.mjs'] = [
      '#!/usr/bin/env node',
      'const [cmd, a, b] = process.argv.slice(2);',
      `if (cmd === '--version') { console.log('${VERSION}'); process.exit(0); }`,
      `if (cmd === 'echo') process.exit(a === b ? 0 : 9);`,
      `if (cmd === 'warn') process.exit(1);`,
      `if (cmd === 'fail') { console.error('config invalid: gateway.port'); process.exit(3); }`,
      'process.exit(2);',
      '',
    ].join('\n');
    const tree = buildTree({ files });
    const base = input(tree).config;
    const passing = await validateTree(
      input(tree, {
        config: {
          ...base,
          offlineChecks: [
            { name: 'prefix', args: ['echo', '{prefix}', tree.prefix] },
            { name: 'staging alias', args: ['echo', '{staging}/{version}', `${tree.prefix}/${VERSION}`] },
            { name: 'lint', args: ['warn'], okExitCodes: [0, 1] },
          ],
        },
      }),
    );
    expect(check(passing, 'offline-checks')).toMatchObject({ ok: true, detail: '3 checks passed: prefix, staging alias, lint' });
    const failing = await validateTree(
      input(tree, { config: { ...base, offlineChecks: [{ name: 'config validate', args: ['fail', '--json'], timeoutMs: 5000 }] } }),
    );
    expect(expectRefusedBy(failing, 'offline-checks')).toBe(
      'config validate (openclaw.mjs fail --json): exit 3; stderr: config invalid: gateway.port',
    );
  });

  it('refuses a bin that is not executable, a dangling bin link, and a missing service entry (entrypoints)', async () => {
    const notExec = buildTree({ damage: (dir) => fs.chmodSync(path.join(dir, 'openclaw.mjs'), 0o644) });
    expect(expectRefusedBy(await validateTree(input(notExec)), 'entrypoints')).toBe(
      'bin openclaw (openclaw.mjs): not executable (mode 644)',
    );

    const dangling = buildTree({
      damage: (dir) => {
        fs.rmSync(path.join(dir, 'openclaw.mjs'));
        fs.symlinkSync('gone.mjs', path.join(dir, 'openclaw.mjs'));
      },
    });
    const r = await validateTree(input(dangling));
    expect(expectRefusedBy(r, 'entrypoints')).toBe('bin openclaw (openclaw.mjs): dangling symlink');
    expect(check(r, 'import-closure').ok).toBe(true); // still walked from the service entry

    const noService = buildTree({ damage: (dir) => fs.rmSync(path.join(dir, 'dist/index.js')) });
    expect(expectRefusedBy(await validateTree(input(noService)), 'entrypoints')).toMatch(
      /^service entry dist\/index\.js: missing \(also tried dist\/entry\.js\)/,
    );
  });

  it('accepts the string form of bin and the fallback service entry', async () => {
    const files = goodFiles();
    files['package.json'] = JSON.stringify({ ...JSON.parse(files['package.json']!), bin: './openclaw.mjs' });
    files['openclaw.mjs'] = files['openclaw.mjs']!.replace('./dist/index.js', './dist/entry.js');
    files['dist/entry.js'] = files['dist/index.js']!;
    delete files['dist/index.js'];
    const r = await validateTree(input(buildTree({ files })));
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(check(r, 'entrypoints').detail).toBe('openclaw.mjs; service entry dist/entry.js');
  });

  it('refuses a package.json whose version is not the expected one (entrypoints)', async () => {
    const r = await validateTree(input(buildTree({ files: goodFiles('2026.9.5') })));
    expect(expectRefusedBy(r, 'entrypoints')).toBe('package.json version is 2026.9.5, expected 2026.9.6');
  });
});

describe('walkImportClosure', () => {
  function tree(files: Files): string {
    const dir = path.join(root, `walk-${++counter}`);
    for (const [rel, body] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), body);
    }
    return dir;
  }

  it('parses an entry with a shebang line (and finds what it imports)', async () => {
    const dir = tree({ 'cli.mjs': "#!/usr/bin/env node\nimport './a.js';\nimport('./gone.js');\n", 'a.js': '' });
    const s = await walkImportClosure([path.join(dir, 'cli.mjs')]);
    expect(s.unparsable).toBe(0);
    expect(s.files).toBe(2);
    expect(s.missing).toEqual([{ importer: path.join(dir, 'cli.mjs'), specifier: './gone.js', reason: 'missing' }]);
  });

  it('sees the imports after a leading byte-order mark, as node loads them', async () => {
    const dir = tree({ 'main.mjs': "\uFEFFimport './a.mjs';\nimport('./gone.mjs');\n", 'a.mjs': "process.stdout.write('a ran');\n" });
    // Node (this process's, a real child) treats the mark as whitespace and runs what follows it.
    const r = await run(process.execPath, [path.join(dir, 'main.mjs')]);
    expect(r.stdout).toContain('a ran');
    const s = await walkImportClosure([path.join(dir, 'main.mjs')]);
    expect(s.files).toBe(2);
    expect(s.missing).toEqual([{ importer: path.join(dir, 'main.mjs'), specifier: './gone.mjs', reason: 'missing' }]);
  });

  it('keeps offsets when blanking a shebang', () => {
    const src = '#!/usr/bin/env node\nimport x from "./x.js";';
    const out = blankPrelude(src);
    expect(out.length).toBe(src.length);
    expect(out.indexOf('./x.js')).toBe(src.indexOf('./x.js'));
    expect(blankPrelude('import "./y.js"')).toBe('import "./y.js"');
  });

  it('resolves as Node ESM does: no extension guessing, no directory index, query and hash stripped', async () => {
    const dir = tree({
      'main.js': [
        "import './noext';",
        "import './folder';",
        "import './folder/index.js';",
        "import './q.js?x=1';",
        "import './h.js#frag';",
        "import './sp%20ace.js';",
        "import 'node:path';",
        "import 'some-package/deep.js';",
        "import '#internal';",
        '',
      ].join('\n'),
      'noext.js': '',
      'folder/index.js': '',
      'q.js': '',
      'h.js': '',
      'sp ace.js': '',
    });
    const s = await walkImportClosure([path.join(dir, 'main.js')]);
    const reasons = Object.fromEntries(s.missing.map((m) => [m.specifier, m.reason]));
    expect(reasons).toEqual({ './noext': 'missing', './folder': 'is a directory' });
    expect(s.files).toBe(5); // main, folder/index, q, h, sp ace
  });

  it('counts CommonJS, unlexable files and non-literal dynamic imports without failing', async () => {
    const dir = tree({
      'main.mjs': "import('./x.cjs'); import('./broken.js'); import(name); import(`./t/${n}.js`);\n",
      'x.cjs': "require('./whatever');\n",
      'broken.js': 'export const = ;;; }}}{{ `\n',
    });
    const s = await walkImportClosure([path.join(dir, 'main.mjs')]);
    expect(s).toMatchObject({ files: 3, commonjs: 1, unparsable: 1, nonLiteral: 2, missing: [] });
  });

  it('resolves dot segments as URLs do and walks a graph longer than one stretch between yields', async () => {
    const files: Files = {
      'main.js': "import './sub/../b.js'; import './sub/./c.js'; import './sub/../nope.js'; import './n0.js';\n",
      'b.js': '',
      'sub/c.js': '',
    };
    // A chain of 300 modules: the walk yields to the event loop every 128 files.
    for (let i = 0; i < 300; i++) files[`n${i}.js`] = i < 299 ? `import './n${i + 1}.js';\n` : '';
    const dir = tree(files);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const s = await walkImportClosure([path.join(dir, 'main.js')]);
    clearInterval(timer);
    expect(s.files).toBe(303);
    expect(s.missing).toEqual([{ importer: path.join(dir, 'main.js'), specifier: './sub/../nope.js', reason: 'missing' }]);
    expect(ticks).toBeGreaterThan(0);
  });

  it('resolves one specifier per importing directory, and names a missing file by its smallest importer in any walk order', async () => {
    const dir = tree({
      // Both directories import './x.js' and './gone.js': the same text, different files.
      'main.js': "import './z.js'; import './a/m.js'; import './b/m.js';\n",
      'z.js': "import './x.js'; import './gone.js';\n",
      'y.js': "import './x.js'; import './gone.js';\n",
      'x.js': "import './y.js';\n",
      'a/m.js': "import './x.js';\n",
      'a/x.js': "import './gone.js';\n",
      'b/m.js': "import './x.js';\n",
    });
    for (const roots of [['main.js'], ['y.js', 'main.js'], ['main.js', 'y.js']]) {
      const s = await walkImportClosure(roots.map((r) => path.join(dir, r)));
      // main, z, x, y, a/m, a/x, b/m; b/x does not exist.
      expect(s.files).toBe(7);
      expect(s.missing).toEqual([
        { importer: path.join(dir, 'a/x.js'), specifier: './gone.js', reason: 'missing' },
        { importer: path.join(dir, 'b/m.js'), specifier: './x.js', reason: 'missing' },
        { importer: path.join(dir, 'y.js'), specifier: './gone.js', reason: 'missing' },
      ]);
    }
  });

  it('gives the same verdict with lexing threads as on one thread, and falls back when a thread cannot start', async () => {
    // 400 chunks from one entry (the shape of a bundle), sharing imports; among them a CommonJS
    // file, an unlexable one, non-literal dynamic imports, a missing chunk and a missing JSON
    // file imported from several chunks: the walk must name each by its smallest importer.
    const files: Files = { 'main.js': '' };
    for (let i = 0; i < 400; i++) {
      files['main.js'] += `import('./c/chunk-${i}.js');\n`;
      const imports = [`import './shared-${i % 7}.js';`, `import '../lib/l-${i % 13}.js';`];
      if (i % 50 === 17) imports.push("import('./gone.js');", "import data from '../data/gone.json' with { type: 'json' };");
      if (i % 100 === 3) imports.push('import(`./c/${x}.js`);');
      files[`c/chunk-${i}.js`] = imports.join('\n') + '\n';
    }
    for (let i = 0; i < 7; i++) files[`c/shared-${i}.js`] = i === 0 ? "import('../old.cjs');" : i === 1 ? 'export const = ;;; }}}' : '';
    for (let i = 0; i < 13; i++) files[`lib/l-${i}.js`] = i === 12 ? "import './gone-lib.js';" : '';
    files['old.cjs'] = "module.exports = require('./whatever');";
    const dir = tree(files);
    const roots = [path.join(dir, 'main.js')];

    const alone = await walkImportClosure(roots, { threads: 0 });
    expect(alone).toMatchObject({ files: 1 + 400 + 7 + 13 + 1, commonjs: 1, unparsable: 1, nonLiteral: 4, lexedByThreads: 0 });
    expect(alone.missing).toEqual([
      { importer: path.join(dir, 'c/chunk-117.js'), specifier: '../data/gone.json', reason: 'missing' },
      { importer: path.join(dir, 'c/chunk-117.js'), specifier: './gone.js', reason: 'missing' },
      { importer: path.join(dir, 'lib/l-12.js'), specifier: './gone-lib.js', reason: 'missing' },
    ]);
    const { lexedByThreads: _, ...verdict } = alone;
    for (const threads of [1, 2]) {
      const shared = await walkImportClosure(roots, { threads, threadsAfter: 0, awaitThreads: true });
      expect(shared.lexedByThreads).toBeGreaterThan(0); // the threads did take part
      expect({ ...shared, lexedByThreads: 0 }).toEqual({ ...verdict, lexedByThreads: 0 });
    }
    // A lexing thread that cannot load its lexer fails at once: this thread takes its files back.
    const broken = await walkImportClosure(roots, { threads: 1, threadsAfter: 0, awaitThreads: true, lexerModule: path.join(dir, 'no-such-lexer.cjs') });
    expect({ ...broken, lexedByThreads: 0 }).toEqual({ ...verdict, lexedByThreads: 0 });
    expect(broken.lexedByThreads).toBe(0);
    // A thread that dies holding batches (its lexer ends the thread on the first file): the
    // unanswered files come back to this thread, none lost and none counted twice.
    const dying = path.join(dir, 'dying-lexer.cjs');
    fs.writeFileSync(dying, 'exports.init = Promise.resolve();\nexports.parse = () => process.exit(3);\n');
    const died = await walkImportClosure(roots, { threads: 1, threadsAfter: 0, awaitThreads: true, lexerModule: dying });
    expect(died).toEqual({ ...verdict, lexedByThreads: 0 });
  });

  it("gives the walk only the cores the inventory's hashing threads leave when both run", () => {
    const cores = [1, 2, 3, 4, 5, 6, 8, 16];
    expect(cores.map((c) => closureThreads(c, true))).toEqual([0, 0, 0, 0, 0, 1, 3, 3]);
    expect(cores.map((c) => closureThreads(c, false))).toEqual([0, 1, 2, 3, 3, 3, 3, 3]);
  });

  it('reads each file once in a cyclic graph', async () => {
    const dir = tree({ 'a.js': "import './b.js'; export * from './c.js';", 'b.js': "import './a.js';", 'c.js': "import('./a.js')" });
    const s = await walkImportClosure([path.join(dir, 'a.js'), path.join(dir, 'b.js')]);
    expect(s.files).toBe(3);
  });
});

describe('checkInventory', () => {
  const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
  /** A package dir with `n` small files and one 3 MiB file (hashed in chunks), all in its content inventory. */
  function inventoryTree(n: number): { dir: string; listed: Array<{ path: string; sha256: string; size: number }> } {
    const dir = path.join(root, `inv-${++counter}`);
    fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
    const listed: Array<{ path: string; sha256: string; size: number }> = [];
    const add = (rel: string, body: Buffer): void => {
      fs.writeFileSync(path.join(dir, rel), body);
      listed.push({ path: rel, sha256: sha(body), size: body.length });
    };
    for (let i = 0; i < n; i++) add(`dist/f${i}.js`, Buffer.from(`export const v${i} = ${i};\n`));
    add('dist/big.bin', Buffer.alloc(3 * 1024 * 1024 + 7, 7));
    fs.writeFileSync(path.join(dir, 'dist/postinstall-content-inventory.json'), JSON.stringify(listed));
    return { dir, listed };
  }
  const files = ['dist/postinstall-content-inventory.json'];

  // 2,000 listed files take the worker-thread path; 20 are checked on this thread.
  for (const n of [20, 2000]) {
    it(`hashes every listed file and names each kind of damage (${n} files)`, async () => {
      const { dir, listed } = inventoryTree(n);
      const good = await checkInventory(dir, files);
      expect(good).toEqual({ ok: true, detail: `${n + 1} files present, ${n + 1} hashed (${((listed.reduce((a, f) => a + f.size, 0)) / 1e6).toFixed(1)} MB); from postinstall-content-inventory.json` });

      fs.writeFileSync(path.join(dir, 'dist/f3.js'), 'export const v3 = 9;\n'); // same size, other bytes
      fs.rmSync(path.join(dir, 'dist/f5.js'));
      fs.appendFileSync(path.join(dir, 'dist/f7.js'), 'x');
      fs.rmSync(path.join(dir, 'dist/f9.js'));
      expect((await run('mkfifo', [path.join(dir, 'dist/f9.js')])).code).toBe(0); // must not hang the check
      fs.appendFileSync(path.join(dir, 'dist/big.bin'), 'x');
      const bad = await checkInventory(dir, files);
      expect(bad.ok).toBe(false);
      expect(bad.detail).toMatch(/^dist\/f3\.js: sha256 mismatch \(expected [0-9a-f]{12}…, got [0-9a-f]{12}…\) \(and 4 more of \d+ listed files\)$/);
      fs.writeFileSync(path.join(dir, 'dist/f3.js'), 'export const v3 = 3;\n');
      expect((await checkInventory(dir, files)).detail).toBe(`dist/f5.js: missing (and 3 more of ${n + 1} listed files)`);
      fs.writeFileSync(path.join(dir, 'dist/f5.js'), 'export const v5 = 5;\n');
      expect((await checkInventory(dir, files)).detail).toBe(`dist/f7.js: size 22, expected 21 (and 2 more of ${n + 1} listed files)`);
      fs.writeFileSync(path.join(dir, 'dist/f7.js'), 'export const v7 = 7;\n');
      expect((await checkInventory(dir, files)).detail).toBe(`dist/f9.js: not a regular file (and 1 more of ${n + 1} listed files)`);
      fs.rmSync(path.join(dir, 'dist/f9.js'));
      fs.writeFileSync(path.join(dir, 'dist/f9.js'), 'export const v9 = 9;\n');
      expect((await checkInventory(dir, files)).detail).toBe(`dist/big.bin: size ${3 * 1024 * 1024 + 8}, expected ${3 * 1024 * 1024 + 7}`);
      fs.writeFileSync(path.join(dir, 'dist/big.bin'), Buffer.alloc(3 * 1024 * 1024 + 7, 8)); // same size, other bytes
      expect((await checkInventory(dir, files)).detail).toMatch(/^dist\/big\.bin: sha256 mismatch/);
    });
  }
});

describe('parseInventory', () => {
  it('reads the real content-inventory entries and the path inventory', () => {
    const sha = 'a'.repeat(64);
    expect(parseInventory([{ path: 'dist/a.js', sha256: sha, mode: 420, size: 3 }])).toEqual([
      { path: 'dist/a.js', sha256: sha, size: 3 },
    ]);
    expect(parseInventory(['dist/a.js', 'dist/b.js'])).toEqual([{ path: 'dist/a.js' }, { path: 'dist/b.js' }]);
  });

  it('reads the defensive forms: { files }, a path → hash map, sha256- prefixes and base64', () => {
    const hex = createHash('sha256').update('x').digest('hex');
    const b64 = createHash('sha256').update('x').digest('base64');
    expect(parseInventory({ files: ['dist/a.js'] })).toEqual([{ path: 'dist/a.js' }]);
    expect(parseInventory({ 'dist/a.js': hex, 'dist/b.js': { sha256: `sha256-${b64}`, size: 1 } })).toEqual([
      { path: 'dist/a.js', sha256: hex },
      { path: 'dist/b.js', sha256: hex, size: 1 },
    ]);
  });

  it('rejects what it cannot read', () => {
    expect(() => parseInventory(42)).toThrow(/unrecognised format/);
    expect(() => parseInventory([{ sha256: 'a'.repeat(64) }])).toThrow(/no path/);
    expect(() => parseInventory([{ path: 'dist/a.js', sha256: 'nothex' }])).toThrow(/not a sha256/);
  });
});

describe('formatFailure', () => {
  it('names the first failure that ran, on one line', () => {
    const report: ValidationReport = {
      version: VERSION,
      ok: false,
      checks: [
        { name: 'entrypoints', ok: true, detail: 'fine', ms: 1 },
        { name: 'inventory', ok: false, detail: 'dist/a.js: missing\n(and 2 more)', ms: 2 },
        { name: 'runtime', ok: false, detail: 'node v1 does not satisfy', ms: 3 },
        { name: 'smoke', ok: false, skipped: true, detail: 'not run', ms: 0 },
      ],
    };
    expect(formatFailure(report)).toBe('inventory: dist/a.js: missing (and 2 more)');
    expect(firstFailure({ ...report, checks: [report.checks[3]!, report.checks[2]!] })?.name).toBe('runtime');
    expect(formatFailure({ version: VERSION, ok: true, checks: [] })).toBe('');
  });
});

describe('the smoke run booted ahead (prebootSmoke)', () => {
  /** An entry that records what it saw, then prints the version. */
  function recordingFiles(out: string): Files {
    const files = goodFiles();
    files['openclaw.mjs'] = [
      '#!/usr/bin/env node',
      `import fs from 'node:fs';`,
      `fs.writeFileSync(${JSON.stringify(out)}, JSON.stringify({ pid: process.pid, env: process.env, cwd: process.cwd(), argv: process.argv.slice(2), execArgv: process.execArgv }));`,
      `console.log('${VERSION}');`,
      '',
    ].join('\n');
    return files;
  }

  it('runs the same command, isolated, with no trace of the barrier, in the process booted ahead', async () => {
    const out = path.join(root, `preboot-${++counter}.json`);
    const tree = buildTree({ files: recordingFiles(out) });
    const tmpDir = path.join(root, `tmp-preboot-${counter}`);
    const standby = await prebootSmoke(tmpDir, process.execPath, path.join(tree.packageDir, 'openclaw.mjs'));
    try {
      expect(await standby.parked).toBe(true);
      // Parked: node is up, the entry has not run.
      await new Promise((r) => setTimeout(r, 200));
      expect(fs.existsSync(out)).toBe(false);
      const r = await validateTree(input(tree, { tmpDir, smokeStandby: standby }));
      expect(check(r, 'smoke')).toMatchObject({ ok: true });
      const seen = JSON.parse(fs.readFileSync(out, 'utf8')) as { pid: number; env: Record<string, string>; cwd: string; argv: string[]; execArgv: string[] };
      expect(seen.pid).toBe(standby.pid);
      expect(seen.argv).toEqual(['--version']);
      expect(seen.execArgv).toEqual([]);
      expect(Object.keys(seen.env).filter((k) => k.startsWith('OC_VERSIONS'))).toEqual([]);
      const home = seen.env['HOME']!;
      expect(path.dirname(home)).toBe(tmpDir);
      expect(seen.cwd).toBe(home);
      expect(seen.env).toMatchObject({ OPENCLAW_STATE_DIR: path.join(home, '.openclaw'), OPENCLAW_NO_AUTO_UPDATE: '1' });
    } finally {
      await standby.dispose();
    }
    expect(fs.readdirSync(tmpDir)).toEqual([]);
  });

  it('a failed structural check releases it: the package never runs, the process and its HOME are gone', async () => {
    const out = path.join(root, `preboot-${++counter}.json`);
    const tree = buildTree({ files: recordingFiles(out), damage: (dir) => fs.appendFileSync(path.join(dir, 'dist/chunk-Lazy1234.js'), '//\n') });
    const tmpDir = path.join(root, `tmp-preboot-${counter}`);
    const standby = await prebootSmoke(tmpDir, process.execPath, path.join(tree.packageDir, 'openclaw.mjs'));
    expect(await standby.parked).toBe(true);
    const r = await validateTree(input(tree, { tmpDir, smokeStandby: standby }));
    expect(expectRefusedBy(r, 'inventory')).toMatch(/chunk-Lazy1234/);
    expect(check(r, 'smoke')).toMatchObject({ ok: false, skipped: true });
    await standby.dispose();
    expect(isRunning(standby.pid!)).toBe(false);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(tmpDir)).toEqual([]);
  });

  it('one that never parks, or was booted for another file, is not used: the check runs the file itself', async () => {
    const out = path.join(root, `preboot-${++counter}.json`);
    const tree = buildTree({ files: recordingFiles(out) });
    const tmpDir = path.join(root, `tmp-preboot-${counter}`);
    // A "node" that exits at once never reaches the barrier.
    const dead = await prebootSmoke(tmpDir, '/bin/false', path.join(tree.packageDir, 'openclaw.mjs'));
    const r1 = await validateTree(input(tree, { tmpDir, smokeStandby: dead }));
    expect(check(r1, 'smoke')).toMatchObject({ ok: true });
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).pid).not.toBe(dead.pid);
    await dead.dispose();
    const other = await prebootSmoke(tmpDir, process.execPath, path.join(tree.packageDir, 'dist', 'index.js'));
    const r2 = await validateTree(input(tree, { tmpDir, smokeStandby: other }));
    expect(check(r2, 'smoke')).toMatchObject({ ok: true });
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).pid).not.toBe(other.pid);
    await other.dispose();
    expect(isRunning(other.pid!)).toBe(false);
    expect(fs.readdirSync(tmpDir)).toEqual([]);
  });
});
