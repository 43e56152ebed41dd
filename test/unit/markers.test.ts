import test from 'ava';
import { InvalidRequirement } from '../../src/errors.ts';
import { Marker, parseMarker, type MarkerEnvironment } from '../../src/resolve/markers.ts';
import { compareVersions, isPrerelease, isValidVersion } from '../../src/pypi/versions.ts';
import { askPackaging, type OracleAnswer } from '../helpers/packaging-oracle.ts';

// --- Environments -----------------------------------------------------------------

// As `packaging.markers.default_environment()` prints them on such machines.
const CP312_MANYLINUX_AARCH64: MarkerEnvironment = {
  implementation_name: 'cpython',
  implementation_version: '3.12.4',
  os_name: 'posix',
  platform_machine: 'aarch64',
  platform_python_implementation: 'CPython',
  platform_release: '6.1.0-18-arm64', // Debian's kernel: not a PEP 440 version
  platform_system: 'Linux',
  platform_version: '#1 SMP Debian 6.1.76-1 (2024-02-01)',
  python_full_version: '3.12.4',
  python_version: '3.12',
  sys_platform: 'linux',
};

const CP310_WIN_AMD64: MarkerEnvironment = {
  implementation_name: 'cpython',
  implementation_version: '3.10.11',
  os_name: 'nt',
  platform_machine: 'AMD64',
  platform_python_implementation: 'CPython',
  platform_release: '10',
  platform_system: 'Windows',
  platform_version: '10.0.19045',
  python_full_version: '3.10.11',
  python_version: '3.10',
  sys_platform: 'win32',
};

// Two corners pip 23's packaging 21.3 gets wrong: a pre-release interpreter, and PyPy.
const CP313RC_LINUX_X86_64: MarkerEnvironment = {
  implementation_name: 'cpython',
  implementation_version: '3.13.0rc2',
  os_name: 'posix',
  platform_machine: 'x86_64',
  platform_python_implementation: 'CPython',
  platform_release: '6.8.0-45-generic',
  platform_system: 'Linux',
  platform_version: '#45-Ubuntu SMP PREEMPT_DYNAMIC Fri Aug 30 12:02:04 UTC 2024',
  python_full_version: '3.13.0rc2',
  python_version: '3.13',
  sys_platform: 'linux',
};

const PP39_MACOS_ARM64: MarkerEnvironment = {
  implementation_name: 'pypy',
  implementation_version: '7.3.16',
  os_name: 'posix',
  platform_machine: 'arm64',
  platform_python_implementation: 'PyPy',
  platform_release: '23.4.0',
  platform_system: 'Darwin',
  platform_version: 'Darwin Kernel Version 23.4.0: Fri Mar 15 00:10:42 PDT 2024; root:xnu-10063.101.17~1/RELEASE_ARM64_T6000',
  python_full_version: '3.9.19',
  python_version: '3.9',
  sys_platform: 'darwin',
};

const FIXED_ENVS: Record<string, MarkerEnvironment> = {
  'cp312-manylinux-aarch64': CP312_MANYLINUX_AARCH64,
  'cp310-win-amd64': CP310_WIN_AMD64,
  'cp313rc-linux-x86_64': CP313RC_LINUX_X86_64,
  'pp39-macos-arm64': PP39_MACOS_ARM64,
};

// --- Unit tests --------------------------------------------------------------------

test('the string form is packaging\'s: spacing, double quotes, aliases, redundant parentheses dropped', (t) => {
  const cases: Array<[string, string]> = [
    ['python_version>="3.8"', 'python_version >= "3.8"'],
    ["os.name == 'nt'", 'os_name == "nt"'],
    ['python_implementation=="CPython"', 'platform_python_implementation == "CPython"'],
    ['((sys_platform == "linux"))', 'sys_platform == "linux"'],
    ['a and (b)'.replace('a', 'os_name == "x"').replace('b', 'os_name == "y"'), 'os_name == "x" and os_name == "y"'],
    ['os_name == "a" and ( os_name == "b" or os_name == "c" )', 'os_name == "a" and (os_name == "b" or os_name == "c")'],
    ['python_version not  in "2.7 3.4"', 'python_version not in "2.7 3.4"'],
    ['"3.8" < python_version', '"3.8" < python_version'],
    ['extra == "Foo_Bar.baz"', 'extra == "foo-bar-baz"'],
    ['(extra == "Foo_Bar")', 'extra == "foo-bar"'],
  ];
  for (const [input, expected] of cases) t.is(parseMarker(input).toString(), expected, input);
});

