/**
 * The web UI's URL table, under /-/ui/ (README "Web UI"). Every handler
 * runs behind the same wrapper: the path check (no `..`, no encoded slash:
 * these URLs never name files), security headers, who is asking, and
 * errors answered as pages (a 401 as the login form, without a Basic
 * challenge, so the browser shows the form rather than its own prompt).
 */
import type { Context } from 'koa';
import { BadRequest, NotFound, PydepotError } from '../../errors.ts';
import { normalizeName } from '../../pypi/names.ts';
import { notModified } from '../conditional.ts';
import type { AppDeps } from '../deps.ts';
import { accountHandlers, safeNext } from './account.ts';
import { ASSETS } from './assets.ts';
import { browseHandlers } from './browse.ts';
import { NameIndex } from './names.ts';
import { MetadataReader } from './project-data.ts';
import { UiRequests, type UiRequest } from './request.ts';
import { SessionSigner } from './session.ts';
import { rootOf, SECURITY_HEADERS, sendPage, type Ui } from './shared.ts';
import { UsageCounter } from './usage.ts';
import { errorBody, loginForm } from './views/account.ts';

export interface UiRoute {
  method: 'get' | 'post' | 'all';
  path: string;
  handle(ctx: Context): Promise<void>;
}

/**
 * Refuses paths that try to step out (`..`, `.`) or hide a separator (an
 * encoded `/` or `\`, a NUL): nothing under /-/ui/ is a file, but such a
 * path is never a page either.
 */
function checkPath(path: string): void {
  if (/%(2f|5c|00|2e)|\\/i.test(path) || path.split('/').some((s) => s === '..' || s === '.')) {
    throw new BadRequest('Not a page of the web UI: the path has an encoded separator or a dot segment.');
  }
}

export async function uiRoutes(deps: AppDeps): Promise<UiRoute[]> {
  const config = deps.registry.config;
  if (!config.ui.enabled) return [];
  const secret = config.ui.sessionSecret !== null ? Buffer.from(config.ui.sessionSecret, 'utf8') : await deps.users.secret('ui-session');
  const isRemote = (repo: string): boolean => config.repositories[repo]?.type === 'remote';
  const names = new NameIndex({
    token: async (repo) => (isRemote(repo) ? null : String(await deps.store.repoSerial(repo))),
    page: async (repo, after, limit) => (isRemote(repo)
      ? (await deps.remoteStore.cachedProjects(repo, after, limit)).map((name) => ({ name, displayName: name }))
      : deps.store.projectNames(repo, after, limit)),
    changes: async (repo, since) => (isRemote(repo) ? null : deps.store.projectsChangedSince(repo, Number(since))),
  });
  deps.registry.events.upstreamPage.on(({ remote, page }) => names.note(remote, normalizeName(page.name)));
  // Loaded in the background from the start (a page of names at a time), so the first search does not wait for it.
  const warm = setTimeout(() => {
    const leaves = Object.keys(config.repositories).filter((r) => config.repositories[r]!.type !== 'virtual');
    names.refresh(leaves).catch((err: Error) => deps.logger.debug({ err: err.message }, 'the web UI could not load project names ahead'));
  }, 0);
  warm.unref();
  const ui: Ui = {
    deps, config, names,
    requests: new UiRequests(config, deps.access, deps.users, new SessionSigner(secret, config.ui.sessionLifetime * 1000)),
    usage: new UsageCounter({ config, store: deps.store, remoteStore: deps.remoteStore }),
    metadata: new MetadataReader(),
  };
  const browse = browseHandlers(ui);
  const account = accountHandlers(ui);

  const page = (handler: (ctx: Context, req: UiRequest) => unknown) => async (ctx: Context): Promise<void> => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) ctx.set(k, v);
    let req: UiRequest | null = null;
    try {
      checkPath(ctx.path);
      req = await ui.requests.of(ctx);
      await handler(ctx, req);
    } catch (err) {
      if (!(err instanceof PydepotError)) throw err;
      const viewer = req ?? ui.requests.anonymous(ctx);
      for (const [k, v] of Object.entries(err.headers)) if (k !== 'WWW-Authenticate') ctx.set(k, v);
      const root = rootOf(ctx);
      if (err.status === 401) {
        const next = safeNext(ctx.path.slice('/-/ui/'.length));
        return sendPage(ctx, viewer, { title: 'Log in', root, section: 'login', status: 401, body: loginForm({ root, csrf: viewer.csrf, next, message: err.message }) });
      }
      sendPage(ctx, viewer, { title: 'Error', root, status: err.status, body: errorBody(err.status, err.message) });
    }
  };

  const asset = async (ctx: Context): Promise<void> => {
    const a = ASSETS[ctx.path.slice('/-/ui/'.length)]!;
    ctx.set('ETag', a.etag);
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (notModified(ctx, a.etag)) {
      ctx.status = 304;
      return;
    }
    ctx.type = a.type;
    ctx.body = a.body;
  };
  const p = (ctx: Context, k: string): string => (ctx.params as Record<string, string>)[k] as string;

  return [
    { method: 'get', path: '/-/ui', handle: async (ctx) => { ctx.status = 301; ctx.set('Location', 'ui/'); } },
    { method: 'get', path: '/-/ui/', handle: page((ctx, req) => browse.home(ctx, req)) },
    { method: 'get', path: '/-/ui/ui.css', handle: asset },
    { method: 'get', path: '/-/ui/ui.js', handle: asset },
    { method: 'get', path: '/-/ui/icon.svg', handle: asset },
    { method: 'get', path: '/-/ui/stats', handle: page((ctx, req) => browse.stats(ctx, req)) },
    { method: 'get', path: '/-/ui/squats', handle: page((ctx, req) => browse.squats(ctx, req)) },
    { method: 'get', path: '/-/ui/login', handle: page((ctx, req) => account.loginPage(ctx, req)) },
    { method: 'post', path: '/-/ui/login', handle: page((ctx, req) => account.login(ctx, req)) },
    { method: 'get', path: '/-/ui/logout', handle: page((ctx, req) => account.logoutPage(ctx, req)) },
    { method: 'post', path: '/-/ui/logout', handle: page((ctx, req) => account.logout(ctx, req)) },
    { method: 'get', path: '/-/ui/tokens', handle: page((ctx, req) => account.tokens(ctx, req)) },
    { method: 'post', path: '/-/ui/tokens', handle: page((ctx, req) => account.tokenAction(ctx, req)) },
    { method: 'get', path: '/-/ui/audit', handle: page((ctx, req) => account.audit(ctx, req)) },
    { method: 'get', path: '/-/ui/:repo/', handle: page((ctx, req) => browse.repository(ctx, req, p(ctx, 'repo'))) },
    { method: 'get', path: '/-/ui/:repo/:project/', handle: page((ctx, req) => browse.project(ctx, req, p(ctx, 'repo'), p(ctx, 'project'), null)) },
    { method: 'get', path: '/-/ui/:repo/:project/:version/', handle: page((ctx, req) => browse.project(ctx, req, p(ctx, 'repo'), p(ctx, 'project'), p(ctx, 'version'))) },
    // Anything else under /-/ui/: the path check, then a 404 page.
    { method: 'all', path: '/-/ui/*rest', handle: page(() => { throw new NotFound('No such page in the web UI.'); }) },
  ];
}
