/**
 * The BlobStore contract, run against both implementations: the storage
 * folder (FsBlobStore) and an S3 bucket (S3BlobStore on s3rver, on loopback).
 * Whatever the layers above rely on (digests, temp blobs and their readers,
 * ranges, idempotent commits, deletes, cleaning up) must hold for both. The
 * S3-only tests after the contract check how the bucket is used: one PUT
 * below the part size, a multipart upload above it, ranged GETs, both
 * addressing styles, and failures that name the bucket.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { buffer as readAll } from 'node:stream/consumers';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { PayloadTooLarge, StorageUnavailable } from '../../src/errors.ts';
import { FsBlobStore } from '../../src/storage/blob-fs.ts';
import { S3BlobStore } from '../../src/storage/blob-s3.ts';
import type { BlobStore, TempBlob } from '../../src/storage/types.ts';
import { startS3, type FakeS3, type S3Request } from '../helpers/s3.ts';
import { tempDir } from '../helpers/server.ts';
import { eventually, storageCounts } from '../helpers/storage.ts';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

let s3: FakeS3;
test.before(async () => {
  s3 = await startS3();
});
test.after.always(async () => {
  await s3?.stop();
});

interface Subject {
  blobs: BlobStore;
  /** The storage folder (its tmp/ holds temp blobs for both stores). */
  root: string;
  /** S3 requests made for this store's keys (tests run concurrently on one s3rver). */
  calls: () => S3Request[];
}

let prefixes = 0;

/** The requests for keys under `prefix` (path-style or virtual-host). */
function callsFor(prefix: string): () => S3Request[] {
  return () => s3.requests.filter((r) => r.url.startsWith(`/${s3.bucket}/${prefix}/`) || r.url.startsWith(`/${prefix}/`));
}

const KINDS: Record<string, (t: ExecutionContext) => Promise<Subject>> = {
  fs: async (t) => {
    const root = await tempDir(t);
    const blobs = new FsBlobStore(root);
    await blobs.init();
    return { blobs, root, calls: () => [] };
  },
  s3: async (t) => {
    const root = await tempDir(t);
    const prefix = `contract-${++prefixes}`;
    const blobs = new S3BlobStore(root, s3.blobs(prefix));
    await blobs.init();
    t.teardown(() => blobs.close());
    return { blobs, root, calls: callsFor(prefix) };
  },
};

async function put(blobs: BlobStore, bytes: Buffer): Promise<TempBlob> {
  const writer = blobs.createTemp();
  writer.stream.end(bytes);
  return writer.finished();
}

