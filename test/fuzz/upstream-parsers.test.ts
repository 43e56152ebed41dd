/**
 * Fuzzing the upstream index parsers (src/upstream/project-page-parser.ts and
 * project-list-parser.ts): whatever an upstream sends, the answer is a page of
 * the documented shape or IndexFormatError, the typed "not a page we can
 * trust" error. The streaming root parser gives the same answer however the
 * body is cut into chunks.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { parseDistFilename } from '../../src/pypi/filenames.ts';
import { isValidProjectName, normalizeName } from '../../src/pypi/names.ts';
import { canonicalVersion, compareVersions, isValidVersion } from '../../src/pypi/versions.ts';
import { IndexFormatError, checkApiVersion, formatOf, sniff } from '../../src/upstream/index-format.ts';
import { createProjectListParser } from '../../src/upstream/project-list-parser.ts';
import { parseProjectPage, type UpstreamProjectPage } from '../../src/upstream/project-page-parser.ts';
import { anyText, check, nameish, outcome, pep440ish, validName, versionish } from './_fuzz.ts';

const PURE = { numRuns: 400, timeLimitMs: 5000 };

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/indexes/${name}`, import.meta.url), 'utf8');
const PAGE_FIXTURES = ['pypi-requests.html', 'pypi-requests.json', 'pytorch-torch.html', 'signed-urls.html', 'legacy-files.html',
  'devpi-pluggy.html', 'core-metadata-true.html', 'old-dist-info-metadata.html', 'dist-info-metadata-alias.json', 'yanked-true.json',
  'api-v2.html', 'api-v2.json'].map(fixture);
const ROOT_FIXTURES = ['root.html', 'root.json', 'root-href-only.html'].map(fixture);

const PAGE_URLS = ['https://pypi.org/simple/requests/', 'http://127.0.0.1:8081/simple/foo/', 'https://user:pw@mirror.example:8443/a/b/simple/x/?q=1#frag'];

const CONTENT_TYPES = [
  'application/vnd.pypi.simple.v1+json', 'application/vnd.pypi.simple.v1+html', 'application/vnd.pypi.simple.latest+json',
  'application/vnd.pypi.simple.latest+html', 'application/vnd.pypi.simple.v2+json', 'application/vnd.pypi.simple.v0+html',
  'text/html', 'text/html; charset=utf-8', 'application/json', 'APPLICATION/JSON ; q=1', 'application/xhtml+xml', 'text/plain', '',
];
const contentType = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES) }, { weight: 1, arbitrary: anyText(30) });

// ---------------------------------------------------------------------------
// Building blocks of pages

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${n}}$`));
const distName = fc.tuple(validName, fc.oneof({ weight: 3, arbitrary: pep440ish.map((v) => canonicalVersion(v)!) }, { weight: 1, arbitrary: pep440ish }), fc.constantFrom('-py3-none-any.whl', '.tar.gz', '.zip', '-cp311-cp311-manylinux_2_17_x86_64.whl', '.egg', '.exe', ''))
  .map(([n, v, ext]) => `${n.replace(/[-_.]+/g, '_')}-${v}${ext}`);
const filenameish = fc.oneof(
  { weight: 4, arbitrary: distName },
  { weight: 1, arbitrary: distName.map((f) => encodeURIComponent(f)) },
  { weight: 1, arbitrary: fc.tuple(distName, anyText(4), fc.nat()).map(([f, s, at]) => f.slice(0, at % (f.length + 1)) + s + f.slice(at % (f.length + 1))) },
  { weight: 1, arbitrary: fc.constantFrom('%zz.whl', 'a%2Fb-1.0.tar.gz', '..%2F..%2Fetc-1.0.tar.gz', '.hidden-1.0.tar.gz', 'a-1.0.tar.gz%00', '') },
);
const hashName = fc.constantFrom('sha256', 'SHA256', 'md5', 'sha512', 'blake2b_256', 'egg', 'subdirectory', 'x', '', '1abc', 'constructor', '__proto__');
const hashValue = fc.oneof(hex(64), hex(32), hex(128), hex(7), fc.constantFrom('', 'zz', ' abcd '), anyText(10));
const fragment = fc.oneof(
  fc.constant(''),
  fc.tuple(hashName, hashValue).map(([k, v]) => `#${k}=${v}`),
  fc.array(fc.tuple(hashName, hashValue).map(([k, v]) => `${k}=${v}`), { maxLength: 3 }).map((xs) => `#${xs.join('&')}`),
  anyText(10).map((s) => `#${s}`),
);
const URL_BASES = ['', 'https://files.example.com/packages/ab/cd/', '../../packages/', '/packages/', '//cdn.example/x/', 'http://[::1]:8080/',
  'HTTPS://X.EXAMPLE/', 'file:///tmp/', 'javascript:', 'data:,', 'ftp://example/', 'http://a b/', 'http://%zz/', 'https://h:99999/', 'http://[::1/', '?', './'];
const hrefish = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...URL_BASES), filenameish, fc.constantFrom('', '?X-Amz-Signature=abc&x=1'), fragment).map((xs) => xs.join('')) },
  { weight: 1, arbitrary: anyText(40) },
);
const ISO = ['2023-05-22T15:12:42.313790Z', '2023-05-22 15:12', '2023-13-45T99:99:99Z', '2023-05-22T15:12:42+0100', 'yesterday', '', '0000-00-00T00:00Z'];
const sizeish = fc.oneof(fc.nat(), fc.constantFrom(-1, 1.5, 2 ** 53, Number.MAX_VALUE), fc.constantFrom('12', ' 12 ', '1e3', '0x10', '9'.repeat(16)));
const apiVersion = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('1.0', '1.1', '1.4', '1', ' 1.1 ', '01.0') },
  { weight: 1, arbitrary: fc.constantFrom('1.1.1', '2.0', '0.9', 'x', '', '١.٠', '1e0', '1.') },
  { weight: 1, arbitrary: anyText(8) },
);

// Attributes and text, written into HTML the way a careless page would.
const attrValue = fc.oneof(hrefish, apiVersion, fc.constantFrom(...ISO), versionish, anyText(20));
const entityMangled = (s: string, style: number): string => {
  switch (style % 4) {
    case 0: return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
    case 1: return s; // raw: quotes and ampersands break the attribute
    case 2: return s.replace(/./gu, (c) => `&#${c.codePointAt(0)};`);
    default: return s.replace(/>/g, '&gt').replace(/=/g, '&#x3D;').replace(/-/g, '&#xD800;');
  }
};
const attribute = fc.tuple(
  fc.constantFrom('href', 'HREF', 'data-requires-python', 'data-yanked', 'data-core-metadata', 'data-dist-info-metadata', 'data-size',
    'data-upload-time', 'name', 'content', 'data-gpg-sig', 'x'),
  attrValue, fc.constantFrom('"', "'", '', '"unterminated'), fc.nat(),
).map(([name, value, quote, style]) => {
  const v = entityMangled(value, style);
  if (quote === '"unterminated') return `${name}="${v}`;
  return quote === '' ? `${name}=${v.replace(/[\s>]/g, '')}` : `${name}=${quote}${v}${quote}`;
});
const htmlPiece = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.array(attribute, { maxLength: 4 }), hrefish, fc.oneof(filenameish, nameish, anyText(10)), fc.nat())
    .map(([attrs, href, text, style]) => `<a href="${entityMangled(href, style)}" ${attrs.join(' ')}>${entityMangled(text, style)}</a>`) },
  { weight: 1, arbitrary: hrefish.map((h) => `<base href="${h}">`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('pypi:repository-version', 'PYPI:Repository-Version ', 'pypi:project-status', 'pypi:project-status-reason', 'pypi:x'), attrValue)
    .map(([n, c]) => `<meta name="${n}" content="${entityMangled(c, 0)}">`) },
  { weight: 2, arbitrary: fc.constantFrom('<!DOCTYPE html>', '<html><head>', '</head><body>', '<br/>', '</a>', '<a>', '<a href>', '<!-- <a href="x-1.0.tar.gz"> -->',
    '<script><a href="s-1.0.tar.gz">s</a></script>', '<![CDATA[<a href="c-1.0.tar.gz">]]>', '<a href="u-1.0.tar.gz"', '<', '&', '&#0;', '&#x110000;', '<?xml ?>',
    '<svg><a xlink:href="x"/></svg>', '<textarea><a href="t-1.0.tar.gz"></textarea>', '\0', '\uFEFF') },
  { weight: 1, arbitrary: anyText(30) },
);
const htmlBody = fc.array(htmlPiece, { maxLength: 12 }).map((xs) => xs.join('\n'));

/** A value that is usually right and sometimes of any JSON type, or absent. */
const maybe = <T>(right: fc.Arbitrary<T>) => fc.oneof(
  { weight: 8, arbitrary: right as fc.Arbitrary<unknown> },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const hashesObject = fc.dictionary(hashName, hashValue, { maxKeys: 3 });
const jsonFileEntry = fc.record({
  filename: maybe(filenameish),
  url: maybe(hrefish),
  hashes: maybe(hashesObject),
  'requires-python': maybe(fc.constantFrom('>=3.8', ' ', '', '<4')),
  yanked: maybe(fc.oneof(fc.boolean(), fc.constantFrom('', 'broken', ' '))),
  'core-metadata': maybe(fc.oneof(fc.boolean(), hashesObject, fc.constantFrom('true', 'sha256=abc', 'sha256=' + 'a'.repeat(64)))),
  'data-dist-info-metadata': maybe(fc.oneof(fc.boolean(), hashesObject)),
  size: maybe(sizeish),
  'upload-time': maybe(fc.constantFrom(...ISO)),
}, { requiredKeys: ['filename', 'url'] });
const jsonPageObject = fc.record({
  meta: maybe(fc.record({ 'api-version': maybe(apiVersion), 'project-status': maybe(fc.record({ status: maybe(fc.string()), reason: maybe(fc.string()) })) }, { requiredKeys: [] })),
  name: maybe(nameish),
  files: maybe(fc.array(maybe(jsonFileEntry), { maxLength: 6 })),
  versions: maybe(fc.array(maybe(versionish), { maxLength: 6 })),
  'project-status': maybe(fc.record({ status: maybe(fc.constantFrom('active', 'archived', ' ', '')), reason: maybe(fc.string()) }, { requiredKeys: [] })),
}, { requiredKeys: ['files'] });
const jsonBody = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(jsonPageObject, fc.constantFrom('', ' ', '\uFEFF', '\n\t')).map(([o, lead]) => lead + JSON.stringify(o)) },
  // Keys JSON.parse makes own properties that a plain object literal could not.
  { weight: 1, arbitrary: jsonPageObject.map((o) => JSON.stringify(o).replace(/^\{/, '{"__proto__":{"files":[]},"constructor":1,')) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? '') },
  { weight: 1, arbitrary: fc.tuple(jsonPageObject, fc.nat()).map(([o, n]) => { const s = JSON.stringify(o); return s.slice(0, n % (s.length + 1)); }) },
);

