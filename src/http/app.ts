/**
 * The Koa app: middleware in the order a request meets it, then the whole
 * URL table on one screen (see README "URL layout").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import type { Action } from '../auth/permissions.ts';
import { NotFound } from '../errors.ts';
import type { UploadTarget } from '../repos/types.ts';
import type { AppDeps } from './deps.ts';
import type { Authorized } from './middleware/access.ts';
import { errorMiddleware } from './middleware/errors.ts';
import { RequestRecorder, requestLog } from './middleware/request-log.ts';
import { fastPages } from './fast-page.ts';
import { fileRoutes } from './routes/files.ts';
import { jsonApiRoutes } from './routes/json-api.ts';
import { opsRoutes } from './routes/ops.ts';
import { simpleRoutes } from './routes/simple.ts';
import { uploadRoutes } from './routes/upload.ts';
import { wheelhouseRoutes } from './routes/wheelhouse.ts';
import { uiRoutes } from './ui/routes.ts';

export type { AppDeps } from './deps.ts';

/** One row of a repository's URL table. */
interface RepositoryRoute {
  method: 'get' | 'post';
  /** Below the repository's root. */
  path: string;
  /** What the request needs on the repository; null: nothing (a redirect). */
  needs: Action | null;
  /** Also served for the default repository at the root (`/simple/…`, `/files/…`). */
  alias: boolean;
  handle(ctx: Context, repo: string, target: UploadTarget | null): unknown;
}

/**
 * The server's request listener: current index pages straight from the page
 * cache (fast-page.ts), everything else through Koa.
 */
export async function buildApp(deps: AppDeps): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  const recorder = new RequestRecorder(deps.logger, deps.metrics);
  const app = await buildKoa(deps, recorder);
  return fastPages(deps, recorder, app.callback());
}

async function buildKoa(deps: AppDeps, recorder: RequestRecorder): Promise<Koa> {
  const app = new Koa();
  // Errors are answered by errorMiddleware and logged by requestLog.
  app.silent = true;
  app.proxy = deps.trustProxy ?? false;

  const simple = simpleRoutes(deps);
  const files = fileRoutes(deps);
  const upload = uploadRoutes(deps);
  const json = jsonApiRoutes(deps);
  const ops = opsRoutes(deps);
  const wheelhouse = wheelhouseRoutes(deps);
  const p = (ctx: Context, k: string): string => (ctx.params as Record<string, string>)[k] as string;

  const repositoryRoutes: RepositoryRoute[] = [
    { method: 'get', path: '/simple', needs: null, alias: true, handle: (ctx) => simple.rootRedirect(ctx) },
    { method: 'get', path: '/simple/', needs: 'read', alias: true, handle: (ctx, repo) => simple.root(ctx, repo) },
    { method: 'get', path: '/simple/:project', needs: 'read', alias: true, handle: (ctx, repo) => simple.project(ctx, repo, p(ctx, 'project'), false) },
    { method: 'get', path: '/simple/:project/', needs: 'read', alias: true, handle: (ctx, repo) => simple.project(ctx, repo, p(ctx, 'project'), true) },
    { method: 'get', path: '/files/:sha256/:filename', needs: 'read', alias: true, handle: (ctx, repo) => files.file(ctx, repo, p(ctx, 'sha256'), p(ctx, 'filename')) },
    // twine and poetry refuse redirects on upload, so both spellings are accepted.
    { method: 'post', path: '', needs: 'upload', alias: false, handle: (ctx, _repo, target) => upload.upload(ctx, target!) },
    { method: 'post', path: '/', needs: 'upload', alias: false, handle: (ctx, _repo, target) => upload.upload(ctx, target!) },
    { method: 'get', path: '/pypi/:project/json', needs: 'read', alias: false, handle: (ctx, repo) => json.project(ctx, repo, p(ctx, 'project'), null) },
    { method: 'get', path: '/pypi/:project/:version/json', needs: 'read', alias: false, handle: (ctx, repo) => json.project(ctx, repo, p(ctx, 'project'), p(ctx, 'version')) },
    // Resolves and exports what the repository can serve: reading it is all this needs.
    { method: 'post', path: '/-/wheelhouse', needs: 'read', alias: false, handle: (ctx, repo) => wheelhouse.build(ctx, repo) },
  ];

  /**
   * Every repository route states what it needs; the target is resolved
   * (unknown repositories 404, uploads to ones that take none 405) before
   * credentials matter, and the handler runs only once access is granted.
   */
  const guarded = (route: RepositoryRoute, repoOf: (ctx: Context) => string) => async (ctx: Context): Promise<void> => {
    const repo = repoOf(ctx);
    if (route.needs === null) return void (await route.handle(ctx, repo, null));
    deps.registry.get(repo);
    const target = route.needs === 'upload' ? deps.registry.uploadTarget(repo) : null;
    const identity = await deps.access.authorize(ctx, { action: route.needs, repo, storedIn: target?.name ?? repo });
    ctx.state.access = { identity } satisfies Authorized;
    // Said before the handler runs: a file sent from disk has its headers out before the handler returns.
    if (!deps.access.isPublic(repo)) ctx.state.cachePrivately = true;
    await route.handle(ctx, repo, target);
    // A shared cache (a reverse proxy, a corporate proxy) must not hand a protected page to anyone else.
    if (!deps.access.isPublic(repo)) {
      const cc = String(ctx.response.get('Cache-Control') ?? '');
      if (cc.includes('public')) ctx.set('Cache-Control', cc.replace('public', 'private'));
      else if (cc && !/private|no-store/.test(cc)) ctx.set('Cache-Control', `private, ${cc}`);
    }
  };

  // strict: `/simple/foo` and `/simple/foo/` are different URLs (the first redirects).
  const r = new Router({ strict: true });
  r.get('/-/health', ops.health);
  r.get('/-/ready', ops.ready);
  r.get('/-/metrics', ops.metrics);
  // The web UI (src/http/ui/routes.ts has its table): pages beside the index, never part of it.
  for (const route of await uiRoutes(deps)) r[route.method](route.path, route.handle);
  // The default repository's alias first, then every repository by name.
  const mount = (prefix: string, repoOf: (ctx: Context) => string, routes: readonly RepositoryRoute[]): void => {
    for (const route of routes) r[route.method](`${prefix}${route.path}`, guarded(route, repoOf));
  };
  mount('', () => deps.registry.defaultName, repositoryRoutes.filter((route) => route.alias));
  mount('/:repo', (ctx) => p(ctx, 'repo'), repositoryRoutes);

  // The bare host as index (`index-url = https://depot/`, as the Spark docs and
  // many pip.conf files write it): pip asks `/` and `/<project>/`, which serve the
  // default repository's simple index. A repository's name wins over a project's
  // of the same name; that project stays at /simple/<name>/.
  const def = (): string => deps.registry.defaultName;
  r.get('/', guarded({ method: 'get', path: '/', needs: 'read', alias: true, handle: (ctx, repo) => simple.root(ctx, repo) }, def));
  r.get('/:project/', guarded({
    method: 'get', path: '/:project/', needs: 'read', alias: true,
    handle: (ctx, repo) => {
      const name = p(ctx, 'project');
      if (deps.registry.has(name)) {
        throw new NotFound(`'/${name}/' is the repository '${name}': its index is /${name}/simple/; a project named '${name}' is at /simple/${name}/.`);
      }
      return simple.project(ctx, repo, name, true);
    },
  }, def));

  app.use(requestLog(recorder));
  app.use(errorMiddleware);
  app.use(r.routes());
  app.use(r.allowedMethods());
  return app;
}
