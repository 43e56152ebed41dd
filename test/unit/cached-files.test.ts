/**
 * maxCacheSize: what eviction takes (least recently used first, down to 90%)
 * and what it never takes (a file held open, a blob a hosted file uses, a
 * file another process used a moment ago), against the real SQLite and
 * filesystem stores.
 */
import { createHash } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/schema.ts';
import { createMetrics } from '../../src/metrics.ts';
import { BlobPins } from '../../src/repos/blob-pins.ts';
import { CachedFiles, OTHER_PROCESS_GRACE_MS } from '../../src/repos/cached-files.ts';
import { blobFileHandle } from '../../src/repos/file-handles.ts';
import type { Storage } from '../../src/storage/open.ts';
import { openTestStorage, pinFsBlobs } from '../helpers/test-backend.ts';
import { tempDir } from '../helpers/server.ts';

interface Setup {
  root: string;
  storage: Storage;
  pins: BlobPins;
  logs: Record<string, unknown>[];
  metrics: ReturnType<typeof createMetrics>;
  clock: { t: number };
  cache(limit: number | null, repo?: string): CachedFiles;
  /** Stores `size` bytes (distinct per name) and returns their sha256. */
  put(name: string, size: number): Promise<string>;
  exists(sha256: string): Promise<boolean>;
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const root = await tempDir(t);
  // Blobs in the folder: the tests set blob files' mtimes on disk (the database follows PYDEPOT_TEST_BACKEND).
  const storage = await openTestStorage(pinFsBlobs(root));
  t.teardown(() => storage.store.close());
  const pins = new BlobPins();
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { logs.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } }));
  const metrics = createMetrics();
  // Every reading of the clock is a millisecond later: no two uses tie. A
  // minute ahead of the files' mtimes, as a row is always made after its blob.
  const clock = { t: Date.now() + 60_000 };
  const made: CachedFiles[] = [];
  t.teardown(async () => { for (const c of made) await c.close(); });
  return {
    root, storage, pins, logs, metrics, clock,
    cache(limit, repo = 'pypi') {
      const c = new CachedFiles(repo, limit, { blobs: storage.blobs, store: storage.remoteStore, pins, logger, metrics: metrics.cache, processId: 'me', now: () => ++clock.t });
      made.push(c);
      return c;
    },
    async put(name, size) {
      const w = storage.blobs.createTemp();
      w.stream.end(Buffer.alloc(size, name));
      const temp = await w.finished();
      await storage.blobs.commit(temp);
      return temp.sha256;
    },
    async exists(sha256) {
      return (await storage.blobs.stat(sha256)) !== null;
    },
  };
}

/** Serves a stored file through the cache as RemoteRepository does, reading it to the end. */
async function serve(s: Setup, cache: CachedFiles, sha256: string): Promise<string> {
  const hold = await cache.hold(sha256);
  const info = (await s.storage.blobs.stat(sha256))!;
  const handle = hold.serve(blobFileHandle(s.storage.blobs, 'f.whl', sha256, info.size, info.mtime), 'hit');
  const hash = createHash('sha256');
  await pipeline(handle.open(), new Writable({ write(c: Buffer, _e, cb) { hash.update(c); cb(); } }));
  return hash.digest('hex');
}

test('the least recently used file goes first, down to 90% of the limit; the rest stay', async (t) => {
  const s = await setup(t);
  const cache = s.cache(350);
  const [a, b, c, d] = [await s.put('a', 100), await s.put('b', 100), await s.put('c', 100), await s.put('d', 100)];
  await cache.filled(a!, 100);
  await cache.filled(b!, 100);
  await cache.filled(c!, 100);
  await cache.settled();
  t.is(await serve(s, cache, a!), a, 'a is used again: b is now the oldest');
  await cache.filled(d!, 100);
  await cache.settled();
  t.false(await s.exists(b!), 'b was evicted');
  for (const kept of [a, c, d]) t.true(await s.exists(kept!));
  t.deepEqual(await cache.usage(), { files: 3, bytes: 300 });
  const evictions = await s.metrics.registry.getSingleMetricAsString('pydepot_cache_evictions_total');
  t.regex(evictions, /pydepot_cache_evictions_total\{repo="pypi"\} 1/);
  t.true(s.logs.some((l) => l.msg === 'evicted a cached file (maxCacheSize); it is fetched again when asked for' && l.sha256 === b));
});

test('a file held open is never evicted; it goes once its reader is done', async (t) => {
  const s = await setup(t);
  const cache = s.cache(150);
  const a = await s.put('a', 100);
  const b = await s.put('b', 100);
  await cache.filled(a, 100);
  const hold = await cache.hold(a);
  // `a` is the least recently used, but held: eviction passes it by and takes `b`.
  await cache.filled(b, 100);
  await cache.settled();
  t.true(await s.exists(a), 'a is held: eviction passes it by');
  t.false(await s.exists(b), 'b, not held, was evicted instead');
  hold.release();
  t.deepEqual(await cache.usage(), { files: 1, bytes: 100 });
});

