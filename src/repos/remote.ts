/**
 * A proxy-cache of an upstream index. Pages come through the IndexCache
 * (freshness rules) and are served like local ones, with links to pydepot's
 * own file URLs (remote-page.ts). Files and their core metadata are fetched
 * once, verified, and kept in the shared blob store; what the upstream
 * removed stops being served (removals.ts), and a `files` filter keeps what
 * the cluster cannot use off pages (file-filters.ts); with `maxCacheSize`,
 * the least recently used files are evicted (cached-files.ts). Wheels the
 * upstream gives no core metadata for get it read out of the wheel
 * (wheel-metadata.ts).
 */
import { Readable } from 'node:stream';
import type { RemoteRepoConfig } from '../config/schema.ts';
import { Gone, NotFound, UpstreamUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CacheMetrics, CooldownMetrics, UpstreamMetrics } from '../metrics.ts';
import type { IndexFile, ProjectPage, ProjectSummary } from '../pypi/pages.ts';
import { onceAcrossProcesses, type Leases } from '../storage/lease.ts';
import type { BlobStore, RemoteCacheStore, RemoteFileRecord, RemoteFileRow } from '../storage/types.ts';
import { UpstreamClient } from '../upstream/client.ts';
import { fetchVerified, FileFetcher, type FetchEvents } from '../upstream/fetch-file.ts';
import { sharedPromises } from '../upstream/single-flight.ts';
import type { Clock } from '../time.ts';
import type { BlobPins } from './blob-pins.ts';
import { CachedFiles } from './cached-files.ts';
import type { RepositoryEvents } from './events.ts';
import type { ExemptionList } from './exemptions.ts';
import { blobFileHandle } from './file-handles.ts';
import { filterPage, filterReason, namedFilter, type NamedFilter } from './file-filters.ts';
import { IndexCache, type PageLookup } from './index-cache.ts';
import { RemoteCooldown } from './remote-cooldown.ts';
import { goneReason, servesRemoved, visiblePage, type StoredPage } from './removals.ts';
import type { FileHandle, PageView, UpstreamRepository } from './types.ts';
import { WheelMetadataExtractor } from './wheel-metadata.ts';

const MAX_METADATA_BYTES = 10 * 1024 * 1024;

export interface RemoteDeps {
  blobs: BlobStore;
  store: RemoteCacheStore;
  logger: Logger;
  metrics: UpstreamMetrics;
  events: RepositoryEvents;
  clock: Clock;
  exemptions: ExemptionList;
  cooldownMetrics: CooldownMetrics;
  /** Shared by every repository of the process: blobs are. */
  pins: BlobPins;
  cacheMetrics: CacheMetrics;
  processId: string;
  /** Other processes on the same storage (workers): one upstream download and revalidation across them. */
  leases?: Leases | null;
}

export class RemoteRepository implements UpstreamRepository {
  readonly kind = 'remote' as const;
  readonly indexMaxAge: number;
  readonly fileFilter: NamedFilter | null;
  private readonly client: UpstreamClient;
  private readonly index: IndexCache;
  private readonly fetcher: FileFetcher;
  private readonly metadataFetches = sharedPromises<string, void>();
  private readonly blobs: BlobStore;
  private readonly store: RemoteCacheStore;
  private readonly cooldown: RemoteCooldown;
  /** Core metadata read out of wheels the upstream gives none for. */
  readonly wheelMetadata: WheelMetadataExtractor;
  /** The files it holds, their use and the size limit. */
  readonly cachedFiles: CachedFiles;

