/**
 * OpenClaw-style service definitions for adopt tests: an "old global install"
 * of the fake gateway outside the oc-versions home, the env-wrapper + .env
 * layout, and process cleanup through the doubles' recorded state.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { DOUBLES_DIR, FAKE_GATEWAY_SOURCE, type FakeHome } from './fake-home.js';
import { killRecordedJobs } from './launchd-model.js';

/** A global npm-style install of the fake gateway: <root>/global/lib/node_modules/openclaw. */
export async function makeGlobalInstall(root: string, version = '2026.9.1'): Promise<string> {
  const pkg = path.join(root, 'global', 'lib', 'node_modules', 'openclaw');
  await fsp.mkdir(path.join(pkg, 'dist'), { recursive: true });
  await fsp.writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'openclaw', version, type: 'module' }));
  await fsp.writeFile(path.join(pkg, 'dist', 'index.js'), FAKE_GATEWAY_SOURCE);
  return pkg;
}

/** OpenClaw's env wrapper: check the header, source the env file, exec the rest (exit 78 if invalid). */
export const ENV_WRAPPER = `#!/bin/sh
set -eu
env_file="$1"
shift
if ! head -n 1 "$env_file" | grep -q '^# openclaw service env'; then
  echo "openclaw env-wrapper: invalid env file $env_file" >&2
  exit 78
fi
set -a
. "$env_file"
set +a
exec "$@"
`;

export async function makeEnvWrapper(stateDir: string, label: string, env: Record<string, string>): Promise<{ wrapper: string; envFile: string }> {
  const dir = path.join(stateDir, 'service-env');
  await fsp.mkdir(dir, { recursive: true });
  const wrapper = path.join(dir, `${label}-env-wrapper.sh`);
  const envFile = path.join(dir, `${label}.env`);
  await fsp.writeFile(wrapper, ENV_WRAPPER, { mode: 0o700 });
  const lines = ['# openclaw service env (generated)', ...Object.entries(env).map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)];
  await fsp.writeFile(envFile, lines.join('\n') + '\n', { mode: 0o600 });
  return { wrapper, envFile };
}

export function serviceEnv(fake: FakeHome, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: `${DOUBLES_DIR}:${process.env['PATH'] ?? ''}`,
    HOME: fake.userHome,
    USER: process.env['USER'] ?? 'test',
    OC_DOUBLE_STATE: path.join(fake.root, 'double-state'),
    OC_VERSIONS_SECRET_STORE: 'none',
    ...extra,
  };
}

/** Kill every process a double recorded (test cleanup; only processes the doubles started). */
export function killDoubleJobs(fake: FakeHome): void {
  killRecordedJobs(path.join(fake.root, 'double-state'));
}
