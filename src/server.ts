/**
 * Opens storage, builds the repositories and the app, and listens. stop()
 * stops accepting, lets requests in flight finish (up to a grace period),
 * then closes the database.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Authenticator } from './auth/authenticator.ts';
import { FailedLogins } from './auth/failed-logins.ts';
import type { Config } from './config/schema.ts';
import { buildApp } from './http/app.ts';
import { unmatchedPlatformGlobs } from './pypi/file-filter.ts';
import { AccessControl } from './http/middleware/access.ts';
import { MissBudget } from './http/miss-budget.ts';
import { PageCache } from './http/page-cache.ts';
import { ServeStats } from './http/serve-stats.ts';
import { createLogger, type Logger } from './log.ts';
import { createMetrics, storageGauges } from './metrics.ts';
import { Registry } from './repos/registry.ts';
import { scheduleScrubs } from './repos/scrub.ts';
import { retireHashWorkers } from './storage/digests.ts';
import { holdLease, newOwner } from './storage/lease.ts';
import { openStorage, removeLeftovers, serverLease } from './storage/open.ts';
import type { Clock } from './time.ts';
import { loadTlsFiles } from './tls.ts';

export interface RunningServer {
  url: string;
  server: Server | HttpsServer;
  logger: Logger;
  stop(graceMs?: number): Promise<void>;
  /**
   * Resolves once the background work that requests have started so far is
   * done (the squatting watch's recordings, which a request never waits for):
   * tests await it instead of polling the log.
   */
  idle(): Promise<void>;
}

/**
 * `clock`: for tests, which move time instead of waiting (cooldowns, page
 * freshness). `worker`: this process's number among the workers of
 * `workers: n` (cluster.ts): it is on every log line, and only worker 1 runs
 * the timed jobs (squatting checks, scrubs). Each round of those also takes a
 * lease in the database (jobRound), which is what keeps replicas (other
 * processes, other machines on one `database: postgres://…`) from running
 * the same round; the worker-1 rule stays so that the other workers do not
 * keep timers that would only find the lease taken.
 */
export async function startServer(config: Config, opts: { logger?: Logger; clock?: Clock; worker?: number; cleanTemp?: boolean } = {}): Promise<RunningServer> {
  const base = opts.logger ?? createLogger(config.log.level);
  const logger = opts.worker === undefined ? base : base.child({ worker: opts.worker });
  const jobs = opts.worker === undefined || opts.worker === 1;
  // Before storage: a bad certificate must not leave the database open.
  const tls = config.tls ? loadTlsFiles(config.tls) : null;
  const storage = await openStorage(config.storage, config.blobs, config.database);
  const { blobs, store } = storage;
  // A worker's primary cleaned up before forking: another worker may be writing to tmp/ by now.
  if (opts.cleanTemp ?? true) logLeftovers(await removeLeftovers(storage, { root: config.storage, sharedDatabase: config.database !== null }), logger);
  // Says "a server is running on this storage" to the next one that starts (see removeLeftovers).
  const serverId = newOwner();
  const stopHeartbeat = await holdLease({ store: storage.leases, owner: serverId, ttlMs: config.leaseTtl * 1000 }, serverLease(config.storage, serverId));

  // The gauges are read when scraped, after the registry exists.
  const metrics = createMetrics(() => storage.squats.squatCount(), () => registry.cooldownHidden(), opts.worker);
  const registry: Registry = new Registry(config, { ...storage, logger, metrics, ...(opts.clock ? { clock: opts.clock } : {}) });
  const stopSquatChecks = jobs ? registry.squats.schedule(registry.leases) : () => undefined;
  storageGauges(metrics, {
    caches: () => Promise.all(registry.remotes().map(async (r) => ({ repo: r.name, ...(await r.cachedFiles.usage()), limit: r.cachedFiles.limit }))),
    lastRun: (kind) => store.lastRun(kind),
  });
  // A maxCacheSize lowered since the last start applies now, not at the next download.
  for (const r of registry.remotes()) r.cachedFiles.check();
  const scrubs = scheduleScrubs(jobs ? config.scrub.interval : 0, config.scrub.rate, { ...storage, logger }, metrics.scrub, registry.leases);
  const authenticator = new Authenticator(storage.users, {
    failures: new FailedLogins(config.auth.failedLoginsPerMinute),
    passwordChecks: metrics.auth.passwordChecks,
  });
  const access = new AccessControl(config, authenticator, metrics.auth);
  warnAboutOpenUploads(config, logger);
  warnAboutFilters(config, logger);
  const handler = await buildApp({
    registry, blobs, store, logger, metrics, pageCache: new PageCache(), instanceId: await store.instanceId(), access,
    trustProxy: config.auth.trustProxy, bodyIdleTimeoutMs: config.limits.bodyIdleTimeout * 1000, bodyMinRate: config.limits.bodyMinRate,
    misses: new MissBudget(config.limits.missesPerMinute),
    serveStats: new ServeStats(metrics.served),
    users: storage.users, audit: storage.audit, squats: storage.squats, remoteStore: storage.remoteStore,
    offloadPrefix: config.sendfileOffload?.prefix ?? null,
  });
  // A connection that has not sent a whole request head within headersTimeout
  // (slowloris; also one that sends nothing) gets 408 and is closed. Node looks
  // for those every connectionsCheckingInterval (30 s by default): a quarter of
  // the timeout keeps the overshoot small.
  const headersTimeout = config.limits.headersTimeout * 1000;
  const options = { connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.round(headersTimeout / 4))) };
  const server = tls ? createHttpsServer({ ...tls, ...options }, handler) : createServer(options, handler);
  // Uploads of large wheels over slow links take long; Node's default
  // 5-minute requestTimeout would cut them off (limits.bodyMinRate and
  // bodyIdleTimeout drop the ones that merely trickle or stall).
  server.requestTimeout = 0;
  server.headersTimeout = headersTimeout;
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${tls ? 'https' : 'http'}://${host}:${addr.port}`;
  logger.info({ url, storage: config.storage, blobs: describeBlobs(config), database: describeDatabase(config), repositories: Object.keys(config.repositories) }, 'pydepot listening');

  let stopping: Promise<void> | null = null;
  const stop = (graceMs = 30_000): Promise<void> => {
    stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A keep-alive connection whose last response ends during the grace
      // period is idle from then on: close it then, not when the grace ends.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearInterval(sweep);
      clearTimeout(timer);
      stopSquatChecks();
      await scrubs.stop();
      await registry.close();
      retireHashWorkers();
      await stopHeartbeat();
      await store.close();
      logger.info('pydepot stopped');
    })();
    return stopping;
  };
  return { url, server, logger, stop, idle: () => registry.squats.idle() };
}