async function stored(blobs: BlobStore, bytes: Buffer): Promise<string> {
  const temp = await put(blobs, bytes);
  await blobs.commit(temp);
  return temp.sha256;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

for (const [kind, make] of Object.entries(KINDS)) {
  test(`${kind}: a committed blob is stored under its sha256, with its digests, size and bytes`, async (t) => {
    const { blobs, root } = await make(t);
    const bytes = randomBytes(300_000);
    const temp = await put(blobs, bytes);
    t.is(temp.size, bytes.length);
    t.is(temp.sha256, sha256(bytes));
    t.is(temp.md5, createHash('md5').update(bytes).digest('hex'));
    t.regex(temp.blake2b256, /^[0-9a-f]{64}$/);
    t.is(await blobs.stat(temp.sha256), null, 'not visible before the commit');
    await blobs.commit(temp);
    const info = await blobs.stat(temp.sha256);
    t.is(info?.size, bytes.length);
    t.true(info!.mtime instanceof Date && Math.abs(info!.mtime.getTime() - Date.now()) < 60_000);
    t.true((await readAll(blobs.open(temp.sha256))).equals(bytes));
    t.is((await storageCounts(root)).tmp, 0, 'the commit took the temp file away');
  });

  test(`${kind}: ranged opens return exactly the bytes asked for`, async (t) => {
    const { blobs } = await make(t);
    const bytes = randomBytes(100_000);
    const sha = await stored(blobs, bytes);
    for (const [start, end] of [[0, 0], [0, 99_999], [1, 10], [50_000, 99_999], [99_999, 99_999], [12_345, 67_890]] as const) {
      t.true((await readAll(blobs.open(sha, { start, end }))).equals(bytes.subarray(start, end + 1)), `${start}-${end}`);
    }
  });

  test(`${kind}: openShared gives each of several clients at once the whole blob, small or large, and keeps nothing`, async (t) => {
    const { blobs, root } = await make(t);
    for (const bytes of [randomBytes(1000), randomBytes(2 * MiB + 3)]) {
      const sha = await stored(blobs, bytes);
      const got = await Promise.all([1, 2, 3].map(() => readAll(blobs.openShared(sha, bytes.length))));
      for (const g of got) t.true(g.equals(bytes));
    }
    // (Removed just after the last client's stream closed.)
    await eventually(async () => (await storageCounts(root)).tmp === 0, 'no scratch file is left');
    t.pass();
  });

  test(`${kind}: offloadKey is the blob's key under <storage>/blobs/ on a filesystem, null on S3 (streamed instead)`, async (t) => {
    const { blobs, root } = await make(t);
    const bytes = randomBytes(1000);
    const sha = await stored(blobs, bytes);
    const key = blobs.offloadKey(sha);
    if (kind === 's3') return void t.is(key, null);
    t.is(key, `sha256/${sha.slice(0, 2)}/${sha.slice(2, 4)}/${sha}`);
    t.true((await readFile(join(root, 'blobs', key!))).equals(bytes));
    t.throws(() => blobs.offloadKey('../../etc/passwd'), { message: /not a sha256/ });
  });

  test(`${kind}: an empty file is a blob too`, async (t) => {
    const { blobs } = await make(t);
    const sha = await stored(blobs, Buffer.alloc(0));
    t.is(sha, sha256(Buffer.alloc(0)));
    t.is((await blobs.stat(sha))?.size, 0);
    t.is((await readAll(blobs.open(sha))).length, 0);
  });

  test(`${kind}: a temp blob is read at random before it is committed (upload inspection)`, async (t) => {
    const { blobs } = await make(t);
    const bytes = randomBytes(70_000);
    const temp = await put(blobs, bytes);
    const reader = await blobs.openTemp(temp);
    t.true((await reader.read(60_000, 100)).equals(bytes.subarray(60_000, 60_100)));
    t.true((await reader.read(69_990, 100)).equals(bytes.subarray(69_990)), 'fewer bytes where the file ends');
    t.is((await reader.read(80_000, 10)).length, 0);
    t.true((await readAll(reader.stream({ start: 5, end: 9 }))).equals(bytes.subarray(5, 10)));
    await reader.close();
    await reader.close();
    t.is(await blobs.stat(temp.sha256), null);
    await blobs.discard(temp);
  });

  test(`${kind}: a discarded temp blob is gone and never becomes visible`, async (t) => {
    const { blobs, root } = await make(t);
    const temp = await put(blobs, randomBytes(1000));
    t.is((await storageCounts(root)).tmp, 1);
    await blobs.discard(temp);
    await blobs.discard(temp);
    t.is((await storageCounts(root)).tmp, 0);
    await t.throwsAsync(blobs.openTemp(temp));
    t.is(await blobs.stat(temp.sha256), null);
  });

  test(`${kind}: committing the same bytes again is a no-op that leaves no temp file`, async (t) => {
    const { blobs, root } = await make(t);
    const bytes = randomBytes(20_000);
    const [a, b] = await Promise.all([put(blobs, bytes), put(blobs, bytes)]);
    await blobs.commit(a);
    const first = await blobs.stat(a.sha256);
    await blobs.commit(b);
    t.is((await blobs.stat(b.sha256))?.size, first?.size);
    t.true((await readAll(blobs.open(a.sha256))).equals(bytes));
    t.is((await storageCounts(root)).tmp, 0);
  });

  test(`${kind}: two commits of the same bytes at once both succeed`, async (t) => {
    const { blobs, root } = await make(t);
    const bytes = randomBytes(6 * MiB);
    const temps = await Promise.all([put(blobs, bytes), put(blobs, bytes), put(blobs, bytes)]);
    await Promise.all(temps.map((temp) => blobs.commit(temp)));
    t.true((await readAll(blobs.open(temps[0]!.sha256))).equals(bytes));
    t.is((await storageCounts(root)).tmp, 0);
  });

  test(`${kind}: delete removes a blob; deleting a missing one is a no-op`, async (t) => {
    const { blobs } = await make(t);
    const sha = await stored(blobs, randomBytes(500));
    await blobs.delete(sha);
    t.is(await blobs.stat(sha), null);
    await blobs.delete(sha);
    await t.throwsAsync(readAll(blobs.open(sha)));
  });

  test(`${kind}: an unknown sha256 has no stat, and a malformed one is refused`, async (t) => {
    const { blobs } = await make(t);
    t.is(await blobs.stat('0'.repeat(64)), null);
    await t.throwsAsync(() => blobs.stat('../../etc/passwd'), { message: /not a sha256/ });
  });

  test(`${kind}: an aborted write leaves nothing, and a write past maxBytes fails with PayloadTooLarge`, async (t) => {
    const { blobs, root } = await make(t);
    const writer = blobs.createTemp();
    writer.stream.write(randomBytes(1000));
    await writer.abort();
    await writer.abort();
    await t.throwsAsync(writer.finished());
    const small = blobs.createTemp({ maxBytes: 10, tooLargeMessage: 'too big' });
    small.stream.end(randomBytes(11));
    await t.throwsAsync(small.finished(), { instanceOf: PayloadTooLarge, message: 'too big' });
    await small.abort();
    t.is((await storageCounts(root)).tmp, 0);
  });

  test(`${kind}: cleanTemp removes what an interrupted transfer left`, async (t) => {
    const { blobs, root } = await make(t);
    await put(blobs, randomBytes(100));
    await put(blobs, randomBytes(100));
    t.is(await blobs.cleanTemp(), 2);
    t.is((await storageCounts(root)).tmp, 0);
    t.is(await blobs.cleanTemp(), 0);
  });

  test(`${kind}: a writer's reader follows the bytes as they are written and across the commit`, async (t) => {
    const { blobs } = await make(t);
    const bytes = randomBytes(200_000);
    const writer = blobs.createTemp();
    const early = writer.reader();
    const late = writer.reader();
    const progress: number[] = [];
    writer.onProgress((n) => progress.push(n));
    await new Promise<void>((resolve, reject) => writer.stream.write(bytes.subarray(0, 100_000), (err) => (err ? reject(err) : resolve())));
    t.is(writer.bytesWritten, 100_000);
    t.true((await early.read(0, 1000)).equals(bytes.subarray(0, 1000)), 'reads what is written so far');
    writer.stream.end(bytes.subarray(100_000));
    const temp = await writer.finished();
    t.deepEqual(progress.at(-1), 200_000);
    await blobs.commit(temp);
    // One reader was opened before the commit, one reads for the first time after it.
    t.true((await early.read(150_000, 50_000)).equals(bytes.subarray(150_000)));
    t.true((await late.read(199_000, 5000)).equals(bytes.subarray(199_000)));
    t.true((await readAll(late.stream({ start: 10, end: 19 }))).equals(bytes.subarray(10, 20)));
    await early.close();
    await late.close();
  });

  test(`${kind}: a file of several parts is stored whole (multipart above the part size on S3)`, async (t) => {
    const { blobs, calls: callsNow } = await make(t);
    const bytes = randomBytes(2 * PART + 12_345);
    const writer = blobs.createTemp();
    // Streamed in small pieces, as an upload arrives.
    for (let i = 0; i < bytes.length; i += 64 * 1024) writer.stream.write(bytes.subarray(i, i + 64 * 1024));
    writer.stream.end();
    const temp = await writer.finished();
    await blobs.commit(temp);
    t.true((await readAll(blobs.open(temp.sha256))).equals(bytes));
    const tail = bytes.length - 10;
    t.true((await readAll(blobs.open(temp.sha256, { start: tail, end: bytes.length - 1 }))).equals(bytes.subarray(tail)));
    if (kind === 's3') {
      const calls = callsNow();
      t.is(calls.filter((r) => r.method === 'POST' && /[?&]uploads(=|&|$)/.test(r.url)).length, 1, 'CreateMultipartUpload');
      t.is(calls.filter((r) => r.method === 'PUT' && /[?&]partNumber=/.test(r.url)).length, 3, 'three UploadPart calls');
      t.is(calls.filter((r) => r.method === 'POST' && /[?&]uploadId=/.test(r.url)).length, 1, 'CompleteMultipartUpload');
      t.is(calls.filter((r) => r.method === 'PUT' && !r.url.includes('partNumber')).length, 0, 'no single PUT');
    }
  });

  test(`${kind}: list() yields every stored blob with its size and mtime, and nothing else`, async (t) => {
    const { blobs } = await make(t);
    const a = randomBytes(1000);
    const b = randomBytes(2000);
    const [shaA, shaB] = [await stored(blobs, a), await stored(blobs, b)];
    await put(blobs, randomBytes(10)); // a temp blob is not a stored one
    const listed = [];
    for await (const blob of blobs.list()) listed.push(blob);
    t.deepEqual(listed.map((x) => [x.sha256, x.size]).sort(), [[shaA, 1000], [shaB, 2000]].sort());
    t.true(listed.every((x) => Math.abs(x.mtime.getTime() - Date.now()) < 60_000));
  });

  test(`${kind}: committing bytes already stored renews the blob's mtime (gc spares young blobs)`, async (t) => {
    const { blobs } = await make(t);
    const bytes = randomBytes(3000);
    const sha = await stored(blobs, bytes);
    const first = (await blobs.stat(sha))!.mtime.getTime();
    // S3 keeps LastModified to the second.
    await new Promise((r) => setTimeout(r, 1100));
    await blobs.commit(await put(blobs, bytes));
    const renewed = (await blobs.stat(sha))!;
    t.true(renewed.mtime.getTime() > first, `${renewed.mtime.toISOString()} after ${new Date(first).toISOString()}`);
    t.is(renewed.size, bytes.length);
    t.true((await readAll(blobs.open(sha))).equals(bytes), 'the bytes are untouched');
  });

  test(`${kind}: quarantine() takes a blob out of the store; false for a missing one`, async (t) => {
    const { blobs } = await make(t);
    const sha = await stored(blobs, randomBytes(500));
    t.true(await blobs.quarantine(sha));
    t.is(await blobs.stat(sha), null);
    const listed = [];
    for await (const blob of blobs.list()) listed.push(blob.sha256);
    t.deepEqual(listed, []);
    t.false(await blobs.quarantine(sha));
  });

  test(`${kind}: removeStaleTemp() removes temp files last written before the cutoff, or counts them (dry run)`, async (t) => {
    const { blobs, root } = await make(t);
    await put(blobs, randomBytes(100));
    await put(blobs, randomBytes(200));
    t.deepEqual(await blobs.removeStaleTemp(new Date(Date.now() - 60_000)), { count: 0, bytes: 0 }, 'fresh ones are kept');
    const later = new Date(Date.now() + 60_000);
    t.deepEqual(await blobs.removeStaleTemp(later, { dryRun: true }), { count: 2, bytes: 300 });
    t.is((await storageCounts(root)).tmp, 2);
    t.deepEqual(await blobs.removeStaleTemp(later), { count: 2, bytes: 300 });
    t.is((await storageCounts(root)).tmp, 0);
  });

  test(`${kind}: space() is the disk's for the folder, unknown (null) for a bucket`, async (t) => {
    const { blobs } = await make(t);
    const space = await blobs.space();
    if (kind === 'fs') t.true(space !== null && space.total > 0 && space.free >= 0);
    else t.is(space, null);
  });

  test(`${kind}: check() passes on a usable store`, async (t) => {
    const { blobs } = await make(t);
    await t.notThrowsAsync(blobs.check());
  });
}

test('s3: the keys are <prefix>/sha256/<aa>/<bb>/<sha256>, one PUT below the part size, ranged GETs for ranges', async (t) => {
  const root = await tempDir(t);
  const blobs = new S3BlobStore(root, s3.blobs('team/depot'));
  await blobs.init();
  t.teardown(() => blobs.close());
  const mine = callsFor('team/depot');
  const bytes = randomBytes(PART - 1);
  const sha = await stored(blobs, bytes);
  const key = `/${s3.bucket}/team/depot/sha256/${sha.slice(0, 2)}/${sha.slice(2, 4)}/${sha}`;
  const calls = mine();
  t.deepEqual(calls.map((r) => r.method), ['HEAD', 'PUT'], 'HeadObject (is it there?), then one PutObject');
  t.true(calls[1]!.url.startsWith(`${key}?`) || calls[1]!.url === key, calls[1]!.url);
  t.is(calls[1]!.host, `127.0.0.1:${s3.port}`, 'path-style: the bucket is in the path');

  t.true((await readAll(blobs.open(sha, { start: 100, end: 199 }))).equals(bytes.subarray(100, 200)));
  const get = mine().find((r) => r.method === 'GET');
  t.is(get?.range, 'bytes=100-199', 'the range is asked of S3, not cut out of the whole object');

  const again = mine().length;
  await blobs.commit(await put(blobs, bytes));
  t.deepEqual(mine().slice(again).map((r) => r.method), ['HEAD', 'PUT'], 'an object already there is not uploaded again, only renewed');
  const renew = mine().at(-1)!;
  t.true(renew.url.startsWith(key) && renew.copySource === `${s3.bucket}${key.slice(s3.bucket.length + 1)}`, `renewed by a copy onto itself: ${renew.copySource}`);

  const q = s3.requests.length;
  t.true(await blobs.quarantine(sha));
  const moved = s3.requests.slice(q);
  t.true(moved.some((r) => r.method === 'PUT' && r.url.startsWith(`/${s3.bucket}/team/depot/quarantine/${sha}.`) && r.copySource !== undefined), 'copied under quarantine/');
  t.true(moved.some((r) => r.method === 'DELETE' && r.url.startsWith(key)), 'then deleted');
});

test('s3: virtual-host style puts the bucket in the host name', async (t) => {
  const root = await tempDir(t);
  // <bucket>.s3.localhost does not resolve here: the test's agent sends every name to loopback.
  const httpAgent = new Agent({
    keepAlive: true,
    lookup: ((_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) => {
      if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
      else cb(null, '127.0.0.1', 4);
    }) as never,
  });
  t.teardown(() => httpAgent.destroy());
  const blobs = new S3BlobStore(root, s3.blobs('vhost', { endpoint: `http://s3.localhost:${s3.port}`, forcePathStyle: false }), {
    requestHandler: { httpAgent },
  });
  await blobs.init();
  t.teardown(() => blobs.close());
  const bytes = randomBytes(1000);
  const sha = await stored(blobs, bytes);
  t.true((await readAll(blobs.open(sha, { start: 1, end: 2 }))).equals(bytes.subarray(1, 3)));
  const calls = callsFor('vhost')();
  t.is(calls.length, 3, 'HeadObject, PutObject, GetObject');
  for (const r of calls) {
    t.is(r.host, `${s3.bucket}.s3.localhost:${s3.port}`);
    t.false(r.url.startsWith(`/${s3.bucket}/`), r.url);
  }
});

test('s3: a missing bucket or an endpoint that does not answer fails start-up and readiness, naming the bucket and endpoint', async (t) => {
  const root = await tempDir(t);
  const missing = new S3BlobStore(root, s3.blobs(undefined, { bucket: 'no-such-bucket' }));
  t.teardown(() => missing.close());
  await t.throwsAsync(missing.init(), { message: `S3 bucket 'no-such-bucket' at ${s3.endpoint}: no such bucket` });

  const down = await startS3();
  const blobs = new S3BlobStore(root, down.blobs(undefined, { partSize: PART }), { maxAttempts: 1 });
  t.teardown(() => blobs.close());
  await blobs.init();
  const temp = await put(blobs, randomBytes(1000));
  await down.stop();
  const err = await t.throwsAsync(blobs.check());
  t.true(err.message.startsWith(`S3 bucket '${down.bucket}' at ${down.endpoint}: `), err.message);
  t.regex(err.message, /ECONNREFUSED/);
  // Requests that need the bucket answer 503 (nothing stored); the cause names it for the log.
  const commit = await t.throwsAsync(blobs.commit(temp), { instanceOf: StorageUnavailable });
  t.is(commit.status, 503);
  t.regex(String((commit.cause as Error).message), new RegExp(`in s3://${down.bucket}/.* at ${down.endpoint}: .*ECONNREFUSED`));
  await t.throwsAsync(blobs.stat(temp.sha256), { instanceOf: StorageUnavailable });
  await t.throwsAsync(readAll(blobs.open(temp.sha256)), { instanceOf: StorageUnavailable });
  // The temp file is still there for the caller to discard.
  await blobs.discard(temp);
});
