import test from 'ava';
import { BadRequest, InvalidDistribution } from '../../src/errors.ts';
import { checkSafeFilename, fileMatchesRelease, parseDistFilename } from '../../src/pypi/filenames.ts';
import type { DistFilename } from '../../src/pypi/filenames.ts';

const wheels: Array<[string, Partial<Extract<DistFilename, { kind: 'wheel' }>>]> = [
  ['foo-1.0-py3-none-any.whl', {
    name: 'foo', normalizedName: 'foo', version: '1.0', buildTag: null,
    pythonTags: ['py3'], abiTags: ['none'], platformTags: ['any'],
  }],
  ['foo-1.0-1-py3-none-any.whl', { name: 'foo', version: '1.0', buildTag: '1', pythonTags: ['py3'] }],
  ['foo-1.0-2b-py3-none-any.whl', { buildTag: '2b' }],
  ['foo-1.0-py2.py3-none-any.whl', { pythonTags: ['py2', 'py3'], abiTags: ['none'], platformTags: ['any'] }],
  ['numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', {
    name: 'numpy', version: '2.1.0', pythonTags: ['cp312'], abiTags: ['cp312'],
    platformTags: ['manylinux_2_17_x86_64', 'manylinux2014_x86_64'],
  }],
  ['cffi-1.15.1-cp39-cp39-musllinux_1_1_aarch64.whl', { platformTags: ['musllinux_1_1_aarch64'] }],
  ['pyzmq-25.0.0-pp38-pypy38_pp73-macosx_10_9_x86_64.whl', { pythonTags: ['pp38'], abiTags: ['pypy38_pp73'] }],
  ['Foo.Bar-1.0-py3-none-any.whl', { name: 'Foo.Bar', normalizedName: 'foo-bar' }],
  ['Django-4.2-py3-none-any.whl', { name: 'Django', normalizedName: 'django' }],
  ['foo_bar-1.0.post1-py3-none-any.whl', { name: 'foo_bar', normalizedName: 'foo-bar', version: '1.0.post1' }],
  ['foo-1.0+cu118.local-cp310-abi3-win_amd64.whl', { version: '1.0+cu118.local', abiTags: ['abi3'] }],
  ['foo-1!2.0rc1-py3-none-any.whl', { version: '1!2.0rc1' }],
];
for (const [filename, expected] of wheels) {
  test(`wheel ${filename}`, (t) => {
    const parsed = parseDistFilename(filename);
    t.is(parsed.kind, 'wheel');
    t.is(parsed.filename, filename);
    t.like(parsed, expected);
  });
}

const sdists: Array<[string, Partial<Extract<DistFilename, { kind: 'sdist' }>>]> = [
  ['foo-1.0.tar.gz', { name: 'foo', normalizedName: 'foo', version: '1.0', format: 'tar.gz' }],
  ['foo-1.0.zip', { name: 'foo', version: '1.0', format: 'zip' }],
  ['foo-bar-1.0.post1.tar.gz', { name: 'foo-bar', normalizedName: 'foo-bar', version: '1.0.post1' }],
  ['foo_bar-1.0.tar.gz', { name: 'foo_bar', normalizedName: 'foo-bar' }],
  ['Foo.Bar-2.0rc1.tar.gz', { name: 'Foo.Bar', normalizedName: 'foo-bar', version: '2.0rc1' }],
  ['a-b-c-1.0.dev3.tar.gz', { name: 'a-b-c', version: '1.0.dev3' }],
  ['foo-1!1.0+local.1.tar.gz', { name: 'foo', version: '1!1.0+local.1' }],
  // Split on the last dash, as packaging does: the implicit post-release reads as a name part.
  ['foo-1.0-1.tar.gz', { name: 'foo-1.0', normalizedName: 'foo-1-0', version: '1' }],
];
for (const [filename, expected] of sdists) {
  test(`sdist ${filename}`, (t) => {
    const parsed = parseDistFilename(filename);
    t.is(parsed.kind, 'sdist');
    t.is(parsed.filename, filename);
    t.like(parsed, expected);
  });
}

