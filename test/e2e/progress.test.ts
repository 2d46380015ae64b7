/**
 * The progress display (issue 12) through the built CLI against the shared verdaccio:
 * under a real pseudo-terminal a live display (log-update's cursor moves and erases, the
 * phases, the bytes received) with only the result on stdout; through a pipe plain lines
 * without one escape sequence; nothing with --quiet; with --json one document on stdout and
 * progress only with --progress; no colour with NO_COLOR or --no-color; and an upgrade's
 * canary, restart and gate stages as lines.
 *
 * The terminal is python3's `pty` module: it gives the CLI a real pseudo-terminal on stderr
 * (isatty true, a window size) while stdout goes to a file, so the test can read the terminal's
 * bytes exactly as written and the result separately. (`script` puts stdout and stderr on the
 * same terminal; tmux shows the rendered screen, not the control sequences.)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { CLI, makeTestEnv, runCli, type TestEnv } from '../helpers/cli.js';
import { gatewayHost, type GatewayHost } from '../helpers/gateway.js';
import { tarballPath } from '../helpers/registry.js';

let t: TestEnv;
const reg = () => inject('registryUrl');
beforeEach(async () => {
  t = await makeTestEnv(reg());
});
afterEach(async () => {
  await t.cleanup();
});

/** Fork the CLI with a pseudo-terminal as stdin and stderr, stdout into a file; print the terminal's bytes. */
const PTY_RUN = `
import fcntl, os, pty, signal, struct, sys, termios
out_path, argv = sys.argv[1], sys.argv[2:]
trigger = os.environ.get('PTY_INTERRUPT_ON', '').encode()
pid, fd = pty.fork()
if pid == 0:
    o = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(o, 1)
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 160, 0, 0))
chunks = []
sent = False
while True:
    try:
        b = os.read(fd, 65536)
    except OSError:
        break
    if not b:
        break
    chunks.append(b)
    if trigger and not sent and trigger in b''.join(chunks):
        os.kill(pid, signal.SIGINT)
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(b''.join(chunks))
code = os.waitstatus_to_exitcode(status)
sys.exit(128 - code if code < 0 else code)
`;

/**
 * Run the CLI under a pseudo-terminal: {code (128+n when killed by signal n), terminal (its
 * stderr as written), stdout}. With PTY_INTERRUPT_ON in env, SIGINT once that text has appeared.
 */
async function runInPty(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; terminal: string; stdout: string }> {
  const outFile = path.join(t.home, '..', `pty-stdout-${Date.now()}`);
  const r = await new Promise<{ code: number | null; terminal: string; err: string }>((resolve, reject) => {
    const child = spawn('python3', ['-c', PTY_RUN, outFile, process.execPath, CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let terminal = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (terminal += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, terminal, err });
    });
  });
  expect(r.err).toBe('');
  const stdout = await fsp.readFile(outFile, 'utf8');
  return { code: r.code, terminal: r.terminal, stdout };
}