/** Character-level mutations of a real page: drop, duplicate or insert at random places. */
const mutated = (bodies: string[]) => fc.tuple(fc.constantFrom(...bodies), fc.array(fc.tuple(fc.nat(), fc.nat(20), anyText(6)), { minLength: 1, maxLength: 6 }))
  .map(([body, edits]) => {
    let s = body;
    for (const [at, drop, insert] of edits) {
      const i = at % (s.length + 1);
      s = s.slice(0, i) + insert + s.slice(i + drop);
    }
    return s;
  });

const pageBody = fc.oneof(
  { weight: 3, arbitrary: htmlBody },
  { weight: 3, arbitrary: jsonBody },
  { weight: 2, arbitrary: mutated(PAGE_FIXTURES) },
  { weight: 1, arbitrary: anyText(300) },
);

// ---------------------------------------------------------------------------
// Project pages

const HEX_LENGTHS: Record<string, number> = {
  md5: 32, sha1: 40, sha224: 56, sha256: 64, sha384: 96, sha512: 128, sha3_224: 56, sha3_256: 64, sha3_384: 96, sha3_512: 128,
};
function checkHashes(h: unknown): void {
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new Error(`hashes ${JSON.stringify(h)}`);
  for (const [k, v] of Object.entries(h)) {
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(k) || k === 'egg' || k === 'subdirectory') throw new Error(`hash name ${JSON.stringify(k)}`);
    if (typeof v !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(v)) throw new Error(`hash value ${JSON.stringify(v)}`);
    if (Object.hasOwn(HEX_LENGTHS, k) && v.length !== HEX_LENGTHS[k]) throw new Error(`${k} of length ${v.length}`);
  }
}

