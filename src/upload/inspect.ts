/**
 * Reads the core metadata (METADATA / PKG-INFO) out of an uploaded file, through
 * the blob store's random-access reader (no path: the store may be remote).
 *
 * Uploads can be 2 GiB, so nothing here loads a whole archive: zips are read
 * through their central directory (yauzl), tarballs are streamed to their end,
 * every member checked and only PKG-INFO kept. Every check that fails throws
 * InvalidDistribution with one warehouse-style line.
 */
import { posix } from 'node:path';
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import { crc32, createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import type { Header as TarHeaders } from 'tar-stream';
import yauzl from 'yauzl';
import type { Entry as ZipEntry, ZipFile } from 'yauzl';
import { InvalidDistribution } from '../errors.ts';
import { normalizeName } from '../pypi/names.ts';
import type { BlobReader } from '../storage/types.ts';

/** An archive to inspect, wherever the store keeps it: its size, and random access to its bytes, opened and closed here. */
export interface Archive {
  size: number;
  open(): Promise<BlobReader>;
}

export interface InspectLimits {
  /** Largest METADATA / PKG-INFO we will read into memory. */
  maxMetadataBytes: number;
  /** Bomb rule, as warehouse: reject when uncompressed > this AND uncompressed/file size > maxRatio. */
  maxUncompressedBytes: number;
  maxRatio: number;
  /** Most entries a zip (its central directory) or members a tar.gz may have. */
  maxEntries: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_INSPECT_LIMITS: InspectLimits = Object.freeze({
  // Real METADATA is far smaller (a long description is most of it); 1 MiB bounds what one upload holds in memory.
  maxMetadataBytes: MiB,
  maxUncompressedBytes: 64 * MiB,
  maxRatio: 50,
  maxEntries: 100_000,
});

const NOT_A_ZIP = 'Invalid distribution file. File is not a zip archive.';
const NOT_A_TAR_GZ = 'Invalid distribution file. File is not a gzip-compressed tar archive.';
const NO_PKG_INFO = 'Invalid distribution file. sdist has no PKG-INFO in its top-level directory.';

/** Returns the exact bytes of `<name>-<version>.dist-info/METADATA`. `project` is the upload's project name. */
export async function readWheelMetadata(
  archive: Archive,
  filename: string,
  project: string,
  limits: InspectLimits = DEFAULT_INSPECT_LIMITS,
): Promise<Buffer> {
  const wanted = normalizeName(project);
  return withZip(archive, async (zip) => {
    const { tops, kept } = await scanZip(zip, limits, (name) => /^[^/]+\.dist-info\/(?:METADATA|WHEEL|RECORD)$/.test(name));
    const infoDirs = [...tops].filter((top) => top.endsWith('.dist-info/')).map((top) => top.slice(0, -1));
    // Like pip (wheel_dist_info_dir): one .dist-info, named for this project; a
    // second one would make pip and pydepot disagree about what the wheel is.
    if (infoDirs.length === 0) {
      throw new InvalidDistribution(`Invalid distribution file. Wheel '${filename}' has no .dist-info directory.`);
    }
    if (infoDirs.length > 1) {
      throw new InvalidDistribution(
        `Invalid distribution file. Wheel '${filename}' has ${infoDirs.length} .dist-info directories (${infoDirs.sort().join(', ')}); it must have exactly one.`,
      );
    }
    const infoDir = infoDirs[0]!;
    const dash = infoDir.indexOf('-');
    if (dash <= 0 || normalizeName(infoDir.slice(0, dash)) !== wanted) {
      throw new InvalidDistribution(
        `Invalid distribution file. Wheel '${filename}' contains '${infoDir}', which is not the .dist-info directory of project '${wanted}'.`,
      );
    }
    for (const required of ['METADATA', 'WHEEL', 'RECORD']) {
      if (!kept.has(`${infoDir}/${required}`)) {
        throw new InvalidDistribution(`Wheel '${filename}' does not contain the required ${required} file: ${infoDir}/${required}`);
      }
    }
    return readZipEntry(zip, kept.get(`${infoDir}/METADATA`)!, limits);
  });
}

/** Returns the exact bytes of `<topdir>/PKG-INFO`. */
export async function readSdistMetadata(
  archive: Archive,
  filename: string,
  format: 'tar.gz' | 'zip',
  limits: InspectLimits = DEFAULT_INSPECT_LIMITS,
): Promise<Buffer> {
  if (format === 'zip') return readZipSdistMetadata(archive, filename, limits);
  return readTarGzSdistMetadata(archive, filename, limits);
}

// --- zip ---------------------------------------------------------------------

/**
 * yauzl over a BlobReader. Its default read() opens a stream per call (two
 * per central-directory entry); pread is one call. Closing is the owner's.
 */
class BlobZipReader extends yauzl.RandomAccessReader {
  constructor(private readonly blob: BlobReader) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    // yauzl's end is exclusive, BlobReader's inclusive.
    return this.blob.stream({ start, end: end - 1 });
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null, bytesRead?: number) => void): void {
    this.blob.read(position, length).then((chunk) => {
      chunk.copy(buffer, offset);
      callback(null, chunk.length);
    }, (err: Error) => callback(err));
  }

  override close(callback: (err: Error | null) => void): void {
    setImmediate(() => callback(null));
  }
}