test('and binds tighter than or, left to right', (t) => {
  const env = CP312_MANYLINUX_AARCH64;
  t.true(parseMarker('os_name == "nt" or sys_platform == "linux" and platform_machine == "aarch64"').evaluate(env));
  t.false(parseMarker('(os_name == "nt" or sys_platform == "linux") and platform_machine == "x86_64"').evaluate(env));
  t.true(parseMarker('os_name == "nt" and os_name == "nt" or python_version >= "3.12"').evaluate(env));
});

test('version variables compare as PEP 440 versions, including the reversed form', (t) => {
  const env = CP310_WIN_AMD64; // python_version 3.10: a string comparison would put it before 3.9
  t.true(parseMarker('python_version > "3.9"').evaluate(env));
  t.true(parseMarker('python_version >= "3.10.0"').evaluate(env));
  t.true(parseMarker('"3.9" < python_version').evaluate(env));
  t.false(parseMarker('"3.11" <= python_version').evaluate(env));
  t.true(parseMarker('python_full_version == "3.10.*"').evaluate(env));
  t.true(parseMarker('python_version ~= "3.8"').evaluate(env));
  t.true(parseMarker('python_version == "v3.10"').evaluate(env));
  // `in` on a version variable is a substring test, as in Python: 3.1 is "in" "3.10".
  t.true(parseMarker('python_version in "3.10 3.11"').evaluate(env));
  t.true(parseMarker('"3.1" in python_version').evaluate(env));
});

test('a pre-release interpreter satisfies version comparisons (packaging 22+; 21.3 says no)', (t) => {
  t.true(parseMarker('python_full_version >= "3.8"').evaluate(CP313RC_LINUX_X86_64));
  t.false(parseMarker('python_full_version >= "3.13"').evaluate(CP313RC_LINUX_X86_64));
  t.true(parseMarker('python_full_version >= "3.13.0rc1"').evaluate(CP313RC_LINUX_X86_64));
});

test('a platform_release that is no version matches only by string equality or ===', (t) => {
  const env = CP312_MANYLINUX_AARCH64; // 6.1.0-18-arm64
  t.false(parseMarker('platform_release >= "5"').evaluate(env));
  t.false(parseMarker('platform_release != "5"').evaluate(env));
  t.true(parseMarker('platform_release == "6.1.0-18-arm64"').evaluate(env));
  t.true(parseMarker('platform_release === "6.1.0-18-ARM64"').evaluate(env));
  t.true(parseMarker('platform_release >= "5"').evaluate(PP39_MACOS_ARM64)); // 23.4.0 is one
});

test('string variables: == and != compare, in tests substrings, <= and >= mean ==, < and > are false', (t) => {
  const env = CP312_MANYLINUX_AARCH64;
  t.true(parseMarker('sys_platform == "linux"').evaluate(env));
  t.true(parseMarker('"lin" in sys_platform').evaluate(env));
  t.true(parseMarker('sys_platform not in "win32 cygwin"').evaluate(env));
  t.true(parseMarker('platform_machine >= "aarch64"').evaluate(env));
  t.false(parseMarker('platform_machine >= "a"').evaluate(env));
  t.false(parseMarker('platform_machine < "z"').evaluate(env));
  t.false(parseMarker('platform_machine > "a"').evaluate(env));
});

