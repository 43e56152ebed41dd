import test from 'ava';
import { compare as libCompare } from '@renovatebot/pep440';
import {
  canonicalVersion, compareVersions, isPrerelease, isValidVersion, sortVersions, versionsEqual,
} from '../../src/pypi/versions.ts';

// Expected values are what Python's packaging 26.2 prints for str(Version(v)).
const canonical: Array<[string, string]> = [
  ['1.0-1', '1.0.post1'],
  ['1.0RC1', '1.0rc1'],
  ['v1.0', '1.0'],
  ['V1.0', '1.0'],
  ['1.0.0', '1.0.0'],
  ['1.0+ABC', '1.0+abc'],
  ['1.0+abc-def_1', '1.0+abc.def.1'],
  ['1.0+a_b-c.d', '1.0+a.b.c.d'],
  ['1.0+01', '1.0+1'],
  ['1.0+1e3', '1.0+1e3'],
  ['1.0+5e21', '1.0+5e21'],
  ['1.0+Infinity', '1.0+infinity'],
  ['1.0+0x1f', '1.0+0x1f'],
  ['20230101123456789', '20230101123456789'],
  ['1.0.post20230101123456789', '1.0.post20230101123456789'],
  ['1!2.0', '1!2.0'],
  ['0!1.0', '1.0'],
  ['00!00.000', '0.0'],
  ['01.02', '1.2'],
  ['1.2.3.4.5', '1.2.3.4.5'],
  ['1.0a', '1.0a0'],
  ['1.0b', '1.0b0'],
  ['1.0c', '1.0rc0'],
  ['1.0rc', '1.0rc0'],
  ['1.0c1', '1.0rc1'],
  ['1.0.pre', '1.0rc0'],
  ['1.0pre-1', '1.0rc1'],
  ['1.0preview2', '1.0rc2'],
  ['1.0alpha.3', '1.0a3'],
  ['1.0-beta-4', '1.0b4'],
  ['1.0.0a', '1.0.0a0'],
  ['1.0-dev', '1.0.dev0'],
  ['1.0.dev', '1.0.dev0'],
  ['1.0.dev-1', '1.0.dev1'],
  ['1.0.r1', '1.0.post1'],
  ['1.0-r', '1.0.post0'],
  ['1.0rev', '1.0.post0'],
  ['1.0post', '1.0.post0'],
  ['1.0-post-2', '1.0.post2'],
  ['1.0_post2', '1.0.post2'],
  ['1.0.post-1', '1.0.post1'],
  ['1.0-a1-1-dev-2', '1.0a1.post1.dev2'],
  ['1.0a1.post1.dev2', '1.0a1.post1.dev2'],
];
for (const [input, expected] of canonical) {
  test(`canonicalVersion(${JSON.stringify(input)}) = ${expected}`, (t) => {
    t.true(isValidVersion(input));
    t.is(canonicalVersion(input), expected);
    t.is(canonicalVersion(expected), expected, 'canonical form is a fixed point');
    t.true(versionsEqual(input, expected));
  });
}

// Python's Version() also strips surrounding whitespace; filenames and form
// fields must not carry any, so it is invalid here.
const invalid = [
  '', ' 1.0', '1.0 ', '1.0\n', '1.0.', '1..0', '2004d', '1.0+', '1.0+a..b', '1.0-', 'v', '1!', '1.0++a',
  'ſ1.0', '1.0+\u212a', 'latest', '1.0-beta-4-', '1.0.0-SNAPSHOT', '1.0 beta',
];
for (const v of invalid) {
  test(`invalid version ${JSON.stringify(v)}`, (t) => {
    t.false(isValidVersion(v));
    t.is(canonicalVersion(v), null);
    t.false(isPrerelease(v));
  });
}

// PUG version-specifiers.rst, "Summary of permitted suffixes and relative ordering".
const SPEC_ORDER = [
  '1.dev0', '1.0.dev456', '1.0a1', '1.0a2.dev456', '1.0a12.dev456', '1.0a12', '1.0b1.dev456', '1.0b2',
  '1.0b2.post345.dev456', '1.0b2.post345', '1.0rc1.dev456', '1.0rc1', '1.0', '1.0+abc.5', '1.0+abc.7',
  '1.0+5', '1.0.post456.dev34', '1.0.post456', '1.0.15', '1.1.dev1',
];

test('the PEP 440 spec ordering example', (t) => {
  for (let i = 0; i + 1 < SPEC_ORDER.length; i++) {
    const a = SPEC_ORDER[i] as string;
    const b = SPEC_ORDER[i + 1] as string;
    t.is(compareVersions(a, b), -1, `${a} < ${b}`);
    t.is(compareVersions(b, a), 1, `${b} > ${a}`);
  }
});

test('sortVersions restores the spec ordering from any permutation', (t) => {
  t.deepEqual(sortVersions([...SPEC_ORDER].reverse()), SPEC_ORDER);
  const shuffled = [...SPEC_ORDER].sort((a, b) => (a.length * 7 + a.charCodeAt(a.length - 1)) % 11 - (b.length * 7 + b.charCodeAt(b.length - 1)) % 11);
  t.deepEqual(sortVersions(shuffled), SPEC_ORDER);
});

