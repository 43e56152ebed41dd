/**
 * PEP 751 lock files (`pylock.toml`) as input: parsing and validation, then
 * what a lock installs on one target. Pure: the text comes in, the choice
 * goes out; matching the chosen files against a repository is the
 * wheelhouse layer's business (src/wheelhouse/plan.ts `planFromLock`).
 *
 * A lock is exact: nothing is resolved. For a target, as the spec's
 * "Installation" steps and packaging's `Pylock.select()` (pip 26.1's
 * `-r pylock.toml`) do:
 * - the lock's `requires-python` must admit the target's Python, and one of
 *   its `environments` must hold for it, else the target is refused;
 * - a package whose `marker` does not hold is skipped (markers see `extras`
 *   as empty and `dependency_groups` as the lock's `default-groups`, the
 *   spec's defaults); a selected package's `requires-python` must admit the
 *   target, and no two selected packages may share a name;
 * - the file is the best of the package's `wheels` by the target's tag order
 *   (`bestWheel`, pip's ranking); the `sdist` only when sdists are allowed
 *   (packaging falls back to it silently; pydepot asks for --allow-sdist, as
 *   for requirements); `vcs`, `directory` and `archive` packages are refused
 *   by name, since a wheelhouse holds index files only.
 *
 * Validation follows packaging.pylock (the reference pip uses): the same
 * required keys and types, normalized names, file names that parse and agree
 * with the package's name and version, at least one hash per file. Stricter
 * in one point: a package that lists files must give its `version` (the spec
 * says SHOULD), since a pin without one cannot be written or checked.
 * Every problem is one line naming the file and the key
 * (`pylock.toml: packages[2].wheels[0].hashes: ...`), and all are reported at once.
 */
import { parse as parseToml, TomlDate, TomlError } from 'smol-toml';
import { InvalidRequirement } from '../errors.ts';
import { parseDistFilename } from '../pypi/filenames.ts';
import { isValidProjectName, normalizeName } from '../pypi/names.ts';
import { matchesSpecifier, parseSpecifierSet } from '../pypi/specifiers.ts';
import { isValidVersion, parseVersion, versionsEqual } from '../pypi/versions.ts';
import { Marker } from './markers.ts';
import { bestWheel, type Target } from './tags.ts';

/** One file a package lists: a wheel of `wheels` or its `sdist`. */
export interface LockedFile {
  /** Where it is in the lock, for messages: `packages[2].wheels[0]`. */
  key: string;
  kind: 'wheel' | 'sdist';
  /** `name`, else the last part of `path` or `url`. */
  filename: string;
  url: string | null;
  path: string | null;
  size: number | null;
  uploadTime: Date | null;
  /** Algorithm (lowercase) → digest; hex digests lowercased. */
  hashes: Readonly<Record<string, string>>;
}

export type DirectSource = 'vcs' | 'directory' | 'archive';

export interface LockedPackage {
  /** `packages[2]`. */
  key: string;
  /** Normalized, as the spec requires. */
  name: string;
  version: string | null;
  marker: Marker | null;
  requiresPython: string | null;
  /** `index`: where the files were found (informational; pydepot reads its own repository). */
  index: string | null;
  /** A source that is not an index file, or null when the package lists `wheels`/`sdist`. */
  direct: DirectSource | null;
  wheels: LockedFile[];
  sdist: LockedFile | null;
}

export interface Pylock {
  /** The lock's file name, for messages. */
  name: string;
  lockVersion: string;
  environments: Marker[] | null;
  requiresPython: string | null;
  extras: string[];
  dependencyGroups: string[];
  defaultGroups: string[];
  createdBy: string;
  packages: LockedPackage[];
  /** Unknown keys, a newer minor lock-version: printed, not fatal (the spec's SHOULD warn). */
  warnings: string[];
}

/** A file name PEP 751 gives a lock: `pylock.toml` or `pylock.<name>.toml` (the name without dots). */
export function isPylockFilename(path: string): boolean {
  const base = path.split(/[\\/]/).at(-1) ?? '';
  return base === 'pylock.toml' || /^pylock\.[^.]+\.toml$/.test(base);
}

// --- Reading the TOML -------------------------------------------------------------

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a datetime';
  if (isTable(v)) return 'a table';
  if (typeof v === 'number' || typeof v === 'bigint') return 'a number';
  return `a ${typeof v}`;
}

/**
 * Where a key is, for messages: the subject (`packages[2] (numpy)`, '' at
 * the top) and the path of keys under it (`wheels[0]`).
 */
interface Place {
  subject: string;
  prefix: string;
}

