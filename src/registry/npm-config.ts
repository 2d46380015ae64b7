/**
 * The user's npm configuration, read by npm's own library: `@npmcli/config` with npm's
 * definitions, so every file and variable npm reads counts, in npm's precedence — npm_config_*
 * environment, then the project `.npmrc` (found from the working directory as npm finds it),
 * the user config (`~/.npmrc` or `userconfig`), the global config (`<prefix>/etc/npmrc`).
 * The result is npm's own flat options, the shape pacote and arborist take: `registry`,
 * `@scope:registry`, per-registry auth (`//host/:_authToken`, `_auth`, `username`/`_password`),
 * `ca` from `cafile`, `strictSSL`, `httpsProxy`/`proxy`/`noProxy`, `cache`.
 *
 * Nothing here prints or keeps a value: tokens stay in memory, in the options handed to pacote.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { OcError } from '../errors.js';
import { npmLib } from './libs.js';

export async function loadNpmConfig(env: NodeJS.ProcessEnv, cwd: string): Promise<Record<string, unknown>> {
  const [Config, defs] = await Promise.all([npmLib('Config'), npmLib('definitions')]);
  // npmPath is where npm's builtin npmrc would be; oc-versions is not npm, so there is none.
  const npmPath = path.dirname(createRequire(import.meta.url).resolve('@npmcli/config/package.json'));
  const config = new Config({
    definitions: defs.definitions,
    shorthands: defs.shorthands,
    flatten: defs.flatten,
    nerfDarts: defs.nerfDarts,
    npmPath,
    // load() exports npm_config_* into the env it is given (setEnvs): give it a copy.
    env: { ...env },
    argv: [process.execPath, 'npm'],
    cwd,
    warn: false,
  });
  try {
    await config.load();
    return { ...config.flat };
  } catch (e) {
    throw new OcError('ENVIRONMENT', `your npm configuration cannot be read: ${(e as Error).message}`, {
      hint: 'fix the npmrc file it names (npm config list shows what npm reads), then try again',
      cause: e,
    });
  }
}
