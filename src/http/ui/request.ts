/**
 * Who a UI request comes from, and the rules every form post passes: the
 * request's Basic credentials (checked as the index checks them), else a
 * login session; CSRF cookie and token; same-origin posts only.
 */
import type { Context } from 'koa';
import type { Identity } from '../../auth/permissions.ts';
import type { Config } from '../../config/schema.ts';
import { BadRequest, Forbidden, PayloadTooLarge, UnsupportedMediaType } from '../../errors.ts';
import type { UserStore } from '../../storage/types.ts';
import type { AccessControl } from '../middleware/access.ts';
import type { Viewer } from './layout.ts';
import { SessionSigner } from './session.ts';

const SESSION = 'pydepot_session';
const BROWSER = 'pydepot_csrf';
const MAX_FORM_BYTES = 16 * 1024;

export interface UiRequest {
  identity: Identity | null;
  viewer: Viewer;
  /** The per-browser id forms are bound to (set as a cookie when new). */
  browserId: string;
  /** The token this request's forms carry. */
  csrf: string;
  canRead(repo: string): boolean;
  /** Local and wheelcache repositories the identity may upload to. */
  uploadable: string[];
}

export class UiRequests {
  constructor(
    private readonly config: Config,
    private readonly access: AccessControl,
    private readonly users: UserStore,
    readonly signer: SessionSigner,
  ) {}

  /**
   * Under TLS the cookies take the `__Host-` prefix: the browser then keeps
   * them only if they are Secure, for the whole host, set by the host itself.
   */
  private cookieName(ctx: Context, base: string): string {
    return ctx.secure ? `__Host-${base}` : base;
  }

  private setCookie(ctx: Context, base: string, value: string | null, maxAgeSeconds?: number): void {
    ctx.cookies.set(this.cookieName(ctx, base), value, {
      httpOnly: true, sameSite: 'strict', secure: ctx.secure, path: '/', overwrite: true,
      ...(maxAgeSeconds !== undefined ? { maxAge: maxAgeSeconds * 1000 } : {}),
      ...(value === null ? { expires: new Date(0) } : {}),
    });
  }

  /** Throws 400/401/429 for Basic credentials that are malformed, wrong or past the failed-login budget. */
  async of(ctx: Context): Promise<UiRequest> {
    const basic = await this.access.identify(ctx);
    if (basic) return this.build(ctx, basic, 'basic');
    const session = await this.signer.read(ctx.cookies.get(this.cookieName(ctx, SESSION)), async (u) => (await this.users.getUser(u))?.passwordHash ?? null);
    if (!session) return this.build(ctx, null, null);
    ctx.state.log = { ...ctx.state.log, user: session.user, session: true };
    return this.build(ctx, { user: session.user, token: null }, 'session');
  }

  /** Nobody in particular: for answering a request whose credentials were refused. */
  anonymous(ctx: Context): UiRequest {
    return this.build(ctx, null, null);
  }

  private build(ctx: Context, identity: Identity | null, via: Viewer['via']): UiRequest {
    let browserId = ctx.cookies.get(this.cookieName(ctx, BROWSER));
    if (!browserId || !/^[A-Za-z0-9_-]{24}$/.test(browserId)) {
      browserId = SessionSigner.newBrowserId();
      this.setCookie(ctx, BROWSER, browserId);
    }
    const canRead = (repo: string): boolean => this.access.decide(identity, { action: 'read', repo, storedIn: repo }).allow;
    const uploadable = identity === null ? [] : Object.entries(this.config.repositories)
      .filter(([name, rc]) => (rc.type === 'local' || rc.type === 'wheelcache') && this.access.decide(identity, { action: 'upload', repo: name, storedIn: name }).allow)
      .map(([name]) => name);
    // Tokens are minted by someone who gave a password, never by a token.
    const maintainer = identity !== null && identity.token === null && uploadable.length > 0;
    return {
      identity, browserId, canRead, uploadable,
      csrf: this.signer.csrfToken(browserId, identity?.user ?? null),
      viewer: { user: identity?.user ?? null, via, maintainer },
    };
  }

  async startSession(ctx: Context, user: string): Promise<void> {
    const passwordHash = (await this.users.getUser(user))?.passwordHash;
    if (!passwordHash) return;
    const { value, maxAgeSeconds } = this.signer.issue(user, passwordHash);
    this.setCookie(ctx, SESSION, value, maxAgeSeconds);
  }

  endSession(ctx: Context): void {
    this.setCookie(ctx, SESSION, null);
  }

  /**
   * Reads a form post, refusing it unless it comes from a page of this site
   * in this browser: same origin (Origin and Sec-Fetch-Site, where the
   * browser sends them), and the CSRF token that page carried.
   */
  async form(ctx: Context, req: UiRequest): Promise<URLSearchParams> {
    const origin = ctx.get('Origin');
    const fetchSite = ctx.get('Sec-Fetch-Site');
    let sameOrigin = fetchSite === '' || fetchSite === 'same-origin' || fetchSite === 'none';
    if (origin) {
      try {
        sameOrigin &&= new URL(origin).host === ctx.host;
      } catch {
        sameOrigin = false;
      }
    }
    if (!sameOrigin) throw new Forbidden('A form posted from another site is refused.');
    if (!ctx.is('application/x-www-form-urlencoded')) throw new UnsupportedMediaType('Forms are sent as application/x-www-form-urlencoded.');
    const form = new URLSearchParams(await readBody(ctx));
    if (!this.signer.checkCsrf(ctx.cookies.get(this.cookieName(ctx, BROWSER)), req.identity?.user ?? null, form.get('csrf') ?? undefined)) {
      throw new Forbidden('This form has expired or did not come from this site: reload the page and send it again.');
    }
    return form;
  }
}

async function readBody(ctx: Context): Promise<string> {
  const declared = Number(ctx.get('Content-Length') || 0);
  if (declared > MAX_FORM_BYTES) throw new PayloadTooLarge(`A form is at most ${MAX_FORM_BYTES / 1024} KiB.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) throw new PayloadTooLarge(`A form is at most ${MAX_FORM_BYTES / 1024} KiB.`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.includes('\u0000')) throw new BadRequest('A form cannot carry NUL characters.');
  return text;
}
