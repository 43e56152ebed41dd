/**
 * One log line and one metrics sample per request, written when the last
 * byte has gone out (or the client went away), so durations cover streaming.
 * Only method, path, status, size and duration: never headers or query
 * strings, which may carry credentials.
 */
import type { Context, Next } from 'koa';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';

export function requestLog(logger: Logger, metrics: Metrics) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const start = process.hrtime.bigint();
    const socket = ctx.req.socket;
    const written0 = socket.bytesWritten;
    let logged = false;
    const done = (): void => {
      if (logged) return;
      logged = true;
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      const status = ctx.res.writableFinished ? ctx.status : 499;
      metrics.requests.inc({ method: ctx.method, route: String(route), status: String(status) });
      metrics.duration.observe({ method: ctx.method, route: String(route) }, seconds);
      const line = {
        method: ctx.method,
        path: ctx.path,
        status,
        bytes: Math.max(0, socket.bytesWritten - written0),
        durationMs: Math.round(seconds * 1e4) / 10,
        ...(ctx.state.log ?? {}),
      };
      const err = ctx.state.error as Error | undefined;
      if (err) logger.error({ ...line, err }, 'request failed');
      else if (status >= 500) logger.warn(line, 'request');
      else logger.info(line, 'request');
    };
    ctx.res.once('finish', done);
    // A client that closes as soon as it has the last byte can make 'close'
    // arrive just before 'finish' (the last write's callback): give that one
    // turn of the event loop before calling it a client that went away (499).
    ctx.res.once('close', () => setImmediate(done));
    await next();
  };
}
