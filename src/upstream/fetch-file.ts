/**
 * Bytes from an upstream, verified before they are kept.
 *
 * `fetchVerified` is the one path every upstream byte takes into the blob
 * store: GET, status, length, a temp blob, sha256 and size against what the
 * index declared, and only then commit. On a mismatch or a cut transfer
 * nothing is committed. A full disk is not the upstream's fault: it answers
 * 503 (CacheFull) and counts as neither a rejected nor a failed fetch.
 *
 * `FileFetcher` runs one download per file, however many clients ask at
 * once. Every client that asks while it runs reads the temp blob as it grows
 * (through the store's reader), so all of them stream at the upstream's
 * pace; the last byte is held back until the file is verified, so pip
 * reports a failed download instead of keeping a complete-looking bad file.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crashPoint } from '../crash-points.ts';
import { CacheFull, InsufficientStorage, UpstreamUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import { onceAcrossProcesses, type Leases } from '../storage/lease.ts';
import type { BlobReader, BlobStore, TempBlob, TempBlobWriter } from '../storage/types.ts';
import { describe, type UpstreamClient, UpstreamRequestError } from './client.ts';
import { SingleFlight } from './single-flight.ts';

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
  /** Called when the upstream could not be asked or did not answer with the file (down, timeout, non-200). */
  failed(target: FileTarget, reason: string): void;
}

export interface VerifiedFetch {
  client: UpstreamClient;
  blobs: BlobStore;
  logger: Logger;
  events: FetchEvents;
  /** Refuse a response without a length (a follower cannot be streamed an unverifiable size). */
  needLength: boolean;
  /** Bound on the bytes kept, whatever the upstream sends. */
  maxBytes?: number;
  /** Called once the upstream answered and the bytes start to flow into `writer`. */
  onStart?(writer: TempBlobWriter, size: number | null): void;
  /** Called after the verified bytes are committed. */
  onCommitted?(): void;
}

/** GET → status → length → temp blob → size and sha256 → commit. Throws UpstreamUnavailable on any failure, CacheFull on a full disk. */
export async function fetchVerified(target: FileTarget, how: VerifiedFetch): Promise<void> {
  const { blobs, events } = how;
  const reject = (reason: string): UpstreamUnavailable => {
    events.rejected(target, reason);
    how.logger.error({ url: target.url, filename: target.filename }, `upstream file rejected: ${reason}`);
    return new UpstreamUnavailable(`Upstream file rejected: ${reason}`);
  };
  const fail = (reason: string, timedOut = false): UpstreamUnavailable => {
    events.failed(target, reason);
    how.logger.warn({ url: target.url, filename: target.filename, reason }, 'upstream file could not be fetched');
    return new UpstreamUnavailable(reason, timedOut);
  };
  events.started(target);
  const res = await how.client.get(target.url, { 'accept-encoding': 'identity' }).catch((err: UpstreamRequestError) => {
    throw fail(`${err.message}; '${target.filename}' is not cached`, err.timedOut);
  });
  if (res.status !== 200) {
    res.body.resume();
    throw fail(`upstream answered ${res.status} for ${target.filename}`);
  }
  const length = Number(res.headers['content-length']);
  const size = target.size ?? (Number.isSafeInteger(length) ? length : null);
  if (size === null && how.needLength) {
    res.body.destroy();
    throw fail(`upstream sent ${target.filename} without a length; cannot verify it while streaming`);
  }
  if (size !== null && Number.isSafeInteger(length) && length !== size) {
    res.body.destroy();
    throw reject(`upstream sends ${length} bytes for ${target.filename}, the index declared ${size}`);
  }
  const writer = blobs.createTemp({ maxBytes: Math.min(size ?? Infinity, how.maxBytes ?? Infinity) });
  how.onStart?.(writer, size);
  // Crash-matrix step (test-only, see crash-points.ts): half a file is only
  // ever a temp file, which the next start removes.
  if (size !== null) writer.onProgress((n) => { if (n * 2 >= size) crashPoint('download:half-written'); });
  let temp: TempBlob | null = null;
  try {
    try {
      await pipeline(res.body, writer.stream);
    } catch (err) {
      await writer.abort();
      if (err instanceof InsufficientStorage) throw err;
      throw reject(`transfer of ${target.filename} broke off: ${describe(err, new URL(target.url)).message}`);
    }
    temp = await writer.finished();
    if (size !== null && temp.size !== size) throw reject(`${target.filename}: got ${temp.size} bytes, the index declared ${size}`);
    if (temp.sha256 !== target.sha256) throw reject(`${target.filename} has sha256 ${temp.sha256}, the index declared ${target.sha256}`);
    await blobs.commit(temp);
    temp = null;
    how.onCommitted?.();
  } catch (err) {
    if (!(err instanceof InsufficientStorage)) throw err;
    how.logger.error({ url: target.url, filename: target.filename }, 'out of disk space: the upstream file was not cached');
    throw new CacheFull(target.filename);
  } finally {
    if (temp) await blobs.discard(temp);
  }
}

