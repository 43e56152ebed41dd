import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { readFileSync } from 'node:fs';
import { InvalidRequirement } from '../../src/errors.ts';
import { parseMarker } from '../../src/resolve/markers.ts';
import {
  parseRequirement, parseRequirementsFile, type ParsedRequirements, type ReadRequirementsFile, type Req, type RequirementsFile,
} from '../../src/resolve/requirements.ts';
import { askPackaging, type PipFileRequirement, type RequirementAnswer } from '../helpers/packaging-oracle.ts';

const H1 = 'a'.repeat(64);
const H2 = 'b'.repeat(64);
const H3 = '0123456789abcdef'.repeat(4);

// --- One requirement ------------------------------------------------------------

test('a requirement: name as written and normalized, extras normalized, packaging\'s specifier string, marker', (t) => {
  const r = parseRequirement('Foo.Bar_baz [Socks, TEST_x] (>=1.0, <2) ; python_version >= "3.8" and extra == "Fast_Mode"');
  t.is(r.name, 'Foo.Bar_baz');
  t.is(r.normalizedName, 'foo-bar-baz');
  t.deepEqual(r.extras, ['socks', 'test-x']);
  t.is(r.specifier, '<2,>=1.0');
  t.is(r.url, null);
  t.is(r.marker?.toString(), 'python_version >= "3.8" and extra == "fast-mode"');
});

test('the URL form is parsed, so that it can be refused by name', (t) => {
  const r = parseRequirement('foo[bar] @ https://example.com/foo-1.0-py3-none-any.whl ; python_version >= "3.8"');
  t.is(r.url, 'https://example.com/foo-1.0-py3-none-any.whl');
  t.is(r.marker?.toString(), 'python_version >= "3.8"');
});

test('an invalid requirement is an InvalidRequirement naming the text, packaging\'s reason and the column', (t) => {
  const cases: Array<[string, string]> = [
    ['foo>=', "invalid requirement 'foo>=': Expected semicolon (after name with no version specifier) or end (column 4)"],
    ['foo>=1.0+local', "invalid requirement 'foo>=1.0+local': Local version label can only be used with `==` or `!=` operators (column 9)"],
    ['foo>=1.0.*', "invalid requirement 'foo>=1.0.*': .* suffix can only be used with `==` or `!=` operators (column 10)"],
    ['foo[bar', "invalid requirement 'foo[bar': Expected matching RIGHT_BRACKET for LEFT_BRACKET, after extras (column 8)"],
    ['foo[bar baz]', "invalid requirement 'foo[bar baz]': Expected comma between extra names (column 9)"],
    [';', "invalid requirement ';': Expected package name at the start of dependency specifier (column 1)"],
    ['foo; python_version', "invalid requirement 'foo; python_version': Expected marker operator, one of <=, <, !=, ==, >=, >, ~=, ===, in, not in (column 20)"],
  ];
  for (const [input, message] of cases) {
    const e = t.throws(() => parseRequirement(input), { instanceOf: InvalidRequirement }, input);
    t.is(e?.message, message);
  }
});

// Valid for packaging 26 unless noted; the oracle decides.
const REQUIREMENTS = [
  'requests', 'requests>=2.31', 'requests >= 2.31 , < 3', 'Requests[Socks,security]>=2.8.1,==2.8.*; python_version < "2.7"',
  'name (>=1.0)', 'name()', 'name[]', 'name[ a , b ]', 'Foo.Bar_baz-qux==1.0', 'foo_>=1', 'foo>=1,', 'foo===1.0,>=2',
  'foo>=1.0,>=1.0.0', 'foo ; python_version >= "3.8"', 'foo;os_name=="nt"', 'foo @ https://example.com/foo-1.0-py3-none-any.whl',
  'foo @ https://example.com/foo.whl ; python_version >= "3.8"', 'foo@ git+https://github.com/x/foo@v1', 'foo [bar] @ file:///tmp/foo.whl',
  'foo @ https://x.org/a.whl;python_version>"3"', 'foo==1.0+local', 'foo!=1.0.*', 'foo~=1.4.5', 'foo<2.0a1', 'foo>=1.0.post1.dev2',
  'foo==v1.0', 'foo==1.0 ; extra == "Test_X"', '  leading-space', 'trailing-space  ', 'foo\n', 'a', '0', 'foo[bar]',
  'foo>=1.0;python_version<"3"and os_name=="nt"', 'foo===weird-version', 'foo==1!2.0', 'foo<=2.0,>1.0', 'foo>=1.0 ; (os_name == "nt")',
  'FOO>=1.0', 'foo>= 1.0', 'foo\t>=1.0',
  // invalid
  '', '>=1.0', 'foo>=', 'foo>=1.0+local', 'foo==1.0.*+x', 'foo>=1.0.*', 'foo=1.0', 'foo==', 'foo[bar', 'foo[bar,]', 'foo[bar baz]',
  'foo (>=1.0', 'foo>=1.0)', 'foo;', 'foo; python_version', 'foo @', 'foo-', 'foo.', '-foo', 'foo bar', 'foo,bar', 'foo>=1.0 extra',
  'foo>=1,,<2', 'foo~=1', 'foo==1.0a1.*', 'foo<>1.0', 'foo>=1.0[bar]', 'foo @ https://x.org/a.whl python_version>"3"', 'föo',
  'foo>= 1.0 2.0', 'foo>=1.0; os_name == "a" or', 'foo; extras == "x"',
];

