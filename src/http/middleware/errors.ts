/**
 * Turns thrown errors into responses: a PydepotError carries its status and
 * one-line reason (sent as the HTTP reason phrase, which twine prints, and as
 * the body); anything else is a 500 that is logged, not exposed.
 */
import type { Context, Next } from 'koa';
import { PydepotError } from '../../errors.ts';

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
    } else {
      ctx.state.error = err;
    }
    ctx.status = status;
    // Headers meant for the success response must not describe the error body.
    for (const h of ['Content-Encoding', 'ETag', 'Content-Range', 'Vary']) ctx.remove(h);
    for (const [k, v] of Object.entries(headers)) ctx.set(k, v);
    ctx.message = reasonPhrase(message);
    if (ctx.path.includes('/pypi/') && ctx.path.endsWith('/json')) {
      ctx.type = 'application/json';
      ctx.body = JSON.stringify({ message });
    } else {
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = `${status} ${message}\n`;
    }
    ctx.set('Cache-Control', 'no-store');
    if (status === 413) ctx.set('Connection', 'close');
  }
}
