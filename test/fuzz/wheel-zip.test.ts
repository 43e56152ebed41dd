/**
 * Fuzzing src/pypi/wheel-zip.ts (`readWheelMetadataByRanges`), the reader
 * of upstream wheels' METADATA by byte ranges: mutated real wheels (plain and
 * zip64) and zips written byte by byte. Each call returns bytes or throws
 * InvalidDistribution (never a RangeError from a short buffer: that would
 * read as an upstream failure and be retried forever), within a time bound.
 * Where the upload inspector (yauzl, a separate implementation) also accepts
 * the wheel, both return the same bytes; and accepted bytes are those of the
 * one METADATA entry, which nothing lied about.
 */
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import test from 'ava';
import fc from 'fast-check';
import yazl from 'yazl';
import { InvalidDistribution } from '../../src/errors.ts';
import { readWheelMetadataByRanges, type ZipRangeReader } from '../../src/pypi/wheel-zip.ts';
import { readWheelMetadata } from '../../src/upload/inspect.ts';
import { buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { mutate, mutations, zipArchive } from './_archives.ts';
import { CALL_BUDGET_MS, check, outcomeAsync } from './_fuzz.ts';

const FILENAME = 'acme_utils-1.0-py3-none-any.whl';
const ARCHIVE = { numRuns: 400, timeLimitMs: 6000, runTimeoutMs: CALL_BUDGET_MS * 2 };

let wheel: BuiltDist;
let zip64: Buffer;

test.before(async () => {
  wheel = await buildWheel({ name: 'acme-utils', version: '1.0', requiresDist: ['x>=1'] });
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from('x = 1\n'), 'acme_utils/__init__.py', { forceZip64Format: true });
  zip.addBuffer(wheel.metadata, 'acme_utils-1.0.dist-info/METADATA', { forceZip64Format: true });
  zip.addBuffer(Buffer.from('Wheel-Version: 1.0\n'), 'acme_utils-1.0.dist-info/WHEEL', { forceZip64Format: true, compress: false });
  zip.addBuffer(Buffer.from(''), 'acme_utils-1.0.dist-info/RECORD', { forceZip64Format: true });
  zip.end({ forceZip64Format: true, comment: '' });
  zip64 = await readAll(zip.outputStream);
});

function reader(bytes: Buffer): ZipRangeReader {
  return {
    async tail(length) {
      return { bytes: bytes.subarray(Math.max(0, bytes.length - length)), size: bytes.length };
    },
    async read(start, end) {
      if (start < 0 || end > bytes.length || end < start) throw new Error(`read ${start}-${end} of a ${bytes.length}-byte file`);
      return bytes.subarray(start, end);
    },
  };
}

/** Our answer (bytes or the refusal), and the upload inspector's where it accepts too: they must agree. */
async function read(bytes: Buffer): Promise<Buffer | null> {
  const ours = await outcomeAsync(() => readWheelMetadataByRanges(reader(bytes), FILENAME), [InvalidDistribution]);
  if (!ours.ok) return null;
  const theirs = await outcomeAsync(() => readWheelMetadata({ size: bytes.length, open: async () => ({
    read: async (p: number, n: number) => bytes.subarray(p, p + n),
    stream: (range?: { start: number; end: number }) => Readable.from([range ? bytes.subarray(range.start, range.end + 1) : bytes]),
    close: async () => undefined,
  }) }, FILENAME, 'acme-utils'), [InvalidDistribution]);
  if (theirs.ok && !theirs.value.equals(ours.value.bytes)) throw new Error('the two zip readers disagree on the METADATA bytes');
  return ours.value.bytes;
}

test('mutated wheels, plain and zip64: METADATA bytes or InvalidDistribution', async (t) => {
  await check(t, fc.asyncProperty(mutations, fc.boolean(), async (ms, big) => {
    await read(mutate(big ? zip64 : wheel.bytes, ms));
  }), ARCHIVE);
});

test('generated zips (names, methods, flags, lying sizes and CRCs): bytes of the one METADATA, or InvalidDistribution', async (t) => {
  await check(t, fc.asyncProperty(zipArchive, async ({ entries, bytes }) => {
    const got = await read(bytes);
    if (got === null) return;
    const meta = entries.filter((e) => e.name === 'acme_utils-1.0.dist-info/METADATA' || e.name === 'Acme.Utils-1.0.dist-info/METADATA');
    if (meta.length !== 1 || !Buffer.from(meta[0]!.data).equals(got) || meta[0]!.lieCrc) {
      throw new Error(`accepted METADATA ${JSON.stringify(got.toString('latin1').slice(0, 80))} from ${JSON.stringify(meta.map((m) => m.name))}`);
    }
  }), ARCHIVE);
});
