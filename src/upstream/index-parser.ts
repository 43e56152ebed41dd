/**
 * Parses an upstream simple index (PEP 503 HTML / PEP 691 JSON, API 1.x) into
 * one shape: project pages (files, versions, status) and the root project list.
 *
 * Pure: no network, no disk. What is kept and what is dropped:
 * - a page that cannot be read as a simple index at all (bad JSON, wrong
 *   top-level shape, API major version other than 1) throws IndexFormatError;
 * - a single bad file entry (unsafe or non-wheel/sdist filename, non-http(s)
 *   or unparsable URL, missing keys) is skipped, so one legacy `.egg` or `.exe`
 *   never hides a project; the first entry wins when a filename repeats;
 * - a malformed value inside a kept entry (hash, size, upload time) becomes
 *   "unknown" (dropped hash, null), never a guess.
 * Whether a file without sha256, or one named for another project, is served
 * is the caller's policy.
 */
import { Parser } from 'htmlparser2';
import { parseDistFilename } from '../pypi/filenames.ts';
import {
  SIMPLE_LATEST_HTML, SIMPLE_LATEST_JSON, SIMPLE_V1_HTML, SIMPLE_V1_JSON, TEXT_HTML,
} from '../pypi/media-types.ts';
import { isValidProjectName, normalizeName } from '../pypi/names.ts';
import { isValidVersion, sortVersions } from '../pypi/versions.ts';

export interface UpstreamFile {
  /** JSON `filename`; in HTML the percent-decoded last segment of the href's path (as pip and uv read it), not the anchor text. */
  filename: string;
  /** Absolute http(s) URL, resolved against the page (and HTML `<base href>`), query kept, fragment dropped. */
  url: string;
  /** Lowercase hash name → lowercase hex digest. May be empty, may lack sha256. */
  hashes: Record<string, string>;
  requiresPython: string | null;
  /** false, or the yank reason ('' when none was given). */
  yanked: false | string;
  /** Whether `<url>.metadata` exists (PEP 658/714), with its hashes when known. */
  coreMetadata: false | true | Record<string, string>;
  size: number | null;
  uploadTime: string | null;
}

export interface UpstreamProjectPage {
  /** JSON `name` as sent; null for HTML, which has none. */
  name: string | null;
  files: UpstreamFile[];
  /** JSON `versions` (API 1.1+): valid PEP 440 versions only, deduplicated, ascending; null if absent. */
  versions: string[] | null;
  /** `meta.api-version` / `pypi:repository-version`; "1.0" if absent. */
  apiVersion: string;
  /** PEP 792 status (`active`, `archived`, `quarantined`, `deprecated`, or whatever upstream sends). */
  projectStatus: { status: string; reason: string | null } | null;
}

/** The body is not a simple index page this parser can trust. */
export class IndexFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IndexFormatError';
  }
}

/** Streaming parser for the root page (project list). */
export interface ProjectListParser {
  write(chunk: string): void;
  /** Normalized project names, deduplicated, in page order. */
  end(): string[];
}

export interface ProjectListParserOptions {
  /**
   * The JSON root is buffered and parsed at `end()`; beyond this many
   * characters `write` throws IndexFormatError. pypi.org's JSON root is a few
   * tens of MB; V8 strings cannot exceed ~512 Mi characters anyway.
   */
  maxJsonChars?: number;
}

const DEFAULT_MAX_JSON_CHARS = 256 * 1024 * 1024;

/** Anchor text longer than this is not a project name; the href is used instead. */
const MAX_ANCHOR_TEXT = 1024;

// ---------------------------------------------------------------------------
// Media types and API versions

type Format = 'json' | 'html';

const VERSIONED_MEDIA_TYPE = /^application\/vnd\.pypi\.simple\.v([0-9]+)\+(json|html)$/;

/** The format a Content-Type announces; null when missing or unknown (then sniff). */
function formatOf(contentType: string): Format | null {
  const mediaType = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  switch (mediaType) {
    case SIMPLE_V1_JSON: case SIMPLE_LATEST_JSON: case 'application/json':
      return 'json';
    case SIMPLE_V1_HTML: case SIMPLE_LATEST_HTML: case TEXT_HTML: case 'application/xhtml+xml':
      return 'html';
  }
  const m = VERSIONED_MEDIA_TYPE.exec(mediaType);
  if (m !== null) {
    // Only v1 is matched above, so this is another major version.
    throw new IndexFormatError(`Unsupported simple API media type '${mediaType}' (only v1 is understood).`);
  }
  return null;
}