  constructor(readonly name: string, private readonly config: RemoteRepoConfig, private readonly deps: RemoteDeps) {
    this.indexMaxAge = config.indexMaxAge;
    this.blobs = deps.blobs;
    this.store = deps.store;
    this.client = new UpstreamClient({ url: config.url, timeoutSeconds: config.timeout, username: config.username, password: config.password });
    this.fileFilter = namedFilter(name, config.files);
    this.index = new IndexCache(name, config, this.client, deps.store, deps.logger, deps.metrics, deps.clock, deps.leases ?? null, {
      cached: async (sha256) => (await deps.blobs.stat(sha256)) !== null,
      noticed: (project, count, cause) => {
        deps.metrics.removals.inc({ repo: name, cause }, count);
        deps.logger.warn({ repo: name, project, files: count, cause, keepRemoved: config.keepRemoved },
          cause === 'quarantined' ? 'upstream quarantined the project; its files are no longer served'
            : config.keepRemoved && cause === 'deleted' ? 'upstream removed files; the cached ones are still served (keepRemoved)'
              : 'upstream removed files; they are no longer served');
      },
    });
    this.cachedFiles = new CachedFiles(name, config.maxCacheSize, {
      blobs: deps.blobs, store: deps.store, pins: deps.pins, logger: deps.logger, metrics: deps.cacheMetrics, processId: deps.processId,
    });
    this.cooldown = new RemoteCooldown(name, config.cooldown, {
      store: deps.store, exemptions: deps.exemptions, clock: deps.clock, metrics: deps.cooldownMetrics, logger: deps.logger,
    });
    this.fetcher = new FileFetcher({
      client: this.client, blobs: deps.blobs, logger: deps.logger, leases: deps.leases ?? null,
      events: {
        started: () => deps.metrics.downloads.inc({ repo: name }),
        rejected: () => deps.metrics.rejectedFiles.inc({ repo: name }),
        failed: () => deps.metrics.failures.inc({ repo: name, kind: 'file' }),
      },
    });
    this.wheelMetadata = new WheelMetadataExtractor({
      repo: name, client: this.client, blobs: deps.blobs, store: deps.store, fetcher: this.fetcher,
      logger: deps.logger, metrics: deps.metrics, offline: config.offline, releases: config.metadataReleases,
      extracted: (row, metadataSha256) => this.advertiseMetadata(row.project, row.sha256, row.filename, metadataSha256),
    });
  }

  /** Every page lookup goes through here, so each page fetched from upstream is published once. */
  private async lookup(project: string): Promise<PageLookup | null> {
    const found = await this.index.page(project);
    if (found?.fetched) {
      this.deps.events.upstreamPage.emit({ remote: this.name, page: found.fetched });
      this.wheelMetadata.pageFetched(found.fetched);
    }
    return found;
  }

  /** The stored page, without asking upstream whatever its age: the upstream's files, as last seen. */
  async cachedPage(project: string): Promise<ProjectPage | null> {
    const body = await this.store.getPageBody(this.name, project);
    return body ? visiblePage(JSON.parse(body) as StoredPage, false) : null;
  }

  /**
   * With a cooldown, the token also says which files are listed now, so it
   * changes when one leaves its cooldown or an exemption starts or ends. A
   * project whose every file is in its cooldown is not listed at all.
   */
  async projectVersion(project: string, via?: PageView): Promise<string | null> {
    const found = await this.lookup(project);
    if (!found) return null;
    const view = this.cooldown.view(via);
    if (!view) return `${found.row.serial}`;
    const v = await this.cooldown.judge(project, found.row.serial, view);
    if (v.visible === 0 && v.hidden > 0) return null;
    return `${found.row.serial}/${v.key}`;
  }

  /**
   * The upstream's page as this remote serves it before its files filter:
   * removals applied (keepRemoved), then the cooldown. What a wheel cache
   * judges its wheels against, and what a virtual repository merges them
   * into before filtering.
   */
  async upstreamPage(project: string, via?: PageView): Promise<ProjectPage | null> {
    // Callers ask projectVersion first, which has just brought the row up to
    // date: asking upstream again would double every revalidation.
    // One read for the serial and the body, so the cooldown judges the body by its own serial.
    let row = await this.store.getPageWithBody(this.name, project);
    if (!row) {
      await this.lookup(project);
      row = await this.store.getPageWithBody(this.name, project);
    }
    const page = row?.body ? visiblePage(JSON.parse(row.body) as StoredPage, this.config.keepRemoved) : null;
    const view = this.cooldown.view(via);
    if (!page || !row || !view) return page;
    return this.cooldown.filter(project, row.serial, page, view);
  }

