/**
 * PEP 751 locks as input (src/resolve/pylock.ts): parsing and validation,
 * each problem one line naming the key; and what a lock installs on a
 * target (markers, environments, requires-python, wheel by tag order, sdist
 * only when allowed, direct sources refused).
 */
import test from 'ava';
import { InvalidRequirement } from '../../src/errors.ts';
import { isPylockFilename, parsePylock, selectFromLock, type Pylock } from '../../src/resolve/pylock.ts';
import { parseTargetShorthand } from '../../src/resolve/tags.ts';

const H = (c: string): string => c.repeat(64);

/** Modelled on the spec's example: two environments, a pure wheel, a package with a wheel per platform. */
const EXAMPLE = `
lock-version = '1.0'
environments = ["sys_platform == 'win32'", "sys_platform == 'linux'"]
requires-python = '== 3.12.*'
created-by = 'mousebender'

[[packages]]
name = 'attrs'
version = '25.1.0'
requires-python = '>= 3.8'

    [[packages.wheels]]
    name = 'attrs-25.1.0-py3-none-any.whl'
    upload-time = 2025-01-25T11:30:10.164985+00:00
    url = 'https://files.pythonhosted.org/packages/fc/30/attrs-25.1.0-py3-none-any.whl'
    size = 63152
    hashes = {sha256 = '${H('a')}'}

    [[packages.attestation-identities]]
    environment = 'release-pypi'
    kind = 'GitHub'
    repository = 'python-attrs/attrs'
    workflow = 'pypi-package.yml'

[[packages]]
name = 'cattrs'
version = '24.1.2'
requires-python = '>= 3.8'
dependencies = [
    {name = 'attrs'},
]

    [[packages.wheels]]
    url = 'https://files.pythonhosted.org/packages/c8/d5/cattrs-24.1.2-py3-none-any.whl'
    size = 66446
    hashes = {sha256 = '${H('B')}'}

[[packages]]
name = 'numpy'
version = '2.2.3'
requires-python = '>= 3.10'

    [[packages.wheels]]
    name = 'numpy-2.2.3-cp312-cp312-win_amd64.whl'
    url = 'https://files.pythonhosted.org/packages/42/6e/numpy-2.2.3-cp312-cp312-win_amd64.whl'
    size = 12626357
    hashes = {sha256 = '${H('c')}'}

    [[packages.wheels]]
    name = 'numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'
    url = 'https://files.pythonhosted.org/packages/39/04/numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'
    size = 16116679
    hashes = {sha256 = '${H('d')}', blake2b = 'ABCDEF'}

[tool.mousebender]
command = ['.', 'lock', '--platform', 'cpython3.12-windows-x64', 'cattrs', 'numpy']
run-on = 2025-03-06T12:28:57.760769
`;

const LINUX = parseTargetShorthand('cp312-manylinux_2_17_x86_64');
const WINDOWS = parseTargetShorthand('cp312-win_amd64');

const chosen = (lock: Pylock, target = LINUX, allowSdist = false): string[] => {
  const { selected, reasons } = selectFromLock(lock, target, { allowSdist });
  if (reasons.length > 0) throw new Error(reasons.join('\n'));
  return selected.map((s) => s.file.filename);
};

const reasonsFor = (lock: Pylock, target = LINUX, allowSdist = false): string[] => selectFromLock(lock, target, { allowSdist }).reasons;

/** The problems of an invalid lock. */
function problems(t: import('ava').ExecutionContext, text: string): string[] {
  const err = t.throws(() => parsePylock(text, 'pylock.toml'), { instanceOf: InvalidRequirement }) as InvalidRequirement;
  for (const p of err.problems) t.false(p.includes('\n'), `one line: ${p}`);
  return [...err.problems];
}

/** A valid lock with `pkg` as its only package (TOML of one [[packages]] table's body). */
const withPackage = (pkg: string, top = ''): string => `lock-version = '1.0'\ncreated-by = 'test'\n${top}\n[[packages]]\n${pkg}\n`;
const WHEEL = (name = 'demo-1.0-py3-none-any.whl', extra = ''): string => `[[packages.wheels]]\nname = '${name}'\npath = 'wheels/${name}'\nhashes = {sha256 = '${H('e')}'}\n${extra}`;

// --- Parsing ------------------------------------------------------------------------

