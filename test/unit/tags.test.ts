/**
 * src/resolve/tags.ts: targets, their tag lists and the wheel pip picks.
 *
 * The pure tests pin the shapes; the oracle tests ask both of this
 * machine's Pythons (pip 23.2 and Debian's pip 23.0, packaging 21.3 in both)
 * for the same answers: packaging's tag functions for every shorthand, pip's
 * own CandidateEvaluator for the wheel choice, pip's get_supported() and
 * sys_tags() for this machine, and the README one-liners run for real.
 * A missing Python fails these tests (helpers/python-oracle.ts).
 */
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { InvalidDistribution, InvalidTarget, PydepotError } from '../../src/errors.ts';
import {
  bestWheel, cpythonTags, parseTargetShorthand, platformTags, targetFromJson, wheelTags,
  TARGET_FILE_COMMAND, TARGET_FILE_COMMAND_STDLIB,
} from '../../src/resolve/tags.ts';
import { PYTHONS, pythonJson, shell } from '../helpers/python-oracle.ts';

// --- Shorthands: shapes --------------------------------------------------------

const X86_64_2_17 = [
  'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux_2_16_x86_64', 'manylinux_2_15_x86_64',
  'manylinux_2_14_x86_64', 'manylinux_2_13_x86_64', 'manylinux_2_12_x86_64', 'manylinux2010_x86_64',
  'manylinux_2_11_x86_64', 'manylinux_2_10_x86_64', 'manylinux_2_9_x86_64', 'manylinux_2_8_x86_64',
  'manylinux_2_7_x86_64', 'manylinux_2_6_x86_64', 'manylinux_2_5_x86_64', 'manylinux1_x86_64', 'linux_x86_64',
];

test('manylinux_2_17 x86_64: every older glibc down to 2.5, legacy aliases after their glibc, linux_x86_64 last', (t) => {
  t.deepEqual(platformTags('manylinux_2_17_x86_64'), X86_64_2_17);
  // manylinux2014 names the same machine (PEP 599: glibc 2.17).
  t.deepEqual(platformTags('manylinux2014_x86_64'), X86_64_2_17);
  t.deepEqual(platformTags('manylinux1_x86_64'), ['manylinux_2_5_x86_64', 'manylinux1_x86_64', 'linux_x86_64']);
});

test('manylinux_2_28 aarch64 stops at 2.17, the oldest aarch64 glibc packaging knows', (t) => {
  const p = platformTags('manylinux_2_28_aarch64');
  t.is(p.length, 12 + 1 + 1);
  t.deepEqual(p.slice(0, 2), ['manylinux_2_28_aarch64', 'manylinux_2_27_aarch64']);
  t.deepEqual(p.slice(-3), ['manylinux_2_17_aarch64', 'manylinux2014_aarch64', 'linux_aarch64']);
  t.false(p.some((x) => x.startsWith('manylinux2010') || x.startsWith('manylinux1_')));
});

test('musllinux_1_2: 1.2 down to 1.0, then linux_<arch>; no manylinux', (t) => {
  t.deepEqual(platformTags('musllinux_1_2_x86_64'), ['musllinux_1_2_x86_64', 'musllinux_1_1_x86_64', 'musllinux_1_0_x86_64', 'linux_x86_64']);
});

test('linuxTag "first" puts linux_<arch> before manylinux/musllinux (packaging 26.3)', (t) => {
  t.deepEqual(platformTags('manylinux_2_17_x86_64', { linuxTag: 'first' }), ['linux_x86_64', ...X86_64_2_17.slice(0, -1)]);
  const target = parseTargetShorthand('cp311-musllinux_1_2_x86_64', { linuxTag: 'first' });
  t.is(target.tags[0], 'cp311-cp311-linux_x86_64');
  t.is(target.tags[1], 'cp311-cp311-musllinux_1_2_x86_64');
});

test('linux_<arch> alone, macOS and Windows platform lists', (t) => {
  t.deepEqual(platformTags('linux_x86_64'), ['linux_x86_64']);
  t.deepEqual(platformTags('win_amd64'), ['win_amd64']);
  t.deepEqual(platformTags('macosx_11_0_arm64').slice(0, 3), ['macosx_11_0_arm64', 'macosx_11_0_universal2', 'macosx_10_16_universal2']);
  t.deepEqual(platformTags('macosx_10_9_x86_64').slice(0, 7), [
    'macosx_10_9_x86_64', 'macosx_10_9_intel', 'macosx_10_9_fat64', 'macosx_10_9_fat32', 'macosx_10_9_universal2',
    'macosx_10_9_universal', 'macosx_10_8_x86_64',
  ]);
});

