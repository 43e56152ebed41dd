import test from 'ava';
import { filenameSafeName, isValidProjectName, normalizeName } from '../../src/pypi/names.ts';

const normalized: Array<[string, string]> = [
  ['requests', 'requests'],
  ['Django', 'django'],
  ['oslo.concurrency', 'oslo-concurrency'],
  ['Foo_Bar', 'foo-bar'],
  ['foo--bar', 'foo-bar'],
  ['foo._-bar', 'foo-bar'],
  ['FOO.__.BAR-baz', 'foo-bar-baz'],
  ['a', 'a'],
];
for (const [input, expected] of normalized) {
  test(`normalizeName(${JSON.stringify(input)}) = ${expected}`, (t) => {
    t.is(normalizeName(input), expected);
  });
}

test('normalizeName is idempotent', (t) => {
  for (const [input] of normalized) t.is(normalizeName(normalizeName(input)), normalizeName(input));
});

const valid = ['a', 'A', '0', 'requests', 'Foo.Bar', 'foo_bar', 'foo-bar', 'foo..bar', 'zope.interface', 'a1', '1a', 'x-_.y'];
const invalid = ['', '-foo', 'foo-', '_foo', 'foo_', '.foo', 'foo.', 'foo bar', 'foo/bar', 'föo', 'foo\n', '\nfoo', 'foo+bar', 'ſ', '\u212a'];

// Titles escape non-ASCII so `ſ` and the Kelvin sign are visible as such.
const show = (s: string): string => JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

for (const name of valid) {
  test(`valid project name ${show(name)}`, (t) => t.true(isValidProjectName(name)));
}
for (const name of invalid) {
  test(`invalid project name ${show(name)}`, (t) => t.false(isValidProjectName(name)));
}

test('filenameSafeName uses _ for separators (PEP 625 / PEP 427)', (t) => {
  t.is(filenameSafeName('Foo.Bar-baz'), 'foo_bar_baz');
  t.is(filenameSafeName('foo__bar'), 'foo_bar');
  t.is(filenameSafeName('requests'), 'requests');
});
