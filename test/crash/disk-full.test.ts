/**
 * A full disk: uploads answer 507 and cache fills 503, each with its one-line
 * reason, and leave nothing behind (no temp file, no blob, no row); once space
 * returns, the same request succeeds.
 *
 * The disk is filled by a fault injector preloaded into a pydepot child
 * (test/helpers/full-disk-preload.ts): while a flag file exists, writes under
 * the storage folder get the bytes it allows, then fail with ENOSPC, as on a
 * real full filesystem. Mounting a small tmpfs would need privileges that CI
 * may not have, and a test that skips itself proves nothing.
 */
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { startChild, writeConfig } from '../helpers/child-server.ts';
import { CI } from '../helpers/ci-user.ts';
import { pinEmbedded } from '../helpers/test-backend.ts';
import { buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { seedCi, tempDir } from '../helpers/server.ts';
import { storageCounts } from '../helpers/storage.ts';
import { upload } from '../helpers/upload.ts';

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';
const UPLOAD_REASON = 'The server is out of disk space; nothing was stored. Try again later or tell the operator.';
const cacheReason = (filename: string) =>
  `The server is out of disk space and cannot cache '${filename}' from the upstream; nothing was stored. Try again later or tell the operator.`;

interface FullDisk {
  url: string;
  storage: string;
  up: FakeUpstream;
  /** Leaves `bytes` of free space (0: none) until space() is called. */
  fill(bytes: number): Promise<void>;
  /** Space returns. */
  space(): Promise<void>;
}

async function serverOnFullableDisk(t: ExecutionContext): Promise<FullDisk> {
  const up = await FakeUpstream.start(t);
  // Embedded only: the fault injector fills the local disk under the folder (SQLite and blobs there).
  const storage = pinEmbedded(await tempDir(t, 'pydepot-full-'));
  const dir = await tempDir(t);
  const flag = join(dir, 'disk-full');
  const config = await writeConfig(dir, {
    repositories: { internal: { type: 'local', upload: [CI.user] }, pypi: { type: 'remote', url: up.url } },
    defaultRepository: 'internal',
  });
  await seedCi(storage);
  const { url } = await startChild(t, {
    config, storage,
    nodeArgs: ['--import', './test/helpers/full-disk-preload.ts'],
    env: { PYDEPOT_TEST_DISK_FULL: flag, PYDEPOT_TEST_DISK_ROOT: storage },
  });
  return {
    url, storage, up,
    fill: (bytes) => writeFile(flag, String(bytes)),
    space: () => rm(flag, { force: true }),
  };
}

/** Nothing stored: no temp file, no blob, no file row. */
async function nothingKept(t: ExecutionContext, storage: string, what: string): Promise<void> {
  t.deepEqual(await storageCounts(storage), { blobs: 0, tmp: 0 }, what);
  const db = new Database(join(storage, 'pydepot.db'), { readonly: true });
  try {
    t.is(db.prepare('SELECT count(*) FROM files').pluck().get(), 0, what);
  } finally {
    db.close();
  }
}

/** Pages are kept in the database, which this fault leaves alone: a full disk does not stop them. */
async function readPage(t: ExecutionContext, d: FullDisk, project: string): Promise<void> {
  const page = await fetch(`${d.url}/pypi/simple/${project}/`, { headers: { Accept: JSON_ACCEPT } });
  t.is(page.status, 200);
  await page.arrayBuffer();
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${res.statusText}`);
  return Buffer.from(await res.arrayBuffer());
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function fileUrl(base: string, repo: string, w: BuiltDist): string {
  return `${base}/${repo}/files/${w.sha256}/${w.filename}`;
}

test('an upload on a full disk answers 507 with the reason and keeps nothing; once space returns the same upload succeeds', async (t) => {
  const d = await serverOnFullableDisk(t);
  const wheel = await buildWheel({ name: 'acme-full', version: '1.0', padBytes: 256 * 1024 });
  // No space at all (the temp file opens, its first write fails), then space for half the file.
  for (const free of [0, wheel.bytes.length / 2]) {
    await d.fill(free);
    const res = await upload(`${d.url}/internal/`, wheel, 'acme-full', '1.0');
    t.is(res.status, 507, `${free} bytes free`);
    t.is(res.statusText, UPLOAD_REASON);
    t.is(await res.text(), `507 ${UPLOAD_REASON}\n`);
    await nothingKept(t, d.storage, `${free} bytes free`);
    t.is((await fetch(`${d.url}/internal/simple/acme-full/`)).status, 404);
  }

  await d.space();
  const res = await upload(`${d.url}/internal/`, wheel, 'acme-full', '1.0');
  t.is(res.status, 200, res.statusText);
  t.is(sha256(await download(fileUrl(d.url, 'internal', wheel))), wheel.sha256);
  t.deepEqual(await storageCounts(d.storage), { blobs: 1, tmp: 0 });
});

test('a cache fill on a full disk answers 503 with the reason and keeps nothing; once space returns the download succeeds', async (t) => {
  const d = await serverOnFullableDisk(t);
  const wheel = await buildWheel({ name: 'acme-cached', version: '1.0', padBytes: 64 * 1024 });
  d.up.addProject('acme-cached', [{ dist: wheel }]);
  await readPage(t, d, 'acme-cached');

  await d.fill(0);
  const res = await fetch(fileUrl(d.url, 'pypi', wheel));
  t.is(res.status, 503);
  t.is(res.statusText, cacheReason(wheel.filename));
  t.is(await res.text(), `503 ${cacheReason(wheel.filename)}\n`);
  t.deepEqual(await storageCounts(d.storage), { blobs: 0, tmp: 0 });

  await d.space();
  t.is(sha256(await download(fileUrl(d.url, 'pypi', wheel))), wheel.sha256);
  t.deepEqual(await storageCounts(d.storage), { blobs: 1, tmp: 0 });
});

test('a cache fill that runs out of space midway cuts the response and keeps nothing; once space returns the download succeeds', async (t) => {
  const d = await serverOnFullableDisk(t);
  const wheel = await buildWheel({ name: 'acme-half', version: '1.0', padBytes: 512 * 1024 });
  d.up.addProject('acme-half', [{ dist: wheel }]);
  await readPage(t, d, 'acme-half');
  // Paced: the first chunks reach the client (status and headers are out) before the disk fills.
  d.up.fileFaults(wheel.filename, { bytesPerSecond: 2 * 1024 * 1024 });
  await d.fill(wheel.bytes.length / 2);
  const res = await fetch(fileUrl(d.url, 'pypi', wheel));
  t.is(res.status, 200);
  // Mid-body, cutting the connection is the only signal left: pip sees a failed download, not a short file.
  await t.throwsAsync(res.arrayBuffer());
  t.deepEqual(await storageCounts(d.storage), { blobs: 0, tmp: 0 });

  await d.space();
  d.up.fileFaults(wheel.filename, {});
  t.is(sha256(await download(fileUrl(d.url, 'pypi', wheel))), wheel.sha256);
  t.deepEqual(await storageCounts(d.storage), { blobs: 1, tmp: 0 });
});