function checkPage(page: UpstreamProjectPage, html: boolean): void {
  if (page.name !== null && typeof page.name !== 'string') throw new Error('name');
  // PEP 629 major 1 (`01.0` is 1 too), as sent but trimmed.
  const api = /^([0-9]+)(?:\.[0-9]+)?$/.exec(page.apiVersion);
  if (api === null || Number(api[1]) !== 1) throw new Error(`apiVersion ${JSON.stringify(page.apiVersion)}`);
  const seen = new Set<string>();
  for (const f of page.files) {
    if (seen.has(f.filename)) throw new Error(`filename ${f.filename} listed twice`);
    seen.add(f.filename);
    parseDistFilename(f.filename); // throws if not a safe wheel/sdist name
    const url = new URL(f.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`url ${f.url}`);
    if (f.url.includes('#') || url.href !== f.url) throw new Error(`url ${f.url} has a fragment or is not normalized`);
    if (html && decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1)) !== f.filename) {
      throw new Error(`filename ${f.filename} is not the last segment of ${f.url}`);
    }
    checkHashes(f.hashes);
    if (f.requiresPython !== null && (typeof f.requiresPython !== 'string' || f.requiresPython === '' || f.requiresPython !== f.requiresPython.trim())) {
      throw new Error(`requiresPython ${JSON.stringify(f.requiresPython)}`);
    }
    if (f.yanked !== false && typeof f.yanked !== 'string') throw new Error(`yanked ${JSON.stringify(f.yanked)}`);
    if (f.coreMetadata !== false && f.coreMetadata !== true) {
      checkHashes(f.coreMetadata);
      if (Object.keys(f.coreMetadata).length === 0) throw new Error('empty coreMetadata hashes');
    }
    if (f.size !== null && !(Number.isSafeInteger(f.size) && f.size >= 0)) throw new Error(`size ${f.size}`);
    if (f.uploadTime !== null && (typeof f.uploadTime !== 'string' || Number.isNaN(Date.parse(f.uploadTime)))) throw new Error(`uploadTime ${f.uploadTime}`);
  }
  if (page.versions !== null) {
    if (!page.versions.every((v) => typeof v === 'string' && isValidVersion(v))) throw new Error(`versions ${JSON.stringify(page.versions)}`);
    if (new Set(page.versions).size !== page.versions.length) throw new Error('versions repeat');
    for (let i = 1; i < page.versions.length; i++) {
      if (compareVersions(page.versions[i - 1]!, page.versions[i]!) > 0) throw new Error(`versions out of order: ${JSON.stringify(page.versions)}`);
    }
  }
  if (page.projectStatus !== null) {
    const { status, reason } = page.projectStatus;
    if (typeof status !== 'string' || status === '' || (reason !== null && typeof reason !== 'string')) throw new Error(`status ${JSON.stringify(page.projectStatus)}`);
  }
}

