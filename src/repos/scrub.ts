/**
 * Scrub: every stored blob re-hashed (streamed, so a 2 GB wheel costs what a
 * 2 kB one does), and each whose bytes no longer match its sha256 moved to
 * quarantine so that it is never served again. A remote's copy is then "not
 * cached": the next request fetches it again. A hosted file has nowhere to
 * come from: it is reported loudly, and its downloads fail until someone
 * uploads it again (or restores the blob from a backup).
 *
 * `pydepot scrub` runs it on demand; with `scrub.interval` the server runs
 * it on a schedule, capped at `scrub.rate` bytes per second so that
 * requests keep the disk.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import type { ScrubMetrics } from '../metrics.ts';
import { jobRound, type Leases } from '../storage/lease.ts';
import type { BlobReference, BlobStore, MetadataStore, RemoteCacheStore, StoredBlob } from '../storage/types.ts';

export interface ScrubDeps {
  blobs: BlobStore;
  store: MetadataStore;
  remoteStore: RemoteCacheStore;
  logger: Logger;
}

export interface ScrubProgress {
  blobsTotal: number;
  bytesTotal: number;
  blobsDone: number;
  bytesDone: number;
  corrupt: number;
}

export interface ScrubOptions {
  /** Only the blobs these repositories' rows name; absent: every stored blob, unreferenced ones too. */
  repos?: readonly string[];
  /** Bytes per second at most; 0 or absent: as fast as the disk goes. */
  rate?: number;
  signal?: AbortSignal;
  onProgress?(p: ScrubProgress): void;
}

export interface CorruptBlob {
  sha256: string;
  size: number;
  /** What its bytes hash to now. */
  actual: string;
  /** Hosted files stored in it: lost until uploaded again. */
  lost: BlobReference[];
  /** Remotes that held it: they fetch it again on the next request. */
  refetch: string[];
}

export interface ScrubResult {
  checked: number;
  bytes: number;
  corrupt: CorruptBlob[];
  /** Deleted while the scrub ran (gc, eviction, a delete): nothing to check. */
  vanished: number;
  ms: number;
  /** Stopped before the end (the server stopping). */
  aborted: boolean;
}

/** Spreads reads so that, on average, no more than `rate` bytes go per second. */
class Throttle {
  private readonly start = Date.now();
  private bytes = 0;
  constructor(private readonly rate: number, private readonly signal?: AbortSignal) {}

  async take(n: number): Promise<void> {
    if (this.rate <= 0) return;
    this.bytes += n;
    const wait = this.start + (this.bytes / this.rate) * 1000 - Date.now();
    if (wait > 5) await sleep(wait, undefined, { signal: this.signal }).catch(() => undefined);
  }
}

/** The blobs to check: a repository's (by its rows), or everything in the store. */
async function* inventory(deps: ScrubDeps, repos: readonly string[] | undefined): AsyncIterable<StoredBlob> {
  if (!repos) {
    yield* deps.blobs.list();
    return;
  }
  const shas = new Set((await Promise.all(repos.map((r) => deps.store.repoBlobs(r)))).flat());
  for (const sha256 of [...shas].sort()) {
    // A remote's listed file that is not cached has no blob: nothing to check.
    const info = await deps.blobs.stat(sha256);
    if (info) yield { sha256, ...info };
  }
}

/** The sha256 of a stored blob, or null when it vanished meanwhile. */
async function hashBlob(blobs: BlobStore, sha256: string, throttle: Throttle, signal?: AbortSignal): Promise<{ sha256: string; size: number } | null> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of blobs.open(sha256) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      await throttle.take(chunk.length);
      if (signal?.aborted) return null;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return { sha256: hash.digest('hex'), size };
}