  async projectPage(project: string, via?: PageView): Promise<ProjectPage | null> {
    const page = await this.upstreamPage(project, via);
    const filter = this.fileFilter;
    return page && filter ? filterPage(page, (f) => filterReason([filter], f.filename, f.requiresPython) === null) : page;
  }

  async pageLifetime(project: string, via?: PageView): Promise<number | null> {
    const view = this.cooldown.view(via);
    if (!view) return null;
    const row = await this.store.getPage(this.name, project);
    if (row?.state !== 'ok') return null;
    const { changesAt } = await this.cooldown.judge(project, row.serial, view);
    return changesAt === null ? null : Math.max(0, Math.floor((changesAt - this.deps.clock()) / 1000));
  }

  /** Files held back by the cooldown right now, by serving repository (for the metrics). */
  cooldownHidden(): Promise<Map<string, number>> {
    return this.cooldown.hiddenNow();
  }

  async listVersion(): Promise<string> {
    return String(await this.index.rootSerial());
  }

  async *listProjects(): AsyncIterable<ProjectSummary[]> {
    await this.index.rootSerial();
    let after = '';
    for (;;) {
      const names = await this.store.rootNames(this.name, after, 5000);
      if (names.length === 0) return;
      yield names.map((n) => ({ name: n, displayName: n }));
      after = names.at(-1)!;
    }
  }

  /** An upstream cache hosts nothing: its names never become internal. */
  async hostsProject(): Promise<boolean> {
    return false;
  }

  async fileProject(sha256: string, filename: string): Promise<string | null> {
    return (await this.store.getFile(this.name, sha256, filename))?.project ?? null;
  }

  async requiresPythonOf(sha256: string, filename: string): Promise<string | null> {
    return (await this.store.getFile(this.name, sha256, filename))?.requiresPython ?? null;
  }

  /**
   * The file's row when this remote serves it: 410 when the upstream removed
   * it (unless kept), 404 naming the filter that drops it (when `filtered`),
   * null when no page of this remote ever listed it.
   */
  private async servable(sha256: string, filename: string, filtered = true): Promise<RemoteFileRecord | null> {
    const row = await this.store.getFile(this.name, sha256, filename);
    if (!row) return null;
    if (row.removedAt !== null && !servesRemoved(row, this.config.keepRemoved, (await this.blobs.stat(sha256)) !== null)) {
      this.deps.metrics.removedRefused.inc({ repo: this.name });
      throw new Gone(goneReason({ ...row, removedAt: row.removedAt }, new URL(`${encodeURIComponent(row.project)}/`, this.config.url).href));
    }
    const reason = filtered && this.fileFilter ? filterReason([this.fileFilter], filename, row.requiresPython) : null;
    if (reason !== null) throw new NotFound(`${reason}.`);
    return row;
  }

