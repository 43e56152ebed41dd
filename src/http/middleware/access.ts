/**
 * The HTTP side of permissions: reads the request's credentials, has the
 * Authenticator verify them within the client address's failed-login
 * budget, and applies decideAccess. It answers may or may not, nothing
 * else: the route has already resolved which repository the request acts
 * on. Routes ask before they touch a repository or read a request body, so
 * a refused request leaves nothing behind.
 */
import type { Context } from 'koa';
import type { Authenticator } from '../../auth/authenticator.ts';
import { parseAuthorization, type Credentials } from '../../auth/credentials.ts';
import { decideAccess, type AccessDecision, type Action, type Identity } from '../../auth/permissions.ts';
import type { Audience, Config } from '../../config/schema.ts';
import { BadRequest, Forbidden, PydepotError, TooManyRequests, Unauthorized } from '../../errors.ts';
import type { AuthMetrics } from '../../metrics.ts';

/** What a request asks to do: read `repo`, or upload through `repo` into `storedIn`. */
export interface AccessRequest {
  action: Action;
  repo: string;
  /** Where an upload is stored (the repository, or a virtual repository's uploadTo); `repo` for reads. */
  storedIn: string;
}

/** What a granted request carries on to its handler (ctx.state.access). */
export interface Authorized {
  /** null: anonymous. */
  identity: Identity | null;
}

export class AccessControl {
  constructor(
    private readonly config: Config,
    private readonly authenticator: Authenticator,
    private readonly metrics: AuthMetrics,
  ) {}

  /** May anyone read the repository without credentials? */
  isPublic(repoName: string): boolean {
    return this.config.repositories[repoName]?.read.kind === 'anonymous';
  }

  /** Who the request is (null: anonymous) when it may do what it asks; throws 400/401/403/429 otherwise. */
  async authorize(ctx: Context, request: AccessRequest): Promise<Identity | null> {
    try {
      return await this.check(ctx, request);
    } catch (err) {
      // A burst of 401s or 429s is someone guessing, or a node with a stale token: worth an alert.
      if (err instanceof Unauthorized || err instanceof Forbidden || err instanceof TooManyRequests) {
        this.metrics.refused.inc({ repo: request.repo, status: String((err as PydepotError).status) });
      }
      throw err;
    }
  }

  private async check(ctx: Context, { action, repo, storedIn }: AccessRequest): Promise<Identity | null> {
    const audience = this.audience(action, repo, storedIn);
    const creds = parseAuthorization(ctx.get('Authorization') || undefined);
    if (creds === null && audience.kind === 'anonymous') return null;
    const identity = await this.identify(ctx, repo);
    const decision = decideAccess({ action, repo, storedIn }, audience, identity);
    if (!decision.allow) throw decision.status === 401 ? new Unauthorized(decision.reason) : new Forbidden(decision.reason);
    return identity;
  }

  private audience(action: Action, repo: string, storedIn: string): Audience {
    return action === 'read' ? this.config.repositories[repo]!.read : this.config.repositories[storedIn]!.upload;
  }

  /**
   * Who the request's credentials say it is (null: none given), checked
   * within the client address's failed-login budget; throws 400 (unreadable),
   * 401 (wrong) or 429 (past the budget).
   */
  async identify(ctx: Context, repo?: string): Promise<Identity | null> {
    const creds = parseAuthorization(ctx.get('Authorization') || undefined);
    if (creds === null) return null;
    if (creds === 'malformed') throw new BadRequest('The Authorization header cannot be read: send HTTP Basic credentials (user:password, or __token__:<API token>).');
    return this.verify(ctx, creds, `Invalid username, password or API token${repo === undefined ? '' : ` for repository '${repo}'`}.`);
  }

  /** A user name and password from a login form, checked as Basic credentials are. */
  login(ctx: Context, username: string, password: string): Promise<Identity> {
    return this.verify(ctx, { kind: 'basic', username, password }, 'Invalid username or password.');
  }

  private async verify(ctx: Context, creds: Credentials, invalid: string): Promise<Identity> {
    const address = ctx.ip;
    const result = await this.authenticator.authenticate(creds, address);
    if (result.kind === 'limited') {
      throw new TooManyRequests(`Too many failed logins from ${address}; try again in ${result.retryAfter} s.`, result.retryAfter);
    }
    if (result.kind === 'invalid') {
      ctx.state.log = { ...ctx.state.log, auth: 'failed' };
      throw new Unauthorized(invalid);
    }
    const identity = result.identity;
    ctx.state.log = { ...ctx.state.log, user: identity.user, ...(identity.token ? { token: identity.token.id } : {}) };
    return identity;
  }

  /** The access rule for an identity already established (a web UI session): the same decideAccess as every request. */
  decide(identity: Identity | null, request: AccessRequest): AccessDecision {
    return decideAccess(request, this.audience(request.action, request.repo, request.storedIn), identity);
  }
}
