/**
 * Freedesktop Secret Service (gnome-keyring, KeePassXC, ...) through
 * `secret-tool`. `secret-tool store` reads the value from stdin; attributes are
 * `service oc-versions key <name>`.
 */
import { OcError } from '../errors.js';
import { run } from '../os/proc.js';
import { SECRET_SERVICE_NAME, type SecretStore } from './types.js';

export function createSecretServiceStore(env: NodeJS.ProcessEnv, secretTool = 'secret-tool'): SecretStore {
  const opts = { env, timeoutMs: 15_000 };
  const attrs = (name: string) => ['service', SECRET_SERVICE_NAME, 'key', name];
  let availability: Promise<boolean> | undefined;
  return {
    kind: 'secret-service',
    available() {
      availability ??= (async () => {
        // No session bus: libsecret would try X11 autolaunch and fail slowly.
        if (!env['DBUS_SESSION_BUS_ADDRESS']) return false;
        const r = await run(secretTool, ['lookup', ...attrs('oc-versions-probe')], { ...opts, timeoutMs: 10_000 });
        // lookup of a missing item exits 1 silently; any diagnostic means no usable service.
        return r.error === undefined && !r.timedOut && (r.code === 0 || (r.code === 1 && r.stderr.trim() === ''));
      })();
      return availability;
    },
    async get(name) {
      const r = await run(secretTool, ['lookup', ...attrs(name)], opts);
      if (r.code !== 0) return undefined;
      return r.stdout;
    },
    async set(name, value) {
      const r = await run(secretTool, ['store', `--label=oc-versions ${name}`, ...attrs(name)], { ...opts, input: value });
      if (r.code !== 0) {
        throw new OcError('ENVIRONMENT', `secret service refused to store ${name}: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}`);
      }
    },
    async delete(name) {
      await run(secretTool, ['clear', ...attrs(name)], opts);
    },
  };
}
