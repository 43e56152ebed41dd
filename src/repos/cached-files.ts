/**
 * The files one remote repository holds in the blob store, and its size
 * limit (`maxCacheSize`): least recently used first, evicted files are
 * fetched again when asked for (their pages still list them).
 *
 * - Access times: the first use of a file in this process is written at once
 *   (so it counts), later ones are kept in memory and written in one
 *   transaction a minute (and before each eviction, so this process's order
 *   is exact). Files held open are re-stamped at each write.
 * - Eviction runs in the background after a fill takes the cache over its
 *   limit, one run at a time, down to 90% of it (the low-water mark: a full
 *   cache does not evict on every download).
 * - Never evicted: a file this process is serving or downloading (BlobPins);
 *   a file another process used within the last five minutes (it may be
 *   serving it: its access times reach the database within a minute); a blob
 *   a hosted file or another remote still uses (only this remote's row goes).
 *   Hosted (local, wheel cache) files have no rows here at all.
 * - A limit smaller than a file: the file is served, and evicted once nobody
 *   reads it any more.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log.ts';
import type { CacheMetrics } from '../metrics.ts';
import type { BlobStore, CachedFileRow, RemoteCacheStore } from '../storage/types.ts';
import type { BlobPins } from './blob-pins.ts';
import type { FileHandle } from './types.ts';

/** Eviction stops at this fraction of the limit. */
export const LOW_WATER = 0.9;
export const FLUSH_INTERVAL_MS = 60_000;
/** Rows another process stamped this recently are left alone: it may be reading the blob. */
export const OTHER_PROCESS_GRACE_MS = 5 * 60_000;
/** A handle nobody opened (HEAD, 304) stops holding its file after this. */
const UNOPENED_HOLD_MS = 60_000;
/** Blob mtimes newer than the row by more than this: someone committed the same bytes again since. */
const RECOMMIT_SLACK_MS = 1000;
const BATCH = 200;

export interface CachedFilesDeps {
  blobs: BlobStore;
  store: RemoteCacheStore;
  pins: BlobPins;
  logger: Logger;
  metrics: CacheMetrics;
  /** This process's id in the rows' accessed_by: its own readers are covered by pins. */
  processId: string;
  now?: () => number;
}

export interface EvictionResult {
  files: number;
  bytes: number;
  /** Bytes held after the run. */
  size: number;
}

/** A file held from before it is looked up until its last reader is done. */
export interface CacheHold {
  /** The handle to answer with: the hold passes to the streams it opens (or lapses after a minute if none is). */
  serve(handle: FileHandle, outcome: 'hit' | 'miss'): FileHandle;
  release(): void;
}

export class CachedFiles {
  private readonly now: () => number;
  /** Uses not yet written: sha256 → ms. */
  private readonly pending = new Map<string, number>();
  /** Files whose row this process has written (later uses are batched). */
  private readonly recorded = new LRUCache<string, true>({ max: 100_000 });
  /** Holds of this repository by sha256: re-stamped at each write. */
  private readonly holds = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private running: Promise<EvictionResult> | null = null;
  private again = false;
  private closed = false;

