/**
 * Secret store selection: keychain on macOS, Secret Service on Linux when a
 * session bus answers, otherwise `none` (values then stay only where the user
 * put them, and in memory during an operation). `OC_VERSIONS_SECRET_STORE`
 * (keychain | secret-service | none) in the command's env forces a choice.
 */
import { OcError } from '../errors.js';
import { createKeychainStore } from './keychain.js';
import { createSecretServiceStore } from './secret-service.js';
import type { SecretStore, SecretStoreKind } from './types.js';

export * from './types.js';

export const noSecretStore: SecretStore = {
  kind: 'none',
  available: async () => false,
  get: async () => undefined,
  set: async (name) => {
    throw new OcError('ENVIRONMENT', `no secret store is available to keep ${name}`);
  },
  delete: async () => {},
};

export function createSecretStoreOfKind(kind: SecretStoreKind, env: NodeJS.ProcessEnv): SecretStore {
  switch (kind) {
    case 'keychain':
      return createKeychainStore(env);
    case 'secret-service':
      return createSecretServiceStore(env);
    case 'none':
      return noSecretStore;
  }
}

/** The store to use, already checked for availability (`none` when nothing answers). */
export async function resolveSecretStore(env: NodeJS.ProcessEnv, forced?: string): Promise<SecretStore> {
  const want = forced ?? env['OC_VERSIONS_SECRET_STORE'];
  if (want !== undefined && want !== '') {
    if (want !== 'keychain' && want !== 'secret-service' && want !== 'none') {
      throw new OcError('INVALID_INPUT', `unknown secret store '${want}' (keychain, secret-service or none)`);
    }
    const store = createSecretStoreOfKind(want, env);
    if (want !== 'none' && !(await store.available())) {
      throw new OcError('ENVIRONMENT', `secret store '${want}' is not available`);
    }
    return store;
  }
  const candidate = process.platform === 'darwin' ? createKeychainStore(env) : createSecretServiceStore(env);
  return (await candidate.available()) ? candidate : noSecretStore;
}
