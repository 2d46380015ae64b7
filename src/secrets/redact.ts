/**
 * The one place that decides what a secret looks like and how it is kept out of
 * anything written: env values become store references, secret flags in a
 * program's argv become placeholders, and known values in free text become ***.
 */
import { isSecretKey, parseSecretRef, secretName, secretRef, type SecretRef, type SecretStore } from './types.js';

/** Gateway flags whose value is a secret (`--token T` or `--token=T`). */
const SECRET_FLAG = /^--(?:token|password|secret|api-key|auth-token)$/i;
const SECRET_FLAG_EQ = /^(--(?:token|password|secret|api-key|auth-token))=/i;

/** The first argument that carries a secret flag, or undefined. */
export function findSecretFlag(args: readonly string[]): string | undefined {
  return args.find((a) => SECRET_FLAG.test(a) || SECRET_FLAG_EQ.test(a));
}

/** argv with the value of every secret flag replaced by `oc-secret:redacted`. */
export function redactProgram(program: readonly string[]): { program: string[]; redacted: boolean } {
  let redacted = false;
  const out = program.map((a, i) => {
    const prev = program[i - 1];
    if (prev !== undefined && SECRET_FLAG.test(prev)) {
      redacted = true;
      return 'oc-secret:redacted';
    }
    const m = SECRET_FLAG_EQ.exec(a);
    if (m) {
      redacted = true;
      return `${m[1]}=oc-secret:redacted`;
    }
    return a;
  });
  return { program: out, redacted };
}

export type RedactedValue = string | SecretRef;

/**
 * `env` with each secret-looking value replaced by a reference: into the store
 * when one is available (`{$secretRef}`), else `oc-secret:<name>` (then the value
 * is not restorable from what was written). Values that already are references
 * stay as they are. `onSecret` hears each secret key.
 */
export async function envToSecretRefs(
  label: string,
  env: Readonly<Record<string, string | SecretRef>>,
  pattern: string,
  store: SecretStore | undefined,
  onSecret: (key: string) => void = () => {},
): Promise<Record<string, RedactedValue>> {
  const storeOk = store ? await store.available() : false;
  const out: Record<string, RedactedValue> = {};
  for (const [k, v] of Object.entries(env)) {
    if (parseSecretRef(v) || !isSecretKey(k, pattern)) {
      out[k] = v;
      continue;
    }
    onSecret(k);
    const name = secretName(label, k);
    if (storeOk && store) await store.set(name, v as string);
    out[k] = secretRef(storeOk && store ? store.kind : 'none', name);
  }
  return out;
}

/** A redactor for free text (logs, probe details): every known secret value (8+ characters) becomes ***. */
export function textRedactor(values: Iterable<string>): (text: string) => string {
  const secrets = [...new Set([...values].filter((v) => v.length >= 8))].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const v of secrets) if (out.includes(v)) out = out.split(v).join('***');
    return out;
  };
}

/**
 * Credentials in free text whose values are not known in advance (an error's cause chain):
 * npm auth settings (`_authToken=…`, `_auth=…`, `_password=…`), `Authorization` header values,
 * `user:password@` in URLs, and npm/GitHub token shapes become ***.
 */
export function redactCredentials(text: string): string {
  return text
    .replace(/(_authToken|_auth|_password|password|token)(["']?\s*[=:]\s*["']?)[^\s"',}]+/gi, '$1$2***')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 ***')
    .replace(/(\/\/[^/\s:@]+):[^/\s@]+@/g, '$1:***@')
    .replace(/\b(npm_|gh[pousr]_)[A-Za-z0-9]{16,}\b/g, '$1***');
}
