/** FollowedBytes' failures as the HTTP layer sees them: typed, so that a client gets a status it can act on. */
import { buffer } from 'node:stream/consumers';
import test from 'ava';
import { StorageUnavailable } from '../../src/errors.ts';
import { FollowedBytes } from '../../src/storage/follow.ts';
import type { BlobReader } from '../../src/storage/types.ts';

const enoent = (): Error => Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });

function reader(read: BlobReader['read']): BlobReader {
  return { read, stream: () => { throw new Error('not used'); }, close: async () => undefined };
}

test('bytes found missing although the writer finished: a 503 (StorageUnavailable), not a raw ENOENT', async (t) => {
  const followed = new FollowedBytes(10, reader(async () => { throw enoent(); }));
  const stream = followed.stream();
  followed.progress(10);
  followed.finish();
  const err = await t.throwsAsync(buffer(stream), { instanceOf: StorageUnavailable });
  t.is(err?.status, 503);
});

test('bytes found missing because the writer failed: its failure', async (t) => {
  const failure = new Error('refused');
  // The temp file is removed as the bytes are refused, a moment before fail() is called: the read in between finds it gone.
  const followed: FollowedBytes = new FollowedBytes(10, reader(async () => {
    setImmediate(() => followed.fail(failure));
    throw enoent();
  }));
  const stream = followed.stream();
  followed.progress(10);
  await t.throwsAsync(buffer(stream), { is: failure });
});
