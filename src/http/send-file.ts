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
import { read as readFd, ReadStream } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Context } from 'koa';
import rangeParser from 'range-parser';
import { RangeNotSatisfiable } from '../errors.ts';
import { notModified } from './conditional.ts';
import type { FileHandle } from '../repos/types.ts';
import { BufferPool } from '../storage/buffer-pool.ts';

/** The body bytes this response sends, or the proxy sends for it (for per-file counters). */
export function sentBytes(ctx: Context): number {
  return (ctx.state.offloadedBytes as number | undefined) ?? ctx.length ?? 0;
}

export async function sendFile(ctx: Context, file: FileHandle, contentType = 'application/octet-stream', offloadPrefix: string | null = null): Promise<void> {
  return send(ctx, file, contentType, offloadPrefix, true);
}

/** `mayReopen`: bytes found missing at open are answered from file.reopen() (once). */
async function send(ctx: Context, file: FileHandle, contentType: string, offloadPrefix: string | null, mayReopen: boolean): Promise<void> {
  const etag = `"${file.sha256}"`;
  ctx.set('ETag', etag);
  ctx.set('Last-Modified', file.lastModified.toUTCString());
  ctx.set('Accept-Ranges', 'bytes');
  // A protected repository's file is for its reader alone (app.ts's guard says so before the handler runs).
  ctx.set('Cache-Control', `${ctx.state.cachePrivately === true ? 'private' : 'public'}, max-age=31536000, immutable`);
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
  try {
    if (body instanceof ReadStream) return await sendFromDisk(ctx, body, range?.start ?? 0, length);
    await started(body);
  } catch (err) {
    // Nothing is sent yet: a copy removed since its lookup is answered afresh (a remote fetches it again).
    if (!mayReopen || !file.reopen || (err as NodeJS.ErrnoException | null)?.code !== 'ENOENT') throw err;
    body.destroy();
    const again = await file.reopen();
    if (!again) throw err;
    return send(ctx, again, contentType, offloadPrefix, false);
  }
  ctx.body = body;
  ctx.length = length;
}

/**
 * The bytes of a file on disk (the fs blob store's open()), read into two
 * buffers that take turns: one is read while the other is written, and a
 * buffer is read into again only once the socket has taken it. Piping the
 * stream instead allocated a new 256 KiB buffer per read, which the garbage
 * collector freed late: 16 clients downloading a 200 MiB wheel held about
 * 200 MB, where this holds 2 buffers per download (and the socket's own
 * backpressure decides the pace, as with pipe). The buffers come from a
 * small pool and go back to it when a download ends cleanly: fresh ones per
 * download were freed only by a major GC, which a server busy only sending
 * files rarely runs, so each round of 16 downloads left 8 MB more behind.
 *
 * The stream itself is only used for its open file (its fd) and closed at
 * the end: whoever opened it (a cache's pin on the blob) sees it close as
 * before.
 */
async function sendFromDisk(ctx: Context, stream: ReadStream, start: number, length: number): Promise<void> {
  const fd = await opened(stream);
  const size = Math.min(length, DISK_CHUNK);
  let current = takeChunk(size);
  // The first read before the 200 is committed: a failure is still answered with its status.
  let n = length === 0 ? 0 : await readAt(fd, current, Math.min(size, length), start);
  if (length > 0 && n === 0) throw new Error('The file is shorter than its recorded size.');
  ctx.length = length;
  // Koa sends nothing more: the status and headers set so far go out with the first bytes.
  ctx.respond = false;
  const res = ctx.res;
  void (async () => {
    let spare = length > n ? takeChunk(size) : null;
    let pos = start + n;
    let left = length - n;
    for (;;) {
      const written = writeOut(res, n === current.length ? current : current.subarray(0, n));
      if (left === 0) {
        await written;
        break;
      }
      const [, got] = await Promise.all([written, readAt(fd, spare!, Math.min(spare!.length, left), pos)]);
      if (got === 0) throw new Error('The file is shorter than its recorded size.');
      [current, spare] = [spare!, current];
      n = got;
      pos += got;
      left -= got;
    }
    res.end();
    // Only now, with every write called back: the socket holds neither buffer.
    giveChunk(current);
    if (spare) giveChunk(spare);
  })().catch((err: Error) => res.destroy(err)).finally(() => stream.destroy());
}

const DISK_CHUNK = 256 * 1024;
/** Buffers kept for the next downloads: enough for 32 at once (16 MiB); more are left to the collector. */
const chunks = new BufferPool(() => Buffer.allocUnsafeSlow(DISK_CHUNK), 64);

/** A file smaller than one chunk gets a buffer of its own size, not a pooled 256 KiB. */
function takeChunk(size: number): Buffer {
  return size === DISK_CHUNK ? chunks.take() : Buffer.allocUnsafeSlow(size);
}

function giveChunk(buf: Buffer): void {
  if (buf.length === DISK_CHUNK) chunks.give(buf);
}

function opened(stream: ReadStream): Promise<number> {
  const fd = (stream as ReadStream & { fd?: number | null }).fd;
  if (typeof fd === 'number') return Promise.resolve(fd);
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      stream.off('open', onOpen);
      reject(err);
    };
    const onOpen = (fd: number): void => {
      stream.off('error', onError);
      resolve(fd);
    };
    stream.once('open', onOpen).once('error', onError);
  });
}

function readAt(fd: number, into: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    readFd(fd, into, 0, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** Resolves once the socket has taken `chunk` (its buffer may be reused); rejects if the response is gone first. */
function writeOut(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (res.destroyed) return Promise.reject(new Error('The client went away.'));
  return new Promise((resolve, reject) => {
    const onClose = (): void => reject(new Error('The client went away.'));
    res.once('close', onClose);
    res.write(chunk, (err) => {
      res.off('close', onClose);
      if (err) reject(err);
      else resolve();
    });
  });
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