test('the spec-style example: every key read; the file name from name, else the url; hashes lowercased', (t) => {
  const lock = parsePylock(EXAMPLE, 'pylock.toml');
  t.is(lock.lockVersion, '1.0');
  t.is(lock.createdBy, 'mousebender');
  t.is(lock.requiresPython, '== 3.12.*');
  t.deepEqual(lock.environments?.map((m) => m.toString()), ['sys_platform == "win32"', 'sys_platform == "linux"']);
  t.deepEqual(lock.warnings, []);
  t.deepEqual(lock.packages.map((p) => [p.key, p.name, p.version, p.requiresPython, p.direct]), [
    ['packages[0]', 'attrs', '25.1.0', '>= 3.8', null],
    ['packages[1]', 'cattrs', '24.1.2', '>= 3.8', null],
    ['packages[2]', 'numpy', '2.2.3', '>= 3.10', null],
  ]);
  const [attrs, cattrs, numpy] = lock.packages;
  t.is(attrs!.wheels[0]!.uploadTime?.toISOString(), '2025-01-25T11:30:10.164Z');
  t.is(attrs!.wheels[0]!.size, 63152);
  t.is(cattrs!.wheels[0]!.filename, 'cattrs-24.1.2-py3-none-any.whl', 'from the url');
  t.deepEqual(cattrs!.wheels[0]!.hashes, { sha256: H('b') });
  t.deepEqual(numpy!.wheels.map((w) => w.key), ['packages[2].wheels[0]', 'packages[2].wheels[1]']);
  t.deepEqual(numpy!.wheels[1]!.hashes, { sha256: H('d'), blake2b: 'abcdef' });
});

test('a file name from a relative path, with either separator', (t) => {
  const lock = parsePylock(withPackage(`name = 'demo'\nversion = '1.0'\n[[packages.wheels]]\npath = 'wheelhouse\\\\demo-1.0-py3-none-any.whl'\nhashes = {sha256 = '${H('e')}'}\n[packages.sdist]\npath = 'wheelhouse/demo-1.0.tar.gz'\nhashes = {sha256 = '${H('f')}'}\n`));
  t.is(lock.packages[0]!.wheels[0]!.filename, 'demo-1.0-py3-none-any.whl');
  t.is(lock.packages[0]!.sdist!.filename, 'demo-1.0.tar.gz');
  t.is(lock.packages[0]!.sdist!.kind, 'sdist');
});

test('malformed TOML: the line and column, one line', (t) => {
  const [p] = problems(t, "lock-version = '1.0'\ncreated-by = 'x'\npackages = = []\n");
  t.regex(p!, /^pylock\.toml:3:\d+: not valid TOML \(.+\)$/);
});

test('lock-version: missing, not a version, another major version are errors; a newer minor is a warning', (t) => {
  t.deepEqual(problems(t, "created-by = 'x'\npackages = []\n"), ['pylock.toml: lock-version is missing (a required key)']);
  t.deepEqual(problems(t, "lock-version = 1.0\ncreated-by = 'x'\npackages = []\n"), ['pylock.toml: lock-version must be a string, not a number']);
  t.deepEqual(problems(t, "lock-version = 'one'\ncreated-by = 'x'\npackages = []\n"), ["pylock.toml: lock-version 'one' is not a version (PEP 751's is '1.0')"]);
  t.deepEqual(problems(t, "lock-version = '2.0'\ncreated-by = 'x'\npackages = []\n"), ['pylock.toml: lock-version 2.0 is not supported (pydepot reads PEP 751 lock-version 1.x)']);
  t.deepEqual(problems(t, "lock-version = '0.9'\ncreated-by = 'x'\npackages = []\n"), ['pylock.toml: lock-version 0.9 is not supported (pydepot reads PEP 751 lock-version 1.x)']);
  const newer = parsePylock("lock-version = '1.1'\ncreated-by = 'x'\npackages = []\nsomething-new = true\n");
  t.deepEqual(newer.warnings, [
    'pylock.toml: lock-version 1.1 is newer than the 1.0 pydepot knows; keys it does not know are ignored',
    'pylock.toml: something-new is not a PEP 751 key; ignored',
  ]);
});

test('required keys and types at the top: created-by, packages, environments as markers, requires-python as a specifier', (t) => {
  t.deepEqual(problems(t, "lock-version = '1.0'\n"), [
    'pylock.toml: created-by is missing (a required key)',
    'pylock.toml: packages is missing (a required key: the [[packages]] array)',
  ]);
  t.deepEqual(problems(t, "lock-version = '1.0'\ncreated-by = 'x'\npackages = []\nenvironments = ['sys_platform = \"linux\"']\nrequires-python = '>=3.x'\n"), [
    "pylock.toml: environments[0] 'sys_platform = \"linux\"' is not a valid marker: Expected marker operator, one of <=, <, !=, ==, >=, >, ~=, ===, in, not in (column 14)",
    "pylock.toml: requires-python '>=3.x' is not a valid version specifier (as '>=3.9')",
  ]);
  t.deepEqual(problems(t, "lock-version = '1.0'\ncreated-by = 'x'\npackages = {name = 'a'}\n"), ['pylock.toml: packages must be an array of tables, not a table']);
});

