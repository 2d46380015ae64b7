/**
 * One interrupt path (issue 32): SIGINT or SIGTERM to the CLI at each install phase, stderr to a
 * file (not a terminal): exit 130 / 143, exactly one line, never "a bug", and the next command
 * cleans what was left (asserted on disk).
 *
 * How each phase is hit, without timing guesses:
 *  - resolve: a proxy in front of the test registry holds the packument request; once it is held,
 *    the CLI is waiting on it;
 *  - download: the proxy sends the tarball's headers and half its bytes, then holds; once sent, the
 *    CLI is inside arborist's reify with a staging dir and the lock;
 *  - validate, seal: OC_VERSIONS_FAULT=install/<phase>:pause stops the install right after the phase
 *    starts and creates OC_VERSIONS_FAULT_PAUSED.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { LATEST_VERSION } from '../helpers/fixtures.js';
import { CLI, REPO, makeTestEnv, runCli, type TestEnv } from '../helpers/cli.js';

type Hold = 'packument' | 'tarball' | null;

/** A proxy on 127.0.0.1 in front of the registry; `hold` picks the request it stalls. */
interface Proxy {
  url: string;
  hold: Hold;
  /** Resolves when the held request has been stalled (for a tarball: after half its bytes). */
  held: Promise<void>;
  rearm(hold: Hold): void;
  close(): Promise<void>;
}