// packaging 26 fails on this one only when it evaluates the marker.
const FROM_MODERN: Record<string, string> = {
  'foo; extras == "x"': 'extras is a set (PEP 751): refused at parse time',
};

const LEGACY = 'packaging 21.3 accepts non-PEP 440 (legacy) specifiers';
// pip 23's packaging 21.3 uses a pyparsing grammar that packaging 22 replaced.
const FROM_PIP: Record<string, string> = {
  'foo_>=1': '21.3 wants a name to end in a letter or digit; 22+ accepts the trailing underscore',
  'foo>=1,': '21.3 refuses the trailing comma that PEP 508 allows',
  'name()': '21.3 refuses empty parentheses',
  'foo>=1.0+local': LEGACY,
  'foo==1.0.*+x': LEGACY,
  'foo>=1.0.*': LEGACY,
  'foo==1.0a1.*': LEGACY,
  'foo<>1.0': LEGACY,
  'foo>=1.0[bar]': LEGACY,
  'foo==': LEGACY,
  'foo>=': LEGACY,
  'foo==1.0 ; extra == "Test_X"': '21.3 prints extra names as written (PEP 685 normalization came in packaging 22)',
};

function mineAnswer(text: string): RequirementAnswer {
  try {
    const r = parseRequirement(text);
    return { parsed: true, name: r.name, extras: r.extras, specifier: r.specifier, url: r.url, marker: r.marker?.toString() ?? null };
  } catch (e) {
    if (e instanceof InvalidRequirement) return { parsed: false, error: e.message };
    throw e;
  }
}

function comparable(a: RequirementAnswer | undefined): unknown {
  // Keys in one order, for comparing JSON.
  return a === undefined || !a.parsed ? 'invalid'
    : { name: a.name, extras: a.extras, specifier: a.specifier, url: a.url, marker: a.marker };
}

test('oracle: requirements against packaging 26 and pip 23\'s packaging 21.3', async (t) => {
  const oracle = await askPackaging({ requirements: REQUIREMENTS });
  let valid = 0;
  const fromModern: string[] = [];
  const fromPip: string[] = [];
  REQUIREMENTS.forEach((text, i) => {
    const mine = JSON.stringify(comparable(mineAnswer(text)));
    if (mine !== '"invalid"') valid++;
    if (mine !== JSON.stringify(comparable(oracle.modern.requirements[i])) && !(text in FROM_MODERN)) {
      fromModern.push(`${JSON.stringify(text)}: ${mine} vs ${JSON.stringify(oracle.modern.requirements[i])}`);
    }
    if (mine !== JSON.stringify(comparable(oracle.pip.requirements[i]))) fromPip.push(text);
  });
  t.deepEqual(fromModern, [], 'against packaging 26');
  t.deepEqual(fromPip.sort(), Object.keys(FROM_PIP).sort(), 'against packaging 21.3, but for the listed');
  t.log(`${REQUIREMENTS.length} requirements (${valid} valid, ${REQUIREMENTS.length - valid} invalid): all agree with packaging 26 but ${Object.keys(FROM_MODERN).length} listed; ${Object.keys(FROM_PIP).length} listed differences from 21.3`);
});

// --- Requirements files -------------------------------------------------------------

/** An in-memory tree of files, read as pip joins paths (to the including file's directory). */
function files(tree: Record<string, string>): ReadRequirementsFile {
  return (path, relativeTo) => {
    const name = normalize(join(dirname(relativeTo), path));
    const text = tree[name];
    if (text === undefined) throw new Error(`No such file: ${name}`);
    return { name, text };
  };
}

