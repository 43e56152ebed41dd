/** The store contract (test/helpers/store-contract.ts) on the embedded default: SQLite; and SQLite's own migration of a stored root list. */
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

test('migration 12 keeps a stored root list, now under its serial; the next save replaces it', async (t) => {
  const dir = await tempDir(t);
  const { default: Database } = await import('better-sqlite3');
  const { MIGRATIONS } = await import('../../src/storage/migrations.ts');
  const old = new Database(join(dir, 'pydepot.db'));
  for (const m of MIGRATIONS.filter((x) => x.version <= 11)) old.exec(m.sql);
  old.pragma('user_version = 11');
  old.prepare(`INSERT INTO remote_roots (repo, checked_at, etag, last_modified, serial) VALUES ('pypi', 1000, '"e"', NULL, 7)`).run();
  for (const n of ['b', 'a', 'c']) old.prepare(`INSERT INTO remote_root_names (repo, name) VALUES ('pypi', ?)`).run(n);
  old.close();
  const db = openDatabase(join(dir, 'pydepot.db'));
  t.teardown(() => db.close());
  const rs = new SqliteRemoteCacheStore(db);
  t.deepEqual(await rs.getRoot('pypi'), { checkedAt: 1000, etag: '"e"', lastModified: null, serial: 7 });
  t.deepEqual(await rs.rootNames('pypi', '', 10), ['a', 'b', 'c']);
  await rs.saveRoot('pypi', [['z']], null, null, 2000);
  t.deepEqual(await rs.rootNames('pypi', '', 10), ['z']);
  t.is((await rs.getRoot('pypi'))?.serial, 8);
  t.is(db.prepare('SELECT count(*) FROM remote_root_names').pluck().get(), 1, 'the old list is gone');
});
