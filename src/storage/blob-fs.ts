/**
 * Content-addressed blobs on a filesystem:
 *   <root>/blobs/sha256/<aa>/<bb>/<sha256>   permanent, immutable
 *   <root>/tmp/<uuid>.part                    in flight; made permanent by rename
 *   <root>/quarantine/<sha256>.<ms>           found corrupt by a scrub: never served, kept for inspection
 * tmp/ sits on the same filesystem as blobs/, so a commit is one atomic
 * rename and a reader never sees half a file.
 *
 * A full filesystem (ENOSPC) or an exhausted quota (EDQUOT) while a temp file
 * is written or committed fails with InsufficientStorage; the caller's
 * abort()/discard() then removes what was written, as for any failed write.
 *
 * The temp files (TempArea) are also the S3 store's staging area: an object
 * store keeps in-flight bytes on local disk the same way (blob-s3.ts).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open as openFile, readdir, rename, rm, stat, statfs, unlink, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { InsufficientStorage, PayloadTooLarge } from '../errors.ts';
import { Digester, type Digests } from './digests.ts';
import type { BlobInfo, BlobReader, BlobStore, StoredBlob, TempBlob, TempBlobWriter } from './types.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const TEMP_KEY = /^[0-9a-f-]{36}$/;
// 256 KiB reads: far fewer syscalls than the 64 KiB default on big wheels.
const READ_CHUNK = 256 * 1024;
const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** A write that failed for want of space becomes the typed error the HTTP layer answers 507 (or 503) for. */
export function spaceError<E>(err: E): E | InsufficientStorage {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code && OUT_OF_SPACE.has(code) ? new InsufficientStorage() : err;
}

export class FsBlobStore implements BlobStore {
  private readonly blobDir: string;
  private readonly temps: TempArea;
  private readonly quarantineDir: string;

  constructor(root: string) {
    this.blobDir = join(root, 'blobs', 'sha256');
    this.temps = new TempArea(join(root, 'tmp'));
    this.quarantineDir = join(root, 'quarantine');
  }