export async function scrubBlobs(deps: ScrubDeps, opts: ScrubOptions = {}): Promise<ScrubResult> {
  const started = Date.now();
  const progress: ScrubProgress = { blobsTotal: 0, bytesTotal: 0, blobsDone: 0, bytesDone: 0, corrupt: 0 };
  // A first pass for the totals (a progress bar needs them; walking is cheap next to hashing).
  for await (const b of inventory(deps, opts.repos)) {
    progress.blobsTotal++;
    progress.bytesTotal += b.size;
  }
  opts.onProgress?.({ ...progress });
  const throttle = new Throttle(opts.rate ?? 0, opts.signal);
  const result: ScrubResult = { checked: 0, bytes: 0, corrupt: [], vanished: 0, ms: 0, aborted: false };
  for await (const b of inventory(deps, opts.repos)) {
    if (opts.signal?.aborted) {
      result.aborted = true;
      break;
    }
    const got = await hashBlob(deps.blobs, b.sha256, throttle, opts.signal);
    if (got === null) {
      if (opts.signal?.aborted) continue;
      result.vanished++;
      continue;
    }
    result.checked++;
    result.bytes += got.size;
    if (got.sha256 !== b.sha256) {
      const corrupt = await quarantine(deps, b.sha256, got);
      if (corrupt) result.corrupt.push(corrupt);
    }
    progress.blobsDone = result.checked;
    progress.bytesDone = result.bytes;
    progress.corrupt = result.corrupt.length;
    opts.onProgress?.({ ...progress, blobsTotal: Math.max(progress.blobsTotal, progress.blobsDone), bytesTotal: Math.max(progress.bytesTotal, progress.bytesDone) });
  }
  result.ms = Date.now() - started;
  await deps.store.recordRun('scrub', Date.now(), {
    checked: result.checked, bytes: result.bytes, corrupt: result.corrupt.length, seconds: result.ms / 1000, aborted: result.aborted ? 1 : 0,
  });
  return result;
}

async function quarantine(deps: ScrubDeps, sha256: string, got: { sha256: string; size: number }): Promise<CorruptBlob | null> {
  if (!(await deps.blobs.quarantine(sha256))) return null;
  const refetch = await deps.remoteStore.uncacheEverywhere(sha256);
  const lost = (await deps.store.blobReferences(sha256)).filter((r) => r.hosted);
  const corrupt: CorruptBlob = { sha256, size: got.size, actual: got.sha256, lost, refetch };
  if (lost.length > 0) {
    deps.logger.error({ sha256, actual: got.sha256, files: lost.map((r) => `${r.repo}/${r.filename}`) },
      'CORRUPT hosted file quarantined: it cannot be fetched again and its downloads fail until it is uploaded again or the blob is restored from a backup');
  } else {
    deps.logger.warn({ sha256, actual: got.sha256, remotes: refetch }, 'corrupt blob quarantined; a remote fetches it again on the next request');
  }
  return corrupt;
}

/** The lease of the scheduled scrub's rounds. */
export const SCRUB_JOB = 'job:scrub';

/**
 * The server's scrub every `intervalSeconds` (from the end of one to the
 * start of the next), at most `rate` bytes per second. stop() aborts a
 * running one and waits for it. With `leases` (shared with the other processes
 * and replicas on the database), each round runs on the
 * process that takes the lease `job:scrub` (jobRound): one replica (or
 * worker) scrubs the shared store per round, the others skip it.
 */
export function scheduleScrubs(intervalSeconds: number, rate: number, deps: ScrubDeps, metrics: ScrubMetrics, leases?: Leases | null): { stop(): Promise<void> } {
  if (intervalSeconds <= 0) return { stop: async () => undefined };
  const controller = new AbortController();
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  const next = (): void => {
    timer = setTimeout(() => {
      running = runOnce().finally(() => {
        running = null;
        if (!controller.signal.aborted) next();
      });
    }, intervalSeconds * 1000);
    timer.unref();
  };
  const runOnce = async (): Promise<void> => {
    let seen = { blobs: 0, bytes: 0, corrupt: 0 };
    try {
      const ran = await jobRound(leases, SCRUB_JOB, intervalSeconds * 1000, async () => {
        const r = await scrubBlobs(deps, {
          rate, signal: controller.signal,
          onProgress: (p) => {
            metrics.blobs.inc(p.blobsDone - seen.blobs);
            metrics.bytes.inc(p.bytesDone - seen.bytes);
            metrics.corrupt.inc(p.corrupt - seen.corrupt);
            seen = { blobs: p.blobsDone, bytes: p.bytesDone, corrupt: p.corrupt };
          },
        });
        const log = r.corrupt.length > 0 ? deps.logger.warn.bind(deps.logger) : deps.logger.info.bind(deps.logger);
        log({ checked: r.checked, bytes: r.bytes, corrupt: r.corrupt.length, seconds: r.ms / 1000, aborted: r.aborted }, 'scheduled scrub finished');
      });
      if (!ran) deps.logger.debug({ lease: SCRUB_JOB }, 'scheduled scrub skipped: another process runs this round');
    } catch (err) {
      deps.logger.error({ err }, 'scheduled scrub failed');
    }
  };
  next();
  return {
    async stop() {
      controller.abort();
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