test('extras: normalized on both sides, and true when any one requested extra makes the marker true', (t) => {
  const env = CP312_MANYLINUX_AARCH64;
  const m = (s: string): Marker => parseMarker(s);
  t.true(m('extra == "test"').evaluate(env, ['test']));
  t.false(m('extra == "test"').evaluate(env));
  t.false(m('extra == "test"').evaluate(env, ['docs']));
  t.true(m('extra == "Test_Extra"').evaluate(env, ['test.extra']));
  t.true(m('extra == "test-extra"').evaluate(env, ['TEST__extra']));
  t.true(m('(extra == "Foo_Bar")').evaluate(env, ['foo-bar']), 'inside parentheses too');
  t.true(m('"Dev" == extra').evaluate(env, ['dev']));
  // pip evaluates once per extra: no single extra equals both.
  t.false(m('extra == "a" and extra == "b"').evaluate(env, ['a', 'b']));
  t.true(m('extra != "a"').evaluate(env, ['a', 'b']));
  t.true(m('extra != "a"').evaluate(env), 'no extra: extra is ""');
  t.true(m('python_version >= "3.8" and extra == "gpu"').evaluate(env, ['GPU']));
});

test('quoted strings are Python literals: escapes count', (t) => {
  const env = CP312_MANYLINUX_AARCH64;
  t.true(parseMarker('sys_platform == "\\x6cinux"').evaluate(env));
  t.true(parseMarker("sys_platform == '\\u006c\\151nux'").evaluate(env));
  t.is(parseMarker('os_name == "a\\qb"').toString(), 'os_name == "a\\qb"', 'an unknown escape keeps its backslash');
  t.is(parseMarker('os_name == "it\\\'s"').toString(), 'os_name == "it\'s"');
  t.throws(() => parseMarker('os_name == "a\\"'), { instanceOf: InvalidRequirement });
  t.throws(() => parseMarker('os_name == "\\x4"'), { instanceOf: InvalidRequirement });
  t.throws(() => parseMarker('os_name == "\\N{LATIN SMALL LETTER A}"'), { instanceOf: InvalidRequirement });
});

test('syntax errors are InvalidRequirement (400) with packaging\'s reason and the column', (t) => {
  const cases: Array<[string, string]> = [
    ['python_version >', "invalid marker 'python_version >': Expected a marker variable or quoted string (column 17)"],
    ['python_version', "invalid marker 'python_version': Expected marker operator, one of <=, <, !=, ==, >=, >, ~=, ===, in, not in (column 15)"],
    ['(python_version == "3"', "invalid marker '(python_version == \"3\"': Expected matching RIGHT_PARENTHESIS for LEFT_PARENTHESIS, after marker expression (column 23)"],
    ['python_version == "3")', "invalid marker 'python_version == \"3\")': Expected end of marker expression (column 22)"],
    ['foo == "3"', "invalid marker 'foo == \"3\"': Expected a marker variable or quoted string (column 1)"],
    ['python_version notin "3"', "invalid marker 'python_version notin \"3\"': Expected marker operator, one of <=, <, !=, ==, >=, >, ~=, ===, in, not in (column 16)"],
    ['', "invalid marker '': Expected a marker variable or quoted string (column 1)"],
  ];
  for (const [input, message] of cases) {
    const e = t.throws(() => parseMarker(input), { instanceOf: InvalidRequirement }, input);
    t.is(e?.message, message);
    t.is(e?.status, 400);
  }
});

test('refused at parse time, where packaging fails only at evaluation or answers nonsense', (t) => {
  const cases: Array<[string, string]> = [
    ['"a" == "a"', 'Expected a marker variable: comparing two quoted strings is meaningless (column 11)'],
    ['python_version == python_full_version', 'Expected a quoted string: a marker compares a variable with a quoted string, not two variables (column 38)'],
    ['platform_machine ~= "x86"', "'~=' compares versions, and platform_machine is a string: use == or in (column 26)"],
    ['os_name === "posix"', "'===' compares versions, and os_name is a string: use == or in (column 20)"],
    ['python_version ~= "3"', "'~=' needs a valid version specifier on its right (column 22)"],
    ['extras == "x"', 'extras is a set: test it as "name" in extras (column 14)'],
    ['"x" == dependency_groups', 'dependency_groups is a set: test it as "name" in dependency_groups (column 25)'],
  ];
  for (const [input, reason] of cases) {
    const e = t.throws(() => parseMarker(input), { instanceOf: InvalidRequirement }, input);
    t.is(e?.message, `invalid marker '${input}': ${reason}`);
  }
});

