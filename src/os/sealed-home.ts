/**
 * A sealed home for a child that runs code of a version that is not live yet (the validation's
 * smoke checks, the canary and its preflight commands, the handoff probe): `HOME`, the XDG base
 * directories and the temp directory all point inside one scratch directory, and the session
 * buses that would reach the user's service manager or keychain are not inherited.
 *
 * Why: a release that rewrites its own LaunchAgent (`~/Library/LaunchAgents/…`), its unit
 * (`$XDG_CONFIG_HOME/systemd/user/…`), a shell profile or a keychain item at start would otherwise
 * do it to the *live* ones while the old gateway still serves (issue 31). What the child needs of
 * the real home is linked in by the caller (the canary links `~/.openclaw` to its state).
 *
 * The seal is an environment, not a jail: a program that reads its home from the password
 * database, or talks to launchd by its Mach port, still gets out. The caller checks the live
 * definition after the child ran (src/core/upgrade.ts `guardDefinition`).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';

/** Keys that name where a program keeps its files; a sealed child gets each inside its scratch dir. */
export const SEALED_DIR_KEYS = ['HOME', 'USERPROFILE', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR', 'TMPDIR', 'TMP', 'TEMP'] as const;

/**
 * Keys that reach the user's session services whatever HOME says: the D-Bus session bus (systemd
 * --user, the Secret Service keychain), the ssh and gpg agents, the display. Never inherited.
 */
export const SESSION_KEYS = ['DBUS_SESSION_BUS_ADDRESS', 'SSH_AUTH_SOCK', 'GPG_AGENT_INFO', 'DISPLAY', 'WAYLAND_DISPLAY', 'XAUTHORITY', 'SYSTEMD_EXEC_PID', 'MANAGERPID', 'INVOCATION_ID', 'JOURNAL_STREAM'] as const;

/** The environment values of a sealed home at `home`, with its temp dir at `tmp`. */
export function sealedHomeEnv(home: string, tmp: string): Record<(typeof SEALED_DIR_KEYS)[number], string> {
  return {
    HOME: home,
    USERPROFILE: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    XDG_STATE_HOME: path.join(home, '.local', 'state'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    XDG_RUNTIME_DIR: path.join(home, '.run'),
    TMPDIR: tmp,
    TMP: tmp,
    TEMP: tmp,
  };
}

/**
 * Create the sealed home's directories (0700) and return `env` sealed: every key of
 * SEALED_DIR_KEYS inside `home`/`tmp`, every key of SESSION_KEYS removed. `env` is not changed.
 */
export async function sealEnv<E extends Record<string, string | undefined>>(env: E, home: string, tmp: string): Promise<E> {
  const dirs = sealedHomeEnv(home, tmp);
  for (const dir of new Set(Object.values(dirs))) await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const out: Record<string, string | undefined> = { ...env, ...dirs };
  for (const k of SESSION_KEYS) delete out[k];
  return out as E;
}
