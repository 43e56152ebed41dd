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
import { parseAuthorization } from '../../auth/credentials.ts';
import { decideAccess, type Action, type Identity } from '../../auth/permissions.ts';
import type { Config } from '../../config/schema.ts';
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
    const audience = action === 'read' ? this.config.repositories[repo]!.read : this.config.repositories[storedIn]!.upload;

    const creds = parseAuthorization(ctx.get('Authorization') || undefined);
    if (creds === null && audience.kind === 'anonymous') return null;
    if (creds === 'malformed') throw new BadRequest('The Authorization header cannot be read: send HTTP Basic credentials (user:password, or __token__:<API token>).');

    let identity: Identity | null = null;
    if (creds) {
      const address = ctx.ip;
      const result = await this.authenticator.authenticate(creds, address);
      if (result.kind === 'limited') {
        throw new TooManyRequests(`Too many failed logins from ${address}; try again in ${result.retryAfter} s.`, result.retryAfter);
      }
      if (result.kind === 'invalid') {
        ctx.state.log = { ...ctx.state.log, auth: 'failed' };
        throw new Unauthorized(`Invalid username, password or API token for repository '${repo}'.`);
      }
      identity = result.identity;
      ctx.state.log = { ...ctx.state.log, user: identity.user, ...(identity.token ? { token: identity.token.id } : {}) };
    }
    const decision = decideAccess({ action, repo, storedIn }, audience, identity);
    if (!decision.allow) throw decision.status === 401 ? new Unauthorized(decision.reason) : new Forbidden(decision.reason);
    return identity;
  }
}
