/**
 * Turns presented credentials into an Identity, or says they are wrong, or
 * that their address is past its failed-login budget. Looked up on every request, so revoking a token, removing a user
 * or changing a password takes effect on the next one.
 *
 * scrypt costs ~60 ms and 32 MiB on purpose; a cluster of nodes sending the
 * same credentials with every request would spend its time there. So a
 * verified (user, password, stored hash) is remembered for a few minutes,
 * under an HMAC with a per-process key (the cache never holds anything
 * that could be cracked offline), and concurrent checks of the same
 * credentials share one derivation.
 *
 * Every failure counts against the client address's budget (FailedLogins),
 * and a check that is about to hash reserves its attempt first: past the
 * budget a request is refused before it costs a hash, however many arrive
 * at once. A remembered verification neither reserves nor waits in the hash
 * queue.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { TOKEN_USERNAME } from '../config/schema.ts';
import type { UserStore } from '../storage/types.ts';
import type { Credentials } from './credentials.ts';
import type { FailedLogins } from './failed-logins.ts';
import { DECOY_HASH, verifyPassword } from './passwords.ts';
import type { Identity } from './permissions.ts';
import { looksLikeToken, tokenHash, tokenState } from './tokens.ts';

const VERIFIED_TTL_MS = 5 * 60_000;
// `last used` is for people reading `token list`: once a minute is plenty.
const TOUCH_EVERY_MS = 60_000;

export type Authentication =
  | { kind: 'valid'; identity: Identity }
  /** Wrong credentials, counted against the address's budget. */
  | { kind: 'invalid' }
  /** Past the address's failed-login budget: refused without a check. */
  | { kind: 'limited'; retryAfter: number };

export interface AuthenticatorOptions {
  failures: FailedLogins;
  /** Counts the password hashes run to check credentials (a remembered verification runs none). */
  passwordChecks?: { inc(): void };
  now?: () => Date;
}

const INVALID: Authentication = { kind: 'invalid' };

export class Authenticator {
  private readonly key = randomBytes(32);
  private readonly verified = new LRUCache<string, true>({ max: 10_000, ttl: VERIFIED_TTL_MS });
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly touched = new LRUCache<string, true>({ max: 10_000, ttl: TOUCH_EVERY_MS });
  private readonly failures: FailedLogins;
  private readonly passwordChecks: { inc(): void } | undefined;
  private readonly now: () => Date;

  constructor(private readonly users: UserStore, opts: AuthenticatorOptions) {
    this.failures = opts.failures;
    this.passwordChecks = opts.passwordChecks;
    this.now = opts.now ?? (() => new Date());
  }

  /** Checks credentials presented from `address`, within that address's failed-login budget. */
  async authenticate(creds: Credentials, address: string): Promise<Authentication> {
    const wait = this.failures.retryAfter(address);
    if (wait > 0) return { kind: 'limited', retryAfter: wait };
    if (creds.kind === 'token') return this.tokenResult(await this.byToken(creds.token, null), address);
    const { username, password } = creds;
    if (username === TOKEN_USERNAME) return this.tokenResult(await this.byToken(password, null), address);
    // A token is also accepted as its owner's password.
    if (looksLikeToken(password)) {
      const id = await this.byToken(password, username);
      if (id) return { kind: 'valid', identity: id };
    }
    return this.byPassword(username, password, address);
  }

  private tokenResult(identity: Identity | null, address: string): Authentication {
    return identity ? { kind: 'valid', identity } : this.failedWithoutHash(address);
  }

  /** A failure that cost this request no hash: counted, and past the budget refused as such. */
  private failedWithoutHash(address: string): Authentication {
    const wait = this.failures.fail(address);
    return wait > 0 ? { kind: 'limited', retryAfter: wait } : INVALID;
  }

  private async byToken(text: string, owner: string | null): Promise<Identity | null> {
    const row = await this.users.tokenByHash(tokenHash(text));
    const now = this.now();
    if (!row || tokenState(row, now) !== 'active') return null;
    if (owner !== null && row.user !== owner) return null;
    if (!this.touched.has(row.id)) {
      this.touched.set(row.id, true);
      await this.users.touchToken(row.id, now.toISOString());
    }
    return { user: row.user, token: { id: row.id, repos: row.repos, scope: row.scope } };
  }

  private async byPassword(username: string, password: string, address: string): Promise<Authentication> {
    const valid: Authentication = { kind: 'valid', identity: { user: username, token: null } };
    const user = await this.users.getUser(username);
    if (!user) {
      // The decoy costs what a real check costs, budget included, so neither tells which users exist.
      const wait = this.failures.reserve(address);
      if (wait > 0) return { kind: 'limited', retryAfter: wait };
      await this.hashed(address, verifyPassword(password, DECOY_HASH));
      return INVALID;
    }
    const key = createHmac('sha256', this.key).update(`${username}\u0000${password}\u0000${user.passwordHash}`).digest('base64');
    if (this.verified.has(key)) return valid;
    const shared = this.inFlight.get(key);
    if (shared) return (await shared) ? valid : this.failedWithoutHash(address);

    // reserve() checks the budget and takes the attempt in one step: concurrent guesses cannot all pass.
    const wait = this.failures.reserve(address);
    if (wait > 0) return { kind: 'limited', retryAfter: wait };
    const check = verifyPassword(password, user.passwordHash).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, check);
    if (!(await this.hashed(address, check))) return INVALID;
    this.verified.set(key, true);
    return valid;
  }

  /** Settles the attempt `address` reserved for `check`: given back when the password is right (or the check broke), a failure when wrong. */
  private async hashed(address: string, check: Promise<boolean>): Promise<boolean> {
    this.passwordChecks?.inc();
    let ok: boolean;
    try {
      ok = await check;
    } catch (err) {
      this.failures.release(address);
      throw err;
    }
    if (ok) this.failures.release(address);
    else this.failures.spend(address);
    return ok;
  }
}
