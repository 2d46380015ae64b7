import { describe, expect, it } from 'vitest';
import { compareVersions, maxSatisfying, parseExactVersion, parseSpec, pickVersion, sortNewestFirst } from '../../src/core/versions.js';
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
