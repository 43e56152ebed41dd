/**
 * The request pip makes most: a project's index page, current in the page
 * cache. A CPU profile of the gzip JSON page under load (issue 14) showed
 * most of pydepot's time per request going to Koa itself (building the
 * context, the middleware chain, the router trying every route's regex,
 * header delegates), not to the page: the kernel's copy of the bytes was a
 * quarter of it. So this one request is answered straight on node:http,
 * with the same checks in the same order as the route, and the same log line
 * and metrics (RequestRecorder, route label `/:repo/simple/:project/` or
 * `/simple/:project/` as the router names it).
 *
 * It answers only when every answer is certain to be the route's: a GET of
 * a canonical `[/<repo>]/simple/<project>/` without a query string or
 * Authorization header, on a repository anyone may read, from a client with
 * budget left for misses, for a project that exists, whose page for that
 * change token is already rendered. Anything else (a HEAD, a redirect, a
 * 401, a 404, a page to render, an error) goes to Koa, which answers it as
 * it always has.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isValidProjectName, MAX_NAME_LENGTH, normalizeName } from '../pypi/names.ts';
import type { Repository } from '../repos/types.ts';
import { etagMatches } from './conditional.ts';
import type { AppDeps } from './deps.ts';
import type { RequestInfo, RequestRecorder } from './middleware/request-log.ts';
import { gzipAccepted, negotiateFormat } from './negotiate.ts';
import type { RenderedPage } from './page-cache.ts';
import { handOnLookup, pageCacheKey, pageCacheControl, pageMaxAge, PAGE_VARY } from './routes/simple.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

// [/<repo>]/simple/<project>/ and nothing else: no query, no further segment.
const PAGE_URL = /^\/(?:([^/?]+)\/)?simple\/([^/?]+)\/$/;
const ROUTE_ALIAS = '/simple/:project/';
const ROUTE_REPO = '/:repo/simple/:project/';

function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  // As Koa's ctx.ip: the first X-Forwarded-For entry when proxies are trusted.
  const xff = trustProxy ? req.headers['x-forwarded-for'] : undefined;
  const first = typeof xff === 'string' ? xff.split(',', 1)[0]!.trim() : '';
  return first || req.socket.remoteAddress || '';
}

/** The log line's fields, read when the response has finished (no closure per request). */
class FastInfo {
  constructor(readonly res: ServerResponse, readonly path: string, readonly route: string) {}
  read(this: FastInfo): RequestInfo {
    return { method: 'GET', path: this.path, route: this.route, status: this.res.statusCode };
  }
}

export function fastPages(deps: AppDeps, recorder: RequestRecorder, fallback: Handler): Handler {
  const trustProxy = deps.trustProxy ?? false;

  const send = (req: IncomingMessage, res: ServerResponse, page: RenderedPage, gzipped: boolean, maxAge: number, contentType: string): void => {
    const tag = gzipped ? page.gzipEtag : page.etag;
    const inm = req.headers['if-none-match'];
    // The route's headers, in the route's order; a 304 has no Content-Type (Koa drops it for empty statuses).
    if (inm ? etagMatches(inm, tag) : false) {
      res.writeHead(304, ['Vary', PAGE_VARY, 'ETag', tag, 'Cache-Control', pageCacheControl(maxAge)]);
      res.end();
      return;
    }
    const body = gzipped ? page.gzip! : page.body;
    const headers = ['Vary', PAGE_VARY, 'ETag', tag, 'Cache-Control', pageCacheControl(maxAge), 'Content-Type', contentType];
    if (gzipped) headers.push('Content-Encoding', 'gzip');
    headers.push('Content-Length', String(body.length));
    res.writeHead(200, headers);
    res.end(body);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, repo: Repository, name: string, route: string, start: bigint): Promise<boolean> => {
    const neg = negotiateFormat(req.headers.accept, undefined);
    let token: string | null;
    try {
      token = await repo.projectVersion(name);
    } catch (error) {
      // The route answers the failure (a remote's upstream down) without asking again.
      handOnLookup(req, { repo: repo.name, project: name, outcome: { error } });
      return false;
    }
    const page = token === null ? undefined : deps.pageCache.peek(pageCacheKey(repo.name, name, neg.format), token);
    if (!page) {
      // Not there (the route counts the miss and answers 404), or not rendered yet: the route goes on from this lookup.
      handOnLookup(req, { repo: repo.name, project: name, outcome: { token } });
      return false;
    }
    const maxAge = repo.pageLifetime ? await pageMaxAge(repo, name) : repo.indexMaxAge;
    const gzipped = page.gzip !== null && gzipAccepted(req.headers['accept-encoding'] ?? '');
    recorder.track(res, start, FastInfo.prototype.read.bind(new FastInfo(res, req.url!, route)));
    send(req, res, page, gzipped, maxAge, neg.contentType);
    return true;
  };

  return (req, res) => {
    const start = process.hrtime.bigint();
    const m = req.method === 'GET' && req.headers.authorization === undefined ? PAGE_URL.exec(req.url!) : null;
    if (m === null) return fallback(req, res);
    const repoName = m[1] ?? deps.registry.defaultName;
    const name = m[2]!;
    if (!deps.registry.has(repoName) || !deps.access.isPublic(repoName)
      || name.length > MAX_NAME_LENGTH || !isValidProjectName(name) || normalizeName(name) !== name
      || deps.misses.retryAfter(clientAddress(req, trustProxy)) > 0) {
      return fallback(req, res);
    }
    answer(req, res, deps.registry.get(repoName), name, m[1] === undefined ? ROUTE_ALIAS : ROUTE_REPO, start).then(
      (answered) => { if (!answered) fallback(req, res); },
      // Whatever failed, the route meets it again and answers it as errors are answered.
      () => { if (!res.headersSent) fallback(req, res); else res.destroy(); },
    );
  };
}
