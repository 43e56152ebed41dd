/**
 * Freshness of a remote repository's index pages, written once:
 * - within indexTtl (negativeTtl for an upstream 404) the stored answer is used
 *   without asking upstream;
 * - after it, one conditional request (If-None-Match / If-Modified-Since) per
 *   page, however many clients ask at once; a 304 only renews;
 * - when upstream fails (refused, DNS, timeout, 5xx, unparsable), the last good
 *   copy is served and a warning logged (stale-if-error); with nothing stored,
 *   502 (504 on a timeout) naming the upstream;
 * - offline: upstream is never asked.
 */
import { text } from 'node:stream/consumers';
import type { RemoteRepoConfig } from '../config/schema.ts';
import { NotFound, UpstreamUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { UpstreamMetrics } from '../metrics.ts';
import { SIMPLE_V1_JSON, SIMPLE_V1_HTML, TEXT_HTML } from '../pypi/media-types.ts';
import type { CachedPage, RemoteCacheStore, RemoteFileRow } from '../storage/types.ts';
import { UpstreamRequestError, type UpstreamClient, type UpstreamResponse } from '../upstream/client.ts';
import { createProjectListParser } from '../upstream/project-list-parser.ts';
import { parseProjectPage, type UpstreamProjectPage } from '../upstream/project-page-parser.ts';
import { SingleFlight } from '../upstream/single-flight.ts';

// JSON first (richer: size, upload-time), HTML for indexes that only have that.
const PAGE_ACCEPT = `${SIMPLE_V1_JSON}, ${SIMPLE_V1_HTML};q=0.2, ${TEXT_HTML};q=0.1`;
// The root is tens of MB on pypi.org: HTML parses as a stream.
const ROOT_ACCEPT = `${TEXT_HTML}, ${SIMPLE_V1_HTML};q=0.9, ${SIMPLE_V1_JSON};q=0.5`;
const MAX_PAGE_BYTES = 64 * 1024 * 1024;

/** What the repository turns an upstream page into before it is stored. */
export type PageConverter = (project: string, page: UpstreamProjectPage) => { page: string; files: RemoteFileRow[] };

export class IndexCache {
  private readonly pages = new SingleFlight<string, CachedPage | null>();
  private readonly roots = new SingleFlight<string, void>();

  constructor(
    private readonly repo: string,
    private readonly config: RemoteRepoConfig,
    private readonly client: UpstreamClient,
    private readonly store: RemoteCacheStore,
    private readonly convert: PageConverter,
    private readonly logger: Logger,
    private readonly metrics: UpstreamMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  /** The current page of `project`, or null when upstream has no such project. */
  async page(project: string): Promise<CachedPage | null> {
    const row = this.store.getPage(this.repo, project);
    if (this.config.offline) {
      if (!row) throw new NotFound(`Project '${project}' is not cached in repository '${this.repo}', which is offline.`);
      return row.state === 'ok' ? row : null;
    }
    if (row && this.isFresh(row.checkedAt, row.state === 'ok' ? this.config.indexTtl : this.config.negativeTtl)) {
      return row.state === 'ok' ? row : null;
    }
    return this.pages.run(project, () => this.refresh(project, row));
  }

  private isFresh(checkedAt: number, ttlSeconds: number): boolean {
    return this.now() - checkedAt < ttlSeconds * 1000;
  }

  private pageUrl(project: string): string {
    return new URL(`${encodeURIComponent(project)}/`, this.client.baseUrl).href;
  }

  private async refresh(project: string, row: CachedPage | null): Promise<CachedPage | null> {
    const url = this.pageUrl(project);
    const headers = conditional(PAGE_ACCEPT, row?.state === 'ok' ? row : null);
    let res: UpstreamResponse;
    try {
      res = await this.client.get(url, headers);
    } catch (err) {
      return this.stale(project, row, err as UpstreamRequestError);
    }
    this.metrics.requests.inc({ repo: this.repo, kind: 'page', status: String(res.status) });
    const now = this.now();
    if (res.status === 304 && row) {
      res.body.resume();
      this.store.touchPage(this.repo, project, now);
      return { ...row, checkedAt: now };
    }
    if (res.status === 404 || res.status === 410) {
      res.body.resume();
      this.store.savePage(this.repo, project, { state: 'missing', etag: null, lastModified: null, page: null, files: [] }, now);
      return null;
    }
    if (res.status !== 200) {
      res.body.resume();
      return this.stale(project, row, new UpstreamRequestError(`upstream ${url} answered ${res.status}`, false));
    }
    let parsed: UpstreamProjectPage;
    try {
      const length = Number(res.headers['content-length']);
      if (length > MAX_PAGE_BYTES) throw new Error(`page is ${length} bytes, more than ${MAX_PAGE_BYTES}`);
      const body = await text(res.body);
      parsed = parseProjectPage(body, header(res, 'content-type') ?? '', url);
    } catch (err) {
      return this.stale(project, row, new UpstreamRequestError(`upstream ${url} sent a page pydepot cannot read: ${(err as Error).message}`, false));
    }
    const { page, files } = this.convert(project, parsed);
    return this.store.savePage(this.repo, project, {
      state: 'ok', etag: header(res, 'etag'), lastModified: header(res, 'last-modified'), page, files,
    }, now);
  }

  private stale(project: string, row: CachedPage | null, err: UpstreamRequestError): CachedPage | null {
    this.metrics.failures.inc({ repo: this.repo, kind: 'page' });
    if (row) {
      this.logger.warn({ repo: this.repo, project, reason: err.message }, 'upstream failed; serving the cached page');
      return row.state === 'ok' ? row : null;
    }
    this.logger.warn({ repo: this.repo, project, reason: err.message }, 'upstream failed and nothing is cached');
    throw new UpstreamUnavailable(`${err.message}; project '${project}' is not cached in repository '${this.repo}'`, err.timedOut);
  }

  /** Brings the stored project list up to date (same freshness rules). Returns its serial. */
  async rootSerial(): Promise<number> {
    const row = this.store.getRoot(this.repo);
    if (this.config.offline || (row && this.isFresh(row.checkedAt, this.config.indexTtl))) return row?.serial ?? 0;
    await this.roots.run('root', () => this.refreshRoot());
    return this.store.getRoot(this.repo)?.serial ?? 0;
  }

  private async refreshRoot(): Promise<void> {
    const row = this.store.getRoot(this.repo);
    const headers = conditional(ROOT_ACCEPT, row);
    const url = this.client.baseUrl;
    try {
      const res = await this.client.get(url, headers);
      this.metrics.requests.inc({ repo: this.repo, kind: 'root', status: String(res.status) });
      if (res.status === 304 && row) {
        res.body.resume();
        this.store.touchRoot(this.repo, this.now());
        return;
      }
      if (res.status !== 200) {
        res.body.resume();
        throw new UpstreamRequestError(`upstream ${url} answered ${res.status}`, false);
      }
      // Streamed through the parser: only the names are kept.
      const parser = createProjectListParser(header(res, 'content-type') ?? '');
      res.body.setEncoding('utf8');
      for await (const chunk of res.body) parser.write(chunk as string);
      this.store.saveRoot(this.repo, parser.end(), header(res, 'etag'), header(res, 'last-modified'), this.now());
    } catch (err) {
      const e = err instanceof UpstreamRequestError ? err : new UpstreamRequestError(`upstream ${url}: ${(err as Error).message}`, false);
      this.metrics.failures.inc({ repo: this.repo, kind: 'root' });
      if (row) {
        this.logger.warn({ repo: this.repo, reason: e.message }, 'upstream failed; serving the cached project list');
        return;
      }
      throw new UpstreamUnavailable(`${e.message}; the project list of repository '${this.repo}' is not cached`, e.timedOut);
    }
  }
}

/** Request headers that let the upstream answer 304 for what is stored. */
function conditional(accept: string, stored: { etag: string | null; lastModified: string | null } | null): Record<string, string> {
  const headers: Record<string, string> = { accept };
  if (stored?.etag) headers['if-none-match'] = stored.etag;
  if (stored?.lastModified) headers['if-modified-since'] = stored.lastModified;
  return headers;
}

function header(res: UpstreamResponse, name: string): string | null {
  const v = res.headers[name];
  return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
}
