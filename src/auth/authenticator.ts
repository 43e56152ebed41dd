/**
 * Turns presented credentials into an Identity, or null when they do not
 * verify. Looked up on every request, so revoking a token, removing a user
 * or changing a password takes effect on the next one.
 *
 * scrypt costs ~60 ms and 32 MiB on purpose; a cluster of nodes sending the
 * same credentials with every request would spend its time there. So a
 * verified (user, password, stored hash) is remembered for a few minutes,
 * under an HMAC with a per-process key (the cache never holds anything
 * that could be cracked offline), and concurrent checks of the same
 * credentials share one derivation.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { TOKEN_USERNAME } from '../config/schema.ts';
import type { UserStore } from '../storage/types.ts';
import type { Credentials } from './credentials.ts';
import { DECOY_HASH, verifyPassword } from './passwords.ts';
import type { Identity } from './permissions.ts';
import { looksLikeToken, tokenHash, tokenState } from './tokens.ts';

const VERIFIED_TTL_MS = 5 * 60_000;
// `last used` is for people reading `token list`: once a minute is plenty.
const TOUCH_EVERY_MS = 60_000;

export class Authenticator {
  private readonly key = randomBytes(32);
  private readonly verified = new LRUCache<string, true>({ max: 10_000, ttl: VERIFIED_TTL_MS });
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly touched = new LRUCache<string, true>({ max: 10_000, ttl: TOUCH_EVERY_MS });

  constructor(private readonly users: UserStore, private readonly now: () => Date = () => new Date()) {}

  async authenticate(creds: Credentials): Promise<Identity | null> {
    if (creds.kind === 'token') return this.byToken(creds.token, null);
    const { username, password } = creds;
    if (username === TOKEN_USERNAME) return this.byToken(password, null);
    // A token is also accepted as its owner's password.
    if (looksLikeToken(password)) {
      const id = this.byToken(password, username);
      if (id) return id;
    }
    return (await this.byPassword(username, password)) ? { user: username, token: null } : null;
  }

  private byToken(text: string, owner: string | null): Identity | null {
    const row = this.users.tokenByHash(tokenHash(text));
    const now = this.now();
    if (!row || tokenState(row, now) !== 'active') return null;
    if (owner !== null && row.user !== owner) return null;
    if (!this.touched.has(row.id)) {
      this.touched.set(row.id, true);
      this.users.touchToken(row.id, now.toISOString());
    }
    return { user: row.user, token: { id: row.id, repos: row.repos, scope: row.scope } };
  }

  private async byPassword(username: string, password: string): Promise<boolean> {
    const user = this.users.getUser(username);
    if (!user) {
      await verifyPassword(password, DECOY_HASH);
      return false;
    }
    const key = createHmac('sha256', this.key).update(`${username}\u0000${password}\u0000${user.passwordHash}`).digest('base64');
    if (this.verified.has(key)) return true;
    let check = this.inFlight.get(key);
    if (!check) {
      check = verifyPassword(password, user.passwordHash).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, check);
    }
    const ok = await check;
    if (ok) this.verified.set(key, true);
    return ok;
  }
}