const TOP: Place = { subject: '', prefix: '' };
const under = (p: Place, key: string): Place => ({ subject: p.subject, prefix: keyOf(p, key) });
const keyOf = (p: Place, key: string): string => (p.prefix ? `${p.prefix}.${key}` : key);

/** Collects the problems of one lock, each one line naming the file, the package and the key. */
class Reader {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  constructor(private readonly file: string) {}

  private line(p: Place, key: string, text: string): string {
    const head = p.subject ? `${this.file}: ${p.subject}: ` : `${this.file}: `;
    const k = key === '' ? p.prefix : keyOf(p, key);
    return `${head}${k ? `${k} ` : ''}${text}`;
  }

  problem(p: Place, key: string, text: string): void {
    this.problems.push(this.line(p, key, text));
  }

  warn(p: Place, key: string, text: string): void {
    this.warnings.push(this.line(p, key, text));
  }

  /** Warns of keys the spec does not define (a typo, or a newer lock-version). */
  unknownKeys(t: Table, p: Place, known: readonly string[]): void {
    for (const k of Object.keys(t)) if (!known.includes(k)) this.warn(p, k, 'is not a PEP 751 key; ignored');
  }

  string(t: Table, p: Place, key: string, required: boolean): string | null {
    const v = t[key];
    if (v === undefined) {
      if (required) this.problem(p, key, 'is missing (a required key)');
      return null;
    }
    if (typeof v !== 'string') {
      this.problem(p, key, `must be a string, not ${typeName(v)}`);
      return null;
    }
    return v;
  }

  strings(t: Table, p: Place, key: string): string[] | null {
    const v = t[key];
    if (v === undefined) return null;
    if (!Array.isArray(v)) {
      this.problem(p, key, `must be an array of strings, not ${typeName(v)}`);
      return null;
    }
    const bad = v.findIndex((x) => typeof x !== 'string');
    if (bad >= 0) {
      this.problem(p, `${key}[${bad}]`, `must be a string, not ${typeName(v[bad])}`);
      return null;
    }
    return v as string[];
  }

  table(t: Table, p: Place, key: string): Table | null {
    const v = t[key];
    if (v === undefined) return null;
    if (!isTable(v)) {
      this.problem(p, key, `must be a table, not ${typeName(v)}`);
      return null;
    }
    return v;
  }

  tables(t: Table, p: Place, key: string): Table[] | null {
    const v = t[key];
    if (v === undefined) return null;
    if (!Array.isArray(v)) {
      this.problem(p, key, `must be an array of tables, not ${typeName(v)}`);
      return null;
    }
    const bad = v.findIndex((x) => !isTable(x));
    if (bad >= 0) {
      this.problem(p, `${key}[${bad}]`, `must be a table, not ${typeName(v[bad])}`);
      return null;
    }
    return v as Table[];
  }

  marker(text: string | null, p: Place, key: string): Marker | null {
    if (text === null) return null;
    try {
      return Marker.parse(text);
    } catch (err) {
      if (!(err instanceof InvalidRequirement)) throw err;
      const head = `invalid marker '${text}': `;
      const reason = err.message.startsWith(head) ? err.message.slice(head.length) : err.message;
      this.problem(p, key, `'${text}' is not a valid marker: ${reason}`);
      return null;
    }
  }

  specifier(text: string | null, p: Place, key: string): string | null {
    if (text === null) return null;
    if (parseSpecifierSet(text) === null) {
      this.problem(p, key, `'${text}' is not a valid version specifier (as '>=3.9')`);
      return null;
    }
    return text;
  }
}

/** The last part of a path, with either separator (the spec allows POSIX separators in relative paths). */
const pathName = (path: string): string => path.split(/[\\/]/).at(-1) ?? '';

