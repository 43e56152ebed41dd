/**
 * The fake upstream must do what it says, so that remote-repository test
 * failures point at pydepot and not at the fake.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import test, { type ExecutionContext } from 'ava';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream, JSON_TYPE, type FakeUpstreamOptions } from '../helpers/fake-upstream.ts';

const PIP_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01';

interface Fixture {
  up: FakeUpstream;
  wheel: BuiltDist;
  sdist: BuiltDist;
}

async function fixture(t: ExecutionContext, opts: FakeUpstreamOptions = {}): Promise<Fixture> {
  const up = await FakeUpstream.start(t, opts);
  const wheel = await buildWheel({ name: 'Acme.Core', version: '1.0', requiresPython: '>=3.8,<4', padBytes: 40_000 });
  const sdist = await buildSdist({ name: 'Acme.Core', version: '1.0' });
  up.addProject('Acme.Core', [{ dist: wheel, requiresPython: '>=3.8,<4' }, { dist: sdist, yanked: 'bad "build" <x>' }]);
  return { up, wheel, sdist };
}

const sha = (b: Buffer | ArrayBuffer): string => createHash('sha256').update(Buffer.from(b as ArrayBuffer)).digest('hex');

interface JsonFile {
  filename: string;
  url: string;
  hashes: Record<string, string>;
  'core-metadata': false | { sha256: string };
  [k: string]: unknown;
}
interface JsonPage {
  meta: Record<string, unknown>;
  name: string;
  versions: string[];
  files: JsonFile[];
  [k: string]: unknown;
}

async function jsonPage(up: FakeUpstream, project = 'acme-core'): Promise<JsonPage> {
  const res = await fetch(up.pageUrl(project), { headers: { Accept: JSON_TYPE } });
  return (await res.json()) as JsonPage;
}

/** Raw GET, tolerating a connection cut mid-body: resolves with what arrived. */
/** `onResponse`: called when the response headers are in, the body still to come. */
function rawGet(url: string, onResponse?: () => void): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer; aborted: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      onResponse?.();
      const chunks: Buffer[] = [];
      let aborted = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => (aborted = true));
      res.on('error', () => (aborted = true));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), aborted: aborted || !res.complete }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('negotiation: pypi.org rules (q-values, text/html wins ties, nothing acceptable ⇒ HTML), ?format=', async (t) => {
  const { up } = await fixture(t);
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'text/html; charset=utf-8'],
    ['*/*', 'text/html; charset=utf-8'],
    ['text/html', 'text/html; charset=utf-8'],
    [JSON_TYPE, JSON_TYPE],
    ['application/vnd.pypi.simple.latest+json', JSON_TYPE],
    [PIP_ACCEPT, JSON_TYPE],
    [`${JSON_TYPE}, text/html`, 'text/html; charset=utf-8'],
    [`${JSON_TYPE};q=0.5, application/*;q=0.9`, 'application/vnd.pypi.simple.v1+html; charset=utf-8'],
    ['application/xml', 'text/html; charset=utf-8'],
  ];
  for (const [accept, type] of cases) {
    for (const url of [up.url, up.pageUrl('acme-core')]) {
      const res = await fetch(url, { headers: accept === undefined ? {} : { Accept: accept } });
      t.is(res.status, 200);
      t.is(res.headers.get('content-type'), type, `${accept} ${url}`);
      t.is(res.headers.get('vary'), 'Accept');
      t.is(res.headers.get('cache-control'), 'max-age=600, public');
      await res.arrayBuffer();
    }
  }
  const forced = await fetch(`${up.pageUrl('acme-core')}?format=${encodeURIComponent(JSON_TYPE)}`, { headers: { Accept: 'text/html' } });
  t.is(forced.headers.get('content-type'), JSON_TYPE);
  const root = (await (await fetch(up.url, { headers: { Accept: JSON_TYPE } })).json()) as { meta: Record<string, unknown>; projects: { name: string }[] };
  t.is(root.meta['api-version'], '1.1');
  t.deepEqual(root.projects.map((p) => p.name), ['Acme.Core']);
});