const LEADING_SPACE = /^[\uFEFF \t\r\n]+/;

/** Sniffs a body with no usable Content-Type: a JSON object starts with `{`. */
function sniff(body: string): Format {
  return body.replace(LEADING_SPACE, '').startsWith('{') ? 'json' : 'html';
}

/** Validates an API version (PEP 629: major.minor); "1.0" when absent. */
function checkApiVersion(raw: unknown, where: string): string {
  if (raw === undefined || raw === null) return '1.0';
  if (typeof raw !== 'string') {
    throw new IndexFormatError(`${where} must be a string like "1.1", got ${JSON.stringify(raw)}.`);
  }
  const v = raw.trim();
  const m = /^([0-9]+)(?:\.[0-9]+)?$/.exec(v);
  if (m === null) {
    throw new IndexFormatError(`${where} ${JSON.stringify(raw)} is not a version like "1.1".`);
  }
  if (Number(m[1]) !== 1) {
    throw new IndexFormatError(`Unsupported simple API version ${v} (${where}): only 1.x is understood.`);
  }
  return v;
}

// ---------------------------------------------------------------------------
// Values shared by both formats

// hashlib digest sizes, in hex characters; other names (blake2b, shake_256,
// anything new) are kept with any even-length hex digest.
const HEX_LENGTHS: Record<string, number> = {
  md5: 32, sha1: 40, sha224: 56, sha256: 64, sha384: 96, sha512: 128,
  sha3_224: 56, sha3_256: 64, sha3_384: 96, sha3_512: 128,
};
// URL fragment keys that are not hashes (pip's `#egg=`, VCS `#subdirectory=`).
const NOT_HASHES = new Set(['egg', 'subdirectory']);

/** `[name, hex]` lowercased, or null if it is not a plausible hash. */
function hashEntry(name: string, value: unknown): [string, string] | null {
  if (typeof value !== 'string') return null;
  const n = name.trim().toLowerCase();
  const hex = value.trim().toLowerCase();
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(n) || NOT_HASHES.has(n)) return null;
  if (!/^[0-9a-f]+$/.test(hex) || hex.length % 2 !== 0) return null;
  const expected = HEX_LENGTHS[n];
  if (expected !== undefined && hex.length !== expected) return null;
  return [n, hex];
}

function hashesFromObject(obj: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    const e = hashEntry(k, v);
    if (e !== null && !(e[0] in out)) out[e[0]] = e[1];
  }
  return out;
}

/** Hashes from a URL fragment: `sha256=<hex>`, several joined by `&`. */
function hashesFromFragment(fragment: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of fragment.replace(/^#/, '').split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const e = hashEntry(part.slice(0, eq), part.slice(eq + 1));
    if (e !== null && !(e[0] in out)) out[e[0]] = e[1];
  }
  return out;
}

/**
 * A core-metadata attribute (or a string where JSON should have had a bool):
 * `true` → true; `<name>=<hex>` → that hash; `<name>=<garbage>` → true (the
 * file is announced, its hash is unusable); `false`, empty or anything else
 * → false (pip would fetch a `.metadata` for `false`; uv treats it as absent).
 */
function coreMetadataFromString(value: string): false | true | Record<string, string> {
  const v = value.trim();
  if (v.toLowerCase() === 'true') return true;
  const eq = v.indexOf('=');
  if (eq < 0) return false;
  const e = hashEntry(v.slice(0, eq), v.slice(eq + 1));
  return e === null ? true : { [e[0]]: e[1] };
}

function coreMetadataFromJson(value: unknown): false | true | Record<string, string> {
  if (value === true) return true;
  if (typeof value === 'string') return coreMetadataFromString(value);
  if (isObject(value)) {
    const hashes = hashesFromObject(value);
    // `{}` (or only unusable hashes) still says the file exists.
    return Object.keys(hashes).length > 0 ? hashes : true;
  }
  return false;
}

function optionalString(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const v = value.trim();
  return v === '' ? null : v;
}

function sizeFrom(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value === 'string' && /^[0-9]{1,15}$/.test(value.trim())) return Number(value.trim());
  return null;
}

// ISO 8601 as indexes write it (PEP 700 asks for `yyyy-mm-ddThh:mm:ss.ffffffZ`);
// anything else is dropped rather than passed on to clients that parse it.
const ISO_DATETIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?$/;