test('project page parser: a page of the documented shape or IndexFormatError, never a crash', async (t) => {
  await check(t, fc.property(pageBody, contentType, fc.constantFrom(...PAGE_URLS), (body, type, pageUrl) => {
    const r = outcome(() => parseProjectPage(body, type, pageUrl), [IndexFormatError]);
    if (r.ok) {
      // Which parser ran: what the Content-Type says, else what the body looks like.
      checkPage(r.value, (formatOf(type) ?? sniff(body)) === 'html');
    }
  }), PURE);
});

test('project page parser: structured-but-wrong JSON pages keep only well-formed entries', async (t) => {
  await check(t, fc.property(jsonBody, fc.constantFrom(...PAGE_URLS), (body, pageUrl) => {
    const r = outcome(() => parseProjectPage(body, 'application/vnd.pypi.simple.v1+json', pageUrl), [IndexFormatError]);
    if (r.ok) checkPage(r.value, false);
  }), PURE);
});

test('project page parser: structured-but-wrong HTML pages keep only well-formed links', async (t) => {
  await check(t, fc.property(htmlBody, fc.constantFrom(...PAGE_URLS), (body, pageUrl) => {
    const r = outcome(() => parseProjectPage(body, 'text/html', pageUrl), [IndexFormatError]);
    if (r.ok) checkPage(r.value, true);
  }), PURE);
});

