/**
 * One log line and one metrics sample per request, written when the last
 * byte has gone out (or the client went away), so durations cover streaming.
 * Only method, path, status, size and duration: never headers or query
 * strings, which may carry credentials.
 *
 * Per request this costs two listeners and one small state object, and no
 * closures: the index pages' fast path (fast-page.ts) records its requests
 * through the same RequestRecorder, so both write the same line and samples.
 */
import type { ServerResponse } from 'node:http';
import type { Context, Next } from 'koa';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';

/** What a finished request is logged with, read once it has finished. */
export interface RequestInfo {
  method: string;
  path: string;
  /** The route's pattern (the metrics label); 'unmatched' when none. */
  route: string;
  /** The status sent (a client that went away is logged 499 whatever it was). */
  status: number;
  /** Extra log fields (ctx.state.log). */
  extra?: object;
  error?: Error;
}

interface Pending {
  recorder: RequestRecorder;
  start: bigint;
  /** The response's socket, kept: the response lets go of it when it finishes. */
  socket: ServerResponse['socket'];
  written0: number;
  info: () => RequestInfo;
  logged: boolean;
}

const PENDING = Symbol('pydepot.request');
type Tracked = ServerResponse & { [PENDING]?: Pending };

function onFinish(this: Tracked): void {
  finish(this);
}

function onClose(this: Tracked): void {
  // A client that closes as soon as it has the last byte can make 'close'
  // arrive just before 'finish' (the last write's callback): give that one
  // turn of the event loop before calling it a client that went away (499).
  setImmediate(finish, this);
}

function finish(res: Tracked): void {
  const p = res[PENDING];
  if (!p || p.logged) return;
  p.logged = true;
  p.recorder.record(res, p);
}

export class RequestRecorder {
  constructor(private readonly logger: Logger, private readonly metrics: Metrics) {}

  /** Starts timing `res`; `info` is read once it has finished. */
  track(res: ServerResponse, start: bigint, info: () => RequestInfo): void {
    const socket = res.socket;
    (res as Tracked)[PENDING] = { recorder: this, start, socket, written0: socket?.bytesWritten ?? 0, info, logged: false };
    res.once('finish', onFinish);
    res.once('close', onClose);
  }

  /** @internal */
  record(res: ServerResponse, p: Pending): void {
    const seconds = Number(process.hrtime.bigint() - p.start) / 1e9;
    const info = p.info();
    const status = res.writableFinished ? info.status : 499;
    const { method, route } = info;
    this.metrics.requests.inc({ method, route, status: String(status) });
    this.metrics.duration.observe({ method, route }, seconds);
    // The line is built only to be written (a bench runs with log level silent; a deployment at info writes every one).
    if (!info.error && status < 500 && !this.logger.isLevelEnabled('info')) return;
    const line = {
      method,
      path: info.path,
      status,
      bytes: Math.max(0, (p.socket?.bytesWritten ?? p.written0) - p.written0),
      durationMs: Math.round(seconds * 1e4) / 10,
      ...info.extra,
    };
    if (info.error) this.logger.error({ ...line, err: info.error }, 'request failed');
    else if (status >= 500) this.logger.warn(line, 'request');
    else this.logger.info(line, 'request');
  }
}

function koaInfo(this: Context): RequestInfo {
  const route = (this as Context & { _matchedRoute?: string })._matchedRoute;
  return {
    method: this.method,
    path: this.path,
    route: route === undefined ? 'unmatched' : String(route),
    status: this.status,
    extra: this.state.log as object | undefined,
    error: this.state.error as Error | undefined,
  };
}

export function requestLog(recorder: RequestRecorder) {
  return (ctx: Context, next: Next): Promise<void> => {
    recorder.track(ctx.res, process.hrtime.bigint(), koaInfo.bind(ctx));
    return next();
  };
}
