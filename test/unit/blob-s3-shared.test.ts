/**
 * Shared reads of an S3 blob (openShared): the clients of one process that
 * read a whole object at about the same time share a GET of it: the first
 * reads the bucket itself, the others share one GET followed through a
 * scratch file, each at its own pace. The replicas' herd: a replica that
 * waited for another's download reads the committed object once for all of
 * its clients, not once per client.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { openDatabase } from '../../src/storage/db.ts';
import { S3BlobStore } from '../../src/storage/blob-s3.ts';
import { SqliteLeaseStore } from '../../src/storage/lease-sqlite.ts';
import { FileFetcher, type FetchEvents } from '../../src/upstream/fetch-file.ts';
import type { UpstreamClient } from '../../src/upstream/client.ts';
import { startS3, type FakeS3 } from '../helpers/s3.ts';
import { tempDir } from '../helpers/server.ts';
import { eventually } from '../helpers/storage.ts';

const MiB = 1024 * 1024;
const logger = pino({ level: 'silent' });
const noEvents: FetchEvents = { started: () => undefined, rejected: () => undefined, failed: () => undefined };

interface Replica { blobs: S3BlobStore; root: string }

/** `n` stores on one bucket and prefix, each with its own storage folder: as many processes. */
async function replicas(t: ExecutionContext, s3: FakeS3, n: number): Promise<Replica[]> {
  const config = s3.blobs('shared');
  return Promise.all(Array.from({ length: n }, async () => {
    const root = await tempDir(t);
    const blobs = new S3BlobStore(root, config);
    await blobs.init();
    t.teardown(() => blobs.close());
    return { blobs, root };
  }));
}

async function commit(blobs: S3BlobStore, bytes: Buffer): Promise<string> {
  const w = blobs.createTemp();
  w.stream.end(bytes);
  const temp = await w.finished();
  await blobs.commit(temp);
  return temp.sha256;
}

