/**
 * The Koa app: middleware in the order a request meets it, then the whole
 * URL table on one screen (see README "URL layout").
 */
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Registry } from '../repos/registry.ts';
import type { BlobStore, MetadataStore } from '../storage/types.ts';
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
  /** Tells this storage's ETags apart from another's whose serials happen to match. */
  instanceId: string;
}

export function buildApp(deps: AppDeps): Koa {
  const app = new Koa();
  // Errors are answered by errorMiddleware and logged by requestLog.
  app.silent = true;

  const simple = simpleRoutes(deps);
  const files = fileRoutes(deps);
  const upload = uploadRoutes(deps);
  const json = jsonApiRoutes(deps);
  const ops = opsRoutes(deps);
  const def = (): string => deps.registry.defaultName;
  const p = (ctx: Context, k: string): string => (ctx.params as Record<string, string>)[k] as string;

  // strict: `/simple/foo` and `/simple/foo/` are different URLs (the first redirects).
  const r = new Router({ strict: true });
  r.get('/-/health', ops.health);
  r.get('/-/ready', ops.ready);
  r.get('/-/metrics', ops.metrics);

  // The default repository's alias.
  r.get('/simple', simple.rootRedirect);
  r.get('/simple/', (ctx) => simple.root(ctx, def()));
  r.get('/simple/:project', (ctx) => simple.project(ctx, def(), p(ctx, 'project'), false));
  r.get('/simple/:project/', (ctx) => simple.project(ctx, def(), p(ctx, 'project'), true));
  r.get('/files/:sha256/:filename', (ctx) => files.file(ctx, def(), p(ctx, 'sha256'), p(ctx, 'filename')));

  r.get('/:repo/simple', simple.rootRedirect);
  r.get('/:repo/simple/', (ctx) => simple.root(ctx, p(ctx, 'repo')));
  r.get('/:repo/simple/:project', (ctx) => simple.project(ctx, p(ctx, 'repo'), p(ctx, 'project'), false));
  r.get('/:repo/simple/:project/', (ctx) => simple.project(ctx, p(ctx, 'repo'), p(ctx, 'project'), true));
  r.get('/:repo/files/:sha256/:filename', (ctx) => files.file(ctx, p(ctx, 'repo'), p(ctx, 'sha256'), p(ctx, 'filename')));
  // twine and poetry refuse redirects on upload, so both spellings are accepted.
  r.post('/:repo', (ctx) => upload.upload(ctx, p(ctx, 'repo')));
  r.post('/:repo/', (ctx) => upload.upload(ctx, p(ctx, 'repo')));
  r.get('/:repo/pypi/:project/json', (ctx) => json.project(ctx, p(ctx, 'repo'), p(ctx, 'project'), null));
  r.get('/:repo/pypi/:project/:version/json', (ctx) => json.project(ctx, p(ctx, 'repo'), p(ctx, 'project'), p(ctx, 'version')));

  app.use(requestLog(deps.logger, deps.metrics));
  app.use(errorMiddleware);
  app.use(r.routes());
  app.use(r.allowedMethods());
  return app;
}
