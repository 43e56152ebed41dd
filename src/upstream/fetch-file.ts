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
import { FollowedBytes } from '../storage/follow.ts';
import { onceAcrossProcesses, type Leases } from '../storage/lease.ts';
import type { BlobStore, TempBlob, TempBlobWriter } from '../storage/types.ts';
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
    d.clients++;
    await d.ready;
    return d;
  }

  get active(): number {
    return this.downloads.size;
  }
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
  /** The clients that joined it: more than one reading the committed blob is a herd (openShared). */
  clients = 0;
  /** The temp blob as it grows, read by this process's clients (none when another process downloads it). */
  private followed: FollowedBytes | null = null;
  private state: 'running' | 'done' | 'failed' = 'running';
  private error: Error | null = null;

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
        const followed = new FollowedBytes(size!, writer.reader());
        this.followed = followed;
        writer.onProgress((n) => {
          followed.progress(n);
          markReady();
        });
      },
      onCommitted: () => {
        this.state = 'done';
        this.followed!.finish();
        markReady();
      },
    }).then(() => 'fetched' as const);
    // Another process may be downloading the file: its readers here wait for
    // the commit, then read the blob like any cached file (openShared: with
    // S3, this process's herd shares two reads of it, not one per client).
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
    }).catch((err: unknown) => {
      this.state = 'failed';
      this.error = err instanceof Error ? err : new Error(String(err));
      failReady(this.error);
      this.followed?.fail(this.error);
      throw this.error;
    });
    this.done.catch(() => undefined);
  }

  get failed(): boolean {
    return this.state === 'failed';
  }

  /**
   * A stream of the whole file that never delivers its last byte unverified
   * (see FollowedBytes). Joined after the commit: the committed blob is the file.
   */
  stream(): Readable {
    if (this.state === 'done') return this.deps.blobs.openShared(this.target.sha256, this.size, { herd: this.clients > 1 });
    if (this.followed) return this.followed.stream();
    // (Not reached: ready rejected, so no client asks for the stream.)
    const out = new Readable({ read: () => undefined });
    out.destroy(this.error ?? new Error(`the download of ${this.target.filename} has not started`));
    return out;
  }
}