// ---------------------------------------------------------------------------
// The streaming root page parser

const rootHtml = fc.array(fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.oneof(nameish, anyText(10)), fc.option(fc.oneof(nameish.map((n) => `/simple/${n}/`), hrefish), { nil: undefined }), fc.nat())
    .map(([text, href, style]) => (href === undefined ? `<a>${entityMangled(text, style)}</a>` : `<a href="${entityMangled(href, style)}">${entityMangled(text, style)}</a>`)) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 1100 }).map((n) => `<a href="/simple/long/">${'x'.repeat(n)}</a>`) },
  { weight: 1, arbitrary: apiVersion.map((v) => `<meta name="pypi:repository-version" content="${v}">`) },
  { weight: 2, arbitrary: htmlPiece },
), { maxLength: 12 }).map((xs) => xs.join('\n'));
const rootJson = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    meta: maybe(fc.record({ 'api-version': maybe(apiVersion) }, { requiredKeys: [] })),
    projects: maybe(fc.array(maybe(fc.record({ name: maybe(nameish) }, { requiredKeys: [] })), { maxLength: 8 })),
  }, { requiredKeys: [] }).map((o) => JSON.stringify(o)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? '') },
);
const rootBody = fc.tuple(
  fc.constantFrom('', '', '  ', '\uFEFF', '\n\r\t '),
  fc.oneof({ weight: 3, arbitrary: rootHtml }, { weight: 3, arbitrary: rootJson }, { weight: 2, arbitrary: mutated(ROOT_FIXTURES) }, { weight: 1, arbitrary: anyText(200) }),
).map(([lead, body]) => lead + body);

type ListResult = { names: string[] } | { error: string };

function parseList(type: string, chunks: string[]): ListResult {
  const r = outcome(() => {
    const parser = createProjectListParser(type);
    for (const c of chunks) parser.write(c);
    return parser.end();
  }, [IndexFormatError]);
  return r.ok ? { names: r.value } : { error: r.error.message };
}

/** Cuts at the given offsets (any order, repeats make empty chunks); may split a surrogate pair, an entity or a tag. */
function cut(body: string, offsets: number[]): string[] {
  const at = offsets.map((o) => o % (body.length + 1)).sort((a, b) => a - b);
  const chunks: string[] = [];
  let from = 0;
  for (const i of at) {
    chunks.push(body.slice(from, i));
    from = i;
  }
  chunks.push(body.slice(from));
  return chunks;
}

