import { createHash } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { blake2b } from 'hash-wasm';
import type { ExecutionContext } from 'ava';
import tar from 'tar-stream';
import yazl from 'yazl';
import { InvalidDistribution } from '../../src/errors.ts';
import { FsBlobStore } from '../../src/storage/blob-fs.ts';
import { DEFAULT_INSPECT_LIMITS, readSdistMetadata, readWheelMetadata } from '../../src/upload/inspect.ts';
import type { Archive, InspectLimits } from '../../src/upload/inspect.ts';
import { buildSdist, buildWheel, sdistFilename, wheelFilename } from '../helpers/dists.ts';
import type { BuiltDist, DistSpec } from '../helpers/dists.ts';

const SPEC: DistSpec = { name: 'Acme.Utils', version: '1.0', requiresDist: ['acme-core>=1.0'], requiresPython: '>=3.8' };
const MiB = 1024 * 1024;

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-inspect-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The bytes as an upload leaves them: a temp blob of the real blob store, inspected through its reader. */
async function stored(t: ExecutionContext, bytes: Buffer): Promise<Archive> {
  const blobs = new FsBlobStore(await tempDir(t));
  await blobs.init();
  const writer = blobs.createTemp();
  writer.stream.end(bytes);
  const temp = await writer.finished();
  return { size: temp.size, open: () => blobs.openTemp(temp) };
}

async function onDisk(t: ExecutionContext, dist: BuiltDist): Promise<Archive> {
  return stored(t, dist.bytes);
}

async function bytesOnDisk(t: ExecutionContext, _filename: string, bytes: Buffer): Promise<Archive> {
  return stored(t, bytes);
}

type ZipInput = [name: string, data: Buffer | Readable, options?: { compress?: boolean }];

async function zipOf(entries: ZipInput[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data, options] of entries) {
    if (Buffer.isBuffer(data)) zip.addBuffer(data, name, options);
    else zip.addReadStream(data, name, options);
  }
  zip.end();
  return readAll(zip.outputStream);
}

interface TarInput { name: string; data?: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string }

async function tarGzOf(entries: TarInput[]): Promise<Buffer> {
  const pack = tar.pack();
  const packed = readAll(pack);
  for (const { name, data, type = data === undefined ? 'directory' : 'file', linkname } of entries) {
    if (data === undefined) pack.entry({ name, type, ...(linkname === undefined ? {} : { linkname }) });
    else pack.entry({ name, type }, data);
  }
  pack.finalize();
  return gzipSync(await packed);
}

const wheelMetadataFiles = (dir: string): ZipInput[] => [
  [`${dir}/METADATA`, Buffer.from('Metadata-Version: 2.1\nName: acme-utils\nVersion: 1.0\n')],
  [`${dir}/WHEEL`, Buffer.from('Wheel-Version: 1.0\n')],
  [`${dir}/RECORD`, Buffer.from('')],
];

function invalid(message: string | RegExp) {
  return { instanceOf: InvalidDistribution, message };
}

// --- the helpers themselves ---------------------------------------------------

test('buildWheel and buildSdist are byte-for-byte deterministic', async (t) => {
  const [a, b] = await Promise.all([buildWheel(SPEC), buildWheel({ ...SPEC })]);
  t.true(a.bytes.equals(b.bytes));
  t.is(a.sha256, b.sha256);
  const [c, d] = await Promise.all([buildSdist(SPEC), buildSdist({ ...SPEC })]);
  t.true(c.bytes.equals(d.bytes));
  const [p, q] = await Promise.all([buildWheel({ ...SPEC, padBytes: 4096 }), buildWheel({ ...SPEC, padBytes: 4096 })]);
  t.true(p.bytes.equals(q.bytes));
  t.true(p.bytes.length > 4096);
});

