/**
 * The config file's shape, defaults and validation. Every key is documented in
 * README.md "Configuration"; a bad key fails start-up with its dotted path.
 */
import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors.ts';
import { LOG_LEVELS, type LogLevel } from '../log.ts';
import { checkFileFilter, type FileFilterSpec } from '../pypi/file-filter.ts';
import { isValidProjectName, normalizeName } from '../pypi/names.ts';
import { parseDuration } from '../time.ts';


/**
 * Who may do something: anyone who reaches the port, anyone with valid
 * credentials, or the users named.
 */
export type Audience = { kind: 'anonymous' } | { kind: 'authenticated' } | { kind: 'users'; users: readonly string[] };

export interface Permissions {
  read: Audience;
  /** Local and wheelcache repositories only; remote and virtual ones never store uploads. */
  upload: Audience;
}

export interface LocalRepoConfig extends Permissions {
  type: 'local';
  overwrite: boolean;
  maxFileSize: number;
  indexMaxAge: number;
}

export interface RemoteRepoConfig extends Permissions {
  type: 'remote';
  url: string;
  indexTtl: number;
  negativeTtl: number;
  offline: boolean;
  timeout: number;
  /** Seconds a request waits for a revalidation when a cached copy can be served instead. */
  staleTimeout: number;
  /** Seconds a revalidation that timed out is not retried (the cached copy is served meanwhile). */
  failureBackoff: number;
  username: string | null;
  password: string | null;
  indexMaxAge: number;
  /**
   * Seconds an upstream file must have been public (by the upstream's
   * upload-time) before its pages list it; 0 = off.
   */
  cooldown: number;
  /**
   * Wheels the upstream gives no core metadata for: after a page fetch, those
   * of the newest this-many releases get their METADATA read in the
   * background (by HTTP Range). 0: only on demand.
   */
  metadataReleases: number;
  /**
   * Bytes of cached files kept; beyond it the least recently used are
   * evicted (down to 90%) and fetched again when asked for. null: no limit.
   */
  maxCacheSize: number | null;
  /**
   * Keep serving files the upstream removed (from a project it still lists,
   * not quarantined) that pydepot had cached: README "Upstream removals".
   */
  keepRemoved: boolean;
  /** Which upstream files this repository serves at all (README "Filters"); null: all. */
  files: FileFilterSpec | null;
}

export interface VirtualRepoConfig extends Permissions {
  type: 'virtual';
  members: string[];
  internal: string[];
  mergeUpstream: string[];
  uploadTo: string | null;
  /** Seconds between background squatting checks of the hosted names; 0 = never. */
  squatCheckInterval: number;
  indexMaxAge: number;
  /** Seconds of cooldown imposed on the files of its remote members (on top of their own); 0 = none. */
  cooldown: number;
  /** Which files of its remote members it serves (README "Filters"); null: all. Never applied to local or wheelcache files. */
  files: FileFilterSpec | null;
}

/**
 * Wheels built by users for releases that a remote (`augments`) publishes
 * without a wheel for their platform: it only adds files to that remote's
 * releases (README "Wheel caches").
 */
export interface WheelCacheRepoConfig extends Permissions {
  type: 'wheelcache';
  /** The remote repository whose releases this one adds wheels to. */
  augments: string;
  /** Accept wheels with non-portable platform tags (`linux_x86_64`…), which pip ranks above manylinux ones. */
  allowNonPortable: boolean;
  maxFileSize: number;
  indexMaxAge: number;
}

export type RepoConfig = LocalRepoConfig | RemoteRepoConfig | VirtualRepoConfig | WheelCacheRepoConfig;

export interface TlsConfig {
  /** PEM certificate chain, the server's certificate first. */
  cert: string;
  /** PEM private key, unencrypted. */
  key: string;
}

/** Where file contents live. The storage folder keeps the database (and, with s3, the in-flight temp files). */
export type BlobsConfig = { type: 'fs' } | S3BlobsConfig;