test('project list parser: normalized, valid, unique names or IndexFormatError', async (t) => {
  await check(t, fc.property(rootBody, contentType, (body, type) => {
    const r = parseList(type, [body]);
    if ('error' in r) return;
    for (const n of r.names) {
      if (!isValidProjectName(n) || normalizeName(n) !== n) throw new Error(`name ${JSON.stringify(n)}`);
    }
    if (new Set(r.names).size !== r.names.length) throw new Error(`repeated names ${JSON.stringify(r.names)}`);
  }), PURE);
});

/**
 * Whether a body was refused, not which of its faults was reported: the JSON
 * tokenizer (stream-json) reads a whole chunk before its tokens are looked at,
 * so with two faults, where the chunks were cut decides which one is named.
 */
const verdict = (r: ListResult): ListResult => ('error' in r ? { error: 'rejected' } : r);

test('project list parser: any chunking gives the same names (or refuses the same body) as one chunk', async (t) => {
  await check(t, fc.property(rootBody, contentType, fc.array(fc.nat(), { maxLength: 12 }), (body, type, offsets) => {
    const whole = verdict(parseList(type, [body]));
    const chunked = verdict(parseList(type, cut(body, offsets)));
    if (JSON.stringify(whole) !== JSON.stringify(chunked)) {
      throw new Error(`one chunk: ${JSON.stringify(whole)}\nchunks ${JSON.stringify(cut(body, offsets))}: ${JSON.stringify(chunked)}`);
    }
  }), PURE);
});

test('project list parser: one character per chunk gives the same names as one chunk', async (t) => {
  await check(t, fc.property(rootBody, contentType, (body, type) => {
    const whole = verdict(parseList(type, [body]));
    const single = verdict(parseList(type, body.split('')));
    if (JSON.stringify(whole) !== JSON.stringify(single)) throw new Error(`one chunk: ${JSON.stringify(whole)}, per character: ${JSON.stringify(single)}`);
  }), { numRuns: 200, timeLimitMs: 3000 });
});

/**
 * What the JSON root meant when it was parsed whole (JSON.parse, then the
 * list's shape): the streaming scanner must agree, names and verdict.
 */
function jsonRootOracle(body: string): ListResult {
  const r = outcome(() => {
    let doc: unknown;
    try {
      doc = JSON.parse(body.replace(/^[\uFEFF \t\r\n]+/, ''));
    } catch (err) {
      throw new IndexFormatError((err as Error).message);
    }
    const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!isObj(doc)) throw new IndexFormatError('not an object');
    if (doc.meta !== undefined && doc.meta !== null) {
      if (!isObj(doc.meta)) throw new IndexFormatError('meta');
      checkApiVersion(doc.meta['api-version'], 'meta.api-version');
    }
    if (!Array.isArray(doc.projects)) throw new IndexFormatError('no projects');
    const names = new Set<string>();
    for (const p of doc.projects) {
      if (isObj(p) && typeof p.name === 'string' && isValidProjectName(p.name.trim())) names.add(normalizeName(p.name.trim()));
    }
    return [...names];
  }, [IndexFormatError]);
  return r.ok ? { names: r.value } : { error: 'rejected' };
}

