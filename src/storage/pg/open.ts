/**
 * `database: postgres://…`: the metadata stores on a PostgreSQL database,
 * shared by any number of pydepot processes (replicas) on any machines.
 * `pg` is imported here, dynamically, and only here: the embedded default's
 * start-up never loads it.
 */
import type { AuditStore, CooldownStore, LeaseStore, MetadataStore, RemoteCacheStore, SquatStore, UserStore } from '../types.ts';
import { PgAuditStore } from './audit.ts';
import { PgCooldownStore } from './cooldown.ts';
import { PgDb } from './db.ts';
import { PgLeaseStore } from './leases.ts';
import { PgMetadataStore } from './metadata.ts';
import { migrate } from './migrations.ts';
import { PgRemoteCacheStore } from './remote-cache.ts';
import { PgSquatStore } from './squats.ts';
import { PgUserStore } from './users.ts';

export interface PgStoreOptions {
  /** Connections per process (default 10). Each replica holds up to this many: size PostgreSQL's max_connections for all of them. */
  poolSize?: number;
  /** How long a query waits for a connection, ms (default 5000); past it, StorageUnavailable. */
  connectTimeoutMs?: number;
  /** Reported as application_name in pg_stat_activity. */
  applicationName?: string;
}

export interface PgStores {
  store: MetadataStore;
  remoteStore: RemoteCacheStore;
  squats: SquatStore;
  users: UserStore;
  audit: AuditStore;
  cooldown: CooldownStore;
  leases: LeaseStore;
  /** Ends the pool (every store above); safe to call more than once. */
  close(): Promise<void>;
}

export const DEFAULT_POOL_SIZE = 10;

const INT8_OID = 20;

/**
 * Connects, migrates (under the advisory lock: see migrations.ts) and
 * returns the stores. Fails with StorageUnavailable when the database cannot
 * be reached, SchemaTooNew when a newer pydepot migrated it.
 */
export async function openPgStores(url: string, opts: PgStoreOptions = {}): Promise<PgStores> {
  const pg = (await import('pg')).default;
  // BIGINT columns (ms timestamps, serials, counts) as numbers: every value
  // pydepot stores in one is far below 2^53. Per pool, not pg's global parsers.
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
  };
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    // A peer gone without a word (a machine lost) is found by TCP keepalive, not by a request hanging.
    keepAlive: true,
    application_name: opts.applicationName ?? 'pydepot',
    types,
  });
  const db = new PgDb(pool);
  try {
    await migrate(db);
  } catch (err) {
    await db.end().catch(() => {});
    throw err;
  }
  return {
    store: new PgMetadataStore(db),
    remoteStore: new PgRemoteCacheStore(db),
    squats: new PgSquatStore(db),
    users: new PgUserStore(db),
    audit: new PgAuditStore(db),
    cooldown: new PgCooldownStore(db),
    leases: new PgLeaseStore(db),
    close: () => db.end(),
  };
}
