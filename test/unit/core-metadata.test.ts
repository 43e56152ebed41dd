import test from 'ava';
import { InvalidDistribution } from '../../src/errors.ts';
import { parseCoreMetadata } from '../../src/pypi/core-metadata.ts';

const WHEEL_METADATA = `Metadata-Version: 2.4
Name: Foo.Bar
Version: 1.2.0rc1
Summary:   A library that does foo.   
Author-email: Jane Doe <jane@example.com>
License-Expression: MIT
Requires-Python: >=3.9
Classifier: Programming Language :: Python :: 3
Classifier: License :: OSI Approved :: MIT License
Project-URL: Homepage, https://example.com
Project-URL: Source, https://example.com/src
Keywords: foo,bar
Requires-Dist: requests>=2.31
Requires-Dist: click; python_version >= "3.10"
Requires-Dist: pytest; extra == "test"
Provides-Extra: test
Dynamic: license-file
Description-Content-Type: text/markdown

# Foo.Bar

A library.

    indented code
`;

test('parses a typical wheel METADATA', (t) => {
  const md = parseCoreMetadata(WHEEL_METADATA);
  t.like(md, {
    metadataVersion: '2.4',
    name: 'Foo.Bar',
    version: '1.2.0rc1',
    summary: 'A library that does foo.',
    requiresPython: '>=3.9',
    authorEmail: 'Jane Doe <jane@example.com>',
    author: null,
    maintainer: null,
    maintainerEmail: null,
    license: null,
    licenseExpression: 'MIT',
    homePage: null,
    downloadUrl: null,
    keywords: 'foo,bar',
    descriptionContentType: 'text/markdown',
  });
  t.deepEqual(md.requiresDist, ['requests>=2.31', 'click; python_version >= "3.10"', 'pytest; extra == "test"']);
  t.deepEqual(md.providesExtra, ['test']);
  t.deepEqual(md.classifiers, ['Programming Language :: Python :: 3', 'License :: OSI Approved :: MIT License']);
  t.deepEqual(md.projectUrls, ['Homepage, https://example.com', 'Source, https://example.com/src']);
  t.deepEqual(md.dynamic, ['license-file']);
  t.deepEqual(md.platforms, []);
  t.is(md.description, '# Foo.Bar\n\nA library.\n\n    indented code\n');
});

test('fields holds every header under its lowercased key, in order', (t) => {
  const md = parseCoreMetadata(WHEEL_METADATA);
  t.deepEqual(md.fields['requires-dist'], ['requests>=2.31', 'click; python_version >= "3.10"', 'pytest; extra == "test"']);
  t.deepEqual(md.fields['metadata-version'], ['2.4']);
  t.deepEqual(md.fields['summary'], ['A library that does foo.']);
  t.is(md.fields['description'], undefined);
  t.deepEqual(Object.keys(md.fields).slice(0, 3), ['metadata-version', 'name', 'version']);
});

test('CRLF line endings give the same result as LF', (t) => {
  const lf = parseCoreMetadata(WHEEL_METADATA);
  const crlf = parseCoreMetadata(WHEEL_METADATA.replace(/\n/g, '\r\n'));
  t.deepEqual({ ...crlf, fields: { ...crlf.fields } }, { ...lf, fields: { ...lf.fields } });
  t.false(crlf.description?.includes('\r'));
});

test('a lone CR also ends a line, as in Python\'s parser', (t) => {
  const md = parseCoreMetadata('Metadata-Version: 2.1\rName: foo\rVersion: 1.0\r\rbody');
  t.is(md.name, 'foo');
  t.is(md.description, 'body');
});

test('continuation lines are joined with \\n and keep their indentation', (t) => {
  const md = parseCoreMetadata([
    'Metadata-Version: 1.1',
    'Name: foo',
    'Version: 1.0',
    'Description: First line.',
    '        Second line.',
    '\t',
    '        Third line.',
    'Requires-Dist: bar',
    ' >=1.0',
    'License: MIT',
    '',
  ].join('\n'));
  t.is(md.description, 'First line.\n        Second line.\n\t\n        Third line.');
  t.deepEqual(md.fields['description'], ['First line.\n        Second line.\n\t\n        Third line.']);
  t.deepEqual(md.requiresDist, ['bar\n >=1.0']);
  t.is(md.license, 'MIT');
});

test('keys are case-insensitive', (t) => {
  const md = parseCoreMetadata('METADATA-VERSION: 2.1\nname: foo\nVERSION: 1.0\nrequires-dist: a\nRequires-Dist: b\nHOME-PAGE: https://x\n');
  t.is(md.name, 'foo');
  t.is(md.version, '1.0');
  t.deepEqual(md.requiresDist, ['a', 'b']);
  t.is(md.homePage, 'https://x');
});

test('the body wins over a Description header; without a body the header is used', (t) => {
  const both = parseCoreMetadata('Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nDescription: header\n\nbody text\n');
  t.is(both.description, 'body text\n');
  const headerOnly = parseCoreMetadata('Metadata-Version: 1.2\nName: foo\nVersion: 1.0\nDescription: header\n\n  \n');
  t.is(headerOnly.description, 'header');
  const none = parseCoreMetadata('Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n');
  t.is(none.description, null);
});

