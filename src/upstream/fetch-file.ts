/**
 * One upstream download per file, however many clients ask at once.
 *
 * The first request starts the download into storage/tmp; every client that
 * asks while it runs reads the temp file as it grows (pread on one shared
 * descriptor), so all of them stream at the upstream's pace. The last byte is
 * held back until the size and sha256 match what the index declared: on a
 * mismatch or a cut transfer nothing is committed and every response is
 * destroyed before its end, so pip reports a failed download instead of
 * keeping a complete-looking bad file.
 */
import { EventEmitter, once } from 'node:events';
import { open, type FileHandle as FsFileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UpstreamUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { BlobStore, TempBlob, TempBlobWriter } from '../storage/types.ts';
import { describe, type UpstreamClient } from './client.ts';

export interface FileTarget {
  url: string;
  filename: string;
  sha256: string;
  /** From the index (PEP 700), if it said. */
  size: number | null;
}

export interface FetchEvents {
  /** Called once per upstream download that was started. */
  started(target: FileTarget): void;
  /** Called when a download was refused after the fact (hash, size, cut). */
  rejected(target: FileTarget, reason: string): void;
}

const READ_CHUNK = 256 * 1024;

export class FileFetcher {
  private readonly inflight = new Map<string, Download>();

  constructor(
    private readonly client: UpstreamClient,
    private readonly blobs: BlobStore,
    private readonly logger: Logger,
    private readonly events: FetchEvents,
  ) {}

  /**
   * Joins the running download of this file or starts one. Resolves when the
   * upstream has answered with the file's headers.
   */
  async join(target: FileTarget): Promise<Download> {
    let d = this.inflight.get(target.sha256);
    if (!d) {
      d = new Download(target, this.client, this.blobs, this.logger, this.events);
      this.inflight.set(target.sha256, d);
      const remove = () => { if (this.inflight.get(target.sha256) === d) this.inflight.delete(target.sha256); };
      d.done.then(remove, remove);
    }
    await d.ready;
    return d;
  }

  get active(): number {
    return this.inflight.size;
  }
}

export class Download extends EventEmitter {
  /** Resolves when upstream headers arrived and the size is known. */
  readonly ready: Promise<void>;
  /** Resolves when the verified file is committed to the blob store. */
  readonly done: Promise<void>;
  size = 0;
  private writer: TempBlobWriter | null = null;
  private state: 'running' | 'done' | 'failed' = 'running';
  private error: Error | null = null;
  private fd: Promise<FsFileHandle> | null = null;
  private readers = 0;

  constructor(readonly target: FileTarget, client: UpstreamClient, private readonly blobs: BlobStore, logger: Logger, events: FetchEvents) {
    super();
    this.setMaxListeners(0);
    let markReady!: () => void;
    let failReady!: (e: Error) => void;
    this.ready = new Promise((res, rej) => { markReady = res; failReady = rej; });
    this.ready.catch(() => undefined);
    this.done = this.run(client, blobs, logger, events, markReady, failReady);
    this.done.catch(() => undefined);
  }

  private async run(client: UpstreamClient, blobs: BlobStore, logger: Logger, events: FetchEvents,
    markReady: () => void, failReady: (e: Error) => void): Promise<void> {
    const t = this.target;
    let temp: TempBlob | null = null;
    try {
      events.started(t);
      const res = await client.get(t.url, { 'accept-encoding': 'identity' });
      if (res.status !== 200) {
        res.body.resume();
        throw new UpstreamUnavailable(`upstream answered ${res.status} for ${t.filename}`);
      }
      const length = Number(res.headers['content-length']);
      const size = t.size ?? (Number.isSafeInteger(length) ? length : null);
      if (size === null) {
        res.body.destroy();
        throw new UpstreamUnavailable(`upstream sent ${t.filename} without a length; cannot verify it while streaming`);
      }
      if (Number.isSafeInteger(length) && length !== size) {
        res.body.destroy();
        throw this.reject(events, logger, `upstream sends ${length} bytes for ${t.filename}, the index declared ${size}`);
      }
      this.size = size;
      this.writer = blobs.createTemp({ maxBytes: size });
      this.writer.onProgress(() => this.emit('progress'));
      markReady();
      try {
        await pipeline(res.body, this.writer.stream);
      } catch (err) {
        await this.writer.abort();
        throw this.reject(events, logger, `transfer of ${t.filename} broke off: ${describe(err, new URL(t.url)).message}`);
      }
      temp = await this.writer.finished();
      if (temp.size !== size) throw this.reject(events, logger, `${t.filename}: got ${temp.size} bytes, the index declared ${size}`);
      if (temp.sha256 !== t.sha256) throw this.reject(events, logger, `${t.filename}: sha256 ${temp.sha256} does not match the index's ${t.sha256}`);
      // A reader that has not read yet (or joins during the commit) must not
      // meet a renamed temp file: the descriptor they share is opened first.
      await this.readFd();
      await blobs.commit(temp);
      temp = null;
      this.state = 'done';
      this.emit('progress');
    } catch (err) {
      this.state = 'failed';
      this.error = err instanceof Error ? err : new Error(String(err));
      failReady(this.error);
      this.emit('progress');
      throw this.error;
    } finally {
      if (temp) await blobs.discard(temp);
      this.maybeCloseFd();
    }
  }

  private reject(events: FetchEvents, logger: Logger, reason: string): UpstreamUnavailable {
    events.rejected(this.target, reason);
    logger.error({ url: this.target.url, filename: this.target.filename }, `upstream file rejected: ${reason}`);
    return new UpstreamUnavailable(`Upstream file rejected: ${reason}`);
  }

  get failed(): boolean {
    return this.state === 'failed';
  }

  /** A stream of the whole file that never delivers its last byte unverified. */
  stream(): Readable {
    // Joined after the end: the committed blob is the file.
    if (this.state === 'done') return this.blobs.open(this.target.sha256);
    this.readers++;
    const cursor = { pos: 0, end: this.size };
    const reader = new Readable({
      highWaterMark: READ_CHUNK,
      read: () => {
        this.pump(reader, cursor).catch((err: Error) => reader.destroy(err));
      },
      destroy: (err, cb) => {
        this.readers--;
        this.maybeCloseFd();
        cb(err);
      },
    });
    return reader;
  }

  /** Pushes the next chunk (or the end), waiting for the download if needed. */
  private async pump(reader: Readable, cursor: { pos: number; end: number }): Promise<void> {
    const { end } = cursor;
    for (;;) {
      const pos = cursor.pos;
      if (pos >= end) {
        if (this.state === 'done') {
          reader.push(null);
          return;
        }
      } else {
        // Everything on disk may go, except the last byte before verification.
        const limit = this.state === 'done' ? end : Math.min(this.writer?.bytesOnDisk ?? 0, end - 1);
        if (limit > pos) {
          const fd = await this.readFd();
          const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, limit - pos));
          const { bytesRead } = await fd.read(buf, 0, buf.length, pos);
          cursor.pos += bytesRead;
          reader.push(buf.subarray(0, bytesRead));
          return;
        }
      }
      if (this.state === 'failed') throw this.error!;
      await once(this, 'progress');
    }
  }

  private readFd(): Promise<FsFileHandle> {
    this.fd ??= open(this.writer!.path, 'r');
    return this.fd;
  }

  private maybeCloseFd(): void {
    if (this.readers > 0 || this.state === 'running' || !this.fd) return;
    const fd = this.fd;
    this.fd = null;
    fd.then((h) => h.close(), () => undefined).catch(() => undefined);
  }
}
