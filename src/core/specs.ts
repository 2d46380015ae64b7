/**
 * Specs and ranges: what a user may name (an exact version, a semver range or a dist-tag) and how
 * it resolves in OpenClaw's ordering (core/versions.ts). Ranges need the semver package, so this
 * lives apart from versions.ts, which read-only commands load (docs/architecture.md#startup).
 */
import semver from 'semver';
import { OcError } from '../errors.js';
import { correctionOf, parseExactVersion, sortNewestFirst } from './versions.js';

export type SpecKind = 'version' | 'range' | 'tag';
export interface ParsedSpec {
  kind: SpecKind;
  raw: string;
  /** exact version (kind version), normalised range (kind range) or tag name. */
  value: string;
}

const TAG_RE = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

/**
 * Parse a user spec (exact version, semver range or dist-tag). Path-like input
 * (`../x`, `/etc`, `./v`, `file:`, URLs, git specs) is refused here, before anything
 * could treat it as a path.
 */
export function parseSpec(raw: string): ParsedSpec {
  const spec = (raw ?? '').trim();
  const bad = (why: string) =>
    new OcError('INVALID_SPEC', `invalid version spec '${raw}': ${why}`, {
      hint: 'give an exact version (2026.9.6), a semver range (^2026.9) or a dist-tag (latest)',
    });
  if (spec.length === 0) throw bad('empty');
  if (spec.length > 256) throw bad('too long');
  if (/[/\\:]/.test(spec) || spec.startsWith('.') || spec.includes('..') || spec.startsWith('~/')) {
    throw bad('looks like a path or URL, not a version');
  }
  if (/[\0\n\r]/.test(spec)) throw bad('control characters');
  if (spec.startsWith('-')) throw bad('starts with a dash, like an option');
  const exact = parseExactVersion(spec.replace(/^v(?=\d)/, ''));
  if (exact) return { kind: 'version', raw: spec, value: exact };
  if (TAG_RE.test(spec) && semver.validRange(spec) === null) return { kind: 'tag', raw: spec, value: spec };
  const range = semver.validRange(spec);
  if (range !== null) return { kind: 'range', raw: spec, value: range };
  throw bad('not a version, range or dist-tag');
}

/**
 * Highest version satisfying a range in OpenClaw's ordering. Corrections of a
 * matching base count as matching (`2026.7.1-2` satisfies `2026.7.1` and `^2026.7`),
 * and prereleases only match when the range names one (semver's rule).
 */
export function maxSatisfying(versions: readonly string[], range: string): string | null {
  const matching = versions.filter((v) => satisfiesOpenClaw(v, range));
  const sorted = sortNewestFirst(matching);
  return sorted[0] ?? null;
}

export function satisfiesOpenClaw(version: string, range: string): boolean {
  if (semver.satisfies(version, range)) return true;
  const c = correctionOf(version);
  if (c === null) return false;
  const p = semver.parse(version);
  if (!p) return false;
  return semver.satisfies(`${p.major}.${p.minor}.${p.patch}`, range);
}

/**
 * Pure resolver: the version a spec names among `versions`, or null:
 * - an exact version: itself, if present;
 * - a dist-tag: the tag's target;
 * - a range: as npm resolves it (npm-pick-manifest) — the `latest` dist-tag's version when that
 *   satisfies the range, else the highest match in OpenClaw's ordering. So `^2026` installs what
 *   the publisher marked latest, not a newer version published under another tag (a beta line,
 *   a pulled release left untagged).
 */
export function pickVersion(spec: ParsedSpec, versions: readonly string[], distTags: Readonly<Record<string, string>>): string | null {
  if (spec.kind === 'version') return versions.includes(spec.value) ? spec.value : null;
  if (spec.kind === 'tag') return distTags[spec.value] ?? null;
  const latest = distTags['latest'];
  if (latest !== undefined && versions.includes(latest) && satisfiesOpenClaw(latest, spec.value)) return latest;
  return maxSatisfying(versions, spec.value);
}
