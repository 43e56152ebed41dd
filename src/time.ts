/**
 * The durations and dates people type on the command line (`--expires 90d`,
 * `--since 2026-11-30`). Strict: `2026-02-31` or `2026-11-30junk` is an
 * error, never a silently different day.
 */
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

/** `30m`, `12h`, `90d`, `2w`, `1y` in milliseconds; null when it is not one (or is zero). */
export function parseDuration(text: string): number | null {
  const m = /^(\d+)\s*([mhdwy])$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return n > 0 ? n * UNIT_MS[m[2]!]! : null;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** `2026-11-30`, `2026-11-30T12:00Z`, `2026-11-30T12:00:00+01:00`; a date alone is midnight UTC. */
export function parseDate(text: string): Date | null {
  const m = ISO.exec(text.trim());
  if (!m) return null;
  const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1, 7).map((x) => x ?? undefined) as string[];
  // Date would roll 2026-02-31 over into March: check each field survives.
  const probe = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
  if (probe.getUTCMonth() !== Number(mo) - 1 || probe.getUTCDate() !== Number(d) || probe.getUTCHours() !== Number(h) || probe.getUTCMinutes() !== Number(mi)) return null;
  const date = new Date(m[4] === undefined ? `${y}-${mo}-${d}T00:00:00Z` : text.trim().replace(' ', 'T') + (m[7] === undefined ? 'Z' : ''));
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * What time it is, in ms since the epoch. Whatever changes with the clock
 * alone (a cooldown ending, an exemption expiring, a page going stale) reads
 * it through one of these, so tests can move time instead of waiting for it.
 */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
