/**
 * PEP 440 versions: validity, canonical form, equality and ordering.
 *
 * Validity is decided by @renovatebot/pep440 (`valid`), a port of
 * packaging's grammar. Ordering and the canonical string are computed here
 * from an exact parse, because the library falls short in ways an index
 * notices:
 * - it turns every number into a JS double, so `20230101123456789` equals
 *   `20230101123456788`, and a local segment `5e21` prints as `5e+21`;
 * - it classifies local segments with `Number()`, so `1e3`, `0x1f` and
 *   `Infinity` count as numbers (PEP 440: any segment with a letter is a string);
 * - `clean()` joins multi-segment locals with commas (`1.0+abc.5` → `1.0+abc,5`);
 * - `compare()` throws a TypeError on invalid versions.
 */
import { valid } from '@renovatebot/pep440';

// packaging's VERSION_PATTERN (PUG version-specifiers.rst, appendix), without
// the surrounding `\s*` that `packaging.version.Version` tolerates: a version
// taken from a filename or form must not carry whitespace.
const VERSION_RE =
  /^v?(?:(?<epoch>[0-9]+)!)?(?<release>[0-9]+(?:\.[0-9]+)*)(?:[-_.]?(?<preL>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?<preN>[0-9]+)?)?(?:-(?<postN1>[0-9]+)|[-_.]?(?<postL>post|rev|r)[-_.]?(?<postN2>[0-9]+)?)?(?:[-_.]?(?<devL>dev)[-_.]?(?<devN>[0-9]+)?)?(?:\+(?<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?$/i;

type PreLabel = 'a' | 'b' | 'rc';
const PRE_ORDER: Record<PreLabel, number> = { a: 0, b: 1, rc: 2 };

/** A valid version's parts, exact (bigint) and with PEP 440's spelling variants folded. */
export interface ParsedVersion {
  epoch: bigint;
  release: bigint[];
  pre: { label: PreLabel; n: bigint } | null;
  post: bigint | null;
  dev: bigint | null;
  /** digit-only segments as numbers, the rest lowercased */
  local: (bigint | string)[] | null;
}

function preLabel(raw: string): PreLabel {
  switch (raw.toLowerCase()) {
    case 'a': case 'alpha': return 'a';
    case 'b': case 'beta': return 'b';
    default: return 'rc'; // c, rc, pre, preview
  }
}

function num(raw: string | undefined): bigint {
  return raw === undefined ? 0n : BigInt(raw);
}

/** The parts of a valid version (no surrounding whitespace allowed); null if invalid. */
export function parseVersion(v: string): ParsedVersion | null {
  if (valid(v) === null) return null;
  const g = VERSION_RE.exec(v)?.groups;
  // Both regexes implement the same grammar; if they ever disagree, "invalid"
  // is the safe answer.
  if (g === undefined || g.release === undefined) return null;
  const postN = g.postN1 ?? g.postN2;
  return {
    epoch: num(g.epoch),
    release: g.release.split('.').map((n) => BigInt(n)),
    pre: g.preL === undefined ? null : { label: preLabel(g.preL), n: num(g.preN) },
    post: g.postL !== undefined || postN !== undefined ? num(postN) : null,
    dev: g.devL === undefined ? null : num(g.devN),
    local: g.local === undefined ? null
      : g.local.split(/[-_.]/).map((s) => (/^[0-9]+$/.test(s) ? BigInt(s) : s.toLowerCase())),
  };
}

function sign(a: bigint | number | string, b: bigint | number | string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareSeq<T>(a: readonly T[], b: readonly T[], cmp: (x: T, y: T) => number): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = cmp(a[i] as T, b[i] as T);
    if (c !== 0) return c;
  }
  return sign(a.length, b.length);
}

function trimTrailingZeros(release: bigint[]): bigint[] {
  let end = release.length;
  while (end > 0 && release[end - 1] === 0n) end--;
  return release.slice(0, end);
}

// packaging's _cmpkey: a dev release without pre or post sorts before every
// pre-release of its release (1.0.dev0 < 1.0a0); no pre sorts after all pres.
function preKey(v: ParsedVersion): [number, number, bigint] {
  if (v.pre !== null) return [0, PRE_ORDER[v.pre.label], v.pre.n];
  return v.post === null && v.dev !== null ? [-1, 0, 0n] : [1, 0, 0n];
}

function compareLocalSegment(a: bigint | string, b: bigint | string): number {
  const aNum = typeof a === 'bigint';
  const bNum = typeof b === 'bigint';
  if (aNum !== bNum) return aNum ? 1 : -1; // numeric beats alphanumeric
  return sign(a, b);
}

/** PEP 440 order of two parsed versions: -1, 0 or 1. */
export function compareParsed(a: ParsedVersion, b: ParsedVersion): number {
  return sign(a.epoch, b.epoch)
    || compareSeq(trimTrailingZeros(a.release), trimTrailingZeros(b.release), sign)
    || compareSeq(preKey(a), preKey(b), sign)
    // no post sorts before any post; no dev sorts after any dev
    || compareSeq([a.post === null ? 0 : 1, a.post ?? 0n], [b.post === null ? 0 : 1, b.post ?? 0n], sign)
    || compareSeq([a.dev === null ? 1 : 0, a.dev ?? 0n], [b.dev === null ? 1 : 0, b.dev ?? 0n], sign)
    || (a.local === null || b.local === null
      ? sign(a.local === null ? 0 : 1, b.local === null ? 0 : 1)
      : compareSeq(a.local, b.local, compareLocalSegment));
}

/** Whether `v` is a valid PEP 440 version (no surrounding whitespace allowed). */
export function isValidVersion(v: string): boolean {
  return parseVersion(v) !== null;
}

/**
 * The normalized form Python's `str(packaging.version.Version(v))` prints
 * (`1.0-1` → `1.0.post1`, `v1.0RC1` → `1.0rc1`, `1.0+ABC-1` → `1.0+abc.1`);
 * trailing zeros are kept (`1.0.0` stays `1.0.0`). Null if invalid.
 */
export function canonicalVersion(v: string): string | null {
  const p = parseVersion(v);
  if (p === null) return null;
  let s = p.epoch === 0n ? '' : `${p.epoch}!`;
  s += p.release.join('.');
  if (p.pre !== null) s += `${p.pre.label}${p.pre.n}`;
  if (p.post !== null) s += `.post${p.post}`;
  if (p.dev !== null) s += `.dev${p.dev}`;
  if (p.local !== null) s += `+${p.local.join('.')}`;
  return s;
}

/**
 * PEP 440 equality (`1.0 == 1.0.0`, `1.0-1 == 1.0.post1`); exact string
 * equality when either side is not a valid version.
 */
export function versionsEqual(a: string, b: string): boolean {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (pa === null || pb === null) return a === b;
  return compareParsed(pa, pb) === 0;
}

function compareMaybeParsed(a: string, pa: ParsedVersion | null, b: string, pb: ParsedVersion | null): number {
  // As warehouse does with packaging_legacy: legacy versions sort before all valid ones.
  if (pa === null && pb === null) return sign(a, b);
  if (pa === null) return -1;
  if (pb === null) return 1;
  return compareParsed(pa, pb);
}

/**
 * Total order for sorting: invalid (legacy) versions first, ordered by
 * string; then valid versions in PEP 440 order. Returns -1, 0 or 1; 0 for
 * PEP 440-equal versions such as `1.0` and `1.0.0`.
 */
export function compareVersions(a: string, b: string): number {
  return compareMaybeParsed(a, parseVersion(a), b, parseVersion(b));
}

/**
 * Ascending, without exact duplicates. PEP 440-equal spellings (`1.0`,
 * `1.0.0`) are all kept, ordered by string so the output is deterministic.
 */
export function sortVersions(vs: Iterable<string>): string[] {
  // Parse once per version, not once per comparison: index pages can list thousands.
  const keyed = [...new Set(vs)].map((v) => ({ v, p: parseVersion(v) }));
  keyed.sort((x, y) => compareMaybeParsed(x.v, x.p, y.v, y.p) || sign(x.v, y.v));
  return keyed.map((k) => k.v);
}

/** Dev releases and a/b/rc pre-releases (`1.0.post1.dev0` included); false for invalid versions. */
export function isPrerelease(v: string): boolean {
  const p = parseVersion(v);
  return p !== null && (p.pre !== null || p.dev !== null);
}