test('filenames follow the wheel spec and PEP 625', (t) => {
  t.is(wheelFilename(SPEC), 'acme_utils-1.0-py3-none-any.whl');
  t.is(wheelFilename({ ...SPEC, buildTag: '2', pythonTag: 'cp311', abiTag: 'cp311', platformTag: 'manylinux_2_17_x86_64' }),
    'acme_utils-1.0-2-cp311-cp311-manylinux_2_17_x86_64.whl');
  t.is(sdistFilename({ name: 'Foo-_-Bar', version: '2.0' }), 'foo_bar-2.0.tar.gz');
});

test('digests are hex of the file bytes, blake2b256 being BLAKE2b with a 32-byte digest', async (t) => {
  const dist = await buildWheel(SPEC);
  t.is(dist.sha256, createHash('sha256').update(dist.bytes).digest('hex'));
  t.is(dist.md5, createHash('md5').update(dist.bytes).digest('hex'));
  t.is(dist.blake2b256, await blake2b(dist.bytes, 256));
  // Python: hashlib.blake2b(b'abc', digest_size=32).hexdigest()
  t.is(await blake2b(Buffer.from('abc'), 256), 'bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319');
});

// --- wheels -------------------------------------------------------------------

test('a valid wheel yields its exact METADATA bytes', async (t) => {
  const dist = await buildWheel(SPEC);
  const metadata = await readWheelMetadata(await onDisk(t, dist), dist.filename, 'acme-utils');
  t.true(metadata.equals(dist.metadata));
  t.regex(metadata.toString(), /^Requires-Dist: acme-core>=1\.0$/m);
});

test('the dist-info name is compared in normalized form', async (t) => {
  const dist = await buildWheel(SPEC);
  const metadata = await readWheelMetadata(await onDisk(t, dist), dist.filename, 'Acme_Utils');
  t.true(metadata.equals(dist.metadata));
});

test('a wheel without METADATA is rejected with the warehouse message', async (t) => {
  const dist = await buildWheel({ ...SPEC, omitMetadata: true });
  await t.throwsAsync(readWheelMetadata(await onDisk(t, dist), dist.filename, 'acme-utils'), invalid(
    "Wheel 'acme_utils-1.0-py3-none-any.whl' does not contain the required METADATA file: acme_utils-1.0.dist-info/METADATA",
  ));
});

test('a file that is not a zip is rejected', async (t) => {
  const path = await bytesOnDisk(t, 'acme_utils-1.0-py3-none-any.whl', Buffer.from('this is not a zip file at all\n'.repeat(10)));
  await t.throwsAsync(readWheelMetadata(path, 'acme_utils-1.0-py3-none-any.whl', 'acme-utils'),
    invalid('Invalid distribution file. File is not a zip archive.'));
});

test('a truncated wheel is rejected', async (t) => {
  const dist = await buildWheel(SPEC);
  const path = await bytesOnDisk(t, dist.filename, dist.bytes.subarray(0, dist.bytes.length - 40));
  await t.throwsAsync(readWheelMetadata(path, dist.filename, 'acme-utils'), invalid(/^Invalid distribution file\. /));
});

test('a wheel with two .dist-info directories is rejected', async (t) => {
  const bytes = await zipOf([
    ['acme_utils/__init__.py', Buffer.from('')],
    ...wheelMetadataFiles('acme_utils-1.0.dist-info'),
    ...wheelMetadataFiles('acme_utils-2.0.dist-info'),
  ]);
  const path = await bytesOnDisk(t, 'acme_utils-1.0-py3-none-any.whl', bytes);
  await t.throwsAsync(readWheelMetadata(path, 'acme_utils-1.0-py3-none-any.whl', 'acme-utils'), invalid(
    "Invalid distribution file. Wheel 'acme_utils-1.0-py3-none-any.whl' has 2 .dist-info directories (acme_utils-1.0.dist-info, acme_utils-2.0.dist-info); it must have exactly one.",
  ));
});

test("a wheel carrying another project's .dist-info is rejected", async (t) => {
  const dist = await buildWheel({ name: 'evil-pkg', version: '1.0' });
  await t.throwsAsync(readWheelMetadata(await onDisk(t, dist), 'acme_utils-1.0-py3-none-any.whl', 'acme-utils'), invalid(
    "Invalid distribution file. Wheel 'acme_utils-1.0-py3-none-any.whl' contains 'evil_pkg-1.0.dist-info', which is not the .dist-info directory of project 'acme-utils'.",
  ));
});