async function withZip<T>(archive: Archive, use: (zip: ZipFile) => Promise<T>): Promise<T> {
  const reader = await archive.open();
  try {
    let zip: ZipFile;
    try {
      zip = await yauzl.fromRandomAccessReaderPromise(new BlobZipReader(reader), archive.size,
        { lazyEntries: true, validateEntrySizes: true, strictFileNames: true, autoClose: false });
    } catch (err) {
      if (isIoError(err)) throw err;
      throw new InvalidDistribution(NOT_A_ZIP);
    }
    // A late failure is reported as 'error' after we are done; without a
    // listener that would crash the process.
    zip.on('error', () => {});
    try {
      return await use(zip);
    } finally {
      zip.close();
    }
  } finally {
    await reader.close();
  }
}

interface ZipScan {
  /** First path component of every entry, with its trailing '/' when it is a directory. */
  tops: Set<string>;
  /** Entries the caller asked to keep, by name. */
  kept: Map<string, ZipEntry>;
}

/** Walks the central directory once, applying the rules that hold for every zip we accept. */
async function scanZip(zip: ZipFile, limits: InspectLimits, keep: (name: string) => boolean): Promise<ZipScan> {
  const names = new Set<string>();
  const tops = new Set<string>();
  const kept = new Map<string, ZipEntry>();
  let uncompressed = 0;
  // The end record's count is what yauzl will walk (it reads exactly that many
  // records): refuse before reading any of them.
  if (zip.entryCount > limits.maxEntries) {
    throw new InvalidDistribution(`Invalid distribution file. ZIP archive has more than ${limits.maxEntries} entries.`);
  }
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      // Two entries with one name mean two parsers may pick different bytes.
      if (names.has(name)) {
        throw new InvalidDistribution(`Invalid distribution file. ZIP archive not accepted: duplicate entry '${name}'.`);
      }
      names.add(name);
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        throw new InvalidDistribution(
          `Invalid distribution file. Entry '${name}' uses an unsupported compression method (${entry.compressionMethod}); only STORED and DEFLATED are allowed.`,
        );
      }
      if (entry.isEncrypted()) {
        throw new InvalidDistribution(`Invalid distribution file. Entry '${name}' is encrypted.`);
      }
      // Declared sizes are what an installer will inflate; validateEntrySizes
      // makes yauzl hold any entry we read to its declared size.
      uncompressed += entry.uncompressedSize;
      if (isBomb(uncompressed, zip.fileSize, limits)) {
        throw new InvalidDistribution(`Invalid distribution file. File exceeds compression ratio of ${limits.maxRatio}`);
      }
      const slash = name.indexOf('/');
      tops.add(slash === -1 ? name : name.slice(0, slash + 1));
      if (keep(name)) kept.set(name, entry);
    }
  } catch (err) {
    if (err instanceof InvalidDistribution || isIoError(err)) throw err;
    throw new InvalidDistribution(`Invalid distribution file. ZIP archive not accepted: ${messageOf(err)}.`);
  }
  return { tops, kept };
}