  constructor(readonly repo: string, readonly limit: number | null, private readonly deps: CachedFilesDeps) {
    this.now = deps.now ?? Date.now;
    this.timer = setInterval(() => void this.flush().catch((err: unknown) => this.deps.logger.error({ repo: this.repo, err }, 'could not write cache access times')), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  async hold(sha256: string): Promise<CacheHold> {
    const unpin = await this.deps.pins.hold(sha256);
    this.holds.set(sha256, (this.holds.get(sha256) ?? 0) + 1);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      const n = (this.holds.get(sha256) ?? 1) - 1;
      if (n > 0) this.holds.set(sha256, n);
      else this.holds.delete(sha256);
      unpin();
    };
    return {
      release,
      serve: (handle, outcome) => {
        this.deps.metrics.lookups.inc({ repo: this.repo, result: outcome });
        if (outcome === 'hit') {
          // Serving does not wait for the bookkeeping; a failed write is logged (the next use retries it).
          this.used(sha256, handle.size).catch((err: unknown) => this.deps.logger.error({ repo: this.repo, sha256, err }, 'could not record a cached file\'s use'));
        }
        const lapse = setTimeout(release, UNOPENED_HOLD_MS);
        lapse.unref();
        return {
          ...handle,
          open: (range) => {
            // Each stream pins the blob until it closes; then the handle's own hold can go.
            const unpinStream = this.deps.pins.pin(sha256);
            const stream = handle.open(range);
            stream.once('close', unpinStream);
            clearTimeout(lapse);
            release();
            if (outcome === 'hit') this.deps.metrics.hitBytes.inc({ repo: this.repo }, range ? range.end - range.start + 1 : handle.size);
            return stream;
          },
          // The proxy opens the blob just after this answer: the handle's hold stays
          // until it lapses (a minute), so eviction cannot take the blob in between.
          offload: handle.offload && (async (range) => {
            const key = await handle.offload!(range);
            if (key !== null && outcome === 'hit') this.deps.metrics.hitBytes.inc({ repo: this.repo }, range ? range.end - range.start + 1 : handle.size);
            return key;
          }),
        };
      },
    };
  }

  /** A file was served from the blob store. */
  private async used(sha256: string, size: number): Promise<void> {
    if (this.recorded.has(sha256)) {
      this.pending.set(sha256, this.now());
      return;
    }
    // Its first use here (or one cached before rows were kept): counted from now on.
    await this.deps.store.recordCached(this.repo, { sha256, size }, this.now(), this.deps.processId);
    this.recorded.set(sha256, true);
    this.check();
  }

  /** A download was verified and committed. Resolves once its row is written (an eviction it calls for has started). */
  async filled(sha256: string, size: number): Promise<void> {
    await this.deps.store.recordCached(this.repo, { sha256, size }, this.now(), this.deps.processId);
    this.recorded.set(sha256, true);
    if (this.limit !== null && size > this.limit) {
      this.deps.logger.warn({ repo: this.repo, sha256, size, maxCacheSize: this.limit },
        `a file of ${size} bytes is larger than maxCacheSize of '${this.repo}' (${this.limit} bytes): it is served, then evicted once nobody reads it; raise maxCacheSize`);
    }
    this.check();
  }

  /** Starts an eviction in the background if there is a limit (one run at a time; a fill during a run makes it go round again). */
  check(): void {
    if (this.limit === null || this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.evict().finally(() => { this.running = null; });
    this.running.catch((err: unknown) => this.deps.logger.error({ repo: this.repo, err }, 'cache eviction failed'));
  }

  /** Resolves when no eviction is running (tests, and shutdown). */
  async settled(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
  }

  /** Writes the batched access times (and re-stamps the files held open). */
  async flush(): Promise<void> {
    const now = this.now();
    for (const sha256 of this.holds.keys()) this.pending.set(sha256, now);
    if (this.pending.size === 0) return;
    const touches = [...this.pending].map(([sha256, at]) => ({ sha256, at }));
    this.pending.clear();
    await this.deps.store.touchCached(this.repo, touches, this.deps.processId);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.settled();
    await this.flush();
  }

  usage(): Promise<{ files: number; bytes: number }> {
    return this.deps.store.cacheUsage(this.repo);
  }

  private async evict(): Promise<EvictionResult> {
    const result: EvictionResult = { files: 0, bytes: 0, size: 0 };
    do {
      this.again = false;
      await this.evictDown(result);
    } while (this.again && !this.closed);
    return result;
  }

  private async evictDown(result: EvictionResult): Promise<void> {
    const limit = this.limit!;
    await this.flush();
    let size = (await this.usage()).bytes;
    result.size = size;
    if (size <= limit) return;
    const target = Math.floor(limit * LOW_WATER);
    const inUse: string[] = [];
    const cutoff = this.now() - OTHER_PROCESS_GRACE_MS;
    let after: CachedFileRow | null = null;
    while (size > target && !this.closed) {
      const batch = await this.deps.store.leastRecentlyUsed(this.repo, after, BATCH);
      if (batch.length === 0) break;
      after = batch.at(-1)!;
      for (const row of batch) {
        if (size <= target) break;
        if (row.accessedBy !== this.deps.processId && row.lastAccess > cutoff) continue;
        const done = await this.deps.pins.removeUnlessHeld(row.sha256, () => this.evictOne(row));
        if (done === null) {
          inUse.push(row.sha256);
          continue;
        }
        size -= row.size;
        result.files++;
        result.bytes += row.size;
        this.deps.metrics.evictions.inc({ repo: this.repo });
        this.deps.metrics.evictedBytes.inc({ repo: this.repo }, row.size);
      }
    }
    result.size = size;
    if (size > limit) {
      this.deps.logger.warn({ repo: this.repo, size, maxCacheSize: limit, inUse: inUse.length },
        `the cache of '${this.repo}' stays over maxCacheSize: the files left are in use`);
      // Files held by readers here go as soon as the last one is done.
      if (inUse.length > 0 && !this.closed) {
        void Promise.race(inUse.map((sha) => this.deps.pins.released(sha))).then(() => this.check());
      }
    }
  }

  /** Forgets one file; its blob goes unless another repository still uses it. */
  private async evictOne(row: CachedFileRow): Promise<true> {
    const { heldElsewhere } = await this.deps.store.uncache(this.repo, row.sha256);
    this.pending.delete(row.sha256);
    this.recorded.delete(row.sha256);
    // An upload of the same bytes renews the blob's mtime when it commits and
    // names it in a row right after: a blob committed since this row was
    // made is left for gc to judge.
    const info = heldElsewhere ? null : await this.deps.blobs.stat(row.sha256);
    const recommitted = info !== null && info.mtime.getTime() > row.cachedAt + RECOMMIT_SLACK_MS;
    if (!heldElsewhere && !recommitted) await this.deps.blobs.delete(row.sha256);
    this.deps.logger.info({ repo: this.repo, sha256: row.sha256, size: row.size, lastAccess: new Date(row.lastAccess).toISOString(), blobKept: heldElsewhere || recommitted },
      'evicted a cached file (maxCacheSize); it is fetched again when asked for');
    return true;
  }
}
