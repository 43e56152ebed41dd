import { readFileSync } from 'node:fs';
import test from 'ava';
import { IndexFormatError } from '../../src/upstream/index-format.ts';
import { createProjectListParser } from '../../src/upstream/project-list-parser.ts';
import { parseProjectHtml, parseProjectJson, parseProjectPage } from '../../src/upstream/project-page-parser.ts';
import type { UpstreamFile, UpstreamProjectPage } from '../../src/upstream/project-page-parser.ts';

/** Test titles with long hex digests shortened. */
const short = (s: string): string => s.replace(/([0-9a-f]{8})[0-9a-f]{24,}/gi, '$1…');

const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/indexes/${name}`, import.meta.url), 'utf8');

const PYPI_PAGE = 'https://pypi.org/simple/requests/';
const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

/** A JSON project page with the given files (and extra top-level keys). */
function jsonPage(files: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ meta: { 'api-version': '1.1' }, name: 'foo', files, ...extra });
}

/** A JSON file entry with sane defaults. */
function jsonFile(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    filename: 'foo-1.0-py3-none-any.whl',
    url: 'https://files.example.com/foo-1.0-py3-none-any.whl',
    hashes: { sha256: SHA_A },
    ...overrides,
  };
}

/** The only file of a one-file JSON page. */
function onlyJsonFile(overrides: Record<string, unknown>): UpstreamFile | undefined {
  const page = parseProjectJson(jsonPage([jsonFile(overrides)]), 'https://example.com/simple/foo/');
  return page.files[0];
}

/** An HTML project page with the given anchors (raw HTML) and head. */
function htmlPage(anchors: string, head = ''): string {
  return `<!DOCTYPE html><html><head>${head}<title>Links for foo</title></head><body><h1>Links for foo</h1>\n${anchors}\n</body></html>`;
}

function onlyHtmlFile(attrs: string, href = 'https://files.example.com/foo-1.0-py3-none-any.whl'): UpstreamFile | undefined {
  const page = parseProjectHtml(htmlPage(`<a href="${href}" ${attrs}>foo-1.0-py3-none-any.whl</a>`), 'https://example.com/simple/foo/');
  return page.files[0];
}

// ---------------------------------------------------------------------------
// Realistic pages

test('pypi.org JSON project page (API 1.4)', (t) => {
  const page = parseProjectJson(fixture('pypi-requests.json'), PYPI_PAGE);
  t.is(page.name, 'requests');
  t.is(page.apiVersion, '1.4');
  t.deepEqual(page.projectStatus, { status: 'active', reason: null });
  t.deepEqual(page.versions, ['0.2.0', '2.31.0', '2.32.0', '2.32.1', '2.32.3']);
  t.deepEqual(page.files.map((f) => f.filename), [
    'requests-2.31.0-py3-none-any.whl', 'requests-2.31.0.tar.gz',
    'requests-2.32.0-py3-none-any.whl', 'requests-2.32.0.tar.gz',
    'requests-2.32.3-py3-none-any.whl', 'requests-2.32.3.tar.gz',
    'requests-0.2.0.tar.gz',
  ]);
  t.deepEqual(page.files[2], {
    filename: 'requests-2.32.0-py3-none-any.whl',
    url: 'https://files.pythonhosted.org/packages/9a/bc/14ba28cde05bb258a4766874d6387666da3f2b47f2fdfce5ce1e9c4253d5/requests-2.32.0-py3-none-any.whl',
    hashes: { sha256: '71c5cff03e87b9bb34d628eb9221e408f691ecf8317ec99185790c9b0870af97' },
    requiresPython: '>=3.8',
    yanked: 'Yanked due to conflicts with CVE-2024-35195 mitigation',
    coreMetadata: { sha256: '0fe2a544f1e1039a16c47918f59c085623aa52990e70e170bce9f9af258767df' },
    size: 63619,
    uploadTime: '2024-05-20T16:15:57.474915Z',
  });
  // `core-metadata: false` (and the odd `data-dist-info-metadata: false`), `requires-python: null`
  t.like(page.files[6], { coreMetadata: false, requiresPython: null, yanked: false, size: 14523 });
  t.true(page.files.every((f) => f.url.startsWith('https://files.pythonhosted.org/packages/')));
});

test('pypi.org HTML page (with <!--SERIAL n-->) parses to the same files as its JSON, minus size and upload time', (t) => {
  const html = parseProjectHtml(fixture('pypi-requests.html'), PYPI_PAGE);
  const json = parseProjectJson(fixture('pypi-requests.json'), PYPI_PAGE);
  t.is(html.name, null);
  t.is(html.versions, null);
  t.is(html.apiVersion, '1.4');
  t.deepEqual(html.projectStatus, { status: 'active', reason: null });
  t.deepEqual(html.files, json.files.map((f) => ({ ...f, size: null, uploadTime: null })));
});

test('PyTorch-style HTML: relative hrefs, #sha256= fragments, %2B-encoded local versions', (t) => {
  const page = parseProjectHtml(fixture('pytorch-torch.html'), 'https://download.pytorch.org/whl/cu121/torch/');
  t.is(page.apiVersion, '1.0');
  t.is(page.projectStatus, null);
  t.deepEqual(page.files.map((f) => f.filename), [
    'torch-2.1.0+cu121-cp310-cp310-linux_x86_64.whl',
    'torch-2.1.0+cu121-cp310-cp310-win_amd64.whl',
    'torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl',
    'torch-2.2.0+cu121-cp312-cp312-linux_x86_64.whl',
    'torch-2.2.0+cu121-cp312-cp312-win_amd64.whl',
  ]);
  t.deepEqual(page.files.map((f) => f.url), [
    'https://download.pytorch.org/whl/cu121/torch-2.1.0%2Bcu121-cp310-cp310-linux_x86_64.whl',
    'https://download.pytorch.org/whl/cu121/torch-2.1.0%2Bcu121-cp310-cp310-win_amd64.whl',
    'https://download.pytorch.org/whl/cu121/torch-2.1.0%2Bcu121-cp311-cp311-linux_x86_64.whl',
    'https://download.pytorch.org/whl/cu121/torch-2.2.0%2Bcu121-cp312-cp312-linux_x86_64.whl',
    'https://download.pytorch.org/whl/cu121/torch-2.2.0+cu121-cp312-cp312-win_amd64.whl',
  ]);
  t.deepEqual(page.files[0], {
    filename: 'torch-2.1.0+cu121-cp310-cp310-linux_x86_64.whl',
    url: 'https://download.pytorch.org/whl/cu121/torch-2.1.0%2Bcu121-cp310-cp310-linux_x86_64.whl',
    hashes: { sha256: '0ce117664d8778790dc23cc2bd09e5f075c9bac9375818ac393ae5e8d7fc3e41' },
    requiresPython: '>=3.8.0',
    yanked: false,
    coreMetadata: { sha256: 'd456debb7012a99f6ff7f08676e0d78c0419f4d4db6f4a88072e76811eca1bdb' },
    size: null,
    uploadTime: null,
  });
  t.is(page.files[1]?.coreMetadata, false);
});

test('devpi-style HTML: <base href> wins over the page URL, filename from the URL not the anchor text, md5 kept', (t) => {
  const page = parseProjectHtml(fixture('devpi-pluggy.html'), 'https://proxy.internal/devpi/root/pypi/+simple/pluggy/');
  t.deepEqual(page.files.map((f) => [f.filename, f.url]), [
    ['pluggy-1.5.0-py3-none-any.whl', 'https://devpi.example.com/root/pypi/+f/6f1/69a3d67ed0678/pluggy-1.5.0-py3-none-any.whl'],
    ['pluggy-1.5.0.tar.gz', 'https://devpi.example.com/root/pypi/+f/bd5/adf0ab1a3f33b/pluggy-1.5.0.tar.gz'],
    ['pluggy-0.3.0.tar.gz', 'https://devpi.example.com/root/pypi/+f/b32/b102b865fad34/pluggy-0.3.0.tar.gz'],
    ['pluggy-1.4.0-py3-none-any.whl', 'https://devpi.example.com/root/pypi/+f/d8a/4d677bd7d85dd/pluggy-1.4.0-py3-none-any.whl'],
  ]);
  // No sha256: kept anyway, the caller decides.
  t.like(page.files[2], { hashes: { md5: '9f3012d046a1813eb9028e46d610dda5' }, yanked: '', requiresPython: null });
  t.like(page.files[0], { yanked: false, requiresPython: '>=3.8' });
});

test('old page with only data-dist-info-metadata="sha256=…" (PEP 658 name)', (t) => {
  const page = parseProjectHtml(fixture('old-dist-info-metadata.html'), 'https://pypi.org/simple/six/');
  t.is(page.apiVersion, '1.1');
  t.deepEqual(page.files[0]?.coreMetadata, { sha256: '09342f675d09e80423a2e1c3ad82ba070ef05044f6ec7e29b92f27136e966f40' });
  t.is(page.files[1]?.coreMetadata, false);
  t.is(page.files[0]?.requiresPython, '>=2.7, !=3.0.*, !=3.1.*, !=3.2.*');
});

test('data-core-metadata="true" / "false" and data-dist-info-metadata="true"', (t) => {
  const page = parseProjectHtml(fixture('core-metadata-true.html'), 'https://pypi.internal.example/simple/internal-tool/');
  t.deepEqual(page.files.map((f) => [f.filename, f.coreMetadata]), [
    ['internal_tool-0.4.1-py3-none-any.whl', true],
    ['internal_tool-0.4.1.tar.gz', false],
    ['internal_tool-0.4.0-py3-none-any.whl', true],
  ]);
  t.is(page.files[0]?.url, 'https://pypi.internal.example/packages/internal_tool-0.4.1-py3-none-any.whl');
  t.is(page.apiVersion, '1.0');
});

test('legacy and hostile links are skipped, not fatal; .zip sdists are kept; first duplicate wins', (t) => {
  const page = parseProjectHtml(fixture('legacy-files.html'), 'https://pypi.org/simple/pyyaml/');
  t.deepEqual(page.files.map((f) => f.filename), [
    'PyYAML-3.10.tar.gz',
    'PyYAML-3.10.zip',
    'PyYAML-6.0.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
  ]);
  // md5-only fragments are kept; the later duplicate (with a sha256) is ignored.
  t.deepEqual(Object.keys(page.files[0]?.hashes ?? {}), ['md5']);
});

test('signed URLs: query string kept (entity-decoded), fragment dropped, several fragment hashes, data-size/data-upload-time', (t) => {
  const page = parseProjectHtml(fixture('signed-urls.html'), 'https://artifacts.example.com/api/pypi/pypi-remote/simple/acme-sdk/');
  const [wheel, sdist] = page.files;
  t.is(wheel?.filename, 'acme_sdk-3.2.0-py3-none-any.whl'); // not the anchor text
  t.is(wheel?.url, 'https://artifacts.example.com/api/pypi/pypi-remote/packages/packages/acme_sdk-3.2.0-py3-none-any.whl?X-Amz-Expires=300&X-Amz-Signature=f3f15a23e43f1388ece45c2f00ba41bfd2920b22');
  t.is(wheel?.requiresPython, '>=3.9,<4');
  t.deepEqual(wheel?.hashes, { sha256: '37d6d3248e766b21a22679dca8f9f8f4054dcc7282ddd7ee6060c73c8978019a' });
  t.like(wheel, { size: null, uploadTime: null });
  t.is(sdist?.url, 'https://artifacts.example.com/api/pypi/pypi-remote/packages/packages/acme_sdk-3.2.0.tar.gz?token=abc');
  t.deepEqual(Object.keys(sdist?.hashes ?? {}).sort(), ['sha256', 'sha512']);
  t.is(sdist?.hashes.sha256, 'ef1c633a2eb75e84d8afe67e07ccc9c275492196b4981c0c61434f6d9a8c5005');
  t.like(sdist, { size: 48213, uploadTime: '2024-03-01T09:30:00Z' });
});

test('JSON with only the deprecated dist-info-metadata alias; relative URLs resolved against the page', (t) => {
  const page = parseProjectJson(fixture('dist-info-metadata-alias.json'), 'https://mirror.example.com/simple/attrs/');
  t.is(page.apiVersion, '1.1');
  t.is(page.projectStatus, null);
  t.deepEqual(page.files.map((f) => [f.url, f.coreMetadata]), [
    ['https://mirror.example.com/packages/attrs-23.2.0-py3-none-any.whl', { sha256: 'f582bbee23395ec74e70c010c9a7d1240464c42fc5abe8c0bdec1c977bea5166' }],
    ['https://mirror.example.com/packages/attrs-23.2.0.tar.gz', true],
  ]);
});

test('JSON yanked: true is yanked with reason "", "" is not yanked; hashes {} is kept', (t) => {
  const page = parseProjectJson(fixture('yanked-true.json'), 'https://pypi.org/simple/urllib3/');
  t.deepEqual(page.files.map((f) => f.yanked), ['', false, false]);
  t.deepEqual(page.files[2]?.hashes, {});
  t.is(page.files[2]?.uploadTime, '2023-04-26T17:00:00Z');
});

test('API version 2.0 is rejected (JSON meta, HTML meta, via parseProjectPage too)', (t) => {
  const json = fixture('api-v2.json');
  const html = fixture('api-v2.html');
  t.throws(() => parseProjectJson(json, 'https://example.com/simple/future/'), { instanceOf: IndexFormatError, message: /2\.0/ });
  t.throws(() => parseProjectHtml(html, 'https://example.com/simple/future/'), { instanceOf: IndexFormatError, message: /2\.0/ });
  t.throws(() => parseProjectPage(json, 'application/vnd.pypi.simple.v1+json', 'https://example.com/simple/future/'), { instanceOf: IndexFormatError });
  t.throws(() => parseProjectPage(html, 'text/html', 'https://example.com/simple/future/'), { instanceOf: IndexFormatError });
  t.throws(() => parseProjectPage(json, '', 'https://example.com/simple/future/'), { instanceOf: IndexFormatError });
});

// ---------------------------------------------------------------------------
// API versions and top-level shape

const apiVersions: Array<[unknown, string | null]> = [
  [undefined, '1.0'],
  ['1.0', '1.0'],
  ['1.1', '1.1'],
  ['1.4', '1.4'],
  ['1.99', '1.99'], // a newer minor: accepted
  ['1', '1'],
  ['2.0', null],
  ['0.9', null],
  ['10.1', null],
  ['v1.1', null],
  ['latest', null],
  [1.1, null],
];
for (const [version, expected] of apiVersions) {
  test(`api-version ${JSON.stringify(version) ?? 'absent'} → ${expected ?? 'IndexFormatError'}`, (t) => {
    const meta = version === undefined ? {} : { 'api-version': version };
    const json = JSON.stringify({ meta, files: [] });
    const head = version === undefined ? '' : `<meta name="pypi:repository-version" content="${String(version)}">`;
    const html = htmlPage('', head);
    if (expected === null) {
      t.throws(() => parseProjectJson(json, PYPI_PAGE), { instanceOf: IndexFormatError });
      if (typeof version === 'string') t.throws(() => parseProjectHtml(html, PYPI_PAGE), { instanceOf: IndexFormatError });
    } else {
      t.is(parseProjectJson(json, PYPI_PAGE).apiVersion, expected);
      t.is(parseProjectHtml(html, PYPI_PAGE).apiVersion, expected);
    }
  });
}

test('JSON without meta at all is API 1.0; unknown keys (meta and top level) are ignored', (t) => {
  t.is(parseProjectJson(JSON.stringify({ files: [] }), PYPI_PAGE).apiVersion, '1.0');
  const page = parseProjectJson(JSON.stringify({
    meta: { 'api-version': '1.3', '_last-serial': 5, tracks: ['https://pypi.org/simple/foo/'] },
    'alternate-locations': [], _private: { x: 1 }, files: [jsonFile({ provenance: null, 'gpg-sig': false, 'x-custom': 1 })],
  }), PYPI_PAGE);
  t.is(page.apiVersion, '1.3');
  t.is(page.files.length, 1);
  t.is(page.name, null);
});

const badJson: Array<[string, string]> = [
  ['not JSON', '<html>'],
  ['truncated', '{"meta": {"api-version": "1.1"}, "files": ['],
  ['empty', ''],
  ['an array', '[]'],
  ['a string', '"files"'],
  ['null', 'null'],
  ['no files', '{"meta": {"api-version": "1.1"}, "name": "foo"}'],
  ['files not an array', '{"meta": {"api-version": "1.1"}, "files": {}}'],
  ['meta not an object', '{"meta": "1.1", "files": []}'],
];
for (const [what, body] of badJson) {
  test(`JSON project page rejected: ${what}`, (t) => {
    t.throws(() => parseProjectJson(body, PYPI_PAGE), { instanceOf: IndexFormatError });
  });
}

test('a JSON body with a leading BOM or blanks parses', (t) => {
  t.is(parseProjectJson(`\uFEFF\n  ${jsonPage([jsonFile()])}`, PYPI_PAGE).files.length, 1);
});

test('an invalid page URL is a programming error (TypeError)', (t) => {
  t.throws(() => parseProjectJson(jsonPage([]), '/simple/foo/'), { instanceOf: TypeError });
  t.throws(() => parseProjectHtml(htmlPage(''), 'nope'), { instanceOf: TypeError });
});

// ---------------------------------------------------------------------------
// Content-type dispatch

const dispatch: Array<[string, string, 'json' | 'html']> = [
  ['application/vnd.pypi.simple.v1+json', 'json', 'json'],
  ['application/vnd.pypi.simple.v1+json; charset=utf-8', 'json', 'json'],
  ['Application/VND.PyPI.Simple.V1+JSON', 'json', 'json'],
  ['application/vnd.pypi.simple.latest+json', 'json', 'json'],
  ['application/json', 'json', 'json'],
  ['text/html', 'html', 'html'],
  ['text/html; charset=utf-8', 'html', 'html'],
  ['application/vnd.pypi.simple.v1+html', 'html', 'html'],
  ['', 'json', 'json'],
  ['', 'html', 'html'],
  ['application/octet-stream', 'json', 'json'],
  ['text/plain', 'html', 'html'],
];
for (const [contentType, bodyKind, expected] of dispatch) {
  test(`parseProjectPage: Content-Type ${JSON.stringify(contentType)} with a ${bodyKind} body → ${expected}`, (t) => {
    const body = bodyKind === 'json'
      ? `\n  ${jsonPage([jsonFile()])}`
      : htmlPage(`<a href="foo-1.0-py3-none-any.whl#sha256=${SHA_A}">foo-1.0-py3-none-any.whl</a>`);
    const page = parseProjectPage(body, contentType, 'https://files.example.com/simple/foo/');
    // Only the JSON parser reports a name.
    t.is(page.name, expected === 'json' ? 'foo' : null);
    t.is(page.files[0]?.filename, 'foo-1.0-py3-none-any.whl');
  });
}

test('parseProjectPage: a JSON Content-Type with an HTML body is an IndexFormatError (no guessing)', (t) => {
  t.throws(() => parseProjectPage(htmlPage(''), 'application/vnd.pypi.simple.v1+json', PYPI_PAGE), { instanceOf: IndexFormatError });
});

for (const contentType of ['application/vnd.pypi.simple.v2+json', 'application/vnd.pypi.simple.v0+html']) {
  test(`parseProjectPage: ${contentType} is rejected`, (t) => {
    t.throws(() => parseProjectPage(jsonPage([]), contentType, PYPI_PAGE), { instanceOf: IndexFormatError });
    t.throws(() => createProjectListParser(contentType), { instanceOf: IndexFormatError });
  });
}

// ---------------------------------------------------------------------------
// Per-file rules, JSON

const yankedJson: Array<[unknown, false | string]> = [
  [undefined, false],
  [false, false],
  [null, false],
  [true, ''],
  ['', false], // not a valid reason; falsy, as pip reads it
  ['broken on Windows', 'broken on Windows'],
  [1, ''],
];
for (const [value, expected] of yankedJson) {
  test(`JSON yanked ${JSON.stringify(value) ?? 'absent'} → ${JSON.stringify(expected)}`, (t) => {
    t.is(onlyJsonFile(value === undefined ? {} : { yanked: value })?.yanked, expected);
  });
}

const coreMetadataJson: Array<[string, Record<string, unknown>, UpstreamFile['coreMetadata']]> = [
  ['absent', {}, false],
  ['core-metadata false', { 'core-metadata': false }, false],
  ['core-metadata true', { 'core-metadata': true }, true],
  ['core-metadata {sha256}', { 'core-metadata': { sha256: SHA_A } }, { sha256: SHA_A }],
  ['core-metadata uppercase hash', { 'core-metadata': { SHA256: SHA_A.toUpperCase() } }, { sha256: SHA_A }],
  ['core-metadata {} (present, no hash)', { 'core-metadata': {} }, true],
  ['core-metadata with only an unusable hash', { 'core-metadata': { sha256: 'xyz' } }, true],
  ['core-metadata as a "sha256=" string', { 'core-metadata': `sha256=${SHA_A}` }, { sha256: SHA_A }],
  ['core-metadata a number', { 'core-metadata': 1 }, false],
  ['data-dist-info-metadata only (pypi.org key)', { 'data-dist-info-metadata': { sha256: SHA_B } }, { sha256: SHA_B }],
  ['dist-info-metadata only', { 'dist-info-metadata': true }, true],
  ['core-metadata wins over both aliases',
    { 'core-metadata': { sha256: SHA_A }, 'data-dist-info-metadata': { sha256: SHA_B }, 'dist-info-metadata': true }, { sha256: SHA_A }],
  ['core-metadata false wins over an alias', { 'core-metadata': false, 'dist-info-metadata': true }, false],
  ['data-dist-info-metadata wins over dist-info-metadata',
    { 'data-dist-info-metadata': { sha256: SHA_B }, 'dist-info-metadata': { sha256: SHA_A } }, { sha256: SHA_B }],
  ['core-metadata null counts as absent', { 'core-metadata': null, 'dist-info-metadata': { sha256: SHA_B } }, { sha256: SHA_B }],
];
for (const [what, entry, expected] of coreMetadataJson) {
  test(`JSON core metadata: ${what}`, (t) => {
    t.deepEqual(onlyJsonFile(entry)?.coreMetadata, expected);
  });
}

const hashesJson: Array<[string, unknown, Record<string, string>]> = [
  ['sha256', { sha256: SHA_A }, { sha256: SHA_A }],
  ['uppercase name and hex', { SHA256: SHA_A.toUpperCase() }, { sha256: SHA_A }],
  ['md5 and sha512 kept', { md5: 'c'.repeat(32), sha512: 'd'.repeat(128) }, { md5: 'c'.repeat(32), sha512: 'd'.repeat(128) }],
  ['blake2b (any even length) kept', { blake2b: 'e'.repeat(64) }, { blake2b: 'e'.repeat(64) }],
  ['empty', {}, {}],
  ['not an object', ['sha256'], {}],
  ['absent', undefined, {}],
  ['non-hex dropped', { sha256: 'z'.repeat(64), md5: 'c'.repeat(32) }, { md5: 'c'.repeat(32) }],
  ['wrong length for sha256 dropped', { sha256: 'a'.repeat(63) }, {}],
  ['non-string value dropped', { sha256: 42 }, {}],
  ['odd name dropped', { 'sha-256': SHA_A, '': SHA_A }, {}],
];
for (const [what, hashes, expected] of hashesJson) {
  test(`JSON hashes: ${what}`, (t) => {
    const file = onlyJsonFile({ hashes });
    t.truthy(file, 'a file with bad or missing hashes is kept');
    t.deepEqual(file?.hashes, expected);
  });
}

const skippedJson: Array<[string, unknown]> = [
  ['not an object', 'foo-1.0-py3-none-any.whl'],
  ['null', null],
  ['no url', { filename: 'foo-1.0.tar.gz', hashes: {} }],
  ['no filename', { url: 'https://x.example/foo-1.0.tar.gz', hashes: {} }],
  ['url not a string', jsonFile({ url: 42 })],
  ['javascript: url', jsonFile({ url: 'javascript:alert(1)' })],
  ['file: url', jsonFile({ url: 'file:///etc/passwd' })],
  ['unparsable url', jsonFile({ url: 'https://[::1/x' })],
  ['.egg', jsonFile({ filename: 'foo-1.0-py2.7.egg' })],
  ['.exe', jsonFile({ filename: 'foo-1.0.win32.exe' })],
  ['.tar.bz2', jsonFile({ filename: 'foo-1.0.tar.bz2' })],
  ['traversal', jsonFile({ filename: '../foo-1.0.tar.gz' })],
  ['slash', jsonFile({ filename: 'a/foo-1.0.tar.gz' })],
  ['control character', jsonFile({ filename: 'foo-1.0.tar.gz\n' })],
  ['hidden', jsonFile({ filename: '.foo-1.0.tar.gz' })],
  ['invalid version', jsonFile({ filename: 'foo-1.0~beta.tar.gz' })],
  ['invalid wheel', jsonFile({ filename: 'foo-1.0-py3.whl' })],
];
for (const [what, entry] of skippedJson) {
  test(`JSON file skipped: ${what}`, (t) => {
    const page = parseProjectJson(jsonPage([entry, jsonFile({ filename: 'foo-2.0.zip', url: 'foo-2.0.zip' })]), 'https://example.com/simple/foo/');
    t.deepEqual(page.files.map((f) => f.filename), ['foo-2.0.zip']);
  });
}

test('JSON url: fragment dropped, query kept, relative resolved; filename from JSON even if the URL disagrees', (t) => {
  const file = onlyJsonFile({
    filename: 'foo-1.0.tar.gz',
    url: '../../files/download?id=12&name=foo-1.0.tar.gz#sha256=' + SHA_B,
  });
  t.is(file?.filename, 'foo-1.0.tar.gz');
  t.is(file?.url, 'https://example.com/files/download?id=12&name=foo-1.0.tar.gz');
  t.deepEqual(file?.hashes, { sha256: SHA_A }, 'JSON hashes are not merged with the URL fragment');
});

const scalarsJson: Array<[string, Record<string, unknown>, Partial<UpstreamFile>]> = [
  ['requires-python kept as is (no HTML escaping)', { 'requires-python': '>=3.8,<4' }, { requiresPython: '>=3.8,<4' }],
  ['requires-python null', { 'requires-python': null }, { requiresPython: null }],
  ['requires-python empty', { 'requires-python': '' }, { requiresPython: null }],
  ['requires-python not a string', { 'requires-python': 3 }, { requiresPython: null }],
  ['size', { size: 1234 }, { size: 1234 }],
  ['size 0', { size: 0 }, { size: 0 }],
  ['size negative', { size: -1 }, { size: null }],
  ['size fractional', { size: 1.5 }, { size: null }],
  ['size a string', { size: '1234' }, { size: null }],
  ['upload-time with microseconds', { 'upload-time': '2024-05-29T15:37:47.027401Z' }, { uploadTime: '2024-05-29T15:37:47.027401Z' }],
  ['upload-time without fraction', { 'upload-time': '2024-05-29T15:37:47Z' }, { uploadTime: '2024-05-29T15:37:47Z' }],
  ['upload-time with offset', { 'upload-time': '2024-05-29T15:37:47+00:00' }, { uploadTime: '2024-05-29T15:37:47+00:00' }],
  ['upload-time garbage', { 'upload-time': 'yesterday' }, { uploadTime: null }],
  ['upload-time impossible date', { 'upload-time': '2024-13-45T99:99:99Z' }, { uploadTime: null }],
  ['upload-time a number', { 'upload-time': 1717000000 }, { uploadTime: null }],
];
for (const [what, entry, expected] of scalarsJson) {
  test(`JSON file fields: ${what}`, (t) => {
    t.like(onlyJsonFile(entry), expected);
  });
}

const versionsJson: Array<[string, unknown, string[] | null]> = [
  ['absent', undefined, null],
  ['not an array', '1.0', null],
  ['empty', [], []],
  ['sorted PEP 440-wise, deduplicated', ['1.10', '1.9', '1.0rc1', '1.0', '1.9'], ['1.0rc1', '1.0', '1.9', '1.10']],
  ['invalid and non-string entries dropped', ['1.0', 'not a version', 2, null, '1.0-foo'], ['1.0']],
  ['versions with no files are kept', ['0.1', '3.0'], ['0.1', '3.0']],
];
for (const [what, versions, expected] of versionsJson) {
  test(`JSON versions: ${what}`, (t) => {
    const page = parseProjectJson(jsonPage([jsonFile()], versions === undefined ? {} : { versions }), PYPI_PAGE);
    t.deepEqual(page.versions, expected);
  });
}

const statusJson: Array<[string, Record<string, unknown>, UpstreamProjectPage['projectStatus']]> = [
  ['absent', {}, null],
  ['active', { 'project-status': { status: 'active' } }, { status: 'active', reason: null }],
  ['archived with reason', { 'project-status': { status: 'archived', reason: 'moved to bar' } }, { status: 'archived', reason: 'moved to bar' }],
  ['unknown status passed through', { 'project-status': { status: 'sunset' } }, { status: 'sunset', reason: null }],
  ['no status', { 'project-status': { reason: 'x' } }, null],
  ['not an object', { 'project-status': 'active' }, null],
  ['in meta (living-spec example)', { meta: { 'api-version': '1.4', 'project-status': { status: 'deprecated' } } }, { status: 'deprecated', reason: null }],
  ['top level wins over meta',
    { meta: { 'api-version': '1.4', 'project-status': { status: 'deprecated' } }, 'project-status': { status: 'archived' } },
    { status: 'archived', reason: null }],
];
for (const [what, extra, expected] of statusJson) {
  test(`JSON project-status: ${what}`, (t) => {
    t.deepEqual(parseProjectJson(jsonPage([], extra), PYPI_PAGE).projectStatus, expected);
  });
}

test('JSON quarantined project: status, no files', (t) => {
  const page = parseProjectJson(JSON.stringify({
    meta: { 'api-version': '1.4' }, name: 'evil', files: [], versions: ['1.0'],
    'project-status': { status: 'quarantined', reason: 'Suspected malware' },
  }), 'https://pypi.org/simple/evil/');
  t.deepEqual(page.projectStatus, { status: 'quarantined', reason: 'Suspected malware' });
  t.deepEqual(page.files, []);
});

test('JSON: a repeated filename keeps the first entry', (t) => {
  const page = parseProjectJson(jsonPage([
    jsonFile({ url: 'https://a.example/foo-1.0-py3-none-any.whl' }),
    jsonFile({ url: 'https://b.example/foo-1.0-py3-none-any.whl', hashes: { sha256: SHA_B } }),
  ]), PYPI_PAGE);
  t.is(page.files.length, 1);
  t.is(page.files[0]?.url, 'https://a.example/foo-1.0-py3-none-any.whl');
});

// ---------------------------------------------------------------------------
// Per-file rules, HTML

const yankedHtml: Array<[string, false | string]> = [
  ['', false],
  ['data-yanked', ''],
  ['data-yanked=""', ''],
  ['data-yanked="false"', 'false'], // presence is what counts
  ['data-yanked="bad build &amp; wrong &lt;deps&gt;"', 'bad build & wrong <deps>'],
  ['DATA-YANKED="Upper"', 'Upper'],
];
for (const [attr, expected] of yankedHtml) {
  test(`HTML ${attr || 'no data-yanked'} → ${JSON.stringify(expected)}`, (t) => {
    t.is(onlyHtmlFile(attr)?.yanked, expected);
  });
}

const coreMetadataHtml: Array<[string, UpstreamFile['coreMetadata']]> = [
  ['', false],
  ['data-core-metadata="true"', true],
  ['data-core-metadata="TRUE"', true],
  ['data-core-metadata="false"', false],
  ['data-core-metadata=""', false],
  ['data-core-metadata', false],
  ['data-core-metadata="yes"', false],
  [`data-core-metadata="sha256=${SHA_A}"`, { sha256: SHA_A }],
  [`data-core-metadata="SHA256=${SHA_A.toUpperCase()}"`, { sha256: SHA_A }],
  [`data-core-metadata="sha512=${'f'.repeat(128)}"`, { sha512: 'f'.repeat(128) }],
  ['data-core-metadata="sha256=not-hex"', true],
  [`data-dist-info-metadata="sha256=${SHA_B}"`, { sha256: SHA_B }],
  ['data-dist-info-metadata="true"', true],
  [`data-core-metadata="sha256=${SHA_A}" data-dist-info-metadata="sha256=${SHA_B}"`, { sha256: SHA_A }],
  [`data-dist-info-metadata="sha256=${SHA_B}" data-core-metadata="sha256=${SHA_A}"`, { sha256: SHA_A }],
  [`data-core-metadata="false" data-dist-info-metadata="sha256=${SHA_B}"`, false],
];
for (const [attrs, expected] of coreMetadataHtml) {
  test(short(`HTML core metadata: ${attrs || 'none'}`), (t) => {
    t.deepEqual(onlyHtmlFile(attrs)?.coreMetadata, expected);
  });
}

const fragmentsHtml: Array<[string, Record<string, string>]> = [
  ['', {}],
  [`#sha256=${SHA_A}`, { sha256: SHA_A }],
  [`#SHA256=${SHA_A.toUpperCase()}`, { sha256: SHA_A }],
  [`#md5=${'c'.repeat(32)}`, { md5: 'c'.repeat(32) }],
  [`#sha512=${'d'.repeat(128)}&sha256=${SHA_A}`, { sha512: 'd'.repeat(128), sha256: SHA_A }],
  [`#egg=cafe&sha256=${SHA_A}`, { sha256: SHA_A }],
  ['#sha256=', {}],
  ['#sha256=tooshort', {}],
  ['#top', {}],
];
for (const [fragment, expected] of fragmentsHtml) {
  test(short(`HTML hash fragment ${JSON.stringify(fragment)}`), (t) => {
    const file = onlyHtmlFile('', `https://files.example.com/foo-1.0-py3-none-any.whl${fragment}`);
    t.deepEqual(file?.hashes, expected);
    t.is(file?.url, 'https://files.example.com/foo-1.0-py3-none-any.whl');
  });
}

