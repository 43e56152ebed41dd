/**
 * pypi/wheel-zip.ts: a wheel's METADATA read from the end of its zip through
 * ranged reads — the bytes exactly, every shape of zip a wheel builder makes
 * (deflated or stored, data descriptors, zip64, a comment, bytes prepended),
 * few and small reads, and a refusal with a reason for anything malformed.
 */
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import test from 'ava';
import yazl from 'yazl';
import { InvalidDistribution } from '../../src/errors.ts';
import { readWheelMetadataByRanges, TAIL_BYTES, type ZipRangeReader } from '../../src/pypi/wheel-zip.ts';
import { buildWheel } from '../helpers/dists.ts';

const FILENAME = 'acme_utils-1.0-py3-none-any.whl';
const DIST_INFO = 'acme_utils-1.0.dist-info';
const METADATA = Buffer.from('Metadata-Version: 2.1\nName: acme.utils\nVersion: 1.0\nRequires-Dist: acme-core>=1.0\n\n# Acme\n\nLong text. '.repeat(20), 'utf8');
const RECORD = Buffer.from('acme_utils/__init__.py,,\n');

interface Entry {
  name: string;
  data: Buffer;
  /** Default true. */
  compress?: boolean;
  /** Written through a stream: sizes and CRC in a data descriptor after the data. */
  stream?: boolean;
}

async function zipOf(entries: Entry[], opts: { zip64?: boolean; comment?: string } = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const options = (e: Entry) => ({ compress: e.compress ?? true, forceZip64Format: opts.zip64 ?? false, mtime: new Date(2020, 0, 1) });
  for (const e of entries) {
    if (e.stream) zip.addReadStream(Readable.from([e.data]), e.name, options(e));
    else zip.addBuffer(e.data, e.name, options(e));
  }
  zip.end({ forceZip64Format: opts.zip64 ?? false, comment: opts.comment ?? '' });
  return readAll(zip.outputStream);
}

function wheelEntries(over: Partial<Entry> = {}): Entry[] {
  return [
    { name: 'acme_utils/__init__.py', data: Buffer.from('x = 1\n') },
    { name: `${DIST_INFO}/METADATA`, data: METADATA, ...over },
    { name: `${DIST_INFO}/WHEEL`, data: Buffer.from('Wheel-Version: 1.0\n') },
    { name: `${DIST_INFO}/RECORD`, data: RECORD },
  ];
}

/** A reader over bytes in memory that records every read. */
function memoryReader(bytes: Buffer): ZipRangeReader & { reads: { start: number; end: number }[]; bytesRead(): number } {
  const reads: { start: number; end: number }[] = [];
  return {
    reads,
    bytesRead: () => reads.reduce((n, r) => n + (r.end - r.start), 0),
    async tail(length: number) {
      const start = Math.max(0, bytes.length - length);
      reads.push({ start, end: bytes.length });
      return { bytes: bytes.subarray(start), size: bytes.length };
    },
    async read(start: number, end: number) {
      if (start < 0 || end > bytes.length || end < start) throw new Error(`bad read ${start}-${end}`);
      reads.push({ start, end });
      return bytes.subarray(start, end);
    },
  };
}

async function refused(t: import('ava').ExecutionContext, bytes: Buffer, pattern: RegExp, filename = FILENAME): Promise<void> {
  const err = await t.throwsAsync(readWheelMetadataByRanges(memoryReader(bytes), filename), { instanceOf: InvalidDistribution });
  t.regex(err!.message, pattern);
}

test('a real wheel: the exact METADATA bytes, in one read of its tail', async (t) => {
  const dist = await buildWheel({ name: 'Acme.Utils', version: '1.0', requiresDist: ['acme-core>=1.0'] });
  const r = memoryReader(dist.bytes);
  const got = await readWheelMetadataByRanges(r, dist.filename);
  t.deepEqual(got.bytes, dist.metadata);
  t.is(got.member, 'acme_utils-1.0.dist-info/METADATA');
  t.is(r.reads.length, 1, 'a small wheel is all tail');
});

for (const [title, over, opts] of [
  ['deflated', {}, {}],
  ['stored', { compress: false }, {}],
  ['deflated, with a data descriptor', { stream: true }, {}],
  ['stored, with a data descriptor', { stream: true, compress: false }, {}],
  ['in a zip64 archive', {}, { zip64: true }],
  ['in a zip64 archive, with a data descriptor', { stream: true }, { zip64: true }],
  ['behind an archive comment', {}, { comment: 'built by hand '.repeat(50) }],
] as const) {
  test(`METADATA ${title}`, async (t) => {
    const bytes = await zipOf(wheelEntries(over), opts);
    t.deepEqual((await readWheelMetadataByRanges(memoryReader(bytes), FILENAME)).bytes, METADATA);
  });
}

