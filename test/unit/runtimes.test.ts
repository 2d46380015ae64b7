/**
 * Which node the home never runs implicitly (src/core/runtimes.ts): one inside a node_modules or a
 * checkout, unless it lies in the home itself. Real files in a temp dir.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeLayout } from '../../src/core/layout.js';
import { adoptRuntime, checkRuntime, projectLocalNode } from '../../src/core/runtimes.js';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'oc-runtimes-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function file(rel: string): string {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, '#!/bin/sh\n', { mode: 0o755 });
  return p;
}

describe('projectLocalNode', () => {
  const env = () => ({ HOME: path.join(root, 'user') });
  const layout = () => makeLayout(path.join(root, 'user', '.oc-versions'));

  it('a node in a node_modules or in a checkout is named with the reason', () => {
    expect(projectLocalNode(file('proj/node_modules/node/bin/node'), layout(), env())).toBe(`it lies inside ${path.join(root, 'proj', 'node_modules')}`);
    fs.mkdirSync(path.join(root, 'repo', '.git'), { recursive: true });
    expect(projectLocalNode(file('repo/tools/node/bin/node'), layout(), env())).toBe(`it lies inside the checkout ${path.join(root, 'repo')}`);
  });

  it("a system node, and the home's own runtimes, are fine", () => {
    expect(projectLocalNode(file('usr/local/bin/node'), layout(), env())).toBeNull();
    expect(projectLocalNode(file('user/.oc-versions/runtimes/24.0.0/bin/node'), layout(), env())).toBeNull();
  });

  it('a .git in HOME itself (dotfiles) does not make every node under HOME a checkout', () => {
    fs.mkdirSync(path.join(root, 'user', '.git'), { recursive: true });
    expect(projectLocalNode(file('user/.local/bin/node'), layout(), env())).toBeNull();
  });
});

describe('adoptRuntime', () => {
  it('copies this node into runtimes/<version>/ once, sealed; a damaged copy is found and replaced', async () => {
    const layout = makeLayout(path.join(root, 'home2'));
    const a = await adoptRuntime(layout, process.execPath);
    expect(a).toEqual({ node: path.join(layout.runtime(process.versions.node), 'bin', 'node'), version: process.versions.node, copied: true });
    expect(await checkRuntime(layout.runtime(process.versions.node))).toBeNull();
    expect((await adoptRuntime(layout, process.execPath)).copied).toBe(false);
    expect(fs.readdirSync(layout.runtimesDir)).toEqual([process.versions.node]);
    fs.chmodSync(a.node, 0o755);
    fs.appendFileSync(a.node, 'x');
    expect(await checkRuntime(layout.runtime(process.versions.node))).toMatch(/^bin\/node has sha256 .*, recorded /);
    expect((await adoptRuntime(layout, process.execPath)).copied).toBe(true);
    expect(await checkRuntime(layout.runtime(process.versions.node))).toBeNull();
    expect(fs.readdirSync(layout.runtimesDir)).toEqual([process.versions.node]);
  });
});
