/**
 * Renders shims/openclaw-gateway into <home>/bin/openclaw-gateway.
 * Placeholders (each inside single quotes in the shim): @OC_HOME@, @NODE@,
 * @DEFAULT_ENTRY@. Written to a temp file and renamed, so a service manager
 * starting the job never sees a half-written launcher.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OcError, fromFsError } from '../errors.js';
import type { Config } from '../core/config.js';
import type { Layout } from '../core/layout.js';

export const GATEWAY_SHIM_SOURCE = fileURLToPath(new URL('../../shims/openclaw-gateway', import.meta.url));

/** Escape for a value placed between single quotes in sh. */
function shSingle(v: string): string {
  return v.replace(/'/g, `'\\''`);
}

export function renderGatewayShim(template: string, layout: Layout, config: Config): string {
  for (const [name, v] of [['home', layout.home], ['runtime node', config.runtimeNode]] as const) {
    if (!path.isAbsolute(v) || v.includes('\n') || v.includes('\0')) {
      throw new OcError('INVALID_INPUT', `${name} path must be absolute and on one line: ${v}`);
    }
  }
  const entry = config.serviceEntry[0] ?? 'dist/index.js';
  const defaultEntry = `node_modules/${config.package}/${entry}`;
  return template
    .replaceAll('@OC_HOME@', shSingle(layout.home))
    .replaceAll('@NODE@', shSingle(config.runtimeNode))
    .replaceAll('@DEFAULT_ENTRY@', shSingle(defaultEntry));
}

export async function installGatewayShim(layout: Layout, config: Config): Promise<string> {
  const template = await fsp.readFile(GATEWAY_SHIM_SOURCE, 'utf8');
  const text = renderGatewayShim(template, layout, config);
  // Unchanged: leave the file alone (a failed command must change nothing on disk).
  if ((await fsp.readFile(layout.gatewayShim, 'utf8').catch(() => null)) === text) return layout.gatewayShim;
  const tmp = `${layout.gatewayShim}.tmp-${process.pid}`;
  try {
    await fsp.mkdir(layout.binDir, { recursive: true });
    await fsp.writeFile(tmp, text, { mode: 0o755 });
    await fsp.chmod(tmp, 0o755);
    await fsp.rename(tmp, layout.gatewayShim);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw fromFsError(e, 'installing the gateway launcher') ?? e;
  }
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
