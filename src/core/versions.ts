/**
 * OpenClaw version ordering. OpenClaw versions are CalVer that is valid semver,
 * with one twist: a numeric-only prerelease (`2026.7.1-2`) is a *correction*
 * release that sorts after `2026.7.1` (OpenClaw's `isOpenClawCorrectionSemver`
 * treats it as `+N`), while plain semver sorts it before. Everything that orders
 * or resolves versions goes through this module and core/specs.ts (ranges, specs).
 *
 * Exact versions are parsed and compared here without the semver package: its module builds
 * every regular expression it has when loaded, about a quarter of a read-only command's own
 * time (docs/architecture.md#startup). The grammar is semver's strict one (semver.org's
 * `<valid semver>`, one optional leading `v`), and test/unit/versions.test.ts checks parse and
 * compare against the semver package itself on a generated corpus.
 */

/** semver's strict FULL grammar: v? MAJOR.MINOR.PATCH (-prerelease)? (+build)? */
const ID = '(?:0|[1-9]\\d*|\\d*[a-zA-Z-][a-zA-Z0-9-]*)';
const FULL = new RegExp(`^v?(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-(${ID}(?:\\.${ID})*))?(?:\\+([0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))?$`);
const NUMERIC = /^[0-9]+$/;

interface Parsed {
  main: [number, number, number];
  /** Numeric identifiers below MAX_SAFE_INTEGER as numbers, the rest as strings (as semver keeps them). */
  pre: Array<string | number>;
  /** MAJOR.MINOR.PATCH(-prerelease): semver's `version` (no build metadata). */
  version: string;
}

/** Parses like `new semver.SemVer(input)` (trimmed, at most 256 characters), or null where it would throw. */
function parse(input: string): Parsed | null {
  if (typeof input !== 'string' || input.length > 256) return null;
  const m = FULL.exec(input.trim());
  if (!m) return null;
  const main = [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number];
  if (main.some((n) => n > Number.MAX_SAFE_INTEGER)) return null;
  const pre = m[4] ? m[4].split('.').map((id) => (NUMERIC.test(id) && Number(id) < Number.MAX_SAFE_INTEGER ? Number(id) : id)) : [];
  return { main, pre, version: `${main.join('.')}${pre.length ? `-${pre.join('.')}` : ''}` };
}

function parseOrThrow(v: string): Parsed {
  const p = parse(v);
  if (!p) throw new TypeError(`Invalid Version: ${v}`);
  return p;
}

/** semver's compareIdentifiers: numeric identifiers numerically and before alphanumeric ones. */
function compareIds(a: string | number, b: string | number): number {
  const an = NUMERIC.test(String(a));
  const bn = NUMERIC.test(String(b));
  if (an && bn) {
    const x = Number(a);
    const y = Number(b);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  if (an !== bn) return an ? -1 : 1;
  return a === b ? 0 : a < b ? -1 : 1;
}

/** semver.compare: main version, then prerelease (a release after its prereleases); build ignored. */
function semverCompare(a: Parsed, b: Parsed): number {
  for (let i = 0; i < 3; i++) if (a.main[i] !== b.main[i]) return a.main[i]! < b.main[i]! ? -1 : 1;
  if (a.pre.length && !b.pre.length) return -1;
  if (!a.pre.length && b.pre.length) return 1;
  for (let i = 0; ; i++) {
    const x = a.pre[i];
    const y = b.pre[i];
    if (x === undefined && y === undefined) return 0;
    if (y === undefined) return 1;
    if (x === undefined) return -1;
    const c = compareIds(x, y);
    if (c !== 0) return c;
  }
}

/** A strict, path-safe exact version string, or null. Never trust a version string as a path before this. */
export function parseExactVersion(input: string): string | null {
  if (typeof input !== 'string' || input.length === 0 || input.length > 256) return null;
  const v = parse(input)?.version;
  if (!v || v !== input.replace(/^v/, '')) return null;
  if (!/^[0-9A-Za-z.+-]+$/.test(v)) return null;
  return v;
}

function correctionOfParsed(p: Parsed): number | null {
  return p.pre.length === 1 && typeof p.pre[0] === 'number' ? p.pre[0] : null;
}

/** Correction number N for `X.Y.Z-N` (numeric-only prerelease), else null. */
export function correctionOf(version: string): number | null {
  const p = parse(version);
  return p ? correctionOfParsed(p) : null;
}

/** Compare in OpenClaw's ordering: a correction `X-N` is after `X` and before the next release. Throws on an invalid version, as semver.compare does. */
export function compareVersions(a: string, b: string): number {
  const pa = parseOrThrow(a);
  const pb = parseOrThrow(b);
  const ca = correctionOfParsed(pa);
  const cb = correctionOfParsed(pb);
  if (ca === null && cb === null) return semverCompare(pa, pb);
  const baseCmp = semverCompare({ ...pa, pre: [] }, { ...pb, pre: [] });
  if (baseCmp !== 0) return baseCmp;
  const rank = (p: Parsed, c: number | null): [number, number] => (c !== null ? [2, c] : p.pre.length === 0 ? [1, 0] : [0, 0]);
  const [ra, na] = rank(pa, ca);
  const [rb, nb] = rank(pb, cb);
  if (ra !== rb) return ra - rb;
  if (ra === 2) return na - nb;
  return semverCompare(pa, pb);
}

export function sortNewestFirst(versions: readonly string[]): string[] {
  return [...versions].sort((a, b) => compareVersions(b, a));
}