const scalarsHtml: Array<[string, Partial<UpstreamFile>]> = [
  ['data-requires-python="&gt;=3.8,&lt;4,!=3.9.*"', { requiresPython: '>=3.8,<4,!=3.9.*' }],
  ['data-requires-python=">=3.8"', { requiresPython: '>=3.8' }], // unescaped: still read
  ['data-requires-python=""', { requiresPython: null }],
  ['data-size="5120" data-upload-time="2024-01-02T03:04:05.123456Z"', { size: 5120, uploadTime: '2024-01-02T03:04:05.123456Z' }],
  ['data-size="-1" data-upload-time="soon"', { size: null, uploadTime: null }],
  ['data-size="1e3"', { size: null }],
];
for (const [attrs, expected] of scalarsHtml) {
  test(`HTML file fields: ${attrs}`, (t) => {
    t.like(onlyHtmlFile(attrs), expected);
  });
}

const hrefsHtml: Array<[string, string, string | null, string | null]> = [
  // [page URL, href, expected filename, expected URL]
  ['https://example.com/simple/foo/', 'foo-1.0.tar.gz', 'foo-1.0.tar.gz', 'https://example.com/simple/foo/foo-1.0.tar.gz'],
  ['https://example.com/simple/foo/', '../../packages/foo-1.0.tar.gz', 'foo-1.0.tar.gz', 'https://example.com/packages/foo-1.0.tar.gz'],
  ['https://example.com/simple/foo/', '/packages/foo-1.0.tar.gz', 'foo-1.0.tar.gz', 'https://example.com/packages/foo-1.0.tar.gz'],
  ['https://example.com/simple/foo/', '//cdn.example.net/foo-1.0.tar.gz', 'foo-1.0.tar.gz', 'https://cdn.example.net/foo-1.0.tar.gz'],
  ['http://example.com/simple/foo/', 'foo-1.0.tar.gz', 'foo-1.0.tar.gz', 'http://example.com/simple/foo/foo-1.0.tar.gz'],
  ['https://example.com/simple/foo/', 'foo-1.0%2Blocal.1-py3-none-any.whl', 'foo-1.0+local.1-py3-none-any.whl', 'https://example.com/simple/foo/foo-1.0%2Blocal.1-py3-none-any.whl'],
  ['https://example.com/simple/foo/', 'get/foo-1.0.tar.gz?sig=a%2Fb&amp;exp=1#sha256=' + SHA_A, 'foo-1.0.tar.gz', 'https://example.com/simple/foo/get/foo-1.0.tar.gz?sig=a%2Fb&exp=1'],
  ['https://example.com/simple/foo/', '  foo-1.0.tar.gz  ', 'foo-1.0.tar.gz', 'https://example.com/simple/foo/foo-1.0.tar.gz'],
  ['https://example.com/simple/foo/', 'download?file=foo-1.0.tar.gz', null, null],
  ['https://example.com/simple/foo/', 'files/', null, null],
  ['https://example.com/simple/foo/', 'files/%2e%2e%2Ffoo-1.0.tar.gz', null, null],
  ['https://example.com/simple/foo/', 'data:text/plain,foo-1.0.tar.gz', null, null],
  ['https://example.com/simple/foo/', 'mailto:foo-1.0.tar.gz', null, null],
];
for (const [pageUrl, href, filename, url] of hrefsHtml) {
  test(short(`HTML href ${JSON.stringify(href)} on ${pageUrl} → ${filename ?? 'skipped'}`), (t) => {
    const page = parseProjectHtml(htmlPage(`<a href="${href}">anchor text is not the filename</a>`), pageUrl);
    t.deepEqual(page.files.map((f) => [f.filename, f.url]), filename === null ? [] : [[filename, url]]);
  });
}

