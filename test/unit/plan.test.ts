import net from 'node:net';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { planTransition } from '../../src/core/upgrade.js';
import { ownsListener } from '../../src/os/proc.js';
import { parseFault } from '../../src/core/journal.js';
import { portFromArgs } from '../../src/app/service-port.js';

describe('planTransition (pure)', () => {
  it('a running service: snapshot, stage, flip, gate, rollback path', () => {
    const p = planTransition({ from: '2026.1.1', to: '2026.2.1', installed: false, serviceInstalled: true, noRestart: false, op: 'upgrade' });
    expect(p).toMatchObject({ stage: true, restart: true, noop: false });
    expect(p.steps.join('\n')).toMatch(/stage 2026\.2\.1[\s\S]*flip current 2026\.1\.1 → 2026\.2\.1[\s\S]*restarted\+responsive[\s\S]*flip back to 2026\.1\.1/);
  });
  it('--no-restart and no service only flip', () => {
    expect(planTransition({ from: 'a', to: '2026.2.1', installed: true, serviceInstalled: true, noRestart: true, op: 'use' })).toMatchObject({ stage: false, restart: false });
    expect(planTransition({ from: null, to: '2026.2.1', installed: false, serviceInstalled: false, noRestart: false, op: 'upgrade' }).steps.join()).toMatch(/no service installed/);
  });
  it('same version installed and current is a no-op', () => {
    expect(planTransition({ from: '2026.2.1', to: '2026.2.1', installed: true, serviceInstalled: true, noRestart: false, op: 'upgrade' }).noop).toBe(true);
  });
});

describe('the plan is the data the apply walks (table)', () => {
  const base = { from: '2026.1.1', to: '2026.2.1', op: 'upgrade' as const };
  it.each([
    ['stage + running service', { installed: false, serviceInstalled: true, noRestart: false }, ['begin', 'snapshot', 'stage', 'flip', 'definition', 'restart', 'gate', 'commit']],
    ['installed + running service', { installed: true, serviceInstalled: true, noRestart: false }, ['begin', 'snapshot', 'flip', 'definition', 'restart', 'gate', 'commit']],
    ['stage + --no-restart', { installed: false, serviceInstalled: true, noRestart: true }, ['begin', 'stage', 'flip', 'no-restart', 'commit']],
    ['installed, no service', { installed: true, serviceInstalled: false, noRestart: false }, ['begin', 'flip', 'no-restart', 'commit']],
  ])('%s', (_name, input, ids) => {
    const p = planTransition({ ...base, ...input });
    expect(p.actions.map((a) => a.id)).toEqual(ids);
    // The prose is exactly the actions' lines, in order.
    expect(p.steps).toEqual(p.actions.flatMap((a) => a.lines));
  });
  it('a no-op has no actions to walk', () => {
    expect(planTransition({ ...base, from: '2026.2.1', installed: true, serviceInstalled: true, noRestart: false }).actions).toEqual([]);
  });
});

describe('fault points', () => {
  it.each([
    ['stage:kill', { phase: 'stage', action: 'kill' }],
    ['rollback-gate:throw', { phase: 'rollback-gate', action: 'throw' }],
    ['', null],
    ['stage', null],
    ['stage:explode', null],
  ])('%j', (v, want) => expect(parseFault(v)).toEqual(want));
});

describe('probe port from the service arguments', () => {
  it.each([
    [['node', 'x', 'gateway', '--port', '18999'], 18999],
    [['node', 'x', 'gateway', '--port=4000'], 4000],
    [['node', 'x', 'gateway'], null],
    [['node', 'x', '--port', 'abc'], null],
  ])('%j → %j', (args, want) => expect(portFromArgs(args)).toBe(want));
});

describe('listener ownership (Linux /proc)', () => {
  it('knows which process owns a listening socket', async () => {
    const child = spawn(process.execPath, ['-e', `const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port)});setInterval(()=>{},1000)`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sibling = spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' });
    try {
      const port = await new Promise<number>((r) => child.stdout.once('data', (d) => r(Number(String(d).trim()))));
      expect(ownsListener(child.pid!, port).ok).toBe(true);
      // another process is not the owner: a foreign listener cannot pass for the service
      expect(ownsListener(sibling.pid!, port).ok).toBe(false);
      const mine = net.createServer();
      await new Promise<void>((r) => mine.listen(0, '127.0.0.1', () => r()));
      const myPort = (mine.address() as net.AddressInfo).port;
      expect(ownsListener(child.pid!, myPort).ok).toBe(false);
      expect(ownsListener(process.pid, myPort).ok).toBe(true);
      mine.close();
    } finally {
      child.kill('SIGKILL');
      sibling.kill('SIGKILL');
    }
  });
});