const ESC = '\u001b';
/** Any escape sequence (CSI cursor moves, erases, colours). */
const ANY_ESCAPE = /\u001b/;
/** SGR colour codes (ESC [ … m). */
const COLOR = /\u001b\[[0-9;]*m/;
/** log-update's redraw: cursor up / erase line. */
const CURSOR_UP = /\u001b\[\d*A/;
const ERASE_LINE = /\u001b\[2K/;
const strip = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');

describe('progress on a terminal (pseudo-terminal)', () => {
  it('install draws a live display on stderr: log-update redraws, each phase, the bytes received; stdout holds only the result', async () => {
    const r = await runInPty(['install', '2026.2.1'], { ...t.env, TERM: 'xterm-256color' });
    expect(r.code, r.terminal).toBe(0);
    expect(r.stdout).toBe(`installed openclaw@2026.2.1 in ${path.join(t.ocHome, 'versions', '2026.2.1')} (now current)\n`);
    // a live display: frames redrawn in place (cursor up, erase line) and the cursor hidden while it runs
    expect(r.terminal).toMatch(CURSOR_UP);
    expect(r.terminal).toMatch(ERASE_LINE);
    expect(r.terminal).toContain(`${ESC}[?25l`);
    expect(r.terminal).toContain(`${ESC}[?25h`);
    expect(r.terminal).toMatch(COLOR);
    const plain = strip(r.terminal);
    for (const phase of ['resolving openclaw@2026.2.1', 'resolving the dependency tree', 'downloading and unpacking', "running openclaw's lifecycle scripts", 'validating 2026.2.1', 'sealing 2026.2.1']) {
      expect(plain, phase).toContain(`✔ ${phase}`);
    }
    // the download phase's persisted line: the bytes the sockets received and the rate, the packages
    expect(plain).toMatch(/✔ downloading and unpacking [^\n]*· \d+(\.\d)? (B|kB|MB) received \([^)]*\/s\), 1\/1 package\(s\)/);
    // each validation check on its own line
    for (const check of ['entrypoints', 'inventory', 'import-closure', 'runtime', 'lifecycle', 'smoke']) expect(plain).toMatch(new RegExp(`ok {3}${check} \\(\\d+ ms\\)`));
  });

  it('NO_COLOR=1 and --no-color: a live display without a colour code', async () => {
    const a = await runInPty(['install', '2026.1.1'], { ...t.env, TERM: 'xterm-256color', NO_COLOR: '1' });
    expect(a.code, a.terminal).toBe(0);
    expect(a.terminal).toMatch(ERASE_LINE);
    expect(a.terminal).not.toMatch(COLOR);
    const b = await runInPty(['install', '2026.2.1', '--no-color'], { ...t.env, TERM: 'xterm-256color' });
    expect(b.code, b.terminal).toBe(0);
    expect(b.terminal).toMatch(ERASE_LINE);
    expect(b.terminal).not.toMatch(COLOR);
    expect(b.terminal).toContain('validating 2026.2.1');
  });

  it('a failure ends the display first: the error and hint lines come last and are not erased', async () => {
    const r = await runInPty(['install', '2099.1.1'], { ...t.env, TERM: 'xterm-256color' });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    // (the cursor is shown again at exit: escape sequences are left out of the lines)
    const tail = strip(r.terminal).split(/\r?\n/).filter(Boolean).slice(-2);
    expect(tail[0]).toMatch(/^oc-versions: openclaw@2099\.1\.1 is not in the registry/);
    expect(tail[1]).toMatch(/^oc-versions: hint: /);
    // nothing after the error lines moves the cursor or erases
    const after = r.terminal.slice(r.terminal.indexOf('oc-versions: openclaw@2099.1.1'));
    expect(after).not.toMatch(CURSOR_UP);
    expect(after).not.toMatch(ERASE_LINE);
    expect(strip(r.terminal)).toContain('✖ resolving openclaw@2099.1.1');
  });

  it('SIGINT: the display stops (its phase marked interrupted, the cursor back) and the process dies of the signal', async () => {
    const r = await runInPty(['install', '2026.2.1'], { ...t.env, TERM: 'xterm-256color', PTY_INTERRUPT_ON: 'validating 2026.2.1' });
    expect(r.code, strip(r.terminal)).toBe(130);
    expect(r.stdout).toBe('');
    const plain = strip(r.terminal);
    expect(plain).toMatch(/✖ validating 2026\.2\.1 \([\d.]+ s, interrupted\)/);
    // the cursor is shown again after the last frame
    expect(r.terminal.lastIndexOf(`${ESC}[?25h`)).toBeGreaterThan(r.terminal.lastIndexOf(`${ESC}[?25l`));
    expect(fs.existsSync(path.join(t.ocHome, 'versions', '2026.2.1'))).toBe(false);
    // the lock was released on the way out: the next command runs
    const again = await runCli(['install', '2026.2.1', '--quiet'], t.env);
    expect(again.code, again.stderr).toBe(0);
  });
});

describe('progress through a pipe', () => {
  it('install: plain lines, no escape sequence, each phase named, the bytes in the download line', async () => {
    const r = await runCli(['install', '2026.2.1'], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`installed openclaw@2026.2.1 in ${path.join(t.ocHome, 'versions', '2026.2.1')} (now current)\n`);
    expect(r.stderr).not.toMatch(ANY_ESCAPE);
    const lines = r.stderr.trim().split('\n');
    expect(lines.every((l) => l.startsWith('oc-versions: ')), r.stderr).toBe(true);
    const expected = [
      /^oc-versions: resolving openclaw@2026\.2\.1$/,
      /^oc-versions: installing openclaw@2026\.2\.1 into staging \(with its dependency tree\)$/,
      /^oc-versions: resolving the dependency tree of openclaw@2026\.2\.1$/,
      /^oc-versions: downloading and unpacking openclaw@2026\.2\.1 and its dependencies$/,
      /^oc-versions: download done in \d+\.\d s: \d+(\.\d)? (B|kB|MB) received \([^)]*\/s\), 1\/1 package\(s\)$/,
      /^oc-versions: running openclaw's lifecycle scripts$/,
      /^oc-versions: validating 2026\.2\.1$/,
      /^oc-versions: {3}ok {3}entrypoints \(\d+ ms\)$/,
      /^oc-versions: sealing 2026\.2\.1 and moving it into versions\/$/,
    ];
    let at = 0;
    for (const re of expected) {
      const i = lines.findIndex((l, k) => k >= at && re.test(l));
      expect(i, `${re} after line ${at}:\n${r.stderr}`).toBeGreaterThanOrEqual(at);
      at = i + 1;
    }
  });

  it('the bytes reported are the bytes that came over the wire: the tarball and its response headers, from a cold cache', async () => {
    const r = await runCli(['install', '2026.2.1'], t.env);
    expect(r.code, r.stderr).toBe(0);
    const m = /download done in [\d.]+ s: (\d+(?:\.\d)?) (B|kB|MB) received/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const shown = Number(m![1]) * { B: 1, kB: 1e3, MB: 1e6 }[m![2] as 'B' | 'kB' | 'MB'];
    // One tarball was downloaded (the packuments came during the tree phase): its size, plus the
    // HTTP response headers (well under 2 kB), within the display's rounding (one decimal).
    const tarball = fs.statSync(tarballPath(inject('registryStorage'), 'openclaw', '2026.2.1')).size;
    const rounding = shown >= 1e3 ? 0.05 * shown : 0;
    expect(shown).toBeGreaterThanOrEqual(tarball - rounding);
    expect(shown).toBeLessThanOrEqual(tarball + 2_000 + rounding);
  });

  it('--quiet: nothing on stderr', async () => {
    const r = await runCli(['install', '2026.2.1', '--quiet'], t.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('installed openclaw@2026.2.1');
  });

  it('--json: one document on stdout and no progress; --json --progress: the progress lines on stderr', async () => {
    const j = await runCli(['install', '2026.1.1', '--json'], t.env);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ version: '2026.1.1', current: true });
    expect(j.stderr).toBe('');
    const p = await runCli(['install', '2026.2.1', '--json', '--progress'], t.env);
    expect(p.code, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout)).toMatchObject({ version: '2026.2.1', alreadyInstalled: false });
    expect(p.stderr).toMatch(/^oc-versions: installing openclaw@2026\.2\.1 /m);
    expect(p.stderr).toMatch(/^oc-versions: validating 2026\.2\.1$/m);
    expect(p.stderr).toMatch(/^oc-versions: download done in /m);
    expect(p.stderr).not.toMatch(ANY_ESCAPE);
  });
});

