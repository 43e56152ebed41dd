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
  const best = new Negotiator({ headers: { accept } }).mediaType(OFFERS);
  return (best && RESULT[best.toLowerCase()]) || DEFAULT;
}
