/**
 * PYDEPOT_TEST_BLOBS=s3 runs the tests that start servers with
 * startTestServer on S3 blobs: every test server whose config names no
 * `blobs` keeps its files in one s3rver of the test process, each storage
 * folder under its own prefix (the folder then holds the database and tmp/
 * only), and storageCounts() counts that prefix's objects as its blobs.
 * Unset or `fs`: the storage folder, as always.
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import test from 'ava';
import { startS3, type FakeS3 } from './s3.ts';

const TEST_BLOBS = process.env.PYDEPOT_TEST_BLOBS ?? 'fs';
if (TEST_BLOBS !== 'fs' && TEST_BLOBS !== 's3') throw new Error(`PYDEPOT_TEST_BLOBS: expected fs or s3, got ${TEST_BLOBS}`);

let shared: Promise<FakeS3> | null = null;
const prefixes = new Map<string, string>();
// Hooks are declared as the test file loads; the server starts with the first test that needs it.
if (TEST_BLOBS === 's3') test.after.always(async () => (await shared)?.stop());

/** The `blobs` config a test server on this storage folder gets by default (null: the folder); a restart gets the same prefix. */
export async function defaultBlobs(storage: string): Promise<Record<string, unknown> | null> {
  if (TEST_BLOBS === 'fs') return null;
  shared ??= startS3();
  const s3 = await shared;
  let prefix = prefixes.get(storage);
  if (!prefix) prefixes.set(storage, (prefix = `depot-${prefixes.size + 1}`));
  return { ...s3.blobs(prefix) };
}

/** How many blobs the storage folder's S3 prefix holds; null when the folder keeps its own blobs. */
export async function s3BlobCount(storage: string): Promise<number | null> {
  const prefix = prefixes.get(storage);
  if (!prefix || !shared) return null;
  const s3 = await shared;
  const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true });
  try {
    let count = 0;
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/sha256/`, ContinuationToken: token }));
      count += page.KeyCount ?? 0;
      token = page.NextContinuationToken;
    } while (token);
    return count;
  } finally {
    client.destroy();
  }
}
