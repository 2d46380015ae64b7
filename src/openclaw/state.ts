/**
 * Where OpenClaw keeps its state and config, which databases it holds, and how
 * secret values in its config are replaced by placeholders before a copy is
 * written anywhere under the oc-versions home (invariant 4).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** The state dir: configured, else OPENCLAW_STATE_DIR, else ~/.openclaw (absolute), or null without a HOME. */
export function resolveStateDir(configured: string | undefined, env: NodeJS.ProcessEnv): string | null {
  if (configured) return path.resolve(configured);
  if (env['OPENCLAW_STATE_DIR']) return path.resolve(env['OPENCLAW_STATE_DIR']);
  if (env['HOME']) return path.join(env['HOME'], '.openclaw');
  return null;
}

/** The config file: OPENCLAW_CONFIG_PATH, else <stateDir>/openclaw.json. */
export function resolveConfigPath(stateDir: string | null, env: NodeJS.ProcessEnv): string | null {
  return env['OPENCLAW_CONFIG_PATH'] ?? (stateDir ? path.join(stateDir, 'openclaw.json') : null);
}

/** State databases relative to the state dir: the shared state DB, then each agent's. */
export async function listStateDatabases(stateDir: string): Promise<string[]> {
  const found: string[] = [];
  const main = path.join('state', 'openclaw.sqlite');
  if (fs.existsSync(path.join(stateDir, main))) found.push(main);
  let agents: string[] = [];
  try {
    agents = await fsp.readdir(path.join(stateDir, 'agents'));
  } catch {
    // no agents
  }
  for (const id of agents.sort()) {
    const rel = path.join('agents', id, 'agent', 'openclaw-agent.sqlite');
    if (fs.existsSync(path.join(stateDir, rel))) found.push(rel);
  }
  return found;
}

/**
 * A `key: "value"` pair in JSON/JSON5 text: quote, key, separator, value quote, raw value.
 * Shared by the snapshot's redaction and the canary, which swaps the same values for env references.
 */
export const CONFIG_PAIR_RE = /(["']?)([A-Za-z0-9_$-]+)\1(\s*:\s*)(["'])((?:\\.|(?!\4)[^\\])*)\4/g;

/** Replace string values of secret-looking keys in JSON/JSON5 text with placeholders. */
export function redactConfigText(text: string, pattern: string): { text: string; redacted: string[] } {
  const re = new RegExp(pattern, 'i');
  const counts = new Map<string, number>();
  const redacted: string[] = [];
  const out = text.replace(CONFIG_PAIR_RE, (all, q: string, key: string, sep: string, vq: string) => {
    if (!re.test(key)) return all;
    const n = counts.get(key) ?? 0;
    counts.set(key, n + 1);
    const name = `config/${key}#${n}`;
    redacted.push(name);
    return `${q}${key}${q}${sep}${vq}oc-secret:${name}${vq}`;
  });
  return { text: out, redacted };
}

/** Values of the nth occurrence of each secret-looking key in a live config text. */
export function configSecretValues(text: string, pattern: string): Map<string, string> {
  const re = new RegExp(pattern, 'i');
  const counts = new Map<string, number>();
  const values = new Map<string, string>();
  for (const m of text.matchAll(CONFIG_PAIR_RE)) {
    const key = m[2]!;
    if (!re.test(key)) continue;
    const n = counts.get(key) ?? 0;
    counts.set(key, n + 1);
    values.set(`config/${key}#${n}`, m[5]!);
  }
  return values;
}
