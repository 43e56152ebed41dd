/**
 * Garbage collection: blobs that no row names (a local delete that lost a
 * race, a page that stopped listing a cached file whose row went with it, a
 * crash between commit and row) and temp files that crashed transfers left.
 *
 * Safe while the server runs and uploads arrive:
 * - a temp file written to within the grace period (1 h) is kept: an upload
 *   or download in progress writes to its own all the time;
 * - a blob committed within the grace period is kept, whatever references it
 *   has: an upload commits its blob a moment before its row names it, and a
 *   commit of bytes already stored renews the blob's mtime (BlobStore.commit);
 * - right before a blob is deleted its mtime and references are read again.
 *
 * Cached files of remotes that have no row yet (cached by a pydepot from
 * before `maxCacheSize`) are given one, so that the size limit counts them.
 */
import type { Logger } from '../log.ts';
import type { BlobStore, MetadataStore, RemoteCacheStore } from '../storage/types.ts';

export const GC_GRACE_MS = 60 * 60_000;

export interface GcDeps {
  blobs: BlobStore;
  store: MetadataStore;
  remoteStore: RemoteCacheStore;
  logger: Logger;
}

export interface GcOptions {
  /** Count what would go; change nothing. */
  dryRun?: boolean;
  /** Blobs and temp files younger than this are kept. Default: one hour. */
  graceMs?: number;
}

export interface GcResult {
  dryRun: boolean;
  /** Unreferenced blobs removed (or that would be). */
  blobs: { count: number; bytes: number };
  /** Stale temp files removed (or that would be). */
  temp: { count: number; bytes: number };
  /** Unreferenced blobs kept because they are younger than the grace period. */
  young: number;
  /** Blobs examined. */
  scanned: number;
  /** Cached files given a row for the size limit. */
  adopted: number;
  ms: number;
}

export async function collectGarbage(deps: GcDeps, opts: GcOptions = {}): Promise<GcResult> {
  const started = Date.now();
  const dryRun = opts.dryRun === true;
  const cutoff = started - (opts.graceMs ?? GC_GRACE_MS);
  const result: GcResult = { dryRun, blobs: { count: 0, bytes: 0 }, temp: { count: 0, bytes: 0 }, young: 0, scanned: 0, adopted: 0, ms: 0 };
  for await (const b of deps.blobs.list()) {
    result.scanned++;
    if (await deps.store.blobInUse(b.sha256)) {
      if (!dryRun) result.adopted += await deps.remoteStore.adoptCached(b.sha256, b.size, b.mtime.getTime());
      continue;
    }
    if (b.mtime.getTime() > cutoff) {
      result.young++;
      continue;
    }
    if (!dryRun) {
      // Again, right before: committed again or named by a row since the listing?
      const now = await deps.blobs.stat(b.sha256);
      if (!now || now.mtime.getTime() > cutoff || (await deps.store.blobInUse(b.sha256))) continue;
      await deps.blobs.delete(b.sha256);
      deps.logger.info({ sha256: b.sha256, size: b.size }, 'gc: removed a blob no row names');
    }
    result.blobs.count++;
    result.blobs.bytes += b.size;
  }
  result.temp = await deps.blobs.removeStaleTemp(new Date(cutoff), { dryRun });
  result.ms = Date.now() - started;
  if (!dryRun) {
    await deps.store.recordRun('gc', Date.now(), {
      blobs: result.blobs.count, blobBytes: result.blobs.bytes, temp: result.temp.count, tempBytes: result.temp.bytes,
      freedBytes: result.blobs.bytes + result.temp.bytes, adopted: result.adopted, seconds: result.ms / 1000,
    });
  }
  return result;
}