function uploadTimeFrom(value: unknown): string | null {
  const v = optionalString(value);
  return v !== null && ISO_DATETIME.test(v) && !Number.isNaN(Date.parse(v)) ? v : null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `href` resolved against `base`, if it is an http(s) URL. */
function resolveUrl(href: string, base: URL | string): URL | null {
  let url: URL;
  try {
    url = new URL(href, base);
  } catch {
    return null;
  }
  return url.protocol === 'https:' || url.protocol === 'http:' ? url : null;
}

/** Percent-decoded last path segment, or null (empty, or bad escapes). */
function lastPathSegment(url: URL): string | null {
  const raw = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
  if (raw === '') return null;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/** Whether the filename is safe and a wheel or sdist (legacy .egg/.exe/.tar.bz2... are not). */
function isDistFilename(filename: string): boolean {
  try {
    parseDistFilename(filename);
    return true;
  } catch {
    return false;
  }
}

function withoutFragment(url: URL): string {
  const u = new URL(url.href);
  u.hash = '';
  return u.href;
}

function pushUnique(files: UpstreamFile[], seen: Set<string>, file: UpstreamFile): void {
  if (seen.has(file.filename)) return;
  seen.add(file.filename);
  files.push(file);
}

function checkPageUrl(pageUrl: string): URL {
  try {
    return new URL(pageUrl);
  } catch {
    throw new TypeError(`Invalid page URL ${JSON.stringify(pageUrl)}`);
  }
}

// ---------------------------------------------------------------------------
// JSON project page

function parseJsonObject(body: string, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.replace(LEADING_SPACE, ''));
  } catch (err) {
    throw new IndexFormatError(`Invalid JSON ${what}: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new IndexFormatError(`The JSON ${what} is not an object.`);
  return doc;
}

function jsonApiVersion(doc: Record<string, unknown>): string {
  const meta = doc.meta;
  if (meta === undefined || meta === null) return '1.0';
  if (!isObject(meta)) throw new IndexFormatError('JSON `meta` is not an object.');
  return checkApiVersion(meta['api-version'], 'meta.api-version');
}

function statusFrom(value: unknown): UpstreamProjectPage['projectStatus'] {
  if (!isObject(value)) return null;
  const status = optionalString(value.status);
  if (status === null) return null;
  return { status, reason: optionalString(value.reason) };
}

function jsonFile(entry: unknown, pageUrl: URL): UpstreamFile | null {
  if (!isObject(entry)) return null;
  const { filename, url: href } = entry;
  if (typeof filename !== 'string' || typeof href !== 'string') return null;
  if (!isDistFilename(filename)) return null;
  const url = resolveUrl(href, pageUrl);
  if (url === null) return null;

  // PEP 714: `core-metadata`, then the deprecated aliases (pypi.org's odd
  // `data-dist-info-metadata` included, as uv reads it). null counts as absent.
  let coreMetadata: UpstreamFile['coreMetadata'] = false;
  for (const key of ['core-metadata', 'data-dist-info-metadata', 'dist-info-metadata']) {
    const v = entry[key];
    if (v !== undefined && v !== null) {
      coreMetadata = coreMetadataFromJson(v);
      break;
    }
  }

  // As pip: a non-empty string is the reason, other truthy values mean
  // "yanked, no reason", `false`/absent/'' mean not yanked.
  const y = entry.yanked;
  const yanked = typeof y === 'string' ? (y === '' ? false : y) : (y ? '' : false);

  return {
    filename,
    url: withoutFragment(url),
    hashes: isObject(entry.hashes) ? hashesFromObject(entry.hashes) : {},
    requiresPython: optionalString(entry['requires-python']),
    yanked,
    coreMetadata,
    size: typeof entry.size === 'number' ? sizeFrom(entry.size) : null,
    uploadTime: uploadTimeFrom(entry['upload-time']),
  };
}

export function parseProjectJson(body: string, pageUrl: string): UpstreamProjectPage {
  const base = checkPageUrl(pageUrl);
  const doc = parseJsonObject(body, 'project page');
  const apiVersion = jsonApiVersion(doc);
  if (!Array.isArray(doc.files)) throw new IndexFormatError('JSON project page has no `files` array.');

  const files: UpstreamFile[] = [];
  const seen = new Set<string>();
  for (const entry of doc.files) {
    const file = jsonFile(entry, base);
    if (file !== null) pushUnique(files, seen, file);
  }

  let versions: string[] | null = null;
  if (Array.isArray(doc.versions)) {
    versions = sortVersions(doc.versions.filter((v): v is string => typeof v === 'string' && isValidVersion(v)));
  }

  // PyPI puts `project-status` at the top level; the living spec's example
  // puts it in `meta`, so that is the fallback.
  const projectStatus = statusFrom(doc['project-status'])
    ?? (isObject(doc.meta) ? statusFrom(doc.meta['project-status']) : null);

  return {
    name: typeof doc.name === 'string' ? doc.name : null,
    files,
    versions,
    apiVersion,
    projectStatus,
  };
}

// ---------------------------------------------------------------------------
// HTML project page

const META_REPOSITORY_VERSION = 'pypi:repository-version';
const META_STATUS = 'pypi:project-status';
const META_STATUS_REASON = 'pypi:project-status-reason';

function htmlFile(attribs: Record<string, string>, base: URL): UpstreamFile | null {
  const href = attribs.href;
  if (href === undefined) return null;
  const url = resolveUrl(href, base);
  if (url === null) return null;
  // pip and uv name the file after the URL path, not the anchor text.
  const filename = lastPathSegment(url);
  if (filename === null || !isDistFilename(filename)) return null;

  const cm = attribs['data-core-metadata'] ?? attribs['data-dist-info-metadata'];
  const yanked = attribs['data-yanked'];
  return {
    filename,
    url: withoutFragment(url),
    hashes: hashesFromFragment(url.hash),
    requiresPython: optionalString(attribs['data-requires-python']),
    yanked: yanked === undefined ? false : yanked,
    coreMetadata: cm === undefined ? false : coreMetadataFromString(cm),
    size: sizeFrom(attribs['data-size']),
    uploadTime: uploadTimeFrom(attribs['data-upload-time']),
  };
}

export function parseProjectHtml(body: string, pageUrl: string): UpstreamProjectPage {
  const page = checkPageUrl(pageUrl);
  const anchors: Record<string, string>[] = [];
  const metas = new Map<string, string>();
  let baseHref: string | null = null;

  // Entities in attribute values are decoded by the parser (`&gt;=3.9`,
  // `&amp;` in query strings); tag and attribute names are lowercased; for a
  // repeated attribute the first one wins, as in browsers.
  const parser = new Parser({
    onopentag(name, attribs) {
      if (name === 'a') {
        if (attribs.href !== undefined) anchors.push(attribs);
      } else if (name === 'base') {
        // HTML: the first <base> with an href sets the base URL, for links
        // before it too.
        if (baseHref === null && attribs.href !== undefined) baseHref = attribs.href;
      } else if (name === 'meta') {
        const key = attribs.name?.trim().toLowerCase();
        if (key !== undefined && key.startsWith('pypi:') && attribs.content !== undefined && !metas.has(key)) {
          metas.set(key, attribs.content);
        }
      }
    },
  });
  parser.end(body);

  const apiVersion = checkApiVersion(metas.get(META_REPOSITORY_VERSION), `<meta name="${META_REPOSITORY_VERSION}">`);
  const base = baseHref === null ? page : (resolveUrl(baseHref, page) ?? page);

  const files: UpstreamFile[] = [];
  const seen = new Set<string>();
  for (const attribs of anchors) {
    const file = htmlFile(attribs, base);
    if (file !== null) pushUnique(files, seen, file);
  }

  const status = optionalString(metas.get(META_STATUS));
  return {
    name: null,
    files,
    versions: null,
    apiVersion,
    projectStatus: status === null ? null : { status, reason: optionalString(metas.get(META_STATUS_REASON)) },
  };
}

/** Dispatches on the Content-Type (sniffing the body when it is missing or unknown). */
export function parseProjectPage(body: string, contentType: string, pageUrl: string): UpstreamProjectPage {
  const format = formatOf(contentType) ?? sniff(body);
  return format === 'json' ? parseProjectJson(body, pageUrl) : parseProjectHtml(body, pageUrl);
}

// ---------------------------------------------------------------------------
// Root page (project list)

function addProjectName(names: Set<string>, candidate: string): boolean {
  if (!isValidProjectName(candidate)) return false;
  names.add(normalizeName(candidate));
  return true;
}

/** The project name an href points at: its last non-empty path segment (`/simple/foo/` → `foo`). */
function nameFromHref(href: string): string | null {
  let url: URL;
  try {
    url = new URL(href, 'http://root.invalid/');
  } catch {
    return null;
  }
  const segments = url.pathname.split('/').filter((s) => s !== '');
  const last = segments[segments.length - 1];
  if (last === undefined) return null;
  try {
    return decodeURIComponent(last);
  } catch {
    return null;
  }
}

/** The root page's names, fed by htmlparser2's streaming parser. */
function htmlRootSink(names: Set<string>, fail: (err: IndexFormatError) => void): Parser {
  let anchor: { href: string | undefined; text: string; overflow: boolean } | null = null;
  let versionSeen = false;

  const finish = (): void => {
    if (anchor === null) return;
    const { href, text, overflow } = anchor;
    anchor = null;
    // The text is the (display) name; some indexes leave it empty or put
    // something else there, then the href names the project.
    if (!overflow && addProjectName(names, text.trim())) return;
    const fromHref = href === undefined ? null : nameFromHref(href);
    if (fromHref !== null) addProjectName(names, fromHref);
  };

  return new Parser({
    onopentag(name, attribs) {
      if (name === 'a') {
        finish(); // <a> does not nest; htmlparser2 closes the previous one too
        anchor = { href: attribs.href, text: '', overflow: false };
      } else if (name === 'meta' && !versionSeen
        && attribs.name?.trim().toLowerCase() === META_REPOSITORY_VERSION && attribs.content !== undefined) {
        versionSeen = true;
        try {
          checkApiVersion(attribs.content, `<meta name="${META_REPOSITORY_VERSION}">`);
        } catch (err) {
          fail(err as IndexFormatError);
        }
      }
    },
    ontext(data) {
      if (anchor === null || anchor.overflow) return;
      if (anchor.text.length + data.length > MAX_ANCHOR_TEXT) {
        anchor.overflow = true;
        anchor.text = '';
      } else {
        anchor.text += data;
      }
    },
    onclosetag(name) {
      if (name === 'a') finish();
    },
    onend() {
      finish();
    },
  });
}

function parseJsonRoot(body: string, names: Set<string>): void {
  const doc = parseJsonObject(body, 'project list');
  jsonApiVersion(doc);
  if (!Array.isArray(doc.projects)) throw new IndexFormatError('JSON project list has no `projects` array.');
  for (const p of doc.projects) {
    if (isObject(p) && typeof p.name === 'string') addProjectName(names, p.name.trim());
  }
}

/**
 * A streaming root-page parser. HTML goes through htmlparser2 chunk by chunk
 * (memory: the names plus the parser's unconsumed tail). The JSON root is
 * buffered and parsed at `end()` (up to `maxJsonChars`): a streaming JSON
 * parser is not worth it for a few tens of MB. With no usable Content-Type
 * the format is sniffed from the first non-blank character.
 */
export function createProjectListParser(
  contentType: string,
  options: ProjectListParserOptions = {},
): ProjectListParser {
  const maxJsonChars = options.maxJsonChars ?? DEFAULT_MAX_JSON_CHARS;
  const names = new Set<string>();
  let format: Format | null = formatOf(contentType);
  let html: Parser | null = null;
  const jsonChunks: string[] = [];
  let jsonChars = 0;
  let error: IndexFormatError | null = null;
  let ended = false;

  const fail = (err: IndexFormatError): void => {
    error ??= err;
  };
  const rethrow = (): void => {
    if (error !== null) throw error;
  };

  const feed = (chunk: string): void => {
    if (format === 'json') {
      jsonChars += chunk.length;
      if (jsonChars > maxJsonChars) {
        jsonChunks.length = 0;
        fail(new IndexFormatError(`JSON project list larger than ${maxJsonChars} characters.`));
        return;
      }
      jsonChunks.push(chunk);
    } else {
      html ??= htmlRootSink(names, fail);
      html.write(chunk);
    }
  };

  return {
    write(chunk: string): void {
      if (ended) throw new Error('ProjectListParser.write() after end()');
      rethrow();
      let data = chunk;
      if (format === null) {
        // Undecided: leading blanks say nothing and are dropped.
        data = data.replace(LEADING_SPACE, '');
        if (data === '') return;
        format = data.startsWith('{') ? 'json' : 'html';
      }
      feed(data);
      rethrow();
    },
    end(): string[] {
      if (ended) throw new Error('ProjectListParser.end() called twice');
      ended = true;
      rethrow();
      if (format === 'json') {
        const body = jsonChunks.join('');
        jsonChunks.length = 0;
        parseJsonRoot(body, names);
      } else {
        html?.end();
        rethrow();
      }
      return [...names];
    },
  };
}