/** Logs what removeLeftovers removed at start-up. */
export function logLeftovers({ count, all }: { count: number; all: boolean }, logger: Logger): void {
  if (count === 0) return;
  if (all) logger.warn({ count }, 'removed unfinished transfers left in tmp/ by an earlier run');
  else logger.warn({ count }, 'removed unfinished transfers untouched for an hour from tmp/ (another server runs on this storage)');
}

/** An upload audience of anyone decides what code runs on every node: say so at every start. */
function warnAboutOpenUploads(config: Config, logger: Logger): void {
  for (const [name, rc] of Object.entries(config.repositories)) {
    if ((rc.type === 'local' || rc.type === 'wheelcache') && rc.upload.kind === 'anonymous') {
      logger.warn({ repo: name }, `repository '${name}' accepts uploads from anyone who can reach it (upload: anonymous)`);
    }
  }
}

/** Where the metadata lives, for the start-up line: never the URL's password. */
function describeDatabase(config: Config): string {
  if (!config.database) return 'SQLite in the storage folder';
  try {
    const u = new URL(config.database.url);
    return `PostgreSQL ${u.host}${u.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}

/** Where file contents go, for the start-up line. */
function describeBlobs(config: Config): string {
  const b = config.blobs;
  return b.type === 'fs' ? 'storage folder' : `s3://${b.bucket}/${b.prefix}${b.endpoint ? ` at ${b.endpoint}` : ` (AWS, ${b.region})`}`;
}

/** A platform glob that matches no tag pip knows is most likely a typo that drops every wheel it meant to keep. */
function warnAboutFilters(config: Config, logger: Logger): void {
  for (const [name, rc] of Object.entries(config.repositories)) {
    if ((rc.type !== 'remote' && rc.type !== 'virtual') || !rc.files) continue;
    const unmatched = unmatchedPlatformGlobs(rc.files);
    if (unmatched.length > 0) {
      logger.warn({ repo: name, globs: unmatched }, `files.platforms of repository '${name}' has globs that match no platform tag pip knows: ${unmatched.join(', ')}`);
    }
  }
}