function parse(text: string, tree: Record<string, string> = {}, name = 'requirements.txt'): ParsedRequirements {
  return parseRequirementsFile({ name, text }, { readFile: files(tree) });
}

function problems(text: string, tree: Record<string, string> = {}): readonly string[] {
  try {
    parse(text, tree);
  } catch (e) {
    if (e instanceof InvalidRequirement) return e.problems;
    throw e;
  }
  return [];
}

function brief(r: Req): string {
  return `${r.origin.file}:${r.origin.line} ${r.name}${r.extras.length ? `[${r.extras.join(',')}]` : ''}${r.specifier}${r.marker ? `; ${r.marker}` : ''}${r.hashes.length ? ` ${r.hashes.join(' ')}` : ''}`;
}

test('comments, blank lines and continuations, as pip joins them', (t) => {
  const r = parse([
    '# a comment',
    '',
    'requests>=2.31   # a trailing comment',
    'foo#bar-is-no-comment-without-space'.replace('foo#bar-is-no-comment-without-space', 'numpy \\'),
    '    ==1.26.4',
    'attrs \\',
    '# a comment ends the continuation',
    'six',
    '   \t  ',
    'click\\',
  ].join('\n'));
  t.deepEqual(r.requirements.map(brief), [
    'requirements.txt:3 requests>=2.31',
    'requirements.txt:4 numpy==1.26.4',
    'requirements.txt:6 attrs',
    'requirements.txt:8 six',
    'requirements.txt:10 click',
  ]);
  t.deepEqual(r.warnings, []);
});

test('a # without whitespace before it is part of the line, as for pip', (t) => {
  t.deepEqual(problems('foo#bar'), [
    "requirements.txt:1: 'foo#bar' is not a valid requirement: Expected semicolon (after name with no version specifier) or end (column 4)",
  ]);
});

test('hashes: several per requirement, either spelling, lowercased; without a requirement they are ignored with a warning', (t) => {
  const r = parse([
    `numpy==1.26.4 --hash=sha256:${H1} \\`,
    `    --hash sha256:${H2.toUpperCase()}`,
    `--hash=sha512:${'c'.repeat(128)}`,
    `six==1.16.0 --hash="sha384:${'d'.repeat(96)}"`,
  ].join('\n'));
  t.deepEqual(r.requirements.map((q) => q.hashes), [[`sha256:${H1}`, `sha256:${H2}`], [`sha384:${'d'.repeat(96)}`]]);
  t.deepEqual(r.warnings, ['requirements.txt:3: --hash without a requirement is ignored, as pip ignores it']);
  t.deepEqual(problems(`a --hash=md5:${'0'.repeat(32)}\nb --hash=sha256:abc\nc --hash=${H1}`), [
    `requirements.txt:1: 'a --hash=md5:${'0'.repeat(32)}' has --hash=md5:…; pip accepts sha256, sha384 or sha512`,
    "requirements.txt:2: 'b --hash=sha256:abc' has --hash=sha256:abc, which is not a sha256 digest (64 hex digits)",
    `requirements.txt:3: 'c --hash=${H1}' has --hash without a hash name and value, like --hash=sha256:<hex digest>`,
  ]);
});

test('index options are ignored with a warning; --pre, --prefer-binary, --require-hashes are kept', (t) => {
  const r = parse([
    '--index-url https://pypi.org/simple',
    '-i https://pypi.org/simple',
    '--extra-index-url=https://example.com/simple',
    '--find-links ./wheels',
    '-f https://example.com/links',
    '--no-index',
    '--trusted-host example.com',
    '--ind https://abbreviated.example.com/simple',
    '--only-binary :all:',
    '--pre',
    '--prefer-binary',
    '--require-hashes',
    'foo',
  ].join('\n'));
  t.deepEqual(r.warnings, [
    'requirements.txt:1: --index-url is ignored: pydepot resolves from its own repositories',
    'requirements.txt:2: -i is ignored: pydepot resolves from its own repositories',
    'requirements.txt:3: --extra-index-url is ignored: pydepot resolves from its own repositories',
    'requirements.txt:4: --find-links is ignored: pydepot resolves from its own repositories',
    'requirements.txt:5: -f is ignored: pydepot resolves from its own repositories',
    'requirements.txt:6: --no-index is ignored: pydepot resolves from its own repositories',
    'requirements.txt:7: --trusted-host is ignored: pydepot resolves from its own repositories',
    'requirements.txt:8: --ind is ignored: pydepot resolves from its own repositories',
    'requirements.txt:9: --only-binary is ignored: pydepot exports wheels only (sdists only with --allow-sdist)',
  ]);
  t.deepEqual(r.options, { pre: true, preferBinary: true, requireHashes: true });
  t.deepEqual(r.requirements.map(brief), ['requirements.txt:13 foo']);
});