test('a big wheel costs the tail and the member, not the wheel', async (t) => {
  // METADATA first, then 4 MiB of data: the member lies far from the tail.
  const big = Buffer.alloc(4 * 1024 * 1024, 7);
  const bytes = await zipOf([
    { name: `${DIST_INFO}/METADATA`, data: METADATA },
    { name: 'acme_utils/big.bin', data: big, compress: false },
    { name: `${DIST_INFO}/RECORD`, data: RECORD },
  ]);
  const r = memoryReader(bytes);
  t.deepEqual((await readWheelMetadataByRanges(r, FILENAME)).bytes, METADATA);
  t.is(r.reads.length, 2);
  t.true(r.bytesRead() < TAIL_BYTES + 4096, `${r.bytesRead()} bytes read`);
});

test('a central directory longer than the tail costs one more read, and the member one', async (t) => {
  const many: Entry[] = Array.from({ length: 2000 }, (_, i) => ({ name: `acme_utils/module_with_a_long_name_${String(i).padStart(5, '0')}.py`, data: Buffer.from(`x = ${i}\n`) }));
  const bytes = await zipOf([...many, ...wheelEntries()]);
  const r = memoryReader(bytes);
  t.deepEqual((await readWheelMetadataByRanges(r, FILENAME)).bytes, METADATA);
  t.is(r.reads.length, 3);
  t.is(r.reads[1]!.end, r.reads[0]!.start, 'the rest of the central directory ends where the tail starts');
  t.true(r.reads[2]!.end - r.reads[2]!.start < 4096, 'the member alone');
});

test('bytes prepended to the archive shift its offsets, as zipfile reads them', async (t) => {
  const bytes = Buffer.concat([Buffer.from('#!/bin/sh\nexit 0\n'), await zipOf(wheelEntries())]);
  t.deepEqual((await readWheelMetadataByRanges(memoryReader(bytes), FILENAME)).bytes, METADATA);
});

test('the dist-info directory may spell the name and version differently', async (t) => {
  const bytes = await zipOf(wheelEntries().map((e) => ({ ...e, name: e.name.replace(DIST_INFO, 'Acme.Utils-1.0.0.dist-info') })));
  t.deepEqual((await readWheelMetadataByRanges(memoryReader(bytes), FILENAME)).bytes, METADATA);
});

// --- malformed ---------------------------------------------------------------

test('malformed: not a zip, or cut short', async (t) => {
  await refused(t, Buffer.from('not a zip at all, just text'), /no end of central directory/);
  await refused(t, Buffer.alloc(10), /too short/);
  const bytes = await zipOf(wheelEntries());
  await refused(t, bytes.subarray(0, bytes.length - 10), /no end of central directory/);
  // The end record intact, the central directory cut away.
  const eocd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  await refused(t, Buffer.concat([bytes.subarray(0, 40), bytes.subarray(eocd)]), /central directory|offset/);
});

test('malformed: no, two, or somebody else\'s .dist-info', async (t) => {
  await refused(t, await zipOf([{ name: 'acme_utils/__init__.py', data: RECORD }]), /no \.dist-info directory/);
  await refused(t, await zipOf([...wheelEntries(), { name: 'other-1.0.dist-info/METADATA', data: METADATA }]), /2 \.dist-info directories/);
  await refused(t, await zipOf(wheelEntries().map((e) => ({ ...e, name: e.name.replace(DIST_INFO, 'evil-1.0.dist-info') }))), /not the \.dist-info directory of acme-utils 1\.0/);
  await refused(t, await zipOf(wheelEntries().map((e) => ({ ...e, name: e.name.replace(DIST_INFO, 'acme_utils-2.0.dist-info') }))), /not the \.dist-info directory/);
  await refused(t, await zipOf(wheelEntries().filter((e) => !e.name.endsWith('METADATA'))), /no acme_utils-1\.0\.dist-info\/METADATA/);
});

test('malformed: a duplicate METADATA entry', async (t) => {
  const zip = new yazl.ZipFile();
  for (const e of [...wheelEntries(), { name: `${DIST_INFO}/METADATA`, data: Buffer.from('Name: other\n') }]) zip.addBuffer(e.data, e.name);
  zip.end();
  await refused(t, await readAll(zip.outputStream), /2 entries named/);
});

/** Offsets of the METADATA member's records in a zip made by zipOf (no comment, no zip64). */
function locate(bytes: Buffer): { local: number; central: number } {
  const name = Buffer.from(`${DIST_INFO}/METADATA`);
  const central = bytes.lastIndexOf(name) - 46;
  return { local: bytes.readUInt32LE(central + 42), central };
}