// [filename, error class, fragment of the message]
const rejected: Array<[string, typeof BadRequest | typeof InvalidDistribution, string]> = [
  ['', BadRequest, 'empty name'],
  ['../x-1.0.tar.gz', BadRequest, "'/' or '\\'"],
  ['..\\x-1.0.tar.gz', BadRequest, "'/' or '\\'"],
  ['dir/foo-1.0.tar.gz', BadRequest, "'/' or '\\'"],
  ['foo..bar-1.0.tar.gz', BadRequest, "'..'"],
  ['..', BadRequest, "'..'"],
  ['.foo-1.0.tar.gz', BadRequest, "starts with '.'"],
  ['foo-1.0\n.tar.gz', BadRequest, 'non-printable characters (ordinals 0-31)'],
  ['foo\x00-1.0.tar.gz', BadRequest, 'non-printable'],
  ['foo\t-1.0.tar.gz', BadRequest, 'non-printable'],
  ['foo\x7f-1.0.tar.gz', BadRequest, 'DEL character (ordinal 127)'],
  [`${'a'.repeat(250)}-1.0.tar.gz`, BadRequest, 'longer than 255 bytes'],
  ['foo-1.0.egg', InvalidDistribution, 'Invalid file extension: use .whl for wheels or .tar.gz/.zip for sdists'],
  ['foo-1.0-py3.8.egg', InvalidDistribution, 'Invalid file extension'],
  ['foo-1.0.win32.exe', InvalidDistribution, 'Invalid file extension'],
  ['foo-1.0.tar.bz2', InvalidDistribution, 'Invalid file extension'],
  ['foo-1.0.tgz', InvalidDistribution, 'Invalid file extension'],
  ['foo-1.0.WHL', InvalidDistribution, 'Invalid file extension'],
  ['foo-1.0.tar', InvalidDistribution, 'Invalid file extension'],
  ['foo-1.0', InvalidDistribution, 'Invalid file extension'],
  ['foo.tar.gz', InvalidDistribution, "Invalid sdist filename 'foo.tar.gz': expected {name}-{version}.tar.gz."],
  ['foo.zip', InvalidDistribution, 'expected {name}-{version}.zip.'],
  ['foo-latest.tar.gz', InvalidDistribution, "'latest' is not a valid PEP 440 version"],
  ['foo-1.0-.tar.gz', InvalidDistribution, "'' is not a valid PEP 440 version"],
  ['-1.0.tar.gz', InvalidDistribution, "'' is not a valid project name"],
  ['foo_-1.0.tar.gz', InvalidDistribution, "'foo_' is not a valid project name"],
  ['foo bar-1.0.tar.gz', InvalidDistribution, 'not a valid project name'],
  ['foo-1.0-any.whl', InvalidDistribution, 'expected {name}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl'],
  ['foo-1.0-1-2-py3-none-any.whl', InvalidDistribution, 'expected {name}'],
  ['foo-bar-1.0-py3-none-any.whl', InvalidDistribution, "'bar' is not a valid PEP 440 version (write any '-' in the project name as '_')"],
  ['foo__bar-1.0-py3-none-any.whl', InvalidDistribution, "invalid project name 'foo__bar'"],
  ['foo+bar-1.0-py3-none-any.whl', InvalidDistribution, 'invalid project name'],
  ['_foo-1.0-py3-none-any.whl', InvalidDistribution, 'invalid project name'],
  ['föö-1.0-py3-none-any.whl', InvalidDistribution, "invalid project name 'f\\u00f6\\u00f6'"],
  ['foo-1.0-b1-py3-none-any.whl', InvalidDistribution, "build tag 'b1' must start with a digit"],
  ['foo-1.0--py3-none-any.whl', InvalidDistribution, "build tag '' must start with a digit"],
  ['foo-x.y-py3-none-any.whl', InvalidDistribution, "'x.y' is not a valid PEP 440 version"],
  ['foo-1.0-py2.-none-any.whl', InvalidDistribution, 'empty compatibility tag'],
  ['foo-1.0--none-any.whl', InvalidDistribution, 'empty compatibility tag'],
  ['foo-1.0-py3-none-.whl', InvalidDistribution, 'empty compatibility tag'],
];
for (const [filename, errorClass, fragment] of rejected) {
  test(`rejects ${JSON.stringify(filename.length > 40 ? `${filename.slice(0, 20)}…` : filename)}`, (t) => {
    const err = t.throws(() => parseDistFilename(filename), { instanceOf: errorClass });
    t.true(err?.message.includes(fragment), err?.message);
    t.is(err?.status, 400);
    t.notRegex(err?.message ?? '', /[\x00-\x1f\x7f]/, 'one line, no control characters');
  });
}

test('checkSafeFilename accepts ordinary names, including a 255-byte one', (t) => {
  t.notThrows(() => checkSafeFilename('foo-1.0.tar.gz'));
  t.notThrows(() => checkSafeFilename(`${'a'.repeat(248)}.tar.gz`));
  t.throws(() => checkSafeFilename(`${'a'.repeat(249)}.tar.gz`), { instanceOf: BadRequest });
});

test('checkSafeFilename counts bytes, not characters', (t) => {
  t.throws(() => checkSafeFilename('é'.repeat(128)), { instanceOf: BadRequest, message: /255 bytes/ });
});

test("checkSafeFilename's messages match warehouse", (t) => {
  t.throws(() => checkSafeFilename('a/b'), { message: "Cannot upload a file with '/' or '\\' in the name." });
  t.throws(() => checkSafeFilename('a\u0001b'), {
    message: 'Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL character (ordinal 127) in the name.',
  });
});

test('fileMatchesRelease compares normalized names and PEP 440 versions', (t) => {
  const wheel = parseDistFilename('Foo.Bar-1.0-py3-none-any.whl');
  t.true(fileMatchesRelease(wheel, 'foo-bar', '1.0'));
  t.true(fileMatchesRelease(wheel, 'FOO_BAR', '1.0.0'));
  t.false(fileMatchesRelease(wheel, 'foo-baz', '1.0'));
  t.false(fileMatchesRelease(wheel, 'foo-bar', '1.0.post1'));
  const sdist = parseDistFilename('foo_bar-1.0-1.zip');
  t.false(fileMatchesRelease(sdist, 'foo-bar', '1.0.post1'), 'packaging reads this as project foo-bar-1.0');
  t.true(fileMatchesRelease(parseDistFilename('foo_bar-1.0.post1.tar.gz'), 'foo-bar', '1.0-1'));
});