const anyJson = fc.jsonValue({ maxDepth: 3 });
const jsonRootDoc = fc.record({
  meta: maybe(fc.oneof(fc.record({ 'api-version': maybe(apiVersion), _x: anyJson }, { requiredKeys: [] }), anyJson)),
  projects: maybe(fc.oneof({ weight: 4, arbitrary: fc.array(fc.oneof(
    { weight: 4, arbitrary: fc.record({ name: maybe(nameish), '_last-serial': fc.integer(), x: anyJson }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: anyJson },
  ), { maxLength: 8 }) }, { weight: 1, arbitrary: anyJson })),
  other: anyJson,
}, { requiredKeys: [] });
const jsonRootText = fc.tuple(jsonRootDoc, fc.constantFrom(undefined, 1, '\t')).map(([doc, indent]) => JSON.stringify(doc, null, indent));
const jsonRootBodies = fc.tuple(fc.constantFrom('', ' ', '\uFEFF', '\n'), fc.oneof(
  { weight: 3, arbitrary: jsonRootText },
  { weight: 2, arbitrary: fc.tuple(jsonRootText, fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.oneof(anyText(3), fc.constantFrom(',', '"', '\\', '}', ']', '[', '{', '-', '0', '.', 'e', 'n', ' '))), { minLength: 1, maxLength: 3 }))
    .map(([body, edits]) => edits.reduce((s, [at, drop, insert]) => {
      const i = at % (s.length + 1);
      return s.slice(0, i) + insert + s.slice(i + drop);
    }, body)) },
)).map(([lead, body]) => lead + body);

test('JSON root: the streaming scanner accepts and refuses what JSON.parse did, with the same names', async (t) => {
  await check(t, fc.property(jsonRootBodies, fc.array(fc.nat(), { maxLength: 6 }), (body, offsets) => {
    const expected = jsonRootOracle(body);
    for (const got of [parseList('application/vnd.pypi.simple.v1+json', [body]), parseList('application/json', cut(body, offsets))]) {
      if (JSON.stringify(verdict(got)) !== JSON.stringify(expected)) {
        throw new Error(`JSON.parse: ${JSON.stringify(expected)}, streamed: ${JSON.stringify(got)}`);
      }
    }
  }), PURE);
});

test('no catastrophic backtracking in the page parsers on long near-miss input', async (t) => {
  const long = fc.tuple(fc.constantFrom('<a href="', '&#', '-1.0', '#sha256=', 'sha256=a', '2023-05-22T', '1.', '<meta name="pypi:repository-version" content="1', '%', ' '),
    fc.integer({ min: 2000, max: 8000 })).map(([unit, n]) => unit.repeat(n));
  await check(t, fc.property(long, contentType, (body, type) => {
    outcome(() => parseProjectPage(body, type, PAGE_URLS[0]!), [IndexFormatError], 2000);
    outcome(() => parseList(type, [body]), [], 2000);
  }), { numRuns: 30, timeLimitMs: 4000 });
});

test('valid hashes from a well-formed JSON page survive parsing', async (t) => {
  // A positive control: the structured generators would be pointless if nothing ever got through.
  const entry = fc.record({ name: validName, version: pep440ish, sha: hex(64) });
  await check(t, fc.property(fc.array(entry, { minLength: 1, maxLength: 5 }), (entries) => {
    const files = entries.map((e) => {
      const filename = `${e.name.replace(/[-_.]+/g, '_')}-${e.version.replace(/-/g, '.')}.tar.gz`;
      return { filename, url: `../../packages/${encodeURIComponent(filename)}`, hashes: { sha256: e.sha } };
    });
    const page = parseProjectPage(JSON.stringify({ meta: { 'api-version': '1.1' }, name: 'x', files }), 'application/vnd.pypi.simple.v1+json', PAGE_URLS[0]!);
    checkPage(page, false);
    const kept = new Set(files.map((f) => f.filename).filter((f) => outcome(() => parseDistFilename(f), [Error]).ok));
    if (page.files.length !== kept.size) throw new Error(`${page.files.length} files kept, expected ${kept.size}`);
    for (const f of page.files) {
      const sent = files.find((x) => x.filename === f.filename);
      if (sent === undefined || f.hashes.sha256 !== sent.hashes.sha256.toLowerCase()) throw new Error(`hash of ${f.filename} lost`);
    }
  }), { numRuns: 200, timeLimitMs: 2000 });
});
