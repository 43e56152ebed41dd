/**
 * A proxy-cache of an upstream index. Pages come through the IndexCache
 * (freshness rules) and are served like local ones, with links to pydepot's
 * own file URLs (remote-page.ts). Files and their core metadata are fetched
 * once, verified, and kept in the shared blob store.
 */
import { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { RemoteRepoConfig } from '../config/schema.ts';
import { Gone, NotFound, UpstreamUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { UpstreamMetrics } from '../metrics.ts';
import type { ProjectPage, ProjectSummary } from '../pypi/pages.ts';
import type { BlobStore, RemoteCacheStore, RemoteFileRecord, RemoteFileRow } from '../storage/types.ts';
import { UpstreamClient } from '../upstream/client.ts';
import { fetchVerified, FileFetcher, type FetchEvents } from '../upstream/fetch-file.ts';
import { sharedPromises } from '../upstream/single-flight.ts';
import type { RepositoryEvents } from './events.ts';
import { blobFileHandle } from './file-handles.ts';
import { filterPage, filterReason, namedFilter, type NamedFilter } from './file-filters.ts';
import { IndexCache, type PageLookup } from './index-cache.ts';
import { goneReason, servesRemoved, visiblePage, type StoredPage } from './removals.ts';
import type { FileHandle, UpstreamRepository } from './types.ts';

const MAX_METADATA_BYTES = 10 * 1024 * 1024;
/** When a file was last served is written at most this often per file: a herd of nodes costs one write. */
const ACCESS_WRITE_INTERVAL_MS = 60_000;

export interface RemoteDeps {
  blobs: BlobStore;
  store: RemoteCacheStore;
  logger: Logger;
  metrics: UpstreamMetrics;
  events: RepositoryEvents;
}

export class RemoteRepository implements UpstreamRepository {
  readonly kind = 'remote' as const;
  readonly indexMaxAge: number;
  readonly fileFilter: NamedFilter | null;
  /** When this process last wrote each file's last_access (ms), by `sha256/filename`. */
  private readonly accessWritten = new LRUCache<string, number>({ max: 100_000 });
  private readonly client: UpstreamClient;
  private readonly index: IndexCache;
  private readonly fetcher: FileFetcher;
  private readonly metadataFetches = sharedPromises<string, void>();
  private readonly blobs: BlobStore;
  private readonly store: RemoteCacheStore;

  constructor(readonly name: string, private readonly config: RemoteRepoConfig, private readonly deps: RemoteDeps) {
    this.indexMaxAge = config.indexMaxAge;
    this.blobs = deps.blobs;
    this.store = deps.store;
    this.client = new UpstreamClient({ url: config.url, timeoutSeconds: config.timeout, username: config.username, password: config.password });
    this.fileFilter = namedFilter(name, config.files);
    this.index = new IndexCache(name, config, this.client, deps.store, deps.logger, deps.metrics, {
      cached: async (sha256) => (await deps.blobs.stat(sha256)) !== null,
      noticed: (project, count, cause) => {
        deps.metrics.removals.inc({ repo: name, cause }, count);
        deps.logger.warn({ repo: name, project, files: count, cause, keepRemoved: config.keepRemoved },
          cause === 'quarantined' ? 'upstream quarantined the project; its files are no longer served'
            : config.keepRemoved && cause === 'deleted' ? 'upstream removed files; the cached ones are still served (keepRemoved)'
              : 'upstream removed files; they are no longer served');
      },
    });
    this.fetcher = new FileFetcher({
      client: this.client, blobs: deps.blobs, logger: deps.logger,
      events: {
        started: () => deps.metrics.downloads.inc({ repo: name }),
        rejected: () => deps.metrics.rejectedFiles.inc({ repo: name }),
        failed: () => deps.metrics.failures.inc({ repo: name, kind: 'file' }),
      },
    });
  }

  /** Every page lookup goes through here, so each page fetched from upstream is published once. */
  private async lookup(project: string): Promise<PageLookup | null> {
    const found = await this.index.page(project);
    if (found?.fetched) this.deps.events.upstreamPage.emit({ remote: this.name, page: found.fetched });
    return found;
  }

  /** The stored page, without asking upstream whatever its age: the upstream's files, as last seen. */
  cachedPage(project: string): ProjectPage | null {
    const body = this.store.getPageBody(this.name, project);
    return body ? visiblePage(JSON.parse(body) as StoredPage, false) : null;
  }

  async projectVersion(project: string): Promise<string | null> {
    const found = await this.lookup(project);
    return found ? `${found.row.serial}` : null;
  }

  /**
   * The upstream's page as this remote serves it before its files filter:
   * removals applied (keepRemoved). What a wheel cache judges its wheels
   * against, and what a virtual repository merges them into.
   */
  async upstreamPage(project: string): Promise<ProjectPage | null> {
    // Callers ask projectVersion first, which has just brought the row up to
    // date: asking upstream again would double every revalidation.
    if (!this.store.getPage(this.name, project)) await this.lookup(project);
    const body = this.store.getPageBody(this.name, project);
    return body ? visiblePage(JSON.parse(body) as StoredPage, this.config.keepRemoved) : null;
  }

  async projectPage(project: string): Promise<ProjectPage | null> {
    const page = await this.upstreamPage(project);
    const filter = this.fileFilter;
    return page && filter ? filterPage(page, (f) => filterReason([filter], f.filename, f.requiresPython) === null) : page;
  }

  async listVersion(): Promise<string> {
    return String(await this.index.rootSerial());
  }

  async *listProjects(): AsyncIterable<ProjectSummary[]> {
    await this.index.rootSerial();
    let after = '';
    for (;;) {
      const names = this.store.rootNames(this.name, after, 5000);
      if (names.length === 0) return;
      yield names.map((n) => ({ name: n, displayName: n }));
      after = names.at(-1)!;
    }
  }

  /** An upstream cache hosts nothing: its names never become internal. */
  hostsProject(): boolean {
    return false;
  }

  fileProject(sha256: string, filename: string): string | null {
    return this.store.getFile(this.name, sha256, filename)?.project ?? null;
  }

  requiresPythonOf(sha256: string, filename: string): string | null {
    return this.store.getFile(this.name, sha256, filename)?.requiresPython ?? null;
  }

  /**
   * The file's row when this remote serves it: 410 when the upstream removed
   * it (unless kept), 404 naming the filter that drops it, null when no page
   * of this remote ever listed it.
   */
  private async servable(sha256: string, filename: string, filtered = true): Promise<RemoteFileRecord | null> {
    const row = this.store.getFile(this.name, sha256, filename);
    if (!row) return null;
    if (row.removedAt !== null && !servesRemoved(row, this.config.keepRemoved, (await this.blobs.stat(sha256)) !== null)) {
      this.deps.metrics.removedRefused.inc({ repo: this.name });
      throw new Gone(goneReason({ ...row, removedAt: row.removedAt }, new URL(`${encodeURIComponent(row.project)}/`, this.config.url).href));
    }
    const reason = filtered && this.fileFilter ? filterReason([this.fileFilter], filename, row.requiresPython) : null;
    if (reason !== null) throw new NotFound(`${reason}.`);
    return row;
  }

  /** Records that the file was served (what `removed report` shows), at most once a minute per file. */
  private accessed(row: RemoteFileRecord): void {
    const key = `${row.sha256}/${row.filename}`;
    const now = Date.now();
    const last = this.accessWritten.get(key) ?? row.lastAccess ?? 0;
    if (now - last < ACCESS_WRITE_INTERVAL_MS) return;
    this.accessWritten.set(key, now);
    this.store.touchFile(this.name, row.sha256, row.filename, now);
  }

  async openFile(sha256: string, filename: string): Promise<FileHandle | null> {
    const row = await this.servable(sha256, filename);
    if (!row) return null;
    this.accessed(row);
    const cached = await this.blobs.stat(sha256);
    if (cached) return blobFileHandle(this.blobs, filename, sha256, cached.size, cached.mtime);
    if (this.config.offline) throw new UpstreamUnavailable(`'${filename}' is not cached in repository '${this.name}', which is offline.`);
    const d = await this.fetcher.join({ url: row.url, filename, sha256, size: row.size });
    const blobs = this.blobs;
    return {
      filename, sha256, size: d.size, lastModified: new Date(),
      open: (range) => {
        if (!range) return d.stream();
        // A range while downloading: served once the whole file is verified.
        return Readable.from((async function* () {
          await d.done;
          yield* blobs.open(sha256, range);
        })());
      },
    };
  }

  openCoreMetadata(sha256: string, filename: string): Promise<FileHandle | null> {
    return this.coreMetadata(sha256, filename, true);
  }

  /** Core metadata of a file of the upstream's page, whatever the files filter says (a wheel cache compares its uploads with it). */
  openUpstreamMetadata(sha256: string, filename: string): Promise<FileHandle | null> {
    return this.coreMetadata(sha256, filename, false);
  }

  private async coreMetadata(sha256: string, filename: string, filtered: boolean): Promise<FileHandle | null> {
    const row = await this.servable(sha256, filename, filtered);
    if (!row?.metadataSha256) return null;
    const metaSha = row.metadataSha256;
    if (!(await this.blobs.stat(metaSha))) {
      if (this.config.offline) throw new UpstreamUnavailable(`the metadata of '${filename}' is not cached in repository '${this.name}', which is offline.`);
      await this.metadataFetches.join(metaSha, () => this.fetchMetadata(row, metaSha));
    }
    const info = (await this.blobs.stat(metaSha))!;
    return blobFileHandle(this.blobs, `${filename}.metadata`, metaSha, info.size, info.mtime);
  }

  /**
   * PEP 658: `<file url>.metadata`, the query string kept after it. Stored
   * byte for byte (pip checks their hash), bounded before anything is kept.
   */
  private fetchMetadata(row: RemoteFileRow, metaSha: string): Promise<void> {
    const u = new URL(row.url);
    u.pathname += '.metadata';
    const events: FetchEvents = {
      // Not a download in the metrics' sense: those count distribution files.
      started: () => undefined,
      rejected: () => this.deps.metrics.rejectedFiles.inc({ repo: this.name }),
      failed: () => this.deps.metrics.failures.inc({ repo: this.name, kind: 'metadata' }),
    };
    return fetchVerified(
      { url: u.href, filename: `${row.filename}.metadata`, sha256: metaSha, size: null },
      { client: this.client, blobs: this.blobs, logger: this.deps.logger, events, needLength: false, maxBytes: MAX_METADATA_BYTES },
    );
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