describe('upgrade progress through a pipe (process backend, real fixture gateways)', () => {
  let h: GatewayHost | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('shows the snapshot, the canary, the flip, the restart and each gate stage and the settle as lines', async () => {
    h = await gatewayHost(reg(), '2026.1.1');
    const r = await h.cli('upgrade', '2026.2.1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(ANY_ESCAPE);
    expect(r.stdout).toMatch(/^2026\.1\.1 → 2026\.2\.1: upgraded/);
    const expected = [
      /^oc-versions: snapshot: /,
      /^oc-versions: staging 2026\.2\.1$/,
      /^oc-versions: download done in /,
      /^oc-versions: validating 2026\.2\.1$/,
      /^oc-versions: canary: 2026\.2\.1 on a copy of the live state/,
      /^oc-versions: {3}ok {3}canary \(\d+ ms\)$/,
      /^oc-versions: flipping current 2026\.1\.1 → 2026\.2\.1$/,
      /^oc-versions: restarting the gateway \(process /,
      /^oc-versions: gate: responsive /,
      /^oc-versions: {3}ok {3}restarted\+responsive \(\d+ ms\)/,
      /^oc-versions: gate: right version \(2026\.2\.1/,
      /^oc-versions: {3}ok {3}version \(\d+ ms\)/,
      /^oc-versions: gate: deep checks/,
      /^oc-versions: settling 2026\.2\.1: /,
      /^oc-versions: {3}ok {3}settle \(\d+ ms\)/,
    ];
    const lines = r.stderr.split('\n');
    let at = 0;
    for (const re of expected) {
      const i = lines.findIndex((l, k) => k >= at && re.test(l));
      expect(i, `${re} after line ${at}:\n${r.stderr}`).toBeGreaterThanOrEqual(at);
      at = i + 1;
    }
    const quiet = await h.cli('rollback', '--json');
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });
});
