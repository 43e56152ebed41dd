/** The files filter's rules (src/pypi/file-filter.ts), its page application (src/repos/file-filters.ts) and its config keys. */
import test from 'ava';
import { parseConfig } from '../../src/config/schema.ts';
import { checkFileFilter, compileFileFilter, describeFileFilter, unmatchedPlatformGlobs, type FileFilterSpec } from '../../src/pypi/file-filter.ts';
import type { IndexFile, ProjectPage } from '../../src/pypi/pages.ts';
import { chainsReason, filterPage, filterReason, namedFilter } from '../../src/repos/file-filters.ts';

const spec = (s: Partial<FileFilterSpec>): FileFilterSpec => ({ platforms: null, python: null, sdists: true, ...s });
const keeps = (s: Partial<FileFilterSpec>, filename: string, requiresPython: string | null = null): boolean =>
  compileFileFilter(spec(s)).exclusion(filename, requiresPython) === null;

const CLUSTER = ['manylinux*_x86_64', 'manylinux*_aarch64', 'any'];

const platformCases: [string, boolean][] = [
  ['numpy-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', true],
  ['numpy-2.0-cp311-cp311-manylinux_2_28_aarch64.whl', true],
  ['numpy-2.0-cp311-cp311-manylinux1_x86_64.whl', true],
  ['numpy-2.0-cp311-cp311-musllinux_1_2_x86_64.whl', false],
  ['numpy-2.0-cp311-cp311-win_amd64.whl', false],
  ['numpy-2.0-cp311-cp311-macosx_11_0_arm64.whl', false],
  ['numpy-2.0-cp311-cp311-linux_x86_64.whl', false],
  ['six-1.16-py2.py3-none-any.whl', true],
  ['numpy-2.0.tar.gz', true],
];
for (const [filename, kept] of platformCases) {
  test(`platforms ${CLUSTER.join(',')}: ${filename} ${kept ? 'kept' : 'dropped'}`, (t) => {
    t.is(keeps({ platforms: CLUSTER }, filename), kept);
  });
}

test('without `any`, pure wheels are dropped; `?` matches one character; tags match case-insensitively', (t) => {
  t.false(keeps({ platforms: ['manylinux*_x86_64'] }, 'six-1.16-py3-none-any.whl'));
  t.true(keeps({ platforms: ['win?amd64'] }, 'x-1.0-cp311-cp311-win_amd64.whl'));
  t.false(keeps({ platforms: ['win?amd64'] }, 'x-1.0-cp311-cp311-win__amd64.whl'));
  t.true(keeps({ platforms: ['macosx_*_arm64'] }, 'x-1.0-cp311-cp311-MACOSX_11_0_ARM64.whl'));
});

// ">=3.10": some Python 3.10 or later must be able to install the file.
const pythonCases: [string, string | null, boolean][] = [
  ['x-1.0-cp39-cp39-manylinux_2_17_x86_64.whl', null, false],
  ['x-1.0-cp310-cp310-manylinux_2_17_x86_64.whl', null, true],
  ['x-1.0-cp313-cp313t-manylinux_2_17_x86_64.whl', null, true],
  ['x-1.0-cp38-abi3-manylinux_2_17_x86_64.whl', null, true],
  ['x-1.0-cp311-abi3-manylinux_2_17_x86_64.whl', null, true],
  ['x-1.0-cp38-cp38-manylinux_2_17_x86_64.whl', null, false],
  ['x-1.0-py3-none-any.whl', null, true],
  ['x-1.0-py2.py3-none-any.whl', null, true],
  ['x-1.0-py2-none-any.whl', null, false],
  ['x-1.0-py39-none-any.whl', null, false],
  ['x-1.0-cp39.cp310-cp39.cp310-manylinux_2_17_x86_64.whl', null, true],
  ['x-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl', null, true],
  ['x-1.0-pp39-pypy39_pp73-manylinux_2_17_x86_64.whl', null, false],
  ['x-1.0-py3-none-any.whl', '<3.9', false],
  ['x-1.0-py3-none-any.whl', '>=3.6,<3.10.2', true],
  ['x-1.0-py3-none-any.whl', '==3.10.*', true],
  ['x-1.0-py3-none-any.whl', '>=3.8', true],
  ['x-1.0-py3-none-any.whl', 'not a specifier', true],
  ['x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl', '<3.11', false],
  ['x-1.0-weird42-none-any.whl', null, true],
  ['x-1.0.tar.gz', null, true],
  ['x-1.0.tar.gz', '<3.10', false],
  ['x-1.0.tar.gz', '>=3.12', true],
];
for (const [filename, requiresPython, kept] of pythonCases) {
  test(`python >=3.10: ${filename}${requiresPython ? ` (Requires-Python ${requiresPython})` : ''} ${kept ? 'kept' : 'dropped'}`, (t) => {
    t.is(keeps({ python: '>=3.10' }, filename, requiresPython), kept);
  });
}

