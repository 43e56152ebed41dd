/**
 * PEP 440 version specifiers (`>=1.0,!=1.3.*,<2`): parsing, matching, and
 * the pre-release rules.
 *
 * Grammar and operator semantics follow packaging 26.2 (`Specifier`,
 * `SpecifierSet`), which implements the current version-specifiers spec.
 * Versions are parsed and ordered by ./versions.ts (exact, bigint).
 *
 * @renovatebot/pep440's `satisfies` is not used for matching: besides the
 * number and local-segment problems listed in versions.ts, it accepts
 * specifiers packaging refuses (`==1.0a1.*`, empty items are split naively),
 * and its pre-release handling is a single flag. Its `valid` still decides
 * version validity, through versions.ts.
 *
 * Deliberate differences from packaging, each pinned by a test:
 * - `~=` takes its prefix from the parsed version's release segment, as the
 *   spec says (`~=2.2.RC1` is `>=2.2rc1, ==2.*`). packaging's `contains` splits
 *   the raw string and keeps odd spellings (`2.2.RC1`, `2.2.c1`, `2.2.r1`) as
 *   release parts, so it reads `~=2.2.RC1` as `==2.2.*`.
 * - Non-ASCII letters never match the ASCII keywords (`poſt`); Python's
 *   IGNORECASE would let a few through the `~=` branch.
 */
import { compareParsed, parseVersion, type ParsedVersion } from './versions.ts';

export type SpecifierOperator = '~=' | '==' | '!=' | '<=' | '>=' | '<' | '>' | '===';

export interface Specifier {
  readonly operator: SpecifierOperator;
  /** As written, without surrounding whitespace (`1.0.*`, `v1.0`, or anything after `===`). */
  readonly version: string;
}

export interface SpecifierSet {
  readonly specifiers: readonly Specifier[];
}

// packaging's Specifier._specifier_regex_str, translated from VERBOSE mode.
// Used with the `i` flag; no `u` flag, so only ASCII letters fold.
const PRE = '(?:[-_.]?(?:alpha|beta|preview|pre|a|b|c|rc)[-_.]?[0-9]*)?';
const POST = '(?:(?:-[0-9]+)|(?:[-_.]?(?:post|rev|r)[-_.]?[0-9]*))?';
const DEV = '(?:[-_.]?dev[-_.]?[0-9]*)?';
const LOCAL = '(?:\\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?';
/**
 * One specifier, as packaging's tokenizer matches it inside a requirement
 * (a prefix match: what follows is the caller's business).
 */
export const SPECIFIER_PATTERN = '(?:'
  + '(?:===\\s*[^\\s;)]*)'
  + `|(?:(?:==|!=)\\s*v?(?:[0-9]+!)?[0-9]+(?:\\.[0-9]+)*(?:\\.\\*|${PRE}${POST}${DEV}${LOCAL})?)`
  + `|(?:~=\\s*v?(?:[0-9]+!)?[0-9]+(?:\\.[0-9]+)+${PRE}${POST}${DEV})`
  + `|(?:(?:<=|>=|<|>)\\s*v?(?:[0-9]+!)?[0-9]+(?:\\.[0-9]+)*${PRE}${POST}${DEV})`
  + ')';

const SPECIFIER_FULL = new RegExp(`^\\s*${SPECIFIER_PATTERN}\\s*$`, 'i');

/** Python's str.strip() for the whitespace a specifier can carry. */
function strip(s: string): string {
  return s.replace(/^\s+|\s+$/g, '');
}

/** One specifier (`>= 1.0` → `>=`, `1.0`), or null where packaging raises InvalidSpecifier. */
export function parseSpecifier(text: string): Specifier | null {
  if (!SPECIFIER_FULL.test(text)) return null;
  const s = strip(text);
  const opLen = s.startsWith('===') ? 3 : /^(~=|==|!=|<=|>=)/.test(s) ? 2 : 1;
  return { operator: s.slice(0, opLen) as SpecifierOperator, version: strip(s.slice(opLen)) };
}

/**
 * A comma-separated set; empty items are skipped, as packaging does
 * (`>=1,,<2` and a trailing comma are valid). Null if any item is invalid.
 */
export function parseSpecifierSet(text: string): SpecifierSet | null {
  const specifiers: Specifier[] = [];
  for (const item of text.split(',')) {
    if (strip(item) === '') continue;
    const spec = parseSpecifier(item);
    if (spec === null) return null;
    specifiers.push(spec);
  }
  return { specifiers };
}

export function specifierToString(spec: Specifier): string {
  return `${spec.operator}${spec.version}`;
}