test('cp311 tag list: cp311 ABI, abi3, none, older abi3 down to cp32, py3x/py3, cp311-none-any, py*-none-any', (t) => {
  const tags = cpythonTags(11, ['win_amd64']);
  t.deepEqual(tags, [
    'cp311-cp311-win_amd64', 'cp311-abi3-win_amd64', 'cp311-none-win_amd64',
    ...[10, 9, 8, 7, 6, 5, 4, 3, 2].map((m) => `cp3${m}-abi3-win_amd64`),
    ...['py311', 'py3', 'py310', 'py39', 'py38', 'py37', 'py36', 'py35', 'py34', 'py33', 'py32', 'py31', 'py30'].map((p) => `${p}-none-win_amd64`),
    'cp311-none-any',
    ...['py311', 'py3', 'py310', 'py39', 'py38', 'py37', 'py36', 'py35', 'py34', 'py33', 'py32', 'py31', 'py30'].map((p) => `${p}-none-any`),
  ]);
  t.is(cpythonTags(7, ['win32'])[0], 'cp37-cp37m-win32');
});

test('the brief\'s shorthands parse, with the marker environment Python reports there', (t) => {
  const envOf = (s: string) => parseTargetShorthand(s).env;
  t.like(envOf('cp311-manylinux_2_17_x86_64'), {
    python_version: '3.11', python_full_version: '3.11.0', implementation_name: 'cpython', implementation_version: '3.11.0',
    platform_python_implementation: 'CPython', os_name: 'posix', sys_platform: 'linux', platform_system: 'Linux',
    platform_machine: 'x86_64', platform_release: '', platform_version: '',
  });
  t.like(envOf('cp312-manylinux_2_28_aarch64'), { python_version: '3.12', platform_machine: 'aarch64' });
  t.like(envOf('cp310-macosx_11_0_arm64'), { sys_platform: 'darwin', platform_system: 'Darwin', os_name: 'posix', platform_machine: 'arm64' });
  t.like(envOf('cp39-macosx_10_9_x86_64'), { python_version: '3.9', platform_machine: 'x86_64' });
  t.like(envOf('cp311-win_amd64'), { sys_platform: 'win32', platform_system: 'Windows', os_name: 'nt', platform_machine: 'AMD64' });
  t.like(envOf('cp311-win32'), { platform_machine: 'x86' });
  t.like(envOf('cp311-win_arm64'), { platform_machine: 'ARM64' });
  t.like(envOf('cp311-musllinux_1_2_x86_64'), { sys_platform: 'linux', platform_machine: 'x86_64' });
  t.like(envOf('cp313-linux_x86_64'), { python_version: '3.13', sys_platform: 'linux' });
  t.like(envOf('cp311-manylinux2014_x86_64'), { platform_machine: 'x86_64' });
  const target = parseTargetShorthand('  CP311-Manylinux_2_17_X86_64 ');
  t.is(target.name, 'cp311-manylinux_2_17_x86_64');
  t.is(target.tags[0], 'cp311-cp311-manylinux_2_17_x86_64');
  t.true(Object.isFrozen(target.tags));
});

const refused: Array<[string, string]> = [
  ['manylinux2014_x86_64', 'needs its Python too: write e.g. cp311-manylinux2014_x86_64'],
  ['cp311', 'Unknown target'],
  ['cp311-', 'unknown platform'],
  ['py311-manylinux_2_17_x86_64', 'Only CPython 3'],
  ['cp27-manylinux1_x86_64', 'Only CPython 3'],
  ['cp32-win_amd64', '3.3 or later'],
  ['cp3011-win_amd64', "'cp3011' is not a CPython"],
  ['cp311-manylinux_2_12_aarch64', 'oldest manylinux for aarch64 (manylinux_2_17_aarch64)'],
  ['cp311-manylinux2010_aarch64', 'only for x86_64 and i686'],
  ['cp311-manylinux_3_1_x86_64', 'glibc 2 only'],
  ['cp311-musllinux_2_0_x86_64', 'musl 1 only'],
  ['cp311-manylinux_2_17_riscv64', 'unknown platform'],
  ['cp310-macosx_10_9_arm64', 'macOS 11 or later'],
  ['cp310-macosx_10_3_x86_64', '10.4 or later'],
  ['cp311-win_ia64', 'unknown platform'],
  ['cp311-freebsd_13_amd64', 'unknown platform'],
];
for (const [text, fragment] of refused) {
  test(`shorthand ${JSON.stringify(text)} is refused: ${fragment}`, (t) => {
    const err = t.throws(() => parseTargetShorthand(text), { instanceOf: InvalidTarget });
    t.true(err instanceof PydepotError);
    t.is(err?.status, 400);
    t.true(err?.message.includes(fragment), err?.message);
    // Every refusal lists what is accepted, with the examples.
    t.true(err?.message.includes('Accepted: cp3<minor>-<platform>'), err?.message);
    t.true(err?.message.includes('cp311-musllinux_1_2_x86_64'), err?.message);
  });
}