test('options after a requirement that pip ignores are ignored with a warning', (t) => {
  const r = parse('foo==1.0 --pre -r other.txt --global-option=--x extra-word');
  t.deepEqual(r.requirements.map(brief), ['requirements.txt:1 foo==1.0']);
  t.deepEqual(r.warnings, [
    'requirements.txt:1: --pre after a requirement is ignored, as pip ignores it',
    'requirements.txt:1: -r after a requirement is ignored, as pip ignores it',
    'requirements.txt:1: --global-option is ignored: it configures source builds, and pydepot exports wheels',
    "requirements.txt:1: 'extra-word' after the options is ignored, as pip ignores it",
  ]);
  t.false(r.options.pre);
});

test('-r and -c include files relative to the including one; constraints come apart', (t) => {
  const r = parse('-r sub/dev.txt\n--constraint=constraints.txt\nrequests', {
    'sub/dev.txt': 'pytest>=8 ; python_version >= "3.8"\n-rshared.txt',
    'sub/shared.txt': 'six',
    'constraints.txt': 'numpy<2\n--requirement sub/shared.txt',
  });
  t.deepEqual(r.requirements.map(brief), [
    'sub/dev.txt:1 pytest>=8; python_version >= "3.8"',
    'sub/shared.txt:1 six',
    'sub/shared.txt:1 six', // -r inside a constraints file makes requirements, as in pip
    'requirements.txt:3 requests',
  ]);
  t.deepEqual(r.constraints.map(brief), ['constraints.txt:1 numpy<2']);
});

test('an include cycle is a problem naming the chain', (t) => {
  t.deepEqual(problems('-r a.txt', { 'a.txt': 'foo\n-r b.txt', 'b.txt': '-r a.txt' }), [
    "b.txt:1: '-r a.txt' includes a.txt again (requirements.txt → a.txt → b.txt → a.txt): a file cannot include itself",
  ]);
  t.deepEqual(problems('-r requirements.txt', { 'requirements.txt': '-r requirements.txt' }), [
    "requirements.txt:1: '-r requirements.txt' includes requirements.txt again (requirements.txt → requirements.txt): a file cannot include itself",
  ]);
});

test('includes that cannot be read, URLs, and files without a reader', (t) => {
  t.deepEqual(problems('-r missing.txt\n-c https://example.com/c.txt'), [
    "requirements.txt:1: '-r missing.txt' cannot be read: No such file: missing.txt",
    "requirements.txt:2: '-c https://example.com/c.txt' includes a URL; pydepot reads only the files given to it: download it and include the file",
  ]);
  const e = t.throws(() => parseRequirementsFile({ name: 'body', text: 'foo\n-r other.txt' }), { instanceOf: InvalidRequirement });
  t.deepEqual(e?.problems, ["body:2: '-r other.txt' includes another file, which cannot be read here: put its lines in this file"]);
});

