/**
 * The embedded default: one storage folder holding the SQLite database and
 * the blob store. Every store of the folder shares the one connection. With
 * S3 blobs, the folder keeps the database and the staging area (tmp/) only.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { SqliteAuditStore } from './audit-sqlite.ts';
import { FsBlobStore } from './blob-fs.ts';
import type { S3BlobOptions } from './blob-s3.ts';
import { SqliteCooldownStore } from './cooldown-sqlite.ts';
import { ownerAlive } from './lease.ts';
import { SqliteLeaseStore } from './lease-sqlite.ts';
import { openDatabase } from './db.ts';
import { SqliteMetadataStore } from './metadata-sqlite.ts';
import { SqliteRemoteCacheStore } from './remote-cache-sqlite.ts';
import { SqliteSquatStore } from './squats-sqlite.ts';
import type { AuditStore, BlobStore, CooldownStore, LeaseStore, MetadataStore, RemoteCacheStore, SquatStore, UserStore } from './types.ts';
import { SqliteUserStore } from './users-sqlite.ts';

export interface Storage {
  blobs: BlobStore;
  store: MetadataStore;
  remoteStore: RemoteCacheStore;
  squats: SquatStore;
  users: UserStore;
  audit: AuditStore;
  cooldown: CooldownStore;
  /** Shared with every process on the same database (workers, a CLI run). */
  leases: LeaseStore;
}

/** `database: postgres://…` (config's DatabaseConfig): the metadata stores on PostgreSQL; null: SQLite in the storage folder. */
export interface DatabaseOptions {
  url: string;
  poolSize: number;
}

/** Where file contents live: the storage folder (default), or an S3-compatible bucket. */
export type BlobsOptions = { type: 'fs' } | ({ type: 's3' } & S3BlobOptions);

/**
 * The storage folder's database and blob store, created if missing. An S3
 * bucket must exist and answer (HeadBucket) before anything is opened.
 */
export async function openStorage(root: string, blobsOptions: BlobsOptions = { type: 'fs' }, database: DatabaseOptions | null = null): Promise<Storage> {
  mkdirSync(root, { recursive: true });
  // The AWS SDK is loaded only when it is used: a third of a second of CPU at every start otherwise.
  const blobs = blobsOptions.type === 's3'
    ? new (await import('./blob-s3.ts')).S3BlobStore(root, blobsOptions)
    : new FsBlobStore(root);
  await blobs.init();
  if (database) {
    // pg likewise: loaded only with `database: postgres://…`.
    const { openPgStores } = await import('./pg/open.ts');
    const { close: _close, ...stores } = await openPgStores(database.url, { poolSize: database.poolSize });
    // store.close() ends the pool every store shares, as SQLite's ends its one connection.
    return { blobs, ...stores };
  }
  const db = openDatabase(join(root, 'pydepot.db'));
  const audit = new SqliteAuditStore(db);
  return {
    blobs,
    store: new SqliteMetadataStore(db, audit),
    remoteStore: new SqliteRemoteCacheStore(db),
    squats: new SqliteSquatStore(db),
    users: new SqliteUserStore(db),
    audit,
    cooldown: new SqliteCooldownStore(db, audit),
    leases: new SqliteLeaseStore(db),
  };
}

const STALE_TEMP_MS = 60 * 60 * 1000;
/** A running server's heartbeat lease is `server:<host>:<storage folder>#<owner>` (serverLease). */
export const SERVER_LEASE = 'server:';

/**
 * The heartbeat lease of a server whose tmp/ is in the storage folder `root`
 * on this machine. The folder is in the key because with a shared database
 * (`database: postgres://…`) the live servers include replicas on other
 * machines, or with other folders, whose transfers are in their own tmp/.
 */
export function serverLease(root: string, owner: string): string {
  return `${SERVER_LEASE}${folderOf(root)}#${owner}`;
}

function folderOf(root: string): string {
  let path = resolve(root);
  try {
    path = realpathSync(path);
  } catch {
    // Not there yet: openStorage makes it; the path as given names it as well.
  }
  return `${hostname()}:${path}`;
}

/**
 * At a server's start: temp files an earlier run left behind (a crash
 * mid-transfer). While another server runs on the same storage folder (its
 * heartbeat lease is live), its transfers are in tmp/ too: then only the
 * ones untouched for an hour go, as with `pydepot gc`.
 *
 * With SQLite the database is in the folder, so every live server is on this
 * folder (whatever path or machine name it sees it under). With a shared
 * database (`sharedDatabase`) only the servers whose lease names this machine
 * and this folder are: the replicas elsewhere do not hold back the clean-up.
 */
export async function removeLeftovers(storage: Storage, where: { root: string; sharedDatabase: boolean }): Promise<{ count: number; all: boolean }> {
  const here = `${SERVER_LEASE}${folderOf(where.root)}#`;
  const onThisFolder = (key: string): boolean => {
    const hash = key.lastIndexOf('#');
    // A key without a folder (a server of an earlier version): it may be on this one.
    if (hash < 0) return ownerAlive(key.slice(SERVER_LEASE.length));
    if (where.sharedDatabase && key.slice(0, hash + 1) !== here) return false;
    return ownerAlive(key.slice(hash + 1));
  };
  if ((await storage.leases.live(SERVER_LEASE)).some(onThisFolder)) {
    const { count } = await storage.blobs.removeStaleTemp(new Date(Date.now() - STALE_TEMP_MS));
    return { count, all: false };
  }
  return { count: await storage.blobs.cleanTemp(), all: true };
}
