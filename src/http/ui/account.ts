/** Logging in and out, API tokens and the audit log. */
import type { Context } from 'koa';
import { newToken, parseExpiry, tokenState } from '../../auth/tokens.ts';
import { BadRequest, Forbidden, NotFound, PydepotError, Unauthorized } from '../../errors.ts';
import type { AuditEntry, TokenScope } from '../../storage/types.ts';
import type { UiRequest } from './request.ts';
import { sendPage, type Ui } from './shared.ts';
import { auditPage, loginForm, logoutForm, tokensPage, type TokensView } from './views/account.ts';

const EXPIRY_CHOICES = new Set(['30d', '90d', '1y', 'never']);
const AUDIT_SHOWN = 500;

/**
 * Where to go after logging in: a page below /-/ui/, as a relative path
 * (`internal/acme-utils/`), never another site or a path out of the UI.
 */
export function safeNext(next: string | null | undefined): string {
  if (!next || next.length > 300) return '';
  if (!/^[A-Za-z0-9._+!~-]+(\/[A-Za-z0-9._+!~-]+)*\/?$/.test(next)) return '';
  if (next.split('/').some((s) => s === '.' || s === '..')) return '';
  return next;
}

/** Tokens and the audit log are for someone who signed in with a password and may upload somewhere. */
function requireMaintainer(req: UiRequest): string {
  if (!req.identity) throw new Unauthorized('Log in to manage API tokens and read the audit log.');
  if (req.identity.token !== null) throw new Forbidden('An API token cannot manage tokens or read the audit log: log in with your password.');
  if (req.uploadable.length === 0) throw new Forbidden(`User '${req.identity.user}' may not upload to any repository: tokens and the audit log are for those who may.`);
  return req.identity.user;
}