test("format 'html' ignores Accept; format 'json' answers JSON or 406", async (t) => {
  const html = await FakeUpstream.start(t, { format: 'html' });
  const json = await FakeUpstream.start(t, { format: 'json' });
  t.not(html.url, json.url);
  const res1 = await fetch(html.url, { headers: { Accept: JSON_TYPE } });
  t.is(res1.headers.get('content-type'), 'text/html; charset=utf-8');
  t.regex(await res1.text(), /^<!DOCTYPE html>/);
  const res2 = await fetch(json.url);
  t.is(res2.headers.get('content-type'), JSON_TYPE);
  await res2.arrayBuffer();
  const res3 = await fetch(json.url, { headers: { Accept: 'text/html' } });
  t.is(res3.status, 406);
  await res3.arrayBuffer();
});

test('JSON project page: v1.1 fields, pypi.org oddities, unknown keys, resolvable relative URLs', async (t) => {
  const { up, wheel, sdist } = await fixture(t);
  const page = await jsonPage(up);
  t.is(page.meta['api-version'], '1.1');
  t.is(page.name, 'acme-core');
  t.deepEqual(page.versions, ['1.0']);
  t.is(page['_pydepot-test-unknown'], 1);
  t.false('project-status' in page);
  const [w, s] = page.files;
  t.is(w!.filename, wheel.filename);
  t.deepEqual(w!.hashes, { sha256: wheel.sha256 });
  t.is(w!['requires-python'], '>=3.8,<4');
  t.is(w!.size, wheel.bytes.length);
  t.is(w!['upload-time'], '2020-01-01T00:00:00.000000Z');
  t.is(w!.yanked, false);
  t.deepEqual(w!['core-metadata'], { sha256: sha(wheel.metadata) });
  t.deepEqual(w!['data-dist-info-metadata'], { sha256: sha(wheel.metadata) });
  t.false('dist-info-metadata' in w!);
  t.is(w!['_pydepot-test-unknown'], 1);
  t.regex(w!.url, new RegExp(`^\\.\\./\\.\\./packages/${wheel.blake2b256.slice(0, 2)}/${wheel.blake2b256.slice(2, 4)}/${wheel.blake2b256.slice(4)}/${wheel.filename.replace(/\./g, '\\.')}$`));
  t.is(s!['core-metadata'], false);
  t.is(s!.yanked, 'bad "build" <x>');
  t.is(s!['requires-python'], null);

  const fileUrl = new URL(w!.url, up.pageUrl('acme-core')).href;
  t.is(fileUrl, up.fileUrl(wheel.filename));
  const file = await fetch(fileUrl);
  t.is(file.status, 200);
  t.is(file.headers.get('content-type'), 'application/octet-stream');
  t.is(file.headers.get('content-length'), String(wheel.bytes.length));
  t.is(sha(await file.arrayBuffer()), wheel.sha256);
  const meta = await fetch(`${fileUrl}.metadata`);
  t.is(sha(await meta.arrayBuffer()), sha(wheel.metadata));
  const noMeta = await fetch(`${new URL(s!.url, up.pageUrl('acme-core')).href}.metadata`);
  t.is(noMeta.status, 404);
  await noMeta.arrayBuffer();
});

test('project status ⇒ api-version 1.4 and project-status; quarantined lists no files', async (t) => {
  const { up, wheel } = await fixture(t);
  up.addProject('Old', [{ dist: wheel }], { status: 'archived' });
  up.addProject('Bad', [{ dist: await buildWheel({ name: 'Bad', version: '1' }) }], { status: 'quarantined' });
  const old = await jsonPage(up, 'old');
  t.is(old.meta['api-version'], '1.4');
  t.deepEqual(old['project-status'], { status: 'archived' });
  const bad = await jsonPage(up, 'bad');
  t.deepEqual(bad.files, []);
  const html = await (await fetch(up.pageUrl('bad'))).text();
  t.true(html.includes('<meta name="pypi:project-status" content="quarantined">'));
  t.false(html.includes('<a '));
});

