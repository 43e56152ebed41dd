/**
 * One look at an upstream index for `pydepot doctor`: does it answer, in
 * which format (PEP 691 JSON when offered, else PEP 503 HTML), at which API
 * version. Asks for the root page preferring JSON, as pages are asked for,
 * and reads only its first 64 KiB: pypi.org's root lists 700,000 names.
 */
import { SIMPLE_V1_HTML, SIMPLE_V1_JSON, TEXT_HTML } from '../pypi/media-types.ts';
import type { UpstreamClient } from './client.ts';
import { UpstreamRequestError } from './client.ts';
import { formatOf, IndexFormatError, sniff, type Format } from './index-format.ts';

const ACCEPT = `${SIMPLE_V1_JSON}, ${SIMPLE_V1_HTML};q=0.2, ${TEXT_HTML};q=0.1`;
const PREFIX_BYTES = 64 * 1024;

export type IndexProbe =
  | { reachable: false; error: string; timedOut: boolean }
  | { reachable: true; status: number; ms: number; contentType: string | null; format: Format | null; apiVersion: string | null; problem: string | null };

export async function probeIndex(client: UpstreamClient): Promise<IndexProbe> {
  const started = Date.now();
  let res;
  try {
    res = await client.get(client.baseUrl, { accept: ACCEPT, 'accept-encoding': 'identity' });
  } catch (err) {
    const e = err as UpstreamRequestError;
    return { reachable: false, error: e.message, timedOut: e instanceof UpstreamRequestError && e.timedOut };
  }
  const ms = Date.now() - started;
  const rawType = res.headers['content-type'];
  const contentType = typeof rawType === 'string' ? rawType : null;
  let text = '';
  try {
    text = await prefix(res.body);
  } catch (err) {
    return { reachable: false, error: `the answer broke off: ${(err as Error).message}`, timedOut: false };
  }
  if (res.status !== 200) return { reachable: true, status: res.status, ms, contentType, format: null, apiVersion: null, problem: null };
  let format: Format | null;
  try {
    format = contentType ? formatOf(contentType) : null;
  } catch (err) {
    if (!(err instanceof IndexFormatError)) throw err;
    return { reachable: true, status: res.status, ms, contentType, format: null, apiVersion: null, problem: err.message };
  }
  if (format === null && contentType !== null && !/^\s*(text\/plain|application\/octet-stream)?\s*(;|$)/i.test(contentType)) {
    return { reachable: true, status: res.status, ms, contentType, format: null, apiVersion: null, problem: `answers with ${contentType}, not a simple index` };
  }
  format ??= sniff(text);
  return { reachable: true, status: res.status, ms, contentType, format, apiVersion: apiVersion(format, text), problem: null };
}

/** PEP 629: `meta.api-version` in JSON, `<meta name="pypi:repository-version">` in HTML; absent means 1.0. */
function apiVersion(format: Format, text: string): string {
  if (format === 'json') return /"api-version"\s*:\s*"([^"]{1,20})"/.exec(text)?.[1] ?? '1.0';
  const meta = /<meta\b[^>]*\bname\s*=\s*["']pypi:repository-version["'][^>]*>/i.exec(text)?.[0];
  return (meta && /\bcontent\s*=\s*["']([^"']{1,20})["']/i.exec(meta)?.[1]) ?? '1.0';
}

async function prefix(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    n += chunk.length;
    if (n >= PREFIX_BYTES) break;
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, PREFIX_BYTES).toString('utf8');
}
