// Minimal typings for untyped dependencies; only what oc-versions uses.
declare module 'pacote' {
  export interface Manifest {
    name: string;
    version: string;
    bin?: string | Record<string, string>;
    engines?: Record<string, string>;
    scripts?: Record<string, string>;
    dist?: { integrity?: string; tarball?: string; shasum?: string; unpackedSize?: number };
    _resolved?: string;
    _integrity?: string;
    [k: string]: unknown;
  }
  export interface Packument {
    name: string;
    'dist-tags': Record<string, string>;
    versions: Record<string, Manifest>;
    time?: Record<string, string>;
  }
  export function manifest(spec: string, opts?: Record<string, unknown>): Promise<Manifest>;
  export function packument(spec: string, opts?: Record<string, unknown>): Promise<Packument>;
  export function extract(spec: string, dest: string, opts?: Record<string, unknown>): Promise<{ resolved: string; integrity: string; from: string }>;
  export const tarball: {
    (spec: string, opts?: Record<string, unknown>): Promise<Buffer & { integrity: string; resolved: string; from: string }>;
    stream<T>(spec: string, handler: (stream: NodeJS.ReadableStream) => Promise<T>, opts?: Record<string, unknown>): Promise<T>;
  };
  const pacote: { manifest: typeof manifest; packument: typeof packument; extract: typeof extract; tarball: typeof tarball };
  export default pacote;
}

declare module '@npmcli/arborist' {
  interface ArboristNode {
    name: string;
    path: string;
    package: Record<string, unknown>;
    children: Map<string, ArboristNode>;
    resolved?: string | null;
    integrity?: string | null;
  }
  class Arborist {
    constructor(opts: Record<string, unknown>);
    reify(opts?: Record<string, unknown>): Promise<ArboristNode>;
    rebuild(opts?: Record<string, unknown>): Promise<void>;
    loadActual(opts?: Record<string, unknown>): Promise<ArboristNode>;
  }
  export default Arborist;
}

declare module '@npmcli/config' {
  interface ConfigOptions {
    definitions: unknown;
    shorthands: unknown;
    flatten: unknown;
    nerfDarts?: unknown;
    npmPath: string;
    env?: NodeJS.ProcessEnv;
    argv?: string[];
    cwd?: string;
    execPath?: string;
    platform?: string;
    warn?: boolean;
  }
  export default class Config {
    constructor(opts: ConfigOptions);
    load(): Promise<void>;
    readonly flat: Record<string, unknown>;
    get(key: string, where?: string): unknown;
  }
}
declare module '@npmcli/config/lib/definitions/index.js' {
  const defs: { definitions: unknown; shorthands: unknown; flatten: unknown; nerfDarts: unknown };
  export default defs;
}
