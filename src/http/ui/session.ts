/**
 * Login sessions and CSRF tokens of the web UI, both signed with one key
 * (ui.sessionSecret, or the storage's own random key).
 *
 * A session is a cookie carrying who logged in and until when, signed with
 * HMAC-SHA256: nothing is stored server-side, so any process sharing the key
 * accepts it. It also carries a fingerprint of the user's password hash:
 * `pydepot user passwd` and `user remove` end every session of that user on
 * its next request. A cookie that is forged, altered, expired, or from a
 * removed user is simply no session.
 *
 * Forms carry a CSRF token: an HMAC of a random per-browser cookie (and the
 * user), so only a page this server sent to this browser can post them; the
 * cookies are SameSite=Strict, so a cross-site post carries none anyway.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface Session {
  user: string;
  /** ms since epoch. */
  expires: number;
}

/** Longest cookie value read: anything longer is not ours. */
const MAX_COOKIE = 1024;

function mac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text, 'utf8').digest();
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export class SessionSigner {
  private readonly sessionKey: Buffer;
  private readonly csrfKey: Buffer;
  private readonly passwordKey: Buffer;

  constructor(secret: Buffer, private readonly lifetimeMs: number, private readonly now: () => number = Date.now) {
    // One key per purpose: a value signed for one use never passes for another.
    this.sessionKey = mac(secret, 'pydepot ui session');
    this.csrfKey = mac(secret, 'pydepot ui csrf');
    this.passwordKey = mac(secret, 'pydepot ui password');
  }

  private fingerprint(passwordHash: string): string {
    return mac(this.passwordKey, passwordHash).subarray(0, 12).toString('base64url');
  }

  /** A cookie value for a user who has just given their password. */
  issue(user: string, passwordHash: string): { value: string; maxAgeSeconds: number } {
    const payload = Buffer.from(JSON.stringify({ u: user, e: this.now() + this.lifetimeMs, p: this.fingerprint(passwordHash) }), 'utf8').toString('base64url');
    const signature = mac(this.sessionKey, payload).toString('base64url');
    return { value: `${payload}.${signature}`, maxAgeSeconds: Math.floor(this.lifetimeMs / 1000) };
  }

  /**
   * The session a cookie value proves, or null (absent, forged, expired, or
   * its user's password changed or user removed since). `passwordHashOf`
   * looks the user up now.
   */
  async read(value: string | undefined, passwordHashOf: (user: string) => Promise<string | null>): Promise<Session | null> {
    if (!value || value.length > MAX_COOKIE) return null;
    const dot = value.indexOf('.');
    if (dot < 0) return null;
    const payload = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), 'base64url');
    if (!sameBytes(given, mac(this.sessionKey, payload))) return null;
    let data: unknown;
    try {
      data = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    const { u, e, p } = (data ?? {}) as { u?: unknown; e?: unknown; p?: unknown };
    if (typeof u !== 'string' || typeof e !== 'number' || typeof p !== 'string') return null;
    if (e <= this.now()) return null;
    // Only a cookie this server signed gets this far: forged ones cost no lookup.
    const hash = await passwordHashOf(u);
    if (hash === null || this.fingerprint(hash) !== p) return null;
    return { user: u, expires: e };
  }

  /** A new random value for the per-browser CSRF cookie. */
  static newBrowserId(): string {
    return randomBytes(18).toString('base64url');
  }

  /** The token a form must carry, bound to the browser's CSRF cookie and to who is signed in. */
  csrfToken(browserId: string, user: string | null): string {
    return mac(this.csrfKey, `${browserId}\u0000${user ?? ''}`).toString('base64url');
  }

  checkCsrf(browserId: string | undefined, user: string | null, token: string | undefined): boolean {
    if (!browserId || !token || browserId.length > MAX_COOKIE || token.length > 100) return false;
    return sameBytes(Buffer.from(token, 'utf8'), Buffer.from(this.csrfToken(browserId, user), 'utf8'));
  }
}