export function accountHandlers(ui: Ui) {
  const { requests } = ui;

  const showLogin = (ctx: Context, req: UiRequest, o: { status?: number; message?: string | null; user?: string; next?: string | null } = {}): void => {
    const next = safeNext(o.next !== undefined ? o.next : typeof ctx.query.next === 'string' ? ctx.query.next : null);
    sendPage(ctx, req, {
      title: 'Log in', root: '', section: 'login', status: o.status ?? 200,
      body: loginForm({ root: '', csrf: req.csrf, next, message: o.message ?? null, ...(o.user ? { user: o.user } : {}) }),
    });
  };

  const tokensView = async (req: UiRequest, user: string, extra: Pick<TokensView, 'created' | 'message'>): Promise<TokensView> => {
    const now = new Date();
    return {
      root: '', csrf: req.csrf, user,
      tokens: (await ui.deps.users.listTokens(user)).map((t) => ({ ...t, status: tokenState(t, now) })).reverse(),
      repos: Object.keys(ui.config.repositories).filter((r) => req.canRead(r) || req.uploadable.includes(r)),
      ...extra,
    };
  };

  return {
    loginPage(ctx: Context, req: UiRequest): void {
      showLogin(ctx, req);
    },

    async login(ctx: Context, req: UiRequest): Promise<void> {
      const form = await requests.form(ctx, req);
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      const next = form.get('next');
      if (!username || !password || username.length > 64 || password.length > 1024) {
        return showLogin(ctx, req, { status: 400, message: 'Give a user name and a password.', user: username.slice(0, 64), next });
      }
      let identity;
      try {
        identity = await ui.deps.access.login(ctx, username, password);
      } catch (err) {
        if (!(err instanceof PydepotError) || (err.status !== 401 && err.status !== 429)) throw err;
        if (err.headers['Retry-After']) ctx.set('Retry-After', err.headers['Retry-After']);
        return showLogin(ctx, req, { status: err.status, message: err.message, user: username, next });
      }
      if (identity.token !== null) {
        return showLogin(ctx, req, { status: 401, message: 'API tokens cannot log in here: give the password of the account.', user: username, next });
      }
      await requests.startSession(ctx, identity.user);
      ui.deps.logger.info({ user: identity.user, address: ctx.ip }, 'web UI login');
      ctx.status = 303;
      ctx.set('Location', `./${safeNext(next)}`);
      ctx.set('Cache-Control', 'no-store');
    },

    logoutPage(ctx: Context, req: UiRequest): void {
      if (req.viewer.via !== 'session') {
        ctx.status = 303;
        ctx.set('Location', './');
        return;
      }
      sendPage(ctx, req, { title: 'Log out', root: '', body: logoutForm({ root: '', csrf: req.csrf, user: req.viewer.user! }) });
    },

    async logout(ctx: Context, req: UiRequest): Promise<void> {
      await requests.form(ctx, req);
      requests.endSession(ctx);
      ctx.status = 303;
      ctx.set('Location', './');
      ctx.set('Cache-Control', 'no-store');
    },

    async tokens(ctx: Context, req: UiRequest): Promise<void> {
      const user = requireMaintainer(req);
      sendPage(ctx, req, { title: 'API tokens', root: '', section: 'tokens', body: tokensPage(await tokensView(req, user, { created: null, message: null })) });
    },

    async tokenAction(ctx: Context, req: UiRequest): Promise<void> {
      const user = requireMaintainer(req);
      const form = await requests.form(ctx, req);
      const { users } = ui.deps;
      const now = new Date();
      if (form.get('action') === 'revoke') {
        const id = form.get('id') ?? '';
        const token = (await users.listTokens(user)).find((t) => t.id === id);
        if (!token) throw new NotFound(`You have no token '${id}'.`);
        const revoked = await users.revokeToken(id, now.toISOString());
        if (revoked) ui.deps.logger.info({ user, token: id, address: ctx.ip }, 'API token revoked in the web UI');
        return sendPage(ctx, req, {
          title: 'API tokens', root: '', section: 'tokens',
          body: tokensPage(await tokensView(req, user, { created: null, message: revoked ? `Token ${id} revoked: it stops working with the next request.` : `Token ${id} was already revoked.` })),
        });
      }
      if (form.get('action') !== 'create') throw new BadRequest("The form's action must be create or revoke.");
      const scope = form.get('scope');
      if (scope !== 'read' && scope !== 'upload') throw new BadRequest('The scope must be read or upload.');
      const expires = form.get('expires') ?? '';
      if (!EXPIRY_CHOICES.has(expires)) throw new BadRequest('Choose when the token expires: 30d, 90d, 1y or never.');
      const repos = [...new Set(form.getAll('repo'))];
      for (const r of repos) if (!ui.config.repositories[r]) throw new BadRequest(`No repository named '${r}'.`);
      const description = (form.get('description') ?? '').replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, 200);
      const { text, hash, id } = newToken();
      await users.addToken({
        id, hash, user, repos: repos.length > 0 ? repos : null, scope: scope as TokenScope, description: description || null,
        createdAt: now.toISOString(), expiresAt: parseExpiry(expires, now) ?? null, revokedAt: null, lastUsedAt: null,
      });
      ui.deps.logger.info({ user, token: id, scope, repos, address: ctx.ip }, 'API token created in the web UI');
      // The token is in this response alone: no cache may keep it.
      sendPage(ctx, req, { title: 'API tokens', root: '', section: 'tokens', noStore: true, body: tokensPage(await tokensView(req, user, { created: { id, text }, message: null })) });
    },

    async audit(ctx: Context, req: UiRequest): Promise<void> {
      requireMaintainer(req);
      const entries: AuditEntry[] = (await Promise.all(req.uploadable.map((repo) => ui.deps.audit.list({ repo })))).flat();
      entries.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
      sendPage(ctx, req, { title: 'Audit log', root: '', section: 'audit', body: auditPage({ repos: req.uploadable, entries: entries.slice(0, AUDIT_SHOWN), total: entries.length }) });
    },
  };
}
