/** A storage folder's stores for a test that seeds blobs itself (scrub, gc, upkeep on S3). */
import type { ExecutionContext } from 'ava';
import { openStorage, type BlobsOptions, type Storage } from '../../src/storage/open.ts';

export interface SeededStorage {
  storage: Storage;
  /** Commits `bytes` as a blob (a temp file, then commit, as an upload does); its sha256. */
  put(bytes: Buffer): Promise<string>;
}

/** openStorage(root, blobs), closed when the test ends. */
export async function blobSeeder(t: ExecutionContext, root: string, blobs?: BlobsOptions): Promise<SeededStorage> {
  const storage = await openStorage(root, blobs);
  t.teardown(() => storage.store.close());
  return {
    storage,
    async put(bytes) {
      const w = storage.blobs.createTemp();
      w.stream.end(bytes);
      const temp = await w.finished();
      await storage.blobs.commit(temp);
      return temp.sha256;
    },
  };
}
