/**
 * macOS login keychain through `security`. `add-generic-password ... -w` with
 * -w as the LAST argument makes `security` read the password from stdin, so the
 * value never appears in argv (visible to every user via ps).
 */
import { OcError } from '../errors.js';
import { run } from '../os/proc.js';
import { SECRET_SERVICE_NAME, type SecretStore } from './types.js';

export function createKeychainStore(env: NodeJS.ProcessEnv, security = 'security'): SecretStore {
  const opts = { env, timeoutMs: 15_000 };
  return {
    kind: 'keychain',
    async available() {
      if (process.platform !== 'darwin') return false;
      const r = await run(security, ['show-keychain-info'], opts);
      return r.error === undefined && r.code === 0;
    },
    async get(name) {
      const r = await run(security, ['find-generic-password', '-s', SECRET_SERVICE_NAME, '-a', name, '-w'], opts);
      if (r.code !== 0) return undefined;
      return r.stdout.replace(/\n$/, '');
    },
    async set(name, value) {
      // Prompted twice when interactive ("password data" + "retype"): give it both lines.
      const r = await run(security, ['add-generic-password', '-U', '-s', SECRET_SERVICE_NAME, '-a', name, '-w'], {
        ...opts,
        input: `${value}\n${value}\n`,
      });
      if (r.code !== 0) throw new OcError('ENVIRONMENT', `keychain refused to store ${name}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
    },
    async delete(name) {
      await run(security, ['delete-generic-password', '-s', SECRET_SERVICE_NAME, '-a', name], opts);
    },
  };
}