test('a limit smaller than one file: the file is served whole, with a warning, and evicted once nobody reads it', async (t) => {
  const s = await setup(t);
  const cache = s.cache(10);
  const a = await s.put('a', 100);
  const hold = await cache.hold(a);
  await cache.filled(a, 100);
  await cache.settled();
  t.true(await s.exists(a), 'held while it is needed');
  t.true(s.logs.some((l) => l.level === 40 && String(l.msg).includes('larger than maxCacheSize')));
  t.true(s.logs.some((l) => l.level === 40 && String(l.msg).includes('stays over maxCacheSize')));
  const released = s.pins.released(a);
  hold.release();
  await released;
  // The release starts another run.
  await new Promise<void>((resolve) => setImmediate(resolve));
  await cache.settled();
  t.false(await s.exists(a));
  t.deepEqual(await cache.usage(), { files: 0, bytes: 0 });
});

test('a blob a hosted file or another remote also uses keeps its bytes: only this remote forgets it', async (t) => {
  const s = await setup(t);
  const one = s.cache(50, 'one');
  const two = s.cache(null, 'two');
  const shared = await s.put('shared', 100);
  await two.filled(shared, 100);
  await one.filled(shared, 100);
  await one.settled();
  t.deepEqual(await one.usage(), { files: 0, bytes: 0 }, "'one' no longer counts it");
  t.true(await s.exists(shared), "'two' still holds it");
  t.true(s.logs.some((l) => l.sha256 === shared && l.blobKept === true));
});

test("a file another process used within the grace period is left alone; an older one is not", async (t) => {
  const s = await setup(t);
  const cache = s.cache(50);
  const recent = await s.put('recent', 100);
  const old = await s.put('old', 100);
  const longAgo = s.clock.t - OTHER_PROCESS_GRACE_MS - 1000;
  // Its bytes were stored when it was cached, long ago.
  await utimes(join(s.root, 'blobs', 'sha256', old.slice(0, 2), old.slice(2, 4), old), new Date(longAgo - 1000), new Date(longAgo - 1000));
  await s.storage.remoteStore.recordCached('pypi', { sha256: old, size: 100 }, longAgo, 'other');
  await s.storage.remoteStore.recordCached('pypi', { sha256: recent, size: 100 }, s.clock.t - 1000, 'other');
  cache.check();
  await cache.settled();
  t.false(await s.exists(old));
  t.true(await s.exists(recent));
});

test('a new hold waits for an eviction of the same blob, then finds it gone', async (t) => {
  const s = await setup(t);
  const pins = s.pins;
  let finish!: () => void;
  const removal = pins.removeUnlessHeld('x'.repeat(64), () => new Promise<string>((resolve) => { finish = () => resolve('gone'); }));
  let held = false;
  const hold = pins.hold('x'.repeat(64)).then((release) => { held = true; return release; });
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.false(held, 'the hold waits');
  finish();
  t.is(await removal, 'gone');
  (await hold)();
  t.true(held);
  t.is(await pins.removeUnlessHeld('y'.repeat(64), async () => 'ran'), 'ran');
  const release = pins.pin('y'.repeat(64));
  t.is(await pins.removeUnlessHeld('y'.repeat(64), async () => 'ran'), null, 'a held blob is not removed');
  release();
});

test('maxCacheSize takes a size; a bad one names the key', (t) => {
  const ok = parseConfig({ repositories: { pypi: { type: 'remote', maxCacheSize: '50GiB' } } });
  t.is((ok.repositories.pypi as { maxCacheSize: number }).maxCacheSize, 50 * 1024 ** 3);
  const none = parseConfig({ repositories: { pypi: { type: 'remote' } } });
  t.is((none.repositories.pypi as { maxCacheSize: number | null }).maxCacheSize, null);
  const err = t.throws(() => parseConfig({ repositories: { pypi: { type: 'remote', maxCacheSize: 'lots' } } }));
  t.regex(err!.message, /repositories\.pypi\.maxCacheSize/);
  t.throws(() => parseConfig({ repositories: { internal: { type: 'local', maxCacheSize: '1GiB' } } }), { message: /repositories\.internal\.maxCacheSize': unknown key/ });
  t.throws(() => parseConfig({ scrub: { interval: -1 } }), { message: /scrub\.interval/ });
});

test('a blob committed again after it was cached (an upload of the same bytes about to name it) keeps its bytes', async (t) => {
  const s = await setup(t);
  const cache = s.cache(50);
  const a = await s.put('a', 100);
  // What BlobStore.commit does to stored bytes committed again: a newer mtime
  // than the row that the remote makes now.
  const later = new Date(s.clock.t + 10_000);
  await utimes(join(s.root, 'blobs', 'sha256', a.slice(0, 2), a.slice(2, 4), a), later, later);
  await cache.filled(a, 100);
  await cache.settled();
  t.deepEqual(await cache.usage(), { files: 0, bytes: 0 });
  t.true(await s.exists(a), 'left for gc, which spares young blobs');
});
