/**
 * The HTTP side of permissions: reads the request's credentials, verifies
 * them (with the failed-login budget), and applies decideAccess. Routes call
 * `authorize` before they touch a repository or read a request body, so a
 * refused request leaves nothing behind.
 */
import type { Context } from 'koa';
import type { Config } from '../config/schema.ts';
import { BadRequest, Forbidden, PydepotError, TooManyRequests, Unauthorized } from '../errors.ts';
import type { AuthMetrics } from '../metrics.ts';
import type { Registry } from '../repos/registry.ts';
import type { Authenticator } from './authenticator.ts';
import { parseAuthorization } from './credentials.ts';
import type { FailedLogins } from './failed-logins.ts';
import { decideAccess, type Action, type Identity } from './permissions.ts';

export interface Authorized {
  /** null: anonymous. */
  identity: Identity | null;
  /** The repository the request acts on (an upload's `uploadTo` target). */
  repo: string;
}

export class AccessControl {
  constructor(
    private readonly config: Config,
    private readonly registry: Registry,
    private readonly authenticator: Authenticator,
    private readonly failures: FailedLogins,
    private readonly metrics: AuthMetrics,
  ) {}

  /** May anyone read the repository without credentials? */
  isPublic(repoName: string): boolean {
    return this.config.repositories[repoName]?.read.kind === 'anonymous';
  }

  async authorize(ctx: Context, repoName: string, action: Action): Promise<Authorized> {
    try {
      return await this.check(ctx, repoName, action);
    } catch (err) {
      // A burst of 401s or 429s is someone guessing, or a node with a stale token: worth an alert.
      if (err instanceof Unauthorized || err instanceof Forbidden || err instanceof TooManyRequests) {
        this.metrics.refused.inc({ repo: repoName, status: String((err as PydepotError).status) });
      }
      throw err;
    }
  }

  private async check(ctx: Context, repoName: string, action: Action): Promise<Authorized> {
    // Unknown repositories answer 404, and uploads to ones that take none 405, before credentials matter.
    const repo = this.registry.get(repoName);
    const storedIn = action === 'upload' ? this.registry.uploadTarget(repoName).name : repo.name;
    const audience = action === 'read' ? this.config.repositories[repo.name]!.read : this.config.repositories[storedIn]!.upload;

    const creds = parseAuthorization(ctx.get('Authorization') || undefined);
    if (creds === null && audience.kind === 'anonymous') return { identity: null, repo: storedIn };
    if (creds === 'malformed') throw new BadRequest('The Authorization header cannot be read: send HTTP Basic credentials (user:password, or __token__:<API token>).');

    let identity: Identity | null = null;
    if (creds) {
      const address = ctx.ip;
      const wait = this.failures.retryAfter(address);
      if (wait > 0) throw new TooManyRequests(`Too many failed logins from ${address}; try again in ${wait} s.`, wait);
      identity = await this.authenticator.authenticate(creds);
      if (!identity) {
        this.failures.fail(address);
        ctx.state.log = { ...ctx.state.log, auth: 'failed' };
        throw new Unauthorized(`Invalid username, password or API token for repository '${repo.name}'.`);
      }
      ctx.state.log = { ...ctx.state.log, user: identity.user, ...(identity.token ? { token: identity.token.id } : {}) };
    }
    const decision = decideAccess({ action, repo: repo.name, storedIn }, audience, identity);
    if (!decision.allow) throw decision.status === 401 ? new Unauthorized(decision.reason) : new Forbidden(decision.reason);
    return { identity, repo: storedIn };
  }
}
