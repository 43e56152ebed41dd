/**
 * A depot whose file contents live in an S3 bucket (`blobs: {type: s3}`),
 * against s3rver on loopback: uploads, local and proxied downloads (ranges
 * too) go through the bucket, the storage folder keeps no blob, a restart
 * serves the same files, and a bucket that stops answering gives 503s and a
 * not-ready probe, never a wrong answer.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { buildWheel } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { startS3, type FakeS3 } from '../helpers/s3.ts';
import { LOCAL_ONLY, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { storageCounts } from '../helpers/storage.ts';
import { upload } from '../helpers/upload.ts';

const MiB = 1024 * 1024;

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(url, { headers });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

function keyPath(s3: FakeS3, prefix: string, sha: string): string {
  return `/${s3.bucket}/${prefix}/sha256/${sha.slice(0, 2)}/${sha.slice(2, 4)}/${sha}`;
}

async function restart(t: ExecutionContext, s: TestServer, raw: Record<string, unknown>): Promise<TestServer> {
  await s.stop(1000);
  return startTestServer(t, raw, s.storage);
}

test('an upload goes to the bucket (multipart above the part size), is served whole and by range, and after a restart', async (t) => {
  const s3 = await startS3(t);
  const raw = { ...LOCAL_ONLY, blobs: s3.blobs('depot') };
  let s = await startTestServer(t, raw);
  t.true(s.logs.some((l) => l.msg === 'pydepot listening' && String(l.blobs).startsWith(`s3://${s3.bucket}/depot at ${s3.endpoint}`)));
  const wheel = await buildWheel({ name: 'acme-data', version: '1.0', padBytes: 6 * MiB });
  const res = await upload(`${s.url}/internal/`, wheel, 'acme-data', '1.0');
  t.is(res.status, 200, await res.text());
  t.deepEqual(await storageCounts(s.storage), { blobs: 0, tmp: 0 }, 'nothing kept on local disk');
  const key = keyPath(s3, 'depot', wheel.sha256);
  t.is(s3.requests.filter((r) => r.method === 'POST' && r.url.startsWith(`${key}?uploads`)).length, 1, 'a multipart upload');

  const path = `/internal/files/${wheel.sha256}/${wheel.filename}`;
  let url = `${s.url}${path}`;
  const whole = await get(url);
  t.is(whole.status, 200);
  t.is(whole.headers.get('content-length'), String(wheel.bytes.length));
  t.true(whole.bytes.equals(wheel.bytes));
  const n = wheel.bytes.length;
  for (const [range, start, end] of [['bytes=0-0', 0, 0], ['bytes=100-199', 100, 199], ['bytes=-22', n - 22, n - 1], [`bytes=${5 * MiB}-`, 5 * MiB, n - 1]] as const) {
    const part = await get(url, { Range: range });
    t.is(part.status, 206, range);
    t.is(part.headers.get('content-range'), `bytes ${start}-${end}/${n}`, range);
    t.true(part.bytes.equals(wheel.bytes.subarray(start, end + 1)), range);
  }
  const ranged = s3.requests.filter((r) => r.method === 'GET' && r.url.startsWith(key)).map((r) => r.range);
  t.true(ranged.includes('bytes=100-199'), 'ranges are asked of the bucket');

  s = await restart(t, s, raw);
  url = `${s.url}${path}`;
  const page = await (await fetch(`${s.url}/internal/simple/acme-data/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).json() as { files: { filename: string }[] };
  t.deepEqual(page.files.map((f) => f.filename), [wheel.filename]);
  t.true((await get(url)).bytes.equals(wheel.bytes));
  t.true((await get(url, { Range: 'bytes=10-19' })).bytes.equals(wheel.bytes.subarray(10, 20)));

  // An identical re-upload finds the object there: its bytes are not sent
  // again, the object is only renewed (copied onto itself, for gc's grace period).
  const writes = () => s3.requests.filter((r) => r.method !== 'GET' && r.method !== 'HEAD' && r.url.startsWith(key));
  const before = writes().length;
  const again = await upload(`${s.url}/internal/`, wheel, 'acme-data', '1.0');
  t.is(again.status, 200);
  t.deepEqual(writes().slice(before).map((r) => [r.method, r.copySource !== undefined]), [['PUT', true]]);
});

test("a remote's file is cached in the bucket once for a herd, served by range, and from the bucket after a restart (offline)", async (t) => {
  const s3 = await startS3(t);
  const up = await FakeUpstream.start(t);
  const wheel = await buildWheel({ name: 'requests', version: '2.32.0', padBytes: 3 * MiB });
  up.addProject('requests', [{ dist: wheel }]);
  const remote = { type: 'remote', url: up.url, indexTtl: 600, timeout: 5 };
  const raw = { repositories: { pypi: remote }, blobs: s3.blobs('cache') };
  let s = await startTestServer(t, raw);
  t.is((await fetch(`${s.url}/pypi/simple/requests/`)).status, 200);
  const path = `/pypi/files/${wheel.sha256}/${wheel.filename}`;
  const url = `${s.url}${path}`;
  const herd = await Promise.all(Array.from({ length: 10 }, () => get(url)));
  for (const r of herd) {
    t.is(r.status, 200);
    t.is(createHash('sha256').update(r.bytes).digest('hex'), wheel.sha256);
  }
  t.is(up.count((r) => r.path.endsWith(wheel.filename)), 1, 'one upstream download for the herd');
  t.deepEqual(await storageCounts(s.storage), { blobs: 0, tmp: 0 });
  const key = keyPath(s3, 'cache', wheel.sha256);
  t.true(s3.requests.some((r) => r.method === 'PUT' && r.url.startsWith(key)), 'committed to the bucket');

  const part = await get(url, { Range: 'bytes=1000-1999' });
  t.is(part.status, 206);
  t.true(part.bytes.equals(wheel.bytes.subarray(1000, 2000)));

  await up.stop();
  s = await restart(t, s, { ...raw, repositories: { pypi: { ...remote, offline: true } } });
  const after = await get(`${s.url}${path}`);
  t.is(after.status, 200);
  t.true(after.bytes.equals(wheel.bytes));
  t.is(up.count((r) => r.path.endsWith(wheel.filename)), 1);
});

test('a bucket that stops answering: uploads get 503 with nothing kept, /-/ready names the bucket; it recovers without a restart', async (t) => {
  const s3 = await startS3(t);
  const raw = { ...LOCAL_ONLY, blobs: s3.blobs('down') };
  const storage = await tempDir(t);
  const s = await startTestServer(t, raw, storage);
  t.is((await fetch(`${s.url}/-/ready`)).status, 200);
  const first = await buildWheel({ name: 'acme-data', version: '1.0' });
  t.is((await upload(`${s.url}/internal/`, first, 'acme-data', '1.0')).status, 200);

  // The same port refuses connections while s3rver is away.
  await s3.pause();
  const wheel = await buildWheel({ name: 'acme-data', version: '2.0' });
  const res = await upload(`${s.url}/internal/`, wheel, 'acme-data', '2.0');
  t.is(res.status, 503);
  t.regex(res.statusText, /file storage is unavailable; nothing was stored/);
  t.false(res.statusText.includes('127.0.0.1'), 'the client is not told where the bytes live');
  t.deepEqual(await storageCounts(storage), { blobs: 0, tmp: 0 });
  const failed = s.logs.find((l) => l.msg === 'request failed');
  t.regex(JSON.stringify(failed?.err), /ECONNREFUSED/, 'the log says what failed');
  const page = await (await fetch(`${s.url}/internal/simple/acme-data/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).json() as { files: unknown[] };
  t.is(page.files.length, 1, 'no row for the file that was not stored');

  const ready = await fetch(`${s.url}/-/ready`);
  t.is(ready.status, 503);
  const body = await ready.json() as { checks: { storage: string } };
  t.true(body.checks.storage.startsWith(`S3 bucket '${s3.bucket}' at ${s3.endpoint}: `), body.checks.storage);

  const download = await fetch(`${s.url}/internal/files/${first.sha256}/${first.filename}`);
  t.is(download.status, 503, 'a download it cannot serve is a 503, never a short file');

  await s3.resume();
  t.is((await fetch(`${s.url}/-/ready`)).status, 200);
  t.is((await upload(`${s.url}/internal/`, wheel, 'acme-data', '2.0')).status, 200);
  t.true((await get(`${s.url}/internal/files/${first.sha256}/${first.filename}`)).bytes.equals(first.bytes));
});