export interface S3BlobsConfig {
  type: 's3';
  /** null: AWS S3 at the region's own endpoint. */
  endpoint: string | null;
  bucket: string;
  region: string;
  /** Key prefix without leading or trailing '/'; '' for none. */
  prefix: string;
  forcePathStyle: boolean;
  /** Bytes per part of a multipart upload; smaller files are one PUT. */
  partSize: number;
}

export interface Config {
  listen: { host: string; port: number };
  /** null serves plain HTTP. */
  tls: TlsConfig | null;
  storage: string;
  blobs: BlobsConfig;
  /** null (the default): SQLite in the storage folder; else PostgreSQL (README "Metadata in PostgreSQL"). */
  database: DatabaseConfig | null;
  defaultRepository: string;
  log: { level: LogLevel };
  auth: AuthConfig;
  limits: LimitsConfig;
  scrub: ScrubConfig;
  /** Processes serving requests over the same storage (node:cluster); 1: the server is the one process. */
  workers: number;
  /** Seconds a process's lease (one download, one revalidation for all processes) lasts unless renewed: how long a crashed holder keeps the others waiting. */
  leaseTtl: number;
  ui: UiConfig;
  /** null (the default): pydepot sends file bytes itself. */
  sendfileOffload: SendfileOffloadConfig | null;
  repositories: Record<string, RepoConfig>;
}

/** `database: postgres://…`: the metadata stores on PostgreSQL, shared by every replica naming it. */
export interface DatabaseConfig {
  url: string;
  /** Connections this process keeps open at most (each worker, each replica: its own pool). */
  poolSize: number;
}

/**
 * Behind nginx: after every check, a file in the blob folder is answered with
 * an empty body and `X-Accel-Redirect: <prefix><key>`, and nginx sends the
 * bytes from disk (deploy/nginx.conf).
 */
export interface SendfileOffloadConfig {
  type: 'nginx';
  /** The internal location's URI prefix, starting and ending with '/'. */
  prefix: string;
}

/** The server's own scrub: every blob re-hashed on a schedule (`pydepot scrub` does it on demand). */
export interface ScrubConfig {
  /** Seconds between the end of one scrub and the start of the next; 0: never (the default). */
  interval: number;
  /** Bytes read per second at most, so that a scrub never starves requests of the disk. */
  rate: number;
}

/** The web UI under /-/ui/ (README "Web UI"). */
export interface UiConfig {
  /** false: /-/ui/ answers 404. */
  enabled: boolean;
  /** Seconds a login lasts; then the browser asks for the password again. */
  sessionLifetime: number;
  /**
   * Key that signs session cookies; null: a random key made once per storage
   * and kept in its database, so every process on the storage shares it.
   */
  sessionSecret: string | null;
}

/** What one client may cost the server. */
export interface LimitsConfig {
  /** Seconds a request body may go without a byte before the request is dropped. */
  bodyIdleTimeout: number;
  /** Distinct missing project names a client may ask for per minute; beyond it, 429. */
  missesPerMinute: number;
  /**
   * The slowest request body kept, in bytes per second: one that delivers less
   * than bodyMinRate × bodyIdleTimeout bytes in a bodyIdleTimeout window is
   * dropped (a trickle is never idle). 0: no minimum.
   */
  bodyMinRate: number;
  /** Seconds a client has to send a request's headers (slowloris); then 408 and the connection is closed. */
  headersTimeout: number;
}

export interface AuthConfig {
  /** Failed logins allowed per client address per minute; beyond it, 429. */
  failedLoginsPerMinute: number;
  /** Take the client address from X-Forwarded-For (behind a reverse proxy). */
  trustProxy: boolean;
}