test('python: bounded sets and micro boundaries', (t) => {
  t.false(keeps({ python: '>=3.10,<3.12' }, 'x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl'));
  t.true(keeps({ python: '>=3.10,<3.12' }, 'x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl'));
  // 3.10.5 and later: a wheel for 3.10 needing < 3.10.4 cannot be installed there.
  t.false(keeps({ python: '>=3.10.5,<3.11' }, 'x-1.0-py3-none-any.whl', '<3.10.4'));
  t.true(keeps({ python: '>=3.10.5,<3.11' }, 'x-1.0-py3-none-any.whl', '<=3.10.5'));
  t.true(keeps({ python: '~=3.10.2' }, 'x-1.0-cp310-cp310-manylinux_2_17_x86_64.whl'));
  t.true(keeps({ python: '>=3.60' }, 'x-1.0-cp361-abi3-manylinux_2_17_x86_64.whl'), 'minor versions beyond today are considered');
  t.false(keeps({ python: '<3' }, 'x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl'));
});

test('sdists: false drops sdists only; exclusion says which key', (t) => {
  const f = compileFileFilter(spec({ platforms: CLUSTER, python: '>=3.10', sdists: false }));
  t.deepEqual(f.exclusion('x-1.0.tar.gz', null), { key: 'sdists', setting: 'false' });
  t.deepEqual(f.exclusion('x-1.0.zip', null), { key: 'sdists', setting: 'false' });
  t.deepEqual(f.exclusion('x-1.0-cp311-cp311-win_amd64.whl', null), { key: 'platforms', setting: 'manylinux*_x86_64, manylinux*_aarch64, any' });
  t.deepEqual(f.exclusion('x-1.0-cp39-cp39-manylinux_2_17_x86_64.whl', null), { key: 'python', setting: '>=3.10' });
  t.is(f.exclusion('x-1.0-py3-none-any.whl', null), null);
  t.is(f.exclusion('not-a-dist.exe', null), null, 'what cannot be read is not judged');
  t.is(describeFileFilter(f.spec), 'platforms: manylinux*_x86_64, manylinux*_aarch64, any; python: >=3.10; sdists: false');
});

test('checkFileFilter names the key; unmatched globs are found for a warning', (t) => {
  t.is(checkFileFilter(spec({ platforms: CLUSTER, python: '>=3.10' })), null);
  t.is(checkFileFilter(spec({ platforms: ['manylinux[12]_x86_64'] }))?.key, 'platforms');
  t.is(checkFileFilter(spec({ platforms: ['manylinux_2_17_x86_64.manylinux2014_x86_64'] }))?.key, 'platforms');
  t.is(checkFileFilter(spec({ platforms: [] }))?.key, 'platforms');
  t.is(checkFileFilter(spec({ python: '>= three' }))?.key, 'python');
  t.deepEqual(unmatchedPlatformGlobs(spec({ platforms: [...CLUSTER, 'manylinux_x86_64', 'win_amd64', 'plan9_*'] })), ['manylinux_x86_64', 'plan9_*']);
});

