/**
 * PEP 691 content negotiation: `?format=` overrides Accept; Accept q-values
 * decide; when nothing acceptable was asked for, HTML — as pypi.org does,
 * rather than a 406 that would break old clients sending odd headers.
 */
import Negotiator from 'negotiator';
import {
  SIMPLE_LATEST_HTML, SIMPLE_LATEST_JSON, SIMPLE_V1_HTML, SIMPLE_V1_JSON, TEXT_HTML, type IndexFormat,
} from '../pypi/media-types.ts';

export interface Negotiated {
  format: IndexFormat;
  contentType: string;
}

// Order breaks q-value ties: `*/*` and a missing Accept get text/html, like pypi.org.
const OFFERS = [TEXT_HTML, SIMPLE_V1_HTML, SIMPLE_V1_JSON, SIMPLE_LATEST_HTML, SIMPLE_LATEST_JSON];

const RESULT: Record<string, Negotiated> = {
  [TEXT_HTML]: { format: 'html', contentType: `${TEXT_HTML}; charset=utf-8` },
  [SIMPLE_V1_HTML]: { format: 'html', contentType: `${SIMPLE_V1_HTML}; charset=utf-8` },
  [SIMPLE_LATEST_HTML]: { format: 'html', contentType: `${SIMPLE_V1_HTML}; charset=utf-8` },
  [SIMPLE_V1_JSON]: { format: 'json', contentType: SIMPLE_V1_JSON },
  [SIMPLE_LATEST_JSON]: { format: 'json', contentType: SIMPLE_V1_JSON },
};

const DEFAULT = RESULT[TEXT_HTML] as Negotiated;

/**
 * `format` is the query's `format` value as Koa parses it: a repeated
 * `?format=a&format=b` arrives as an array, and the last one counts, as
 * warehouse's MultiDict reads it. (It used to be cast to a string, and
 * `.trim()` on the array answered 500; found by test/fuzz/http.test.ts.)
 */
export function negotiateFormat(accept: string | undefined, formats: string | string[] | undefined): Negotiated {
  const format = Array.isArray(formats) ? formats.at(-1) : formats;
  if (format !== undefined && format !== '') {
    return RESULT[format.trim().toLowerCase()] ?? DEFAULT;
  }
  if (accept === undefined || accept.trim() === '') return DEFAULT;
  return remembered(formats_, accept, () => {
    const best = new Negotiator({ headers: { accept } }).mediaType(OFFERS);
    return (best && RESULT[best.toLowerCase()]) || DEFAULT;
  });
}

/**
 * Does an Accept-Encoding header prefer gzip to identity? q-values count
 * (`gzip;q=0` refuses it), and `*` stands for gzip when gzip is not named.
 */
export function gzipAccepted(acceptEncoding: string): boolean {
  if (acceptEncoding === '') return false;
  return remembered(encodings, acceptEncoding, () =>
    new Negotiator({ headers: { 'accept-encoding': acceptEncoding } }).encoding(['gzip', 'identity']) === 'gzip');
}

/**
 * Parsed headers, by their exact text. A fleet sends a handful of distinct
 * Accept and Accept-Encoding headers (one per pip, uv or poetry version), and
 * parsing them was about 7% of a cached gzip page's CPU in a profile, so each is parsed once.
 * Bounded, and emptied when full: random headers cannot grow it.
 */
const MEMO_LIMIT = 256;
const formats_ = new Map<string, Negotiated>();
const encodings = new Map<string, boolean>();

function remembered<T>(memo: Map<string, T>, header: string, parse: () => T): T {
  const known = memo.get(header);
  if (known !== undefined) return known;
  const value = parse();
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(header, value);
  return value;
}
