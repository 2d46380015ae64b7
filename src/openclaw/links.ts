/**
 * OpenClaw keeps absolute links from its state dir into the install tree it runs
 * from (plugin-skills/<skill> -> <pkg>/dist/extensions/..., plugins linking the
 * host package). These find the links that point into a version tree, and the
 * dangling ones, so a switch can be gated on them and prune/uninstall can refuse
 * to delete a tree that is still linked.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Layout } from '../core/layout.js';
import { parseExactVersion } from '../core/versions.js';
import { processesUnder } from '../os/proc.js';

export interface StateLink {
  link: string;
  target: string;
  /** version whose tree the target lies in, or null if outside versions/ */
  version: string | null;
  dangling: boolean;
}

const MAX_DEPTH = 8;
const MAX_ENTRIES = 200_000;
// Large trees OpenClaw keeps that hold no links into the install we care about.
const SKIP_DIRS = new Set(['node_modules', 'logs', 'tmp', 'media', '.git']);

export async function scanStateLinks(layout: Layout, stateDir: string | null): Promise<StateLink[]> {
  if (!stateDir) return [];
  const found: StateLink[] = [];
  const versionsRoot = layout.versionsDir + path.sep;
  let seen = 0;
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH || seen > MAX_ENTRIES) return;
    let ents;
    try {
      ents = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const ent of ents) {
      seen++;
      const p = path.join(dir, ent.name);
      if (ent.isSymbolicLink()) {
        let raw: string;
        try {
          raw = await fsp.readlink(p);
        } catch {
          continue;
        }
        const target = path.resolve(path.dirname(p), raw);
        let dangling = false;
        try {
          await fsp.stat(p);
        } catch {
          dangling = true;
        }
        let version: string | null = null;
        if (target.startsWith(versionsRoot)) {
          const first = target.slice(versionsRoot.length).split(path.sep)[0] ?? '';
          version = parseExactVersion(first);
        }
        // plugins may link through `current`: that follows the switch, so it pins nothing
        found.push({ link: p, target, version, dangling });
      } else if (ent.isDirectory() && !SKIP_DIRS.has(ent.name)) {
        await walk(p, depth + 1);
      }
    }
  };
  await walk(stateDir, 0);
  return found;
}

export function linksInto(links: readonly StateLink[], version: string): StateLink[] {
  return links.filter((l) => l.version === version);
}

/**
 * Processes running from a version tree (Linux /proc: an argv entry or the cwd
 * under versions/<v>/). Deleting that tree would pull files from under a live
 * import graph (invariant 1), so prune/uninstall refuse it. Empty where /proc is absent.
 */
export async function processesUsing(layout: Layout, version: string): Promise<Array<{ pid: number; arg: string }>> {
  return processesUnder(layout.version(version) + path.sep);
}
