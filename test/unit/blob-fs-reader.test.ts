/**
 * The disk store's temp blob reader across its commit, with the one
 * interleaving that a busy machine makes now and then forced: a follower of
 * a download reads before the file's hash is known (so the reader knows only
 * the temp file's path), and its open reaches the disk after the commit has
 * renamed the temp file into blobs/. The reader must find the blob there,
 * and a failed open must not fail the reads after it (every client following
 * the download got a 500: cache-limit.test.ts, once in CI).
 *
 * The open is held back by wrapping node:fs/promises' open (the store's own
 * binding follows it through syncBuiltinESMExports); ava runs each test file
 * in its own worker, so nothing else sees the wrapper.
 */
import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import test, { type ExecutionContext } from 'ava';
import { FsBlobStore } from '../../src/storage/blob-fs.ts';
import { tempDir } from '../helpers/server.ts';

type Open = typeof fsp.open;

/** Holds every open of a temp file (`*.part`) until the returned release() is called. */
function holdTempOpens(): { release(): void; held: Promise<void>; restore(): void } {
  const original = fsp.open;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let markHeld!: () => void;
  const held = new Promise<void>((resolve) => { markHeld = resolve; });
  const wrapped: Open = async (path, ...rest) => {
    if (String(path).endsWith('.part') && rest[0] === 'r') {
      markHeld();
      await gate;
    }
    return original(path, ...rest);
  };
  (fsp as { open: Open }).open = wrapped;
  syncBuiltinESMExports();
  return {
    release,
    held,
    restore: () => {
      (fsp as { open: Open }).open = original;
      syncBuiltinESMExports();
    },
  };
}

/**
 * A temp blob of `size` random bytes, fully written; a read of its first
 * `length` bytes is started while the hash is unknown (so the reader names
 * the temp file alone) and its open is held until the blob is committed and
 * `meanwhile` has run. Returns the store, the reader, the bytes and that read.
 */
async function readOverCommit(t: ExecutionContext, size: number, length: number, meanwhile: (blobs: FsBlobStore, sha256: string) => Promise<void> = async () => undefined) {
  const blobs = new FsBlobStore(await tempDir(t));
  await blobs.init();
  const bytes = randomBytes(size);
  const writer = blobs.createTemp();
  const reader = writer.reader();
  const written = new Promise<void>((resolve) => writer.onProgress((n) => { if (n === bytes.length) resolve(); }));
  writer.stream.write(bytes);
  await written;

  const opens = holdTempOpens();
  t.teardown(opens.restore);
  // The hash is not known yet: the reader can name the temp file alone.
  const early = reader.read(0, length);
  early.catch(() => undefined);
  await opens.held;
  writer.stream.end();
  const temp = await writer.finished();
  await blobs.commit(temp);
  t.truthy(await blobs.stat(temp.sha256), 'committed: the temp file is gone, the blob is there');
  await meanwhile(blobs, temp.sha256);
  opens.release();
  return { blobs, reader, bytes, early };
}

test('a read of a temp blob whose open lands after its commit reads the committed blob, and the reads after it work', async (t) => {
  const { reader, bytes, early } = await readOverCommit(t, 50_000, 1000);
  t.deepEqual(await early, bytes.subarray(0, 1000));
  t.deepEqual(await reader.read(1000, bytes.length), bytes.subarray(1000));
  await reader.close();
});

test('a failed open is not kept: once the blob is there again, the next read opens it', async (t) => {
  // Gone before the open lands (an eviction elsewhere): that read fails...
  const { blobs, reader, bytes, early } = await readOverCommit(t, 1000, 10, (b, sha256) => b.delete(sha256));
  await t.throwsAsync(early, { code: 'ENOENT' });
  // ...and the next one, once the same bytes are committed again, reads them.
  const again = blobs.createTemp();
  again.stream.end(bytes);
  await blobs.commit(await again.finished());
  t.deepEqual(await reader.read(0, bytes.length), bytes);
  await reader.close();
});
