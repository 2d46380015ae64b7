import { describe, expect, it } from 'vitest';
import semver from 'semver';
import { compareVersions, parseExactVersion, sortNewestFirst } from '../../src/core/versions.js';
import { maxSatisfying, parseSpec, pickVersion } from '../../src/core/specs.js';
import { makeLayout } from '../../src/core/layout.js';

describe('OpenClaw version ordering', () => {
  it.each([
    ['2026.7.1-2', '2026.7.1', 1],
    ['2026.7.1-beta.4', '2026.7.1', -1],
    ['2026.7.1-2', '2026.7.1-10', -1],
    ['2026.7.1-2', '2026.7.2', -1],
    ['2026.7.1-2', '2026.7.1-beta.4', 1],
    ['2026.9.6', '2026.10.1', -1],
    ['2026.6.35', '2026.6.4', 1],
    ['2026.7.1', '2026.7.1', 0],
  ])('%s vs %s → %i', (a, b, sign) => {
    expect(Math.sign(compareVersions(a, b)) + 0).toBe(sign + 0);
    expect(Math.sign(compareVersions(b, a)) + 0).toBe(-sign + 0);
  });

  it('sorts newest first', () => {
    expect(sortNewestFirst(['2026.7.1', '2026.7.1-beta.4', '2026.7.1-2', '2026.6.35', '2026.7.2'])).toEqual([
      '2026.7.2',
      '2026.7.1-2',
      '2026.7.1',
      '2026.7.1-beta.4',
      '2026.6.35',
    ]);
  });

  it('range resolution counts corrections of a matching base and prefers them', () => {
    const all = ['2026.7.1', '2026.7.1-2', '2026.7.1-beta.4', '2026.8.1'];
    expect(maxSatisfying(all, '~2026.7')).toBe('2026.7.1-2');
    expect(maxSatisfying(all, '2026.7.1')).toBe('2026.7.1-2');
    expect(maxSatisfying(all, '^2026.7.0')).toBe('2026.8.1');
    expect(maxSatisfying(all, '<2026.7.0')).toBeNull();
  });
});

