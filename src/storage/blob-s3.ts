/**
 * Content-addressed blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW):
 *   <prefix>/sha256/<aa>/<bb>/<sha256>   permanent, immutable (the disk layout)
 *   <storage>/tmp/<uuid>.part            in flight, on local disk
 *
 * In-flight bytes are staged on local disk, hashed as they are written, as
 * the disk store does (its TempArea): readers of a growing download (the
 * herd path, writer.reader()) and upload inspection preads a local file, and
 * nothing half-written is ever under a key that a reader could GET. A commit
 * uploads the finished temp file to its final key: one PUT below the part
 * size, a multipart upload above it, reading the file part by part into
 * reused buffers (memory is partSize × QUEUE_SIZE per commit, whatever the
 * file's size).
 * Clients of one process that read a whole object at about the same time
 * share a GET of it (openShared, Relay).
 * Keys are content-addressed, so two replicas committing the same bytes at once
 * write the same object; a commit finding the object already there with the
 * same size skips the upload.
 *
 * Only the public S3 API through @aws-sdk/client-s3: HeadObject, GetObject
 * (with Range), PutObject, the multipart calls, DeleteObject, HeadBucket.
 * Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, web identity, instance roles).
 */
import { randomUUID } from 'node:crypto';
import { open as openFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Readable as ReadableStream, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { StorageUnavailable } from '../errors.ts';
import { FsReader, streamByReads, TempArea } from './blob-fs.ts';
import { BLOCK, FollowedBytes } from './follow.ts';
import type { BlobInfo, BlobReader, BlobStore, StoredBlob, TempBlob, TempBlobWriter } from './types.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;
/**
 * Parts uploaded at once by one commit, each from a buffer of its own. Two
 * keep a connection busy while the next part is read from the local file;
 * measured against s3rver on loopback, 4 sent 50 MiB no faster, and each
 * part in flight is partSize more memory.
 */
const QUEUE_SIZE = 2;
/** Below this, a client's whole-file read is its own GET: a scratch file costs more than a small object. */
const SHARE_MIN = BLOCK;
/** A body cut mid-transfer is resumed from where it broke off, this many times in a row. */
const BODY_RETRIES = 3;
/** The smallest part S3 accepts (all but the last part of a multipart upload). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** The largest object one CopyObject can copy. */
const MAX_COPY = 5 * 1024 ** 3;
/** `<aa>/<bb>/<sha256>` under the prefix's `sha256/`. */
const BLOB_KEY = /^([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{64})$/;

export interface S3BlobOptions {
  /** null: AWS S3 itself, at the region's endpoint. */
  endpoint: string | null;
  bucket: string;
  region: string;
  /** Key prefix without leading or trailing '/'; '' for none. */
  prefix: string;
  /** true: `<endpoint>/<bucket>/<key>` (MinIO, Ceph); false: `<bucket>.<endpoint host>/<key>`. */
  forcePathStyle: boolean;
  /** Files larger than this are sent as a multipart upload of parts this size. */
  partSize: number;
}

export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly temps: TempArea;
  private readonly keyPrefix: string;
  private readonly quarantinePrefix: string;
  /** `s3://bucket/prefix at endpoint`, for messages. */
  readonly location: string;
  private readonly endpointName: string;
  /** The running shared reads (openShared), by sha256. */
  private readonly relays = new Map<string, Relay>();
  /** The blobs a first client reads on its own now (openShared). */
  private readonly lone = new Set<string>();

  /** `client`: settings laid over the defaults (tests route virtual-host names to loopback). */
  constructor(root: string, private readonly opts: S3BlobOptions, client: Partial<S3ClientConfig> = {}) {
    if (opts.partSize < MIN_PART_SIZE) throw new Error(`S3 part size ${opts.partSize} is below the 5 MiB S3 requires`);
    this.temps = new TempArea(join(root, 'tmp'), { durable: false });
    this.keyPrefix = opts.prefix ? `${opts.prefix}/sha256/` : 'sha256/';
    this.quarantinePrefix = opts.prefix ? `${opts.prefix}/quarantine/` : 'quarantine/';
    // Without an endpoint the SDK takes the environment's, if any.
    this.endpointName = opts.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? `AWS S3 (${opts.region})`;
    this.location = `s3://${opts.bucket}/${opts.prefix} at ${this.endpointName}`;
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle,
      // The SDK's default (checksums on every PUT, streamed as aws-chunked
      // trailers) is refused by many S3-compatible servers. pydepot verifies
      // the sha256 itself before a commit, and SigV4 signs each part's payload.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: 10_000,
        // A herd of clients streaming from the bucket holds one socket each.
        httpAgent: { keepAlive: true, maxSockets: 256 },
        httpsAgent: { keepAlive: true, maxSockets: 256 },
      },
      ...client,
    });
  }

  /** Creates the local staging folder and checks that the bucket answers. */
  async init(): Promise<void> {
    await this.temps.init();
    await this.checkBucket();
  }

  private keyOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return `${this.keyPrefix}${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
  }

  /** An S3 failure as the 503 the HTTP layer answers, naming what failed for the log. */
  unavailable(err: unknown, what: string): StorageUnavailable {
    return new StorageUnavailable(new Error(`${what} in ${this.location}: ${describeS3Error(err)}`, { cause: err }));
  }

  createTemp(opts: { maxBytes?: number; tooLargeMessage?: string } = {}): TempBlobWriter {
    // After the commit removed the temp file, a reader that had not opened it
    // yet reads the committed object with ranged GETs.
    return this.temps.create(opts, (path, sha256) => new StagedReader(path, () => {
      const sha = sha256();
      return sha ? new ObjectReader(this, sha) : null;
    }));
  }

  openTemp(temp: TempBlob): Promise<BlobReader> {
    return this.temps.open(temp);
  }

  async commit(temp: TempBlob): Promise<void> {
    const key = this.keyOf(temp.sha256);
    const path = this.temps.path(temp.key);
    const existing = await this.head(key);
    // Already stored: renewed (gc spares young blobs until the caller's row
    // names it) by copying the object onto itself, on the server, unless it is
    // too large for one copy. A different size under a content address is a
    // damaged object: replaced.
    if (existing?.size !== temp.size || !(temp.size <= MAX_COPY && await this.renew(key))) {
      await this.upload(key, path, temp.size);
    }
    await rm(path, { force: true });
  }

  /**
   * The temp file to its key: one PutObject up to the part size, else a
   * multipart upload, QUEUE_SIZE parts at a time. Each lane reads its parts
   * from the file into one buffer of its own, reused part after part (the
   * SDK sends a Buffer body as it is): memory is partSize × QUEUE_SIZE and
   * no garbage. (lib-storage's Upload, before, copied the file's chunks into
   * a new buffer per part, and the collector freed them late: a replica
   * committing a 50 MiB file grew by 60-85 MB.) A failed multipart upload is
   * aborted, so its parts are not kept (and billed).
   */
  private async upload(key: string, path: string, size: number): Promise<void> {
    const { bucket: Bucket, partSize } = this.opts;
    const file = await openFile(path, 'r');
    let uploadId: string | undefined;
    try {
      if (size <= partSize) {
        const body = await readAt(file, Buffer.allocUnsafe(size), 0);
        await this.client.send(new PutObjectCommand({ Bucket, Key: key, Body: body, ContentLength: size, ContentType: 'application/octet-stream' }));
        return;
      }
      uploadId = (await this.client.send(new CreateMultipartUploadCommand({ Bucket, Key: key, ContentType: 'application/octet-stream' }))).UploadId!;
      const count = Math.ceil(size / partSize);
      const etags: string[] = [];
      let next = 0;
      let failed = false;
      const lane = async (): Promise<void> => {
        const buffer = Buffer.allocUnsafeSlow(partSize);
        try {
          while (next < count && !failed) {
            const n = next++;
            const start = n * partSize;
            const body = await readAt(file, buffer.subarray(0, Math.min(partSize, size - start)), start);
            const res = await this.client.send(new UploadPartCommand({ Bucket, Key: key, UploadId: uploadId, PartNumber: n + 1, Body: body, ContentLength: body.length }));
            etags[n] = res.ETag!;
          }
        } catch (err) {
          // The other lanes stop after the part they are sending.
          failed = true;
          throw err;
        }
      };
      const lanes = await Promise.allSettled(Array.from({ length: Math.min(QUEUE_SIZE, count) }, lane));
      const failure = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
      if (failure) throw failure.reason;
      await this.client.send(new CompleteMultipartUploadCommand({
        Bucket, Key: key, UploadId: uploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }));
      uploadId = undefined;
    } catch (err) {
      if (uploadId !== undefined) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      }
      throw this.unavailable(err, `uploading ${key}`);
    } finally {
      await file.close();
    }
  }

  /** A new LastModified for a stored object (a copy onto itself); false when it is gone meanwhile. */
  private async renew(key: string): Promise<boolean> {
    try {
      await this.copy(key, key, { 'pydepot-renewed': new Date().toISOString() });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw this.unavailable(err, `renewing ${key}`);
    }
  }

  /** CopyObject within the bucket; `metadata` replaces the object's (required to copy an object onto itself). */
  private async copy(from: string, to: string, metadata?: Record<string, string>): Promise<void> {
    await this.client.send(new CopyObjectCommand({
      Bucket: this.opts.bucket,
      Key: to,
      CopySource: `${this.opts.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`,
      ...(metadata ? { MetadataDirective: 'REPLACE', Metadata: metadata, ContentType: 'application/octet-stream' } : {}),
    }));
  }

  discard(temp: TempBlob): Promise<void> {
    return this.temps.discard(temp);
  }

  async stat(sha256: string): Promise<BlobInfo | null> {
    return this.head(this.keyOf(sha256));
  }

  private async head(key: string): Promise<BlobInfo | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: key }));
      return { size: res.ContentLength ?? 0, mtime: res.LastModified ?? new Date(0) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.unavailable(err, `HeadObject ${key}`);
    }
  }

  open(sha256: string, range?: { start: number; end: number }): Readable {
    const key = this.keyOf(sha256);
    const store = this;
    return ReadableStream.from((async function* () {
      let pos = range?.start ?? 0;
      const end = range?.end;
      let retries = 0;
      for (;;) {
        const body = await store.get(key, pos, end);
        try {
          for await (const chunk of body as AsyncIterable<Buffer>) {
            pos += chunk.length;
            retries = 0;
            yield chunk;
          }
          return;
        } catch (err) {
          // The object never changes under its key, so a cut body can be
          // resumed with a ranged GET from the next byte.
          if (end !== undefined && pos > end) return;
          if (++retries > BODY_RETRIES) throw store.unavailable(err, `reading ${key}`);
        }
      }
    })(), { objectMode: false });
  }

  /**
   * Clients of this process that want the whole object at about the same
   * time (a herd, most of all on the replicas that waited for another's
   * download of it) share a GET of it. The first reads the bucket itself:
   * most downloads are one client's, and sharing costs a copy of the file on
   * local disk (measured: half again the CPU of a direct read). A second
   * client while the first still reads starts a Relay, which reads the
   * object once into a scratch file, and it and every later client follow
   * that file, each at its own pace; once none reads, the scratch file goes.
   * So a herd makes two GETs, whatever its size, and one when the caller
   * says it is a herd (`herd`: the clients that waited for another
   * replica's download of the file ask for it together).
   */
  openShared(sha256: string, size: number, opts: { herd?: boolean } = {}): Readable {
    if (size < SHARE_MIN) return this.open(sha256);
    let relay = this.relays.get(sha256);
    if (!relay) {
      if (opts.herd !== true && !this.lone.has(sha256)) {
        this.lone.add(sha256);
        const stream = this.open(sha256);
        stream.once('close', () => this.lone.delete(sha256));
        return stream;
      }
      relay = new Relay(this, sha256, size, this.temps.path(randomUUID()), (r) => {
        if (this.relays.get(sha256) === r) this.relays.delete(sha256);
      });
      this.relays.set(sha256, relay);
    }
    // (A caller that knows another size: its own read, which fails as open() does.)
    return relay.size === size ? relay.follower() : this.open(sha256);
  }

  /** Whole-object reads shared by this process's clients now (tests). */
  get sharedReads(): number {
    return this.relays.size;
  }

  /** The object's bytes from `start` to `end` (inclusive; undefined: to the end), as the response body. */
  async get(key: string, start: number, end: number | undefined): Promise<Readable> {
    const Range = start === 0 && end === undefined ? undefined : `bytes=${start}-${end ?? ''}`;
    let res;
    try {
      res = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key, Range }));
    } catch (err) {
      if (isNotFound(err)) throw Object.assign(new Error(`no object ${key} in ${this.location}`), { code: 'ENOENT' });
      if (isRangeNotSatisfiable(err)) return ReadableStream.from([]);
      throw this.unavailable(err, `GetObject ${key}`);
    }
    const body = res.Body as Readable;
    if (start > 0 && !res.ContentRange?.startsWith(`bytes ${start}-`)) {
      body.destroy();
      throw this.unavailable(new Error(`asked for bytes ${start}-${end ?? ''}, got ${res.ContentRange ?? 'the whole object'}`), `GetObject ${key}`);
    }
    return end === undefined ? body : upTo(body, end - start + 1);
  }

  /** The key of a blob, for the ranged reads of ObjectReader. */
  objectKey(sha256: string): string {
    return this.keyOf(sha256);
  }

  /** No folder a proxy could send from: offloading falls back to streaming. */
  offloadKey(): string | null {
    return null;
  }

  async delete(sha256: string): Promise<void> {
    const key = this.keyOf(sha256);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: key }));
    } catch (err) {
      throw this.unavailable(err, `DeleteObject ${key}`);
    }
  }

  async *list(): AsyncIterable<StoredBlob> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: this.keyPrefix, ContinuationToken: token }));
      } catch (err) {
        throw this.unavailable(err, `ListObjectsV2 ${this.keyPrefix}`);
      }
      for (const o of page.Contents ?? []) {
        const m = BLOB_KEY.exec(o.Key?.slice(this.keyPrefix.length) ?? '');
        // Only keys in the layout, filed under their own hash's fan-out.
        if (!m || m[3]!.slice(0, 2) !== m[1] || m[3]!.slice(2, 4) !== m[2]) continue;
        yield { sha256: m[3]!, size: o.Size ?? 0, mtime: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * Copies the object to `<prefix>/quarantine/<sha256>.<ms>`, then deletes it:
   * after that no reader finds it under its hash (one CopyObject: objects up
   * to 5 GiB).
   */
  async quarantine(sha256: string): Promise<boolean> {
    const key = this.keyOf(sha256);
    try {
      await this.copy(key, `${this.quarantinePrefix}${sha256}.${Date.now()}`);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw this.unavailable(err, `quarantining ${key}`);
    }
    await this.delete(sha256);
    return true;
  }

  /** In-flight bytes are staged on local disk: its stale temp files. */
  removeStaleTemp(before: Date, opts: { dryRun?: boolean } = {}): Promise<{ count: number; bytes: number }> {
    return this.temps.removeStale(before, opts);
  }

  /** A bucket has no free space to tell. */
  async space(): Promise<null> {
    return null;
  }

  cleanTemp(): Promise<number> {
    return this.temps.clean();
  }

  async check(): Promise<void> {
    await this.checkBucket();
    // Staging is local: a full or read-only disk stops uploads as surely.
    await this.temps.probe();
  }

  /** Throws, naming the bucket and endpoint, unless the bucket answers HeadBucket (reads nothing, writes nothing). */
  async checkBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.opts.bucket }));
    } catch (err) {
      const status = httpStatus(err);
      const why = status === 404 ? 'no such bucket'
        : status === 403 ? 'access denied (check the credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE)'
          : status === 301 || status === 400 ? `the bucket answered ${status} (wrong region, or try forcePathStyle)`
            : describeS3Error(err);
      throw new Error(`S3 bucket '${this.opts.bucket}' at ${this.endpointName}: ${why}`, { cause: err });
    }
  }

  /** Closes the client's idle connections. */
  close(): void {
    this.client.destroy();
  }
}

/**
 * A temp file's reader that outlives the commit: it preads the local file,
 * and a descriptor opened before the commit removed the file keeps reading
 * it; one that finds the file gone reads the committed object instead.
 */
class StagedReader implements BlobReader {
  private current: BlobReader;
  private switched = false;

  constructor(path: string, private readonly committed: () => BlobReader | null) {
    this.current = new FsReader(() => [path]);
  }

  async read(position: number, length: number): Promise<Buffer> {
    try {
      return await this.current.read(position, length);
    } catch (err) {
      const next = !this.switched && (err as NodeJS.ErrnoException).code === 'ENOENT' ? this.committed() : null;
      if (!next) throw err;
      this.switched = true;
      await this.current.close();
      this.current = next;
      return next.read(position, length);
    }
  }

  stream(range?: { start: number; end: number }): Readable {
    return streamByReads(this, range);
  }

  close(): Promise<void> {
    return this.current.close();
  }
}

/** The scratch file of a Relay could not be written (a full or failing local disk): its followers read the bucket themselves. */
class ScratchFailed extends Error {
  constructor(cause: unknown) {
    super(`could not stage a shared read on local disk: ${(cause as Error | null)?.message ?? String(cause)}`, { cause });
  }
}

/**
 * One GET of an object, written to a scratch file in tmp/ as it arrives and
 * followed there by the clients that share it (FollowedBytes: shared 1 MiB
 * blocks, each client's own backpressure, the last byte only once every byte
 * has arrived). Why a file and not memory: the bucket is read at its pace,
 * once, whatever the clients do, while a slow or stopped client holds only
 * its own buffer and never holds back the others nor makes the process keep
 * what it has not read (the page cache serves the followers, as for an
 * upstream download's temp blob). Nothing is kept: the file goes once no
 * client reads it. A failed GET fails the followers' streams; a scratch file
 * that cannot be written sends each follower to the bucket on its own.
 */
class Relay {
  private users = 0;
  private readonly followed: FollowedBytes;
  private readonly stop = new AbortController();

  constructor(
    private readonly store: S3BlobStore,
    private readonly sha256: string,
    readonly size: number,
    private readonly path: string,
    /** Takes the relay out of the store's table (no later client joins it). */
    private readonly gone: (relay: Relay) => void,
  ) {
    this.followed = new FollowedBytes(size, new FsReader(() => [path]));
    void this.run();
  }

  private async run(): Promise<void> {
    let file: FileHandle | null = null;
    let written = 0;
    // Chunks that queue up during one write go out as one (the body comes in
    // 64 KiB pieces: a syscall and a promise each cost more than the copy).
    const append = async (chunks: Buffer[]): Promise<void> => {
      const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      for (let off = 0; off < data.length;) off += (await file!.write(data, off, data.length - off, written + off)).bytesWritten;
      written += data.length;
      this.followed.progress(written);
    };
    const sink = new Writable({
      highWaterMark: BLOCK,
      construct: (cb) => {
        openFile(this.path, 'wx').then((f) => { file = f; cb(); }, (err: unknown) => cb(new ScratchFailed(err)));
      },
      write: (chunk: Buffer, _enc, cb) => void append([chunk]).then(() => cb(), (err: unknown) => cb(new ScratchFailed(err))),
      writev: (chunks, cb) => void append(chunks.map((c) => c.chunk as Buffer)).then(() => cb(), (err: unknown) => cb(new ScratchFailed(err))),
    });
    try {
      await pipeline(this.store.open(this.sha256), sink, { signal: this.stop.signal });
      if (written !== this.size) {
        throw this.store.unavailable(new Error(`${written} bytes, ${this.size} expected`), `reading ${this.store.objectKey(this.sha256)}`);
      }
      this.followed.finish();
    } catch (err) {
      // A later client starts afresh.
      this.gone(this);
      this.followed.fail(err instanceof Error ? err : new Error(String(err)));
    } finally {
      // (Assigned in construct: not narrowed here.)
      await (file as FileHandle | null)?.close().catch(() => undefined);
      this.maybeRemove();
    }
  }

  /** A client's stream of the whole object. */
  follower(): Readable {
    this.users++;
    const { followed, store, sha256, size } = this;
    const out = ReadableStream.from((async function* () {
      let pos = 0;
      try {
        for await (const chunk of followed.stream() as AsyncIterable<Buffer>) {
          pos += chunk.length;
          yield chunk;
        }
        return;
      } catch (err) {
        if (!(err instanceof ScratchFailed)) throw err;
      }
      // No local copy to share: this client reads on from the bucket, from where it is.
      yield* store.open(sha256, { start: pos, end: size - 1 });
    })(), { objectMode: false });
    out.once('close', () => {
      this.users--;
      // No client left for a read under way: it is stopped (its bytes would be
      // thrown away), and a client that comes now starts a read of its own.
      if (this.users === 0 && !this.followed.ended) {
        this.gone(this);
        this.stop.abort();
      }
      this.maybeRemove();
    });
    return out;
  }

  private maybeRemove(): void {
    if (this.users > 0 || !this.followed.ended) return;
    this.gone(this);
    void rm(this.path, { force: true }).catch(() => undefined);
  }
}

/** Random access to a committed object: one ranged GET per read. */
class ObjectReader implements BlobReader {
  constructor(private readonly store: S3BlobStore, private readonly sha256: string) {}

  async read(position: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    const body = await this.store.get(this.store.objectKey(this.sha256), position, position + length - 1);
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  stream(range?: { start: number; end: number }): Readable {
    return this.store.open(this.sha256, range);
  }

  async close(): Promise<void> {}
}

/** Fills `buffer` from `position` of the file (a short file is an error: the temp blob's size says how long it is). */
async function readAt(file: FileHandle, buffer: Buffer, position: number): Promise<Buffer> {
  for (let at = 0; at < buffer.length;) {
    const { bytesRead } = await file.read(buffer, at, buffer.length - at, position + at);
    if (bytesRead === 0) throw new Error(`the temp file ends at ${position + at} bytes, ${position + buffer.length} expected`);
    at += bytesRead;
  }
  return buffer;
}

/**
 * At most `length` bytes of a body: a response is sent with the length of
 * the range, so a server that sends more than it was asked for (s3rver
 * answers bytes=0-0 with the whole object) must not add bytes to it.
 */
function upTo(body: Readable, length: number): Readable {
  return ReadableStream.from((async function* () {
    let left = length;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (chunk.length >= left) {
        if (left > 0) yield chunk.subarray(0, left);
        return;
      }
      left -= chunk.length;
      yield chunk;
    }
  })(), { objectMode: false });
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as Error | null)?.name;
  return httpStatus(err) === 404 && (name === 'NotFound' || name === 'NoSuchKey');
}

function isRangeNotSatisfiable(err: unknown): boolean {
  return httpStatus(err) === 416;
}

/** One line: the S3 error code and status, or the network error. */
function describeS3Error(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const status = httpStatus(err);
  const code = (err as NodeJS.ErrnoException).code;
  const detail = err.message && err.message !== err.name && err.message !== 'UnknownError' ? `: ${err.message}` : '';
  return `${err.name}${status ? ` (HTTP ${status})` : ''}${code && !status ? ` ${code}` : ''}${detail}`;
}
