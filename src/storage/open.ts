/**
 * The embedded default: one storage folder holding the SQLite database and
 * the blob store. Every store of the folder shares the one connection.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteAuditStore } from './audit-sqlite.ts';
import { FsBlobStore } from './blob-fs.ts';
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

/** The storage folder's database and blob store, created if missing. */
export async function openStorage(root: string): Promise<Storage> {
  mkdirSync(root, { recursive: true });
  const blobs = new FsBlobStore(root);
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
  if (storage.leases.live(SERVER_LEASE).some((key) => ownerAlive(key.slice(SERVER_LEASE.length)))) {
    const { count } = await storage.blobs.removeStaleTemp(new Date(Date.now() - STALE_TEMP_MS));
    return { count, all: false };
  }
  return { count: await storage.blobs.cleanTemp(), all: true };
}
