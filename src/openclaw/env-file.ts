/**
 * Env files as OpenClaw writes them (`export KEY='value'` in service-env/*.env) and as
 * dotenv and systemd EnvironmentFile= read them.
 */
function unquoteShell(v: string): string {
  let out = '';
  let i = 0;
  while (i < v.length) {
    const c = v[i]!;
    if (c === "'") {
      const end = v.indexOf("'", i + 1);
      out += v.slice(i + 1, end < 0 ? v.length : end);
      i = end < 0 ? v.length : end + 1;
    } else if (c === '"') {
      i++;
      while (i < v.length && v[i] !== '"') {
        if (v[i] === '\\' && i + 1 < v.length) i++;
        out += v[i++]!;
      }
      i++;
    } else if (c === '\\' && i + 1 < v.length) {
      out += v[i + 1]!;
      i += 2;
    } else if (/\s/.test(c) || c === '#') {
      break;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/**
 * Parse `KEY=value` / `export KEY='value'` lines (OpenClaw's service .env and
 * systemd EnvironmentFile= syntax). Values are unquoted; nothing is expanded.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    env[m[1]!] = unquoteShell(m[2]!);
  }
  return env;
}