const basesHtml: Array<[string, string]> = [
  ['<base href="https://mirror.example.org/pkgs/">', 'https://mirror.example.org/pkgs/foo-1.0.tar.gz'],
  ['<base href="/other/path/">', 'https://example.com/other/path/foo-1.0.tar.gz'],
  ['<base target="_blank"><base href="/second/">', 'https://example.com/second/foo-1.0.tar.gz'],
  ['<base href="/first/"><base href="/second/">', 'https://example.com/first/foo-1.0.tar.gz'],
  ['<base href="javascript:void(0)/">', 'https://example.com/simple/foo/foo-1.0.tar.gz'],
  ['<base href="https://[::1/">', 'https://example.com/simple/foo/foo-1.0.tar.gz'],
];
for (const [base, url] of basesHtml) {
  test(`HTML ${base}`, (t) => {
    const page = parseProjectHtml(htmlPage('<a href="foo-1.0.tar.gz">foo-1.0.tar.gz</a>', base), 'https://example.com/simple/foo/');
    t.is(page.files[0]?.url, url);
  });
}

test('HTML <base href> after the links still applies (document base URL)', (t) => {
  const page = parseProjectHtml(
    '<html><body><a href="foo-1.0.tar.gz">x</a><base href="https://late.example/"></body></html>',
    'https://example.com/simple/foo/',
  );
  t.is(page.files[0]?.url, 'https://late.example/foo-1.0.tar.gz');
});

