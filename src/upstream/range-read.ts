/**
 * Parts of an upstream file through HTTP Range requests (RFC 9110 §14): a
 * suffix range (`bytes=-N`) for its end, then `bytes=a-b` for whatever else
 * is needed. Every answer is held to what was asked: a 206 with a single
 * Content-Range naming exactly the range and the file's whole length, and
 * exactly that many bytes. An upstream that ignores Range (a 200 with the
 * whole file: the body is dropped at once) or refuses it (416, 501) throws
 * RangeNotSupported, which callers meet with a fallback, not a failure.
 */
import type { ZipRangeReader } from '../pypi/wheel-zip.ts';
import { describe, type UpstreamClient, type UpstreamResponse, UpstreamRequestError } from './client.ts';

export class RangeNotSupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RangeNotSupported';
  }
}

export interface RangeReadOptions {
  /** The file's size as the index declared it, if it did: the upstream must agree. */
  expectedSize: number | null;
  /** Called with the body bytes of each answer as they arrive (metrics). */
  onBytes?(n: number): void;
}

/** Counts of what the reader asked the upstream for. */
export interface RangeReadStats {
  requests: number;
  bytes: number;
}

export function upstreamRangeReader(client: UpstreamClient, url: string, opts: RangeReadOptions): ZipRangeReader & { stats: RangeReadStats } {
  const stats: RangeReadStats = { requests: 0, bytes: 0 };
  let size: number | null = opts.expectedSize;

  const fetchRange = async (spec: string, want: (total: number) => { start: number; end: number }): Promise<{ bytes: Buffer; total: number }> => {
    stats.requests++;
    let res: UpstreamResponse;
    try {
      res = await client.get(url, { range: `bytes=${spec}`, 'accept-encoding': 'identity' });
    } catch (err) {
      throw describe(err, new URL(url));
    }
    if (res.status === 200) {
      drop(res);
      throw new RangeNotSupported(`upstream ignores Range requests (answered 200 to bytes=${spec})`);
    }
    if (res.status === 416 || res.status === 501) {
      res.body.resume();
      throw new RangeNotSupported(`upstream refuses Range requests (answered ${res.status} to bytes=${spec})`);
    }
    if (res.status !== 206) {
      res.body.resume();
      throw new UpstreamRequestError(`upstream answered ${res.status} to a Range request for ${url}`, false);
    }
    const got = parseContentRange(header(res, 'content-range'));
    const encoding = header(res, 'content-encoding');
    if (!got || (encoding !== null && encoding.toLowerCase() !== 'identity')) {
      drop(res);
      throw new RangeNotSupported(`upstream answered a Range request with ${got ? `Content-Encoding ${encoding}` : 'no single byte range'}`);
    }
    if (size !== null && got.total !== size) {
      drop(res);
      throw new UpstreamRequestError(`upstream says ${url} is ${got.total} bytes, the index declared ${size}`, false);
    }
    const asked = want(got.total);
    if (got.start !== asked.start || got.end !== asked.end) {
      drop(res);
      throw new UpstreamRequestError(`upstream sent bytes ${got.start}-${got.end} of ${url} for bytes=${spec}`, false);
    }
    const length = got.end - got.start + 1;
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const chunk of res.body) {
        const c = chunk as Buffer;
        n += c.length;
        stats.bytes += c.length;
        opts.onBytes?.(c.length);
        if (n > length) throw new UpstreamRequestError(`upstream sent more than the ${length} bytes of its Content-Range for ${url}`, false);
        chunks.push(c);
      }
    } catch (err) {
      drop(res);
      throw err instanceof UpstreamRequestError ? err : describe(err, new URL(url));
    }
    if (n !== length) throw new UpstreamRequestError(`upstream sent ${n} of the ${length} bytes of its Content-Range for ${url}`, false);
    return { bytes: Buffer.concat(chunks, n), total: got.total };
  };

  return {
    stats,
    async tail(length: number) {
      const { bytes, total } = await fetchRange(`-${length}`, (total) => ({ start: Math.max(0, total - length), end: total - 1 }));
      size = total;
      return { bytes, size: total };
    },
    async read(start: number, end: number) {
      if (end <= start) return Buffer.alloc(0);
      const { bytes } = await fetchRange(`${start}-${end - 1}`, () => ({ start, end: end - 1 }));
      return bytes;
    },
  };
}

/** `bytes START-END/TOTAL`, or null (a `*` length, a multipart answer, nonsense). */
export function parseContentRange(v: string | null): { start: number; end: number; total: number } | null {
  const m = v === null ? null : /^bytes (\d+)-(\d+)\/(\d+)$/i.exec(v.trim());
  if (!m) return null;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![start, end, total].every(Number.isSafeInteger) || start > end || end >= total) return null;
  return { start, end, total };
}

/** Hangs up on a body not wanted (undici reports the abort as an error: it is expected). */
function drop(res: UpstreamResponse): void {
  res.body.on('error', () => undefined);
  res.body.destroy();
}

function header(res: UpstreamResponse, name: string): string | null {
  const v = res.headers[name];
  return Array.isArray(v) ? (v.length === 1 ? v[0]! : null) : (v ?? null);
}