/** The last part of a URL's path, percent-decoded as pip's Link.filename does. */
function urlName(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url.split(/[?#]/)[0] ?? '';
  }
  const last = path.split('/').at(-1) ?? '';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

const FILE_KEYS = ['name', 'upload-time', 'url', 'path', 'size', 'hashes'] as const;

/** One of `wheels` or the `sdist`; `p` is its place (`packages[2] (numpy)`, `wheels[0]`), `key` its plain path for later messages. */
function readFile(r: Reader, t: Table, p: Place, key: string, kind: 'wheel' | 'sdist', pkg: { name: string | null; version: string | null }): LockedFile | null {
  const before = r.problems.length;
  r.unknownKeys(t, p, FILE_KEYS);
  const name = r.string(t, p, 'name', false);
  const url = r.string(t, p, 'url', false);
  const path = r.string(t, p, 'path', false);
  if (!url && !path) r.problem(p, '', "gives neither 'url' nor 'path' (one is required)");

  let size: number | null = null;
  if (t.size !== undefined) {
    if (typeof t.size === 'number' && Number.isSafeInteger(t.size) && t.size >= 0) size = t.size;
    else r.problem(p, 'size', `must be a whole number of bytes, not ${typeof t.size === 'number' ? t.size : typeName(t.size)}`);
  }

  let uploadTime: Date | null = null;
  const at = t['upload-time'];
  if (at !== undefined) {
    if (at instanceof TomlDate && at.isDateTime()) uploadTime = new Date(at.getTime());
    else r.problem(p, 'upload-time', `must be a TOML datetime (unquoted, as 2025-01-25T11:30:10Z), not ${at instanceof Date ? 'a date or a time alone' : typeName(at)}`);
  }

  const hashes: Record<string, string> = {};
  if (t.hashes === undefined) r.problem(p, 'hashes', 'is missing (a required key: at least one hash, sha256 recommended)');
  const h = r.table(t, p, 'hashes');
  if (h) {
    if (Object.keys(h).length === 0) r.problem(p, 'hashes', 'is empty (at least one hash is required)');
    for (const [alg, digest] of Object.entries(h)) {
      if (typeof digest !== 'string') {
        r.problem(p, `hashes.${alg}`, `must be a string, not ${typeName(digest)}`);
        continue;
      }
      const a = alg.toLowerCase();
      const hex = /^[0-9a-f]+$/i.test(digest) ? digest.toLowerCase() : digest;
      if (a === 'sha256' && !/^[0-9a-f]{64}$/.test(hex)) {
        r.problem(p, `hashes.${alg}`, `'${digest}' is not a sha256 digest (64 hex digits)`);
        continue;
      }
      hashes[a] = hex;
    }
  }

  const filename = name ?? (path ? pathName(path) : null) ?? (url ? urlName(url) : null) ?? '';
  if (filename === '' && (url || path)) r.problem(p, '', "has a file name that cannot be told from its url or path: give 'name'");
  if (filename !== '') {
    let parsed;
    try {
      parsed = parseDistFilename(filename);
    } catch (err) {
      r.problem(p, '', `'${filename}' is not ${kind === 'wheel' ? 'a wheel' : 'an sdist'} file name (${(err as Error).message})`);
    }
    if (parsed) {
      if (parsed.kind !== kind) {
        r.problem(p, '', `'${filename}' is ${parsed.kind === 'wheel' ? 'a wheel' : 'an sdist'}, listed as ${kind === 'wheel' ? 'a wheel' : 'the sdist'}`);
      } else if (pkg.name !== null && parsed.normalizedName !== pkg.name) {
        r.problem(p, '', `'${filename}' is a file of ${parsed.normalizedName}, not of ${pkg.name}`);
      } else if (pkg.version !== null && !versionsEqual(parsed.version, pkg.version)) {
        r.problem(p, '', `'${filename}' is version ${parsed.version}, not the package's ${pkg.version}`);
      }
    }
  }
  if (r.problems.length > before) return null;
  return { key, kind, filename, url, path, size, uploadTime, hashes };
}

const PACKAGE_KEYS = [
  'name', 'version', 'marker', 'requires-python', 'dependencies', 'vcs', 'directory', 'archive', 'index', 'sdist', 'wheels',
  'attestation-identities', 'tool',
] as const;

function readPackage(r: Reader, t: Table, key: string): LockedPackage | null {
  const before = r.problems.length;
  const at: Place = { subject: key, prefix: '' };
  let name = r.string(t, at, 'name', true);
  if (name !== null && !(isValidProjectName(name) && normalizeName(name) === name)) {
    r.problem(at, 'name', `'${name}' is not a normalized project name${isValidProjectName(name) ? ` (write '${normalizeName(name)}')` : ''}`);
    name = null;
  }
  const p: Place = { subject: name === null ? key : `${key} (${name})`, prefix: '' };
  r.unknownKeys(t, p, PACKAGE_KEYS);
  let version = r.string(t, p, 'version', false);
  if (version !== null && !isValidVersion(version)) {
    r.problem(p, 'version', `'${version}' is not a PEP 440 version`);
    version = null;
  }
  const marker = r.marker(r.string(t, p, 'marker', false), p, 'marker');
  const requiresPython = r.specifier(r.string(t, p, 'requires-python', false), p, 'requires-python');
  const index = r.string(t, p, 'index', false);
  r.tables(t, p, 'dependencies');
  r.table(t, p, 'tool');
  const identities = r.tables(t, p, 'attestation-identities');
  identities?.forEach((a, i) => r.string(a, under(p, `attestation-identities[${i}]`), 'kind', true));

  const direct = (['vcs', 'directory', 'archive'] as const).filter((k) => r.table(t, p, k) !== null);
  const wheelTables = r.tables(t, p, 'wheels') ?? [];
  const sdistTable = r.table(t, p, 'sdist');
  const hasFiles = wheelTables.length > 0 || sdistTable !== null;
  if (hasFiles && direct.length > 0) r.problem(p, '', `lists wheels or an sdist and also ${direct.join(', ')}: a package has one source`);
  if (!hasFiles && direct.length !== 1) {
    r.problem(p, '', direct.length === 0 ? 'lists no file: give wheels, an sdist, or one of vcs, directory, archive' : `has ${direct.join(' and ')}: a package has one source`);
  }
  if (hasFiles && t.version === undefined) r.problem(p, 'version', 'is missing: pydepot needs the version of every package that lists files (it pins it)');

  const pkg = { name, version };
  const wheels = wheelTables.map((w, i) => readFile(r, w, under(p, `wheels[${i}]`), `${key}.wheels[${i}]`, 'wheel', pkg));
  const sdist = sdistTable ? readFile(r, sdistTable, under(p, 'sdist'), `${key}.sdist`, 'sdist', pkg) : null;
  if (r.problems.length > before || name === null) return null;
  return {
    key, name, version, marker, requiresPython, index,
    direct: hasFiles ? null : (direct[0] ?? null),
    wheels: wheels as LockedFile[],
    sdist,
  };
}

const TOP_KEYS = ['lock-version', 'environments', 'requires-python', 'extras', 'dependency-groups', 'default-groups', 'created-by', 'packages', 'tool'] as const;

/** The one line of a TOML syntax error, with its position. */
function syntaxError(file: string, err: TomlError): InvalidRequirement {
  const reason = (err.message.split('\n')[0] ?? 'syntax error').replace(/^Invalid TOML document: /, '');
  return new InvalidRequirement(`${file}:${err.line}:${err.column}: not valid TOML (${reason})`);
}

/**
 * Parses and validates a lock. Throws InvalidRequirement with every problem
 * found (TOML syntax and an unsupported lock-version stop at once, since
 * nothing else can be read then).
 */
export function parsePylock(text: string, file = 'pylock.toml'): Pylock {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    if (err instanceof TomlError) throw syntaxError(file, err);
    throw err;
  }
  const r = new Reader(file);

  // The version first: under another major version, no other key means what this reader thinks.
  const lockVersion = r.string(doc, TOP, 'lock-version', true);
  if (lockVersion === null) throw new InvalidRequirement(r.problems);
  const v = parseVersion(lockVersion);
  if (v === null) throw new InvalidRequirement(`${file}: lock-version '${lockVersion}' is not a version (PEP 751's is '1.0')`);
  // packaging's rule: 1 <= lock-version < 2.
  if (v.epoch !== 0n || v.release[0] !== 1n || v.pre !== null || v.dev !== null) {
    throw new InvalidRequirement(`${file}: lock-version ${lockVersion} is not supported (pydepot reads PEP 751 lock-version 1.x)`);
  }
  if (!versionsEqual(lockVersion, '1.0')) r.warn(TOP, 'lock-version', `${lockVersion} is newer than the 1.0 pydepot knows; keys it does not know are ignored`);

  r.unknownKeys(doc, TOP, TOP_KEYS);
  const createdBy = r.string(doc, TOP, 'created-by', true);
  const envTexts = r.strings(doc, TOP, 'environments');
  const environments = envTexts === null ? null : envTexts.map((e, i) => r.marker(e, TOP, `environments[${i}]`));
  const requiresPython = r.specifier(r.string(doc, TOP, 'requires-python', false), TOP, 'requires-python');
  const extras = r.strings(doc, TOP, 'extras') ?? [];
  extras.forEach((e, i) => {
    if (!(isValidProjectName(e) && normalizeName(e) === e)) r.problem(TOP, `extras[${i}]`, `'${e}' is not a normalized extra name`);
  });
  const dependencyGroups = r.strings(doc, TOP, 'dependency-groups') ?? [];
  const defaultGroups = r.strings(doc, TOP, 'default-groups') ?? [];
  r.table(doc, TOP, 'tool');
  const packageTables = r.tables(doc, TOP, 'packages');
  if (doc.packages === undefined) r.problem(TOP, 'packages', 'is missing (a required key: the [[packages]] array)');
  const packages = (packageTables ?? []).map((t, i) => readPackage(r, t, `packages[${i}]`));

  if (r.problems.length > 0) throw new InvalidRequirement(r.problems);
  return {
    name: file,
    lockVersion,
    environments: environments as Marker[] | null,
    requiresPython,
    extras,
    dependencyGroups,
    defaultGroups,
    createdBy: createdBy as string,
    packages: packages as LockedPackage[],
    warnings: r.warnings,
  };
}

// --- What a lock installs on a target -------------------------------------------

export interface LockSelection {
  package: LockedPackage;
  /** A wheel, or the sdist when sdists are allowed and no wheel fits. */
  file: LockedFile;
}

export interface SelectOptions {
  /** The sdist where no wheel fits (the node then builds it); else that package is a reason. */
  allowSdist?: boolean;
}

/** `name 1.0` or `packages[3] (name)` for a package without a version. */
const label = (p: LockedPackage): string => (p.version === null ? `${p.key} (${p.name})` : `${p.name} ${p.version}`);

/** Runs a marker evaluation that can fail (a comparison with no meaning) as a reason. */
function holds(evaluate: () => boolean, reasons: string[], where: string): boolean {
  try {
    return evaluate();
  } catch (err) {
    if (!(err instanceof InvalidRequirement)) throw err;
    reasons.push(`${where}: ${err.message}`);
    return false;
  }
}

const admits = (spec: string, python: string): boolean => matchesSpecifier(python, spec, { prereleases: true });

/**
 * What `lock` installs on `target`: one file per selected package, in the
 * lock's order. `reasons` (one line each) says why the lock cannot be
 * installed there; when it is not empty, `selected` is not to be used.
 */
export function selectFromLock(lock: Pylock, target: Target, opts: SelectOptions = {}): { selected: LockSelection[]; reasons: string[] } {
  const reasons: string[] = [];
  const python = target.env.python_full_version || target.env.python_version;
  if (lock.requiresPython !== null && !admits(lock.requiresPython, python)) {
    reasons.push(`${lock.name} requires Python ${lock.requiresPython}, and ${target.name} has ${python}`);
  }
  if (lock.environments !== null && lock.environments.length > 0) {
    const covered = lock.environments.some((m, i) => holds(() => m.evaluate(target.env), reasons, `${lock.name}: environments[${i}]`));
    if (!covered) {
      reasons.push(`${lock.name} does not cover ${target.name}: none of its environments holds there (${lock.environments.map((m) => `'${m.toString()}'`).join(', ')}); lock for this target too`);
    }
  }
  if (reasons.length > 0) return { selected: [], reasons };

  const context = { extras: [] as string[], dependencyGroups: lock.defaultGroups };
  const chosen = new Map<string, LockedPackage>();
  for (const p of lock.packages) {
    if (p.marker && !holds(() => p.marker!.evaluateInLockFile(target.env, context), reasons, `${lock.name}: ${p.key}.marker`)) continue;
    if (p.requiresPython !== null && !admits(p.requiresPython, python)) {
      reasons.push(`${label(p)} (${p.key}) requires Python ${p.requiresPython}, and ${target.name} has ${python}`);
      continue;
    }
    const other = chosen.get(p.name);
    if (other) {
      reasons.push(`${lock.name} is ambiguous for ${target.name}: ${other.key} (${label(other)}) and ${p.key} (${label(p)}) both apply; their markers must tell them apart`);
      continue;
    }
    chosen.set(p.name, p);
  }

  const selected: LockSelection[] = [];
  for (const p of chosen.values()) {
    if (p.direct !== null) {
      reasons.push(`${p.name} (${p.key}) comes from a ${p.direct === 'vcs' ? 'VCS checkout' : p.direct === 'directory' ? 'local directory' : 'direct archive'}; pydepot exports index files (wheels and sdists) only`);
      continue;
    }
    const wheel = bestWheel(p.wheels.map((w) => w.filename), target);
    if (wheel !== null) {
      selected.push({ package: p, file: p.wheels.find((w) => w.filename === wheel)! });
    } else if (p.sdist && opts.allowSdist) {
      selected.push({ package: p, file: p.sdist });
    } else if (p.sdist) {
      reasons.push(`${label(p)} has no wheel for ${target.name} in ${lock.name} (sdist only; --allow-sdist, or build one into the wheel cache)`);
    } else {
      reasons.push(`${label(p)} has no wheel for ${target.name} in ${lock.name} (it lists ${p.wheels.map((w) => w.filename).join(', ')}) and no sdist`);
    }
  }
  return { selected, reasons };
}
