/**
 * API tokens: `pydepot-` + 32 random bytes in base64url. Only their sha256 is
 * stored; 256 random bits cannot be guessed, so a slow hash would only cost
 * time on every request.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { TokenRow } from '../storage/types.ts';
import { parseDate, parseDuration } from '../time.ts';

export const TOKEN_PREFIX = 'pydepot-';

export function newToken(): { text: string; hash: string; id: string } {
  const text = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { text, hash: tokenHash(text), id: randomBytes(6).toString('hex') };
}

export function tokenHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function looksLikeToken(text: string): boolean {
  return text.startsWith(TOKEN_PREFIX) && text.length === TOKEN_PREFIX.length + 43;
}

/**
 * `--expires`: `90d`, `12h`, `30m`, `2w`, `1y`, a future date, or `never`.
 * Returns the ISO instant, null for never, or undefined when it cannot be read.
 */
export function parseExpiry(text: string, now: Date): string | null | undefined {
  if (text === 'never') return null;
  const ms = parseDuration(text);
  if (ms !== null) return new Date(now.getTime() + ms).toISOString();
  const d = parseDate(text);
  return d && d.getTime() > now.getTime() ? d.toISOString() : undefined;
}

export type TokenState = 'active' | 'revoked' | 'expired';

/** What the server makes of a token now: only an active one lets anybody in. */
export function tokenState(t: Pick<TokenRow, 'revokedAt' | 'expiresAt'>, now: Date): TokenState {
  if (t.revokedAt !== null) return 'revoked';
  if (t.expiresAt !== null && new Date(t.expiresAt).getTime() <= now.getTime()) return 'expired';
  return 'active';
}
