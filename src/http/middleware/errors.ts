/**
 * Turns thrown errors into responses: a PydepotError carries its status and
 * one-line reason (sent as the HTTP reason phrase, which twine prints, and as
 * the body); anything else is a 500 that is logged, not exposed.
 */
import type { IncomingMessage } from 'node:http';
import type { Context, Next } from 'koa';
import { PydepotError, Unresolvable } from '../../errors.ts';

// A refused upload's unread body is read and dropped up to this much, so a
// client still sending gets the answer rather than a broken pipe; past it
// (a 2 GiB wheel refused for want of a token) the connection is cut.
const DRAIN_BYTES = 16 * 1024 * 1024;
const DRAIN_MS = 10_000;

/** Reason phrases must be one line of ISO-8859-1. */
function reasonPhrase(message: string): string {
  return message.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e\xa0-\xff]/g, '?').slice(0, 1000);
}

export async function errorMiddleware(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    if (ctx.headerSent) {
      // Mid-stream: the only honest signal left is to cut the connection.
      ctx.req.socket.destroy();
      throw err;
    }
    let status = 500;
    let message = 'Internal Server Error';
    let headers: Record<string, string> = {};
    if (err instanceof PydepotError) {
      ({ status, message, headers } = err);
      // A server-side failure (the blob store down) is logged with its cause; the client gets the message only.
      if (status >= 500 && err.cause !== undefined) ctx.state.error = err;
    } else {
      ctx.state.error = err;
    }
    ctx.status = status;
    // Headers meant for the success response must not describe the error body.
    for (const h of ['Content-Encoding', 'ETag', 'Content-Range', 'Vary']) ctx.remove(h);
    for (const [k, v] of Object.entries(headers)) ctx.set(k, v);
    ctx.message = reasonPhrase(message);
    const details = err instanceof Unresolvable ? err.details : null;
    if (details || (ctx.path.includes('/pypi/') && ctx.path.endsWith('/json'))) {
      ctx.type = 'application/json';
      ctx.body = JSON.stringify({ message, ...details });
    } else {
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = `${status} ${message}\n`;
    }
    ctx.set('Cache-Control', 'no-store');
    if (status === 413 || hasUnreadBody(ctx.req)) {
      // The rest of the body is not worth a kept-alive connection: with
      // `Connection: close` Node closes the socket once the answer is out,
      // reading no more of a body that was not drained.
      ctx.set('Connection', 'close');
      await drained(ctx.req);
    }
  }
}

function hasUnreadBody(req: IncomingMessage): boolean {
  const length = Number(req.headers['content-length'] ?? 0);
  return !req.complete && (length > 0 || req.headers['transfer-encoding'] !== undefined);
}

/** Reads and drops the rest of the body; false when it is larger or slower than a refusal is worth (the reading stops). */
function drained(req: IncomingMessage): Promise<boolean> {
  if (req.complete || req.destroyed) return Promise.resolve(req.complete);
  return new Promise<boolean>((resolve) => {
    let seen = 0;
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('close', onClose);
      if (!ok) req.pause();
      resolve(ok);
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > DRAIN_BYTES) done(false);
    };
    const onEnd = (): void => done(true);
    const onClose = (): void => done(req.complete);
    const timer = setTimeout(() => done(false), DRAIN_MS);
    req.on('data', onData).once('end', onEnd).once('close', onClose);
    req.resume();
  });
}
