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

test('root JSON: buffering is bounded by maxJsonChars', (t) => {
  const parser = createProjectListParser('application/vnd.pypi.simple.v1+json', { maxJsonChars: 100 });
  parser.write('{"projects": [');
  t.throws(() => parser.write(`${'{"name": "a"},'.repeat(10)}`), { instanceOf: IndexFormatError, message: /larger than 100/ });
  t.throws(() => parser.end(), { instanceOf: IndexFormatError });
});

test('root: write() after end() and a second end() throw', (t) => {
  const parser = createProjectListParser('text/html');
  parser.write('<a href="/simple/a/">a</a>');
  t.deepEqual(parser.end(), ['a']);
  t.throws(() => parser.write('<a>b</a>'));
  t.throws(() => parser.end());
});