test('what cannot be honoured on the server is refused with the file, line and a way out', (t) => {
  const lines = [
    'requests',
    '-e ./lib',
    '--editable=git+https://github.com/x/y.git#egg=y',
    'git+https://github.com/pallets/flask@3.0.0#egg=flask',
    'flask @ git+https://github.com/pallets/flask@3.0.0',
    'https://example.com/pkg-1.0.tar.gz',
    'pkg @ https://example.com/pkg-1.0-py3-none-any.whl',
    './pkg',
    '/wheels/pkg-1.0-py3-none-any.whl',
    'pkg-1.0.tar.gz',
    'file:///srv/pkg-1.0-py3-none-any.whl',
    'C:\\wheels\\pkg.zip',
    'pkg @ file:///srv/pkg',
    '--no-binary :all:',
    '--frobnicate',
    '--req other.txt',
    '-r',
    '-x foo',
    '--pre=yes',
    'pkg==${VERSION}',
    "pkg --hash='sha256:unclosed",
    'pkg=1.0',
  ];
  t.deepEqual(problems(lines.join('\n')), [
    "requirements.txt:2: '-e ./lib' is an editable install; pydepot resolves from the index only: build it into a wheel and upload it",
    "requirements.txt:3: '--editable=git+https://github.com/x/y.git#egg=y' is an editable install; pydepot resolves from the index only: build it into a wheel and upload it",
    "requirements.txt:4: 'git+https://github.com/pallets/flask@3.0.0#egg=flask' is a VCS reference; pydepot resolves from the index only: build it into a wheel and upload it",
    "requirements.txt:5: 'flask @ git+https://github.com/pallets/flask@3.0.0' is a VCS reference; pydepot resolves from the index only: build it into a wheel and upload it",
    "requirements.txt:6: 'https://example.com/pkg-1.0.tar.gz' is a direct URL; pydepot resolves from the index only: upload the file and require it by name",
    "requirements.txt:7: 'pkg @ https://example.com/pkg-1.0-py3-none-any.whl' is a direct URL; pydepot resolves from the index only: upload the file and require it by name",
    "requirements.txt:8: './pkg' is a local path; pydepot resolves from the index only: build it into a wheel and upload it",
    "requirements.txt:9: '/wheels/pkg-1.0-py3-none-any.whl' is a local path; pydepot resolves from the index only: upload the wheel and require it by name",
    "requirements.txt:10: 'pkg-1.0.tar.gz' is a local path; pydepot resolves from the index only: build it into a wheel and upload it",
    "requirements.txt:11: 'file:///srv/pkg-1.0-py3-none-any.whl' is a local path; pydepot resolves from the index only: upload the wheel and require it by name",
    "requirements.txt:12: 'C:\\wheels\\pkg.zip' is a local path; pydepot resolves from the index only: build it into a wheel and upload it",
    "requirements.txt:13: 'pkg @ file:///srv/pkg' is a local path; pydepot resolves from the index only: build it into a wheel and upload it",
    "requirements.txt:14: '--no-binary :all:' asks pip to build from source (--no-binary); pydepot does not build: remove it",
    "requirements.txt:15: '--frobnicate' has an unknown option --frobnicate",
    "requirements.txt:16: '--req other.txt' has an ambiguous option --req (--requirement, --require-hashes)",
    "requirements.txt:17: '-r' has -r without its value",
    "requirements.txt:18: '-x foo' has an unknown option -x",
    "requirements.txt:19: '--pre=yes' has --pre, which takes no value",
    "requirements.txt:20: 'pkg==${VERSION}' uses the environment variable VERSION, which pip expands on the machine it runs on: write its value instead",
    "requirements.txt:21: 'pkg --hash='sha256:unclosed' has options that cannot be split: No closing quotation",
    "requirements.txt:22: 'pkg=1.0' is not a valid requirement: Expected semicolon (after name with no version specifier) or end (column 4) (= is not a valid operator: did you mean ==?)",
  ]);
});

test('every problem is reported at once; the error\'s message is the first and a count', (t) => {
  const e = t.throws(() => parse('-e .\nok\n./x\n-e y'), { instanceOf: InvalidRequirement });
  t.is(e?.problems.length, 3);
  t.is(e?.message, "requirements.txt:1: '-e .' is an editable install; pydepot resolves from the index only: build it into a wheel and upload it (and 2 more problems)");
  t.is(e?.status, 400);
});

test('a constraint cannot have extras (pip refuses them too)', (t) => {
  t.deepEqual(problems('-c c.txt', { 'c.txt': 'requests[socks]==2.31.0' }), [
    "c.txt:1: 'requests[socks]==2.31.0' is a constraint with extras; constraints cannot have extras (pip refuses them too)",
  ]);
  const r = parseRequirementsFile({ name: 'c.txt', text: 'numpy<2' }, { constraints: true });
  t.deepEqual(r.constraints.map(brief), ['c.txt:1 numpy<2']);
});

test('an invalid marker on a line is reported with its reason', (t) => {
  t.deepEqual(problems('foo; python_version >'), [
    "requirements.txt:1: 'foo; python_version >' is not a valid requirement: invalid marker 'python_version >': Expected a marker variable or quoted string (column 17)",
  ]);
  // pip splits the marker off at the first ';' and ignores an empty one.
  t.deepEqual(parse('foo ;').requirements.map(brief), ['requirements.txt:1 foo']);
});

test('Windows line endings, a BOM, and form feeds split lines as Python does', (t) => {
  const r = parse('\uFEFFfoo\r\nbar\rbaz\fqux');
  t.deepEqual(r.requirements.map(brief), ['requirements.txt:1 foo', 'requirements.txt:2 bar', 'requirements.txt:3 baz', 'requirements.txt:4 qux']);
});