const statusHtml: Array<[string, UpstreamProjectPage['projectStatus']]> = [
  ['', null],
  ['<meta name="pypi:project-status" content="active">', { status: 'active', reason: null }],
  ['<meta name="pypi:project-status" content="archived"><meta name="pypi:project-status-reason" content="Use bar &amp; baz">',
    { status: 'archived', reason: 'Use bar & baz' }],
  ['<meta name="PyPI:Project-Status" content="deprecated">', { status: 'deprecated', reason: null }],
  ['<meta name="pypi:project-status-reason" content="orphan reason">', null],
  ['<meta name="pypi:project-status" content="">', null],
];
for (const [head, expected] of statusHtml) {
  test(`HTML project status: ${head || 'none'}`, (t) => {
    t.deepEqual(parseProjectHtml(htmlPage('', head), PYPI_PAGE).projectStatus, expected);
  });
}

test('HTML quarantined page (no file links), status passed through', (t) => {
  const page = parseProjectHtml(htmlPage('', '<meta name="pypi:repository-version" content="1.4"><meta name="pypi:project-status" content="quarantined">'), PYPI_PAGE);
  t.deepEqual(page, { name: null, files: [], versions: null, apiVersion: '1.4', projectStatus: { status: 'quarantined', reason: null } });
});