test('a refusal quotes the input on one safe line, cut when long', (t) => {
  const err = t.throws(() => parseTargetShorthand(`cp311-\u0000\n${'x'.repeat(500)}`), { instanceOf: InvalidTarget });
  t.false(/[\n\u0000]/.test(err?.message ?? ''));
  t.true((err?.message.length ?? 0) < 1200);
});

// --- Wheels ---------------------------------------------------------------------

test('wheelTags expands compressed tag sets and lowercases', (t) => {
  t.deepEqual(wheelTags('six-1.16.0-py2.py3-none-any.whl'), ['py2-none-any', 'py3-none-any']);
  t.deepEqual(wheelTags('numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'), [
    'cp312-cp312-manylinux_2_17_x86_64', 'cp312-cp312-manylinux2014_x86_64',
  ]);
  t.deepEqual(wheelTags('foo-1.0-CP311-abi3-Win_AMD64.whl'), ['cp311-abi3-win_amd64']);
  t.throws(() => wheelTags('foo-1.0.tar.gz'), { instanceOf: InvalidDistribution });
  t.throws(() => wheelTags('foo-1.0-py3-any.whl'), { instanceOf: InvalidDistribution });
});

test('bestWheel: lowest tag index wins, then the higher build tag (numerically), then the first listed', (t) => {
  const target = parseTargetShorthand('cp311-manylinux_2_28_x86_64');
  t.is(bestWheel([
    'a-1.0-py3-none-any.whl',
    'a-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
    'a-1.0-cp311-cp311-manylinux_2_28_x86_64.whl',
    'a-1.0-cp312-cp312-manylinux_2_28_x86_64.whl',
    'a-1.0.tar.gz',
  ], target), 'a-1.0-cp311-cp311-manylinux_2_28_x86_64.whl');
  t.is(bestWheel([
    'a-1.0-9-cp311-cp311-manylinux_2_17_x86_64.whl',
    'a-1.0-10-cp311-cp311-manylinux_2_17_x86_64.whl',
    'a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl',
  ], target), 'a-1.0-10-cp311-cp311-manylinux_2_17_x86_64.whl');
  // (2, 'b') > (2, 'a') > (2, '') as in pip's tuple comparison.
  t.is(bestWheel(['a-1.0-2a-py3-none-any.whl', 'a-1.0-2b-py3-none-any.whl', 'a-1.0-2-py3-none-any.whl'], target), 'a-1.0-2b-py3-none-any.whl');
  t.is(bestWheel(['a-1.0-py3-none-any.whl', 'a-1.0-py2.py3-none-any.whl'], target), 'a-1.0-py3-none-any.whl');
  t.is(bestWheel(['a-1.0-99999999999999999999-py3-none-any.whl', 'a-1.0-99999999999999999998-py3-none-any.whl'], target),
    'a-1.0-99999999999999999999-py3-none-any.whl');
});

test('bestWheel: null when nothing fits; sdists and unparsable names are passed over', (t) => {
  const target = parseTargetShorthand('cp311-win_amd64');
  t.is(bestWheel(['a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl', 'a-1.0.tar.gz', 'a-1.0-cp312-cp312-win_amd64.whl'], target), null);
  t.is(bestWheel(['not a wheel.whl', 'a-1.0-cp38-abi3-win_amd64.whl'], target), 'a-1.0-cp38-abi3-win_amd64.whl');
  t.is(bestWheel([], target), null);
});

// --- Target files -----------------------------------------------------------------

