/**
 * Renders shims/openclaw-gateway into <home>/bin/openclaw-gateway.
 * Placeholders (each inside single quotes in the shim): @OC_HOME@, @NODE@,
 * @DEFAULT_ENTRY@. Written to a temp file and renamed, so a service manager
 * starting the job never sees a half-written launcher.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import { renderShim, shimsSourceDir, writeShim } from '../core/shims.js';
import type { Config } from '../core/config.js';
import type { Layout } from '../core/layout.js';

export function renderGatewayShim(template: string, layout: Layout, config: Config): string {
  for (const [name, v] of [['home', layout.home], ['runtime node', config.runtimeNode]] as const) {
    if (!path.isAbsolute(v) || v.includes('\n') || v.includes('\0')) {
      throw new OcError('INVALID_INPUT', `${name} path must be absolute and on one line: ${v}`);
    }
  }
  const entry = config.serviceEntry[0] ?? 'dist/index.js';
  return renderShim(template, { OC_HOME: layout.home, NODE: config.runtimeNode, DEFAULT_ENTRY: `node_modules/${config.package}/${entry}` });
}

/** The launcher as this oc-versions renders it for this home and config. */
export async function renderGatewayLauncher(layout: Layout, config: Config): Promise<string> {
  const template = await fsp.readFile(path.join(shimsSourceDir(), 'openclaw-gateway'), 'utf8');
  return renderGatewayShim(template, layout, config);
}

export async function installGatewayShim(layout: Layout, config: Config): Promise<string> {
  await writeShim(layout.gatewayShim, await renderGatewayLauncher(layout, config), 'the gateway launcher');
  return layout.gatewayShim;
}

/** Throws NOT_FOUND when the launcher is missing or not executable. */
export async function assertLauncher(launcher: string): Promise<void> {
  try {
    await fsp.access(launcher, 0o1);
  } catch {
    throw new OcError('NOT_FOUND', `service launcher ${launcher} does not exist or is not executable`, {
      hint: 'install a version first (oc-versions install <version>), which writes the launcher',
    });
  }
}