test('a wheel with no .dist-info directory is rejected', async (t) => {
  const path = await bytesOnDisk(t, 'x.whl', await zipOf([['acme_utils/__init__.py', Buffer.from('')]]));
  await t.throwsAsync(readWheelMetadata(path, 'x.whl', 'acme-utils'), invalid(/has no \.dist-info directory/));
});

test('a wheel without WHEEL is rejected', async (t) => {
  const dir = 'acme_utils-1.0.dist-info';
  const path = await bytesOnDisk(t, 'x.whl', await zipOf(wheelMetadataFiles(dir).filter(([name]) => !name.endsWith('/WHEEL'))));
  await t.throwsAsync(readWheelMetadata(path, 'x.whl', 'acme-utils'),
    invalid(`Wheel 'x.whl' does not contain the required WHEEL file: ${dir}/WHEEL`));
});

test('a zip bomb is rejected from the central directory, before inflating', async (t) => {
  const zeros = Buffer.alloc(MiB);
  const seventyMiB = Readable.from((function* () { for (let i = 0; i < 70; i++) yield zeros; })());
  const bytes = await zipOf([
    ['acme_utils/data.bin', seventyMiB],
    ...wheelMetadataFiles('acme_utils-1.0.dist-info'),
  ]);
  t.true(bytes.length < MiB, 'the bomb itself is small');
  const path = await bytesOnDisk(t, 'acme_utils-1.0-py3-none-any.whl', bytes);
  await t.throwsAsync(readWheelMetadata(path, 'acme_utils-1.0-py3-none-any.whl', 'acme-utils'),
    invalid('Invalid distribution file. File exceeds compression ratio of 50'));
});

test('a large but poorly compressible wheel is not a bomb', async (t) => {
  const dist = await buildWheel({ ...SPEC, padBytes: 2 * MiB });
  const limits: InspectLimits = { ...DEFAULT_INSPECT_LIMITS, maxMetadataBytes: MiB, maxUncompressedBytes: MiB, maxRatio: 50 };
  const metadata = await readWheelMetadata(await onDisk(t, dist), dist.filename, 'acme-utils', limits);
  t.true(metadata.equals(dist.metadata));
});

test('zip entries with other compression methods are rejected', async (t) => {
  const bytes = await zipOf(wheelMetadataFiles('acme_utils-1.0.dist-info').map(([name, data]) => [name, data, { compress: false }]));
  // Rewrite the first entry's method to 12 (bzip2) in both its local and central headers.
  t.is(bytes.readUInt32LE(0), 0x04034b50);
  bytes.writeUInt16LE(12, 8);
  const central = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  bytes.writeUInt16LE(12, central + 10);
  const path = await bytesOnDisk(t, 'x.whl', bytes);
  await t.throwsAsync(readWheelMetadata(path, 'x.whl', 'acme-utils'), invalid(
    "Invalid distribution file. Entry 'acme_utils-1.0.dist-info/METADATA' uses an unsupported compression method (12); only STORED and DEFLATED are allowed.",
  ));
});

test('duplicate zip entry names are rejected', async (t) => {
  const bytes = await zipOf([
    ...wheelMetadataFiles('acme_utils-1.0.dist-info'),
    ['acme_utils-1.0.dist-info/METADATA', Buffer.from('Metadata-Version: 2.1\nName: something-else\nVersion: 9\n')],
  ]);
  const path = await bytesOnDisk(t, 'x.whl', bytes);
  await t.throwsAsync(readWheelMetadata(path, 'x.whl', 'acme-utils'), invalid(
    "Invalid distribution file. ZIP archive not accepted: duplicate entry 'acme_utils-1.0.dist-info/METADATA'.",
  ));
});

