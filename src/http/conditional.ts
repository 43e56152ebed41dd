/**
 * Conditional GET as an origin server answers it (RFC 9110 §13). Not koa's
 * ctx.fresh: that is a cache's rule and refuses a 304 whenever the request
 * says `Cache-Control: no-cache`, which fetch() and others always send with
 * a conditional request.
 */
import type { Context } from 'koa';

/** Does an If-None-Match header name `etag` (weak comparison, `*` matches)? */
export function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const weak = (tag: string) => tag.trim().replace(/^W\//, '');
  const mine = weak(etag);
  return header.split(',').some((tag) => weak(tag) === mine);
}

/** True when the client's copy is current: answer 304. */
export function notModified(ctx: Context, etag: string, lastModified?: Date): boolean {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return false;
  const inm = ctx.get('If-None-Match');
  if (inm) return etagMatches(inm, etag);
  const ims = ctx.get('If-Modified-Since');
  if (ims && lastModified) {
    const since = Date.parse(ims);
    return !Number.isNaN(since) && Math.floor(lastModified.getTime() / 1000) <= Math.floor(since / 1000);
  }
  return false;
}
