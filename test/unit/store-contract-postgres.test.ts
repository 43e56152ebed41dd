/**
 * The store contract (test/helpers/store-contract.ts) on PostgreSQL, plus
 * what only a shared database server has: replicas migrating together, a
 * newer schema refused, the server going away and coming back.
 */
import test from 'ava';
import pg from 'pg';
import { StorageUnavailable } from '../../src/errors.ts';
import { isUnavailable, PgDb } from '../../src/storage/pg/db.ts';
import { PG_MIGRATIONS, SchemaTooNew } from '../../src/storage/pg/migrations.ts';
import { openPgStores, type PgStores } from '../../src/storage/pg/open.ts';
import { freePort, freshDatabase, stoppableCluster } from '../helpers/postgres.ts';
import { storeContract } from '../helpers/store-contract.ts';

async function open(url: string, t: { teardown(fn: () => unknown): void }): Promise<PgStores> {
  const stores = await openPgStores(url, { poolSize: 4 });
  t.teardown(() => stores.close());
  return stores;
}

storeContract(test, 'postgres', async (t) => open(await freshDatabase(), t));

test('postgres: replicas opening one fresh database at once migrate it once', async (t) => {
  const url = await freshDatabase();
  const replicas = await Promise.all([1, 2, 3].map(() => open(url, t)));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.teardown(() => client.end());
  const { rows } = await client.query<{ version: number; name: string }>('SELECT version, name FROM pydepot_migrations ORDER BY version');
  t.deepEqual(rows.map((r) => r.version), PG_MIGRATIONS.map((m) => m.version));
  // One instance row: a second run of migration 1 would have failed or added one.
  t.is((await client.query('SELECT id FROM instance')).rows.length, 1);
  const ids = await Promise.all(replicas.map((r) => r.store.instanceId()));
  t.is(new Set(ids).size, 1);
  // What one replica writes, another reads at once (serials live in the database).
  await replicas[0]!.cooldown.add({ id: 'x', project: 'acme', version: null, repo: null, until: '2027-01-01', reason: 'r', createdAt: '2026-12-01', createdBy: 'a' },
    { user: 'a', tokenId: null, address: null });
  t.is(await replicas[2]!.cooldown.serial(), 1);
  // Opening again later finds nothing to do.
  await open(url, t);
  t.is((await client.query('SELECT count(*)::int AS n FROM pydepot_migrations')).rows[0].n, PG_MIGRATIONS.length);
});

test('postgres: a database migrated by a newer pydepot is refused at open', async (t) => {
  const url = await freshDatabase();
  const first = await openPgStores(url, { poolSize: 1 });
  await first.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`INSERT INTO pydepot_migrations (version, name) VALUES (${PG_MIGRATIONS.length + 1}, 'from the future')`);
  await client.end();
  const err = await t.throwsAsync(openPgStores(url), { instanceOf: SchemaTooNew });
  t.regex(err!.message, /newer than this pydepot understands.*upgrade pydepot/);
});

test('postgres: an unreachable server is StorageUnavailable at open', async (t) => {
  // A port nothing listens on.
  const url = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
  const err = await t.throwsAsync(openPgStores(url), { instanceOf: StorageUnavailable });
  t.is(err!.status, 503);
  t.notRegex(err!.message, /\n/);
});

