/**
 * What scrub, gc and the cache limit ask of the storage interfaces: listing
 * blobs, quarantine, stale temp files, a commit of stored bytes renewing
 * them, and which rows name a blob.
 */
import { readdir, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { openStorage, type Storage } from '../../src/storage/open.ts';
import type { NewFile } from '../../src/storage/types.ts';
import { tempDir } from '../helpers/server.ts';

async function setup(t: ExecutionContext): Promise<{ root: string; storage: Storage; put(text: string): Promise<string> }> {
  const root = await tempDir(t);
  // Embedded only: blobs/, quarantine/ and tmp/ of the folder on disk are what these tests look at.
  const storage = await openStorage(root);
  t.teardown(() => storage.store.close());
  return {
    root, storage,
    async put(text) {
      const w = storage.blobs.createTemp();
      w.stream.end(Buffer.from(text));
      const temp = await w.finished();
      await storage.blobs.commit(temp);
      return temp.sha256;
    },
  };
}

const blobPath = (root: string, sha: string): string => join(root, 'blobs', 'sha256', sha.slice(0, 2), sha.slice(2, 4), sha);
const anHourAgo = (): Date => new Date(Date.now() - 3_600_000);

function hosted(repo: string, filename: string, sha256: string): NewFile {
  return {
    repo, project: 'acme', displayName: 'acme', filename, version: '1.0', kind: 'wheel', size: 3, sha256, md5: 'x', blake2b256: 'x',
    requiresPython: null, metadataSha256: null, coreMetadata: null, metadataJson: '{}', uploadTime: new Date().toISOString(), uploader: null,
  };
}

test('list() walks every stored blob with its size; quarantine() takes one out of the namespace for good', async (t) => {
  const { root, storage, put } = await setup(t);
  const a = await put('aaa');
  const b = await put('bbbbb');
  const listed = [];
  for await (const blob of storage.blobs.list()) listed.push([blob.sha256, blob.size]);
  t.deepEqual(listed.sort(), [[a, 3], [b, 5]].sort());

  t.true(await storage.blobs.quarantine(a));
  t.is(await storage.blobs.stat(a), null, 'never found under its hash again');
  const names = await readdir(join(root, 'quarantine'));
  t.is(names.length, 1);
  t.true(names[0]!.startsWith(`${a}.`), 'kept aside for inspection');
  t.false(await storage.blobs.quarantine(a), 'twice: nothing left to move');
  const after = [];
  for await (const blob of storage.blobs.list()) after.push(blob.sha256);
  t.deepEqual(after, [b]);
});

test('removeStaleTemp() takes temp files not written to since the cut-off, and only those; a dry run counts them', async (t) => {
  const { root, storage } = await setup(t);
  const stale = storage.blobs.createTemp();
  stale.stream.write(Buffer.alloc(1000));
  await new Promise<void>((resolve) => stale.onProgress(() => resolve()));
  const fresh = storage.blobs.createTemp();
  fresh.stream.write(Buffer.alloc(10));
  await new Promise<void>((resolve) => fresh.onProgress(() => resolve()));
  // The 1000-byte one stopped being written an hour ago (a crashed upload).
  const files = await readdir(join(root, 'tmp'));
  t.is(files.length, 2);
  for (const f of files) if ((await stat(join(root, 'tmp', f))).size === 1000) await utimes(join(root, 'tmp', f), anHourAgo(), anHourAgo());
  const cutoff = new Date(Date.now() - 1_800_000);
  t.deepEqual(await storage.blobs.removeStaleTemp(cutoff, { dryRun: true }), { count: 1, bytes: 1000 });
  t.is((await readdir(join(root, 'tmp'))).length, 2, 'a dry run removes nothing');
  t.deepEqual(await storage.blobs.removeStaleTemp(cutoff), { count: 1, bytes: 1000 });
  t.is((await readdir(join(root, 'tmp'))).length, 1, 'the one still being written is kept');
  fresh.stream.end();
  await fresh.finished();
  stale.stream.destroy();
  await stale.abort();
  await fresh.abort();
});

test('committing bytes already stored renews the stored blob: gc counts its grace period from then', async (t) => {
  const { root, storage, put } = await setup(t);
  const sha = await put('same bytes');
  await utimes(blobPath(root, sha), anHourAgo(), anHourAgo());
  t.true((await storage.blobs.stat(sha))!.mtime.getTime() < Date.now() - 3_000_000);
  await put('same bytes');
  t.true((await storage.blobs.stat(sha))!.mtime.getTime() > Date.now() - 60_000);
});

test('space() tells free and total bytes', async (t) => {
  const { storage } = await setup(t);
  const space = await storage.blobs.space();
  t.truthy(space);
  t.true(space!.total > 0 && space!.free >= 0 && space!.free <= space!.total);
});

test('blobInUse and blobReferences see hosted files, remote listings, their metadata files and cached copies', async (t) => {
  const { storage, put } = await setup(t);
  const { store, remoteStore } = storage;
  const wheel = await put('wheel');
  const meta = await put('metadata');
  const cachedOnly = await put('cached');
  const orphan = await put('orphan');
  await store.addFile(hosted('internal', 'acme-1.0-py3-none-any.whl', wheel), { overwrite: false, actor: { user: null, tokenId: null, address: null } });
  await remoteStore.savePage('pypi', 'acme', {
    state: 'ok', etag: null, lastModified: null, page: '{}',
    files: [{ sha256: wheel, filename: 'acme-1.0-py3-none-any.whl', project: 'acme', url: 'http://up/acme.whl', size: 5, metadataSha256: meta, uploadTime: null }],
  }, 0);
  await remoteStore.recordCached('other', { sha256: cachedOnly, size: 6 }, 0, 'me');
  for (const sha of [wheel, meta, cachedOnly]) t.true(await store.blobInUse(sha));
  t.false(await store.blobInUse(orphan));
  t.deepEqual(await store.blobReferences(wheel), [
    { repo: 'internal', filename: 'acme-1.0-py3-none-any.whl', hosted: true, metadata: false },
    { repo: 'pypi', filename: 'acme-1.0-py3-none-any.whl', hosted: false, metadata: false },
  ]);
  t.deepEqual(await store.blobReferences(meta), [{ repo: 'pypi', filename: 'acme-1.0-py3-none-any.whl', hosted: false, metadata: true }]);
  t.deepEqual((await store.repoBlobs('pypi')).sort(), [wheel, meta].sort());
  t.deepEqual(await store.repoBlobs('internal'), [wheel]);

  // METADATA read out of an upstream wheel is a blob its wheel's remotes name.
  const extracted = await put('extracted metadata');
  t.false(await store.blobInUse(extracted));
  await remoteStore.saveWheelMetadata({ sha256: wheel, filename: 'acme-1.0-py3-none-any.whl', metadataSha256: extracted, method: 'range', failure: null, at: new Date().toISOString() });
  t.true(await store.blobInUse(extracted));
  t.deepEqual(await store.blobReferences(extracted), [{ repo: 'pypi', filename: 'acme-1.0-py3-none-any.whl', hosted: false, metadata: true }]);
  t.true((await store.repoBlobs('pypi')).includes(extracted));
});

test('the cache rows: uncache says when another repository keeps the blob; adoption counts files cached before; runs are remembered', async (t) => {
  const { storage, put } = await setup(t);
  const { store, remoteStore } = storage;
  const a = await put('a');
  const b = await put('b');
  await remoteStore.recordCached('one', { sha256: a, size: 1 }, 10, 'me');
  await remoteStore.recordCached('two', { sha256: a, size: 1 }, 20, 'me');
  await remoteStore.recordCached('one', { sha256: b, size: 1 }, 30, 'me');
  t.deepEqual((await remoteStore.leastRecentlyUsed('one', null, 10)).map((r) => r.sha256), [a, b]);
  await remoteStore.touchCached('one', [{ sha256: a, at: 40 }], 'me');
  t.deepEqual((await remoteStore.leastRecentlyUsed('one', null, 10)).map((r) => r.sha256), [b, a], 'a was used since');
  t.deepEqual((await remoteStore.leastRecentlyUsed('one', { lastAccess: 30, sha256: b }, 10)).map((r) => r.sha256), [a], 'keyset paging');
  t.deepEqual(await remoteStore.uncache('one', a), { heldElsewhere: true }, "'two' holds a too");
  t.deepEqual(await remoteStore.uncache('one', b), { heldElsewhere: false });
  t.deepEqual(await remoteStore.cacheUsage('one'), { files: 0, bytes: 0 });
  t.deepEqual(await remoteStore.uncacheEverywhere(a), ['two']);

  await remoteStore.savePage('pypi', 'acme', {
    state: 'ok', etag: null, lastModified: null, page: '{}',
    files: [{ sha256: b, filename: 'acme-1.0.tar.gz', project: 'acme', url: 'http://up/acme.tar.gz', size: 1, metadataSha256: null, uploadTime: null }],
  }, 0);
  t.is(await remoteStore.adoptCached(b, 1, 5), 1);
  t.is(await remoteStore.adoptCached(b, 1, 5), 0, 'once');
  t.deepEqual(await remoteStore.cacheUsage('pypi'), { files: 1, bytes: 1 });

  t.is(await store.lastRun('gc'), null);
  await store.recordRun('gc', 1234, { freedBytes: 99 });
  await store.recordRun('gc', 5678, { freedBytes: 7 });
  t.deepEqual(await store.lastRun('gc'), { at: 5678, summary: { freedBytes: 7 } });
});

test('setYanked returns the files it changed, read in its transaction, and nothing when they were so already; addFile returns the row added', async (t) => {
  const { storage } = await setup(t);
  const { store } = storage;
  const actor = { user: null, tokenId: null, address: null };
  const added = await store.addFile(hosted('internal', 'acme-1.0-py3-none-any.whl', 'a'.repeat(64)), { overwrite: false, actor });
  t.like(added, { outcome: 'added', replaced: null, file: { filename: 'acme-1.0-py3-none-any.whl', yanked: false } });
  await store.addFile({ ...hosted('internal', 'acme-1.0.tar.gz', 'b'.repeat(64)), kind: 'sdist' }, { overwrite: false, actor });
  const serial = await store.repoSerial('internal');
  const yanked = await store.setYanked('internal', 'acme', '1.0', true, 'broken');
  t.deepEqual(yanked.map((f) => [f.filename, f.yanked, f.yankedReason]), [['acme-1.0-py3-none-any.whl', true, 'broken'], ['acme-1.0.tar.gz', true, 'broken']]);
  t.deepEqual(await store.setYanked('internal', 'acme', '1.0', true, 'broken'), [], 'already so: no change');
  t.is(await store.repoSerial('internal'), serial + 1, 'one change, one serial');
  t.deepEqual((await store.setYanked('internal', 'acme', '1.0', false, 'ignored')).map((f) => [f.yanked, f.yankedReason]), [[false, null], [false, null]]);
});