test('a package: its name normalized, its version present and valid when it lists files; every problem at once, naming package and key', (t) => {
  t.deepEqual(problems(t, withPackage(`name = 'Demo_Pkg'\nversion = '1.0'\n${WHEEL()}`)), [
    "pylock.toml: packages[0]: name 'Demo_Pkg' is not a normalized project name (write 'demo-pkg')",
  ]);
  t.deepEqual(problems(t, withPackage(`name = 'demo'\n${WHEEL()}`)), [
    'pylock.toml: packages[0] (demo): version is missing: pydepot needs the version of every package that lists files (it pins it)',
  ]);
  t.deepEqual(problems(t, withPackage(`version = '1.0'\n${WHEEL()}`)), ['pylock.toml: packages[0]: name is missing (a required key)']);
  t.deepEqual(problems(t, withPackage(`name = 'demo'\nversion = 'one'\nmarker = 'os_name == '\n${WHEEL()}`)), [
    "pylock.toml: packages[0] (demo): version 'one' is not a PEP 440 version",
    "pylock.toml: packages[0] (demo): marker 'os_name == ' is not a valid marker: Expected a marker variable or quoted string (column 12)",
  ]);
});

test('a file: url or path, hashes (sha256 well formed), a file name that parses and belongs to the package', (t) => {
  const file = (body: string): string[] => problems(t, withPackage(`name = 'demo'\nversion = '1.0'\n[[packages.wheels]]\n${body}`));
  t.deepEqual(file(`name = 'demo-1.0-py3-none-any.whl'\nhashes = {sha256 = '${H('e')}'}`), [
    "pylock.toml: packages[0] (demo): wheels[0] gives neither 'url' nor 'path' (one is required)",
  ]);
  t.deepEqual(file("path = 'demo-1.0-py3-none-any.whl'"), ['pylock.toml: packages[0] (demo): wheels[0].hashes is missing (a required key: at least one hash, sha256 recommended)']);
  t.deepEqual(file("path = 'demo-1.0-py3-none-any.whl'\nhashes = {}"), ['pylock.toml: packages[0] (demo): wheels[0].hashes is empty (at least one hash is required)']);
  t.deepEqual(file("path = 'demo-1.0-py3-none-any.whl'\nhashes = {sha256 = 'abc'}"), ["pylock.toml: packages[0] (demo): wheels[0].hashes.sha256 'abc' is not a sha256 digest (64 hex digits)"]);
  t.deepEqual(file(`path = 'other-1.0-py3-none-any.whl'\nhashes = {sha256 = '${H('e')}'}`), ["pylock.toml: packages[0] (demo): wheels[0] 'other-1.0-py3-none-any.whl' is a file of other, not of demo"]);
  t.deepEqual(file(`path = 'demo-2.0-py3-none-any.whl'\nhashes = {sha256 = '${H('e')}'}`), ["pylock.toml: packages[0] (demo): wheels[0] 'demo-2.0-py3-none-any.whl' is version 2.0, not the package's 1.0"]);
  t.deepEqual(file(`path = 'demo-1.0.tar.gz'\nhashes = {sha256 = '${H('e')}'}`), ["pylock.toml: packages[0] (demo): wheels[0] 'demo-1.0.tar.gz' is an sdist, listed as a wheel"]);
  t.regex(file(`path = 'demo.whl'\nhashes = {sha256 = '${H('e')}'}`)[0]!, /^pylock\.toml: packages\[0\] \(demo\): wheels\[0\] 'demo\.whl' is not a wheel file name \(.+\)$/);
  t.deepEqual(file(`path = 'demo-1.0-py3-none-any.whl'\nsize = -1\nupload-time = '2025-01-25T11:30:10Z'\nhashes = {sha256 = '${H('e')}'}`), [
    'pylock.toml: packages[0] (demo): wheels[0].size must be a whole number of bytes, not -1',
    'pylock.toml: packages[0] (demo): wheels[0].upload-time must be a TOML datetime (unquoted, as 2025-01-25T11:30:10Z), not a string',
  ]);
  // The version in the file name compares as PEP 440 versions do.
  t.is(parsePylock(withPackage(`name = 'demo'\nversion = '1.0.0'\n${WHEEL('demo-1.0-py3-none-any.whl')}`)).packages[0]!.wheels.length, 1);
});