const HOST_LIKE_ENV = {
  implementation_name: 'cpython', implementation_version: '3.11.7', os_name: 'posix', platform_machine: 'x86_64',
  platform_release: '6.1.0', platform_system: 'Linux', platform_version: '#1 SMP', python_full_version: '3.11.7',
  platform_python_implementation: 'CPython', python_version: '3.11', sys_platform: 'linux',
};

test('targetFromJson: env + tags, used as given', (t) => {
  const target = targetFromJson({ env: { ...HOST_LIKE_ENV, extra_future_key: 'x' }, tags: ['cp311-cp311-manylinux_2_36_x86_64', 'py3-none-any', 'PY3-none-any'] });
  t.deepEqual(target.tags, ['cp311-cp311-manylinux_2_36_x86_64', 'py3-none-any']);
  t.deepEqual(target.env, HOST_LIKE_ENV);
  t.is(target.name, 'cp311-manylinux_2_36_x86_64');
  t.is(targetFromJson({ env: HOST_LIKE_ENV, tags: ['py3-none-any'], name: 'node-a' }).name, 'node-a');
  t.is(targetFromJson({ env: HOST_LIKE_ENV, tags: ['py3-none-any'], name: 'node-a' }, { name: 'nodes/b.json' }).name, 'nodes/b.json');
});

test('targetFromJson: env + platform derives the tags like the shorthand, keeping the exact env', (t) => {
  const target = targetFromJson({ env: HOST_LIKE_ENV, platform: 'manylinux_2_17_x86_64' });
  t.deepEqual(target.tags, parseTargetShorthand('cp311-manylinux_2_17_x86_64').tags);
  t.is(target.env.python_full_version, '3.11.7');
  t.is(target.name, 'cp311-manylinux_2_17_x86_64');
  const mac = targetFromJson({ env: { ...HOST_LIKE_ENV, sys_platform: 'darwin', platform_system: 'Darwin', platform_machine: 'arm64' }, platform: 'macosx_14_5_arm64' });
  t.is(mac.tags[0], 'cp311-cp311-macosx_14_0_arm64');
});

const badFiles: Array<[string, unknown, string]> = [
  ['not an object', [], 'expected a JSON object'],
  ['no env', { tags: ['py3-none-any'] }, '"env" must be an object'],
  ['env key missing', { env: { ...HOST_LIKE_ENV, python_version: undefined }, tags: ['py3-none-any'] }, '"env.python_version" must be a string, got nothing'],
  ['env value not a string', { env: { ...HOST_LIKE_ENV, os_name: 1 }, tags: ['py3-none-any'] }, '"env.os_name" must be a string, got a number'],
  ['bad python_version', { env: { ...HOST_LIKE_ENV, python_version: '3' }, tags: ['py3-none-any'] }, 'must look like "3.11"'],
  ['full version of another Python', { env: { ...HOST_LIKE_ENV, python_full_version: '3.12.1' }, tags: ['py3-none-any'] }, 'is not a 3.11 version'],
  ['unknown key', { env: HOST_LIKE_ENV, tags: ['py3-none-any'], tag: [] }, "unknown key 'tag'"],
  ['neither tags nor platform', { env: HOST_LIKE_ENV }, '"tags" (the pip one-liner'],
  ['both', { env: HOST_LIKE_ENV, tags: ['py3-none-any'], platform: 'win_amd64' }, 'not both'],
  ['empty tags', { env: HOST_LIKE_ENV, tags: [] }, 'non-empty array'],
  ['compressed tag', { env: HOST_LIKE_ENV, tags: ['py3-none-any', 'py2.py3-none-any'] }, '"tags[1]" must be one interpreter-abi-platform tag'],
  ['tag not a string', { env: HOST_LIKE_ENV, tags: [3] }, '"tags[0]"'],
  ['two-part tag', { env: HOST_LIKE_ENV, tags: ['py3-any'] }, '"tags[0]"'],
  ['null platform (musl node, stdlib one-liner)', { env: HOST_LIKE_ENV, platform: null }, 'musllinux_1_<minor>_<arch>'],
  ['unknown platform', { env: HOST_LIKE_ENV, platform: 'solaris_11' }, "\"platform\" 'solaris_11': unknown platform"],
  ['platform of another OS', { env: HOST_LIKE_ENV, platform: 'win_amd64' }, "for sys_platform 'win32'"],
  ['platform for PyPy', { env: { ...HOST_LIKE_ENV, implementation_name: 'pypy' }, platform: 'manylinux_2_17_x86_64' }, 'CPython only'],
  ['bad name', { env: HOST_LIKE_ENV, tags: ['py3-none-any'], name: '' }, '"name" must be a non-empty string'],
];
for (const [what, value, fragment] of badFiles) {
  test(`targetFromJson refuses ${what}`, (t) => {
    const err = t.throws(() => targetFromJson(value), { instanceOf: InvalidTarget });
    t.is(err?.status, 400);
    t.true(err?.message.startsWith('Invalid target file: '), err?.message);
    t.true(err?.message.includes(fragment), err?.message);
  });
}