describe('spec parsing refuses path-like input before anything uses it', () => {
  it.each(['../x', '/etc', './2026.1.1', 'file:../x', 'http://evil/x.tgz', 'git+ssh://x', '..', 'a/b', '~/x', 'C:\\x', '', '-', '--', '-1', '-latest'])('%j is invalid (exit 2)', (s) => {
    expect(() => parseSpec(s)).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
  it.each([
    ['2026.9.6', 'version'],
    ['v2026.9.6', 'version'],
    ['2026.7.1-2', 'version'],
    ['^2026.9', 'range'],
    ['>=2026.1 <2026.5', 'range'],
    ['2026.x', 'range'],
    ['latest', 'tag'],
    ['beta', 'tag'],
    ['extended-stable', 'tag'],
  ])('%s is a %s', (s, kind) => {
    expect(parseSpec(s).kind).toBe(kind);
  });
  it('layout refuses non-versions as path components', () => {
    const l = makeLayout('/tmp/h');
    expect(l.version('2026.9.6')).toBe('/tmp/h/versions/2026.9.6');
    expect(() => l.version('../../etc')).toThrow();
    expect(() => l.version('2026.9.6/../../x')).toThrow();
    expect(parseExactVersion('2026.9.6 ')).toBeNull();
  });
});

describe('pickVersion: ranges resolve as npm resolves them', () => {
  const versions = ['2026.6.1', '2026.7.1', '2026.7.1-2', '2026.8.1-beta.1', '2026.8.1', '2026.9.1'];
  const tags = { latest: '2026.8.1', beta: '2026.8.1-beta.1', next: '2026.9.1' };
  it.each([
    // [spec, dist-tags, expected, why]
    ['^2026', tags, '2026.8.1', 'latest satisfies the range: latest, although 2026.9.1 is higher'],
    ['*', tags, '2026.8.1', 'any version: latest'],
    ['>=2026.8.1', tags, '2026.8.1', 'latest at the bottom edge of the range'],
    ['>2026.8.1', tags, '2026.9.1', 'latest outside the range: highest match'],
    ['~2026.7', tags, '2026.7.1-2', 'latest outside: highest match in OpenClaw order (correction after its base)'],
    ['2026.7.1', tags, '2026.7.1', 'an exact version'],
    ['2026.7.x', { latest: '2026.7.1' }, '2026.7.1', 'latest satisfies: npm takes it over its own correction 2026.7.1-2'],
    ['^2026', {}, '2026.9.1', 'no latest tag: highest match'],
    ['^2026', { latest: '2026.5.5' }, '2026.9.1', 'latest names a version that is not published: highest match'],
    ['^2027', tags, null, 'nothing matches'],
    ['latest', tags, '2026.8.1', 'a dist-tag: its target'],
    ['beta', tags, '2026.8.1-beta.1', 'a dist-tag: its target'],
    ['nope', tags, null, 'an unknown dist-tag'],
    ['2026.5.1', tags, null, 'an exact version that is not published'],
  ] as Array<[string, Record<string, string>, string | null, string]>)('%s with %j → %s (%s)', (spec, distTags, expected, _why) => {
    expect(pickVersion(parseSpec(spec), versions, distTags)).toBe(expected);
  });
});

/**
 * versions.ts parses and compares exact versions without the semver package (it is slow to load).
 * The oracle here is the semver package, through the implementation versions.ts had before: on a
 * generated corpus of well- and ill-formed strings, both must agree on every parse and every order.
 */
describe('exact versions without semver agree with semver', () => {
  const oracleExact = (input: string): string | null => {
    if (input.length === 0 || input.length > 256) return null;
    const v = semver.valid(input, { loose: false });
    if (!v || v !== input.replace(/^v/, '')) return null;
    return /^[0-9A-Za-z.+-]+$/.test(v) ? v : null;
  };
  const oracleCorrection = (v: string): number | null => {
    const p = semver.parse(v);
    return p && p.prerelease.length === 1 && typeof p.prerelease[0] === 'number' ? p.prerelease[0] : null;
  };
  const oracleCompare = (a: string, b: string): number => {
    const ca = oracleCorrection(a);
    const cb = oracleCorrection(b);
    if (ca === null && cb === null) return semver.compare(a, b);
    const pa = semver.parse(a)!;
    const pb = semver.parse(b)!;
    const baseCmp = semver.compare(`${pa.major}.${pa.minor}.${pa.patch}`, `${pb.major}.${pb.minor}.${pb.patch}`);
    if (baseCmp !== 0) return baseCmp;
    const rank = (p: semver.SemVer, c: number | null) => (c !== null ? [2, c] : p.prerelease.length === 0 ? [1, 0] : [0, 0]);
    const [ra, na] = rank(pa, ca);
    const [rb, nb] = rank(pb, cb);
    if (ra !== rb) return ra! - rb!;
    if (ra === 2) return na! - nb!;
    return semver.compare(a, b);
  };
  const prefixes = ['', 'v', 'V', '=', ' ', 'vv', 'v '];
  const mains = ['0.0.0', '1.2.3', '2026.9.6', '2026.10.1', '01.2.3', '1.02.3', '1.2', '1.2.3.4', '9007199254740991.0.0', '9007199254740992.0.0', '1.x.3', '-1.2.3'];
  const pres = ['', '-0', '-2', '-10', '-00', '-01', '-beta', '-beta.4', '-beta.10', '-beta.04', '-1a', '-a-b', '-x.', '-.x', '-', '-α', '-2.3', '-rc.1.2', '-9007199254740993', '-99999999999999999999', '-0a'];
  const builds = ['', '+b', '+b.1', '+', '+0', '+-x', '+a..b'];
  const suffixes = ['', ' ', '\n', '/x', '\0'];
  const corpus = prefixes.flatMap((p) => mains.flatMap((m) => pres.flatMap((pr) => builds.flatMap((b) => suffixes.map((s) => `${p}${m}${pr}${b}${s}`)))));
  corpus.push('', 'v', '1.2.3-' + 'a'.repeat(250), '1.2.3-' + 'a'.repeat(251), 'x'.repeat(300));

  it(`parseExactVersion matches semver on ${corpus.length} strings`, () => {
    const disagree = corpus.filter((s) => parseExactVersion(s) !== oracleExact(s));
    expect(disagree).toEqual([]);
    // The corpus has both kinds in quantity, so the comparison above could fail either way.
    expect(corpus.filter((s) => oracleExact(s) !== null).length).toBeGreaterThan(100);
  });

  it('compareVersions matches semver (with the correction rule) on every pair of valid versions', () => {
    const valid = [...new Set(corpus.filter((s) => semver.valid(s) !== null))];
    const sample = valid.filter((_, i) => i % 7 === 0).concat(['2026.7.1', '2026.7.1-2', '2026.7.1-10', '2026.7.1-beta.4', '2026.7.2']);
    const disagree: string[] = [];
    for (const a of sample) for (const b of sample) if (Math.sign(compareVersions(a, b)) !== Math.sign(oracleCompare(a, b))) disagree.push(`${a} vs ${b}`);
    expect(disagree).toEqual([]);
    expect(sample.length).toBeGreaterThan(50);
  });

  it('an invalid version throws as semver.compare does', () => {
    expect(() => compareVersions('nope', '1.2.3')).toThrow(TypeError);
    expect(() => semver.compare('nope', '1.2.3')).toThrow(TypeError);
  });
});