async function readZipEntry(zip: ZipFile, entry: ZipEntry, limits: InspectLimits): Promise<Buffer> {
  if (entry.uncompressedSize > limits.maxMetadataBytes) {
    throw new InvalidDistribution(
      `Invalid distribution file. ${entry.fileName} is ${entry.uncompressedSize} bytes; the limit is ${limits.maxMetadataBytes}.`,
    );
  }
  let stream: Readable | undefined;
  try {
    stream = await zip.openReadStreamPromise(entry);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    // yauzl checks sizes but not CRCs; Python's zipfile (pip, warehouse) does.
    if (crc32(data) !== entry.crc32) {
      throw new InvalidDistribution(`Invalid distribution file. ${entry.fileName} fails its CRC-32 check.`);
    }
    return data;
  } catch (err) {
    if (err instanceof InvalidDistribution || isIoError(err)) throw err;
    throw new InvalidDistribution(`Invalid distribution file. Cannot read ${entry.fileName}: ${messageOf(err)}.`);
  } finally {
    stream?.destroy();
  }
}

async function readZipSdistMetadata(archive: Archive, filename: string, limits: InspectLimits): Promise<Buffer> {
  return withZip(archive, async (zip) => {
    const { tops, kept } = await scanZip(zip, limits, (name) => /^[^/]+\/PKG-INFO$/.test(name));
    const [top, ...others] = tops;
    if (top === undefined || others.length > 0 || !top.endsWith('/')) {
      throw new InvalidDistribution(singleTopLevelMessage(filename, [...tops]));
    }
    const pkgInfo = kept.get(`${top}PKG-INFO`);
    if (pkgInfo === undefined) throw new InvalidDistribution(NO_PKG_INFO);
    return readZipEntry(zip, pkgInfo, limits);
  });
}

// --- tar.gz ------------------------------------------------------------------

// tar-stream reports unknown type flags (e.g. old GNU sparse 'S') as null, which its types omit.
type TarHeader = Omit<TarHeaders, 'type' | 'pax'> & { type: TarHeaders['type'] | null; pax?: Record<string, string> | null };