// --- Oracle: packaging's tag functions and pip's CandidateEvaluator -------------------

/** Every shorthand of the brief, plus each arch, legacy alias, old and new Python and macOS edge. */
const ORACLE_SHORTHANDS = [
  'cp311-manylinux_2_17_x86_64', 'cp312-manylinux_2_28_aarch64', 'cp310-macosx_11_0_arm64', 'cp311-win_amd64',
  'cp311-musllinux_1_2_x86_64', 'cp311-manylinux2014_x86_64', 'cp313-linux_x86_64', 'cp39-macosx_10_9_x86_64',
  'cp311-win32', 'cp311-win_arm64',
  'cp38-manylinux_2_17_i686', 'cp311-manylinux_2_31_armv7l', 'cp312-manylinux_2_17_ppc64le', 'cp311-manylinux_2_17_s390x',
  'cp310-manylinux_2_17_ppc64', 'cp37-manylinux2010_x86_64', 'cp37-manylinux1_i686', 'cp312-musllinux_1_1_aarch64',
  'cp313-macosx_14_0_x86_64', 'cp313-macosx_15_2_arm64', 'cp38-macosx_10_15_x86_64', 'cp36-macosx_10_4_x86_64',
  'cp312-manylinux_2_39_x86_64', 'cp314-manylinux_2_17_aarch64', 'cp311-musllinux_1_0_armv7l',
];

/** One release with wheels for many platforms, pure wheels, abi3 wheels and build tags. */
const MIXED_WHEELS = [
  'demo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
  'demo-1.0-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
  'demo-1.0-2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
  'demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl',
  'demo-1.0-cp311-cp311-linux_x86_64.whl',
  'demo-1.0-cp311-cp311-musllinux_1_1_x86_64.whl',
  'demo-1.0-cp311-cp311-musllinux_1_2_x86_64.whl',
  'demo-1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl',
  'demo-1.0-cp311-cp311-manylinux_2_28_aarch64.whl',
  'demo-1.0-cp311-cp311-musllinux_1_1_aarch64.whl',
  'demo-1.0-cp311-cp311-macosx_10_9_x86_64.whl',
  'demo-1.0-cp311-cp311-macosx_10_9_universal2.whl',
  'demo-1.0-cp311-cp311-macosx_11_0_arm64.whl',
  'demo-1.0-cp311-cp311-win_amd64.whl',
  'demo-1.0-cp311-cp311-win32.whl',
  'demo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
  'demo-1.0-cp312-cp312-manylinux_2_28_aarch64.whl',
  'demo-1.0-cp312-cp312-macosx_11_0_arm64.whl',
  'demo-1.0-9-cp312-cp312-win_amd64.whl',
  'demo-1.0-10-cp312-cp312-win_amd64.whl',
  'demo-1.0-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
  'demo-1.0-cp310-cp310-macosx_11_0_arm64.whl',
  'demo-1.0-cp39-cp39-macosx_10_9_x86_64.whl',
  'demo-1.0-cp37-cp37m-manylinux1_x86_64.whl',
  'demo-1.0-cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
  'demo-1.0-cp38-abi3-manylinux2014_aarch64.whl',
  'demo-1.0-cp38-abi3-win_arm64.whl',
  'demo-1.0-cp38-abi3-macosx_10_9_universal2.whl',
  'demo-1.0-cp311-none-any.whl',
  'demo-1.0-py3-none-any.whl',
  'demo-1.0-py2.py3-none-any.whl',
  'demo-1.0-cp313-cp313-musllinux_1_2_aarch64.whl',
];

/**
 * For each case: the platform list packaging computes for such a machine,
 * the tag list (cpython_tags + compatible_tags with interpreter cp3X, which
 * is pip's get_supported), the same with linux_<arch> first (packaging
 * 26.3's order), pip's own get_supported(platforms=[p]) where pip can expand
 * a --platform itself (macOS, Windows), and the wheel pip's
 * CandidateEvaluator picks from the wheels. Linux lists come from
 * packaging's `_linux_platforms` with only the host probes replaced (glibc
 * and musl versions, the armhf/i686 ELF checks, sysconfig's platform).
 */
