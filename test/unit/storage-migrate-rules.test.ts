/**
 * Every table of the SQLite schema (as its migrations leave it) has a copy
 * rule for `pydepot storage migrate`, naming exactly its columns, or a reason
 * to be skipped: a migration that adds a table or a column fails here until
 * the copier knows about it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { openDatabase } from '../../src/storage/db.ts';
import { checkRules, COPY_RULES, SKIPPED_TABLES, sqliteTables } from '../../src/storage/migrate-pg.ts';

async function freshDb(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-rules-'));
  const db = openDatabase(join(dir, 'pydepot.db'));
  t.teardown(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
  });
  return db;
}

test('every SQLite table has a copy rule with its columns, or a reason it is skipped', async (t) => {
  const db = await freshDb(t);
  t.deepEqual(checkRules(db), []);
  const covered = new Set([...COPY_RULES.map((r) => r.table), ...Object.keys(SKIPPED_TABLES)]);
  for (const table of sqliteTables(db)) t.true(covered.has(table), `${table} is covered`);
  t.is(new Set(COPY_RULES.map((r) => r.table)).size, COPY_RULES.length, 'one rule per table');
});

test('a table or a column the rules do not know is reported', async (t) => {
  const db = await freshDb(t);
  db.exec('CREATE TABLE webhooks (id INTEGER PRIMARY KEY, url TEXT NOT NULL); ALTER TABLE users ADD COLUMN email TEXT');
  t.deepEqual(checkRules(db), [
    "table users: the copy rule's columns differ from SQLite's (email)",
    'table webhooks has no copy rule',
  ]);
});

test('rules come in dependency order: a table comes after the tables its foreign keys name', async (t) => {
  const db = await freshDb(t);
  const order = COPY_RULES.map((r) => r.table);
  for (const rule of COPY_RULES) {
    for (const fk of db.prepare(`PRAGMA foreign_key_list("${rule.table}")`).all() as { table: string }[]) {
      t.true(order.indexOf(fk.table) < order.indexOf(rule.table), `${fk.table} before ${rule.table}`);
    }
  }
});
