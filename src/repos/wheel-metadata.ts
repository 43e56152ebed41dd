/**
 * Core metadata (PEP 658/714) for the upstream wheels whose index gives none:
 * HTML-only indexes (PyTorch's, devpi, older Artifactory) and JSON pages
 * without `core-metadata`. pydepot reads the wheel's METADATA itself, byte
 * for byte (pip 26.2 refuses a `.metadata` that differs from the wheel's):
 *
 * - blob: from the cached wheel, when there is one (its sha256 was verified
 *   against the page when it was cached); no upstream request;
 * - range: by HTTP Range requests, the zip's end and then the member alone
 *   (pypi/wheel-zip.ts checks the member's name, size and CRC-32);
 * - full: when the upstream ignores or refuses Range and the metadata is
 *   needed now (a `.metadata` request, the wheelhouse resolver), from the
 *   whole wheel, fetched through the verified file fetch, which caches it.
 *
 * The bytes become a blob, recorded in `wheel_metadata`; only then does the
 * project's page advertise them. A wheel that cannot be read is recorded
 * with the reason, logged, and served as a file like any other.
 *
 * When: pip asks for `.metadata` only when the page advertises it, so
 * waiting for that request would be useless. After each page fetch, the
 * wheels of the newest `metadataReleases` releases are read in the
 * background (CONCURRENCY at a time, by Range only: never a background
 * download of whole wheels, which for PyTorch would be gigabytes); after each
 * wheel download, that wheel from its blob; any other wheel on demand.
 */
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { InvalidDistribution } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { UpstreamMetrics } from '../metrics.ts';
import { parseDistFilename } from '../pypi/filenames.ts';
import type { ProjectPage } from '../pypi/pages.ts';
import { isPrerelease, sortVersions } from '../pypi/versions.ts';
import { readWheelMetadataByRanges, type ZipRangeReader } from '../pypi/wheel-zip.ts';
import type { BlobStore, RemoteCacheStore, RemoteFileRow, TempBlob, WheelMetadataRecord } from '../storage/types.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import type { FileFetcher } from '../upstream/fetch-file.ts';
import { RangeNotSupported, upstreamRangeReader } from '../upstream/range-read.ts';
import { sharedPromises } from '../upstream/single-flight.ts';

export type ExtractionMethod = WheelMetadataRecord['method'];

export type Extraction =
  | { ok: true; metadataSha256: string }
  | { ok: false; reason: 'malformed' | 'no-range' | 'upstream' | 'storage' | 'offline' | 'not-a-wheel' };

/** Background reads at once, per remote repository. */
const CONCURRENCY = 4;
/** Background reads waiting at most; beyond, new ones are dropped (a later page fetch asks again). */
const MAX_QUEUE = 10_000;
/** How long an origin that ignored a Range request is not asked again in the background. */
const NO_RANGE_MEMORY_MS = 60 * 60 * 1000;
const MAX_METADATA_BYTES = 10 * 1024 * 1024;

export interface ExtractorDeps {
  repo: string;
  client: UpstreamClient;
  blobs: BlobStore;
  store: RemoteCacheStore;
  fetcher: FileFetcher;
  logger: Logger;
  metrics: UpstreamMetrics;
  offline: boolean;
  /** Newest releases of a fetched page whose wheels are read in the background; 0: on demand only. */
  releases: number;
  /** The METADATA of `row` is stored and recorded: its page may advertise it. */
  extracted(row: RemoteFileRow, metadataSha256: string): Promise<void>;
  now?: () => number;
}

export class WheelMetadataExtractor {
  private readonly flights = sharedPromises<string, Extraction>();
  private readonly queue: RemoteFileRow[] = [];
  private readonly queued = new Set<string>();
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  /** Origins that ignored or refused a Range request, and when. */
  private readonly noRange = new Map<string, number>();
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly deps: ExtractorDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * The METADATA of an upstream wheel, read now (or joined, when a read of
   * it runs). `whole`: download the whole wheel when the upstream has no
   * Range support.
   */
  async extract(row: RemoteFileRow, opts: { whole: boolean }): Promise<Extraction> {
    const k = key(row);
    let out = await this.flights.join(k, () => this.run(row, opts.whole));
    // Joined a background read, which never downloads whole wheels.
    if (!out.ok && out.reason === 'no-range' && opts.whole) out = await this.flights.join(k, () => this.run(row, true));
    return out;
  }

