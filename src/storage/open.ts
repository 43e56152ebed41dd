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
  };
}
