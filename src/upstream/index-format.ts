/**
 * What the project-page parser and the root-list parser must agree on, so that
 * a body is judged the same way whichever page it came from: which media types
 * are a simple index (PEP 503 HTML / PEP 691 JSON, API 1.x), how a body without
 * a usable Content-Type is sniffed, which API versions are understood (PEP 629:
 * major 1 only, anything else is refused rather than half-read), and the one
 * error, IndexFormatError, that means "this is not a page we can trust".
 *
 * Pure: no network, no disk.
 */
import {
  SIMPLE_LATEST_HTML, SIMPLE_LATEST_JSON, SIMPLE_V1_HTML, SIMPLE_V1_JSON, TEXT_HTML,
} from '../pypi/media-types.ts';

/** The body is not a simple index page this parser can trust. */
export class IndexFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IndexFormatError';
  }
}

/** `pypi:repository-version`, the HTML counterpart of JSON `meta.api-version`. */
export const META_REPOSITORY_VERSION = 'pypi:repository-version';

// ---------------------------------------------------------------------------
// Media types and API versions

export type Format = 'json' | 'html';

const VERSIONED_MEDIA_TYPE = /^application\/vnd\.pypi\.simple\.v([0-9]+)\+(json|html)$/;

/** The format a Content-Type announces; null when missing or unknown (then sniff). */
export function formatOf(contentType: string): Format | null {
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

/** A BOM and blanks, which say nothing about the format. */
export const LEADING_SPACE = /^[\uFEFF \t\r\n]+/;

/** Sniffs a body with no usable Content-Type: a JSON object starts with `{`. */
export function sniff(body: string): Format {
  return body.replace(LEADING_SPACE, '').startsWith('{') ? 'json' : 'html';
}

/** Validates an API version (PEP 629: major.minor); "1.0" when absent. */
export function checkApiVersion(raw: unknown, where: string): string {
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
// JSON documents and URLs

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `href` resolved against `base`, if it is an http(s) URL. */
export function resolveUrl(href: string, base: URL | string): URL | null {
  let url: URL;
  try {
    url = new URL(href, base);
  } catch {
    return null;
  }
  return url.protocol === 'https:' || url.protocol === 'http:' ? url : null;
}

/** The body as a JSON object, or IndexFormatError (`what` names the page in the message). */
export function parseJsonObject(body: string, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.replace(LEADING_SPACE, ''));
  } catch (err) {
    throw new IndexFormatError(`Invalid JSON ${what}: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new IndexFormatError(`The JSON ${what} is not an object.`);
  return doc;
}

/** A JSON page's `meta.api-version`, checked; "1.0" when `meta` is absent. */
export function jsonApiVersion(doc: Record<string, unknown>): string {
  const meta = doc.meta;
  if (meta === undefined || meta === null) return '1.0';
  if (!isObject(meta)) throw new IndexFormatError('JSON `meta` is not an object.');
  return checkApiVersion(meta['api-version'], 'meta.api-version');
}
