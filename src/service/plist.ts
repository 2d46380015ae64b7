/**
 * LaunchAgent plist <-> ServiceDefinition, through the `plist` package.
 * Every key we do not manage is carried in `extra` and written back unchanged.
 */
import { build as buildPlist, parse as parsePlistText, type PlistValue } from 'plist';
import { OcError } from '../errors.js';
import type { ServiceDefinition } from './types.js';

type PlistObject = { [key: string]: PlistValue };

/** OpenClaw's LaunchAgent policy (OPENCLAW_FACTS §2), used for fresh installs only. */
export const OPENCLAW_LAUNCHD_POLICY: PlistObject = {
  RunAtLoad: true,
  KeepAlive: true,
  ThrottleInterval: 10,
  ExitTimeOut: 20,
  ProcessType: 'Interactive',
  Umask: 63,
  StandardInPath: '/dev/null',
};

const MANAGED = new Set(['Label', 'ProgramArguments', 'Program', 'EnvironmentVariables', 'WorkingDirectory', 'StandardOutPath', 'StandardErrorPath']);

export function parsePlist(text: string, where: string): PlistObject {
  let doc: PlistValue;
  // xmldom reports fatal errors on the console before throwing; the core never prints.
  const saved = { error: console.error, warn: console.warn };
  console.error = console.warn = () => {};
  try {
    doc = parsePlistText(text);
  } catch (e) {
    throw new OcError('INVALID_INPUT', `${where} is not a valid plist: ${firstLine(e)}`, { cause: e });
  } finally {
    console.error = saved.error;
    console.warn = saved.warn;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || doc instanceof Date || doc instanceof Uint8Array) {
    throw new OcError('INVALID_INPUT', `${where} is not a plist dictionary`);
  }
  return doc as PlistObject;
}

export function plistToDefinition(text: string, where: string): ServiceDefinition {
  const doc = parsePlist(text, where);
  const label = doc['Label'];
  if (typeof label !== 'string' || label === '') throw new OcError('INVALID_INPUT', `${where} has no Label`);
  const args = doc['ProgramArguments'];
  const program = doc['Program'];
  let argv: string[];
  if (Array.isArray(args) && args.length > 0 && args.every((a) => typeof a === 'string')) {
    argv = [...(args as string[])];
    // With both keys, launchd execs Program with ProgramArguments as argv (argv[0] untouched).
    if (typeof program === 'string') argv[0] = program;
  } else if (typeof program === 'string') {
    argv = [program];
  } else {
    throw new OcError('INVALID_INPUT', `${where} has no ProgramArguments`);
  }
  const envRaw = doc['EnvironmentVariables'];
  const env: Record<string, string> = {};
  if (envRaw !== undefined) {
    if (typeof envRaw !== 'object' || Array.isArray(envRaw)) {
      throw new OcError('INVALID_INPUT', `${where}: EnvironmentVariables is not a dictionary`);
    }
    for (const [k, v] of Object.entries(envRaw as PlistObject)) env[k] = String(v);
  }
  const extra: Record<string, PlistValue> = {};
  for (const [k, v] of Object.entries(doc)) if (!MANAGED.has(k)) extra[k] = v;
  const str = (k: string): string | undefined => (typeof doc[k] === 'string' ? (doc[k] as string) : undefined);
  return {
    manager: 'launchd',
    label,
    program: argv,
    env,
    envFiles: [],
    ...opt('workingDirectory', str('WorkingDirectory')),
    ...opt('stdoutPath', str('StandardOutPath')),
    ...opt('stderrPath', str('StandardErrorPath')),
    extra,
  };
}

export function definitionToPlist(def: ServiceDefinition): string {
  const extra = isPlistObject(def.extra) ? def.extra : OPENCLAW_LAUNCHD_POLICY;
  const doc: PlistObject = { Label: def.label, ...extra, ProgramArguments: [...def.program] };
  if (Object.keys(def.env).length > 0) doc['EnvironmentVariables'] = { ...def.env };
  if (def.workingDirectory !== undefined) doc['WorkingDirectory'] = def.workingDirectory;
  if (def.stdoutPath !== undefined) doc['StandardOutPath'] = def.stdoutPath;
  if (def.stderrPath !== undefined) doc['StandardErrorPath'] = def.stderrPath;
  return buildPlist(doc);
}

function isPlistObject(v: unknown): v is PlistObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function opt<K extends string>(k: K, v: string | undefined): Partial<Record<K, string>> {
  return v === undefined ? {} : ({ [k]: v } as Record<K, string>);
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0] ?? 'parse error';
}