test('comparisons whose meaning depends on the environment fail at evaluation', (t) => {
  // The specifier is built from the environment's value: ~=3.10 is valid, ~=10 is not.
  const m = parseMarker('"3.8" ~= python_version');
  t.false(m.evaluate(CP310_WIN_AMD64));
  const e = t.throws(() => parseMarker('"10" ~= platform_release').evaluate(CP310_WIN_AMD64), { instanceOf: InvalidRequirement });
  t.is(e?.message, "marker '\"10\" ~= platform_release' cannot be evaluated: '~=' is not defined between '10' and '10': they are not versions");
});

test('lock-file markers (PEP 751) test the sets extras and dependency_groups; extra is undefined there', (t) => {
  const env = CP312_MANYLINUX_AARCH64;
  const m = parseMarker('"Test_X" in extras and "dev" not in dependency_groups');
  t.true(m.evaluateInLockFile(env, { extras: ['test-x'], dependencyGroups: [] }));
  t.false(m.evaluateInLockFile(env, { extras: ['test-x'], dependencyGroups: ['Dev'] }));
  const outside = t.throws(() => m.evaluate(env), { instanceOf: InvalidRequirement });
  t.is(outside?.message, 'marker \'"Test_X" in extras and "dev" not in dependency_groups\' cannot be evaluated: the marker variable extras is defined only in a lock file');
  const extra = t.throws(() => parseMarker('extra == "x"').evaluateInLockFile(env, { extras: [], dependencyGroups: [] }), { instanceOf: InvalidRequirement });
  t.is(extra?.message, 'marker \'extra == "x"\' cannot be evaluated: the marker variable extra is not defined in a lock file (use "name" in extras)');
});

test('a python_full_version ending in + (an untagged CPython build) is read as a local version', (t) => {
  const env = { ...CP312_MANYLINUX_AARCH64, python_full_version: '3.12.4+' };
  t.true(parseMarker('python_full_version >= "3.12"').evaluate(env));
  t.true(parseMarker('python_full_version == "3.12.4"').evaluate(env));
});

// --- The oracle -------------------------------------------------------------------

interface Case {
  marker: string;
  extras?: string[];
}