test('METADATA larger than the limit is rejected', async (t) => {
  const dist = await buildWheel(SPEC);
  const limits: InspectLimits = { ...DEFAULT_INSPECT_LIMITS, maxMetadataBytes: 100, maxUncompressedBytes: 64 * MiB, maxRatio: 50 };
  await t.throwsAsync(readWheelMetadata(await onDisk(t, dist), dist.filename, 'acme-utils', limits),
    invalid(/^Invalid distribution file\. acme_utils-1\.0\.dist-info\/METADATA is \d+ bytes; the limit is 100\.$/));
});

// --- sdists -------------------------------------------------------------------

test('a valid sdist yields its exact PKG-INFO bytes', async (t) => {
  const dist = await buildSdist(SPEC);
  const metadata = await readSdistMetadata(await onDisk(t, dist), dist.filename, 'tar.gz');
  t.true(metadata.equals(dist.metadata));
});

test('a zip sdist yields its PKG-INFO', async (t) => {
  const pkgInfo = Buffer.from('Metadata-Version: 2.1\nName: acme-utils\nVersion: 1.0\n');
  const bytes = await zipOf([['acme-utils-1.0/PKG-INFO', pkgInfo], ['acme-utils-1.0/setup.py', Buffer.from('')]]);
  const path = await bytesOnDisk(t, 'acme-utils-1.0.zip', bytes);
  t.true((await readSdistMetadata(path, 'acme-utils-1.0.zip', 'zip')).equals(pkgInfo));
});

test('a zip sdist with two top-level directories is rejected', async (t) => {
  const bytes = await zipOf([['a-1.0/PKG-INFO', Buffer.from('x')], ['b-1.0/PKG-INFO', Buffer.from('y')]]);
  const path = await bytesOnDisk(t, 'a-1.0.zip', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.zip', 'zip'), invalid(
    "Invalid distribution file. sdist 'a-1.0.zip' must contain exactly one top-level directory; found 'a-1.0/', 'b-1.0/'.",
  ));
});

test('a tar.gz without PKG-INFO is rejected', async (t) => {
  const bytes = await tarGzOf([{ name: 'acme_utils-1.0/' }, { name: 'acme_utils-1.0/setup.py', data: '' }]);
  const path = await bytesOnDisk(t, 'acme_utils-1.0.tar.gz', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'acme_utils-1.0.tar.gz', 'tar.gz'),
    invalid('Invalid distribution file. sdist has no PKG-INFO in its top-level directory.'));
});

test('a PKG-INFO below the top level does not count', async (t) => {
  const bytes = await tarGzOf([{ name: 'acme_utils-1.0/sub/PKG-INFO', data: 'Name: x\n' }]);
  const path = await bytesOnDisk(t, 'acme_utils-1.0.tar.gz', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'acme_utils-1.0.tar.gz', 'tar.gz'), invalid(/no PKG-INFO/));
});

test('a tar entry with .. is rejected', async (t) => {
  const bytes = await tarGzOf([
    { name: 'acme_utils-1.0/' },
    { name: 'acme_utils-1.0/../../etc/evil', data: 'boom' },
    { name: 'acme_utils-1.0/PKG-INFO', data: 'Name: acme-utils\n' },
  ]);
  const path = await bytesOnDisk(t, 'acme_utils-1.0.tar.gz', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'acme_utils-1.0.tar.gz', 'tar.gz'), invalid(
    "Invalid distribution file. sdist 'acme_utils-1.0.tar.gz' contains an unsafe path: 'acme_utils-1.0/../../etc/evil'.",
  ));
});

test('an absolute tar path is rejected', async (t) => {
  const bytes = await tarGzOf([{ name: '/etc/passwd', data: 'root' }]);
  const path = await bytesOnDisk(t, 'a-1.0.tar.gz', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(/unsafe path: '\/etc\/passwd'/));
});

test('a symlink leaving the top-level directory is rejected', async (t) => {
  const bytes = await tarGzOf([
    { name: 'a-1.0/' },
    { name: 'a-1.0/link', type: 'symlink', linkname: '../../etc/passwd' },
    { name: 'a-1.0/PKG-INFO', data: 'Name: a\n' },
  ]);
  const path = await bytesOnDisk(t, 'a-1.0.tar.gz', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(/link 'a-1\.0\/link' pointing outside/));
});

