/**
 * API tokens: `pydepot-` + 32 random bytes in base64url. Only their sha256 is
 * stored; 256 random bits cannot be guessed, so a slow hash would only cost
 * time on every request.
 */
import { createHash, randomBytes } from 'node:crypto';

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

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

/**
 * `--expires`: `90d`, `12h`, `30m`, `2w`, `1y`, an ISO date, or `never`.
 * Returns the ISO instant, null for never, or undefined when it cannot be read.
 */
export function parseExpiry(text: string, now: Date): string | null | undefined {
  if (text === 'never') return null;
  const m = /^(\d+)\s*([mhdwy])$/.exec(text.trim());
  if (m) {
    const n = Number(m[1]);
    return n > 0 ? new Date(now.getTime() + n * UNIT_MS[m[2]!]!).toISOString() : undefined;
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) || d.getTime() <= now.getTime() ? undefined : d.toISOString();
}
