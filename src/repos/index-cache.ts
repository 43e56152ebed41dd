/**
 * Freshness of a remote repository's index pages, written once:
 * - within indexTtl (negativeTtl for an upstream 404) the stored answer is used
 *   without asking upstream;
 * - after it, one conditional request (If-None-Match / If-Modified-Since) per
 *   page, however many clients ask at once; a 304 only renews;
 * - when upstream fails (refused, DNS, timeout, 5xx, unparsable), the last good
 *   copy is served and a warning logged (stale-if-error); with nothing stored,
 *   502 (504 on a timeout) naming the upstream;
 * - with a copy stored, a request waits for the revalidation at most
 *   staleTimeout, then gets the copy while the revalidation goes on in the
 *   background (stale-while-revalidate): a hanging upstream never holds pip
 *   for its own timeout. A revalidation that timed out is not retried for
 *   failureBackoff; the copy is served at once meanwhile;
 * - offline: upstream is never asked.
 */
import { text } from 'node:stream/consumers';
import { LRUCache } from 'lru-cache';
import type { RemoteRepoConfig } from '../config/schema.ts';
import { crashPoint } from '../crash-points.ts';
import { NotFound, UpstreamUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { UpstreamMetrics } from '../metrics.ts';
import { SIMPLE_V1_JSON, SIMPLE_V1_HTML, TEXT_HTML } from '../pypi/media-types.ts';
import type { ProjectPage } from '../pypi/pages.ts';
import { onceAcrossProcesses, type Leases } from '../storage/lease.ts';
import type { CachedPage, RemoteCacheStore, RemovalCause } from '../storage/types.ts';
import { UpstreamRequestError, type UpstreamClient, type UpstreamResponse } from '../upstream/client.ts';
import { createProjectListParser } from '../upstream/project-list-parser.ts';
import { parseProjectPage, type UpstreamProjectPage } from '../upstream/project-page-parser.ts';
import { sharedPromises } from '../upstream/single-flight.ts';
import { reconcile } from './removals.ts';

// JSON first (richer: size, upload-time), HTML for indexes that only have that.
const PAGE_ACCEPT = `${SIMPLE_V1_JSON}, ${SIMPLE_V1_HTML};q=0.2, ${TEXT_HTML};q=0.1`;
// The root is tens of MB on pypi.org: both formats parse as a stream (HTML first, as it was
// when only HTML did; neither is much smaller per name).
const ROOT_ACCEPT = `${TEXT_HTML}, ${SIMPLE_V1_HTML};q=0.9, ${SIMPLE_V1_JSON};q=0.5`;
const MAX_PAGE_BYTES = 64 * 1024 * 1024;
/** Root-list names per store write: memory stays a batch, the writes stay few. */
const ROOT_BATCH = 5000;
// Remembered upstream 404s: anyone may ask for random names, so the memory is
// bounded (newest kept) and pruned of expired entries every PRUNE_EVERY saves.
const MAX_MISSING = 10_000;
const PRUNE_EVERY = 64;

/** What the cache asks and tells about files the upstream removed (removals.ts). */
export interface RemovalHooks {
  /** Whether the file's bytes are cached: only those can be kept (keepRemoved). */
  cached(sha256: string): Promise<boolean>;
  /** `count` files of `project` were newly seen removed upstream. */
  noticed(project: string, count: number, cause: RemovalCause): void;
}

const NO_REMOVAL_HOOKS: RemovalHooks = { cached: async () => false, noticed: () => undefined };

/** A project's page as the cache holds it now. */
export interface PageLookup {
  row: CachedPage;
  /** The page, when this lookup fetched it from upstream (a 200): the squatting watch reads those. */
  fetched: ProjectPage | null;
}

export class IndexCache {
  private readonly pages = sharedPromises<string, PageLookup | null>();
  private readonly roots = sharedPromises<string, void>();
  /** When a revalidation last timed out, by key ('root', or 'p:<project>'): bounded, it only ever saves requests. */
  private readonly timedOut = new LRUCache<string, number>({ max: 10_000 });
  private missesSincePrune = 0;

  constructor(
    private readonly repo: string,
    private readonly config: RemoteRepoConfig,
    private readonly client: UpstreamClient,
    private readonly store: RemoteCacheStore,
    private readonly logger: Logger,
    private readonly metrics: UpstreamMetrics,
    private readonly now: () => number = Date.now,
    /** Other processes on the same storage: one revalidation per page across all of them. */
    private readonly leases: Leases | null = null,
    private readonly removals: RemovalHooks = NO_REMOVAL_HOOKS,
  ) {}

  /** The current page of `project`, or null when upstream has no such project. */
  async page(project: string): Promise<PageLookup | null> {
    // The one store read of a fresh page's request.
    const row = await this.store.getPage(this.repo, project);
    if (this.config.offline) {
      if (!row) throw new NotFound(`Project '${project}' is not cached in repository '${this.repo}', which is offline.`);
      return stored(row);
    }
    if (row && this.isFresh(row.checkedAt, row.state === 'ok' ? this.config.indexTtl : this.config.negativeTtl)) {
      return stored(row);
    }
    if (row && this.backingOff(`p:${project}`)) return stored(row);
    // Callers who joined a running refresh share its row; only the one who
    // started it is told of the fetched page, so it is published once. (A
    // leader that stopped waiting does not publish it: the squatting watch's
    // periodic check still sees the page.)
    let leader = false;
    const flight = this.pages.join(project, () => {
      leader = true;
      return this.refreshOnce(project, row);
    });
    const found = row ? await this.orStale(flight, () => stored(row), { project }) : await flight;
    return found && !leader ? { row: found.row, fetched: null } : found;
  }

  private backingOff(key: string): boolean {
    const at = this.timedOut.get(key);
    return at !== undefined && this.now() - at < this.config.failureBackoff * 1000;
  }

  /** The revalidation's answer if it comes within staleTimeout; the stored copy otherwise. */
  private async orStale<T>(flight: Promise<T>, stale: () => T, about: object): Promise<T> {
    const late = Symbol('late');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<typeof late>((resolve) => {
      timer = setTimeout(() => resolve(late), this.config.staleTimeout * 1000);
    });
    try {
      const first = await Promise.race([flight, deadline]);
      if (first !== late) return first;
      this.logger.info({ repo: this.repo, ...about }, 'upstream is slow; serving the cached copy while it revalidates');
      return stale();
    } finally {
      clearTimeout(timer);
    }
  }

  private isFresh(checkedAt: number, ttlSeconds: number): boolean {
    return this.now() - checkedAt < ttlSeconds * 1000;
  }

  private pageUrl(project: string): string {
    return new URL(`${encodeURIComponent(project)}/`, this.client.baseUrl).href;
  }

  /**
   * One revalidation across the processes sharing the storage: when another
   * one answers the row first (its checkedAt moves), its answer is ours.
   */
  private async refreshOnce(project: string, row: CachedPage | null): Promise<PageLookup | null> {
    const answered = async (): Promise<{ found: PageLookup | null } | null> => {
      const now = await this.store.getPage(this.repo, project);
      return now && (row === null || now.checkedAt > row.checkedAt) ? { found: stored(now) } : null;
    };
    const got = await onceAcrossProcesses(this.leases, `page:${this.repo}/${project}`, {
      result: answered,
      work: async () => ({ found: await this.refresh(project, row) }),
    });
    return got.found;
  }

  private async refresh(project: string, row: CachedPage | null): Promise<PageLookup | null> {
    const url = this.pageUrl(project);
    const headers = conditional(PAGE_ACCEPT, row?.state === 'ok' ? row : null);
    let res: UpstreamResponse;
    try {
      res = await this.client.get(url, headers);
    } catch (err) {
      return this.stalePage(project, row, err as UpstreamRequestError);
    }
    this.metrics.requests.inc({ repo: this.repo, kind: 'page', status: String(res.status) });
    const now = this.now();
    if (res.status === 304 && row) {
      res.body.resume();
      await this.store.touchPage(this.repo, project, now);
      return stored({ ...row, checkedAt: now });
    }
    if (res.status === 404 || res.status === 410) {
      res.body.resume();
      const saved = await this.store.savePage(this.repo, project, { state: 'missing', etag: null, lastModified: null, page: null, files: [], removedCause: 'project-deleted' }, now);
      if (saved.removed > 0) this.removals.noticed(project, saved.removed, 'project-deleted');
      if (++this.missesSincePrune >= PRUNE_EVERY) {
        this.missesSincePrune = 0;
        await this.store.pruneMissing(this.repo, now - this.config.negativeTtl * 1000, MAX_MISSING);
      }
      return null;
    }
    if (res.status !== 200) {
      res.body.resume();
      return this.stalePage(project, row, new UpstreamRequestError(`upstream ${url} answered ${res.status}`, false));
    }
    let parsed: UpstreamProjectPage;
    try {
      const length = Number(res.headers['content-length']);
      if (length > MAX_PAGE_BYTES) throw new Error(`page is ${length} bytes, more than ${MAX_PAGE_BYTES}`);
      const body = await text(res.body);
      parsed = parseProjectPage(body, header(res, 'content-type') ?? '', url);
    } catch (err) {
      return this.stalePage(project, row, new UpstreamRequestError(`upstream ${url} sent a page pydepot cannot read: ${(err as Error).message}`, false));
    }
    // Upstream removals win: what the stored page listed and this one does not stops being served.
    const oldBody = row?.state === 'ok' ? await this.store.getPageBody(this.repo, project) : null;
    const readMetadata = await this.wheelMetadataOf(parsed);
    const { served: { page, files, unverifiable }, stored: toStore, cause, statusKept } = await reconcile(project, parsed, oldBody, {
      cached: this.removals.cached,
      readMetadata: (sha256, filename) => readMetadata.get(`${sha256}/${filename}`) ?? null,
    }, now);
    if (statusKept !== null) this.logger.warn({ repo: this.repo, project, reason: statusKept, status: page.status?.status ?? null }, 'upstream sent a project status pydepot cannot read; keeping the last known one');
    if (unverifiable > 0) this.logger.warn({ repo: this.repo, project, files: unverifiable }, 'upstream files without a sha256 are not served');
    // Crash-matrix step (test-only, see crash-points.ts): the page and its file
    // rows are saved in one transaction, so a crash here keeps the old copy.
    crashPoint('page:fetched-not-saved');
    const saved = await this.store.savePage(this.repo, project, {
      state: 'ok', etag: header(res, 'etag'), lastModified: header(res, 'last-modified'), page: JSON.stringify(toStore), files, removedCause: cause,
    }, now);
    if (saved.removed > 0) this.removals.noticed(project, saved.removed, cause);
    return { row: saved, fetched: page };
  }

  /**
   * The METADATA pydepot read out of the page's wheels that the upstream
   * gives no core metadata for (servedPage reads it synchronously): read
   * before, all at once, by `<sha256>/<filename>`.
   */
  private async wheelMetadataOf(parsed: UpstreamProjectPage): Promise<Map<string, string>> {
    const wanted = parsed.files.filter((f) => f.filename.endsWith('.whl') && f.hashes.sha256
      && !(typeof f.coreMetadata === 'object' && f.coreMetadata.sha256));
    const found = new Map<string, string>();
    await Promise.all(wanted.map(async (f) => {
      const sha256 = f.hashes.sha256!;
      const m = (await this.store.getWheelMetadata(sha256, f.filename))?.metadataSha256;
      if (m) found.set(`${sha256}/${f.filename}`, m);
    }));
    return found;
  }

  private stalePage(project: string, row: CachedPage | null, err: UpstreamRequestError): PageLookup | null {
    return stored(this.staleOr(`p:${project}`, row, err, { project }, `project '${project}' is not cached in repository '${this.repo}'`));
  }

  /**
   * stale-if-error, written once: the last good answer is served with a
   * warning; with none stored, 502 (504 on a timeout) naming what is missing.
   */
  private staleOr<T>(key: string, kept: T | null, err: UpstreamRequestError, about: object, missing: string): T {
    const kind = key === 'root' ? 'root' : 'page';
    this.metrics.failures.inc({ repo: this.repo, kind });
    if (err.timedOut && kept !== null) this.timedOut.set(key, this.now());
    if (kept !== null) {
      this.logger.warn({ repo: this.repo, ...about, reason: err.message }, `upstream failed; serving the cached ${kind === 'page' ? 'page' : 'project list'}`);
      return kept;
    }
    this.logger.warn({ repo: this.repo, ...about, reason: err.message }, 'upstream failed and nothing is cached');
    throw new UpstreamUnavailable(`${err.message}; ${missing}`, err.timedOut);
  }

  /** Brings the stored project list up to date (same freshness rules). Returns its serial. */
  async rootSerial(): Promise<number> {
    const row = await this.store.getRoot(this.repo);
    if (this.config.offline || (row && this.isFresh(row.checkedAt, this.config.indexTtl))) return row?.serial ?? 0;
    if (row && this.backingOff('root')) return row.serial;
    const flight = this.roots.join('root', () => onceAcrossProcesses(this.leases, `root:${this.repo}`, {
      // Answered by another process meanwhile: its checkedAt moved.
      result: async () => (((await this.store.getRoot(this.repo))?.checkedAt ?? -1) > (row?.checkedAt ?? -1) ? true : null),
      work: () => this.refreshRoot().then(() => true),
    }).then(() => undefined));
    if (row) await this.orStale(flight, () => undefined, {});
    else await flight;
    return (await this.store.getRoot(this.repo))?.serial ?? 0;
  }

  private async refreshRoot(): Promise<void> {
    const row = await this.store.getRoot(this.repo);
    const headers = conditional(ROOT_ACCEPT, row);
    const url = this.client.baseUrl;
    try {
      const res = await this.client.get(url, headers);
      this.metrics.requests.inc({ repo: this.repo, kind: 'root', status: String(res.status) });
      if (res.status === 304 && row) {
        res.body.resume();
        await this.store.touchRoot(this.repo, this.now());
        return;
      }
      if (res.status !== 200) {
        res.body.resume();
        throw new UpstreamRequestError(`upstream ${url} answered ${res.status}`, false);
      }
      // Streamed through the parser into the store, a batch at a time: the
      // list is never held whole (pypi.org's has 700,000 names). A body cut
      // short or unreadable throws out of the batches: the store keeps the
      // previous list.
      const parser = createProjectListParser(header(res, 'content-type') ?? '');
      const body = res.body;
      body.setEncoding('utf8');
      const batches = async function* (): AsyncGenerator<string[]> {
        for await (const chunk of body) {
          parser.write(chunk as string);
          if (parser.pending >= ROOT_BATCH) yield parser.take();
        }
        yield parser.end();
      };
      await this.store.saveRoot(this.repo, batches(), header(res, 'etag'), header(res, 'last-modified'), this.now());
    } catch (err) {
      const e = err instanceof UpstreamRequestError ? err : new UpstreamRequestError(`upstream ${url}: ${(err as Error).message}`, false);
      this.staleOr('root', row, e, {}, `the project list of repository '${this.repo}' is not cached`);
    }
  }
}

/** A stored row as a lookup's answer: an upstream 404 is remembered as 'missing'. */
function stored(row: CachedPage): PageLookup | null {
  return row.state === 'ok' ? { row, fetched: null } : null;
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