/** GETs of the blob's object the bucket was sent (whole or ranged). */
function gets(s3: FakeS3, sha256: string): number {
  const key = `/${s3.bucket}/shared/sha256/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
  return s3.requests.filter((r) => r.method === 'GET' && r.url.startsWith(key)).length;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Resolves once every scratch file of a store is gone (removed just after the last client's stream closed). */
async function scratchGone(t: ExecutionContext, r: Replica): Promise<void> {
  await eventually(async () => (await readdir(join(r.root, 'tmp'))).length === 0, 'no scratch file is kept');
  t.is(r.blobs.sharedReads, 0);
}

test('a herd of one process on a file another process downloads reads the committed object from the bucket once, shared; the holder\'s clients stream it as it arrives', async (t) => {
  const s3 = await startS3(t);
  const [a, b] = await replicas(t, s3, 2) as [Replica, Replica];
  const db = openDatabase(join(await tempDir(t), 'leases.db'));
  t.teardown(() => db.close());
  const leases = new SqliteLeaseStore(db);
  const bytes = randomBytes(6 * MiB + 12345);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const target = { url: 'http://upstream.invalid/files/acme-1.0-py3-none-any.whl', filename: 'acme-1.0-py3-none-any.whl', sha256, size: bytes.length };

  // The upstream, as a body this test feeds: its first call means A holds the file's lease.
  const body = new PassThrough();
  let asked!: () => void;
  const upstreamAsked = new Promise<void>((resolve) => { asked = resolve; });
  let upstreamGets = 0;
  const client = {
    get: async () => {
      upstreamGets++;
      asked();
      return { status: 200, headers: { 'content-length': String(bytes.length) }, body };
    },
  } as unknown as UpstreamClient;
  const fetcher = (r: Replica, owner: string): FileFetcher => new FileFetcher({ client, blobs: r.blobs, logger, events: noEvents, leases: { store: leases, owner, ttlMs: 10_000 } });
  const [fa, fb] = [fetcher(a, 'replica-a'), fetcher(b, 'replica-b')];

  const holder = fa.join(target);
  await upstreamAsked;
  body.write(bytes.subarray(0, 2 * MiB));
  const holderClient = (await holder).stream();
  // The holder's client has its first block before the rest is sent: it follows the temp file.
  const first = await new Promise<Buffer>((resolve) => holderClient.once('data', resolve));
  holderClient.pause();
  const CLIENTS = 20;
  const herd = Array.from({ length: CLIENTS }, () => fb.join(target).then((d) => readAll(d.stream())));
  body.end(bytes.subarray(2 * MiB));
  // (Read on in paused mode: what came after the first chunk waits in its buffer.)
  const rest = readAll(holderClient);
  const got = await Promise.all(herd);
  t.true(Buffer.concat([first, await rest]).equals(bytes), 'the holder\'s client');
  for (const g of got) t.true(g.equals(bytes));
  t.is(upstreamGets, 1, 'one upstream download');
  t.is(gets(s3, sha256), 1, `${CLIENTS} clients of the other process that waited together: one shared GET`);
  await scratchGone(t, b);
});

test('a client that stops reading holds only its own buffer: the others read on at their pace, from the same one GET, and so does it when it resumes', async (t) => {
  const s3 = await startS3(t);
  const [a, b] = await replicas(t, s3, 2) as [Replica, Replica];
  const bytes = randomBytes(8 * MiB + 1);
  const sha256 = await commit(a.blobs, bytes);
  const before = gets(s3, sha256);

  // The first client reads the bucket on its own; the second starts the shared read.
  const first = readAll(b.blobs.openShared(sha256, bytes.length));
  const staller = b.blobs.openShared(sha256, bytes.length);
  const head = await new Promise<Buffer>((resolve) => staller.once('data', (c: Buffer) => { staller.pause(); resolve(c); }));
  const others = await Promise.all(Array.from({ length: 5 }, () => readAll(b.blobs.openShared(sha256, bytes.length))));
  for (const o of [await first, ...others]) t.true(o.equals(bytes));
  t.true(staller.readableLength <= 2 * MiB, `the stopped client buffers ${staller.readableLength} bytes`);
  t.is(b.blobs.sharedReads, 1, 'still shared with the stopped client');
  // A latecomer while the stopped client still reads joins the finished read.
  t.true((await readAll(b.blobs.openShared(sha256, bytes.length))).equals(bytes));
  // (Read on in paused mode: what came after the first chunk waits in its buffer.)
  t.true(Buffer.concat([head, await readAll(staller)]).equals(bytes));
  t.is(gets(s3, sha256) - before, 2, 'two GETs for the 8 clients');
  await scratchGone(t, b);

  // A client on its own reads the bucket itself (no scratch file); a range is its own GET, as before.
  t.true((await readAll(b.blobs.openShared(sha256, bytes.length))).equals(bytes));
  t.is(b.blobs.sharedReads, 0);
  t.true((await readAll(b.blobs.open(sha256, { start: 5, end: 9 }))).equals(bytes.subarray(5, 10)));
  t.is(gets(s3, sha256) - before, 4);
  await scratchGone(t, b);
});

test('without a scratch file (local disk failing) each client reads the bucket itself; a bucket that stops answering fails the clients\' streams, not the process', async (t) => {
  const s3 = await startS3(t);
  const [a, b] = await replicas(t, s3, 2) as [Replica, Replica];
  const bytes = randomBytes(3 * MiB + 7);
  const sha256 = await commit(a.blobs, bytes);

  await rm(join(b.root, 'tmp'), { recursive: true });
  const got = await Promise.all(Array.from({ length: 3 }, () => readAll(b.blobs.openShared(sha256, bytes.length))));
  for (const g of got) t.true(g.equals(bytes));
  t.is(b.blobs.sharedReads, 0);
  await b.blobs.init();

  await s3.pause();
  const failed = await Promise.allSettled(Array.from({ length: 3 }, () => readAll(b.blobs.openShared(sha256, bytes.length))));
  for (const f of failed) t.is(f.status === 'rejected' && (f.reason as Error).name, 'StorageUnavailable');
  t.is(b.blobs.sharedReads, 0, 'a failed read is not joined again');
  await s3.resume();
  t.true((await readAll(b.blobs.openShared(sha256, bytes.length))).equals(bytes), 'the bucket is back: read again');
  await scratchGone(t, b);
});
