/**
 * The embedded default: one storage folder holding the SQLite database and
 * the blob store. Every store of the folder shares the one connection.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteAuditStore } from './audit-sqlite.ts';
import { FsBlobStore } from './blob-fs.ts';
import { SqliteCooldownStore } from './cooldown-sqlite.ts';
import { openDatabase } from './db.ts';
import { SqliteMetadataStore } from './metadata-sqlite.ts';
import { SqliteRemoteCacheStore } from './remote-cache-sqlite.ts';
import { SqliteSquatStore } from './squats-sqlite.ts';
import type { AuditStore, BlobStore, CooldownStore, MetadataStore, RemoteCacheStore, SquatStore, UserStore } from './types.ts';
import { SqliteUserStore } from './users-sqlite.ts';

export interface Storage {
  blobs: BlobStore;
  store: MetadataStore;
  remoteStore: RemoteCacheStore;
  squats: SquatStore;
  users: UserStore;
  audit: AuditStore;
  cooldown: CooldownStore;
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
  };
}
