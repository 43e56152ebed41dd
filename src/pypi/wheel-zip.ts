/**
 * A wheel's `.dist-info/METADATA`, read from the end of its zip: the end of
 * central directory record (zip64 too), the central directory, then that one
 * member's local header and data. Written against a reader of byte ranges,
 * so an upstream that answers HTTP Range requests costs two or three small
 * reads instead of the whole wheel, and a cached blob is read the same way.
 *
 * pip reads wheels with Python's zipfile, and pip 26.2 refuses an install
 * whose `.metadata` differs from the wheel's METADATA, so the rules are
 * zipfile's (offsets shifted by data prepended to the archive, zip64 fields
 * taken from the extra field, sizes and method from the central directory,
 * the local header's name checked against it) and pip's (exactly one
 * top-level `.dist-info` directory). Anything odd is refused rather than
 * guessed: a wheel whose METADATA cannot be read with certainty simply gets
 * none served, and pip reads it from the wheel itself. The bytes are checked
 * against the central directory's size and CRC-32 before they are returned.
 *
 * Pure: the caller's reader does the I/O.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { InvalidDistribution } from '../errors.ts';
import { parseDistFilename } from './filenames.ts';
import { normalizeName } from './names.ts';
import { versionsEqual } from './versions.ts';

/** Random access to a file of known size, by ranges. */
export interface ZipRangeReader {
  /** The last `length` bytes of the file (all of it when it is shorter), and the file's size. */
  tail(length: number): Promise<{ bytes: Buffer; size: number }>;
  /** Exactly the bytes [start, end) of the file. */
  read(start: number, end: number): Promise<Buffer>;
}

export interface WheelZipLimits {
  /** Largest METADATA read (uncompressed, and compressed). */
  maxMetadataBytes: number;
  /** Largest central directory read: a wheel of 15,000 files has about 2 MB. */
  maxCentralDirectoryBytes: number;
}

export const DEFAULT_WHEEL_ZIP_LIMITS: WheelZipLimits = Object.freeze({
  maxMetadataBytes: 10 * 1024 * 1024,
  maxCentralDirectoryBytes: 32 * 1024 * 1024,
});

/**
 * The first read: the end record with the longest comment a zip may have,
 * which in most wheels also holds the whole central directory and, since
 * wheel builders write `.dist-info` last, the METADATA member itself.
 */
export const TAIL_BYTES = 64 * 1024 + 22;

export interface WheelMetadata {
  /** The member's bytes, exactly as stored in the wheel once inflated. */
  bytes: Buffer;
  /** `<name>-<version>.dist-info/METADATA` */
  member: string;
}

const EOCD_SIG = 0x06054b50;
const EOCD_LEN = 22;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_LOCATOR_LEN = 20;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP64_EOCD_LEN = 56;
const CENTRAL_SIG = 0x02014b50;
const CENTRAL_LEN = 46;
const LOCAL_SIG = 0x04034b50;
const LOCAL_LEN = 30;
const U32_MAX = 0xffffffff;

const FLAG_ENCRYPTED = 0x1;
const FLAG_COMPRESSED_PATCH = 0x20;
const FLAG_STRONG_ENCRYPTION = 0x40;
const FLAG_UTF8 = 0x800;
const STORED = 0;
const DEFLATED = 8;

function malformed(why: string): InvalidDistribution {
  return new InvalidDistribution(`not a readable wheel: ${why}`);
}

/** Where the central directory is, from the end records. */
export interface ZipEnd {
  /** Absolute offset of the central directory. */
  centralStart: number;
  centralSize: number;
  /** Bytes before the zip proper (zipfile's "concat"): added to every offset the archive records. */
  shift: number;
}