test('a tar.gz with two top-level directories is rejected', async (t) => {
  const bytes = await tarGzOf([{ name: 'a-1.0/setup.py', data: '' }, { name: 'b-1.0/PKG-INFO', data: 'Name: b\n' }]);
  const path = await bytesOnDisk(t, 'a-1.0.tar.gz', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(
    "Invalid distribution file. sdist 'a-1.0.tar.gz' must contain exactly one top-level directory; found 'a-1.0/', 'b-1.0/'.",
  ));
});

test('a truncated or non-gzip sdist is rejected', async (t) => {
  const dist = await buildSdist(SPEC);
  const notTar = 'Invalid distribution file. File is not a gzip-compressed tar archive.';
  const truncated = await bytesOnDisk(t, dist.filename, dist.bytes.subarray(0, 60));
  await t.throwsAsync(readSdistMetadata(truncated, dist.filename, 'tar.gz'), invalid(notTar));
  const plain = await bytesOnDisk(t, dist.filename, Buffer.from('not gzip at all'));
  await t.throwsAsync(readSdistMetadata(plain, dist.filename, 'tar.gz'), invalid(notTar));
  const gzippedText = await bytesOnDisk(t, dist.filename, gzipSync(Buffer.from('hello\n'.repeat(200))));
  await t.throwsAsync(readSdistMetadata(gzippedText, dist.filename, 'tar.gz'), invalid(notTar));
});

test('a tar.gz bomb is stopped while streaming', async (t) => {
  const bytes = await tarGzOf([
    { name: 'a-1.0/' },
    { name: 'a-1.0/zeros.bin', data: '\0'.repeat(4 * MiB) },
    { name: 'a-1.0/PKG-INFO', data: 'Name: a\n' },
  ]);
  const limits: InspectLimits = { ...DEFAULT_INSPECT_LIMITS, maxMetadataBytes: MiB, maxUncompressedBytes: MiB, maxRatio: 50 };
  const path = await bytesOnDisk(t, 'a-1.0.tar.gz', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz', limits),
    invalid('Invalid distribution file. File exceeds compression ratio of 50'));
});

test('a missing file is an I/O error, not the uploader\'s fault', async (t) => {
  const blobs = new FsBlobStore(await tempDir(t));
  await blobs.init();
  const missing = { key: randomUUID(), size: 100, sha256: '0'.repeat(64), md5: '0'.repeat(32), blake2b256: '0'.repeat(64) };
  const error = await t.throwsAsync(readWheelMetadata({ size: 100, open: () => blobs.openTemp(missing) }, 'nope.whl', 'nope'));
  t.false(error instanceof InvalidDistribution);
  t.is((error as NodeJS.ErrnoException).code, 'ENOENT');
});

// Serial tests run before the concurrent ones, so nothing else holds fds meanwhile.
test.serial('no file descriptors leak, on success or failure', async (t) => {
  if (!existsSync('/proc/self/fd')) {
    t.pass('no /proc/self/fd on this platform');
    return;
  }
  const wheel = await onDisk(t, await buildWheel(SPEC));
  const sdist = await onDisk(t, await buildSdist(SPEC));
  const bad = await stored(t, Buffer.from('garbage'));
  const noMeta = await buildWheel({ ...SPEC, omitMetadata: true });
  const noMetaPath = await onDisk(t, noMeta);
  // Refused mid-stream, after PKG-INFO was read: the streams are torn down on the way out.
  const linkAfterPkgInfo = await stored(t, await tarGzOf([
    { name: 'a-1.0/' }, { name: 'a-1.0/PKG-INFO', data: 'Name: a\n' }, { name: 'a-1.0/passwd', type: 'symlink', linkname: '/etc/passwd' },
    { name: 'a-1.0/setup.py', data: 'x'.repeat(256 * 1024) },
  ]));
  const openFds = async () => (await readdir('/proc/self/fd')).length;
  const before = await openFds();

  for (let i = 0; i < 20; i++) {
    await readWheelMetadata(wheel, 'w.whl', 'acme-utils');
    await readSdistMetadata(sdist, 's.tar.gz', 'tar.gz');
    await t.throwsAsync(readWheelMetadata(bad, 'bad.whl', 'acme-utils'));
    await t.throwsAsync(readWheelMetadata(noMetaPath, noMeta.filename, 'acme-utils'));
    await t.throwsAsync(readSdistMetadata(bad, 'bad.tar.gz', 'tar.gz'));
    await t.throwsAsync(readSdistMetadata(linkAfterPkgInfo, 'a-1.0.tar.gz', 'tar.gz'), invalid(/pointing outside/));
  }
  // fs.close is asynchronous; give the last closes a moment to land.
  let after = await openFds();
  for (let tries = 0; tries < 50 && after > before; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await openFds();
  }
  t.true(after <= before, `fds before ${before}, after ${after}`);
});

