/**
 * The layering and the doors (docs/architecture.md), checked over src/ as text:
 *  - no import cycle among src/ files (static, dynamic and type imports all count);
 *  - verbs (src/commands/*) never import another verb; nothing below imports a verb;
 *  - each layer imports only what lies below it;
 *  - each side effect has one home (child processes and /proc, HTTP, npm's libraries,
 *    file names under the oc-versions home).
 * Anyone can run the same cycle check with `npx madge --circular --extensions ts src`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const FILES = walk(SRC).map((f) => path.relative(SRC, f).split(path.sep).join('/'));
const TEXT = new Map(FILES.map((f) => [f, fs.readFileSync(path.join(SRC, f), 'utf8')]));

/** Relative imports of a file (static, `import type`, `export … from`, dynamic), as src-relative .ts paths. */
function importsOf(file: string): string[] {
  const text = TEXT.get(file)!;
  const specs = [
    ...text.matchAll(/(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.[^'"]+)['"]/g),
    ...text.matchAll(/import\(\s*['"](\.[^'"]+)['"]\s*\)/g),
  ].map((m) => m[1]!);
  return [...new Set(specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)).replace(/\.js$/, '.ts')))];
}

const GRAPH = new Map(FILES.map((f) => [f, importsOf(f)]));

function findCycles(): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of GRAPH.get(f) ?? []) {
      if (state.get(g) === 'open') cycles.push([...stack.slice(stack.indexOf(g)), g]);
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of FILES) if (!state.has(f)) visit(f);
  return cycles;
}

const layerOf = (f: string): string => (f.includes('/') ? f.split('/')[0]! : f.replace(/\.ts$/, ''));

describe('architecture', () => {
  it('every relative import resolves to a file in src/', () => {
    const missing = [...GRAPH].flatMap(([f, deps]) => deps.filter((d) => !TEXT.has(d)).map((d) => `${f} -> ${d}`));
    expect(missing).toEqual([]);
  });

  it('the detector finds a planted cycle (it can fail)', () => {
    GRAPH.set('x/a.ts', ['x/b.ts']);
    GRAPH.set('x/b.ts', ['x/a.ts']);
    FILES.push('x/a.ts', 'x/b.ts');
    try {
      expect(findCycles()).toContainEqual(['x/a.ts', 'x/b.ts', 'x/a.ts']);
    } finally {
      GRAPH.delete('x/a.ts');
      GRAPH.delete('x/b.ts');
      FILES.splice(FILES.indexOf('x/a.ts'), 2);
    }
  });

  it('has no import cycle among src/ files', () => {
    expect(findCycles()).toEqual([]);
  });

  it('verbs never import verbs, and nothing below the verbs imports one', () => {
    const bad = [...GRAPH].flatMap(([f, deps]) =>
      deps.filter((d) => d.startsWith('commands/') && f !== 'cli.ts').map((d) => `${f} -> ${d}`),
    );
    expect(bad).toEqual([]);
  });

  // What each layer may import (besides itself). errors.ts and output.ts are leaves anyone may use.
  const ALLOWED: Record<string, readonly string[]> = {
    cli: ['errors', 'output', 'report', 'app', 'commands', 'usage'],
    // The read-only fast path (docs/architecture.md#the-read-only-fast-path): its entry hands over to cli.
    fast: ['fast-path', 'cli'],
    'fast-path': ['errors', 'output', 'app'],
    report: ['errors', 'output', 'secrets'],
    commands: ['errors', 'output', 'app', 'core', 'openclaw', 'service', 'secrets', 'registry', 'os', 'usage'],
    app: ['errors', 'output', 'core', 'openclaw', 'service', 'secrets', 'registry', 'os'],
    service: ['errors', 'core', 'openclaw', 'secrets', 'os'],
    core: ['errors', 'openclaw', 'registry', 'os'],
    openclaw: ['errors', 'core', 'os'],
    secrets: ['errors', 'os'],
    registry: ['errors'],
    os: ['errors'],
    errors: [],
    output: [],
    // The command line's words beside cac's table (actions, "did you mean"): for cli and completion.
    usage: ['errors'],
  };

  it('imports point down the layers', () => {
    const bad = [...GRAPH].flatMap(([f, deps]) => {
      const from = layerOf(f);
      const allowed = ALLOWED[from];
      if (!allowed) return [`${f}: layer '${from}' is not in the table`];
      return deps.filter((d) => layerOf(d) !== from && !allowed.includes(layerOf(d))).map((d) => `${f} -> ${d}`);
    });
    expect(bad).toEqual([]);
  });

  // Each door and its one home (like corepack's lint rule for its single fetch).
  const DOORS: Array<[string, RegExp, readonly string[]]> = [
    ['child processes', /node:child_process|\bchild_process\b/, ['os/proc.ts']],
    ['/proc', /['"`]\/proc\b/, ['os/proc.ts']],
    ['HTTP', /\bfetch\(/, ['os/http.ts']],
    // registry/libs.ts loads npm's libraries (from dist/npm-libs.cjs when built); registry/index.ts uses them.
    ['pacote', /['"]pacote['"]/, ['registry/index.ts', 'registry/libs.ts']],
    ['arborist', /['"]@npmcli\/arborist['"]|npmLib\(['"]Arborist['"]\)/, ['registry/index.ts', 'registry/libs.ts']],
    // (launchd's own ~/Library/Logs/openclaw/gateway.log is outside the home, so log names are not listed.)
    ['file names under the home', /['"`](?:lock-owner|journal|state|config|gateway\.pid|definition|adopted|process)\.json['"`]|['"`]recover-agent\.log['"`]/, ['core/layout.ts']],
  ];

  it.each(DOORS)('%s only in their home', (_name, re, homes) => {
    const users = FILES.filter((f) => re.test(TEXT.get(f)!.replace(/^\s*(?:\/\/|\*).*$/gm, '')));
    expect(users.filter((f) => !homes.includes(f))).toEqual([]);
  });

  it('no module registers closures into another module (no setter hooks)', () => {
    const setters = FILES.filter((f) => /export function set[A-Z]\w*\(\s*\w+:\s*\w*(Hook|Fn|Callback|Activate)\b/.test(TEXT.get(f)!));
    expect(setters).toEqual([]);
  });
});