/** One central directory record, zip64 fields applied and the shift added. */
export interface CentralEntry {
  name: string;
  /** Bytes of the name as stored (the local header's is checked against it). */
  nameLength: number;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/**
 * Finds the end of central directory record in the file's last bytes, as
 * zipfile's _EndRecData does: the record without a comment first, else the
 * last signature in the tail. `tail` ends where the file ends.
 */
export function findEnd(tail: Buffer, size: number, readZip64: (start: number) => Buffer | null): ZipEnd {
  const tailStart = size - tail.length;
  if (tail.length < EOCD_LEN) throw malformed('too short to be a zip file');
  let at = tail.length - EOCD_LEN;
  if (!(tail.readUInt32LE(at) === EOCD_SIG && tail.readUInt16LE(tail.length - 2) === 0)) {
    at = tail.lastIndexOf(u32(EOCD_SIG));
    if (at < 0 || at + EOCD_LEN > tail.length) throw malformed('no end of central directory record (not a zip file)');
  }
  const eocd = tailStart + at;
  let centralSize = tail.readUInt32LE(at + 12);
  let centralOffset = tail.readUInt32LE(at + 16);
  let zip64 = false;
  // zipfile's _EndRecData64: a locator right before the record, and the zip64
  // record right before the locator (no extensible data assumed).
  if (eocd >= ZIP64_LOCATOR_LEN) {
    const locator = readZip64(eocd - ZIP64_LOCATOR_LEN);
    if (locator && locator.length >= ZIP64_LOCATOR_LEN && locator.readUInt32LE(0) === ZIP64_LOCATOR_SIG) {
      const disk = locator.readUInt32LE(4);
      const disks = locator.readUInt32LE(16);
      if (disk !== 0 || disks > 1) throw malformed('spans more than one disk');
      const start = eocd - ZIP64_LOCATOR_LEN - ZIP64_EOCD_LEN;
      const record = start >= 0 ? readZip64(start) : null;
      if (record && record.length >= ZIP64_EOCD_LEN && record.readUInt32LE(0) === ZIP64_EOCD_SIG) {
        centralSize = u64(record, 40, 'zip64 central directory size');
        centralOffset = u64(record, 48, 'zip64 central directory offset');
        zip64 = true;
      }
    }
  }
  let shift = eocd - centralSize - centralOffset;
  if (zip64) shift -= ZIP64_EOCD_LEN + ZIP64_LOCATOR_LEN;
  const centralStart = centralOffset + shift;
  if (centralStart < 0 || shift < 0) throw malformed('bad offset for the central directory');
  return { centralStart, centralSize, shift };
}

/** The central directory's records, as zipfile's _RealGetContents reads them. */
export function parseCentralDirectory(cd: Buffer, shift: number): CentralEntry[] {
  const entries: CentralEntry[] = [];
  let p = 0;
  while (p < cd.length) {
    if (p + CENTRAL_LEN > cd.length) throw malformed('truncated central directory');
    if (cd.readUInt32LE(p) !== CENTRAL_SIG) throw malformed('bad magic number in the central directory');
    // zipfile refuses the whole archive when any entry needs a newer version to extract.
    if (cd[p + 6]! > 63) throw malformed(`an entry needs zip version ${cd[p + 6]! / 10} to extract`);
    const flags = cd.readUInt16LE(p + 8);
    const method = cd.readUInt16LE(p + 10);
    const crc = cd.readUInt32LE(p + 16);
    let compressedSize = cd.readUInt32LE(p + 20);
    let size = cd.readUInt32LE(p + 24);
    const nameLength = cd.readUInt16LE(p + 28);
    const extraLength = cd.readUInt16LE(p + 30);
    const commentLength = cd.readUInt16LE(p + 32);
    let localHeaderOffset = cd.readUInt32LE(p + 42);
    const end = p + CENTRAL_LEN + nameLength + extraLength + commentLength;
    if (end > cd.length) throw malformed('truncated central directory');
    const nameBytes = cd.subarray(p + CENTRAL_LEN, p + CENTRAL_LEN + nameLength);
    const extra = cd.subarray(p + CENTRAL_LEN + nameLength, p + CENTRAL_LEN + nameLength + extraLength);
    // zipfile's _decodeExtra: the zip64 field (0x0001) holds, in order, each
    // of the sizes and the offset that the record marks as too large.
    for (let e = 0; e + 4 <= extra.length;) {
      const type = extra.readUInt16LE(e);
      const length = extra.readUInt16LE(e + 2);
      if (e + 4 + length > extra.length) throw malformed(`corrupt extra field ${type.toString(16).padStart(4, '0')}`);
      if (type === 0x0001) {
        const data = extra.subarray(e + 4, e + 4 + length);
        let q = 0;
        const next = (field: string): number => {
          if (q + 8 > data.length) throw malformed(`corrupt zip64 extra field: ${field} not found`);
          const v = u64(data, q, field);
          q += 8;
          return v;
        };
        if (size === U32_MAX) size = next('file size');
        if (compressedSize === U32_MAX) compressedSize = next('compressed size');
        if (localHeaderOffset === U32_MAX) localHeaderOffset = next('header offset');
      } else if (type === 0x7075) {
        // Python 3.12+ takes the name from this field, older ones do not:
        // two readers would disagree on what the member is called.
        throw malformed('an entry has a Unicode path extra field');
      }
      e += 4 + length;
    }
    const name = decodeName(nameBytes, flags);
    if (name.includes('\0')) throw malformed('a member name holds a NUL character');
    entries.push({ name, nameLength, flags, method, crc32: crc, compressedSize, size, localHeaderOffset: localHeaderOffset + shift });
    p = end;
  }
  return entries;
}

/**
 * The one `.dist-info` directory pip would read (wheel_dist_info_dir: the
 * first path component of every member), which must also be named for the
 * wheel's own project and version.
 */
export function distInfoDir(entries: readonly CentralEntry[], filename: string): string {
  const dir = distInfoDirOf(entries.map((e) => e.name), filename);
  // zipfile on Windows reads `\` as `/`: that view must find the same directory.
  if (entries.some((e) => e.name.includes('\\'))) {
    let windows: string;
    try {
      windows = distInfoDirOf(entries.map((e) => e.name.replace(/\\/g, '/')), filename);
    } catch (err) {
      throw malformed(`on Windows, where '\\' separates names too, ${(err as Error).message.replace(/^not a readable wheel: /, '')}`);
    }
    if (windows !== dir) throw malformed(`names with '\\' make the .dist-info directory '${windows}' on Windows, '${dir}' elsewhere`);
    const member = `${dir}/METADATA`;
    if (entries.filter((e) => e.name.replace(/\\/g, '/') === member).length !== 1) throw malformed(`names with '\\' make another ${member} on Windows`);
  }
  return dir;
}

function distInfoDirOf(names: readonly string[], filename: string): string {
  const tops = new Set(names.map((n) => n.split('/', 1)[0]!));
  const dirs = [...tops].filter((t) => t.endsWith('.dist-info'));
  if (dirs.length === 0) throw malformed('no .dist-info directory');
  if (dirs.length > 1) throw malformed(`${dirs.length} .dist-info directories (${dirs.sort().join(', ')})`);
  const dir = dirs[0]!;
  const stem = dir.slice(0, -'.dist-info'.length);
  const dash = stem.lastIndexOf('-');
  const wheel = parseDistFilename(filename);
  if (dash <= 0 || normalizeName(stem.slice(0, dash)) !== wheel.normalizedName || !versionsEqual(stem.slice(dash + 1), wheel.version)) {
    throw malformed(`'${dir}' is not the .dist-info directory of ${wheel.normalizedName} ${wheel.version}`);
  }
  return dir;
}

/** Checks the member's local header; returns where its data starts. */
export function localDataStart(header: Buffer, entry: CentralEntry): { nameEnd: number; extraLength: number } {
  if (header.length < LOCAL_LEN || header.readUInt32LE(0) !== LOCAL_SIG) throw malformed(`bad magic number in the local header of ${entry.name}`);
  const flags = header.readUInt16LE(6);
  const nameLength = header.readUInt16LE(26);
  const extraLength = header.readUInt16LE(28);
  if (header.length < LOCAL_LEN + nameLength) throw malformed(`truncated local header of ${entry.name}`);
  const name = decodeName(header.subarray(LOCAL_LEN, LOCAL_LEN + nameLength), flags);
  if (name !== entry.name) throw malformed(`member name in the directory '${entry.name}' and in its header '${name}' differ`);
  return { nameEnd: LOCAL_LEN + nameLength, extraLength };
}

/** The member's bytes from its stored data, held to the central directory's size and CRC-32. */
export function inflateMember(data: Buffer, entry: CentralEntry, limits: WheelZipLimits): Buffer {
  let out: Buffer;
  if (entry.method === STORED) {
    out = data;
  } else {
    try {
      out = inflateRawSync(data, { maxOutputLength: Math.max(1, Math.min(entry.size, limits.maxMetadataBytes)) });
    } catch (err) {
      throw malformed(`${entry.name} does not inflate: ${(err as Error).message}`);
    }
  }
  if (out.length !== entry.size) throw malformed(`${entry.name} holds ${out.length} bytes, its directory entry says ${entry.size}`);
  if (crc32(out) !== entry.crc32) throw malformed(`${entry.name} fails its CRC-32 check`);
  return out;
}

/**
 * Reads `<name>-<version>.dist-info/METADATA` out of the wheel `filename`
 * through `reader`: the tail, then whatever of the central directory and the
 * member the tail did not hold. Throws InvalidDistribution (the reason) when
 * the wheel cannot be read with certainty; the reader's own errors pass through.
 */
export async function readWheelMetadataByRanges(reader: ZipRangeReader, filename: string, limits: WheelZipLimits = DEFAULT_WHEEL_ZIP_LIMITS): Promise<WheelMetadata> {
  const { bytes: tail, size } = await reader.tail(TAIL_BYTES);
  const tailStart = size - tail.length;
  if (tailStart < 0) throw malformed('the file is shorter than its last bytes');
  /** [start, end) from the tail when it holds them, else from the reader. */
  const get = async (start: number, end: number): Promise<Buffer> => {
    if (start < 0 || end > size || start > end) throw malformed(`offsets ${start}-${end} lie outside the file`);
    if (start >= tailStart) return tail.subarray(start - tailStart, end - tailStart);
    if (end <= tailStart) return reader.read(start, end);
    return Buffer.concat([await reader.read(start, tailStart), tail.subarray(0, end - tailStart)]);
  };

  // The zip64 records sit just before the end record: in the tail unless the
  // comment is nearly 64 KiB long, and then not worth another request.
  const end = findEnd(tail, size, (start) => (start >= tailStart ? tail.subarray(start - tailStart) : null));
  if (end.centralSize > limits.maxCentralDirectoryBytes) {
    throw malformed(`the central directory is ${end.centralSize} bytes; the limit is ${limits.maxCentralDirectoryBytes}`);
  }
  const entries = parseCentralDirectory(await get(end.centralStart, end.centralStart + end.centralSize), end.shift);
  const dir = distInfoDir(entries, filename);
  const member = `${dir}/METADATA`;
  const found = entries.filter((e) => e.name === member);
  if (found.length === 0) throw malformed(`no ${member}`);
  if (found.length > 1) throw malformed(`${found.length} entries named ${member}`);
  const entry = found[0]!;
  if (entry.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_COMPRESSED_PATCH)) throw malformed(`${member} is encrypted or patched`);
  if (entry.method !== STORED && entry.method !== DEFLATED) throw malformed(`${member} uses compression method ${entry.method}; only stored and deflated are read`);
  if (entry.size > limits.maxMetadataBytes || entry.compressedSize > limits.maxMetadataBytes + 64 * 1024) {
    throw malformed(`${member} is ${entry.size} bytes; the limit is ${limits.maxMetadataBytes}`);
  }
  // One read for the header and the data, guessing the local extra field is
  // as long as the central one (it usually is); a second read when not.
  const guess = Math.min(size, entry.localHeaderOffset + LOCAL_LEN + entry.nameLength + 64 + entry.compressedSize);
  let chunk = await get(entry.localHeaderOffset, guess);
  const { nameEnd, extraLength } = localDataStart(chunk, entry);
  const dataStart = nameEnd + extraLength;
  const dataEnd = dataStart + entry.compressedSize;
  if (entry.localHeaderOffset + dataEnd > size) throw malformed(`${member} runs past the end of the file`);
  // zipfile (3.12+) refuses a member whose data runs into the next one's header, or into the central directory.
  if (entry.localHeaderOffset + dataEnd > endOffset(entries, entry, end.centralStart)) throw malformed(`${member} overlaps the next entry (possible zip bomb)`);
  if (dataEnd > chunk.length) chunk = Buffer.concat([chunk, await get(entry.localHeaderOffset + chunk.length, entry.localHeaderOffset + dataEnd)]);
  return { bytes: inflateMember(chunk.subarray(dataStart, dataEnd), entry, limits), member };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** zipfile's _end_offset: entries sorted by header offset, last first, each ending where the previous began. */
function endOffset(entries: readonly CentralEntry[], entry: CentralEntry, centralStart: number): number {
  const byOffset = [...entries].sort((a, b) => b.localHeaderOffset - a.localHeaderOffset);
  let end = centralStart;
  for (const e of byOffset) {
    if (e === entry) return end;
    end = e.localHeaderOffset;
  }
  return end;
}

function decodeName(bytes: Buffer, flags: number): string {
  if (flags & FLAG_UTF8) {
    try {
      return UTF8.decode(bytes);
    } catch {
      // zipfile cannot open such an archive at all.
      throw malformed('a member name flagged UTF-8 is not UTF-8');
    }
  }
  // zipfile decodes other names as cp437; the names that matter here are
  // ASCII, where the two agree, and any other byte only has to compare equal
  // between the central and the local header.
  return bytes.toString('latin1');
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

function u64(b: Buffer, at: number, field: string): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`${field} is out of range`);
  return Number(v);
}
