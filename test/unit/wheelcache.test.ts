/** The wheel cache's pure rules (src/repos/wheelcache-rules.ts), its merge, and its config. */
import test from 'ava';
import { parseConfig } from '../../src/config/schema.ts';
import { parseCoreMetadata } from '../../src/pypi/core-metadata.ts';
import type { IndexFile, ProjectPage } from '../../src/pypi/pages.ts';
import { augmentPage } from '../../src/repos/merge.ts';
import {
  cacheFilesOn, canonicalRequirement, dependencyDifference, nonPortablePlatforms, upstreamReleases, upstreamWheelFor,
} from '../../src/repos/wheelcache-rules.ts';

function file(filename: string, more: Partial<IndexFile> = {}): IndexFile {
  return {
    filename, path: `files/x/${filename}`, sha256: filename.length.toString(16).padStart(64, '0'), size: 1,
    requiresPython: null, uploadTime: '2026-01-01T00:00:00Z', yanked: false, metadataSha256: null, ...more,
  };
}

function page(files: IndexFile[], more: Partial<ProjectPage> = {}): ProjectPage {
  return { name: 'foo', displayName: 'foo', files, versions: [], ...more };
}

const CTX = { cache: 'cache', remote: 'pypi' };

test('portable platform tags pass; linux_* and unknown platforms are non-portable', (t) => {
  for (const tag of ['any', 'manylinux1_x86_64', 'manylinux2010_i686', 'manylinux2014_aarch64', 'manylinux_2_28_aarch64', 'musllinux_1_2_x86_64',
    'macosx_11_0_arm64', 'macosx_10_9_universal2', 'win32', 'win_amd64', 'win_arm64', 'ios_13_0_arm64_iphoneos', 'android_21_arm64_v8a', 'pyodide_2024_0_wasm32']) {
    t.deepEqual(nonPortablePlatforms([tag]), [], tag);
  }
  t.deepEqual(nonPortablePlatforms(['linux_x86_64']), ['linux_x86_64']);
  t.deepEqual(nonPortablePlatforms(['manylinux_2_17_x86_64', 'linux_x86_64']), ['linux_x86_64'], 'one bad tag in a compressed set is enough');
  t.deepEqual(nonPortablePlatforms(['linux_armv7l', 'freebsd_14_0_amd64', 'cygwin_3_4_x86_64']), ['linux_armv7l', 'freebsd_14_0_amd64', 'cygwin_3_4_x86_64']);
});

test('requirements are compared in one canonical spelling', (t) => {
  t.is(canonicalRequirement('Six >= 1.0'), 'six>=1.0');
  t.is(canonicalRequirement('NumPy (<3,>=1.22) ; python_version>="3.9"'), canonicalRequirement('numpy>=1.22,<3; python_version >= "3.9"'));
  t.is(canonicalRequirement('requests[Socks,security]'), canonicalRequirement('requests[security,socks]'));
  t.is(canonicalRequirement('  not a [requirement  '), 'not a [requirement', 'unparsable text is kept as written');
});

test('dependencyDifference: equal sets pass, and a difference names what was added and what is missing', (t) => {
  const up = parseCoreMetadata('Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Python: >=3.8\nRequires-Dist: six>=1.0\nRequires-Dist: attrs\n');
  const same = parseCoreMetadata('Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Python: >= 3.8\nRequires-Dist: attrs\nRequires-Dist: Six>=1.0\n');
  t.is(dependencyDifference(up, same), null);
  const other = parseCoreMetadata('Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: six>=1.0\nRequires-Dist: evil\n');
  t.is(dependencyDifference(up, other), "Requires-Dist adds 'evil' and lacks 'attrs'; Requires-Python is '(none)', upstream's is '>=3.8'");
});

test('a release is yanked when all its files are, with the first reason', (t) => {
  const r = upstreamReleases(page([
    file('foo-1.0.tar.gz', { yanked: 'broken' }), file('foo-1.0-py3-none-any.whl', { yanked: 'broken' }),
    file('foo-2.0.tar.gz', { yanked: 'one file' }), file('foo-2.0-py3-none-any.whl'),
    file('foo-3.0.tar.gz', { yanked: '' }),
  ]));
  t.is(r.get('1.0')!.yanked, 'broken');
  t.is(r.get('2.0')!.yanked, null);
  t.is(r.get('3.0')!.yanked, '');
});

