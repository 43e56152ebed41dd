import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openStorage } from '../../src/storage/open.ts';

test('pruneMissing forgets expired upstream 404s and keeps only the newest of the rest; found pages stay', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-remote-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { remoteStore: store, store: meta } = await openStorage(dir);
  t.teardown(() => meta.close());
  const missing = { state: 'missing' as const, etag: null, lastModified: null, page: null, files: [] };
  for (let i = 0; i < 20; i++) store.savePage('pypi', `gone-${i}`, missing, 1000 + i);
  store.savePage('pypi', 'requests', { ...missing, state: 'ok', page: '{}' }, 0);
  store.savePage('other', 'gone-0', missing, 0);

  // 5 expired (checked before 1005), then all but the newest 10 of the other 15.
  t.is(store.pruneMissing('pypi', 1005, 10), 10);
  const left = Array.from({ length: 20 }, (_, i) => store.getPage('pypi', `gone-${i}`) !== null);
  t.deepEqual(left, [...Array(10).fill(false), ...Array(10).fill(true)]);
  t.is(store.getPage('pypi', 'requests')?.state, 'ok');
  t.not(store.getPage('other', 'gone-0'), null, 'another repository keeps its own');
});