  /**
   * Files in their cooldown are served too: the cooldown keeps them off
   * pages, and a lock file that names one by URL still installs. Files the
   * upstream removed are not (410), nor files the files filter drops (404).
   */
  async openFile(sha256: string, filename: string): Promise<FileHandle | null> {
    const row = await this.servable(sha256, filename);
    if (!row) return null;
    // Held from before the lookup until its last reader is done: never evicted meanwhile.
    const hold = await this.cachedFiles.hold(sha256);
    try {
      const cached = await this.blobs.stat(sha256);
      // Last-Modified: the upstream's upload-time where it gave one (uv may read
      // it as one), never a time of pydepot's making when a true one exists.
      const uploaded = row.uploadTime === null ? NaN : Date.parse(row.uploadTime);
      // Removed after the lookup (another process's eviction; this one's waits for the hold): looked up again, so fetched again.
      const reopen = (): Promise<FileHandle | null> => this.openFile(sha256, filename);
      if (cached) return hold.serve({ ...blobFileHandle(this.blobs, filename, sha256, cached.size, Number.isNaN(uploaded) ? cached.mtime : new Date(uploaded)), source: 'cache', reopen }, 'hit');
      if (this.config.offline) throw new UpstreamUnavailable(`'${filename}' is not cached in repository '${this.name}', which is offline.`);
      const d = await this.fetcher.join({ url: row.url, filename, sha256, size: row.size });
      d.done.then(
        () => this.cachedFiles.filled(sha256, d.size).catch((err: unknown) => this.deps.logger.error({ repo: this.name, sha256, err }, 'could not record a cached file')),
        () => undefined,
      );
      if (row.metadataSha256 === null) d.done.then(() => this.wheelMetadata.downloaded(row), () => undefined);
      const blobs = this.blobs;
      return hold.serve({
        filename, sha256, size: d.size, lastModified: Number.isNaN(uploaded) ? new Date() : new Date(uploaded), source: 'upstream',
        open: (range) => {
          if (!range) return d.stream();
          // A range while downloading: served once the whole file is verified.
          return Readable.from((async function* () {
            await d.done;
            yield* blobs.open(sha256, range);
          })());
        },
        // Offloaded only once fetched and verified: the proxy sends the committed blob.
        offload: async () => {
          await d.done;
          return blobs.offloadKey(sha256);
        },
        // Joined once committed, the download is the blob, which may go the same way.
        reopen,
      }, 'miss');
    } catch (err) {
      hold.release();
      throw err;
    }
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
    if (!row) return null;
    const read = (await this.store.getWheelMetadata(sha256, filename))?.metadataSha256 ?? null;
    if (!row.metadataSha256 || row.metadataSha256 === read) {
      // None from the upstream: read out of the wheel, now if need be (the
      // wheelhouse resolver, or a client asking before the page says so).
      const got = await this.wheelMetadata.extract(row, { whole: true });
      if (!got.ok) return null;
      const info = await this.blobs.stat(got.metadataSha256);
      return info ? blobFileHandle(this.blobs, `${filename}.metadata`, got.metadataSha256, info.size, info.mtime) : null;
    }
    const metaSha = row.metadataSha256;
    if (!(await this.blobs.stat(metaSha))) {
      if (this.config.offline) throw new UpstreamUnavailable(`the metadata of '${filename}' is not cached in repository '${this.name}', which is offline.`);
      await this.metadataFetches.join(metaSha, () => onceAcrossProcesses(this.deps.leases, `file:${metaSha}`, {
        result: async () => ((await this.blobs.stat(metaSha)) ? true : null),
        work: () => this.fetchMetadata(row, metaSha).then(() => true),
      }).then(() => undefined));
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

  /** The page lists the file with the metadata now stored for it (its serial, hence its ETag, changes). */
  private async advertiseMetadata(project: string, sha256: string, filename: string, metadataSha256: string): Promise<void> {
    // The common case, on every `.metadata` request: the page says so already.
    if ((await this.store.getFile(this.name, sha256, filename))?.metadataSha256 === metadataSha256) return;
    // The new body is made from the stored one: written only if no newer page
    // was saved meanwhile, else made again from that one.
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = await this.store.getPageWithBody(this.name, project);
      if (!row?.body) return;
      const page = JSON.parse(row.body) as ProjectPage;
      const file = page.files.find((f: IndexFile) => f.sha256 === sha256 && f.filename === filename);
      if (!file || file.metadataSha256 !== null) return;
      file.metadataSha256 = metadataSha256;
      if (await this.store.updatePageMetadata(this.name, project, row.serial, JSON.stringify(page), { sha256, filename, metadataSha256 })) return;
    }
  }

  async close(): Promise<void> {
    await this.wheelMetadata.close();
    await this.cachedFiles.close();
    await this.client.close();
  }
}
