/**
 * Storage upkeep on S3 blobs: `gc` and `scrub` work over the BlobStore
 * interface alone, so they must do on a bucket what they do on the folder:
 * gc removes old blobs that no row names and keeps young or named ones; a
 * scrub re-hashes every object and quarantines one whose bytes changed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { collectGarbage } from '../../src/repos/gc.ts';
import { scrubBlobs } from '../../src/repos/scrub.ts';
import type { Storage } from '../../src/storage/open.ts';
import { blobSeeder, type SeededStorage } from '../helpers/blobs.ts';
import { startS3, type FakeS3 } from '../helpers/s3.ts';
import { tempDir } from '../helpers/server.ts';

const logger = pino({ level: 'silent' });

async function setup(t: ExecutionContext, prefix: string): Promise<SeededStorage & { s3: FakeS3 }> {
  const s3 = await startS3(t);
  return { s3, ...await blobSeeder(t, await tempDir(t), s3.blobs(prefix)) };
}

async function listed(storage: Storage): Promise<string[]> {
  const out: string[] = [];
  for await (const b of storage.blobs.list()) out.push(b.sha256);
  return out.sort();
}

test('gc on a bucket: an unnamed blob past the grace period goes; a named one and a young one stay', async (t) => {
  const { storage, put } = await setup(t, 'gc');
  const named = await put(randomBytes(1000));
  await storage.remoteStore.savePage('pypi', 'acme', {
    state: 'ok', etag: null, lastModified: null, page: '{}',
    files: [{ sha256: named, filename: 'acme-1.0-py3-none-any.whl', project: 'acme', url: 'http://up/a.whl', size: 1000, metadataSha256: null, uploadTime: null }],
  }, Date.now());
  const orphan = await put(randomBytes(2000));

  const young = await collectGarbage({ ...storage, logger });
  t.is(young.young, 1, 'committed within the grace period');
  t.is(young.blobs.count, 0);

  const dry = await collectGarbage({ ...storage, logger }, { graceMs: 0, dryRun: true });
  t.deepEqual(dry.blobs, { count: 1, bytes: 2000 });
  t.deepEqual(await listed(storage), [named, orphan].sort());

  const r = await collectGarbage({ ...storage, logger }, { graceMs: 0 });
  t.deepEqual(r.blobs, { count: 1, bytes: 2000 });
  t.deepEqual(await listed(storage), [named]);
});

test('scrub on a bucket: every object is re-hashed, and one whose bytes changed is quarantined', async (t) => {
  const { s3, storage, put } = await setup(t, 'scrub');
  const good = await put(randomBytes(3000));
  const bad = await put(randomBytes(4000));
  // Bit rot, or someone writing to the bucket: other bytes under bad's key.
  const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true });
  t.teardown(() => client.destroy());
  const other = randomBytes(4000);
  await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `scrub/sha256/${bad.slice(0, 2)}/${bad.slice(2, 4)}/${bad}`, Body: other }));

  const r = await scrubBlobs({ ...storage, logger });
  t.is(r.checked, 2);
  t.is(r.bytes, 7000);
  t.deepEqual(r.corrupt.map((c) => [c.sha256, c.actual]), [[bad, createHash('sha256').update(other).digest('hex')]]);
  t.deepEqual(await listed(storage), [good]);
  t.is(await storage.blobs.stat(bad), null, 'never served again');
  t.true(s3.requests.some((q) => q.method === 'PUT' && q.url.startsWith(`/${s3.bucket}/scrub/quarantine/${bad}.`)), 'kept under quarantine/ for inspection');
});
