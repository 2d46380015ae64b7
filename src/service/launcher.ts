/**
 * Renders shims/openclaw-gateway into <home>/bin/openclaw-gateway.
 * Placeholders (each inside single quotes in the shim): @OC_HOME@, @NODE@,
 * @DEFAULT_ENTRY@, @STANDBY_IMPORT@ (shims/standby.mjs as a base64 data: URL). Written to a temp file and renamed, so a service manager
 * starting the job never sees a half-written launcher.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OcError } from '../errors.js';
import { STANDBY_URL_PREFIX, renderShim, shimsSourceDir, standbyImport, writeShim } from '../core/shims.js';
import { STANDBY_FD_KEY } from '../os/proc.js';
import type { Config } from '../core/config.js';
import type { Layout } from '../core/layout.js';

export function renderGatewayShim(template: string, layout: Layout, config: Config, barrierSource: string): string {
  for (const [name, v] of [['home', layout.home], ['runtime node', config.runtimeNode]] as const) {
    if (!path.isAbsolute(v) || v.includes('\n') || v.includes('\0')) {
      throw new OcError('INVALID_INPUT', `${name} path must be absolute and on one line: ${v}`);
    }
  }
  const entry = config.serviceEntry[0] ?? 'dist/index.js';
  return renderShim(template, {
    OC_HOME: layout.home,
    NODE: config.runtimeNode,
    DEFAULT_ENTRY: `node_modules/${config.package}/${entry}`,
    STANDBY_IMPORT: standbyImport(barrierSource),
  });
}

/** The launcher as this oc-versions renders it for this home and config. */
export async function renderGatewayLauncher(layout: Layout, config: Config): Promise<string> {
  const [template, barrier] = await Promise.all(
    ['openclaw-gateway', 'standby.mjs'].map((f) => fsp.readFile(path.join(shimsSourceDir(), f), 'utf8')),
  );
  return renderGatewayShim(template!, layout, config, barrier!);
}

export async function installGatewayShim(layout: Layout, config: Config): Promise<string> {
  await writeShim(layout.gatewayShim, await renderGatewayLauncher(layout, config), 'the gateway launcher');
  return layout.gatewayShim;
}

/**
 * The service program is a launcher that honours a standby (this oc-versions' launcher, or one
 * rendered since the standby exists). Anything else (an adopted program, an older launcher) would
 * start the gateway at once: such a restart hands over without a standby.
 */
export async function launcherTakesStandby(program: string): Promise<boolean> {
  const text = await launcherHead(program);
  return text !== null && text.includes(`\${${STANDBY_FD_KEY}:-}`) && text.includes(`--import '${STANDBY_URL_PREFIX}`);
}

/** The launcher's env key naming the version dir to run (a handoff consume: docs/service.md#the-restart-handoff). */
export const VERSION_DIR_KEY = 'OC_VERSIONS_VERSION_DIR';

/** The service program is a launcher that runs the version OC_VERSIONS_VERSION_DIR names (rendered since the restart handoff). */
export async function launcherPinsVersion(program: string): Promise<boolean> {
  return ((await launcherHead(program)) ?? '').includes(`\${${VERSION_DIR_KEY}:-$home/current}`);
}

/** The first 64 KiB of a `#!/bin/sh` program, else null. */
async function launcherHead(program: string): Promise<string | null> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(program, 'r');
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('utf8');
    return text.startsWith('#!/bin/sh') ? text : null;
  } catch {
    return null;
  } finally {
    await fh?.close();
  }
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