const ORACLE_SCRIPT = String.raw`
import json, re, sys, sysconfig
from pip._vendor.packaging import tags, _manylinux, _musllinux
from pip._vendor.packaging.tags import Tag
from pip._vendor.packaging.specifiers import SpecifierSet
from pip._internal.utils.compatibility_tags import get_supported
from pip._internal.index.package_finder import CandidateEvaluator
from pip._internal.models.candidate import InstallationCandidate
from pip._internal.models.link import Link
from pip._internal.models.wheel import Wheel

spec = json.loads(sys.argv[1])
LEGACY = {name: version for version, name in _manylinux._LEGACY_MANYLINUX_MAP.items()}

def linux(arch, glibc, musl):
    _manylinux._get_glibc_version = lambda: glibc
    _manylinux._is_linux_armhf = lambda: True
    _manylinux._is_linux_i686 = lambda: True
    _musllinux._get_musl_version = lambda executable: None if musl is None else _musllinux._MuslVersion(1, musl)
    sysconfig.get_platform = lambda: 'linux-' + arch
    return list(tags._linux_platforms(is_32bit=False))

def platforms(plat):
    m = re.fullmatch(r'manylinux_2_(\d+)_(.+)', plat)
    if m: return linux(m[2], (2, int(m[1])), None)
    m = re.fullmatch(r'(manylinux2014|manylinux2010|manylinux1)_(.+)', plat)
    if m: return linux(m[2], LEGACY[m[1]], None)
    m = re.fullmatch(r'musllinux_1_(\d+)_(.+)', plat)
    if m: return linux(m[2], (-1, -1), int(m[1]))
    m = re.fullmatch(r'linux_(.+)', plat)
    if m: return linux(m[1], (-1, -1), None)
    m = re.fullmatch(r'macosx_(\d+)_(\d+)_(.+)', plat)
    if m: return list(tags.mac_platforms((int(m[1]), int(m[2])), m[3]))
    return [plat]

def tag_list(minor, P):
    return [str(t) for t in tags.cpython_tags((3, minor), platforms=P)] + \
        [str(t) for t in tags.compatible_tags((3, minor), 'cp3%d' % minor, P)]

def pip_best(tag_strings, files):
    supported = [Tag(*t.split('-')) for t in tag_strings]
    usable = [f for f in files if Wheel(f).supported(supported)]
    evaluator = CandidateEvaluator('demo', supported_tags=supported, specifier=SpecifierSet())
    candidates = [InstallationCandidate('demo', '1.0', Link('https://example.invalid/' + f)) for f in usable]
    best = evaluator.compute_best_candidate(candidates).best_candidate
    return best.link.filename if best else None

out = {}
for shorthand in spec['shorthands']:
    interp, plat = shorthand.split('-', 1)
    minor = int(interp[3:])
    P = platforms(plat)
    r = {'platforms': P, 'tags': tag_list(minor, P)}
    r['best'] = pip_best(r['tags'], spec['wheels'])
    if plat.startswith(('manylinux', 'musllinux', 'linux')):
        first = [p for p in P if p.startswith('linux_')] + [p for p in P if not p.startswith('linux_')]
        r['firstTags'] = tag_list(minor, first)
        r['firstBest'] = pip_best(r['firstTags'], spec['wheels'])
    else:
        r['pip'] = [str(t) for t in get_supported(version='3%d' % minor, platforms=[plat], impl='cp')]
    out[shorthand] = r
wheel_tags = {f: sorted(str(t) for t in Wheel(f).file_tags) for f in spec['wheels']}
parsed_tags = {f: sorted(str(t) for t in tags.parse_tag('-'.join(f[:-4].split('-')[-3:]))) for f in spec['wheels']}
print(json.dumps({'cases': out, 'wheelTags': wheel_tags, 'parseTag': parsed_tags}))
`;

interface OracleCase { platforms: string[]; tags: string[]; best: string | null; firstTags?: string[]; firstBest?: string | null; pip?: string[] }
interface OracleAnswer { cases: Record<string, OracleCase>; wheelTags: Record<string, string[]>; parseTag: Record<string, string[]> }