test('postgres: callers of the same row at once share a query, and none gets an answer from before it asked', async (t) => {
  const db = new PgDb(new pg.Pool({ connectionString: await freshDatabase(), max: 4 }));
  t.teardown(() => db.end());
  await db.query('CREATE TABLE t (k text PRIMARY KEY, v int NOT NULL)');
  await db.query("INSERT INTO t VALUES ('a', 1), ('b', 10)");
  await db.query('CREATE SEQUENCE runs');
  // Each execution takes a number from the sequence; pg_sleep keeps the first one in flight.
  const read = (k: string): Promise<{ v: number; run: string } | null> =>
    db.sharedRow('SELECT v, nextval(\'runs\')::text AS run, pg_sleep(0.2) FROM t WHERE k = $1', [k], 'test_shared_row');

  const first = read('a');
  // Committed while the first read is in flight (its snapshot is older): the
  // callers after this must see it, so they wait for a query of their own.
  await db.query("UPDATE t SET v = 2 WHERE k = 'a'");
  const later = await Promise.all([read('a'), read('a'), read('a')]);
  const other = read('b');
  t.deepEqual(later.map((r) => r!.v), [2, 2, 2], 'asked after the update: the update is seen');
  t.is(new Set(later.map((r) => r!.run)).size, 1, 'the three later callers shared one query');
  t.not(later[0]!.run, (await first)!.run, 'not the query in flight when they asked');
  t.is((await other)!.v, 10, 'another row is its own query');
  later[0]!.v = 99;
  t.is(later[1]!.v, 2, 'each caller has its own copy of the row');
  t.is(await read('none'), null);
  // A failing query fails every caller that shared it, and the next round starts afresh.
  await db.query('DROP TABLE t');
  const failed = await Promise.allSettled([read('a'), read('a')]);
  t.deepEqual(failed.map((f) => f.status), ['rejected', 'rejected']);
  await db.query('CREATE TABLE t (k text PRIMARY KEY, v int NOT NULL)');
  await db.query("INSERT INTO t VALUES ('a', 3)");
  t.is((await read('a'))!.v, 3);
});

// Serial: ava runs a file's serial tests before its concurrent ones, so
// stopping this process's cluster disturbs no other test (under test:pg's
// shared cluster, stoppableCluster gives the test one of its own).
test.serial('postgres: stopped mid-use, every call fails with StorageUnavailable; restarted, the same stores recover', async (t) => {
  const cluster = await stoppableCluster(t);
  t.teardown(() => cluster.start());
  const stores = await open(await freshDatabase(cluster), t);
  const actor = { user: 'a', tokenId: null, address: null };
  const file = (name: string, c: string) => ({
    repo: 'internal', project: 'acme', displayName: 'acme', filename: name, version: '1.0', kind: 'sdist' as const, size: 1,
    sha256: c.repeat(64), md5: '', blake2b256: '', requiresPython: null, metadataSha256: null, uploadTime: '2026-12-01', uploader: null,
    coreMetadata: null, metadataJson: '{}',
  });
  await stores.store.addFile(file('acme-1.0.tar.gz', 'a'), { overwrite: false, actor });
  t.true(await stores.leases.tryAcquire('job:x', 'p1', 60_000));

  await cluster.stop();
  const calls: [string, () => Promise<unknown>][] = [
    ['read', () => stores.store.repoSerial('internal')],
    ['transaction', () => stores.store.addFile(file('acme-1.0.zip', 'b'), { overwrite: false, actor })],
    ['lease', () => stores.leases.renew('job:x', 'p1', 60_000)],
    ['check', () => stores.store.check()],
  ];
  for (const [what, call] of calls) {
    const err = await t.throwsAsync(call(), { instanceOf: StorageUnavailable }, what);
    t.is(err?.status, 503);
    t.is(err?.message, 'The metadata database is unavailable. Try again later or tell the operator.');
  }

  await cluster.start();
  t.is(await stores.store.repoSerial('internal'), 1, 'the pool reconnects by itself');
  t.is((await stores.store.addFile(file('acme-1.0.zip', 'b'), { overwrite: false, actor })).outcome, 'added');
  t.is(await stores.store.repoSerial('internal'), 2);
  t.is((await stores.leases.holder('job:x'))?.owner, 'p1', 'committed state survived');
  await t.notThrowsAsync(stores.store.check());
});

test('postgres: which errors mean "unavailable" (503), and which are the statement\'s own', (t) => {
  const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  for (const e of [withCode('ECONNREFUSED'), withCode('08006'), withCode('57P01'), withCode('57P03'), withCode('53300'),
    new Error('Connection terminated unexpectedly'), new Error('timeout exceeded when trying to connect'),
    new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], 'all refused')]) {
    t.true(isUnavailable(e), e.message);
  }
  for (const e of [withCode('23505', 'duplicate key'), withCode('42P01', 'no such table'), withCode('40P01', 'deadlock'), new Error('boom'), 'text']) {
    t.false(isUnavailable(e), String(e));
  }
});
