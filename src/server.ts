/**
 * Opens storage, builds the repositories and the app, and listens. stop()
 * stops accepting, lets requests in flight finish (up to a grace period),
 * then closes the database.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Config } from './config/schema.ts';
import { buildApp } from './http/app.ts';
import { PageCache } from './http/page-cache.ts';
import { createLogger, type Logger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { Registry } from './repos/registry.ts';
import { VirtualRepository } from './repos/virtual.ts';
import { FsBlobStore } from './storage/blob-fs.ts';
import { openDatabase } from './storage/db.ts';
import { SqliteMetadataStore } from './storage/metadata-sqlite.ts';
import { SqliteRemoteCacheStore } from './storage/remote-cache-sqlite.ts';
import { SqliteSquatStore } from './storage/squats-sqlite.ts';
import { SqliteAuditStore } from './storage/audit-sqlite.ts';
import { SqliteUserStore } from './storage/users-sqlite.ts';
import { AccessControl } from './auth/access.ts';
import { Authenticator } from './auth/authenticator.ts';
import { FailedLogins } from './auth/failed-logins.ts';
import { loadTlsFiles } from './tls.ts';

export interface Storage {
  blobs: FsBlobStore;
  store: SqliteMetadataStore;
  remoteStore: SqliteRemoteCacheStore;
  squats: SqliteSquatStore;
  users: SqliteUserStore;
  audit: SqliteAuditStore;
}

/** The storage folder's database and blob store, created if missing. */
export async function openStorage(root: string): Promise<Storage> {
  mkdirSync(root, { recursive: true });
  const blobs = new FsBlobStore(root);
  await blobs.init();
  const db = openDatabase(join(root, 'pydepot.db'));
  return {
    blobs,
    store: new SqliteMetadataStore(db),
    remoteStore: new SqliteRemoteCacheStore(db),
    squats: new SqliteSquatStore(db),
    users: new SqliteUserStore(db),
    audit: new SqliteAuditStore(db),
  };
}

export interface RunningServer {
  url: string;
  server: Server | HttpsServer;
  logger: Logger;
  stop(graceMs?: number): Promise<void>;
}

export async function startServer(config: Config, opts: { logger?: Logger } = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger(config.log.level);
  // Before storage: a bad certificate must not leave the database open.
  const tls = config.tls ? loadTlsFiles(config.tls) : null;
  const storage = await openStorage(config.storage);
  const { blobs, store } = storage;
  const leftovers = await blobs.cleanTemp();
  if (leftovers > 0) logger.warn({ count: leftovers }, 'removed unfinished transfers left in tmp/ by an earlier run');

  const metrics = createMetrics(storage.squats);
  const registry = new Registry(config, { ...storage, logger, metrics });
  const stopSquatChecks = scheduleSquatChecks(registry, logger);
  const access = new AccessControl(config, registry, new Authenticator(storage.users), new FailedLogins(config.auth.failedLoginsPerMinute), metrics.auth);
  warnAboutOpenUploads(config, logger);
  const app = buildApp({
    registry, blobs, store, logger, metrics, pageCache: new PageCache(), instanceId: store.instanceId(), access, audit: storage.audit,
    trustProxy: config.auth.trustProxy,
  });
  const server = tls ? createHttpsServer(tls, app.callback()) : createServer(app.callback());
  // Uploads of large wheels over slow links take long; Node's default
  // 5-minute requestTimeout would cut them off.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
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
  logger.info({ url, storage: config.storage, repositories: Object.keys(config.repositories) }, 'pydepot listening');

  let stopping: Promise<void> | null = null;
  const stop = (graceMs = 30_000): Promise<void> => {
    stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
      stopSquatChecks();
      await registry.close();
      store.close();
      logger.info('pydepot stopped');
    })();
    return stopping;
  };
  return { url, server, logger, stop };
}

/**
 * Asks the remotes about every hosted name now and then, so a squat is
 * logged even if nobody looks. Not at start-up: the first check waits one
 * interval, and a check never delays a request.
 */
function scheduleSquatChecks(registry: Registry, logger: Logger): () => void {
  const timers: NodeJS.Timeout[] = [];
  for (const repo of registry.all()) {
    if (!(repo instanceof VirtualRepository) || repo.squatCheckInterval === 0) continue;
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      repo.checkUpstreams()
        .then(({ checked, failed }) => logger.debug({ repo: repo.name, checked, failed: failed.length }, 'squatting check done'))
        .catch((err: Error) => logger.warn({ repo: repo.name, reason: err.message }, 'squatting check failed'))
        .finally(() => { running = false; });
    }, repo.squatCheckInterval * 1000);
    timer.unref();
    timers.push(timer);
  }
  return () => timers.forEach(clearInterval);
}

/** An upload audience of anyone decides what code runs on every node: say so at every start. */
function warnAboutOpenUploads(config: Config, logger: Logger): void {
  for (const [name, rc] of Object.entries(config.repositories)) {
    if (rc.type === 'local' && rc.upload.kind === 'anonymous') {
      logger.warn({ repo: name }, `repository '${name}' accepts uploads from anyone who can reach it (upload: anonymous)`);
    }
  }
}