test('agrees with @renovatebot/pep440 where the library is exact', (t) => {
  const corpus = [...SPEC_ORDER, '0.1', '2.0', '1!0.1', '1.0.post1', '1.0-1', '1.0rc2', '1.0c2', '1.0+abc', '1.0+ABC', '3.0.0b1'];
  for (const a of corpus) {
    for (const b of corpus) {
      t.is(compareVersions(a, b), Math.sign(libCompare(a, b)), `${a} vs ${b}`);
    }
  }
});

const ordered: Array<[string, string, string]> = [
  ['1!0.1', '>', '2.0'],
  ['1!1.0', '>', '1!0.9'],
  ['1!1.0', '>', '999999'],
  ['1.0.post1', '>', '1.0'],
  ['1.0.post1', '>', '1.0.post0'],
  ['1.0.post1', '<', '1.0.1'],
  ['1.0.post1.dev1', '<', '1.0.post1'],
  ['1.0.post1.dev1', '>', '1.0'],
  ['1.0.dev1', '<', '1.0a1'],
  ['1.0a1', '<', '1.0b1'],
  ['1.0b1', '<', '1.0rc1'],
  ['1.0rc1', '<', '1.0'],
  ['1.10', '>', '1.9'],
  ['1.0.0.1', '>', '1.0'],
  ['1.0', '=', '1.0.0'],
  ['1.0', '=', '1.0.0.0.0'],
  ['1.0-1', '=', '1.0.post1'],
  ['1.0RC1', '=', '1.0c1'],
  ['1.0+ABC', '=', '1.0+abc'],
  ['1.0+a-b', '=', '1.0+a.b'],
  ['1.0+01', '=', '1.0+1'],
  ['v1.0', '=', '1.0'],
  ['0!1.0', '=', '1.0'],
  ['1.0+local', '>', '1.0'],
  ['1.0+local', '<', '1.0.post1'],
  ['1.0+5', '>', '1.0+abc'],
  ['1.0+abc', '<', '1.0+abd'],
  ['1.0+abc', '<', '1.0+abc.1'],
  ['1.0+1.2', '<', '1.0+1.10'],
  ['1.0+Infinity', '=', '1.0+infinity'],
  // PEP 440: a segment with a letter compares as a string, below any number.
  ['1.0+1e3', '<', '1.0+999'],
  ['1.0+0x1f', '<', '1.0+0'],
  // Beyond 2^53: a double would call these equal.
  ['20230101123456789', '>', '20230101123456788'],
  ['1.0.post20230101123456789', '>', '1.0.post20230101123456788'],
  // Invalid (legacy) versions sort before every valid one, by string among themselves.
  ['2004d', '<', '0.0.dev0'],
  ['latest', '<', '0'],
  ['2004d', '<', 'latest'],
  ['latest', '=', 'latest'],
];
for (const [a, op, b] of ordered) {
  test(`${a} ${op} ${b}`, (t) => {
    const expected = op === '<' ? -1 : op === '>' ? 1 : 0;
    t.is(compareVersions(a, b), expected);
    t.is(compareVersions(b, a), -expected || 0);
    t.is(versionsEqual(a, b), expected === 0);
  });
}

test('versionsEqual falls back to exact string equality for invalid versions', (t) => {
  t.true(versionsEqual('2004d', '2004d'));
  t.false(versionsEqual('2004d', '2004D'));
  t.false(versionsEqual('1.0', ' 1.0'));
  t.false(versionsEqual('1.0', 'latest'));
});

test('sortVersions: ascending, exact duplicates removed, equal spellings kept in string order', (t) => {
  t.deepEqual(
    sortVersions(['2.0', '1.0.0', 'latest', '1.0', '1.0', '1!0.1', '1.0rc1', '2004d', '1.0.post1', '1.0-1']),
    ['2004d', 'latest', '1.0rc1', '1.0', '1.0.0', '1.0-1', '1.0.post1', '2.0', '1!0.1'],
  );
  t.deepEqual(sortVersions(new Set(['b', 'a'])), ['a', 'b']);
  t.deepEqual(sortVersions([]), []);
});

test('sortVersions is deterministic whatever the input order', (t) => {
  const vs = ['1.0', '1.0.0', '1.0.0.0', 'v1.0', '1.0+a', '1.0+A'];
  const expected = sortVersions(vs);
  t.deepEqual(sortVersions([...vs].reverse()), expected);
  t.deepEqual(expected, ['1.0', '1.0.0', '1.0.0.0', 'v1.0', '1.0+A', '1.0+a']);
});

const prerelease: Array<[string, boolean]> = [
  ['1.0', false], ['1.0.post1', false], ['1.0+local', false], ['1!1.0', false],
  ['1.0a1', true], ['1.0b2', true], ['1.0rc1', true], ['1.0c1', true], ['1.0.dev0', true],
  ['1.0.post1.dev0', true], ['1.0a1.post1', true], ['1.0-dev', true],
  ['2004d', false], ['', false],
];
for (const [v, expected] of prerelease) {
  test(`isPrerelease(${JSON.stringify(v)}) = ${expected}`, (t) => t.is(isPrerelease(v), expected));
}