// Valid markers (for packaging 26) and what real metadata writes, across every
// variable, operator and grouping.
const VALID: Case[] = [
  { marker: 'python_version >= "3.8"' },
  { marker: 'python_version < "3.11"' },
  { marker: 'python_version == "3.11"' },
  { marker: 'python_version != "3.12"' },
  { marker: 'python_version > "3.10"' },
  { marker: 'python_version <= "3.10"' },
  { marker: 'python_version ~= "3.10"' },
  { marker: 'python_version == "3.*"' },
  { marker: 'python_version == "3.1*"' },
  { marker: 'python_version in "3.10 3.11 3.12"' },
  { marker: 'python_version not in "3.10 3.11"' },
  { marker: 'python_version == "3.10.0"' },
  { marker: 'python_version == "v3.11"' },
  { marker: 'python_version == "3.11+local"' },
  { marker: 'python_version >= "3.13.0rc1"' },
  { marker: 'python_full_version >= "3.10.12"' },
  { marker: 'python_full_version < "3.12.0"' },
  { marker: 'python_full_version == "3.11.*"' },
  { marker: 'python_full_version ~= "3.11.4"' },
  { marker: 'python_full_version === "3.12.4"' },
  { marker: 'python_full_version >= "3.8"' },
  { marker: 'python_full_version < "3.13.0rc3"' },
  { marker: 'implementation_name == "cpython"' },
  { marker: 'implementation_name != "pypy"' },
  { marker: 'implementation_version >= "3.11"' },
  { marker: 'implementation_version == "7.3.*"' },
  { marker: 'platform_python_implementation == "CPython"' },
  { marker: 'python_implementation == "CPython"' },
  { marker: 'platform.python_implementation == "PyPy"' },
  { marker: 'os_name == "nt"' },
  { marker: 'os.name == "posix"' },
  { marker: 'sys_platform == "win32"' },
  { marker: 'sys.platform == "linux"' },
  { marker: 'sys_platform != "darwin"' },
  { marker: 'sys_platform in "linux darwin"' },
  { marker: '"linux" in sys_platform' },
  { marker: '"win" in sys_platform' },
  { marker: 'sys_platform not in "cygwin win32"' },
  { marker: 'platform_machine == "x86_64"' },
  { marker: 'platform_machine == "aarch64" or platform_machine == "arm64"' },
  { marker: 'platform_machine in "x86_64 AMD64"' },
  { marker: 'platform.machine == "AMD64"' },
  { marker: 'platform_machine != "aarch64"' },
  { marker: 'platform_machine < "b"' },
  { marker: 'platform_machine >= "x86_64"' },
  { marker: 'platform_system == "Linux"' },
  { marker: 'platform_system == "Windows" and platform_machine == "AMD64"' },
  { marker: 'platform_system == "Darwin" and platform_machine == "arm64"' },
  { marker: 'platform_release >= "5.0"' },
  { marker: 'platform_release < "6"' },
  { marker: 'platform_release == "10"' },
  { marker: 'platform_release ~= "23.4"' },
  { marker: 'platform_release === "6.1.0-18-arm64"' },
  { marker: '"Ubuntu" in platform_version' },
  { marker: 'platform.version != ""' },
  { marker: 'platform_version >= "1"' },
  { marker: 'python_version > "3.8" and python_version < "3.12"' },
  { marker: 'python_version < "3.9" or python_version >= "3.12"' },
  { marker: '(sys_platform == "linux" or sys_platform == "darwin") and platform_machine == "aarch64"' },
  { marker: 'sys_platform == "linux" and (platform_machine == "aarch64" or platform_machine == "x86_64") or os_name == "nt"' },
  { marker: 'os_name == "nt" or sys_platform == "linux" and platform_machine == "aarch64"' },
  { marker: 'os_name == "posix" and (sys_platform == "darwin" or sys_platform == "linux" and (platform_machine == "aarch64"))' },
  { marker: '((python_version >= "3.10"))' },
  { marker: 'python_version>="3.10"and os_name=="posix"' },
  { marker: 'python_version\t==\t"3.11"' },
  { marker: 'python_version not\tin "3.9"' },
  { marker: "sys_platform == 'linux' and python_version != '3.10' or os_name == 'nt' and python_version == '3.10'" },
  { marker: 'python_version >= "3.10" and python_version < "3.13" and platform_system != "Windows"' },
  { marker: "'3.10' <= python_version" },
  { marker: '"3.12" > python_version' },
  { marker: '"3.11" ~= python_version' },
  { marker: '"cpython" == implementation_name' },
  { marker: 'sys_platform == "\\x6cinux"' },
  { marker: 'extra == "test"', extras: ['test'] },
  { marker: 'extra == "Test_Extra"', extras: ['test-extra'] },
  { marker: 'extra == "docs"' },
  { marker: 'extra != "docs"', extras: ['docs', 'test'] },
  { marker: 'python_version >= "3.10" and extra == "gpu"', extras: ['GPU'] },
  { marker: 'python_version == "3.11" and extra == "dev"', extras: ['Dev'] },
  { marker: '(extra == "Foo_Bar")', extras: ['foo-bar'] },
  { marker: 'extra == "a" and extra == "b"', extras: ['a', 'b'] },
  { marker: 'extra in "a b"', extras: ['a'] },
  // Parsed by packaging, refused here (the error is at evaluation there).
  { marker: '"a" == "a"' },
  { marker: 'platform_machine ~= "x86"' },
  { marker: 'python_version ~= "3"' },
  { marker: '"test" in extras' },
  { marker: 'os_name === "posix"' },
  { marker: 'python_version == python_full_version' },
];

