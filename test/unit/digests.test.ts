import { createHash, randomBytes } from 'node:crypto';
import test from 'ava';
import { createBLAKE2b } from 'hash-wasm';
import { Digester, hashWorkersRunning, retireHashWorkers } from '../../src/storage/digests.ts';

async function expected(data: Buffer): Promise<Record<string, string>> {
  const b = await createBLAKE2b(256);
  b.update(data);
  return { sha256: createHash('sha256').update(data).digest('hex'), md5: createHash('md5').update(data).digest('hex'), blake2b256: b.digest('hex') };
}

/** Feeds `data` in chunks of the given sizes (cycling), as a socket would. */
async function digest(data: Buffer, sizes: number[]): Promise<Record<string, string>> {
  const d = new Digester();
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    d.update(data.subarray(at, at + n));
    at += n;
    await d.drained();
  }
  return d.finish();
}

test('small files are hashed on the main thread, at the end', async (t) => {
  for (const size of [0, 1, 1000, 1024 * 1024 - 1, 1024 * 1024]) {
    const data = randomBytes(size);
    t.deepEqual(await digest(data, [4096]), await expected(data), String(size));
  }
});

test('big files go through the workers in shared batches: same digests, whatever the chunking', async (t) => {
  const data = randomBytes(20 * 1024 * 1024 + 12345);
  const want = await expected(data);
  t.deepEqual(await digest(data, [65536]), want);
  t.deepEqual(await digest(data, [1, 999_999, 3 * 1024 * 1024 + 7]), want);
});

test('uploads hashed at once do not mix their bytes', async (t) => {
  const files = [randomBytes(5 * 1024 * 1024), randomBytes(3 * 1024 * 1024 + 1), randomBytes(9 * 1024 * 1024 + 5)];
  const got = await Promise.all(files.map((f, i) => digest(f, [16384 * (i + 1)])));
  for (const [i, f] of files.entries()) t.deepEqual(got[i], await expected(f));
});

test('a cancelled digest leaves the workers usable', async (t) => {
  const d = new Digester();
  d.update(randomBytes(4 * 1024 * 1024));
  d.cancel();
  const data = randomBytes(2 * 1024 * 1024 + 3);
  t.deepEqual(await digest(data, [100_000]), await expected(data));
});

// Serial: the concurrent tests' uploads would keep the workers busy.
test.serial('idle workers leave (their memory with them) and the next big upload starts new ones; busy ones stay', async (t) => {
  const data = randomBytes(3 * 1024 * 1024 + 11);
  const want = await expected(data);
  t.deepEqual(await digest(data, [65536]), want);
  t.true(hashWorkersRunning());
  retireHashWorkers();
  t.false(hashWorkersRunning());
  t.deepEqual(await digest(data, [65536]), want, 'new workers after the old ones left');

  // An upload being hashed keeps them.
  const d = new Digester();
  d.update(data);
  await d.drained();
  retireHashWorkers();
  t.true(hashWorkersRunning());
  t.deepEqual(await d.finish(), want);
  retireHashWorkers();
  t.false(hashWorkersRunning());
});
