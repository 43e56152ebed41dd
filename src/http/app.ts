/**
 * The Koa app: middleware in the order a request meets it, then the whole
 * URL table on one screen (see README "URL layout").
 */
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Registry } from '../repos/registry.ts';
import type { AccessControl } from '../auth/access.ts';
import type { Action } from '../auth/permissions.ts';
import type { AuditStore, BlobStore, MetadataStore } from '../storage/types.ts';
import { errorMiddleware } from './middleware/errors.ts';
import { requestLog } from './middleware/request-log.ts';
import { PageCache } from './page-cache.ts';
import { fileRoutes } from './routes/files.ts';
import { jsonApiRoutes } from './routes/json-api.ts';
import { opsRoutes } from './routes/ops.ts';
import { simpleRoutes } from './routes/simple.ts';
import { uploadRoutes } from './routes/upload.ts';

export interface AppDeps {
  registry: Registry;
  blobs: BlobStore;
  store: MetadataStore;
  logger: Logger;
  metrics: Metrics;
  pageCache: PageCache;
  access: AccessControl;
  audit: AuditStore;
  /** Client addresses (for the failed-login budget and the audit) from X-Forwarded-For. */
  trustProxy?: boolean;
  /** Tells this storage's ETags apart from another's whose serials happen to match. */
  instanceId: string;
}

export function buildApp(deps: AppDeps): Koa {
  const app = new Koa();
  // Errors are answered by errorMiddleware and logged by requestLog.
  app.silent = true;
  app.proxy = deps.trustProxy ?? false;

  const simple = simpleRoutes(deps);
  const files = fileRoutes(deps);
  const upload = uploadRoutes(deps);
  const json = jsonApiRoutes(deps);
  const ops = opsRoutes(deps);
  const def = (): string => deps.registry.defaultName;
  const p = (ctx: Context, k: string): string => (ctx.params as Record<string, string>)[k] as string;
  const repoParam = (ctx: Context): string => p(ctx, 'repo');
  /** Every repository route states what it needs; the handler runs only once that is granted. */
  const needs = (action: Action, repoOf: (ctx: Context) => string, handler: (ctx: Context) => unknown) =>
    async (ctx: Context): Promise<void> => {
      ctx.state.access = await deps.access.authorize(ctx, repoOf(ctx), action);
      await handler(ctx);
      // A shared cache (a reverse proxy, a corporate proxy) must not hand a protected page to anyone else.
      if (!deps.access.isPublic(repoOf(ctx))) {
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

  // The default repository's alias.
  r.get('/simple', simple.rootRedirect);
  r.get('/simple/', needs('read', def, (ctx) => simple.root(ctx, def())));
  r.get('/simple/:project', needs('read', def, (ctx) => simple.project(ctx, def(), p(ctx, 'project'), false)));
  r.get('/simple/:project/', needs('read', def, (ctx) => simple.project(ctx, def(), p(ctx, 'project'), true)));
  r.get('/files/:sha256/:filename', needs('read', def, (ctx) => files.file(ctx, def(), p(ctx, 'sha256'), p(ctx, 'filename'))));

  r.get('/:repo/simple', simple.rootRedirect);
  r.get('/:repo/simple/', needs('read', repoParam, (ctx) => simple.root(ctx, repoParam(ctx))));
  r.get('/:repo/simple/:project', needs('read', repoParam, (ctx) => simple.project(ctx, repoParam(ctx), p(ctx, 'project'), false)));
  r.get('/:repo/simple/:project/', needs('read', repoParam, (ctx) => simple.project(ctx, repoParam(ctx), p(ctx, 'project'), true)));
  r.get('/:repo/files/:sha256/:filename', needs('read', repoParam, (ctx) => files.file(ctx, repoParam(ctx), p(ctx, 'sha256'), p(ctx, 'filename'))));
  // twine and poetry refuse redirects on upload, so both spellings are accepted.
  r.post('/:repo', needs('upload', repoParam, (ctx) => upload.upload(ctx)));
  r.post('/:repo/', needs('upload', repoParam, (ctx) => upload.upload(ctx)));
  r.get('/:repo/pypi/:project/json', needs('read', repoParam, (ctx) => json.project(ctx, repoParam(ctx), p(ctx, 'project'), null)));
  r.get('/:repo/pypi/:project/:version/json', needs('read', repoParam, (ctx) => json.project(ctx, repoParam(ctx), p(ctx, 'project'), p(ctx, 'version'))));

  app.use(requestLog(deps.logger, deps.metrics));
  app.use(errorMiddleware);
  app.use(r.routes());
  app.use(r.allowedMethods());
  return app;
}
