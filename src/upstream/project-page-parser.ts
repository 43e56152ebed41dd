/**
 * Parses an upstream project page (PEP 691 JSON / PEP 503 HTML, API 1.x) into
 * one shape: files, versions, status.
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
import { isValidVersion, sortVersions } from '../pypi/versions.ts';
import {
  IndexFormatError, META_REPOSITORY_VERSION, checkApiVersion, formatOf, isObject, jsonApiVersion,
  parseJsonObject, resolveUrl, sniff,
} from './index-format.ts';

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
  /**
   * Set when the page carries a project status that cannot be read (not an
   * object, no status string): then projectStatus is null, and the caller
   * should keep the status it knew rather than take the project for active.
   */
  statusProblem?: string;
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
  const sent = [doc['project-status'], isObject(doc.meta) ? doc.meta['project-status'] : undefined].filter((v) => v !== undefined && v !== null);
  const projectStatus = statusFrom(doc['project-status'])
    ?? (isObject(doc.meta) ? statusFrom(doc.meta['project-status']) : null);
  const statusProblem = projectStatus === null && sent.length > 0
    ? `unreadable project-status ${JSON.stringify(sent[0]).slice(0, 200)}`
    : undefined;

  return {
    name: typeof doc.name === 'string' ? doc.name : null,
    files,
    versions,
    apiVersion,
    projectStatus,
    ...(statusProblem ? { statusProblem } : {}),
  };
}

// ---------------------------------------------------------------------------
// HTML project page

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
  const statusProblem = status === null && metas.has(META_STATUS) ? `empty <meta name="${META_STATUS}">` : undefined;
  return {
    name: null,
    files,
    versions: null,
    apiVersion,
    projectStatus: status === null ? null : { status, reason: optionalString(metas.get(META_STATUS_REASON)) },
    ...(statusProblem ? { statusProblem } : {}),
  };
}

/** Dispatches on the Content-Type (sniffing the body when it is missing or unknown). */
export function parseProjectPage(body: string, contentType: string, pageUrl: string): UpstreamProjectPage {
  const format = formatOf(contentType) ?? sniff(body);
  return format === 'json' ? parseProjectJson(body, pageUrl) : parseProjectHtml(body, pageUrl);
}