test('a package has one source: files, or one of vcs, directory, archive', (t) => {
  t.deepEqual(problems(t, withPackage("name = 'demo'\nversion = '1.0'")), ['pylock.toml: packages[0] (demo): lists no file: give wheels, an sdist, or one of vcs, directory, archive']);
  t.deepEqual(problems(t, withPackage(`name = 'demo'\nversion = '1.0'\nvcs = {type = 'git', url = 'https://example.com/demo.git', commit-id = 'abc'}\n${WHEEL()}`)), [
    'pylock.toml: packages[0] (demo): lists wheels or an sdist and also vcs: a package has one source',
  ]);
  t.deepEqual(problems(t, withPackage("name = 'demo'\ndirectory = {path = '.'}\narchive = {url = 'https://example.com/demo.zip', hashes = {sha256 = 'x'}}")), [
    'pylock.toml: packages[0] (demo): has directory and archive: a package has one source',
  ]);
  const direct = parsePylock(withPackage("name = 'demo'\nvcs = {type = 'git', url = 'https://example.com/demo.git', commit-id = 'abc'}"));
  t.is(direct.packages[0]!.direct, 'vcs');
  t.is(direct.packages[0]!.version, null);
});

test('unknown keys are warnings naming the key', (t) => {
  const lock = parsePylock(withPackage(`name = 'demo'\nversion = '1.0'\nhash = 'x'\n${WHEEL(undefined, "sha = 'y'")}`));
  t.deepEqual(lock.warnings, [
    'pylock.toml: packages[0] (demo): hash is not a PEP 751 key; ignored',
    'pylock.toml: packages[0] (demo): wheels[0].sha is not a PEP 751 key; ignored',
  ]);
});

test('every problem of a lock together', (t) => {
  const p = problems(t, `lock-version = '1.0'\n[[packages]]\nname = 'A'\n[[packages]]\nname = 'b'\nversion = '1'\n${WHEEL('b-1-py3-none-any.whl', 'size = 1.5')}`);
  t.is(p.length, 4, p.join('\n'));
  const err = t.throws(() => parsePylock(`lock-version = '1.0'\n[[packages]]\nname = 'A'\n`)) as InvalidRequirement;
  t.regex(err.message, /^pylock\.toml: created-by is missing \(a required key\) \(and 2 more problems\)$/);
});

test('PEP 751 lock file names', (t) => {
  for (const ok of ['pylock.toml', 'pylock.dev.toml', 'pylock.cp311-manylinux_2_17_x86_64.toml', '/a/b/pylock.toml', 'c:\\x\\pylock.spam.toml']) t.true(isPylockFilename(ok), ok);
  for (const no of ['requirements.txt', 'pylock.a.b.toml', 'Pylock.toml', 'mypylock.toml', 'pylock..toml', 'pylock.toml.txt']) t.false(isPylockFilename(no), no);
});

// --- Selection for a target ---------------------------------------------------------

test('per target: the best wheel by the target\'s tag order among the package\'s wheels', (t) => {
  const lock = parsePylock(EXAMPLE);
  t.deepEqual(chosen(lock, LINUX), ['attrs-25.1.0-py3-none-any.whl', 'cattrs-24.1.2-py3-none-any.whl', 'numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl']);
  t.deepEqual(chosen(lock, WINDOWS), ['attrs-25.1.0-py3-none-any.whl', 'cattrs-24.1.2-py3-none-any.whl', 'numpy-2.2.3-cp312-cp312-win_amd64.whl']);
});

test('a target the lock does not cover is refused: requires-python, environments, a wheel for its platform', (t) => {
  const lock = parsePylock(EXAMPLE);
  t.deepEqual(reasonsFor(lock, parseTargetShorthand('cp311-manylinux_2_17_x86_64')), ['pylock.toml requires Python == 3.12.*, and cp311-manylinux_2_17_x86_64 has 3.11.0']);
  t.deepEqual(reasonsFor(lock, parseTargetShorthand('cp312-macosx_11_0_arm64')), [
    "pylock.toml does not cover cp312-macosx_11_0_arm64: none of its environments holds there ('sys_platform == \"win32\"', 'sys_platform == \"linux\"'); lock for this target too",
  ]);
  t.deepEqual(reasonsFor(lock, parseTargetShorthand('cp312-manylinux_2_17_aarch64')), [
    'numpy 2.2.3 has no wheel for cp312-manylinux_2_17_aarch64 in pylock.toml (it lists numpy-2.2.3-cp312-cp312-win_amd64.whl, numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl) and no sdist',
  ]);
});