  /** A page was fetched: the wheels of its newest releases that lack metadata, in the background. */
  pageFetched(page: ProjectPage): void {
    if (this.deps.releases === 0 || this.deps.offline) return;
    const pending = page.files.flatMap((f) => {
      if (f.metadataSha256 !== null || f.yanked !== false || !f.filename.endsWith('.whl')) return [];
      try {
        return [{ f, version: parseDistFilename(f.filename).version }];
      } catch {
        return [];
      }
    });
    if (pending.length === 0) return;
    const wanted = newestReleases(pending.map((p) => p.version), this.deps.releases);
    // The rows are read in the background; counted as running so that idle() waits for them.
    this.background(async () => {
      for (const { f, version } of pending) {
        if (!wanted.has(version)) continue;
        const row = await this.deps.store.getFile(this.deps.repo, f.sha256, f.filename);
        if (row) await this.enqueue(row);
      }
    }, 'queueing the wheels of a fetched page failed');
  }

  /** A wheel was downloaded and verified: its METADATA from the blob, in the background. */
  downloaded(row: RemoteFileRow): void {
    if (row.metadataSha256 === null && row.filename.endsWith('.whl')) this.background(() => this.enqueue(row), 'queueing a downloaded wheel failed');
  }

  /** Runs `task` as one of the running jobs (idle() waits for it); its failure is logged. */
  private background(task: () => Promise<void>, failure: string): void {
    this.running++;
    task()
      .catch((err: unknown) => this.deps.logger.error({ repo: this.deps.repo, err: (err as Error).message }, failure))
      .finally(() => this.finished());
  }