test('config: files on remote and virtual repositories, errors naming the key', (t) => {
  const base = (files: unknown, type = 'remote') => ({ repositories: { r: { type, ...(type === 'virtual' ? { members: ['l'] } : {}), files }, l: { type: 'local' } } });
  const c = parseConfig(base({ platforms: ['any'], python: ' >=3.10 ', sdists: false }));
  t.deepEqual((c.repositories.r as { files: unknown }).files, { platforms: ['any'], python: '>=3.10', sdists: false });
  t.is((parseConfig(base({})).repositories.r as { files: unknown }).files, null, 'an empty filter is none');
  t.deepEqual((parseConfig(base({ sdists: false }, 'virtual')).repositories.r as { files: unknown }).files, { platforms: null, python: null, sdists: false });
  t.is((parseConfig(base(undefined)).repositories.r as { keepRemoved: boolean }).keepRemoved, false);
  t.throws(() => parseConfig(base({ platforms: 'any' })), { message: /config key 'repositories\.r\.files\.platforms': expected a list of strings/ });
  t.throws(() => parseConfig(base({ python: '' })), { message: /config key 'repositories\.r\.files\.python'/ });
  t.throws(() => parseConfig(base({ python: '3.10+' })), { message: /config key 'repositories\.r\.files\.python': "3\.10\+" is not a PEP 440 specifier set/ });
  t.throws(() => parseConfig(base({ sdists: 'no' })), { message: /config key 'repositories\.r\.files\.sdists': expected true or false/ });
  t.throws(() => parseConfig(base({ platform: ['any'] })), { message: /config key 'repositories\.r\.files\.platform': unknown key/ });
  t.throws(() => parseConfig(base(['any'])), { message: /config key 'repositories\.r\.files': expected a mapping/ });
  t.throws(() => parseConfig({ repositories: { l: { type: 'local', files: { sdists: false } } } }), { message: /config key 'repositories\.l\.files': unknown key/ });
  t.throws(() => parseConfig({ repositories: { l: { type: 'local' }, v: { type: 'virtual', members: ['l'], keepRemoved: true } } }), { message: /config key 'repositories\.v\.keepRemoved': unknown key/ });
});

function file(filename: string, requiresPython: string | null = null): IndexFile {
  return { filename, path: `files/x/${filename}`, sha256: 'x', size: 1, requiresPython, uploadTime: null, yanked: false, metadataSha256: null };
}

test('filterPage drops files and the versions left without one; versions listed without files stay', (t) => {
  const page: ProjectPage = {
    name: 'x', displayName: 'X', status: null, versions: ['0.5', '1.0', '2.0'],
    files: [file('x-1.0-cp39-cp39-win_amd64.whl'), file('x-2.0-py3-none-any.whl'), file('x-2.0-cp39-cp39-win_amd64.whl')],
  };
  const f = namedFilter('pypi', spec({ platforms: ['any'] }))!;
  const out = filterPage(page, (x) => filterReason([f], x.filename, x.requiresPython) === null);
  t.deepEqual(out.files.map((x) => x.filename), ['x-2.0-py3-none-any.whl']);
  t.deepEqual(out.versions, ['0.5', '2.0']);
  t.is(filterPage(page, () => true), page, 'nothing dropped: the same page');
});

test('chainsReason: one way that keeps the file is enough; otherwise the first way names its filter', (t) => {
  const any = namedFilter('a', spec({ platforms: ['any'] }))!;
  const win = namedFilter('w', spec({ platforms: ['win_*'] }))!;
  const wheel = 'x-1.0-cp311-cp311-win_amd64.whl';
  t.is(chainsReason([[any], [win]], wheel, null), null);
  t.is(chainsReason([[any], [any, win]], wheel, null), `'${wheel}' is filtered out of repository 'a' by its files filter (platforms: any)`);
  t.is(chainsReason([[win, any]], wheel, null), `'${wheel}' is filtered out of repository 'a' by its files filter (platforms: any)`);
  t.is(chainsReason([], wheel, null), null);
});
