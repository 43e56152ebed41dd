/** What a storage folder holds on disk, to prove a failed request left nothing. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { s3BlobCount } from './test-backend.ts';

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    n += e.isDirectory() ? await countFiles(join(dir, e.name)) : 1;
  }
  return n;
}

/** Blobs (on disk, or under the folder's S3 prefix on an S3 test back end: test-backend.ts) and temp files. */
export async function storageCounts(storage: string): Promise<{ blobs: number; tmp: number }> {
  const blobs = (await s3BlobCount(storage)) ?? await countFiles(join(storage, 'blobs'));
  return { blobs, tmp: await countFiles(join(storage, 'tmp')) };
}

/** Polls a condition that an event outside the test's reach makes true. */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for: ${what}`);
}