  private finished(): void {
    this.running--;
    this.pump();
    if (this.running === 0 && this.queue.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Drops the reads waiting; resolves when the running ones are done (before the database closes). */
  close(): Promise<void> {
    this.closed = true;
    for (const row of this.queue.splice(0)) this.queued.delete(key(row));
    return this.idle();
  }

  /** Resolves once no background read runs or waits (tests, benchmarks). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async enqueue(row: RemoteFileRow): Promise<void> {
    const k = key(row);
    if (this.closed || this.queued.has(k) || this.queued.size >= MAX_QUEUE) return;
    // Marked before the read below, so that a second enqueue meanwhile is a no-op.
    this.queued.add(k);
    let known: string | null | undefined;
    try {
      known = (await this.deps.store.getWheelMetadata(row.sha256, row.filename))?.metadataSha256;
    } catch (err) {
      this.queued.delete(k);
      throw err;
    }
    // Read already (through another remote listing the same file): only the page is behind.
    if (known || this.closed) {
      this.queued.delete(k);
      if (known) await this.deps.extracted(row, known);
      return;
    }
    this.queue.push(row);
    this.pump();
  }

  private pump(): void {
    while (this.running < CONCURRENCY && this.queue.length > 0) {
      const row = this.queue.shift()!;
      this.running++;
      this.extract(row, { whole: false })
        .catch((err: unknown) => {
          this.deps.logger.error({ repo: this.deps.repo, filename: row.filename, err: (err as Error).message }, 'reading core metadata out of an upstream wheel failed');
        })
        .finally(() => {
          this.queued.delete(key(row));
          this.finished();
        });
    }
  }

  private async run(row: RemoteFileRow, whole: boolean): Promise<Extraction> {
    const { blobs, store } = this.deps;
    const known = await store.getWheelMetadata(row.sha256, row.filename);
    if (known?.metadataSha256 && (await blobs.stat(known.metadataSha256))) {
      await this.deps.extracted(row, known.metadataSha256);
      return { ok: true, metadataSha256: known.metadataSha256 };
    }
    if (!row.filename.endsWith('.whl')) return { ok: false, reason: 'not-a-wheel' };
    const cached = await blobs.stat(row.sha256);
    // A wheel found malformed stays so; one judged by Range reads alone is
    // judged again once its verified bytes are cached.
    if (known?.failure != null && !(known.method === 'range' && cached)) return { ok: false, reason: 'malformed' };
    if (cached) return this.read(row, 'blob', blobReader(blobs, row.sha256));
    if (this.deps.offline) return { ok: false, reason: 'offline' };

    const origin = new URL(row.url).origin;
    const refusedAt = this.noRange.get(origin);
    if (refusedAt === undefined || this.now() - refusedAt > NO_RANGE_MEMORY_MS) {
      const reader = upstreamRangeReader(this.deps.client, row.url, {
        expectedSize: row.size,
        onBytes: (n) => this.deps.metrics.metadataBytes.inc({ repo: this.deps.repo }, n),
      });
      try {
        return await this.read(row, 'range', reader);
      } catch (err) {
        if (!(err instanceof RangeNotSupported)) return this.failed(row, 'upstream', err);
        if (refusedAt === undefined) this.deps.logger.info({ repo: this.deps.repo, origin, reason: err.message }, 'upstream does not serve byte ranges; wheels are read whole for their metadata, and only on demand');
        this.noRange.set(origin, this.now());
      }
    }
    if (!whole) {
      this.deps.metrics.metadataFailures.inc({ repo: this.deps.repo, reason: 'no-range' });
      return { ok: false, reason: 'no-range' };
    }
    try {
      const download = await this.deps.fetcher.join({ url: row.url, filename: row.filename, sha256: row.sha256, size: row.size });
      await download.done;
    } catch (err) {
      return this.failed(row, 'upstream', err);
    }
    return this.read(row, 'full', blobReader(blobs, row.sha256));
  }

  /** Reads, checks and keeps the METADATA; the reader's own errors (I/O, upstream) are thrown. */
  private async read(row: RemoteFileRow, method: ExtractionMethod, reader: ZipRangeReader): Promise<Extraction> {
    const { repo, logger, metrics, store } = this.deps;
    let bytes: Buffer;
    try {
      ({ bytes } = await readWheelMetadataByRanges(reader, row.filename, { maxMetadataBytes: MAX_METADATA_BYTES, maxCentralDirectoryBytes: 32 * 1024 * 1024 }));
    } catch (err) {
      if (!(err instanceof InvalidDistribution)) {
        if (method === 'range') throw err;
        return this.failed(row, 'storage', err);
      }
      await store.saveWheelMetadata({ sha256: row.sha256, filename: row.filename, metadataSha256: null, method, failure: err.message, at: new Date(this.now()).toISOString() });
      metrics.metadataFailures.inc({ repo, reason: 'malformed' });
      logger.warn({ repo, filename: row.filename, method, reason: err.message }, 'upstream wheel has no readable METADATA: no core metadata is served for it');
      return { ok: false, reason: 'malformed' };
    }
    let metadataSha256: string;
    try {
      metadataSha256 = await keep(this.deps.blobs, bytes);
    } catch (err) {
      return this.failed(row, 'storage', err);
    }
    await store.saveWheelMetadata({ sha256: row.sha256, filename: row.filename, metadataSha256, method, failure: null, at: new Date(this.now()).toISOString() });
    metrics.metadataExtracted.inc({ repo, method });
    await this.deps.extracted(row, metadataSha256);
    // Once the page advertises it: whoever reads the line (a test, an operator) finds the page saying so.
    logger.info({ repo, filename: row.filename, method, metadataSha256 }, 'core metadata read out of an upstream wheel');
    return { ok: true, metadataSha256 };
  }

  private failed(row: RemoteFileRow, reason: 'upstream' | 'storage', err: unknown): Extraction {
    this.deps.metrics.metadataFailures.inc({ repo: this.deps.repo, reason });
    this.deps.logger.warn({ repo: this.deps.repo, filename: row.filename, reason: (err as Error).message }, 'could not read the core metadata of an upstream wheel');
    return { ok: false, reason };
  }
}

function key(row: RemoteFileRow): string {
  return `${row.sha256}/${row.filename}`;
}

/**
 * The `n` newest final releases among `versions` (pip skips pre-releases
 * unless asked), and the pre-releases newer than the oldest of them.
 */
export function newestReleases(versions: readonly string[], n: number): Set<string> {
  const sorted = sortVersions(versions).reverse();
  const finals = sorted.filter((v) => !isPrerelease(v)).slice(0, n);
  const oldest = finals.at(-1);
  const newer = oldest === undefined ? sorted.slice(0, n) : sorted.slice(0, sorted.indexOf(oldest));
  return new Set([...finals, ...newer]);
}

/** Random access to a committed blob, for the zip reader. */
function blobReader(blobs: BlobStore, sha256: string): ZipRangeReader {
  const read = async (start: number, end: number): Promise<Buffer> =>
    end <= start ? Buffer.alloc(0) : buffer(blobs.open(sha256, { start, end: end - 1 }));
  return {
    async tail(length: number) {
      const info = await blobs.stat(sha256);
      if (!info) throw new Error(`the cached file ${sha256} is gone`);
      return { bytes: await read(Math.max(0, info.size - length), info.size), size: info.size };
    },
    read,
  };
}

/** Stores bytes as a blob; returns their sha256. */
async function keep(blobs: BlobStore, bytes: Buffer): Promise<string> {
  const writer = blobs.createTemp({ maxBytes: bytes.length });
  try {
    await pipeline(Readable.from([bytes]), writer.stream);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  let temp: TempBlob | null = await writer.finished();
  try {
    await blobs.commit(temp);
    const sha = temp.sha256;
    temp = null;
    return sha;
  } finally {
    if (temp) await blobs.discard(temp);
  }
}