test('a METADATA whose CRC-32 does not match is rejected', async (t) => {
  const bytes = await zipOf(wheelMetadataFiles('acme_utils-1.0.dist-info').map(([name, data]) => [name, data, { compress: false }]));
  // Flip one stored byte of METADATA: sizes still agree, only the CRC can tell.
  const at = bytes.indexOf('Name: acme-utils');
  bytes[at] = 'n'.charCodeAt(0);
  const path = await bytesOnDisk(t, 'x.whl', bytes);
  await t.throwsAsync(readWheelMetadata(path, 'x.whl', 'acme-utils'),
    invalid('Invalid distribution file. acme_utils-1.0.dist-info/METADATA fails its CRC-32 check.'));
});

// --- the whole sdist is read, not just up to PKG-INFO ---------------------------

const PKG_INFO_FIRST: TarInput[] = [
  { name: 'a-1.0/' },
  { name: 'a-1.0/PKG-INFO', data: 'Metadata-Version: 2.1\nName: a\nVersion: 1.0\n' },
  { name: 'a-1.0/setup.py', data: '' },
];

async function sdistWith(t: ExecutionContext, after: TarInput[]): Promise<Archive> {
  return bytesOnDisk(t, 'a-1.0.tar.gz', await tarGzOf([...PKG_INFO_FIRST, ...after]));
}

test('a symlink to /etc/passwd after PKG-INFO is rejected', async (t) => {
  const path = await sdistWith(t, [{ name: 'a-1.0/passwd', type: 'symlink', linkname: '/etc/passwd' }]);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(
    "Invalid distribution file. sdist 'a-1.0.tar.gz' has a link 'a-1.0/passwd' pointing outside its top-level directory: '/etc/passwd'.",
  ));
});

test('a hard link to ../x after PKG-INFO is rejected', async (t) => {
  const path = await sdistWith(t, [{ name: 'a-1.0/x', type: 'link', linkname: '../x' }]);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(
    "Invalid distribution file. sdist 'a-1.0.tar.gz' has a link 'a-1.0/x' pointing outside its top-level directory: '../x'.",
  ));
});

test('a .. member after PKG-INFO is rejected', async (t) => {
  const path = await sdistWith(t, [{ name: 'a-1.0/../../etc/evil', data: 'boom' }]);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(
    "Invalid distribution file. sdist 'a-1.0.tar.gz' contains an unsafe path: 'a-1.0/../../etc/evil'.",
  ));
});

test('an absolute member after PKG-INFO is rejected', async (t) => {
  const path = await sdistWith(t, [{ name: '/etc/cron.d/evil', data: 'boom' }]);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(
    "Invalid distribution file. sdist 'a-1.0.tar.gz' contains an unsafe path: '/etc/cron.d/evil'.",
  ));
});

test('a second top-level directory after PKG-INFO is rejected', async (t) => {
  const path = await sdistWith(t, [{ name: 'b-1.0/setup.py', data: '' }]);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(
    "Invalid distribution file. sdist 'a-1.0.tar.gz' must contain exactly one top-level directory; found 'a-1.0/', 'b-1.0/'.",
  ));
});

