/**
 * Where secret env values live so they can be restored without ever being
 * written under the oc-versions home. Names are `<label>/<ENV_KEY>`; values go
 * to the backend on stdin, never in argv.
 */
export type SecretStoreKind = 'keychain' | 'secret-service' | 'none';

export interface SecretStore {
  readonly kind: SecretStoreKind;
  available(): Promise<boolean>;
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

/** The service name every entry is filed under. */
export const SECRET_SERVICE_NAME = 'oc-versions';

/** A reference as written in snapshots and definitions. */
export interface SecretRef {
  $secretRef: string;
}

export function secretRef(kind: SecretStoreKind, name: string): SecretRef | string {
  return kind === 'none' ? `oc-secret:${name}` : { $secretRef: `${kind}:${name}` };
}

/** Name under which the value of env key `key` of service `label` is stored. */
export function secretName(label: string, key: string): string {
  return `${label}/${key}`;
}

export function isSecretKey(key: string, pattern: string): boolean {
  return new RegExp(pattern, 'i').test(key);
}

/** The store name a reference points at, or undefined when it is not a reference. */
export function parseSecretRef(v: unknown): { kind: SecretStoreKind; name: string } | undefined {
  if (typeof v === 'string' && v.startsWith('oc-secret:')) return { kind: 'none', name: v.slice('oc-secret:'.length) };
  if (v && typeof v === 'object' && typeof (v as SecretRef).$secretRef === 'string') {
    const ref = (v as SecretRef).$secretRef;
    const colon = ref.indexOf(':');
    if (colon > 0) return { kind: ref.slice(0, colon) as SecretStoreKind, name: ref.slice(colon + 1) };
  }
  return undefined;
}