  async init(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true });
    await this.temps.init();
  }

  private pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return join(this.blobDir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  createTemp(opts: { maxBytes?: number; tooLargeMessage?: string } = {}): TempBlobWriter {
    // After a commit the temp file is gone; once hashed, its blob path is known.
    return this.temps.create(opts, (path, sha256) => new FsReader(() => {
      const sha = sha256();
      return sha ? [path, this.pathOf(sha)] : [path];
    }));
  }

  openTemp(temp: TempBlob): Promise<BlobReader> {
    return this.temps.open(temp);
  }

  async commit(temp: TempBlob): Promise<void> {
    const target = this.pathOf(temp.sha256);
    const from = this.temps.path(temp.key);
    if (await exists(target)) {
      await unlink(from).catch(() => undefined);
      // Renewed so that gc, which spares young blobs, spares it until the
      // caller's row names it. Best effort: a read-only blob stays as it is.
      const now = new Date();
      await utimes(target, now, now).catch(() => undefined);
      return;
    }
    try {
      await mkdir(join(target, '..'), { recursive: true });
      await rename(from, target);
    } catch (err) {
      throw spaceError(err);
    }
  }

  discard(temp: TempBlob): Promise<void> {
    return this.temps.discard(temp);
  }

  async stat(sha256: string): Promise<BlobInfo | null> {
    try {
      const s = await stat(this.pathOf(sha256));
      return { size: s.size, mtime: s.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  open(sha256: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.pathOf(sha256), { ...range, highWaterMark: READ_CHUNK });
  }

  /** The page cache shares the reads of a herd: a plain open(). */
  openShared(sha256: string): Readable {
    return this.open(sha256);
  }

  offloadKey(sha256: string): string | null {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    // Relative to <root>/blobs/, so that the proxy's alias never exposes tmp/ or quarantine/.
    return `sha256/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
  }

  async delete(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  async *list(): AsyncIterable<StoredBlob> {
    for (const a of await sortedDirs(this.blobDir)) {
      for (const b of await sortedDirs(join(this.blobDir, a))) {
        const dir = join(this.blobDir, a, b);
        for (const name of await readdir(dir).catch(() => [] as string[])) {
          if (!SHA256_HEX.test(name)) continue;
          // Gone meanwhile (a delete, an eviction): not a blob any more.
          const s = await stat(join(dir, name)).catch(() => null);
          if (s?.isFile()) yield { sha256: name, size: s.size, mtime: s.mtime };
        }
      }
    }
  }

  async quarantine(sha256: string): Promise<boolean> {
    await mkdir(this.quarantineDir, { recursive: true });
    try {
      // Same filesystem: one atomic rename, and no reader can find it under its hash after.
      await rename(this.pathOf(sha256), join(this.quarantineDir, `${sha256}.${Date.now()}`));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  removeStaleTemp(before: Date, opts: { dryRun?: boolean } = {}): Promise<{ count: number; bytes: number }> {
    return this.temps.removeStale(before, opts);
  }

  async space(): Promise<{ free: number; total: number } | null> {
    const s = await statfs(this.blobDir);
    return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
  }

  cleanTemp(): Promise<number> {
    return this.temps.clean();
  }

  check(): Promise<void> {
    return this.temps.probe();
  }
}

/**
 * The folder of temp files: `<dir>/<uuid>.part`, written and hashed by
 * FsTempWriter. `makeReader` says how a writer's reader() finds the bytes
 * once the commit has taken the temp file away (given the temp file's path
 * and the sha256, known once the last byte is hashed).
 */
export class TempArea {
  /**
   * `durable`: a finished temp file is fsync'd (the disk store renames it
   * into place, so it must survive a power cut). The S3 store's temp files
   * are only staging for an upload, the bucket keeps the durable copy, and a
   * crash leaves them to the next start's clean-up: no fsync, which on a
   * busy disk delayed every commit (and a herd's last byte).
   */
  constructor(private readonly dir: string, private readonly opts: { durable: boolean } = { durable: true }) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Where a temp blob's bytes are: known to the blob stores alone. */
  path(key: string): string {
    if (!TEMP_KEY.test(key)) throw new Error(`not a temp blob key: ${key}`);
    return join(this.dir, `${key}.part`);
  }

  create(
    opts: { maxBytes?: number; tooLargeMessage?: string },
    makeReader: (path: string, sha256: () => string | null) => BlobReader,
  ): TempBlobWriter {
    const key = randomUUID();
    return new FsTempWriter(key, this.path(key), makeReader, opts.maxBytes ?? Infinity, opts.tooLargeMessage, this.opts.durable);
  }

  async open(temp: TempBlob): Promise<BlobReader> {
    const reader = new FsReader(() => [this.path(temp.key)]);
    // Fails now (ENOENT) rather than at the first read, as opening a file would.
    await reader.read(0, 0);
    return reader;
  }

  async discard(temp: TempBlob): Promise<void> {
    await rm(this.path(temp.key), { force: true });
  }

  async removeStale(before: Date, opts: { dryRun?: boolean } = {}): Promise<{ count: number; bytes: number }> {
    let count = 0;
    let bytes = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const path = join(this.dir, name);
      const s = await stat(path).catch(() => null);
      if (!s || s.mtime >= before) continue;
      count++;
      bytes += s.isFile() ? s.size : 0;
      if (!opts.dryRun) await rm(path, { force: true, recursive: true });
    }
    return { count, bytes };
  }

  async clean(): Promise<number> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(names.map((n) => rm(join(this.dir, n), { force: true, recursive: true })));
    return names.length;
  }

  /** Throws unless a file can be written here. */
  async probe(): Promise<void> {
    const probe = join(this.dir, `ready-${randomUUID()}`);
    await writeFile(probe, 'ok');
    await unlink(probe);
  }
}

/** The two-hex-digit fan-out folders under `dir`. */
async function sortedDirs(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => /^[0-9a-f]{2}$/.test(n)).sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * pread on one descriptor, opened on first use from the first of `paths()`
 * that exists. A temp file renamed by a commit is found under its blob path,
 * and a descriptor opened before the rename keeps reading the same bytes.
 *
 * An open that found none of the paths asks `paths()` again before it gives
 * up, and a failed open is not kept: a read of a download's temp file made
 * before its hash was known (a follower's partial read) may reach the disk
 * only after the commit renamed the file, when the first list named the temp
 * file alone. Kept, that ENOENT failed every later read of every client
 * following the download (a 500 for each).
 */
export class FsReader implements BlobReader {
  private fd: Promise<FileHandle> | null = null;

  constructor(private readonly paths: () => string[]) {}

  private handle(): Promise<FileHandle> {
    if (this.fd) return this.fd;
    const fd = this.openNow();
    this.fd = fd;
    fd.catch(() => {
      if (this.fd === fd) this.fd = null;
    });
    return fd;
  }

  private async openNow(): Promise<FileHandle> {
    const tried = new Set<string>();
    for (;;) {
      const fresh = this.paths().filter((p) => !tried.has(p));
      try {
        return await openFirst(fresh);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        for (const p of fresh) tried.add(p);
        // Named meanwhile (the hash became known, the file was committed): try those.
        if (this.paths().every((p) => tried.has(p))) throw err;
      }
    }
  }

  async read(position: number, length: number): Promise<Buffer> {
    const fd = await this.handle();
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await fd.read(buf, 0, length, position);
    return buf.subarray(0, bytesRead);
  }

  stream(range?: { start: number; end: number }): Readable {
    return streamByReads(this, range);
  }

  async close(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    if (fd) await fd.then((h) => h.close(), () => undefined);
  }
}

/** A stream of a reader's bytes, read in READ_CHUNK pieces up to where the bytes end. */
export function streamByReads(reader: BlobReader, range?: { start: number; end: number }): Readable {
  return Readable.from((async function* () {
    let pos = range?.start ?? 0;
    const end = range ? range.end + 1 : Infinity;
    while (pos < end) {
      const chunk = await reader.read(pos, Math.min(READ_CHUNK, end - pos));
      if (chunk.length === 0) return;
      pos += chunk.length;
      yield chunk;
    }
  })(), { objectMode: false });
}

/** Random access to one file outside the store (a download, a freshly built wheel), with the store's reader. */
export function fileReader(path: string): BlobReader {
  return new FsReader(() => [path]);
}

async function openFirst(paths: string[]): Promise<FileHandle> {
  let last: unknown = Object.assign(new Error('ENOENT: no path to open'), { code: 'ENOENT' });
  for (const path of paths) {
    try {
      return await openFile(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      last = err;
    }
  }
  throw last;
}

/**
 * Hashes (sha256, md5, blake2b-256, in worker threads: digests.ts) and counts
 * while writing to a temp file. Each chunk's disk write and hashing run at
 * once; the next chunk is taken when both have caught up.
 */
class FsTempWriter implements TempBlobWriter {
  readonly stream: Writable;
  private file: WriteStream | null = null;
  private size = 0;
  private readonly digester = new Digester();
  private digests: Digests | null = null;
  private result: Promise<TempBlob>;
  private aborting: Promise<void> | null = null;
  private onDisk = 0;
  private readonly listeners: ((n: number) => void)[] = [];

  private sha256Hex: string | null = null;

  constructor(
    private readonly key: string,
    private readonly path: string,
    private readonly makeReader: (path: string, sha256: () => string | null) => BlobReader,
    private readonly maxBytes: number,
    private readonly tooLargeMessage?: string,
    durable = true,
  ) {
    this.stream = new Writable({
      highWaterMark: 1024 * 1024,
      construct: (cb) => {
        // flush: fsync before close, so a committed blob survives a power cut.
        this.file = createWriteStream(path, { flags: 'wx', flush: durable });
        this.file.once('open', () => cb());
        // Also the file's first error after opening (a write that failed).
        this.file.once('error', (err) => cb(spaceError(err)));
      },
      write: (chunk: Buffer, _enc, cb) => this.writeChunk(chunk, cb),
      // Chunks that queued up during one disk write go out as one write.
      writev: (chunks, cb) => this.writeChunk(Buffer.concat(chunks.map((c) => c.chunk as Buffer)), cb),
      final: (cb) => {
        // The last digests are finished while the file is closed (and fsynced).
        const closed = new Promise<void>((resolve, reject) => {
          // Closing fsyncs (flush, when durable), which may be when a full disk is noticed.
          this.file!.end((err?: Error | null) => (err ? reject(spaceError(err)) : resolve()));
        });
        Promise.all([this.digester.finish(), closed]).then(([digests]) => {
          this.digests = digests;
          this.sha256Hex = digests.sha256;
          cb();
        }, cb);
      },
      destroy: (err, cb) => {
        this.digester.cancel();
        if (this.file && !this.file.closed) this.file.destroy();
        cb(err);
      },
    });
    this.result = new Promise<TempBlob>((resolve, reject) => {
      this.stream.once('finish', () => {
        resolve({ key, size: this.size, ...this.digests! });
      });
      this.stream.once('error', reject);
      // Destroyed without an error (abort): nothing was finished.
      this.stream.once('close', () => reject(new Error('temporary write aborted')));
    });
    // Callers await finished() later; an early error must not be unhandled.
    this.result.catch(() => undefined);
  }

  private writeChunk(chunk: Buffer, cb: (err?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      cb(new PayloadTooLarge(this.tooLargeMessage ?? `File too large: the limit is ${this.maxBytes} bytes.`));
      return;
    }
    this.digester.update(chunk);
    let waiting = 2;
    let failed: Error | null = null;
    const done = (err: Error | null): void => {
      failed ??= err;
      if (--waiting === 0) cb(failed);
    };
    // Wait for each write to reach the file, so that bytesWritten is exact
    // for readers that follow a download while it is being written.
    this.file!.write(chunk, (err) => {
      if (!err) {
        this.onDisk += chunk.length;
        for (const l of this.listeners) l(this.onDisk);
      }
      done(spaceError(err ?? null));
    });
    this.digester.drained().then(() => done(null), (err: Error) => done(err));
  }

  get bytesWritten(): number {
    return this.onDisk;
  }

  onProgress(listener: (bytesWritten: number) => void): void {
    this.listeners.push(listener);
  }

  reader(): BlobReader {
    return this.makeReader(this.path, () => this.sha256Hex);
  }

  finished(): Promise<TempBlob> {
    return this.result;
  }

  /** Every caller gets the same promise: none may go on before the file is gone. */
  abort(): Promise<void> {
    this.aborting ??= this.removePartial();
    return this.aborting;
  }

  private async removePartial(): Promise<void> {
    // The stream may still be opening its file: wait until it has closed, so
    // the file cannot appear after it was removed.
    if (!this.stream.closed) {
      const closed = new Promise<void>((resolve) => this.stream.once('close', () => resolve()));
      this.stream.destroy();
      await closed;
    }
    const file = this.file;
    if (file && !file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
    await rm(this.path, { force: true });
  }
}