test("upstreamWheelFor: an upstream wheel that a machine taking the cache wheel would take too", (t) => {
  const up = (...names: string[]) => names.map((n) => file(n));
  const cp311arm = 'foo-1.0-cp311-cp311-manylinux_2_28_aarch64.whl';
  t.is(upstreamWheelFor(cp311arm, up('foo-1.0.tar.gz', 'foo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl')), null, 'another architecture');
  t.is(upstreamWheelFor(cp311arm, up('foo-1.0-cp311-cp311-manylinux2014_aarch64.whl')), 'foo-1.0-cp311-cp311-manylinux2014_aarch64.whl', 'an older manylinux of the same arch');
  t.is(upstreamWheelFor(cp311arm, up('foo-1.0-cp38-abi3-manylinux_2_17_aarch64.whl')), 'foo-1.0-cp38-abi3-manylinux_2_17_aarch64.whl', 'abi3 of an older CPython');
  t.is(upstreamWheelFor('foo-1.0-cp37-cp37m-manylinux_2_28_aarch64.whl', up('foo-1.0-cp38-abi3-manylinux_2_17_aarch64.whl')), null, 'abi3 of a newer CPython');
  t.is(upstreamWheelFor(cp311arm, up('foo-1.0-py3-none-any.whl')), 'foo-1.0-py3-none-any.whl', 'a pure wheel serves everyone');
  t.is(upstreamWheelFor(cp311arm, up('foo-1.0-cp312-cp312-manylinux_2_17_aarch64.whl')), null, 'another interpreter');
  t.is(upstreamWheelFor(cp311arm, up('foo-1.0-cp311-cp311-musllinux_1_2_aarch64.whl')), null, 'musl is another libc');
  t.is(upstreamWheelFor('foo-1.0-cp311-cp311-macosx_11_0_universal2.whl', up('foo-1.0-cp311-cp311-macosx_10_9_x86_64.whl')), 'foo-1.0-cp311-cp311-macosx_10_9_x86_64.whl', 'universal2 covers x86_64');
});

test('cacheFilesOn: the upstream state wins, shown files say where they came from', (t) => {
  const upstream = page([
    file('foo-1.0.tar.gz'), file('foo-2.0.tar.gz', { yanked: 'bad' }), file('foo-3.0-cp311-cp311-manylinux_2_17_aarch64.whl'),
  ], { versions: ['1.0', '2.0', '3.0'] });
  const cache = [
    file('foo-1.0-cp311-cp311-manylinux_2_28_aarch64.whl', { uploadTime: '2026-12-01T00:00:00Z' }),
    file('foo-2.0-cp311-cp311-manylinux_2_28_aarch64.whl'),
    file('foo-4.0-cp311-cp311-manylinux_2_28_aarch64.whl'),
    file('foo-3.0-cp311-cp311-manylinux_2_17_aarch64.whl', { sha256: 'f'.repeat(64) }),
    file('foo-3.0-cp311-cp311-manylinux_2_28_aarch64.whl'),
  ];
  const { shown, hidden } = cacheFilesOn(upstream, cache, CTX);
  t.deepEqual(shown.map((f) => [f.filename, f.yanked, f.uploadTime, f.origin]), [
    ['foo-1.0-cp311-cp311-manylinux_2_28_aarch64.whl', false, '2026-12-01T00:00:00Z', { source: 'wheelcache', repository: 'cache' }],
    ['foo-2.0-cp311-cp311-manylinux_2_28_aarch64.whl', 'bad', '2026-01-01T00:00:00Z', { source: 'wheelcache', repository: 'cache' }],
  ]);
  t.deepEqual([...hidden], [
    ['foo-4.0-cp311-cp311-manylinux_2_28_aarch64.whl', "upstream 'pypi' no longer lists release foo 4.0"],
    ['foo-3.0-cp311-cp311-manylinux_2_17_aarch64.whl', "upstream 'pypi' has its own 'foo-3.0-cp311-cp311-manylinux_2_17_aarch64.whl', which wins"],
    ['foo-3.0-cp311-cp311-manylinux_2_28_aarch64.whl', "upstream 'pypi' now has 'foo-3.0-cp311-cp311-manylinux_2_17_aarch64.whl' for the same platform, which wins"],
  ]);
  const quarantined = cacheFilesOn({ ...upstream, status: { status: 'quarantined', reason: 'malware' } }, cache, CTX);
  t.deepEqual(quarantined.shown, []);
  t.is(quarantined.hidden.get(cache[0]!.filename), "upstream 'pypi' has quarantined project 'foo' (PEP 792): malware");
});