async function startProxy(target: string): Promise<Proxy> {
  const upstream = new URL(target);
  const stalled = new Set<http.ServerResponse>();
  let markHeld: () => void = () => {};
  const proxy: Proxy = {
    url: '',
    hold: null,
    held: Promise.resolve(),
    rearm(hold) {
      proxy.hold = hold;
      proxy.held = new Promise((r) => (markHeld = r));
    },
    close: () =>
      new Promise((r) => {
        for (const res of stalled) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  const server = http.createServer((req, res) => {
    const isTarball = /\.tgz$/.test(req.url ?? '');
    if (proxy.hold === 'packument' && !isTarball && req.method === 'GET' && /^\/openclaw\/?$/.test(req.url ?? '')) {
      stalled.add(res);
      markHeld();
      return; // never answered
    }
    const up = http.request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
      (ur) => {
        if (proxy.hold === 'tarball' && isTarball) {
          const chunks: Buffer[] = [];
          ur.on('data', (c: Buffer) => chunks.push(c));
          ur.on('end', () => {
            const body = Buffer.concat(chunks);
            res.writeHead(ur.statusCode ?? 200, { ...ur.headers, 'content-length': String(body.length) });
            res.write(body.subarray(0, Math.floor(body.length / 2)), () => markHeld());
            stalled.add(res); // the rest never comes
          });
          return;
        }
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  return proxy;
}

/** The CLI with stderr (and stdout) to files, as a script or a service manager runs it. */
function spawnToFiles(args: string[], env: NodeJS.ProcessEnv, dir: string) {
  const errFile = path.join(dir, `stderr-${Date.now()}.txt`);
  const outFile = path.join(dir, `stdout-${Date.now()}.txt`);
  const err = fs.openSync(errFile, 'w');
  const out = fs.openSync(outFile, 'w');
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', out, err] });
  fs.closeSync(err);
  fs.closeSync(out);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, stderr: () => fs.readFileSync(errFile, 'utf8'), stdout: () => fs.readFileSync(outFile, 'utf8') };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
}

const stagingOf = (ocHome: string) => (fs.existsSync(path.join(ocHome, 'staging')) ? fs.readdirSync(path.join(ocHome, 'staging')) : []);

let proxy: Proxy;
let t: TestEnv;
beforeAll(async () => {
  proxy = await startProxy(inject('registryUrl'));
});
afterAll(async () => {
  await proxy?.close();
});
beforeEach(async () => {
  t = await makeTestEnv(proxy.url);
});
afterEach(async () => {
  await t.cleanup();
});

const PHASES = ['resolve', 'download', 'validate', 'seal'] as const;
const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const;

/** Start `install` and bring it to `phase`; returns the running child. */
async function installUntil(phase: (typeof PHASES)[number], extraArgs: string[] = []) {
  const paused = path.join(t.home, 'paused');
  proxy.rearm(phase === 'resolve' ? 'packument' : phase === 'download' ? 'tarball' : null);
  const env = phase === 'validate' || phase === 'seal' ? { ...t.env, OC_VERSIONS_FAULT: `install/${phase}:pause`, OC_VERSIONS_FAULT_PAUSED: paused } : t.env;
  const run = spawnToFiles(['install', LATEST_VERSION, ...extraArgs], env, t.home);
  if (phase === 'resolve' || phase === 'download') await Promise.race([proxy.held, run.exited]);
  else await until(() => fs.existsSync(paused) || run.child.exitCode !== null);
  expect(run.child.exitCode, run.stderr()).toBeNull(); // still running, in the phase
  return run;
}

describe('install interrupted at each phase, stderr to a file', () => {
  for (const phase of PHASES) {
    for (const [signal, code] of SIGNALS) {
      it(`${signal} during ${phase}: exit ${code}, one line, no "bug"; the next command cleans what was left`, async () => {
        const run = await installUntil(phase, ['--quiet']);
        const pid = run.child.pid!;
        if (phase !== 'resolve') expect(stagingOf(t.ocHome).some((n) => n.includes(`.${pid}.`))).toBe(true);
        run.child.kill(signal);
        const r = await run.exited;
        proxy.rearm(null);
        expect(r).toEqual({ code, signal: null });
        const lines = run.stderr().split('\n').filter(Boolean);
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(new RegExp(`^oc-versions: install interrupted by ${signal} during ${phase}; `));
        expect(lines[0]).not.toMatch(/bug|report it/i);
        expect(run.stdout()).toBe('');
        // The lock is free the moment it exits (proper-lockfile's exit hook; the owner file is ours to remove).
        expect(fs.existsSync(path.join(t.ocHome, 'lock'))).toBe(false);
        expect(fs.existsSync(path.join(t.ocHome, 'lock-owner.json'))).toBe(false);
        if (phase === 'resolve') {
          expect(lines[0]).toMatch(/nothing was left behind$/);
          expect(stagingOf(t.ocHome)).toEqual([]);
        } else {
          expect(lines[0]).toMatch(new RegExp(`left a staging dir \\(staging/${LATEST_VERSION.replace(/\./g, '\\.')}\\.${pid}\\.[0-9a-f]+\\); the next oc-versions command cleans it \\(or run oc-versions recover\\)$`));
          expect(stagingOf(t.ocHome).some((n) => n.includes(`.${pid}.`))).toBe(true);
        }
        expect(fs.existsSync(path.join(t.ocHome, 'versions', LATEST_VERSION))).toBe(false);
        // The next command: the interrupted install again, to the end; it sweeps the staging dir.
        const next = await runCli(['install', LATEST_VERSION], t.env);
        expect(next.code, next.stderr).toBe(0);
        if (phase !== 'resolve') expect(next.stderr).toMatch(/removed leftovers of an interrupted operation: .*\.\d+\.[0-9a-f]+/);
        expect(stagingOf(t.ocHome)).toEqual([]);
        expect(fs.existsSync(path.join(t.ocHome, 'versions', LATEST_VERSION))).toBe(true);
        expect(fs.existsSync(path.join(t.ocHome, 'lock-owner.json'))).toBe(false);
      });
    }
  }

  it('without --quiet the interrupt is still one line, the last; with --json stdout is the INTERRUPTED error document', async () => {
    const run = await installUntil('download', ['--json', '--progress']);
    run.child.kill('SIGINT');
    expect(await run.exited).toEqual({ code: 130, signal: null });
    proxy.rearm(null);
    const lines = run.stderr().split('\n').filter(Boolean);
    expect(lines.filter((l) => /interrupted/.test(l))).toHaveLength(1);
    expect(lines.at(-1)).toMatch(/^oc-versions: install interrupted by SIGINT during download; left a staging dir/);
    expect(lines.join('\n')).not.toMatch(/bug|process terminated/i);
    const doc = JSON.parse(run.stdout());
    expect(doc).toMatchObject({
      schemaVersion: 1,
      changed: false,
      error: { code: 'INTERRUPTED', exitCode: 130, signal: 'SIGINT', phase: 'download', hint: 'the next oc-versions command cleans it (or run oc-versions recover)' },
    });
    expect(doc.error.left).toEqual([expect.stringMatching(/^a staging dir /)]);
    const schemas = path.join(REPO, 'docs', 'schemas');
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
    for (const f of fs.readdirSync(schemas).filter((n) => n.endsWith('.schema.json'))) ajv.addSchema(JSON.parse(fs.readFileSync(path.join(schemas, f), 'utf8')));
    const validate = ajv.getSchema('https://github.com/openclaw/oc-versions/blob/main/docs/schemas/error.schema.json')!;
    expect(validate(doc) ? [] : validate.errors).toEqual([]);
  });
});
