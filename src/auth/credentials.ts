/**
 * What a client presents in `Authorization`: HTTP Basic (pip, twine, poetry,
 * uv), or a bare token as `Bearer`/`token` (warehouse accepts both).
 */
export type Credentials =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'token'; token: string };

/** null when there is no header; 'malformed' when it cannot be read. */
export function parseAuthorization(header: string | undefined): Credentials | null | 'malformed' {
  if (!header) return null;
  const space = header.indexOf(' ');
  if (space < 0) return 'malformed';
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer' || scheme === 'token') return value ? { kind: 'token', token: value } : 'malformed';
  if (scheme !== 'basic') return 'malformed';
  // RFC 7617: user-pass is UTF-8 (pip and requests send it so).
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
