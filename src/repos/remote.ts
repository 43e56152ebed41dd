/**
 * A proxy-cache of an upstream index. Pages come through the IndexCache
 * (freshness rules) and are served like local ones, with links to pydepot's
 * own file URLs — never to the upstream, which air-gapped clients cannot
 * reach and which would skip verification. Files are fetched once, verified,
 * and kept in the shared blob store.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RemoteRepoConfig } from '../config/schema.ts';
import { UpstreamUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { UpstreamMetrics } from '../metrics.ts';
import { parseDistFilename } from '../pypi/filenames.ts';
import { sortVersions } from '../pypi/versions.ts';
import type { BlobStore, FileRow, RemoteCacheStore, RemoteFileRow } from '../storage/types.ts';
import { UpstreamClient } from '../upstream/client.ts';
import { FileFetcher } from '../upstream/fetch-file.ts';
import type { UpstreamProjectPage } from '../upstream/project-page-parser.ts';
import { SingleFlight } from '../upstream/single-flight.ts';
import { blobFileHandle } from './file-handles.ts';
import { IndexCache } from './index-cache.ts';
import { filePath, type FileHandle, type IndexFile, type ProjectPage, type ProjectSummary, type Repository } from './types.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_METADATA_BYTES = 10 * 1024 * 1024;

export class RemoteRepository implements Repository {
  readonly kind = 'remote' as const;
  readonly indexMaxAge: number;
  readonly client: UpstreamClient;
  private readonly index: IndexCache;
  private readonly fetcher: FileFetcher;
  private readonly metadataFetches = new SingleFlight<string, void>();
  private readonly pageListeners: ((page: ProjectPage) => void)[] = [];

  constructor(
    readonly name: string,
    private readonly config: RemoteRepoConfig,
    private readonly blobs: BlobStore,
    private readonly store: RemoteCacheStore,
    private readonly logger: Logger,
    private readonly metrics: UpstreamMetrics,
  ) {
    this.indexMaxAge = config.indexMaxAge;
    this.client = new UpstreamClient({ url: config.url, timeoutSeconds: config.timeout, username: config.username, password: config.password });
    this.index = new IndexCache(name, config, this.client, store, (p, page) => this.convert(p, page), logger, metrics);
    this.fetcher = new FileFetcher(this.client, blobs, logger, {
      started: () => metrics.downloads.inc({ repo: name }),
      rejected: () => metrics.rejectedFiles.inc({ repo: name }),
    });
  }

  /** Upstream page → the page pydepot serves, and the file URL map. */
  private convert(project: string, up: UpstreamProjectPage): { page: string; files: RemoteFileRow[] } {
    const files: IndexFile[] = [];
    const rows: RemoteFileRow[] = [];
    const versions: string[] = [];
    let unverifiable = 0;
    for (const f of up.files) {
      const sha256 = f.hashes.sha256;
      // Every byte served is verified: a file without a sha256 cannot be.
      if (!sha256 || !SHA256_HEX.test(sha256)) {
        unverifiable++;
        continue;
      }
      const metadataSha256 = typeof f.coreMetadata === 'object' && f.coreMetadata.sha256 && SHA256_HEX.test(f.coreMetadata.sha256) ? f.coreMetadata.sha256 : null;
      files.push({
        filename: f.filename, path: filePath(sha256, f.filename), sha256, size: f.size ?? 0,
        requiresPython: f.requiresPython, uploadTime: f.uploadTime, yanked: f.yanked, metadataSha256,
      });
      rows.push({ sha256, filename: f.filename, project, url: f.url, size: f.size, metadataSha256 });
      try {
        versions.push(parseDistFilename(f.filename).version);
      } catch {
        // The parser already dropped what is not a wheel or sdist.
      }
    }
    if (unverifiable > 0) this.logger.warn({ repo: this.name, project, files: unverifiable }, 'upstream files without a sha256 are not served');
    const page: ProjectPage = {
      name: project,
      displayName: up.name ?? project,
      files,
      versions: sortVersions(up.versions ?? versions),
      status: up.projectStatus,
    };
    for (const listener of this.pageListeners) {
      // A watcher's failure must not cost the client its page.
      try {
        listener(page);
      } catch (err) {
        this.logger.error({ repo: this.name, project, err: (err as Error).message }, 'upstream page watcher failed');
      }
    }
    return { page: JSON.stringify(page), files: rows };
  }

  /** Called with every page fetched from upstream (the dependency-confusion watch reads them). */
  onUpstreamPage(listener: (page: ProjectPage) => void): void {
    this.pageListeners.push(listener);
  }

  /** The stored page, without asking upstream whatever its age. */
  cachedPage(project: string): ProjectPage | null {
    const body = this.store.getPageBody(this.name, project);
    return body ? (JSON.parse(body) as ProjectPage) : null;
  }

  async projectVersion(project: string): Promise<string | null> {
    const row = await this.index.page(project);
    return row ? `${row.serial}` : null;
  }

  async projectPage(project: string): Promise<ProjectPage | null> {
    // Callers ask projectVersion first, which has just brought the row up to
    // date: asking upstream again would double every revalidation.
    if (!this.store.getPage(this.name, project)) await this.index.page(project);
    return this.cachedPage(project);
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

  /** The project whose cached page lists this exact file, or null. */
  fileProject(sha256: string, filename: string): string | null {
    return this.store.getFile(this.name, sha256, filename)?.project ?? null;
  }

  async openFile(sha256: string, filename: string): Promise<FileHandle | null> {
    const row = this.store.getFile(this.name, sha256, filename);
    if (!row) return null;
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

  async openCoreMetadata(sha256: string, filename: string): Promise<FileHandle | null> {
    const row = this.store.getFile(this.name, sha256, filename);
    if (!row?.metadataSha256) return null;
    const metaSha = row.metadataSha256;
    if (!(await this.blobs.stat(metaSha))) {
      if (this.config.offline) throw new UpstreamUnavailable(`the metadata of '${filename}' is not cached in repository '${this.name}', which is offline.`);
      await this.metadataFetches.run(metaSha, () => this.fetchMetadata(row, metaSha));
    }
    const info = (await this.blobs.stat(metaSha))!;
    return blobFileHandle(this.blobs, `${filename}.metadata`, metaSha, info.size, info.mtime);
  }

  /** PEP 658: `<file url>.metadata`, the query string kept after it. */
  private async fetchMetadata(row: RemoteFileRow, metaSha: string): Promise<void> {
    const u = new URL(row.url);
    u.pathname += '.metadata';
    const res = await this.client.get(u.href, { 'accept-encoding': 'identity' }).catch((err: Error) => {
      throw new UpstreamUnavailable(`${err.message}; the metadata of '${row.filename}' is not cached`);
    });
    if (res.status !== 200) {
      res.body.resume();
      throw new UpstreamUnavailable(`upstream answered ${res.status} for ${row.filename}.metadata`);
    }
    // Straight into a temp blob: the bytes stay exact (pip checks their hash),
    // and the size bound holds before anything is kept in memory.
    const w = this.blobs.createTemp({ maxBytes: MAX_METADATA_BYTES });
    try {
      await pipeline(res.body, w.stream);
    } catch (err) {
      await w.abort();
      throw new UpstreamUnavailable(`upstream metadata of ${row.filename} could not be read: ${(err as Error).message}`);
    }
    const temp = await w.finished();
    if (temp.sha256 !== metaSha) {
      await this.blobs.discard(temp);
      this.metrics.rejectedFiles.inc({ repo: this.name });
      this.logger.error({ repo: this.name, filename: row.filename }, 'upstream metadata rejected: sha256 mismatch');
      throw new UpstreamUnavailable(`Upstream file rejected: ${row.filename}.metadata has sha256 ${temp.sha256}, the index declared ${metaSha}`);
    }
    await this.blobs.commit(temp);
  }

  async projectFiles(): Promise<FileRow[]> {
    return [];
  }

  async fileMetadataJson(): Promise<string | null> {
    return null;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