async function readTarGzSdistMetadata(archive: Archive, filename: string, limits: InspectLimits): Promise<Buffer> {
  const fileSize = archive.size;
  const reader = await archive.open();
  const source = reader.stream();
  const gunzip = createGunzip();
  let uncompressed = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      uncompressed += chunk.length;
      if (isBomb(uncompressed, fileSize, limits)) {
        done(new InvalidDistribution(`Invalid distribution file. File exceeds compression ratio of ${limits.maxRatio}`));
      } else {
        done(null, chunk);
      }
    },
  });
  const extract = tar.extract();
  // .pipe() does not forward errors: route each upstream failure into the
  // extractor so the loop below sees it. The listeners stay attached so a late
  // error after clean-up cannot become an uncaught exception.
  for (const upstream of [source, gunzip, counter]) {
    upstream.on('error', (err: Error) => extract.destroy(err));
  }
  extract.on('error', () => {});
  source.pipe(gunzip).pipe(counter).pipe(extract);

  // Read to the end: a member after PKG-INFO (real sdists put it first) is as
  // much the uploader's as one before it. Only PKG-INFO is kept; every other
  // member's data is drained as it streams past.
  let topDir: string | undefined;
  let pkgInfo: Buffer | undefined;
  let members = 0;
  // Symlinks by member name, to follow chains once every member is known.
  const symlinks = new Map<string, string>();
  const seenFiles = new Set<string>();
  try {
    for await (const entry of extract) {
      if (++members > limits.maxEntries) {
        throw new InvalidDistribution(`Invalid distribution file. tar archive has more than ${limits.maxEntries} entries.`);
      }
      const header = entry.header as unknown as TarHeader;
      // tar-stream decodes a base-256 size field whose first byte is neither
      // 0x80 nor 0xff as `null` and still emits the member; reading or
      // draining it then waits forever (the upload hangs, holding its
      // descriptor and temp file). A size that is not a byte count is a
      // broken header: refuse it before touching the member's data.
      // (Found by test/fuzz/inspect.test.ts.)
      if (!Number.isSafeInteger(header.size) || header.size < 0) throw new InvalidDistribution(NOT_A_TAR_GZ);
      const name = checkTarPath(header.name, filename);
      if (name === '') {
        if (header.type !== 'directory') {
          throw new InvalidDistribution(
            `Invalid distribution file. sdist '${filename}' has entry '${header.name}' of type '${header.type ?? 'unknown'}'; the archive root can only be a directory.`,
          );
        }
        entry.resume();
        continue;
      }
      const [first = '', ...rest] = name.split('/');
      if (rest.length === 0 && header.type !== 'directory') {
        throw new InvalidDistribution(singleTopLevelMessage(filename, [name]));
      }
      if (topDir === undefined) topDir = first;
      else if (first !== topDir) throw new InvalidDistribution(singleTopLevelMessage(filename, [`${topDir}/`, `${first}/`]));
      checkTarEntryType(header, name, topDir, filename);
      // Two members of one name: an extractor writes the first, then replaces it,
      // and a link that is live in between escapes every check of the last one.
      if (header.type !== 'directory') {
        if (seenFiles.has(name)) throw new InvalidDistribution(`Invalid distribution file. sdist '${filename}' has more than one '${name}'.`);
        seenFiles.add(name);
      }
      if (header.type === 'symlink') symlinks.set(name, header.linkname ?? '');

      if (name === `${topDir}/PKG-INFO`) {
        // Python's tarfile.getmember picks the last of two same-named members; we would read the first.
        if (pkgInfo !== undefined) {
          throw new InvalidDistribution(`Invalid distribution file. sdist '${filename}' has more than one '${name}'.`);
        }
        if (header.type !== 'file' && header.type !== 'contiguous-file') {
          throw new InvalidDistribution(`Invalid distribution file. ${name} in '${filename}' is not a regular file.`);
        }
        if ((header.size ?? 0) > limits.maxMetadataBytes) {
          throw new InvalidDistribution(
            `Invalid distribution file. ${name} is ${header.size} bytes; the limit is ${limits.maxMetadataBytes}.`,
          );
        }
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        pkgInfo = Buffer.concat(chunks);
        continue;
      }
      entry.resume();
    }
  } catch (err) {
    if (err instanceof InvalidDistribution || isIoError(err)) throw err;
    throw new InvalidDistribution(NOT_A_TAR_GZ);
  } finally {
    source.destroy();
    gunzip.destroy();
    counter.destroy();
    extract.destroy();
    await reader.close();
  }
  if (pkgInfo === undefined) throw new InvalidDistribution(NO_PKG_INFO);
  if (topDir !== undefined) checkSymlinkChains(symlinks, topDir, filename);
  return pkgInfo;
}

// As Linux's own limit on symlinks followed in one path lookup.
const MAX_SYMLINK_HOPS = 40;

/**
 * Each link's target was checked as text; through other links it may still
 * lead outside (`sub/a -> ..`, then `sub/b -> a/..`). Resolves every symlink
 * as a filesystem would, following links met on the way, and refuses the
 * archive when one ends outside its top-level directory or loops.
 */