/**
 * Followers of a download read it in blocks of this size, and a block is read
 * once for all of them (a herd is at about the same place): one pread per MiB
 * however many clients, each given the same Buffer.
 */
const BLOCK = 1024 * 1024;
/** The most recent blocks kept for followers that are a little behind; older ones live as long as a slow client's stream holds them. */
const SHARED_BLOCKS = 4;
/**
 * A follower waits for a whole block; past this, it takes what there is (a
 * slow upstream: a client never goes long without bytes, pip's read timeout
 * being 15 s).
 */
const PARTIAL_AFTER_MS = 100;

export interface FetcherDeps {
  client: UpstreamClient;
  blobs: BlobStore;
  logger: Logger;
  events: FetchEvents;
  /** With other processes on the same storage: one of them downloads, the others wait for its commit. */
  leases?: Leases | null;
}

export class FileFetcher {
  private readonly downloads = new SingleFlight<string, Download>((d) => d.done);

  constructor(private readonly deps: FetcherDeps) {}

  /**
   * Joins the running download of this file or starts one. Resolves when the
   * upstream has answered with the file's headers.
   */
  async join(target: FileTarget): Promise<Download> {
    const d = this.downloads.join(target.sha256, () => new Download(target, this.deps));
    await d.ready;
    return d;
  }

  get active(): number {
    return this.downloads.size;
  }
}

/** A follower waiting for bytes: woken once `need` bytes may go, or after PARTIAL_AFTER_MS with whatever there is past `pos`. */
interface Waiter {
  pos: number;
  need: number;
  since: number;
  /** `partial`: woken by the timer, not because `need` bytes may go. */
  wake(partial: boolean): void;
}

export class Download {
  /**
   * Resolves once the first bytes arrived (or the file is complete): until
   * then a failure can still be answered with a status (502/504) instead of
   * a response cut after its headers.
   */
  readonly ready: Promise<void>;
  /** Resolves when the verified file is committed to the blob store. */
  readonly done: Promise<void>;
  size = 0;
  private written = 0;
  private reader: BlobReader | null = null;
  private state: 'running' | 'done' | 'failed' = 'running';
  private error: Error | null = null;
  private readers = 0;
  /** Recent whole blocks by index, shared by every follower (insertion order: oldest first). */
  private readonly blocks = new Map<number, Promise<Buffer>>();
  private readonly waiters = new Set<Waiter>();
  /** The smallest `need` among the waiters: a write below it wakes nobody. */
  private nextNeed = Infinity;
  private partialTimer: NodeJS.Timeout | null = null;

  constructor(readonly target: FileTarget, private readonly deps: FetcherDeps) {
    let markReady!: () => void;
    let failReady!: (e: Error) => void;
    this.ready = new Promise((res, rej) => { markReady = res; failReady = rej; });
    this.ready.catch(() => undefined);
    const download = (): Promise<'fetched'> => fetchVerified(target, {
      ...deps,
      needLength: true,
      onStart: (writer, size) => {
        this.size = size!;
        // The reader follows the temp blob across its commit.
        this.reader = writer.reader();
        writer.onProgress((n) => {
          this.written = n;
          markReady();
          // Wakes only the followers whose block is now whole (not every reader at every write).
          if (this.available() >= this.nextNeed) this.wake((w) => this.available() >= w.need);
        });
      },
      onCommitted: () => {
        this.state = 'done';
        markReady();
        this.wake(() => true);
      },
    }).then(() => 'fetched' as const);
    // Another process may be downloading the file: its readers here wait for
    // the commit, then read the blob like any cached file.
    const committed = async (): Promise<'committed' | null> => {
      const info = await deps.blobs.stat(target.sha256);
      if (!info) return null;
      this.size = info.size;
      return 'committed';
    };
    this.done = onceAcrossProcesses(deps.leases, `file:${target.sha256}`, { result: committed, work: download }).then((how) => {
      if (how === 'fetched') return;
      this.state = 'done';
      markReady();
      this.wake(() => true);
    }).catch((err: unknown) => {
      this.state = 'failed';
      this.error = err instanceof Error ? err : new Error(String(err));
      failReady(this.error);
      this.wake(() => true);
      throw this.error;
    }).finally(() => this.maybeCloseReader());
    this.done.catch(() => undefined);
  }

  get failed(): boolean {
    return this.state === 'failed';
  }

  /** Bytes a follower may have now: all of them once verified, else all written but the last byte. */
  private available(): number {
    return this.state === 'done' ? this.size : Math.min(this.written, this.size - 1);
  }