test('HTML project page: sha256 fragment, escaped attributes, both metadata attributes on wheels only', async (t) => {
  const { up, wheel, sdist } = await fixture(t);
  const html = await (await fetch(up.pageUrl('acme-core'), { headers: { Accept: 'text/html' } })).text();
  const anchors = html.match(/<a [^>]*>[^<]*<\/a>/g) ?? [];
  t.is(anchors.length, 2);
  const [a, b] = anchors as [string, string];
  t.true(a.includes(`#sha256=${wheel.sha256}"`));
  t.true(a.includes('data-requires-python="&gt;=3.8,&lt;4"'));
  t.true(a.includes(`data-core-metadata="sha256=${sha(wheel.metadata)}"`));
  t.true(a.includes(`data-dist-info-metadata="sha256=${sha(wheel.metadata)}"`));
  t.true(a.endsWith(`>${wheel.filename}</a>`));
  t.false(a.includes('data-yanked'));
  t.true(b.includes('data-yanked="bad &quot;build&quot; &lt;x&gt;"'));
  t.false(b.includes('metadata'));
  t.true(b.endsWith(`>${sdist.filename}</a>`));
  t.true(html.includes('<meta name="pypi:repository-version" content="1.1">'));
});

test('ETag + If-None-Match ⇒ 304; the ETag changes when the project changes; 301 and 404 like pypi.org', async (t) => {
  const { up, wheel } = await fixture(t);
  const first = await fetch(up.pageUrl('acme-core'), { headers: { Accept: JSON_TYPE } });
  const etag = first.headers.get('etag')!;
  await first.arrayBuffer();
  t.regex(etag, /^"[0-9a-f]{32}"$/);
  const html = await fetch(up.pageUrl('acme-core'));
  t.not(html.headers.get('etag'), etag, 'HTML and JSON are different representations');
  await html.arrayBuffer();
  const again = await fetch(up.pageUrl('acme-core'), { headers: { Accept: JSON_TYPE, 'If-None-Match': etag } });
  t.is(again.status, 304);
  t.is(again.headers.get('etag'), etag);
  t.is(again.headers.get('cache-control'), 'max-age=600, public');
  up.addProject('acme-core', [{ dist: wheel }]);
  const changed = await fetch(up.pageUrl('acme-core'), { headers: { Accept: JSON_TYPE, 'If-None-Match': etag } });
  t.is(changed.status, 200);
  t.not(changed.headers.get('etag'), etag);
  await changed.arrayBuffer();
  t.is(up.count('/simple/acme-core/'), 4);
  t.deepEqual(up.requests.map((r) => r.status), [200, 200, 304, 200]);

  for (const path of ['/simple/Acme.Core/', '/simple/acme-core', '/simple/ACME_core']) {
    const r = await fetch(`${up.origin}${path}`, { redirect: 'manual' });
    t.is(r.status, 301, path);
    t.is(r.headers.get('location'), '/simple/acme-core/');
    await r.arrayBuffer();
  }
  const missing = await fetch(up.pageUrl('nope'));
  t.is(missing.status, 404);
  t.is(missing.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.is(await missing.text(), '404 Not Found');
  up.removeProject('Acme.Core');
  const gone = await fetch(up.pageUrl('acme-core'));
  t.is(gone.status, 404);
  await gone.arrayBuffer();
  const file = await fetch(`${up.origin}/packages/x/y/z/${wheel.filename}`);
  t.is(file.status, 404);
  await file.arrayBuffer();
});

test('separate files host, absolute URLs and query strings', async (t) => {
  const { up, wheel } = await fixture(t, { separateFilesHost: true, queryStrings: true });
  t.not(up.filesOrigin, up.origin);
  const [w] = (await jsonPage(up)).files;
  t.true(w!.url.startsWith(`${up.filesOrigin}/packages/`));
  t.true(w!.url.endsWith(`/${wheel.filename}?token=abc`));
  const res = await fetch(w!.url);
  t.is(sha(await res.arrayBuffer()), wheel.sha256);
  const html = await (await fetch(up.pageUrl('acme-core'))).text();
  t.true(html.includes(`href="${w!.url}#sha256=${wheel.sha256}"`));
  const onIndex = await fetch(`${up.origin}${new URL(w!.url).pathname}`);
  t.is(onIndex.status, 404, 'the index host does not serve files');
  await onIndex.arrayBuffer();
  const file = up.requests.find((r) => r.server === 'files')!;
  t.is(file.path, new URL(w!.url).pathname);
  t.is(file.url, `${file.path}?token=abc`);
  t.is(up.count(w!.url), 2);
  t.is(up.count((r) => r.server === 'files'), 1);
  up.resetCounts();
  t.is(up.requests.length, 0);

  const abs = await fixture(t, { absoluteUrls: true });
  const [a] = (await jsonPage(abs.up)).files;
  t.is(a!.url, abs.up.fileUrl(abs.wheel.filename));
  t.true(a!.url.startsWith(`${abs.up.origin}/packages/`));
});

test('fault: status, per page and global, logged', async (t) => {
  const { up, wheel } = await fixture(t);
  up.pageFaults('Acme_Core', { status: 503 });
  const page = await fetch(up.pageUrl('acme-core'));
  t.is(page.status, 503);
  t.is(page.headers.get('content-type'), 'text/plain; charset=utf-8');
  await page.arrayBuffer();
  const file = await fetch(up.fileUrl(wheel.filename));
  t.is(file.status, 200, 'page faults do not touch files');
  await file.arrayBuffer();
  up.pageFaults('acme-core', {});
  up.faults.status = 502;
  const root = await fetch(up.url);
  t.is(root.status, 502);
  await root.arrayBuffer();
  up.faults = {};
  t.deepEqual(up.requests.map((r) => r.status), [503, 200, 502]);
});

test('fault: latencyMs delays the headers', async (t) => {
  const { up } = await fixture(t);
  up.faults.latencyMs = 300;
  const start = Date.now();
  const res = await fetch(up.url);
  t.true(Date.now() - start >= 280);
  await res.arrayBuffer();
});

test('fault: bytesPerSecond paces the body', async (t) => {
  const { up, wheel } = await fixture(t);
  up.fileFaults(wheel.filename, { bytesPerSecond: 100_000 });
  t.true(wheel.bytes.length > 40_000);
  const start = Date.now();
  const res = await fetch(up.fileUrl(wheel.filename));
  const body = Buffer.from(await res.arrayBuffer());
  const elapsed = Date.now() - start;
  t.is(sha(body), wheel.sha256);
  // ≥ 40 kB at 100 kB/s, minus the last chunk, which is not waited for.
  t.true(elapsed >= 300, `${elapsed} ms`);
});

test('fault: truncateAt sends the full Content-Length and cuts the body', async (t) => {
  const { up, wheel } = await fixture(t);
  up.fileFaults(wheel.filename, { truncateAt: 1000 });
  const raw = await rawGet(up.fileUrl(wheel.filename));
  t.is(raw.status, 200);
  t.is(raw.headers['content-length'], String(wheel.bytes.length));
  t.is(raw.body.length, 1000);
  t.true(raw.aborted);
  t.deepEqual(raw.body, wheel.bytes.subarray(0, 1000));
  await t.throwsAsync(async () => (await fetch(up.fileUrl(wheel.filename))).arrayBuffer());

  up.fileFaults(wheel.filename, { truncateAt: 0, bytesPerSecond: 50_000 });
  const zero = await rawGet(up.fileUrl(wheel.filename));
  t.is(zero.status, 200);
  t.is(zero.body.length, 0);
  t.true(zero.aborted);
  up.fileFaults(wheel.filename, { truncateAt: 20_000, bytesPerSecond: 1_000_000 });
  const paced = await rawGet(up.fileUrl(wheel.filename));
  t.is(paced.body.length, 20_000);
  t.true(paced.aborted);
});

test('fault: corrupt keeps the length, breaks the sha256; global corrupt spares pages', async (t) => {
  const { up, wheel } = await fixture(t);
  up.faults.corrupt = true;
  const res = await fetch(up.fileUrl(wheel.filename));
  const body = Buffer.from(await res.arrayBuffer());
  t.is(body.length, wheel.bytes.length);
  t.not(sha(body), wheel.sha256);
  const meta = Buffer.from(await (await fetch(up.fileUrl(`${wheel.filename}.metadata`))).arrayBuffer());
  t.is(meta.length, wheel.metadata.length);
  t.notDeepEqual(meta, wheel.metadata);
  t.is((await jsonPage(up)).name, 'acme-core');
  up.faults = {};
  up.fileFaults(`${wheel.filename}.metadata`, { corrupt: true });
  t.is(sha(await (await fetch(up.fileUrl(wheel.filename))).arrayBuffer()), wheel.sha256);
  t.not(sha(await (await fetch(up.fileUrl(`${wheel.filename}.metadata`))).arrayBuffer()), sha(wheel.metadata));
  up.pageFaults('acme-core', { corrupt: true });
  await t.throwsAsync(jsonPage(up), { instanceOf: SyntaxError });
});

test('fault: refuse destroys connections; stop()/restart() take the same port down and up', async (t) => {
  const { up } = await fixture(t);
  up.faults.refuse = true;
  await t.throwsAsync(fetch(up.url));
  t.true(up.refusedConnections >= 1);
  up.faults.refuse = false;
  up.pageFaults('acme-core', { refuse: true });
  await t.throwsAsync(fetch(up.pageUrl('acme-core')));
  t.is(up.requests.at(-1)!.status, 0);
  up.pageFaults('acme-core', {});

  const url = up.url;
  await up.stop();
  await up.stop();
  await t.throwsAsync(fetch(url));
  await up.restart();
  t.is(up.url, url);
  const res = await fetch(url);
  t.is(res.status, 200);
  await res.arrayBuffer();
});

test('stop() destroys connections in flight; stop("files") leaves the index up', async (t) => {
  const { up, wheel } = await fixture(t, { separateFilesHost: true });
  up.fileFaults(wheel.filename, { bytesPerSecond: 10_000 });
  // Stop once the download is under way (headers in, body throttled), not after a guessed delay.
  let inFlight!: () => void;
  const started = new Promise<void>((resolve) => (inFlight = resolve));
  const pending = rawGet(up.fileUrl(wheel.filename), inFlight);
  await Promise.race([started, pending]);
  await up.stop('files');
  const cut = await pending;
  t.true(cut.aborted);
  t.true(cut.body.length < wheel.bytes.length);
  await t.throwsAsync(fetch(up.fileUrl(wheel.filename)));
  const page = await fetch(up.pageUrl('acme-core'));
  t.is(page.status, 200);
  await page.arrayBuffer();
  await up.restart('files');
  up.fileFaults(wheel.filename, {});
  t.is(sha(await (await fetch(up.fileUrl(wheel.filename))).arrayBuffer()), wheel.sha256);
});

test('ranges: ignored by default, served (206, suffix, 416) with "support", refused with "refuse"; body bytes counted', async (t) => {
  const get = (up: FakeUpstream, wheel: BuiltDist, range: string) => fetch(up.fileUrl(wheel.filename), { headers: { range } });
  const plain = await fixture(t);
  const ignored = await get(plain.up, plain.wheel, 'bytes=0-9');
  t.is(ignored.status, 200);
  t.is(Buffer.from(await ignored.arrayBuffer()).length, plain.wheel.bytes.length);

  const { up, wheel } = await fixture(t, { ranges: 'support' });
  const n = wheel.bytes.length;
  const suffix = await get(up, wheel, 'bytes=-100');
  t.is(suffix.status, 206);
  t.is(suffix.headers.get('content-range'), `bytes ${n - 100}-${n - 1}/${n}`);
  t.deepEqual(Buffer.from(await suffix.arrayBuffer()), wheel.bytes.subarray(n - 100));
  const middle = await get(up, wheel, 'bytes=10-19');
  t.deepEqual(Buffer.from(await middle.arrayBuffer()), wheel.bytes.subarray(10, 20));
  t.is((await get(up, wheel, `bytes=${n}-`)).status, 416);
  t.deepEqual(up.requests.map((r) => r.bytesSent), [100, 10, 4]);

  const refusing = await fixture(t, { ranges: 'refuse' });
  t.is((await get(refusing.up, refusing.wheel, 'bytes=-100')).status, 416);
});
