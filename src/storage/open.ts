/**
 * The embedded default: one storage folder holding the SQLite database and
 * the blob store. Every store of the folder shares the one connection. With
 * S3 blobs, the folder keeps the database and the staging area (tmp/) only.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
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

/** Where file contents live: the storage folder (default), or an S3-compatible bucket. */
export type BlobsOptions = { type: 'fs' } | ({ type: 's3' } & S3BlobOptions);

/**
 * The storage folder's database and blob store, created if missing. An S3
 * bucket must exist and answer (HeadBucket) before anything is opened.
 */
export async function openStorage(root: string, blobsOptions: BlobsOptions = { type: 'fs' }): Promise<Storage> {
  mkdirSync(root, { recursive: true });
  // The AWS SDK is loaded only when it is used: a third of a second of CPU at every start otherwise.
  const blobs = blobsOptions.type === 's3'
    ? new (await import('./blob-s3.ts')).S3BlobStore(root, blobsOptions)
    : new FsBlobStore(root);
  await blobs.init();
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
/** A running server's heartbeat lease is `server:<owner>`. */
export const SERVER_LEASE = 'server:';

/**
 * At a server's start: temp files an earlier run left behind (a crash
 * mid-transfer). While another server runs on the same storage (its
 * heartbeat lease `server:…` is live), its transfers are in tmp/ too: then
 * only the ones untouched for an hour go, as with `pydepot gc`.
 */
export async function removeLeftovers(storage: Storage): Promise<{ count: number; all: boolean }> {
  if ((await storage.leases.live(SERVER_LEASE)).some((key) => ownerAlive(key.slice(SERVER_LEASE.length)))) {
    const { count } = await storage.blobs.removeStaleTemp(new Date(Date.now() - STALE_TEMP_MS));
    return { count, all: false };
  }
  return { count: await storage.blobs.cleanTemp(), all: true };
}
