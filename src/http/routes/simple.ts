/**
 * GET <repo>/simple/ and <repo>/simple/<project>/ (PEP 503 HTML, PEP 691
 * JSON). Non-canonical URLs get a relative 301 (canonical.ts).
 */
import type { IncomingMessage } from 'node:http';
import { pipeline, Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { Context } from 'koa';
import { NotFound, TooManyRequests } from '../../errors.ts';
import { renderProjectHtml, renderProjectJson, renderRootHtml, renderRootJson } from '../../pypi/render-simple.ts';
import type { Repository } from '../../repos/types.ts';
import { canonicalProject, redirect } from '../canonical.ts';
import { notModified } from '../conditional.ts';
import type { AppDeps } from '../deps.ts';
import { gzipAccepted, negotiateFormat } from '../negotiate.ts';
import { etagOf, gzipEtagOf, type RenderedPage } from '../page-cache.ts';

/**
 * Index pages are large (about 1 MB for 2,000 files) and pip, uv and poetry
 * all accept gzip: hundreds of nodes should not pull them uncompressed.
 * Each encoding is its own representation, so it gets its own ETag.
 */
function wantsGzip(ctx: Context): boolean {
  return gzipAccepted(ctx.get('Accept-Encoding'));
}

/**
 * Sets an index page's caching headers. Answers 304 and returns true when
 * the client's copy is current; otherwise prepares a 200 of `contentType`.
 */
function answeredNotModified(ctx: Context, maxAge: number, tag: string, gzipped: boolean, contentType: string): boolean {
  // Straight onto the response: ctx.set and ctx.type cost more than the write of a cached page.
  const res = ctx.res;
  res.setHeader('Vary', PAGE_VARY);
  res.setHeader('ETag', tag);
  res.setHeader('Cache-Control', pageCacheControl(maxAge));
  if (notModified(ctx, tag)) {
    ctx.status = 304;
    return true;
  }
  ctx.status = 200;
  res.setHeader('Content-Type', contentType);
  if (gzipped) res.setHeader('Content-Encoding', 'gzip');
  return false;
}

function sendPage(ctx: Context, maxAge: number, page: RenderedPage, contentType: string): void {
  const gzipped = page.gzip !== null && wantsGzip(ctx);
  if (answeredNotModified(ctx, maxAge, gzipped ? page.gzipEtag : page.etag, gzipped, contentType)) return;
  ctx.body = gzipped ? page.gzip : page.body;
}

/** Index pages differ by format and encoding. */
export const PAGE_VARY = 'Accept, Accept-Encoding';

const cacheControls = new Map<number, string>();

/** An index page's Cache-Control for `maxAge` (a handful of distinct values: each string is made once). */
export function pageCacheControl(maxAge: number): string {
  let cc = cacheControls.get(maxAge);
  if (cc === undefined) {
    cc = maxAge > 0 ? `max-age=${maxAge}, public` : 'max-age=0, must-revalidate';
    if (cacheControls.size < 1024) cacheControls.set(maxAge, cc);
  }
  return cc;
}

/** Where a project page is kept in the page cache (with its change token). */
export function pageCacheKey(repo: string, project: string, format: string): string {
  return `${repo}\u0000p\u0000${project}\u0000${format}`;
}

/**
 * The freshness lookup the fast path (fast-page.ts) made before handing a
 * request on to this route: the route uses it rather than looking again, so
 * that a page is looked up (and a remote's revalidated) once per request.
 */
const LOOKED_UP = Symbol('pydepot.lookedUp');

interface LookedUp {
  repo: string;
  project: string;
  outcome: { token: string | null } | { error: unknown };
}

type WithLookup = IncomingMessage & { [LOOKED_UP]?: LookedUp };

export function handOnLookup(req: IncomingMessage, lookup: LookedUp): void {
  (req as WithLookup)[LOOKED_UP] = lookup;
}

/** The project's change token: the fast path's if it looked, else looked up now. */
async function projectToken(req: IncomingMessage, repo: Repository, project: string): Promise<string | null> {
  const known = (req as WithLookup)[LOOKED_UP];
  if (known === undefined || known.repo !== repo.name || known.project !== project) return repo.projectVersion(project);
  delete (req as WithLookup)[LOOKED_UP];
  if ('error' in known.outcome) throw known.outcome.error;
  return known.outcome.token;
}

/** `?format=`; most requests have no query string, and parsing an empty one still costs. */
function formatParam(ctx: Context): string | string[] | undefined {
  return ctx.querystring === '' ? undefined : ctx.query.format;
}

/**
 * The repository's indexMaxAge, cut short where a cooldown makes the page
 * change by the clock alone: no cache may keep it past that moment.
 */
export async function pageMaxAge(repo: Repository, project: string): Promise<number> {
  const lifetime = (await repo.pageLifetime?.(project)) ?? null;
  return lifetime === null ? repo.indexMaxAge : Math.min(repo.indexMaxAge, lifetime);
}

/** The list with its first batch already read (a failure is thrown here), then the rest as they come. */
async function startedList<T>(list: AsyncIterable<T>): Promise<AsyncIterable<T>> {
  const it = list[Symbol.asyncIterator]();
  const first = await it.next();
  return (async function* () {
    if (first.done) return;
    yield first.value;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  })();
}

export function simpleRoutes(deps: AppDeps) {
  return {
    /** `<repo>/simple` without its slash. */
    rootRedirect(ctx: Context): void {
      redirect(ctx, 'simple/');
    },

    /** Streamed, never held whole: a proxied pypi.org lists 700,000 names. */
    async root(ctx: Context, repoName: string): Promise<void> {
      const repo = deps.registry.get(repoName);
      const neg = negotiateFormat(ctx.get('Accept'), formatParam(ctx));
      const token = await repo.listVersion();
      const etag = etagOf(`${deps.instanceId}\u0000${repo.name}\u0000${token}\u0000${neg.format}`);
      const gzipped = wantsGzip(ctx);
      if (answeredNotModified(ctx, repo.indexMaxAge, gzipped ? gzipEtagOf(etag) : etag, gzipped, neg.contentType)) return;
      // The first batch is read before the status goes out: a store that fails
      // then (a database down) answers 503, not a 200 cut short. A failure
      // later, in a list of many batches, can only cut the response.
      const batches = await startedList(repo.listProjects());
      const chunks = neg.format === 'json' ? renderRootJson(batches) : renderRootHtml(batches);
      // pipeline, not pipe: a failure while listing must break the response.
      ctx.body = gzipped ? pipeline(Readable.from(chunks), createGzip(), () => undefined) : Readable.from(chunks);
    },

    async project(ctx: Context, repoName: string, param: string, slash: boolean): Promise<void> {
      const name = canonicalProject(ctx, param, (n) => (slash ? `../${n}/` : `${n}/`));
      if (name === null) return;
      if (!slash) return redirect(ctx, `${name}/`);

      const repo = deps.registry.get(repoName);
      const wait = deps.misses.retryAfter(ctx.ip);
      if (wait > 0) throw new TooManyRequests(`Too many requests for projects that do not exist from ${ctx.ip}; try again in ${wait} s.`, wait);
      const neg = negotiateFormat(ctx.get('Accept'), formatParam(ctx));
      const token = await projectToken(ctx.req, repo, name);
      if (token === null) {
        deps.misses.miss(ctx.ip, name);
        throw new NotFound(`Project '${name}' is not in repository '${repo.name}'.`);
      }
      const cached = deps.pageCache.get(pageCacheKey(repo.name, name, neg.format), token, async () => {
        const p = await repo.projectPage(name);
        if (!p) throw new NotFound(`Project '${name}' is not in repository '${repo.name}'.`);
        return neg.format === 'json' ? renderProjectJson(p) : renderProjectHtml(p);
      });
      // A hit is no promise: nothing to wait for between the freshness lookup and the write.
      const page = cached instanceof Promise ? await cached : cached;
      sendPage(ctx, repo.pageLifetime ? await pageMaxAge(repo, name) : repo.indexMaxAge, page, neg.contentType);
    },
  };
}
