/** The store contract (test/helpers/store-contract.ts) on the embedded default: SQLite. */
import { join } from 'node:path';
import test from 'ava';
import { SqliteAuditStore } from '../../src/storage/audit-sqlite.ts';
import { SqliteCooldownStore } from '../../src/storage/cooldown-sqlite.ts';
import { openDatabase } from '../../src/storage/db.ts';
import { SqliteLeaseStore } from '../../src/storage/lease-sqlite.ts';
import { SqliteMetadataStore } from '../../src/storage/metadata-sqlite.ts';
import { SqliteRemoteCacheStore } from '../../src/storage/remote-cache-sqlite.ts';
import { SqliteSquatStore } from '../../src/storage/squats-sqlite.ts';
import { SqliteUserStore } from '../../src/storage/users-sqlite.ts';
import { tempDir } from '../helpers/server.ts';
import { storeContract } from '../helpers/store-contract.ts';

storeContract(test, 'sqlite', async (t) => {
  const db = openDatabase(join(await tempDir(t), 'pydepot.db'));
  t.teardown(() => db.close());
  const audit = new SqliteAuditStore(db);
  return {
    store: new SqliteMetadataStore(db, audit),
    remoteStore: new SqliteRemoteCacheStore(db),
    squats: new SqliteSquatStore(db),
    users: new SqliteUserStore(db),
    audit: audit,
    cooldown: new SqliteCooldownStore(db, audit),
    leases: new SqliteLeaseStore(db),
  };
});
