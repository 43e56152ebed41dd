import { readFileSync } from 'node:fs';
import test from 'ava';
import { IndexFormatError } from '../../src/upstream/index-format.ts';
import { createProjectListParser } from '../../src/upstream/project-list-parser.ts';

const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/indexes/${name}`, import.meta.url), 'utf8');

// ---------------------------------------------------------------------------
// Root page (streaming project list)

const ROOT_NAMES = [
  '0', '0x10c-asm', 'django', 'django-rest-framework', 'flask', 'numpy', 'oslo-concurrency', 'pyyaml',
  'requests', 'ruamel-yaml', 'scikit-learn', 'setuptools', 'six', 'typing-extensions', 'zope-interface', 'zzz-last',
];

/** Deterministic PRNG (mulberry32), so a failing chunking is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function chunksOf(body: string, sizes: () => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < body.length;) {
    const n = Math.max(1, sizes());
    out.push(body.slice(i, i + n));
    i += n;
  }
  return out;
}

function parseRoot(body: string, contentType: string, chunks: string[] = [body]): string[] {
  const parser = createProjectListParser(contentType);
  for (const c of chunks) parser.write(c);
  return parser.end();
}

const rootCases: Array<[string, string, string]> = [
  ['root.json', 'application/vnd.pypi.simple.v1+json', 'JSON'],
  ['root.html', 'text/html', 'HTML'],
  ['root.json', '', 'JSON, sniffed'],
  ['root.html', '', 'HTML, sniffed'],
  ['root.html', 'application/vnd.pypi.simple.v1+html; charset=utf-8', 'v1+html'],
];
for (const [file, contentType, what] of rootCases) {
  test(`root page (${what}): normalized, deduplicated names in page order`, (t) => {
    t.deepEqual(parseRoot(fixture(file), contentType), ROOT_NAMES);
  });

  test(`root page (${what}): 1-character chunks and random chunks give the same names`, (t) => {
    const body = fixture(file);
    t.deepEqual(parseRoot(body, contentType, [...body]), ROOT_NAMES);
    for (let seed = 1; seed <= 25; seed++) {
      const rand = prng(seed);
      const max = 1 + Math.floor(rand() * 64);
      t.deepEqual(parseRoot(body, contentType, chunksOf(body, () => Math.floor(rand() * max))), ROOT_NAMES, `seed ${seed}`);
    }
    // Empty chunks are harmless.
    t.deepEqual(parseRoot(body, contentType, ['', ...[...body].flatMap((c) => [c, ''])]), ROOT_NAMES);
  });
}

test('root page: a large generated HTML root survives random chunking', (t) => {
  const n = 5000;
  const display = Array.from({ length: n }, (_, i) => `Pkg_${i}.Name${i % 7 === 0 ? '-Extra' : ''}`);
  const expected = display.map((d) => d.replace(/[-_.]+/g, '-').toLowerCase());
  const body = `<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1"><title>Simple index</title></head><body>\n${
    display.map((d, i) => `<a href="/simple/${expected[i] ?? ''}/">${d}</a>`).join('\n')}\n</body></html>`;
  const rand = prng(42);
  t.deepEqual(parseRoot(body, 'text/html', chunksOf(body, () => Math.floor(rand() * 4096))), expected);
  const json = JSON.stringify({ meta: { 'api-version': '1.1' }, projects: display.map((name) => ({ name })) });
  t.deepEqual(parseRoot(json, 'application/vnd.pypi.simple.v1+json', chunksOf(json, () => Math.floor(rand() * 4096))), expected);
});

test('root HTML: empty or odd anchor text falls back to the href\'s last path segment', (t) => {
  const body = fixture('root-href-only.html');
  const expected = ['alpha-pkg', 'beta-pkg', 'gamma-pkg', 'delta', 'epsilon'];
  t.deepEqual(parseRoot(body, 'text/html'), expected);
  t.deepEqual(parseRoot(body, 'text/html', [...body]), expected);
});

test('root HTML: entities in names are decoded; anchor text split by markup is joined', (t) => {
  const body = '<html><body><a href="/simple/a-b/">A&#45;B</a><a href="/simple/cd/"><span>C</span>D</a></body></html>';
  t.deepEqual(parseRoot(body, 'text/html'), ['a-b', 'cd']);
});

test('root HTML: overlong anchor text is not a name; the href is used', (t) => {
  // The href's name is as long as a project name may be (200); the anchor texts are far longer.
  const body = `<a href="/simple/long/">${'x'.repeat(5000)}</a><a href="/simple/${'y'.repeat(200)}/">${'y'.repeat(3000)}</a>`;
  t.deepEqual(parseRoot(body, 'text/html', chunksOf(body, () => 97)), ['long', 'y'.repeat(200)]);
});

const rootRejected: Array<[string, string, string]> = [
  ['HTML api 2.0', 'text/html', '<html><head><meta name="pypi:repository-version" content="2.0"></head><body><a href="/simple/a/">a</a></body></html>'],
  ['JSON api 2.0', 'application/vnd.pypi.simple.v1+json', '{"meta": {"api-version": "2.0"}, "projects": [{"name": "a"}]}'],
  ['sniffed JSON api 2.0', '', '  {"meta": {"api-version": "2.0"}, "projects": []}'],
  ['JSON without projects', 'application/vnd.pypi.simple.v1+json', '{"meta": {"api-version": "1.0"}}'],
  ['JSON projects not an array', 'application/vnd.pypi.simple.v1+json', '{"projects": {"a": {}}}'],
  ['JSON truncated', 'application/vnd.pypi.simple.v1+json', '{"meta": {"api-version": "1.0"}, "projects": [{"name": "a"}'],
  ['JSON top level an array', 'application/vnd.pypi.simple.v1+json', '[{"name": "a"}]'],
  ['empty JSON', 'application/vnd.pypi.simple.v1+json', ''],
];
for (const [what, contentType, body] of rootRejected) {
  test(`root page rejected: ${what}`, (t) => {
    t.throws(() => parseRoot(body, contentType), { instanceOf: IndexFormatError });
    t.throws(() => parseRoot(body, contentType, [...body]), { instanceOf: IndexFormatError });
  });
}

test('root HTML: a version error surfaces from write() once the <meta> is parsed, and keeps being reported', (t) => {
  const parser = createProjectListParser('text/html');
  t.throws(() => parser.write('<html><head><meta name="pypi:repository-version" content="3.0"><title>'), { instanceOf: IndexFormatError });
  t.throws(() => parser.write('<a href="/simple/a/">a</a>'), { instanceOf: IndexFormatError });
  t.throws(() => parser.end(), { instanceOf: IndexFormatError });
});

test('root JSON: entries without a valid name are skipped', (t) => {
  const body = JSON.stringify({
    meta: { 'api-version': '1.0' },
    projects: [{ name: 'Good_One' }, { name: '' }, { name: 'bad name' }, { name: 7 }, 'str', null, {}, { name: ' spaced ' }],
  });
  t.deepEqual(parseRoot(body, 'application/vnd.pypi.simple.v1+json'), ['good-one', 'spaced']);
});

test('root: an empty body with an unknown type is an empty list; an HTML page without anchors too', (t) => {
  t.deepEqual(parseRoot('', ''), []);
  t.deepEqual(parseRoot('  \n ', ''), []);
  t.deepEqual(parseRoot('<html><body>No projects yet</body></html>', 'text/html'), []);
});

test('root: names come out while the page streams (take), not only at its end', (t) => {
  const cases: Array<[string, string[]]> = [
    ['application/vnd.pypi.simple.v1+json', ['{"meta": {"api-version": "1.1"}, "projects": [', '{"name": "A"}, {"name": "b"}, ', '{"name": "a"}, {"name": "C"}', ']}']],
    ['text/html', ['<html><body><a href="/simple/a/">A</a>', '<a href="/simple/b/">b</a><a href="/simple/a/">a</a>', '<a href="/simple/c/">C</a>', '</body></html>']],
  ];
  for (const [type, chunks] of cases) {
    const parser = createProjectListParser(type);
    parser.write(chunks[0]!);
    parser.write(chunks[1]!);
    t.true(parser.pending >= 2, type);
    const first = parser.take();
    t.deepEqual(first.slice(0, 2), ['a', 'b'], type);
    t.is(parser.pending, 0);
    parser.write(chunks[2]!);
    parser.write(chunks[3]!);
    // A name taken before may come again (the store keeps it once); the rest come at the end.
    const rest = [...first, ...parser.end()];
    t.deepEqual([...new Set(rest)], ['a', 'b', 'c'], type);
  }
});

test('root JSON: every JSON value kind around the names is read; entries are parsed alone', (t) => {
  const body = '\uFEFF {"meta":{"api-version":"1.3","_x":[1,-0.5e+3,2E-2,true,false,null,{}]},"_last":  -0 ,'
    + '"projects":[{"_last-serial":26830195,"name":"D\\u00e9j\\u00e0"},{"name":"a\\u002Db","x":{"name":"inner"}},'
    + '{"name":"x","name":"Last-Wins"},"str",12,null,[{"name":"nested"}],{"name":["no"]},{"name":" spaced\\t"}],"tail":"\\"}"}\n';
  t.deepEqual(parseRoot(body, 'application/json'), ['a-b', 'last-wins', 'spaced']);
  t.deepEqual(parseRoot(body, 'application/json', [...body]), ['a-b', 'last-wins', 'spaced']);
  t.deepEqual(parseRoot('{"projects":[],"meta":null}', 'application/json'), []);
});

test('root JSON: escaped keys and names, and astral characters, are read however the body is cut', (t) => {
  // `pro\u006aects` is `projects`; `\ud83d\ude00` and the raw 😀 are one character each, which a cut may split.
  const body = '{"meta": {"api-version": "1.1", "x": "\\ud83d\\ude00 😀"}, "pro\\u006aects": [{"n\\u0061me": "a\\u002db", "x": "😀😀"}, {"name": "c\\/d"}, {"name": "e"}]}';
  t.deepEqual(parseRoot(body, 'application/json'), ['a-b', 'e']);
  for (let size = 1; size <= 7; size++) t.deepEqual(parseRoot(body, 'application/json', chunksOf(body, () => size)), ['a-b', 'e'], `chunks of ${size}`);
});

const jsonRejected: Array<[string, string]> = [
  ['a second projects member', '{"projects": [{"name": "a"}], "projects": []}'],
  ['meta not an object', '{"meta": [], "projects": []}'],
  ['api-version not a string', '{"meta": {"api-version": 1}, "projects": []}'],
  ['api-version after the projects', '{"projects": [{"name": "a"}], "meta": {"api-version": "2.0"}}'],
  ['a trailing comma', '{"projects": [{"name": "a"},]}'],
  ['trailing text', '{"projects": []} x'],
  ['two documents', '{"projects": []}{"projects": []}'],
  ['a bad escape', '{"projects": [{"name": "a\\x"}]}'],
  ['a short unicode escape', '{"projects": [{"name": "\\u00g0"}]}'],
  ['a raw newline in a string', '{"projects": [{"name": "a\nb"}]}'],
  ['a number with a leading zero', '{"x": 01, "projects": []}'],
  ['a number without digits after the point', '{"x": 1., "projects": []}'],
  ['a bare minus', '{"x": -, "projects": []}'],
  ['an exponent without digits', '{"x": 1e+, "projects": []}'],
  ['a misspelt literal', '{"x": nul, "projects": []}'],
  ['a single-quoted string', "{'projects': []}"],
  ['a key without a value', '{"projects"}'],
  ['unclosed', '{"projects": [{"name": "a"}]'],
  ['a top-level string', '"projects"'],
  ['only blanks', '  \n'],
];
for (const [what, body] of jsonRejected) {
  test(`root JSON rejected: ${what}`, (t) => {
    t.throws(() => parseRoot(body, 'application/vnd.pypi.simple.v1+json'), { instanceOf: IndexFormatError });
    t.throws(() => parseRoot(body, 'application/vnd.pypi.simple.v1+json', [...body]), { instanceOf: IndexFormatError });
  });
}

test('root JSON: a syntax error says what was expected, however the body is cut', (t) => {
  // stream-json's tokenizer says what it expected, not where (it reads a chunk at a time).
  const body = '{"projects": [{"name": "a"}, ?]}';
  const message = /^Invalid JSON project list: .*expected a value/;
  t.throws(() => parseRoot(body, 'application/json'), { instanceOf: IndexFormatError, message });
  t.throws(() => parseRoot(body, 'application/json', chunksOf(body, () => 3)), { instanceOf: IndexFormatError, message });
});

test('root: write() after end() and a second end() throw', (t) => {
  const parser = createProjectListParser('text/html');
  parser.write('<a href="/simple/a/">a</a>');
  t.deepEqual(parser.end(), ['a']);
  t.throws(() => parser.write('<a>b</a>'));
  t.throws(() => parser.end());
});