  /**
   * A stream of the whole file that never delivers its last byte unverified.
   * Backpressure is the client's own: its stream asks for the next block only
   * when it has room, so a slow client holds a block or two, never the file.
   */
  stream(): Readable {
    // Joined after the end: the committed blob is the file.
    if (this.state === 'done') return this.deps.blobs.open(this.target.sha256);
    this.readers++;
    let pos = 0;
    const out = new Readable({
      highWaterMark: BLOCK,
      read: () => {
        this.next(pos).then((chunk) => {
          if (chunk === null) return void out.push(null);
          pos += chunk.length;
          out.push(chunk);
        }, (err: Error) => out.destroy(err));
      },
      destroy: (err, cb) => {
        this.readers--;
        this.maybeCloseReader();
        cb(err);
      },
    });
    return out;
  }

  /** The bytes from `pos` to the end of its block (null at the end), waiting for the download if needed. */
  private async next(pos: number): Promise<Buffer | null> {
    for (;;) {
      if (this.state === 'failed') throw this.error!;
      if (pos >= this.size && this.state === 'done') return null;
      const index = Math.floor(pos / BLOCK);
      const start = index * BLOCK;
      const end = Math.min(start + BLOCK, this.size);
      if (this.available() >= end) {
        const block = await this.orItsFailure(this.block(index, start, end));
        if (start + block.length > pos) return block.subarray(pos - start);
        // A short read (cannot happen on a written block): read on from where it ended.
        return this.orItsFailure(this.reader!.read(pos, end - pos));
      }
      const partial = await this.wait(pos, end);
      // (The state may have changed while waiting.)
      if (this.failed) throw this.error!;
      const avail = this.available();
      // A slow upstream: what there is, read for this follower alone.
      if (partial && avail > pos && avail < end) return this.orItsFailure(this.reader!.read(pos, avail - pos));
    }
  }

  /**
   * A read of the temp file that found it gone (ENOENT) answers with the
   * download's own failure: fetchVerified removes the file as soon as the
   * bytes are refused, a moment before `state` says so (the lease is
   * released in between: a round trip on PostgreSQL), and a follower that
   * read then must get the 502, not a 500 for a missing file.
   */
  private async orItsFailure<T>(read: Promise<T>): Promise<T> {
    try {
      return await read;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.done.catch(() => undefined);
      if (this.failed) throw this.error!;
      throw err;
    }
  }

  /** One read of a whole block for every follower that asks for it while it is recent. */
  private block(index: number, start: number, end: number): Promise<Buffer> {
    let block = this.blocks.get(index);
    if (block) return block;
    block = this.reader!.read(start, end - start);
    this.blocks.set(index, block);
    const forget = (): void => { if (this.blocks.get(index) === block) this.blocks.delete(index); };
    block.then((b) => { if (b.length < end - start) forget(); }, forget);
    if (this.blocks.size > SHARED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
    return block;
  }

  /** Resolves true when woken by the partial timer, false when `need` bytes may go (or the download ended). */
  private wait(pos: number, need: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.waiters.add({ pos, need, since: performance.now(), wake: resolve });
      this.nextNeed = Math.min(this.nextNeed, need);
      this.partialTimer ??= setTimeout(() => this.partialWake(), PARTIAL_AFTER_MS);
    });
  }

  /** Wakes the waiters `due` picks; the others wait on. */
  private wake(due: (w: Waiter) => boolean): void {
    let nextNeed = Infinity;
    for (const w of this.waiters) {
      if (due(w)) {
        this.waiters.delete(w);
        w.wake(false);
      } else {
        nextNeed = Math.min(nextNeed, w.need);
      }
    }
    this.nextNeed = nextNeed;
    if (this.waiters.size === 0 && this.partialTimer) {
      clearTimeout(this.partialTimer);
      this.partialTimer = null;
    }
  }

  /** Followers that waited PARTIAL_AFTER_MS and have bytes to read take them. */
  private partialWake(): void {
    this.partialTimer = null;
    const now = performance.now();
    const avail = this.available();
    const dueBefore = now - PARTIAL_AFTER_MS + 1;
    let nextNeed = Infinity;
    for (const w of this.waiters) {
      if (w.since <= dueBefore && avail > w.pos) {
        this.waiters.delete(w);
        w.wake(true);
      } else {
        nextNeed = Math.min(nextNeed, w.need);
      }
    }
    this.nextNeed = nextNeed;
    if (this.waiters.size > 0) this.partialTimer = setTimeout(() => this.partialWake(), PARTIAL_AFTER_MS);
  }

  private maybeCloseReader(): void {
    if (this.readers > 0 || this.state === 'running' || !this.reader) return;
    const reader = this.reader;
    this.reader = null;
    this.blocks.clear();
    reader.close().catch(() => undefined);
  }
}