test('malformed: a METADATA whose bytes fail the CRC-32 or the size', async (t) => {
  const bytes = Buffer.from(await zipOf(wheelEntries({ compress: false })));
  const { local } = locate(bytes);
  const data = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
  const flipped = Buffer.from(bytes);
  flipped[data + 5] = flipped[data + 5]! ^ 0xff;
  await refused(t, flipped, /fails its CRC-32 check/);

  const deflated = Buffer.from(await zipOf(wheelEntries()));
  const at = locate(deflated);
  const lying = Buffer.from(deflated);
  lying.writeUInt32LE(METADATA.length - 1, at.central + 24);
  await refused(t, lying, /holds \d+ bytes|does not inflate/);
});

test('malformed: the local header names another member', async (t) => {
  const bytes = Buffer.from(await zipOf(wheelEntries()));
  const { local } = locate(bytes);
  bytes.write('X', local + 30, 'latin1');
  await refused(t, bytes, /member name in the directory .* and in its header .* differ/);
});

test('malformed: an unsupported compression method, or encryption', async (t) => {
  const bz2 = Buffer.from(await zipOf(wheelEntries()));
  bz2.writeUInt16LE(12, locate(bz2).central + 10);
  await refused(t, bz2, /compression method 12/);
  const encrypted = Buffer.from(await zipOf(wheelEntries()));
  const c = locate(encrypted).central;
  encrypted.writeUInt16LE(encrypted.readUInt16LE(c + 8) | 1, c + 8);
  await refused(t, encrypted, /encrypted/);
});

test('malformed: a deflate stream that is not one', async (t) => {
  const bytes = Buffer.from(await zipOf(wheelEntries()));
  const { local, central } = locate(bytes);
  const data = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
  const size = bytes.readUInt32LE(central + 20);
  bytes.fill(0xff, data, data + size);
  await refused(t, bytes, /does not inflate|holds|CRC/);
});

test('malformed: offsets outside the file', async (t) => {
  const bytes = Buffer.from(await zipOf(wheelEntries()));
  bytes.writeUInt32LE(bytes.length + 100, locate(bytes).central + 42);
  await refused(t, bytes, /outside the file|runs past/);
});

test('a METADATA over the size limit is refused before it is read', async (t) => {
  const bytes = await zipOf(wheelEntries());
  const r = memoryReader(bytes);
  await t.throwsAsync(readWheelMetadataByRanges(r, FILENAME, { maxMetadataBytes: 100, maxCentralDirectoryBytes: 1 << 20 }), { message: /the limit is 100/ });
  await t.throwsAsync(readWheelMetadataByRanges(r, FILENAME, { maxMetadataBytes: 1 << 20, maxCentralDirectoryBytes: 100 }), { message: /central directory is \d+ bytes/ });
});


// Where Python's zipfile (any of 3.11-3.13, on any OS) would read another member or none, nothing is read.

test('malformed as zipfile sees it: a name flagged UTF-8 that is not, a version zipfile cannot extract', async (t) => {
  const notUtf8 = Buffer.from(await zipOf(wheelEntries()));
  const record = notUtf8.lastIndexOf(Buffer.from(`${DIST_INFO}/RECORD`));
  t.true((notUtf8.readUInt16LE(record - 46 + 8) & 0x800) !== 0, 'yazl flags names UTF-8');
  notUtf8[record + 3] = 0xff;
  await refused(t, notUtf8, /flagged UTF-8 is not UTF-8/);
  const version = Buffer.from(await zipOf(wheelEntries()));
  version[version.lastIndexOf(Buffer.from(`${DIST_INFO}/WHEEL`)) - 46 + 6] = 136;
  await refused(t, version, /needs zip version 13\.6/);
});

test('malformed as zipfile sees it: METADATA data running into the next entry', async (t) => {
  const bytes = Buffer.from(await zipOf(wheelEntries({ compress: false })));
  const { central } = locate(bytes);
  bytes.writeUInt32LE(bytes.readUInt32LE(central + 20) + 8, central + 20);
  await refused(t, bytes, /overlaps the next entry/);
});

test("malformed as zipfile sees it: a '\\' name that is another METADATA on Windows", async (t) => {
  // yazl writes '\' as '/': the names are written with '|', then patched.
  const withBackslash = async (extra: Entry): Promise<Buffer> => {
    const bytes = Buffer.from(await zipOf([...wheelEntries(), extra]));
    const name = Buffer.from(extra.name);
    for (let i = bytes.indexOf(name); i >= 0; i = bytes.indexOf(name, i + 1)) bytes[i + name.indexOf(0x7c)] = 0x5c;
    return bytes;
  };
  await refused(t, await withBackslash({ name: `${DIST_INFO}|METADATA`, data: Buffer.from('Name: evil\n') }), /another .* on Windows/);
  await refused(t, await withBackslash({ name: 'evil-1.0.dist-info|METADATA', data: Buffer.from('Name: evil\n') }), /on Windows/);
  // A '\' elsewhere changes nothing.
  t.deepEqual((await readWheelMetadataByRanges(memoryReader(await withBackslash({ name: 'acme_utils/a|b.py', data: RECORD })), FILENAME)).bytes, METADATA);
});
