import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openTestStorage } from '../helpers/test-backend.ts';

test('pruneMissing forgets expired upstream 404s and keeps only the newest of the rest; found pages stay', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-remote-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { remoteStore: store, store: meta } = await openTestStorage(dir);
  t.teardown(() => meta.close());
  const missing = { state: 'missing' as const, etag: null, lastModified: null, page: null, files: [] };
  for (let i = 0; i < 20; i++) await store.savePage('pypi', `gone-${i}`, missing, 1000 + i);
  await store.savePage('pypi', 'requests', { ...missing, state: 'ok', page: '{}' }, 0);
  await store.savePage('other', 'gone-0', missing, 0);

  // 5 expired (checked before 1005), then all but the newest 10 of the other 15.
  t.is(await store.pruneMissing('pypi', 1005, 10), 10);
  const left = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await store.getPage('pypi', `gone-${i}`)) !== null));
  t.deepEqual(left, [...Array(10).fill(false), ...Array(10).fill(true)]);
  t.is((await store.getPage('pypi', 'requests'))?.state, 'ok');
  t.not(await store.getPage('other', 'gone-0'), null, 'another repository keeps its own');
});

test('a file keeps the time it was first listed while the upstream lists it; a new file gets the time of the page that brought it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-remote-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { remoteStore: store, store: meta } = await openTestStorage(dir);
  t.teardown(() => meta.close());
  const row = (filename: string) => ({ sha256: 'a'.repeat(64), filename, project: 'acme', url: `http://up/${filename}`, size: 1, metadataSha256: null, uploadTime: null });
  const save = (page: string, files: string[], now: number) =>
    store.savePage('pypi', 'acme', { state: 'ok', etag: null, lastModified: null, page, files: files.map(row) }, now);
  await save('v1', ['acme-1.0.tar.gz'], 1000);
  await save('v2', ['acme-1.0.tar.gz', 'acme-2.0.tar.gz'], 2000);
  await save('v2', ['acme-1.0.tar.gz', 'acme-2.0.tar.gz'], 3000);
  t.deepEqual(await store.firstSeen('pypi', 'acme'), new Map([['acme-1.0.tar.gz', 1000], ['acme-2.0.tar.gz', 2000]]));
  await save('v3', ['acme-2.0.tar.gz'], 4000);
  await save('v4', ['acme-1.0.tar.gz', 'acme-2.0.tar.gz'], 5000);
  t.deepEqual(await store.firstSeen('pypi', 'acme'), new Map([['acme-1.0.tar.gz', 5000], ['acme-2.0.tar.gz', 2000]]), 'a file the upstream dropped and listed again is new again');
  t.deepEqual(await store.cachedProjects('pypi', '', 10), ['acme']);
});

test('getPageWithBody reads a page\'s serial with its body; updatePageMetadata refuses a page saved since the body it was made from', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-remote-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { remoteStore: store, store: meta } = await openTestStorage(dir);
  t.teardown(() => meta.close());
  const file = { sha256: 'a'.repeat(64), filename: 'acme-1.0-py3-none-any.whl', project: 'acme', url: 'http://up/a.whl', size: 1, metadataSha256: null, uploadTime: null };
  const save = (page: string, now: number) => store.savePage('pypi', 'acme', { state: 'ok', etag: null, lastModified: null, page, files: [file] }, now);
  t.is(await store.getPageWithBody('pypi', 'acme'), null);
  await save('v1', 1000);
  t.like(await store.getPageWithBody('pypi', 'acme'), { state: 'ok', serial: 1, body: 'v1', checkedAt: 1000 });
  const metadata = { sha256: file.sha256, filename: file.filename, metadataSha256: 'b'.repeat(64) };
  await save('v2', 2000);
  t.false(await store.updatePageMetadata('pypi', 'acme', 1, 'v1+metadata', metadata), 'made from serial 1; the page is at 2');
  t.like(await store.getPageWithBody('pypi', 'acme'), { serial: 2, body: 'v2' });
  t.true(await store.updatePageMetadata('pypi', 'acme', 2, 'v2+metadata', metadata));
  t.like(await store.getPageWithBody('pypi', 'acme'), { serial: 3, body: 'v2+metadata', checkedAt: 2000 });
  t.is((await store.getFile('pypi', file.sha256, file.filename))?.metadataSha256, metadata.metadataSha256);
});