const oracleRuns = new Map<string, Promise<OracleAnswer>>();
function oracle(executable: string): Promise<OracleAnswer> {
  let p = oracleRuns.get(executable);
  if (!p) {
    p = pythonJson<OracleAnswer>(executable, ORACLE_SCRIPT, [JSON.stringify({ shorthands: ORACLE_SHORTHANDS, wheels: MIXED_WHEELS })]);
    oracleRuns.set(executable, p);
  }
  return p;
}

for (const shorthand of ORACLE_SHORTHANDS) {
  test(`oracle ${shorthand}: platforms, tags and the chosen wheel equal packaging's and pip's (both pips)`, async (t) => {
    const platform = shorthand.slice(shorthand.indexOf('-') + 1);
    const target = parseTargetShorthand(shorthand);
    const first = parseTargetShorthand(shorthand, { linuxTag: 'first' });
    for (const py of PYTHONS) {
      const expected = (await oracle(py)).cases[shorthand];
      if (expected === undefined) return t.fail(`${py} gave no answer for ${shorthand}`);
      t.deepEqual(platformTags(platform), expected.platforms, `${py}: platform list`);
      t.deepEqual(target.tags, expected.tags, `${py}: tag list`);
      t.is(bestWheel(MIXED_WHEELS, target), expected.best, `${py}: chosen wheel`);
      if (expected.pip !== undefined) t.deepEqual(target.tags, expected.pip, `${py}: pip get_supported(platforms=['${platform}'])`);
      if (expected.firstTags !== undefined) {
        t.deepEqual(first.tags, expected.firstTags, `${py}: tag list with linux_<arch> first`);
        t.is(bestWheel(MIXED_WHEELS, first), expected.firstBest ?? null, `${py}: chosen wheel with linux_<arch> first`);
      }
    }
  });
}

test('oracle: wheelTags equals pip\'s Wheel.file_tags and packaging\'s parse_tag (both pips)', async (t) => {
  for (const py of PYTHONS) {
    const answer = await oracle(py);
    for (const f of MIXED_WHEELS) {
      t.deepEqual([...wheelTags(f)].sort(), answer.wheelTags[f], `${py}: ${f}`);
      t.deepEqual([...wheelTags(f)].sort(), answer.parseTag[f], `${py}: ${f}`);
    }
  }
});

test('oracle: the corpus exercises every rule (build tags, abi3, cp311-none-any, native linux first)', async (t) => {
  // A guard on the corpus, not on pydepot: the comparisons above must cover these choices.
  const { cases } = await oracle('python3');
  t.is(cases['cp311-manylinux_2_17_x86_64']?.best, 'demo-1.0-2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl');
  t.is(cases['cp311-manylinux_2_17_x86_64']?.firstBest, 'demo-1.0-cp311-cp311-linux_x86_64.whl');
  t.is(cases['cp311-win_arm64']?.best, 'demo-1.0-cp38-abi3-win_arm64.whl');
  t.is(cases['cp311-manylinux_2_17_s390x']?.best, 'demo-1.0-cp311-none-any.whl');
  t.is(cases['cp312-manylinux_2_28_aarch64']?.best, 'demo-1.0-cp312-cp312-manylinux_2_28_aarch64.whl');
  t.is(cases['cp313-linux_x86_64']?.best, 'demo-1.0-py3-none-any.whl');
});

// --- Oracle: this machine, as pip sees it ---------------------------------------------

const HOST_SCRIPT = String.raw`
import json, os, sys, sysconfig
from pip._internal.utils.compatibility_tags import get_supported
from pip._vendor.packaging import tags, markers
try:
    glibc = os.confstr('CS_GNU_LIBC_VERSION')
except (AttributeError, ValueError, OSError):
    glibc = None
print(json.dumps({
    'supported': [str(t) for t in get_supported()],
    'sysTags': [str(t) for t in tags.sys_tags()],
    'env': markers.default_environment(),
    'glibc': glibc,
    'platform': sysconfig.get_platform(),
    'minor': sys.version_info[1],
}))
`;

interface HostAnswer { supported: string[]; sysTags: string[]; env: Record<string, string>; glibc: string | null; platform: string; minor: number }

const hostRuns = new Map<string, Promise<HostAnswer>>();
function host(executable: string): Promise<HostAnswer> {
  let p = hostRuns.get(executable);
  if (!p) {
    p = pythonJson<HostAnswer>(executable, HOST_SCRIPT);
    hostRuns.set(executable, p);
  }
  return p;
}