const MULTI = `
lock-version = '1.0'
created-by = 'test'
default-groups = ['default']

[[packages]]
name = 'winonly'
version = '1.0'
marker = "sys_platform == 'win32'"
vcs = {type = 'git', url = 'https://example.com/winonly.git', commit-id = 'abc'}

[[packages]]
name = 'dup'
version = '1.0'
marker = "platform_machine == 'x86_64'"
wheels = [{name = 'dup-1.0-py3-none-any.whl', path = 'dup-1.0-py3-none-any.whl', hashes = {sha256 = '${H('1')}'}}]

[[packages]]
name = 'dup'
version = '2.0'
marker = "platform_machine == 'aarch64'"
wheels = [{name = 'dup-2.0-py3-none-any.whl', path = 'dup-2.0-py3-none-any.whl', hashes = {sha256 = '${H('2')}'}}]

[[packages]]
name = 'grouped'
version = '1.0'
marker = "'default' in dependency_groups"
wheels = [{name = 'grouped-1.0-py3-none-any.whl', path = 'grouped-1.0-py3-none-any.whl', hashes = {sha256 = '${H('3')}'}}]

[[packages]]
name = 'dev-tool'
version = '1.0'
marker = "'dev' in dependency_groups or 'test' in extras"
wheels = [{name = 'dev_tool-1.0-py3-none-any.whl', path = 'dev_tool-1.0-py3-none-any.whl', hashes = {sha256 = '${H('4')}'}}]

[[packages]]
name = 'native'
version = '1.0'
requires-python = '>=3.12'
sdist = {name = 'native-1.0.tar.gz', path = 'native-1.0.tar.gz', hashes = {sha256 = '${H('5')}'}}
`;

test('markers: a package whose marker fails is skipped (its source does not matter then); extras empty, dependency groups the default ones', (t) => {
  const lock = parsePylock(MULTI);
  const x86 = parseTargetShorthand('cp312-manylinux_2_17_x86_64');
  const arm = parseTargetShorthand('cp312-manylinux_2_17_aarch64');
  t.deepEqual(chosen(lock, x86, true), ['dup-1.0-py3-none-any.whl', 'grouped-1.0-py3-none-any.whl', 'native-1.0.tar.gz']);
  t.deepEqual(chosen(lock, arm, true), ['dup-2.0-py3-none-any.whl', 'grouped-1.0-py3-none-any.whl', 'native-1.0.tar.gz']);
  const win = selectFromLock(lock, parseTargetShorthand('cp312-win_amd64'), { allowSdist: true });
  t.deepEqual(win.reasons, ['winonly (packages[0]) comes from a VCS checkout; pydepot exports index files (wheels and sdists) only']);
});

test('sdists only when allowed; a selected package\'s requires-python must admit the target; two selected packages of one name are ambiguous', (t) => {
  const lock = parsePylock(MULTI);
  const x86 = parseTargetShorthand('cp312-manylinux_2_17_x86_64');
  t.deepEqual(reasonsFor(lock, x86), ['native 1.0 has no wheel for cp312-manylinux_2_17_x86_64 in pylock.toml (sdist only; --allow-sdist, or build one into the wheel cache)']);
  t.deepEqual(reasonsFor(lock, parseTargetShorthand('cp311-manylinux_2_17_x86_64'), true), ['native 1.0 (packages[5]) requires Python >=3.12, and cp311-manylinux_2_17_x86_64 has 3.11.0']);
  const ambiguous = parsePylock(MULTI.replace("marker = \"platform_machine == 'aarch64'\"", ''));
  t.deepEqual(reasonsFor(ambiguous, x86, true), [
    'pylock.toml is ambiguous for cp312-manylinux_2_17_x86_64: packages[1] (dup 1.0) and packages[2] (dup 2.0) both apply; their markers must tell them apart',
  ]);
});

test('a lock marker with `extra` cannot be evaluated: a reason naming the package, not a crash', (t) => {
  const lock = parsePylock(withPackage(`name = 'demo'\nversion = '1.0'\nmarker = 'extra == "x"'\n${WHEEL()}`));
  t.deepEqual(reasonsFor(lock), ['pylock.toml: packages[0].marker: marker \'extra == "x"\' cannot be evaluated: the marker variable extra is not defined in a lock file (use "name" in extras)']);
});