// --- The pip oracle for files --------------------------------------------------------------

const SAMPLE: Record<string, string> = {
  'requirements.txt': [
    '# Everything pydepot accepts, as pip reads it',
    'requests[socks]>=2.31,<3 ; python_version >= "3.8"   # trailing comment',
    'numpy==1.26.4 \\',
    `    --hash=sha256:${H1} \\`,
    `    --hash=sha256:${H2}`,
    '--index-url https://pypi.org/simple',
    '--extra-index-url=https://example.com/simple',
    '-f ./wheels',
    '--trusted-host example.com',
    '--pre',
    '-r sub/more.txt',
    '-c constraints.txt',
    'Foo.Bar_baz (>=1.0)',
    'attrs; os_name == "nt" or sys_platform == "linux"',
    `pyyaml>=6 --hash sha256:${H3}`,
    'uvicorn[standard]~=0.29.0',
    '   ',
    'tomli>=1.1.0; python_version < "3.11"',
    'urllib3!=2.0.*,>=1.26',
    'Django[Argon2 , bcrypt] == 5.0.*',
    'typing-extensions; extra == "Typing"',
    'six ;',
    'cffi>=1.0 ; platform_python_implementation != "PyPy" and (sys_platform == "win32" or python_version < "3.9")',
    'zipp \\',
    '# comment inside a continuation',
    'idna',
  ].join('\n'),
  'sub/more.txt': 'click>=8 ; platform_system != "Windows"\n--requirement ../shared.txt\n',
  'shared.txt': 'six\r\ncertifi>=2024.2.2\r\n',
  'constraints.txt': `numpy<2\nrequests==2.31.0 --hash=sha256:${H1}\n-r shared.txt\n`,
};

/** Writes SAMPLE to a temp dir, has `python`'s pip parse it, and compares with ours. */
async function compareWithPip(t: ExecutionContext, python: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-reqfile-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(SAMPLE)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  const root = join(dir, 'requirements.txt');
  const oracle = await askPackaging({ requirementsFile: root }, python, true);
  const pipFile = oracle.requirementsFile;
  if (pipFile === undefined || 'error' in pipFile) {
    t.fail(`pip could not parse the sample: ${pipFile?.error ?? 'no answer'}`);
    return;
  }
  const readFile: ReadRequirementsFile = (path, relativeTo): RequirementsFile => {
    const name = join(dirname(relativeTo), path);
    return { name, text: readFileSync(name, 'utf8') };
  };
  const ours = parseRequirementsFile({ name: root, text: readFileSync(root, 'utf8') }, { readFile });

  // pip's line_source is "line N of PATH" with the path joined but not normalized.
  const pipSide = (p: PipFileRequirement): unknown => {
    const m = /^line (\d+) of (.*)$/.exec(p.lineSource ?? '');
    return {
      text: p.requirement, origin: m ? `${normalize(m[2] as string)}:${m[1]}` : p.lineSource, hashes: p.hashes,
      // 21.3 prints extra names as written; our parse of its string normalizes them as PEP 685 says.
      name: p.name, extras: p.extras, specifier: p.specifier, marker: p.marker ? parseMarker(p.marker).toString() : null, error: p.error,
    };
  };
  const ourSide = (r: Req): unknown => ({
    text: r.text, origin: `${normalize(r.origin.file)}:${r.origin.line}`, hashes: [...r.hashes].sort(),
    name: r.name, extras: r.extras, specifier: r.specifier, marker: r.marker?.toString() ?? null, error: undefined,
  });
  t.deepEqual(ours.requirements.map(ourSide), pipFile.requirements.filter((p) => !p.constraint).map(pipSide), 'requirements');
  t.deepEqual(ours.constraints.map(ourSide), pipFile.requirements.filter((p) => p.constraint).map(pipSide), 'constraints');
  t.true(pipFile.requirements.every((p) => !p.editable));
  t.true(ours.options.pre);
  t.log(`${python}, pip ${oracle.versions.pip}: ${ours.requirements.length} requirements and ${ours.constraints.length} constraints from ${Object.keys(SAMPLE).length} files, identical; ${ours.warnings.length} warnings`);
}

test('oracle: pip 23.2\'s own parse_requirements reads the sample files the same way', (t) => compareWithPip(t, 'python3'));
test('oracle: Debian\'s pip 23.0 reads the sample files the same way', (t) => compareWithPip(t, '/usr/bin/python3'));