test('a second PKG-INFO after the first is rejected', async (t) => {
  // Python's tarfile.getmember returns the last of two same-named members: pip and pydepot would disagree.
  const path = await sdistWith(t, [{ name: './a-1.0/PKG-INFO', data: 'Metadata-Version: 2.1\nName: evil\nVersion: 6.6.6\n' }]);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(
    "Invalid distribution file. sdist 'a-1.0.tar.gz' has more than one 'a-1.0/PKG-INFO'.",
  ));
});

test('an archive root that is not a directory is rejected', async (t) => {
  const bytes = await tarGzOf([{ name: '.', type: 'symlink', linkname: '/etc' }, ...PKG_INFO_FIRST]);
  const path = await bytesOnDisk(t, 'a-1.0.tar.gz', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(
    "Invalid distribution file. sdist 'a-1.0.tar.gz' has entry '.' of type 'symlink'; the archive root can only be a directory.",
  ));
});

test('a gzip bomb after PKG-INFO is stopped while streaming', async (t) => {
  const path = await sdistWith(t, [{ name: 'a-1.0/zeros.bin', data: '\0'.repeat(4 * MiB) }]);
  const limits: InspectLimits = { ...DEFAULT_INSPECT_LIMITS, maxUncompressedBytes: MiB, maxRatio: 50 };
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz', limits),
    invalid('Invalid distribution file. File exceeds compression ratio of 50'));
});

test('files and internal links after PKG-INFO are read to the end and accepted', async (t) => {
  const path = await sdistWith(t, [
    { name: 'a-1.0/pkg/' },
    { name: 'a-1.0/pkg/__init__.py', data: 'x = 1\n'.repeat(1000) },
    { name: 'a-1.0/pkg/alias.py', type: 'symlink', linkname: '__init__.py' },
    { name: 'a-1.0/pkg/hard.py', type: 'link', linkname: 'a-1.0/pkg/__init__.py' },
  ]);
  const metadata = await readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz');
  t.is(metadata.toString(), 'Metadata-Version: 2.1\nName: a\nVersion: 1.0\n');
});

test('tar members over maxEntries are rejected', async (t) => {
  const path = await sdistWith(t, [{ name: 'a-1.0/b.py', data: '' }, { name: 'a-1.0/c.py', data: '' }]);
  const limits: InspectLimits = { ...DEFAULT_INSPECT_LIMITS, maxEntries: 4 };
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz', limits),
    invalid('Invalid distribution file. tar archive has more than 4 entries.'));
  const ok = await sdistWith(t, [{ name: 'a-1.0/b.py', data: '' }]);
  t.truthy(await readSdistMetadata(ok, 'a-1.0.tar.gz', 'tar.gz', limits));
});

// --- caps ---------------------------------------------------------------------

function metadataOfSize(size: number): Buffer {
  const head = 'Metadata-Version: 2.1\nName: acme-utils\nVersion: 1.0\n\n';
  return Buffer.from(head + 'x'.repeat(size - head.length));
}

test('METADATA over 1 MiB is rejected by default; exactly 1 MiB passes', async (t) => {
  const dir = 'acme_utils-1.0.dist-info';
  const wheelWith = async (metadata: Buffer) => bytesOnDisk(t, 'x.whl', await zipOf([
    [`${dir}/METADATA`, metadata], [`${dir}/WHEEL`, Buffer.from('Wheel-Version: 1.0\n')], [`${dir}/RECORD`, Buffer.from('')],
  ]));
  const fits = metadataOfSize(MiB);
  t.true((await readWheelMetadata(await wheelWith(fits), 'x.whl', 'acme-utils')).equals(fits));
  await t.throwsAsync(readWheelMetadata(await wheelWith(metadataOfSize(MiB + 1)), 'x.whl', 'acme-utils'), invalid(
    `Invalid distribution file. ${dir}/METADATA is ${MiB + 1} bytes; the limit is ${MiB}.`,
  ));
});