/** This machine's own shorthand, e.g. cp311-manylinux_2_36_x86_64 (glibc 2.36). */
function hostShorthand(h: HostAnswer): string {
  const glibc = /^glibc (\d+)\.(\d+)/.exec(h.glibc ?? '');
  const arch = /^linux-(.+)$/.exec(h.platform);
  if (!glibc || !arch) throw new Error(`this oracle needs a glibc Linux host; it found ${h.glibc} on ${h.platform}`);
  return `cp3${h.minor}-manylinux_${glibc[1]}_${glibc[2]}_${arch[1]}`;
}

for (const py of PYTHONS) {
  test(`host oracle (${py}): the host's shorthand gives exactly pip's get_supported(), and sys_tags() but for cp3X-none-any`, async (t) => {
    const h = await host(py);
    const shorthand = hostShorthand(h);
    t.log(`${py}: ${shorthand}, ${h.supported.length} tags`);
    const target = parseTargetShorthand(shorthand);
    t.deepEqual(target.tags, h.supported);
    // packaging 21.3's sys_tags() calls compatible_tags() without the interpreter,
    // so it lacks exactly one tag that pip (and packaging >= 22's sys_tags) has.
    t.deepEqual(target.tags.filter((tag) => tag !== `cp3${h.minor}-none-any`), h.sysTags);
    t.is(target.tags.length, h.sysTags.length + 1);
  });

  test(`host oracle (${py}): the shorthand's env equals default_environment() but for what a shorthand cannot know`, async (t) => {
    const h = await host(py);
    const env = parseTargetShorthand(hostShorthand(h)).env as unknown as Record<string, string>;
    const unknowable = ['python_full_version', 'implementation_version', 'platform_release', 'platform_version'];
    t.deepEqual(Object.keys(env).sort(), Object.keys(h.env).sort());
    for (const [key, value] of Object.entries(h.env)) {
      if (unknowable.includes(key)) continue;
      t.is(env[key], value, key);
    }
    t.is(env.python_full_version, `3.${h.minor}.0`);
    t.true(h.env.python_full_version?.startsWith(`3.${h.minor}.`));
  });

  test(`one-liners (${py}): the pip form's output is taken verbatim; the stdlib form's gives the same env and tags`, async (t) => {
    const h = await host(py);
    const runWith = (command: string) => shell(command.replace(/^python3 /, `${py} `));
    const exact = JSON.parse((await runWith(TARGET_FILE_COMMAND)).stdout) as { env: Record<string, string>; tags: string[] };
    const fromExact = targetFromJson(exact);
    t.deepEqual(fromExact.tags, exact.tags);
    t.deepEqual(fromExact.tags, h.supported);
    t.deepEqual(fromExact.env, exact.env);
    t.deepEqual(fromExact.env as unknown as Record<string, string>, h.env);
    t.is(fromExact.name, hostShorthand(h));

    const stdlib = JSON.parse((await runWith(TARGET_FILE_COMMAND_STDLIB)).stdout) as { env: Record<string, string>; platform: string };
    t.is(stdlib.platform, hostShorthand(h).replace(/^cp3\d+-/, ''));
    const fromStdlib = targetFromJson(stdlib);
    // The stdlib env is packaging's default_environment(), key for key.
    t.deepEqual(stdlib.env, h.env);
    t.deepEqual(fromStdlib.env as unknown as Record<string, string>, h.env);
    t.deepEqual(fromStdlib.tags, h.supported);

    // The sys_tags() form (packaging's public API) is accepted verbatim too, one tag short under pip 23.
    const sysTagsForm = 'python3 -c "import json; from pip._vendor.packaging import tags, markers; '
      + 'print(json.dumps({\'env\': markers.default_environment(), \'tags\': [str(t) for t in tags.sys_tags()]}))"';
    const viaSysTags = JSON.parse((await runWith(sysTagsForm)).stdout) as { env: Record<string, string>; tags: string[] };
    t.deepEqual(targetFromJson(viaSysTags).tags, viaSysTags.tags);
    t.deepEqual(viaSysTags.tags, h.sysTags);
  });
}

test('README gives both one-liners, character for character', async (t) => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  t.true(readme.includes(TARGET_FILE_COMMAND), 'the pip one-liner');
  t.true(readme.includes(TARGET_FILE_COMMAND_STDLIB), 'the stdlib one-liner');
});
