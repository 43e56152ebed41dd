import { createHash } from 'node:crypto';
import test from 'ava';
import { buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

async function withWheel(t: Parameters<typeof startTestServer>[0]): Promise<{ s: TestServer; wheel: BuiltDist; url: string }> {
  const s = await startTestServer(t);
  const wheel = await buildWheel({ name: 'acme-data', version: '1.0', padBytes: 100_000 });
  const res = await upload(`${s.url}/internal/`, wheel, 'acme-data', '1.0');
  if (res.status !== 200) throw new Error(await res.text());
  return { s, wheel, url: `${s.url}/internal/files/${wheel.sha256}/${wheel.filename}` };
}

test('GET: whole file, sha256 ETag, immutable caching, no content encoding', async (t) => {
  const { wheel, url } = await withWheel(t);
  const res = await fetch(url, { headers: { 'Accept-Encoding': 'gzip' } });
  t.is(res.status, 200);
  t.is(res.headers.get('etag'), `"${wheel.sha256}"`);
  t.is(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  t.is(res.headers.get('accept-ranges'), 'bytes');
  t.is(res.headers.get('content-length'), String(wheel.bytes.length));
  t.is(res.headers.get('content-encoding'), null);
  t.true(Buffer.from(await res.arrayBuffer()).equals(wheel.bytes));
});

test('HEAD: headers and length, no body (uv and pip fast-deps probe with it)', async (t) => {
  const { wheel, url } = await withWheel(t);
  const res = await fetch(url, { method: 'HEAD' });
  t.is(res.status, 200);
  t.is(res.headers.get('content-length'), String(wheel.bytes.length));
  t.is(res.headers.get('accept-ranges'), 'bytes');
  t.is((await res.arrayBuffer()).byteLength, 0);
});

test('single ranges: a-b, a-, and the suffix -N that poetry and uv use to read the zip directory', async (t) => {
  const { wheel, url } = await withWheel(t);
  const n = wheel.bytes.length;
  const cases: [string, number, number][] = [
    ['bytes=0-99', 0, 99],
    ['bytes=1000-', 1000, n - 1],
    ['bytes=-22', n - 22, n - 1],
    ['bytes=-999999999', 0, n - 1],
    ['bytes=500-999999999', 500, n - 1],
  ];
  for (const [range, start, end] of cases) {
    const res = await fetch(url, { headers: { Range: range } });
    t.is(res.status, 206, range);
    t.is(res.headers.get('content-range'), `bytes ${start}-${end}/${n}`, range);
    t.is(res.headers.get('content-length'), String(end - start + 1), range);
    t.true(Buffer.from(await res.arrayBuffer()).equals(wheel.bytes.subarray(start, end + 1)), range);
  }
});

test('an unsatisfiable range is 416 with the size; a malformed one gets the whole file', async (t) => {
  const { wheel, url } = await withWheel(t);
  const bad = await fetch(url, { headers: { Range: `bytes=${wheel.bytes.length + 10}-` } });
  t.is(bad.status, 416);
  t.is(bad.headers.get('content-range'), `bytes */${wheel.bytes.length}`);
  const odd = await fetch(url, { headers: { Range: 'lines=1-2' } });
  t.is(odd.status, 200);
  t.is((await odd.arrayBuffer()).byteLength, wheel.bytes.length);
});

test('If-Range: a matching ETag resumes with 206, a stale one restarts with 200 (pip >= 25.2 resume)', async (t) => {
  const { wheel, url } = await withWheel(t);
  const resume = await fetch(url, { headers: { Range: 'bytes=100-', 'If-Range': `"${wheel.sha256}"` } });
  t.is(resume.status, 206);
  t.true(Buffer.from(await resume.arrayBuffer()).equals(wheel.bytes.subarray(100)));
  const stale = await fetch(url, { headers: { Range: 'bytes=100-', 'If-Range': '"something-else"' } });
  t.is(stale.status, 200);
  t.is((await stale.arrayBuffer()).byteLength, wheel.bytes.length);
});

test('If-None-Match with the sha256 answers 304', async (t) => {
  const { wheel, url } = await withWheel(t);
  const res = await fetch(url, { headers: { 'If-None-Match': `"${wheel.sha256}"` } });
  t.is(res.status, 304);
});

test('<file>.metadata serves the exact METADATA whose sha256 the index advertises (PEP 658/714)', async (t) => {
  const { s, wheel, url } = await withWheel(t);
  const res = await fetch(`${url}.metadata`);
  t.is(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  t.true(body.equals(wheel.metadata));
  const page = (await (await fetch(`${s.url}/internal/simple/acme-data/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).json()) as {
    files: { 'core-metadata': { sha256: string } }[];
  };
  t.is(page.files[0]!['core-metadata'].sha256, createHash('sha256').update(body).digest('hex'));
  t.is((await fetch(`${url}.metadata`, { method: 'HEAD' })).headers.get('content-length'), String(body.length));
});

test('a file is only served under its own sha256 and repository', async (t) => {
  const { s, wheel } = await withWheel(t);
  t.is((await fetch(`${s.url}/internal/files/${'0'.repeat(64)}/${wheel.filename}`)).status, 404);
  t.is((await fetch(`${s.url}/internal/files/${wheel.sha256}/other-1.0-py3-none-any.whl`)).status, 404);
  t.is((await fetch(`${s.url}/internal/files/${wheel.sha256}/..%2F..%2Fpydepot.db`)).status, 404);
});