test('PKG-INFO over 1 MiB is rejected by default', async (t) => {
  const bytes = await tarGzOf([{ name: 'a-1.0/' }, { name: 'a-1.0/PKG-INFO', data: metadataOfSize(MiB + 1).toString() }]);
  const path = await bytesOnDisk(t, 'a-1.0.tar.gz', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(
    `Invalid distribution file. a-1.0/PKG-INFO is ${MiB + 1} bytes; the limit is ${MiB}.`,
  ));
});

test('a zip with more entries than maxEntries is rejected before its central directory is read', async (t) => {
  const limits: InspectLimits = { ...DEFAULT_INSPECT_LIMITS, maxEntries: 3 };
  const four = await zipOf([['acme_utils/__init__.py', Buffer.from('')], ...wheelMetadataFiles('acme_utils-1.0.dist-info')]);
  await t.throwsAsync(readWheelMetadata(await bytesOnDisk(t, 'x.whl', four), 'x.whl', 'acme-utils', limits),
    invalid('Invalid distribution file. ZIP archive has more than 3 entries.'));
  const three = await zipOf(wheelMetadataFiles('acme_utils-1.0.dist-info'));
  t.truthy(await readWheelMetadata(await bytesOnDisk(t, 'x.whl', three), 'x.whl', 'acme-utils', limits));
  // An end record claiming 60000 entries over a three-entry directory: refused on the count, not on the bad directory.
  const eocd = three.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  three.writeUInt16LE(60_000, eocd + 8);
  three.writeUInt16LE(60_000, eocd + 10);
  await t.throwsAsync(readWheelMetadata(await bytesOnDisk(t, 'x.whl', three), 'x.whl', 'acme-utils', { ...DEFAULT_INSPECT_LIMITS, maxEntries: 1000 }),
    invalid('Invalid distribution file. ZIP archive has more than 1000 entries.'));
});

test('a zip sdist with more entries than maxEntries is rejected', async (t) => {
  const bytes = await zipOf([['a-1.0/PKG-INFO', Buffer.from('Name: a\n')], ['a-1.0/setup.py', Buffer.from('')], ['a-1.0/a.py', Buffer.from('')]]);
  const path = await bytesOnDisk(t, 'a-1.0.zip', bytes);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.zip', 'zip', { ...DEFAULT_INSPECT_LIMITS, maxEntries: 2 }),
    invalid('Invalid distribution file. ZIP archive has more than 2 entries.'));
});

test('a chain of symlinks that leads outside through other links is rejected, though each target looks inside', async (t) => {
  const path = await sdistWith(t, [
    { name: 'a-1.0/sub/' },
    { name: 'a-1.0/sub/lnk', type: 'symlink', linkname: '..' },
    { name: 'a-1.0/sub/lnk2', type: 'symlink', linkname: 'lnk/..' },
    { name: 'a-1.0/sub/lnk3', type: 'symlink', linkname: 'lnk2/..' },
  ]);
  await t.throwsAsync(readSdistMetadata(path, 'a-1.0.tar.gz', 'tar.gz'), invalid(
    "Invalid distribution file. sdist 'a-1.0.tar.gz' has a link 'a-1.0/sub/lnk2' that leads outside its top-level directory through other links.",
  ));
});

test('symlinks that loop are rejected; chains that stay inside are accepted', async (t) => {
  const loop = await sdistWith(t, [
    { name: 'a-1.0/x', type: 'symlink', linkname: 'y' },
    { name: 'a-1.0/y', type: 'symlink', linkname: 'x' },
  ]);
  await t.throwsAsync(readSdistMetadata(loop, 'a-1.0.tar.gz', 'tar.gz'), invalid(/has a link 'a-1\.0\/x' that loops through other links/));
  const inside = await sdistWith(t, [
    { name: 'a-1.0/docs/' },
    { name: 'a-1.0/docs/readme', type: 'symlink', linkname: '../README' },
    { name: 'a-1.0/docs/again', type: 'symlink', linkname: 'readme' },
    { name: 'a-1.0/README', data: 'hello' },
  ]);
  t.regex((await readSdistMetadata(inside, 'a-1.0.tar.gz', 'tar.gz')).toString(), /^Name: a$/m);
});