function checkSymlinkChains(symlinks: ReadonlyMap<string, string>, topDir: string, filename: string): void {
  const refuse = (name: string, why: string): never => {
    throw new InvalidDistribution(`Invalid distribution file. sdist '${filename}' has a link '${name}' that ${why}.`);
  };
  for (const [name, target] of symlinks) {
    let hops = 0;
    // Components of the path resolved so far, and those still to walk.
    let done: string[] = [];
    let todo = [...posix.dirname(name).split('/'), ...target.split('/')];
    while (todo.length > 0) {
      const part = todo.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (done.length <= 1) refuse(name, 'leads outside its top-level directory through other links');
        done.pop();
        continue;
      }
      done.push(part);
      const link = symlinks.get(done.join('/'));
      if (link === undefined) continue;
      if (++hops > MAX_SYMLINK_HOPS) refuse(name, 'loops through other links');
      done.pop();
      todo = [...link.split('/'), ...todo];
    }
    if (done[0] !== topDir) refuse(name, 'leads outside its top-level directory through other links');
  }
}

/**
 * Returns the member path without leading './' (or '' for the archive root).
 * Absolute paths and '..' are refused outright: no legitimate sdist has them.
 */
function checkTarPath(raw: string, filename: string): string {
  let name = raw;
  while (name.startsWith('./')) name = name.slice(2);
  if (name === '.' || name === '') return '';
  const unsafe =
    name.startsWith('/') ||
    /^[A-Za-z]:/.test(name) ||
    name.split(/[\\/]/).includes('..');
  if (unsafe) {
    throw new InvalidDistribution(`Invalid distribution file. sdist '${filename}' contains an unsafe path: '${raw}'.`);
  }
  return name.endsWith('/') ? name.slice(0, -1) : name;
}

/** Regular files and directories only, plus links that stay inside the top-level directory. */
function checkTarEntryType(header: TarHeader, name: string, topDir: string, filename: string): void {
  const pax = header.pax ?? {};
  const sparse = Object.keys(pax).some((key) => key.startsWith('GNU.sparse.'));
  switch (sparse ? 'sparse' : header.type) {
    case 'file':
    case 'contiguous-file':
    case 'directory':
      return;
    case 'symlink':
    case 'link': {
      const link = header.linkname ?? '';
      // A symlink target is relative to its own directory; a hard link names an archive member.
      const target = header.type === 'symlink' ? posix.join(posix.dirname(name), link) : posix.normalize(link);
      if (link.startsWith('/') || !(target === topDir || target.startsWith(`${topDir}/`))) {
        throw new InvalidDistribution(
          `Invalid distribution file. sdist '${filename}' has a link '${name}' pointing outside its top-level directory: '${link}'.`,
        );
      }
      return;
    }
    default:
      throw new InvalidDistribution(
        `Invalid distribution file. sdist '${filename}' has entry '${name}' of unsupported type '${sparse ? 'sparse' : header.type ?? 'unknown'}'; only files, directories and internal links are allowed.`,
      );
  }
}

// --- shared ------------------------------------------------------------------

function isBomb(uncompressed: number, fileSize: number, limits: InspectLimits): boolean {
  return uncompressed > limits.maxUncompressedBytes && uncompressed / Math.max(fileSize, 1) > limits.maxRatio;
}

function singleTopLevelMessage(filename: string, tops: string[]): string {
  const found = tops.length === 0 ? 'it is empty' : `found ${tops.map((t) => `'${t}'`).join(', ')}`;
  return `Invalid distribution file. sdist '${filename}' must contain exactly one top-level directory; ${found}.`;
}

/** Errors from the disk (ENOENT, EIO...) are ours to report as 500s, not the uploader's fault. */
function isIoError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

function messageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/[\r\n]+/g, ' ').replace(/\.$/, '');
}