test('augmentPage appends the shown cache wheels after the upstream files and keeps its versions', (t) => {
  const upstream = page([file('foo-1.0.tar.gz')], { versions: ['1.0'] });
  const cache = page([file('foo-1.0-cp311-cp311-manylinux_2_28_aarch64.whl'), file('foo-9.0-cp311-cp311-manylinux_2_28_aarch64.whl')], { versions: ['1.0', '9.0'] });
  const merged = augmentPage(upstream, 'pypi', [{ cache: 'cache', page: cache }]);
  t.deepEqual(merged.files.map((f) => f.filename), ['foo-1.0.tar.gz', 'foo-1.0-cp311-cp311-manylinux_2_28_aarch64.whl']);
  t.deepEqual(merged.versions, ['1.0']);
  t.is(augmentPage(upstream, 'pypi', [{ cache: 'cache', page: page([]) }]), upstream, 'nothing to add: the same page');
});

test('config: a wheelcache has its defaults, and augments must name a remote', (t) => {
  const base = { pypi: { type: 'remote' } };
  const c = parseConfig({ repositories: { ...base, cache: { type: 'wheelcache', augments: 'pypi', upload: ['ci'] } } });
  t.deepEqual(c.repositories.cache, {
    type: 'wheelcache', augments: 'pypi', allowNonPortable: false, maxFileSize: 2 * 1024 ** 3, indexMaxAge: 0,
    read: { kind: 'anonymous' }, upload: { kind: 'users', users: ['ci'] },
  });
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ cache: { type: 'wheelcache' } }, /'repositories\.cache\.augments': missing \(required\)/],
    [{ cache: { type: 'wheelcache', augments: 'nope' } }, /'repositories\.cache\.augments': unknown repository 'nope'/],
    [{ l: { type: 'local' }, cache: { type: 'wheelcache', augments: 'l' } }, /'repositories\.cache\.augments': 'l' is a local repository; a wheelcache augments a remote one/],
    [{ cache: { type: 'wheelcache', augments: 'pypi', allowNonPortable: 'yes' } }, /'repositories\.cache\.allowNonPortable': expected true or false/],
    [{ cache: { type: 'wheelcache', augments: 'pypi', mergeUpstream: [] } }, /'repositories\.cache\.mergeUpstream': unknown key/],
    [{ cache: { type: 'wheelcache', augments: 'pypi' }, all: { type: 'virtual', members: ['cache'] } },
      /'repositories\.all\.members': wheelcache 'cache' augments 'pypi', which is not a member/],
    [{ cache: { type: 'wheelcache', augments: 'pypi' }, l: { type: 'local' }, all: { type: 'virtual', members: ['l', 'cache'], uploadTo: 'cache' } },
      /'repositories\.all\.uploadTo': 'cache' is not a local repository/],
  ];
  for (const [repos, message] of bad) t.throws(() => parseConfig({ repositories: { ...base, ...repos } }), { message }, JSON.stringify(repos));
  // Reached through a nested virtual repository, the remote counts.
  t.notThrows(() => parseConfig({ repositories: { ...base, cache: { type: 'wheelcache', augments: 'pypi' }, up: { type: 'virtual', members: ['pypi'] }, all: { type: 'virtual', members: ['up', 'cache'] } } }));
});