// The spec version of any operator but `===` is valid: the grammar above
// only admits valid versions (and `X.*` for ==/!=).
function specVersion(spec: Specifier): ParsedVersion {
  const raw = spec.version.endsWith('.*') ? spec.version.slice(0, -2) : spec.version;
  const v = parseVersion(raw);
  if (v === null) throw new Error(`unreachable: specifier version ${JSON.stringify(raw)} is invalid`);
  return v;
}

function trimmedRelease(release: readonly bigint[]): bigint[] {
  let end = release.length;
  while (end > 1 && release[end - 1] === 0n) end--;
  return release.slice(0, end);
}

function versionKey(v: ParsedVersion, trimZeros: boolean): string {
  const release = trimZeros ? trimmedRelease(v.release) : v.release;
  let s = v.epoch === 0n ? '' : `${v.epoch}!`;
  s += release.join('.');
  if (v.pre !== null) s += `${v.pre.label}${v.pre.n}`;
  if (v.post !== null) s += `.post${v.post}`;
  if (v.dev !== null) s += `.dev${v.dev}`;
  if (v.local !== null) s += `+${v.local.join('.')}`;
  return s;
}

/** packaging's Specifier equality key: `==1.0` equals `== 1.0.0`, `~=1.0` does not equal `~=1.0.0`. */
function canonicalKey(spec: Specifier): string {
  if (spec.operator === '===' || spec.version.endsWith('.*')) return `${spec.operator}${spec.version}`;
  return `${spec.operator}${versionKey(specVersion(spec), spec.operator !== '~=')}`;
}

/**
 * packaging's `str(SpecifierSet)`: items sorted as strings, PEP 440-equal
 * duplicates dropped (the first in sorted order stays), joined by commas.
 */
export function specifierSetToString(set: SpecifierSet): string {
  const sorted = set.specifiers.map(specifierToString).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const seen = new Set<string>();
  const out: string[] = [];
  for (const text of sorted) {
    const key = canonicalKey(parseSpecifier(text) as Specifier);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(text);
  }
  return out.join(',');
}

// --- Matching one specifier ---------------------------------------------------

function isPre(v: ParsedVersion): boolean {
  return v.pre !== null || v.dev !== null;
}

function withParts(v: ParsedVersion, parts: Partial<ParsedVersion>): ParsedVersion {
  return { ...v, ...parts };
}

function publicOf(v: ParsedVersion): ParsedVersion {
  return v.local === null ? v : withParts(v, { local: null });
}

function eq(a: ParsedVersion, b: ParsedVersion): boolean {
  return compareParsed(a, b) === 0;
}

// ==X.*: same epoch, and the release padded with zeros starts with X's release.
// Pre, post, dev and local parts of the candidate do not matter.
function matchesPrefix(v: ParsedVersion, prefix: ParsedVersion): boolean {
  if (v.epoch !== prefix.epoch) return false;
  return prefix.release.every((n, i) => (v.release[i] ?? 0n) === n);
}

function matchesEqual(v: ParsedVersion, spec: Specifier): boolean {
  const sv = specVersion(spec);
  if (spec.version.endsWith('.*')) return matchesPrefix(v, sv);
  // Without a local label in the specifier, the candidate's local label is ignored.
  return eq(sv.local === null ? publicOf(v) : v, sv);
}

function matchesOperator(v: ParsedVersion, spec: Specifier): boolean {
  switch (spec.operator) {
    case '==': return matchesEqual(v, spec);
    case '!=': return !matchesEqual(v, spec);
    case '<=': return compareParsed(publicOf(v), specVersion(spec)) <= 0;
    case '>=': return compareParsed(publicOf(v), specVersion(spec)) >= 0;
    case '<': {
      const sv = specVersion(spec);
      if (compareParsed(v, sv) >= 0) return false;
      // <V excludes V's own pre-releases (from V.dev0 on) unless V is one.
      return isPre(sv) || !isPre(v) || compareParsed(v, withParts(sv, { dev: 0n, local: null })) < 0;
    }
    case '>': {
      const sv = specVersion(spec);
      if (compareParsed(v, sv) <= 0) return false;
      // >V excludes V's post-releases unless V is one, and V's local versions.
      if (sv.post === null && v.post !== null && eq(withParts(v, { post: null, dev: null, local: null }), sv)) return false;
      return !(v.local !== null && eq(publicOf(v), sv));
    }
    case '~=': {
      // ~=V is >=V together with ==P.* where P is V's release without its last part.
      const sv = specVersion(spec);
      const prefix = withParts(sv, { release: sv.release.slice(0, -1), pre: null, post: null, dev: null, local: null });
      return compareParsed(publicOf(v), sv) >= 0 && matchesPrefix(v, prefix);
    }
    case '===': return false; // handled on the raw string by the caller
  }
}