test('the body keeps blank lines and header-like lines verbatim', (t) => {
  const md = parseCoreMetadata('Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n\n\nKey: not a header\n\n  x\n');
  t.is(md.description, '\nKey: not a header\n\n  x\n');
  t.is(md.fields['key'], undefined);
});

test('a line that is not a header starts the body, as compat32 does', (t) => {
  const md = parseCoreMetadata('Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nthis is not a header\nSummary: x\n');
  t.is(md.description, 'this is not a header\nSummary: x\n');
  t.is(md.summary, null);
});

test('single-line values are trimmed; empty optional values are null; multi-use fields skip blanks', (t) => {
  const md = parseCoreMetadata('Metadata-Version: 2.1\nName:foo\t\nVersion:   1.0  \nSummary:\nAuthor:  \nClassifier:\nClassifier: A :: B\nPlatform: UNKNOWN\n');
  t.is(md.name, 'foo');
  t.is(md.version, '1.0');
  t.is(md.summary, null);
  t.is(md.author, null);
  t.deepEqual(md.classifiers, ['A :: B']);
  t.deepEqual(md.fields['classifier'], ['', 'A :: B']);
  t.deepEqual(md.platforms, ['UNKNOWN']);
});

test('values may contain colons', (t) => {
  const md = parseCoreMetadata('Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nHome-page: https://example.com:8443/x\n');
  t.is(md.homePage, 'https://example.com:8443/x');
});

test('a leading BOM is ignored', (t) => {
  t.is(parseCoreMetadata('\uFEFFMetadata-Version: 2.1\nName: foo\nVersion: 1.0\n').metadataVersion, '2.1');
});

test('a header named __proto__ stays a plain field', (t) => {
  const md = parseCoreMetadata('Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n__proto__: x\nconstructor: y\n');
  t.deepEqual(md.fields['__proto__'], ['x']);
  t.deepEqual(md.fields['constructor'], ['y']);
  t.is(Object.getPrototypeOf(md.fields), null);
});

test('single-use fields take the first value', (t) => {
  t.is(parseCoreMetadata('Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nSummary: one\nSummary: two\n').summary, 'one');
});

test('the version is not checked against PEP 440 here', (t) => {
  t.is(parseCoreMetadata('Metadata-Version: 1.0\nName: foo\nVersion: 2004d\n').version, '2004d');
});

const rejected: Array<[string, string, string]> = [
  ['missing Metadata-Version', 'Name: foo\nVersion: 1.0\n', "Metadata is missing the required field 'Metadata-Version'."],
  ['missing Name', 'Metadata-Version: 2.1\nVersion: 1.0\n', "Metadata is missing the required field 'Name'."],
  ['missing Version', 'Metadata-Version: 2.1\nName: foo\n', "Metadata is missing the required field 'Version'."],
  ['empty Name', 'Metadata-Version: 2.1\nName:   \nVersion: 1.0\n', "Metadata is missing the required field 'Name'."],
  ['Name only in the body', 'Metadata-Version: 2.1\nVersion: 1.0\n\nName: foo\n', "Metadata is missing the required field 'Name'."],
  ['empty input', '', "Metadata is missing the required field 'Metadata-Version'."],
  ['repeated Name', 'Metadata-Version: 2.1\nName: foo\nName: evil\nVersion: 1.0\n', "Metadata field 'Name' appears 2 times; it must appear once."],
  ['invalid Name', 'Metadata-Version: 2.1\nName: foo bar\nVersion: 1.0\n', "'foo bar' is an invalid value for Name. Error: Start and end with a letter or numeral"],
  ['folded invalid Name', 'Metadata-Version: 2.1\nName: foo\n bar\nVersion: 1.0\n', "'foo\\u000a bar' is an invalid value for Name."],
  ['Metadata-Version 3.0', 'Metadata-Version: 3.0\nName: foo\nVersion: 1.0\n', "'3.0' is an invalid value for Metadata-Version. Error: Unknown Metadata Version"],
  ['Metadata-Version garbage', 'Metadata-Version: two\nName: foo\nVersion: 1.0\n', "'two' is an invalid value for Metadata-Version."],
  ['Metadata-Version 0.9', 'Metadata-Version: 0.9\nName: foo\nVersion: 1.0\n', 'is an invalid value for Metadata-Version'],
];
for (const [title, text, fragment] of rejected) {
  test(`rejects metadata: ${title}`, (t) => {
    const err = t.throws(() => parseCoreMetadata(text), { instanceOf: InvalidDistribution });
    t.true(err?.message.includes(fragment), err?.message);
    t.notRegex(err?.message ?? '', /[\x00-\x1f\x7f]/, 'one line');
  });
}

test('accepts every published Metadata-Version', (t) => {
  for (const v of ['1.0', '1.1', '1.2', '2.0', '2.1', '2.2', '2.3', '2.4', '2.5', '2.6']) {
    t.is(parseCoreMetadata(`Metadata-Version: ${v}\nName: foo\nVersion: 1.0\n`).metadataVersion, v);
  }
});