// Refused by packaging 26 (and here).
const INVALID = [
  'python_version',
  'python_version >',
  'python_version == "3" and',
  '(python_version == "3"',
  'python_version == "3")',
  'python_version notin "3"',
  'foo == "3"',
  'python_version == 3',
  "os_name == 'x",
  '',
  ' ',
  'python_version == "3" andos_name=="x"',
  'python_version = "3"',
  'os_name == "a" or or os_name == "b"',
  'and os_name == "a"',
  'os_name == "a" && os_name == "b"',
  'os_name == "x" not in "y"',
  'os_name is "x"',
  'OS_NAME == "x"',
  'python_version <> "3"',
  'os_name == "nt";',
  'platform_machine == "x" # comment',
  'python_version in',
  'not python_version == "3"',
  'python_version not "3"',
  'os_name == "a\\"',
  'os_name == "\\x4"',
];

/** Each place we knowingly disagree; the test fails if the list and reality differ. */
interface Divergence {
  marker: string;
  /** The environments where it shows; every one when omitted. */
  when?: (env: MarkerEnvironment) => boolean;
  why: string;
}

const FROM_MODERN: Divergence[] = [
  { marker: '(extra == "Foo_Bar")', why: 'packaging 26.2 normalizes extra names only outside parentheses, so this marker can never hold there; PEP 685 says normalize' },
  { marker: 'python_version == python_full_version', why: 'packaging compares "3.11" with the word "python_full_version"; refused here' },
];
// pip 23.0 and 23.2 vendor packaging 21.3, from before PEP 685 and the spec's
// later clarifications; pip 24.1+ vendors packaging 24+, which agrees with us here.
const PRE_INTERPRETER = 'packaging 21.3 compares without prereleases=True, so a pre-release interpreter fails every version comparison not naming a pre-release';
const NO_PEP_685 = 'packaging 21.3 compares extra names as written (PEP 685 normalization came in packaging 22)';
const FROM_PIP: Divergence[] = [
  { marker: '(extra == "Foo_Bar")', why: NO_PEP_685 },
  { marker: 'extra == "Test_Extra"', why: NO_PEP_685 },
  { marker: 'python_version >= "3.10" and extra == "gpu"', when: (e) => compareVersions(e.python_version, '3.10') >= 0, why: NO_PEP_685 },
  { marker: 'python_version == "3.11" and extra == "dev"', when: (e) => e.python_version === '3.11', why: NO_PEP_685 },
  { marker: 'implementation_version >= "3.11"', when: (e) => isPrerelease(e.python_full_version), why: PRE_INTERPRETER },
  { marker: 'python_full_version < "3.13.0rc3"', when: (e) => isPrerelease(e.python_full_version), why: PRE_INTERPRETER },
  { marker: 'python_full_version >= "3.10.12"', when: (e) => isPrerelease(e.python_full_version), why: PRE_INTERPRETER },
  { marker: 'python_full_version >= "3.8"', when: (e) => isPrerelease(e.python_full_version), why: PRE_INTERPRETER },
  { marker: 'platform_machine < "b"', when: (e) => e.platform_machine < 'b', why: 'packaging 21.3 orders strings as Python does; the spec (packaging 26) makes < and > false for strings' },
  { marker: 'platform_version >= "1"', when: (e) => isValidVersion(e.platform_version) && e.platform_version !== '1', why: 'packaging 21.3 compares any variable as a version when it parses as one ("10.0.19045"); the spec does so only for version variables, and >= on strings means ==' },
  { marker: 'os_name === "posix"', why: 'packaging 21.3 reads === as string equality for any variable; packaging 26 raises at evaluation, refused here at parse time' },
  { marker: 'python_version == python_full_version', why: 'refused here (packaging compares with the variable\'s name as a string)' },
  { marker: 'python_version not\tin "3.9"', why: 'packaging 21.3 wants a space between not and in; the spec allows any whitespace' },
  { marker: 'sys_platform == "\\x6cinux"', when: (e) => e.sys_platform === 'linux', why: 'packaging 21.3 reads quoted strings without backslash escapes; packaging 22+ uses ast.literal_eval' },
];

