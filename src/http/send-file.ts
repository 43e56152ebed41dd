/**
 * Sends a stored file: ETag (its sha256), Last-Modified, single byte ranges
 * (incl. suffix ranges, which poetry and uv use to read a wheel's zip
 * directory), If-Range (pip ≥25.2 resumes downloads with it), HEAD, and
 * immutable caching — the URL contains the sha256, so it can never change.
 *
 * With `sendfileOffload` (an offload prefix), a GET for a file in the blob
 * folder is answered, after all of the above, with an empty body and
 * `X-Accel-Redirect: <prefix><key>`: nginx sends the bytes with sendfile,
 * and handles the Range itself (deploy/nginx.conf keeps this ETag, so its
 * If-Range agrees with pydepot's).
 */
import type { Readable } from 'node:stream';
import type { Context } from 'koa';
import rangeParser from 'range-parser';
import { RangeNotSatisfiable } from '../errors.ts';
import { notModified } from './conditional.ts';
import type { FileHandle } from '../repos/types.ts';

/** The body bytes this response sends, or the proxy sends for it (for per-file counters). */
export function sentBytes(ctx: Context): number {
  return (ctx.state.offloadedBytes as number | undefined) ?? ctx.length ?? 0;
}

export async function sendFile(ctx: Context, file: FileHandle, contentType = 'application/octet-stream', offloadPrefix: string | null = null): Promise<void> {
  const etag = `"${file.sha256}"`;
  ctx.set('ETag', etag);
  ctx.set('Last-Modified', file.lastModified.toUTCString());
  ctx.set('Accept-Ranges', 'bytes');
  ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
  ctx.type = contentType;

  if (notModified(ctx, etag, file.lastModified)) {
    ctx.status = 304;
    return;
  }

  let range: { start: number; end: number } | undefined;
  const header = ctx.get('Range');
  if (header && ifRangeMatches(ctx.get('If-Range'), etag, file.lastModified)) {
    const parsed = rangeParser(file.size, clampSuffix(header, file.size), { combine: true });
    if (parsed === -1) throw new RangeNotSatisfiable(file.size);
    // -2 (malformed) and multiple ranges: answer with the whole file, which
    // every client handles; no Python client sends multi-range requests.
    if (parsed !== -2 && parsed.type === 'bytes' && parsed.length === 1) {
      range = { start: parsed[0]!.start, end: parsed[0]!.end };
    }
  }

  if (range) {
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${file.size}`);
  } else {
    ctx.status = 200;
  }
  const length = range ? range.end - range.start + 1 : file.size;
  if (ctx.method === 'HEAD') {
    ctx.length = length;
    return;
  }
  if (offloadPrefix !== null && file.offload) {
    const key = await file.offload(range);
    if (key !== null) {
      // nginx's answer has its own Content-Range and length; the status logged here is the one it sends.
      ctx.remove('Content-Range');
      ctx.set('X-Accel-Redirect', `${offloadPrefix}${key}`);
      ctx.body = '';
      ctx.state.offloadedBytes = length;
      ctx.state.log = { ...(ctx.state.log as object | undefined), offloadedBytes: length };
      return;
    }
  }
  const body = file.open(range);
  await started(body);
  ctx.body = body;
  ctx.length = length;
}

/**
 * Resolves once the body has its first bytes (or has ended), rejects with its
 * error: a blob store that cannot serve the file now (an S3 bucket that does
 * not answer) is answered with its status, not a connection cut after a 200.
 */
function started(body: Readable): Promise<void> {
  // Later errors are the response pipeline's to handle; until it is attached,
  // this listener keeps one from being unhandled.
  body.on('error', () => undefined);
  return new Promise<void>((resolve, reject) => {
    const settle = (err?: Error): void => {
      body.off('readable', onReadable).off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onReadable = (): void => settle();
    const onError = (err: Error): void => settle(err);
    body.on('readable', onReadable).on('error', onError);
  });
}

/**
 * A suffix longer than the file means the whole file (RFC 9110 §14.1.3);
 * range-parser calls it unsatisfiable, which breaks poetry's first probe of
 * a small wheel.
 */
function clampSuffix(header: string, size: number): string {
  const m = /^\s*bytes\s*=\s*-(\d+)\s*$/.exec(header);
  return m && Number(m[1]) > size && size > 0 ? `bytes=-${size}` : header;
}

function ifRangeMatches(ifRange: string, etag: string, lastModified: Date): boolean {
  if (!ifRange) return true;
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) return ifRange === etag;
  const date = Date.parse(ifRange);
  return !Number.isNaN(date) && Math.floor(lastModified.getTime() / 1000) <= Math.floor(date / 1000);
}
