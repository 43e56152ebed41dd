/**
 * One object's bytes while they are being written to local disk, read by any
 * number of followers at their own pace: the clients of an upstream download
 * following its temp blob (upstream/fetch-file.ts), and the clients of an S3
 * blob following the one read of it that their process makes (blob-s3.ts).
 *
 * Followers read in blocks, and a recent block is read once for all of them
 * (a herd is at about the same place): one pread per MiB however many
 * clients, each given the same Buffer. Backpressure is each client's own: its
 * stream asks for the next block only when it has room, so a slow client
 * holds a block or two, never the file, and never holds back the others
 * (they read on from the file, which is on disk whatever the slow one does).
 * The last byte goes only once the writer says the bytes are complete (for a
 * download: verified), so a client never gets a complete-looking bad file.
 */
import { Readable } from 'node:stream';
import { StorageUnavailable } from '../errors.ts';
import type { BlobReader } from './types.ts';

/** Followers read in blocks of this size; a whole block is read once for all of them. */
export const BLOCK = 1024 * 1024;
/** The most recent blocks kept for followers that are a little behind; older ones live as long as a slow client's stream holds them. */
const SHARED_BLOCKS = 4;
/**
 * A follower waits for a whole block; past this, it takes what there is (a
 * slow writer: a client never goes long without bytes, pip's read timeout
 * being 15 s).
 */
const PARTIAL_AFTER_MS = 100;

/** A follower waiting for bytes: woken once `need` bytes may go, or after PARTIAL_AFTER_MS with whatever there is past `pos`. */
interface Waiter {
  pos: number;
  need: number;
  since: number;
  /** `partial`: woken by the timer, not because `need` bytes may go. */
  wake(partial: boolean): void;
}

export class FollowedBytes {
  private written = 0;
  private state: 'running' | 'done' | 'failed' = 'running';
  private error: Error | null = null;
  private readers = 0;
  /** Recent whole blocks by index, shared by every follower (insertion order: oldest first). */
  private readonly blocks = new Map<number, Promise<Buffer>>();
  private readonly waiters = new Set<Waiter>();
  /** The smallest `need` among the waiters: a write below it wakes nobody. */
  private nextNeed = Infinity;
  private partialTimer: NodeJS.Timeout | null = null;
  private markSettled!: () => void;
  /** Resolves at finish() or fail(). */
  private readonly settled = new Promise<void>((resolve) => { this.markSettled = resolve; });

  /**
   * `reader` reads what has been written so far; it is closed each time the
   * bytes are complete (or failed) and no follower reads any more.
   */
  constructor(readonly size: number, private readonly reader: BlobReader) {}

  /** `n` bytes are written (readable through the reader). */
  progress(n: number): void {
    this.written = n;
    // Wakes only the followers whose block is now whole (not every reader at every write).
    if (this.available() >= this.nextNeed) this.wake((w) => this.available() >= w.need);
  }

  /** Every byte is written and good: the last one may go. */
  finish(): void {
    if (this.state !== 'running') return;
    this.state = 'done';
    this.markSettled();
    this.wake(() => true);
    this.maybeCloseReader();
  }

  /** The bytes will never be complete: every follower's stream fails with `err` before its end. */
  fail(err: Error): void {
    if (this.state !== 'running') return;
    this.state = 'failed';
    this.error = err;
    this.markSettled();
    this.wake(() => true);
    this.maybeCloseReader();
  }

  private get failed(): boolean {
    return this.state === 'failed';
  }

  get complete(): boolean {
    return this.state === 'done';
  }

  /** finish() or fail() was called. */
  get ended(): boolean {
    return this.state !== 'running';
  }

  /** Followers reading now. */
  get following(): number {
    return this.readers;
  }

  /** Bytes a follower may have now: all of them once complete, else all written but the last byte. */
  private available(): number {
    return this.state === 'done' ? this.size : Math.min(this.written, this.size - 1);
  }

  /** A stream of the whole object that never delivers its last byte before finish(). */
  stream(): Readable {
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

  /** The bytes from `pos` to the end of its block (null at the end), waiting for the writer if needed. */
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
        return this.orItsFailure(this.reader.read(pos, end - pos));
      }
      const partial = await this.wait(pos, end);
      // (The state may have changed while waiting.)
      if (this.failed) throw this.error!;
      const avail = this.available();
      // A slow writer: what there is, read for this follower alone.
      if (partial && avail > pos && avail < end) return this.orItsFailure(this.reader.read(pos, avail - pos));
    }
  }

  /**
   * A read that found the file gone (ENOENT) answers with the writer's own
   * failure: a refused download's temp file is removed as soon as the bytes
   * are refused, a moment before fail() is called (a lease is released in
   * between: a round trip on PostgreSQL), and a follower that read then must
   * get that failure (a 502), not a 500 for a missing file. Bytes gone
   * although the writer finished (removed under the reader: by another
   * process, or an operator) are a 503: the client's retry finds the file
   * missing and has it fetched again.
   */
  private async orItsFailure<T>(read: Promise<T>): Promise<T> {
    try {
      return await read;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.settled;
      if (this.failed) throw this.error!;
      throw new StorageUnavailable(err, 'The bytes of this file went missing while they were read; try again.');
    }
  }

  /** One read of a whole block for every follower that asks for it while it is recent. */
  private block(index: number, start: number, end: number): Promise<Buffer> {
    let block = this.blocks.get(index);
    if (block) return block;
    block = this.reader.read(start, end - start);
    this.blocks.set(index, block);
    const forget = (): void => { if (this.blocks.get(index) === block) this.blocks.delete(index); };
    block.then((b) => { if (b.length < end - start) forget(); }, forget);
    if (this.blocks.size > SHARED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
    return block;
  }

  /** Resolves true when woken by the partial timer, false when `need` bytes may go (or the writer ended). */
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

  /**
   * Idle and complete (or failed): the descriptor is closed. A follower that
   * comes after that reads through the same reader, which opens it again
   * (the owner removes the file only when none can come any more).
   */
  private maybeCloseReader(): void {
    if (this.readers > 0 || this.state === 'running') return;
    this.blocks.clear();
    this.reader.close().catch(() => undefined);
  }
}