/** Python's Version() tolerates surrounding whitespace; the raw string is kept for `===`. */
function parseCandidate(version: string): ParsedVersion | null {
  return parseVersion(strip(version));
}

/**
 * Whether `version` satisfies one specifier, pre-release rules aside.
 * `===` compares strings case-insensitively and is the only operator an
 * invalid version can satisfy.
 */
function satisfiesOne(raw: string, parsed: ParsedVersion | null, spec: Specifier): boolean {
  if (spec.operator === '===') return raw.toLowerCase() === spec.version.toLowerCase();
  return parsed !== null && matchesOperator(parsed, spec);
}

/**
 * Whether the specifier names a pre-release, which lets the set accept
 * pre-releases (packaging 26's `Specifier.prereleases`): any operator but
 * `!=` and `==X.*` whose version is a pre-release; `===` only with a valid version.
 */
function impliesPrereleases(spec: Specifier): boolean {
  if (spec.operator === '!=' || (spec.operator === '==' && spec.version.endsWith('.*'))) return false;
  const v = spec.operator === '===' ? parseVersion(spec.version) : specVersion(spec);
  return v !== null && isPre(v);
}

/** Whether any specifier of the set names a pre-release (`>=2.0b1`). */
export function setImpliesPrereleases(set: SpecifierSet): boolean {
  return set.specifiers.some(impliesPrereleases);
}

function asSet(set: SpecifierSet | string): SpecifierSet {
  if (typeof set !== 'string') return set;
  const parsed = parseSpecifierSet(set);
  if (parsed === null) throw new TypeError(`invalid specifier set: ${JSON.stringify(set)}`);
  return parsed;
}

export interface PrereleaseOption {
  /**
   * true: pre-releases (and dev releases) may match; false: they never do;
   * omitted: only when the set itself names a pre-release (`>=2.0b1`).
   */
  prereleases?: boolean;
}

/**
 * Whether `version` is in the set: every specifier matches, and a
 * pre-release only as `prereleases` allows. This is packaging's
 * `SpecifierSet.contains` as pip 23 uses it (packaging 21.3–25); packaging 26
 * made the omitted case accept a lone pre-release, which is `filterVersions`'
 * business here, where "alone" has a meaning.
 *
 * An invalid version matches only a set of `===` specifiers that all equal it.
 * A string set is parsed first and throws TypeError if invalid.
 */
export function matchesSpecifier(version: string, set: SpecifierSet | string, opts: PrereleaseOption = {}): boolean {
  const s = asSet(set);
  const parsed = parseCandidate(version);
  if (parsed !== null && isPre(parsed) && !(opts.prereleases ?? setImpliesPrereleases(s))) return false;
  return s.specifiers.every((spec) => satisfiesOne(version, parsed, spec));
}

export interface FilterOptions<T> extends PrereleaseOption {
  /** The version of an item; items are version strings by default. */
  key?: (item: T) => string;
  /**
   * When `prereleases` is omitted and the set names no pre-release, whether
   * matching pre-releases are returned if no final release matches:
   * - 'empty-set' (default): only for an empty set, as pip 23 does (packaging
   *   21.3–25 `SpecifierSet.filter`): `foo` falls back to `2.0b1`, `foo>=1` does not;
   * - 'any-set': for any set, as packaging 26 and PEP 440's wording ("...or if the
   *   only available version that satisfies the version specifier is a pre-release").
   */
  fallback?: 'empty-set' | 'any-set';
}

/** The items whose version is in the set, in their order, with PEP 440's pre-release fallback. */
export function filterVersions<T = string>(items: Iterable<T>, set: SpecifierSet | string, opts: FilterOptions<T> = {}): T[] {
  const s = asSet(set);
  const key = opts.key ?? ((item: T) => item as unknown as string);
  const allowPre = opts.prereleases ?? (setImpliesPrereleases(s) ? true : undefined);
  const finals: T[] = [];
  const pres: T[] = [];
  for (const item of items) {
    const raw = key(item);
    const parsed = parseCandidate(raw);
    if (!s.specifiers.every((spec) => satisfiesOne(raw, parsed, spec))) continue;
    // An invalid version (matched by ===) cannot be told a pre-release: it counts as final.
    if (parsed !== null && isPre(parsed)) {
      if (allowPre === true) finals.push(item);
      else if (allowPre === undefined) pres.push(item);
    } else {
      finals.push(item);
    }
  }
  if (finals.length > 0 || allowPre !== undefined) return finals;
  const fallback = opts.fallback ?? 'empty-set';
  return fallback === 'any-set' || s.specifiers.length === 0 ? pres : [];
}