// URL segments that pydepot itself uses at the root.
const RESERVED_REPO_NAMES = new Set(['simple', '-', 'files']);
const REPO_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const NAME_PATTERN = /^[A-Za-z0-9._\-*?[\]!]+$/;
/** User names: what a username in an index URL can carry without escaping. */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** The username that says "the password is an API token" (PyPI's convention). */
export const TOKEN_USERNAME = '__token__';

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads one object level: every key must be known, every read is typed. */
class Section {
  private readonly seen = new Set<string>();
  constructor(readonly path: string, private readonly raw: Raw) {}

  private key(k: string): string { return this.path ? `${this.path}.${k}` : k; }

  fail(k: string, why: string): never {
    throw new ConfigError(`config key '${this.key(k)}': ${why}`);
  }

  has(k: string): boolean { return this.raw[k] !== undefined && this.raw[k] !== null; }

  /** The value as written, whatever its type (for keys with a short form). */
  value(k: string): unknown { return this.get(k); }

  private get(k: string): unknown {
    this.seen.add(k);
    return this.raw[k];
  }

  string(k: string, def: string): string {
    const v = this.get(k);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string' || v === '') this.fail(k, `expected a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  }

  optionalString(k: string): string | null {
    const v = this.get(k);
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') this.fail(k, `expected a string, got ${JSON.stringify(v)}`);
    return v;
  }

  requiredString(k: string): string {
    const v = this.string(k, '');
    if (v === '') this.fail(k, 'missing (required)');
    return v;
  }

  bool(k: string, def: boolean): boolean {
    const v = this.get(k);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') this.fail(k, `expected true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  seconds(k: string, def: number): number {
    const v = this.get(k);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) this.fail(k, `expected a number of seconds >= 0, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A whole number >= 0. */
  wholeNumber(k: string, def: number): number {
    const v = this.get(k);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(k, `expected a whole number >= 0, got ${JSON.stringify(v)}`);
    return v;
  }

  count(k: string, def: number): number {
    const v = this.get(k);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) this.fail(k, `expected a whole number >= 1, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A whole number >= 1, or `auto` (then `auto`'s value). */
  countOrAuto(k: string, def: number, auto: number): number {
    const v = this.get(k);
    if (v === 'auto') return auto;
    if (typeof v === 'number' || v === undefined || v === null) return this.count(k, def);
    this.fail(k, `expected a whole number >= 1 or auto, got ${JSON.stringify(v)}`);
  }

  /** A size; `zero: true` also accepts 0 (a limit turned off). */
  bytes(k: string, def: number, opts: { zero?: boolean } = {}): number {
    const v = this.get(k);
    if (v === undefined || v === null) return def;
    if (opts.zero && v === 0) return 0;
    const n = parseByteSize(v);
    if (n === null) this.fail(k, `expected a size such as 100MiB, 2GiB or a number of bytes, got ${JSON.stringify(v)}`);
    return n;
  }

  stringList(k: string): string[] {
    const v = this.get(k);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) this.fail(k, `expected a list of strings, got ${JSON.stringify(v)}`);
    return v as string[];
  }

  /** `anonymous`, `authenticated`, or a list of user names. */
  audience(k: string, def: Audience): Audience {
    const v = this.get(k);
    if (v === undefined || v === null) return def;
    if (v === 'anonymous' || v === 'authenticated') return { kind: v };
    if (Array.isArray(v) && v.every((x) => typeof x === 'string' && USER_NAME.test(x) && x !== TOKEN_USERNAME)) {
      return { kind: 'users', users: [...new Set(v as string[])] };
    }
    this.fail(k, `expected anonymous, authenticated or a list of user names, got ${JSON.stringify(v)}`);
  }

  /**
   * A duration in seconds: `7d`, `12h`, `30m`, `2w`, `1y`, or a number of
   * seconds; 0 (or `'0'`) is accepted: off.
   */
  duration(k: string, def: number): number {
    const v = this.get(k);
    if (v === undefined || v === null) return def;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
    if (typeof v === 'string') {
      if (/^\s*0\s*$/.test(v)) return 0;
      const ms = parseDuration(v);
      if (ms !== null) return ms / 1000;
    }
    this.fail(k, `expected a duration such as 7d, 12h, 30m or 2w, a number of seconds, or 0 (off), got ${JSON.stringify(v)}`);
  }

  oneOf<T extends string>(k: string, allowed: readonly T[], def: T): T {
    const v = this.get(k);
    if (v === undefined || v === null) return def;
    if (!allowed.includes(v as T)) this.fail(k, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  /** `files: {platforms, python, sdists}`; null when absent or empty. */
  fileFilter(k: string): FileFilterSpec | null {
    const given = this.has(k);
    const s = this.section(k);
    if (!given) return null;
    const platformsGiven = s.has('platforms');
    const platforms = s.stringList('platforms').map((g) => g.trim());
    const python = s.optionalString('python')?.trim() ?? null;
    if (python === '') s.fail('python', 'expected a specifier set such as ">=3.10"; leave the key out to keep every Python');
    const spec: FileFilterSpec = { platforms: platformsGiven ? platforms : null, python, sdists: s.bool('sdists', true) };
    s.rejectUnknown();
    const problem = checkFileFilter(spec);
    if (problem) s.fail(problem.key, problem.message);
    return spec.platforms === null && spec.python === null && spec.sdists ? null : spec;
  }

  section(k: string): Section {
    const v = this.get(k);
    if (v === undefined || v === null) return new Section(this.key(k), {});
    if (!isObject(v)) this.fail(k, 'expected a mapping');
    return new Section(this.key(k), v);
  }

  entries(): [string, unknown][] {
    for (const k of Object.keys(this.raw)) this.seen.add(k);
    return Object.entries(this.raw);
  }

  /** Call last: anything not read is a typo or a key from another version. */
  rejectUnknown(): void {
    for (const k of Object.keys(this.raw)) {
      if (!this.seen.has(k)) this.fail(k, 'unknown key');
    }
  }
}

const UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tib: 1024 ** 4,
};

export function parseByteSize(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : null;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) return null;
  const unit = UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return null;
  const n = Math.floor(Number(m[1]) * unit);
  return n > 0 && Number.isSafeInteger(n) ? n : null;
}

export function parseListen(v: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(v.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: (m[1] ?? m[2]) as string, port };
}

const ANONYMOUS: Audience = { kind: 'anonymous' };
const NOBODY: Audience = { kind: 'users', users: [] };

function parseRepo(s: Section): RepoConfig {
  const type = s.oneOf('type', ['local', 'remote', 'virtual', 'wheelcache'] as const, 'local');
  const read = s.audience('read', ANONYMOUS);
  const stores = type === 'local' || type === 'wheelcache';
  if (!stores && s.has('upload')) {
    s.fail('upload', type === 'remote'
      ? 'a remote repository accepts no uploads'
      : "uploads to a virtual repository go to its 'uploadTo' repository, whose 'upload' list decides");
  }
  // Nobody until the operator names someone: a fresh start serves pip but takes no uploads.
  const upload = stores ? s.audience('upload', NOBODY) : NOBODY;
  if (type === 'local' && s.has('cooldown')) {
    s.fail('cooldown', "a hosted repository's own uploads are never delayed; set it on a remote repository, or on a virtual one for its remote members");
  }
  let repo: RepoConfig;
  switch (type) {
    case 'local':
      repo = {
        type,
        read,
        upload,
        overwrite: s.bool('overwrite', false),
        maxFileSize: s.bytes('maxFileSize', 2 * 1024 ** 3),
        indexMaxAge: s.seconds('indexMaxAge', 0),
      };
      break;
    case 'remote': {
      const url = s.string('url', 'https://pypi.org/simple/');
      let parsed: URL;
      try { parsed = new URL(url); } catch { s.fail('url', `not a URL: ${JSON.stringify(url)}`); }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') s.fail('url', 'must be an http or https URL');
      repo = {
        type,
        read,
        upload,
        url: url.endsWith('/') ? url : `${url}/`,
        indexTtl: s.seconds('indexTtl', 600),
        negativeTtl: s.seconds('negativeTtl', 60),
        offline: s.bool('offline', false),
        timeout: s.seconds('timeout', 30),
        staleTimeout: s.seconds('staleTimeout', 2),
        failureBackoff: s.seconds('failureBackoff', 60),
        username: s.optionalString('username'),
        password: s.optionalString('password'),
        indexMaxAge: s.seconds('indexMaxAge', 0),
        cooldown: s.duration('cooldown', 0),
        metadataReleases: s.wholeNumber('metadataReleases', 3),
        maxCacheSize: s.has('maxCacheSize') ? s.bytes('maxCacheSize', 0) : null,
        keepRemoved: s.bool('keepRemoved', false),
        files: s.fileFilter('files'),
      };
      break;
    }
    case 'wheelcache':
      repo = {
        type,
        read,
        upload,
        augments: s.requiredString('augments'),
        allowNonPortable: s.bool('allowNonPortable', false),
        maxFileSize: s.bytes('maxFileSize', 2 * 1024 ** 3),
        indexMaxAge: s.seconds('indexMaxAge', 0),
      };
      break;
    case 'virtual': {
      const internal = s.stringList('internal');
      for (const p of internal) {
        if (!NAME_PATTERN.test(p)) s.fail('internal', `${JSON.stringify(p)} is not a name pattern (letters, digits, '-', '_', '.', and the glob characters * ? [ ] !)`);
      }
      const mergeUpstream = s.stringList('mergeUpstream');
      for (const n of mergeUpstream) {
        if (!isValidProjectName(n)) s.fail('mergeUpstream', `${JSON.stringify(n)} is not a project name (patterns are not accepted here: list each name)`);
      }
      repo = {
        type,
        read,
        upload,
        members: s.stringList('members'),
        internal,
        mergeUpstream: mergeUpstream.map(normalizeName),
        uploadTo: s.optionalString('uploadTo'),
        squatCheckInterval: s.seconds('squatCheckInterval', 3600),
        indexMaxAge: s.seconds('indexMaxAge', 0),
        cooldown: s.duration('cooldown', 0),
        files: s.fileFilter('files'),
      };
      break;
    }
  }
  s.rejectUnknown();
  return repo;
}

/** A wheel cache completes one remote's releases: it must name a remote repository. */
function checkWheelCaches(repos: Record<string, RepoConfig>): void {
  for (const [name, repo] of Object.entries(repos)) {
    if (repo.type !== 'wheelcache') continue;
    const target = repos[repo.augments];
    if (!target) throw new ConfigError(`config key 'repositories.${name}.augments': unknown repository '${repo.augments}'`);
    if (target.type !== 'remote') throw new ConfigError(`config key 'repositories.${name}.augments': '${repo.augments}' is a ${target.type} repository; a wheelcache augments a remote one`);
  }
}

/** The local, remote and wheelcache repositories a virtual repository reaches, nested ones included. */
function leavesOf(repos: Record<string, RepoConfig>, name: string, seen = new Set<string>()): Set<string> {
  const repo = repos[name];
  if (repo?.type !== 'virtual') return new Set([name]);
  const out = new Set<string>();
  if (seen.has(name)) return out;
  seen.add(name);
  for (const m of repo.members) for (const leaf of leavesOf(repos, m, seen)) out.add(leaf);
  return out;
}

function checkVirtualMembers(repos: Record<string, RepoConfig>): void {
  for (const [name, repo] of Object.entries(repos)) {
    if (repo.type !== 'virtual') continue;
    for (const m of repo.members) {
      if (!repos[m]) throw new ConfigError(`config key 'repositories.${name}.members': unknown repository '${m}'`);
    }
    if (repo.members.length === 0) throw new ConfigError(`config key 'repositories.${name}.members': a virtual repository needs at least one member`);
    if (new Set(repo.members).size !== repo.members.length) throw new ConfigError(`config key 'repositories.${name}.members': a member is listed twice`);
    if (repo.uploadTo !== null && repos[repo.uploadTo]?.type !== 'local') {
      throw new ConfigError(`config key 'repositories.${name}.uploadTo': '${repo.uploadTo}' is not a local repository`);
    }
  }
  // A cycle would make every page of the virtual repository recurse forever.
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      throw new ConfigError(`config key 'repositories.${path[0]}.members': cycle ${[...path, name].join(' -> ')}`);
    }
    state.set(name, 'visiting');
    const repo = repos[name];
    if (repo?.type === 'virtual') for (const m of repo.members) visit(m, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of Object.keys(repos)) visit(name, []);

  // A cache's wheels are merged into its remote's pages: without the remote they would never be served.
  for (const [name, repo] of Object.entries(repos)) {
    if (repo.type !== 'virtual') continue;
    const leaves = leavesOf(repos, name);
    for (const leaf of leaves) {
      const cache = repos[leaf];
      if (cache?.type === 'wheelcache' && !leaves.has(cache.augments)) {
        throw new ConfigError(`config key 'repositories.${name}.members': wheelcache '${leaf}' augments '${cache.augments}', which is not a member; its wheels would never be served (add '${cache.augments}')`);
      }
    }
  }

  // Uploads sent to a virtual repository must show up in it.
  const reachesLocal = (name: string, target: string): boolean => {
    const repo = repos[name];
    return name === target || (repo?.type === 'virtual' && repo.members.some((m) => reachesLocal(m, target)));
  };
  for (const [name, repo] of Object.entries(repos)) {
    if (repo.type === 'virtual' && repo.uploadTo !== null && !repo.members.some((m) => reachesLocal(m, repo.uploadTo!))) {
      throw new ConfigError(`config key 'repositories.${name}.uploadTo': '${repo.uploadTo}' is not one of its members`);
    }
  }
}

const MiB = 1024 ** 2;
// S3 takes parts of 5 MiB to 5 GiB (the last part of an upload may be smaller).
const MIN_PART_SIZE = 5 * MiB;
const MAX_PART_SIZE = 5 * 1024 * MiB;
// AWS's rules are stricter (lowercase, 3-63); Ceph and MinIO accept some older names.
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;

/**
 * `s3://bucket/prefix?endpoint=…&region=…&forcePathStyle=true&partSize=16MiB`,
 * the short form of `blobs`, as the mapping it stands for.
 */
export function parseS3Url(text: string, fail: (why: string) => never): Raw {
  let url: URL;
  try { url = new URL(text); } catch { fail(`expected a mapping or s3://BUCKET/PREFIX, got ${JSON.stringify(text)}`); }
  if (url.protocol !== 's3:' || !url.hostname) fail(`expected a mapping or s3://BUCKET/PREFIX, got ${JSON.stringify(text)}`);
  if (url.username || url.password) fail('credentials do not go in the URL: they come from the AWS environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE)');
  const raw: Raw = { type: 's3', bucket: url.hostname, prefix: decodeURIComponent(url.pathname) };
  for (const [k, v] of url.searchParams) {
    if (k === 'type' || k === 'bucket' || k === 'prefix') fail(`'${k}' is given by the URL itself, not as ?${k}=`);
    raw[k] = k === 'forcePathStyle' ? (v === 'true' ? true : v === 'false' ? false : v) : v;
  }
  return raw;
}

function parseBlobs(root: Section): BlobsConfig {
  const short = root.value('blobs');
  const s: Section = typeof short === 'string' ? new Section('blobs', parseS3Url(short, (why) => root.fail('blobs', why))) : root.section('blobs');
  const type = s.oneOf('type', ['fs', 's3'] as const, 'fs');
  if (type === 'fs') {
    s.rejectUnknown();
    return { type };
  }
  const endpoint = s.optionalString('endpoint') || null;
  if (endpoint !== null) {
    const parsed = URL.canParse(endpoint) ? new URL(endpoint) : null;
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) s.fail('endpoint', `expected an http or https URL such as https://minio.example:9000, got ${JSON.stringify(endpoint)}`);
    if (parsed.username || parsed.password) s.fail('endpoint', 'credentials do not go in the URL: they come from the AWS environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE)');
  }
  const bucket = s.requiredString('bucket');
  if (!BUCKET_NAME.test(bucket)) s.fail('bucket', `not a bucket name: ${JSON.stringify(bucket)}`);
  const prefix = (s.optionalString('prefix') ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix !== '' && prefix.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) {
    s.fail('prefix', `expected key segments separated by single '/', got ${JSON.stringify(prefix)}`);
  }
  if (/[\x00-\x1f\x7f]/.test(prefix)) s.fail('prefix', 'control characters are not allowed');
  const blobs: S3BlobsConfig = {
    type,
    endpoint,
    bucket,
    region: s.string('region', 'us-east-1'),
    prefix,
    forcePathStyle: s.bool('forcePathStyle', false),
    partSize: s.bytes('partSize', 8 * MiB),
  };
  if (blobs.partSize < MIN_PART_SIZE || blobs.partSize > MAX_PART_SIZE) s.fail('partSize', 'S3 takes parts of 5MiB to 5GiB');
  s.rejectUnknown();
  return blobs;
}

const OFFLOAD_PREFIX = /^\/(?:[A-Za-z0-9._~-]+\/)+$/;

/**
 * `sendfileOffload: nginx`, or the mapping `{type: nginx, prefix: /x/}`;
 * `off` or false: none. Only with blobs on the filesystem: with S3 there is
 * no folder for nginx to send from, and a proxy configured for one would
 * serve nothing, so that is an error at start-up rather than a silent fallback.
 */
function parseSendfileOffload(root: Section, blobs: BlobsConfig): SendfileOffloadConfig | null {
  const short = root.value('sendfileOffload');
  if (short === undefined || short === null || short === false || short === 'off') return null;
  if (!isObject(short) && short !== 'nginx') root.fail('sendfileOffload', `expected nginx, off or a mapping {type: nginx, prefix: /_pydepot_blobs/}, got ${JSON.stringify(short)}`);
  const s: Section = typeof short === 'string' ? new Section('sendfileOffload', { type: short }) : root.section('sendfileOffload');
  const type = s.oneOf('type', ['nginx', 'off'] as const, 'nginx');
  const prefix = s.string('prefix', '/_pydepot_blobs/');
  if (!OFFLOAD_PREFIX.test(prefix)) s.fail('prefix', `expected a URI path starting and ending with '/' (letters, digits, '.', '_', '~', '-'), got ${JSON.stringify(prefix)}`);
  s.rejectUnknown();
  if (type === 'off') return null;
  if (blobs.type !== 'fs') {
    root.fail('sendfileOffload', 'needs `blobs: {type: fs}`: with blobs in S3 there is no folder for nginx to send files from (leave sendfileOffload out; pydepot streams them)');
  }
  return { type, prefix };
}

const DEFAULT_REPOSITORIES: Raw = { internal: { type: 'local' } };

/** null without a `tls` key; with one, both files must be named. */
function parseTls(root: Section): TlsConfig | null {
  const given = root.has('tls');
  // Read even when absent so that `tls:` left empty is not an unknown key.
  const s = root.section('tls');
  if (!given) return null;
  const tls = { cert: s.requiredString('cert'), key: s.requiredString('key') };
  s.rejectUnknown();
  return tls;
}

/**
 * `database: postgres://user:pass@host:5432/db` (or `postgresql://`); left
 * out, `sqlite` or the storage folder's default: SQLite. The password may come
 * from PGPASSWORD instead of the URL. `databasePoolSize` only with a URL.
 */
function parseDatabase(root: Section): DatabaseConfig | null {
  const url = root.optionalString('database');
  const given = root.has('databasePoolSize');
  const poolSize = root.count('databasePoolSize', 10);
  if (url === null || url === 'sqlite') {
    if (given) root.fail('databasePoolSize', 'applies only with `database: postgres://…`');
    return null;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return root.fail('database', `expected sqlite or a URL postgres://user@host:5432/dbname, got ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//…@'))}`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    root.fail('database', `expected sqlite or a postgres:// URL, got a ${parsed.protocol}// URL`);
  }
  if (poolSize < 1) root.fail('databasePoolSize', 'must be at least 1');
  return { url, poolSize };
}

/** Validates a parsed YAML document (or `{}`) into a complete Config. */
export function parseConfig(raw: unknown): Config {
  if (raw === undefined || raw === null) raw = {};
  if (!isObject(raw)) throw new ConfigError('config: the file must be a YAML mapping of keys');
  const root: Section = new Section('', raw);

  const listenText = root.string('listen', '127.0.0.1:8080');
  const listen = parseListen(listenText);
  if (!listen) root.fail('listen', `expected HOST:PORT such as 127.0.0.1:8080, got ${JSON.stringify(listenText)}`);

  const storage = root.string('storage', './storage');
  const blobs = parseBlobs(root);
  const database = parseDatabase(root);
  const tls = parseTls(root);
  const log = root.section('log');
  const level = log.oneOf('level', LOG_LEVELS, 'info');
  log.rejectUnknown();
  const authSection = root.section('auth');
  const auth: AuthConfig = {
    failedLoginsPerMinute: authSection.count('failedLoginsPerMinute', 30),
    trustProxy: authSection.bool('trustProxy', false),
  };
  authSection.rejectUnknown();
  const limitsSection = root.section('limits');
  const limits: LimitsConfig = {
    bodyIdleTimeout: limitsSection.seconds('bodyIdleTimeout', 60),
    missesPerMinute: limitsSection.count('missesPerMinute', 120),
    bodyMinRate: limitsSection.bytes('bodyMinRate', 1024, { zero: true }),
    headersTimeout: limitsSection.seconds('headersTimeout', 60),
  };
  if (limits.bodyIdleTimeout === 0) limitsSection.fail('bodyIdleTimeout', 'must be more than 0: a stalled upload would hold a temp file forever');
  if (limits.headersTimeout === 0) limitsSection.fail('headersTimeout', 'must be more than 0: a client could hold a connection forever without finishing its request');
  limitsSection.rejectUnknown();
  const uiSection = root.section('ui');
  const ui: UiConfig = {
    enabled: uiSection.bool('enabled', true),
    sessionLifetime: uiSection.duration('sessionLifetime', 12 * 3600),
    sessionSecret: uiSection.optionalString('sessionSecret'),
  };
  if (ui.sessionLifetime < 60) uiSection.fail('sessionLifetime', 'must be at least a minute (60 or 1m)');
  if (ui.sessionSecret !== null && ui.sessionSecret.length < 32) {
    uiSection.fail('sessionSecret', 'must be at least 32 characters (e.g. `openssl rand -base64 32`), or left out to use a key kept in the storage');
  }
  uiSection.rejectUnknown();
  const scrubSection = root.section('scrub');
  const scrub: ScrubConfig = {
    interval: scrubSection.seconds('interval', 0),
    rate: scrubSection.bytes('rate', 50 * 1024 ** 2),
  };
  scrubSection.rejectUnknown();
  // auto: one per core this process may use.
  const workers = root.countOrAuto('workers', 1, availableParallelism());
  const sendfileOffload = parseSendfileOffload(root, blobs);
  const leaseTtl = root.seconds('leaseTtl', 30);
  if (leaseTtl === 0) root.fail('leaseTtl', 'must be more than 0');

  const reposSection: Section = root.has('repositories') ? root.section('repositories') : new Section('repositories', DEFAULT_REPOSITORIES);
  const repositories: Record<string, RepoConfig> = {};
  for (const [name, value] of reposSection.entries()) {
    if (!REPO_NAME.test(name) || RESERVED_REPO_NAMES.has(name)) {
      reposSection.fail(name, `a repository name must be lowercase letters, digits, '.', '_' or '-' and not one of ${[...RESERVED_REPO_NAMES].join(', ')}`);
    }
    if (!isObject(value)) reposSection.fail(name, 'expected a mapping with at least a type');
    repositories[name] = parseRepo(new Section(`repositories.${name}`, value as Raw));
  }
  if (Object.keys(repositories).length === 0) root.fail('repositories', 'at least one repository is needed');
  checkWheelCaches(repositories);
  checkVirtualMembers(repositories);

  const firstRepo = Object.keys(repositories)[0] as string;
  const defaultRepository = root.string('defaultRepository', firstRepo);
  if (!repositories[defaultRepository]) root.fail('defaultRepository', `no repository named '${defaultRepository}'`);

  root.rejectUnknown();
  return { listen, tls, storage, blobs, database, defaultRepository, log: { level }, auth, limits, scrub, workers, leaseTtl, ui, sendfileOffload, repositories };
}