type Outcome = boolean | 'error';

function ours(c: Case, env: MarkerEnvironment): Outcome {
  try {
    return parseMarker(c.marker).evaluate(env, c.extras ?? []);
  } catch (e) {
    if (e instanceof InvalidRequirement) return 'error';
    throw e;
  }
}

function theirs(answer: OracleAnswer['modern']['markers'][number], env: string): Outcome {
  if (!answer.parsed) return 'error';
  const r = answer.results[env];
  return typeof r === 'boolean' ? r : 'error';
}

function disagreements(oracle: OracleAnswer, impl: 'modern' | 'pip', envs: Record<string, MarkerEnvironment>): string[] {
  const out: string[] = [];
  VALID.forEach((c, i) => {
    for (const [name, env] of Object.entries(envs)) {
      const mine = ours(c, env);
      const other = theirs(oracle[impl].markers[i] as never, name);
      if (mine !== other) out.push(`${c.marker} @ ${name}: pydepot ${mine}, ${impl} ${other}`);
    }
  });
  return out;
}

function expected(list: Divergence[], oracle: OracleAnswer, impl: 'modern' | 'pip', envs: Record<string, MarkerEnvironment>): string[] {
  const out: string[] = [];
  for (const d of list) {
    const i = VALID.findIndex((c) => c.marker === d.marker);
    if (i === -1) throw new Error(`divergence for a marker not in the table: ${d.marker}`);
    for (const [name, env] of Object.entries(envs)) {
      if (d.when !== undefined && !d.when(env)) continue;
      const c = VALID[i] as Case;
      out.push(`${c.marker} @ ${name}: pydepot ${ours(c, env)}, ${impl} ${theirs(oracle[impl].markers[i] as never, name)}`);
    }
  }
  return out;
}

test('oracle: packaging 26 and pip 23\'s packaging agree, but for the listed cases', async (t) => {
  const started = Date.now();
  const oracle = await askPackaging({
    markers: [...VALID, ...INVALID.map((marker) => ({ marker }))], envs: FIXED_ENVS, withLocalEnvironment: true,
  });
  const envs = { local: oracle.defaultEnvironment, ...FIXED_ENVS };
  t.log(`packaging ${oracle.versions.packaging}, pip ${oracle.versions.pip} (vendored packaging ${oracle.versions.pipPackaging}), python ${oracle.versions.python}; ${VALID.length} valid × ${Object.keys(envs).length} environments, ${INVALID.length} invalid; ${Date.now() - started} ms`);

  t.true(VALID.length >= 60);
  t.deepEqual(disagreements(oracle, 'modern', envs).sort(), expected(FROM_MODERN, oracle, 'modern', envs).sort(), 'against packaging 26');
  t.deepEqual(disagreements(oracle, 'pip', envs).sort(), expected(FROM_PIP, oracle, 'pip', envs).sort(), 'against pip\'s packaging 21.3');

  // The string form, for every marker both parse: the same tree, aliases and normalization.
  VALID.forEach((c, i) => {
    const answer = oracle.modern.markers[i];
    if (answer?.parsed !== true) return;
    let mine: string;
    try {
      mine = parseMarker(c.marker).toString();
    } catch {
      return; // refused here on purpose (listed above)
    }
    if (FROM_MODERN.some((d) => d.marker === c.marker)) return;
    t.is(mine, answer.str, c.marker);
  });

  // Whatever packaging 26 refuses, pydepot refuses.
  INVALID.forEach((marker, k) => {
    const i = VALID.length + k;
    t.false(oracle.modern.markers[i]?.parsed, `packaging 26 accepts ${JSON.stringify(marker)}: move it to VALID`);
    t.throws(() => parseMarker(marker), { instanceOf: InvalidRequirement }, marker);
  });
});
