/** scrubBlobs on its own: the rate cap, stopping, and what `--repo` covers. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { scrubBlobs } from '../../src/repos/scrub.ts';
import { blobSeeder, type SeededStorage } from '../helpers/blobs.ts';
import { tempDir } from '../helpers/server.ts';

const logger = pino({ level: 'silent' });

async function setup(t: ExecutionContext): Promise<SeededStorage & { root: string }> {
  const root = await tempDir(t);
  // Embedded only: the tests corrupt and remove blob files in the folder's blobs/ on disk.
  return { root, ...await blobSeeder(t, root) };
}

test('the rate cap spreads the reads: 300 kB at 200 kB/s take about 1.5 s', async (t) => {
  const { storage, put } = await setup(t);
  for (let i = 0; i < 3; i++) await put(Buffer.alloc(100_000, i));
  const r = await scrubBlobs({ ...storage, logger }, { rate: 200_000 });
  t.is(r.checked, 3);
  t.is(r.bytes, 300_000);
  t.true(r.ms >= 1200, `took ${r.ms} ms`);
  const fast = await scrubBlobs({ ...storage, logger });
  t.true(fast.ms < r.ms);
});

test('a scrub stops when its signal is aborted, and says so', async (t) => {
  const { storage, put } = await setup(t);
  for (let i = 0; i < 5; i++) await put(Buffer.alloc(100_000, i));
  const controller = new AbortController();
  const r = await scrubBlobs({ ...storage, logger }, {
    rate: 100_000, signal: controller.signal,
    onProgress: (p) => { if (p.blobsDone === 1) controller.abort(); },
  });
  t.true(r.aborted);
  t.true(r.checked < 5);
  t.deepEqual(r.corrupt, []);
  t.is((await storage.store.lastRun('scrub'))?.summary.aborted, 1);
});

test('--repo covers the blobs its rows name that are stored; a listed file not cached is not an error', async (t) => {
  const { root, storage, put } = await setup(t);
  const cached = await put(Buffer.from('cached wheel'));
  const other = await put(Buffer.from('someone else\'s'));
  await storage.remoteStore.savePage('pypi', 'acme', {
    state: 'ok', etag: null, lastModified: null, page: '{}',
    files: [
      { sha256: cached, filename: 'acme-1.0-py3-none-any.whl', project: 'acme', url: 'http://up/a.whl', size: 12, metadataSha256: null, uploadTime: null },
      { sha256: 'f'.repeat(64), filename: 'acme-2.0-py3-none-any.whl', project: 'acme', url: 'http://up/b.whl', size: 12, metadataSha256: null, uploadTime: null },
    ],
  }, 0);
  const path = join(root, 'blobs', 'sha256', other.slice(0, 2), other.slice(2, 4), other);
  const bytes = await readFile(path);
  bytes[0]! ^= 1;
  await writeFile(path, bytes);
  const r = await scrubBlobs({ ...storage, logger }, { repos: ['pypi'] });
  t.is(r.checked, 1);
  t.deepEqual(r.corrupt, [], "the corrupt blob is not pypi's");
  const all = await scrubBlobs({ ...storage, logger });
  t.is(all.checked, 2);
  t.deepEqual(all.corrupt.map((c) => [c.sha256, c.lost, c.refetch]), [[other, [], []]]);
});