test('HTML tolerates sloppy markup: unquoted attributes, uppercase tags, unclosed anchors, comments, text in <title>', (t) => {
  const body = `<HTML><HEAD><TITLE><a href="foo-9.0.tar.gz">not a link</a></TITLE></HEAD>
<!-- <a href="foo-8.0.tar.gz">commented out</a> -->
<BODY><A HREF=foo-1.0.tar.gz DATA-REQUIRES-PYTHON=&gt;=3.6>foo-1.0.tar.gz
<a href='foo-2.0.tar.gz' data-yanked>foo-2.0.tar.gz</a>
<script>document.write('<a href="foo-7.0.tar.gz">x</a>')</script>
<a>no href</a>`;
  const page = parseProjectHtml(body, 'https://example.com/simple/foo/');
  t.deepEqual(page.files.map((f) => [f.filename, f.requiresPython, f.yanked]), [
    ['foo-1.0.tar.gz', '>=3.6', false],
    ['foo-2.0.tar.gz', null, ''],
  ]);
});

test('HTML: for a repeated attribute the first one wins (as in browsers)', (t) => {
  const file = onlyHtmlFile(`data-core-metadata="true" data-core-metadata="sha256=${SHA_A}"`);
  t.is(file?.coreMetadata, true);
});

test('HTML: a repeated filename keeps the first link', (t) => {
  const page = parseProjectHtml(htmlPage(
    '<a href="https://a.example/foo-1.0.tar.gz">foo-1.0.tar.gz</a><a href="https://b.example/foo-1.0.tar.gz">foo-1.0.tar.gz</a>',
  ), PYPI_PAGE);
  t.deepEqual(page.files.map((f) => f.url), ['https://a.example/foo-1.0.tar.gz']);
});

test('HTML: an empty body is a page without files', (t) => {
  t.deepEqual(parseProjectHtml('', PYPI_PAGE).files, []);
});
