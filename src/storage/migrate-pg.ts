/**
 * `pydepot storage migrate`: an embedded depot's SQLite database copied into
 * PostgreSQL (and, optionally, its blobs into another blob store: S3).
 *
 * The copier is generic: COPY_RULES names each table's columns and natural
 * key, and every table the SQLite schema has must have a rule or a reason in
 * SKIPPED_TABLES (checked at the start of every run and by a unit test, so
 * that a later migration cannot add a table this forgets). Tables go in
 * dependency order, in keyset-paged batches, each batch one PostgreSQL
 * transaction with ON CONFLICT on the natural key:
 *
 * - resumable: a run that died mid-table committed whole batches only, and a
 *   rerun reads every table again from its start, inserting what is missing
 *   and skipping (DO NOTHING) what a batch before the interruption committed.
 *   Blobs are content-addressed: one already in the target (stat) is skipped,
 *   and a half-copied one was never committed there.
 * - safe: the target's instance id becomes the source's in the transaction
 *   that claims an empty target, with a row in pydepot_storage_migration; a
 *   target with another id and rows of its own is another depot: refused.
 * - read-only on the source: the database is opened read-only, and the
 *   -wal/-shm files such a connection creates are removed if they were not
 *   there before (they hold nothing: a read-only connection writes no WAL).
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import type { PoolClient } from 'pg';
import { ownerAlive } from './lease.ts';
import { MIGRATIONS } from './migrations.ts';
import { PgDb, type Queryable } from './pg/db.ts';
import { migrate as migratePg, PG_MIGRATIONS } from './pg/migrations.ts';
import type { BlobStore } from './types.ts';

export interface CopyRule {
  table: string;
  /** Copied columns: the same names in both schemas. */
  columns: readonly string[];
  /** The natural key (primary key): the order of the reads, and what a rerun's ON CONFLICT recognises. */
  key: readonly string[];
  /** SQLite's 0/1 integers that are BOOLEAN in PostgreSQL. (BLOBs need nothing: a Buffer is sent as bytea.) */
  booleans?: readonly string[];
  /** A GENERATED ALWAYS AS IDENTITY column: its values are kept (rows refer to them), its sequence moved past the largest. */
  identity?: string;
  /** The PostgreSQL schema made this row already (cooldown_state): the source's values replace it. */
  replace?: boolean;
}

/** Dependency order: users before tokens, projects before files. */
export const COPY_RULES: readonly CopyRule[] = [
  { table: 'repo_state', key: ['repo'], columns: ['repo', 'serial'] },
  { table: 'projects', key: ['id'], identity: 'id', columns: ['id', 'repo', 'name', 'display_name', 'serial', 'created_at', 'updated_at'] },
  {
    table: 'files', key: ['id'], identity: 'id', booleans: ['yanked'],
    columns: ['id', 'project_id', 'repo', 'filename', 'version', 'kind', 'size', 'sha256', 'md5', 'blake2b_256', 'requires_python',
      'core_metadata', 'metadata_sha256', 'metadata_json', 'yanked', 'yanked_reason', 'upload_time', 'uploader'],
  },
  { table: 'remote_pages', key: ['repo', 'project'], columns: ['repo', 'project', 'state', 'checked_at', 'etag', 'last_modified', 'page', 'digest', 'serial'] },
  {
    table: 'remote_files', key: ['repo', 'sha256', 'filename'],
    columns: ['repo', 'sha256', 'filename', 'project', 'url', 'size', 'metadata_sha256', 'first_seen', 'upload_time', 'removed_at',
      'removed_cause', 'last_download', 'requires_python'],
  },
  { table: 'remote_roots', key: ['repo'], columns: ['repo', 'checked_at', 'etag', 'last_modified', 'serial'] },
  { table: 'remote_root_names', key: ['repo', 'serial', 'name'], columns: ['repo', 'serial', 'name'] },
  { table: 'squats', key: ['remote', 'project'], columns: ['remote', 'project', 'reason', 'first_seen', 'last_seen'] },
  { table: 'squat_versions', key: ['remote', 'project', 'version'], columns: ['remote', 'project', 'version', 'first_seen'] },
  { table: 'users', key: ['name'], columns: ['name', 'password_hash', 'created_at', 'updated_at'] },
  {
    table: 'tokens', key: ['id'],
    columns: ['id', 'user', 'hash', 'repos', 'scope', 'description', 'created_at', 'expires_at', 'revoked_at', 'last_used_at'],
  },
  {
    table: 'audit', key: ['id'], identity: 'id',
    columns: ['id', 'at', 'actor', 'token_id', 'address', 'action', 'repo', 'project', 'version', 'filename', 'sha256', 'detail'],
  },
  {
    table: 'cooldown_exemptions', key: ['id'],
    columns: ['id', 'project', 'version', 'repo', 'until', 'reason', 'created_at', 'created_by', 'revoked_at', 'revoked_by'],
  },
  { table: 'cooldown_state', key: ['id'], replace: true, columns: ['id', 'serial'] },
  { table: 'wheel_metadata', key: ['sha256', 'filename'], columns: ['sha256', 'filename', 'metadata_sha256', 'method', 'failure', 'at'] },
  { table: 'remote_cached', key: ['repo', 'sha256'], columns: ['repo', 'sha256', 'size', 'cached_at', 'last_access', 'accessed_by'] },
  { table: 'maintenance_runs', key: ['kind'], columns: ['kind', 'finished_at', 'summary'] },
  { table: 'secrets', key: ['name'], columns: ['name', 'value', 'created_at'] },
];

/** SQLite tables deliberately not copied, and why. */
export const SKIPPED_TABLES: Readonly<Record<string, string>> = {
  instance: "not copied as a row: the target's id is set to the source's when the migration claims it, so clients' ETags stay valid",
  leases: 'held by processes that ran on the source; none of them runs on the target',
};

/** Why a migration will not start: the message says what to do. */
export class MigrationRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationRefused';
  }
}

export interface TableCount {
  table: string;
  /** Rows in the source. */
  rows: number;
  /** Inserted by this run. */
  copied: number;
  /** Already in the target (an earlier, interrupted run copied them). */
  skipped: number;
}

export interface CorruptBlob {
  sha256: string;
  /** What its bytes hash to now. */
  actual: string;
  size: number;
}

export interface BlobCounts {
  total: number;
  copied: number;
  /** Already in the target store. */
  skipped: number;
  bytesCopied: number;
  corrupt: CorruptBlob[];
}

export type MigrateProgress =
  | { phase: 'rows'; done: number; total: number; table: string }
  | { phase: 'blobs'; done: number; total: number; bytes: number; corrupt: number };

export interface MigrateOptions {
  /** The SQLite database file (`<storage>/pydepot.db`). */
  sqliteFile: string;
  /** The migrated PostgreSQL database (pydepot's schema is created or brought up to date in it). */
  target: PgDb;
  /** Both given: every blob of `blobsFrom` is copied into `blobsTo`, verified; neither: the blobs stay where they are. */
  blobsFrom?: BlobStore;
  blobsTo?: BlobStore;
  /** Rows per transaction (default 500). */
  batchSize?: number;
  /** Blobs copied at once (default 4). */
  concurrency?: number;
  onProgress?(p: MigrateProgress): void;
}

export interface MigrateResult {
  /** The instance id the source and (now) the target share. */
  instance: string;
  /** true: this run claimed an empty target; false: it went on with an earlier run's. */
  started: boolean;
  /** The rows had been copied completely by an earlier run: this one copied none again. */
  rowsAlreadyDone: boolean;
  tables: TableCount[];
  blobs: BlobCounts | null;
  ms: number;
}

/**
 * Test-only failure injection (like crash-points.ts, which kills instead):
 * a hook that throws after a committed batch or a copied blob interrupts the
 * migration there, as a crash or a lost connection would.
 */
export const migrateTestHooks: { afterBatch?: (table: string, rows: number) => void; afterBlob?: (sha256: string) => void } = {};

const MARKER_TABLE = 'pydepot_storage_migration';
// pg_try_advisory_lock(namespace, key): one migration into a database at a time.
const LOCK = [0x70796470, 0x6d696772] as const;

const q = (name: string): string => `"${name}"`;

/** SQLite's tables, except its own. */
export function sqliteTables(db: Database.Database): string[] {
  return (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
}

/** Every SQLite table has a rule (with exactly its columns) or a reason to be skipped; else what is wrong. */
export function checkRules(db: Database.Database): string[] {
  const problems: string[] = [];
  for (const table of sqliteTables(db)) {
    if (table in SKIPPED_TABLES) continue;
    const rule = COPY_RULES.find((r) => r.table === table);
    if (!rule) {
      problems.push(`table ${table} has no copy rule`);
      continue;
    }
    const cols = (db.prepare(`PRAGMA table_info(${q(table)})`).all() as { name: string }[]).map((c) => c.name);
    const diff = symmetricDifference(cols, rule.columns);
    if (diff.length > 0) problems.push(`table ${table}: the copy rule's columns differ from SQLite's (${diff.join(', ')})`);
  }
  for (const rule of COPY_RULES) {
    if (!sqliteTables(db).includes(rule.table)) problems.push(`the copy rule for ${rule.table} names no SQLite table`);
  }
  return problems;
}

function symmetricDifference(a: readonly string[], b: readonly string[]): string[] {
  return [...a.filter((x) => !b.includes(x)), ...b.filter((x) => !a.includes(x))];
}

/**
 * Opens the source read-only, with what is needed to leave its folder as it
 * was: the -wal/-shm files a read-only connection creates are removed on close.
 */
function openSource(file: string): { db: Database.Database; close(): void } {
  if (!existsSync(file)) throw new MigrationRefused(`no embedded database at ${file}: is --storage (or the config's storage) the depot's folder?`);
  const extras = [`${file}-wal`, `${file}-shm`];
  const hadExtras = extras.some((f) => existsSync(f));
  const db = new Database(file, { readonly: true, fileMustExist: true });
  return {
    db,
    close() {
      db.close();
      // Only files this connection made, and only while they hold nothing.
      if (!hadExtras && (!existsSync(extras[0]!) || statSync(extras[0]!).size === 0)) for (const f of extras) rmSync(f, { force: true });
    },
  };
}

/** A pool of its own on the target (pg loaded only here); migrateToPg brings its schema to this pydepot's version. */
export async function openTarget(url: string): Promise<PgDb> {
  const pg = (await import('pg')).default;
  const INT8_OID = 20;
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
  };
  return new PgDb(new pg.Pool({ connectionString: url, max: 3, connectionTimeoutMillis: 10_000, application_name: 'pydepot storage migrate', types }));
}

/** A database URL for messages: without its user and password. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//…@');
}

/** Copies the depot; see the file's comment for what makes it resumable and safe. */
export async function migrateToPg(opts: MigrateOptions): Promise<MigrateResult> {
  const started = Date.now();
  const batchSize = opts.batchSize ?? 500;
  const source = openSource(opts.sqliteFile);
  let lock: PoolClient | null = null;
  try {
    const src = source.db;
    checkSource(src);
    const problems = checkRules(src);
    if (problems.length > 0) throw new Error(`this pydepot cannot migrate its own SQLite schema (a bug): ${problems.join('; ')}`);

    // One migration into a database at a time: a session lock, held to the end.
    try {
      lock = await opts.target.pool.connect();
    } catch (err) {
      throw new MigrationRefused(`cannot connect to the target database: ${(err as Error).message}`);
    }
    const { rows: [got] } = await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [...LOCK]);
    if (!got?.ok) throw new MigrationRefused('another storage migrate is copying into this database now');
    await migratePg(opts.target);
    await checkTargetSchema(opts.target);

    const instance = (src.prepare('SELECT id FROM instance').get() as { id: string }).id;
    const claim = await claimTarget(opts.target, instance);

    const tables: TableCount[] = [];
    const total = COPY_RULES.reduce((n, r) => n + count(src, r.table), 0);
    let done = 0;
    for (const rule of COPY_RULES) {
      const rows = count(src, rule.table);
      if (claim.rowsDone) {
        tables.push({ table: rule.table, rows, copied: 0, skipped: rows });
        continue;
      }
      const copied = await copyTable(src, opts.target, rule, batchSize, (n) => {
        done += n;
        opts.onProgress?.({ phase: 'rows', done, total, table: rule.table });
      });
      tables.push({ table: rule.table, rows, copied, skipped: rows - copied });
    }
    if (!claim.rowsDone) {
      await opts.target.query(`UPDATE ${MARKER_TABLE} SET rows_finished_at = now() WHERE source_instance = $1`, [instance]);
    }

    let blobs: BlobCounts | null = null;
    if (opts.blobsFrom && opts.blobsTo) {
      blobs = await copyBlobs(opts.blobsFrom, opts.blobsTo, opts.concurrency ?? 4, opts.onProgress);
    }
    return { instance, started: claim.started, rowsAlreadyDone: claim.rowsDone, tables, blobs, ms: Date.now() - started };
  } finally {
    if (lock) {
      await lock.query('SELECT pg_advisory_unlock($1, $2)', [...LOCK]).catch(() => {});
      lock.release();
    }
    source.close();
  }
}

/** The source must be at this pydepot's schema version, and no server may be writing to it. */
function checkSource(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  const latest = MIGRATIONS.at(-1)!.version;
  if (version > latest) throw new MigrationRefused(`the SQLite database's schema (version ${version}) is newer than this pydepot understands (${latest}); migrate with the pydepot that wrote it`);
  if (version < latest) {
    throw new MigrationRefused(`the SQLite database's schema is at version ${version}, this pydepot's at ${latest}: start this pydepot's server on it once (or run pydepot user list, which opens and migrates it) to bring it up to date: the source is only read here`);
  }
  const now = Date.now();
  const servers = (db.prepare("SELECT key FROM leases WHERE key LIKE 'server:%' AND expires_at > ?").all(now) as { key: string }[])
    .filter((r) => ownerAlive(r.key.slice('server:'.length)));
  if (servers.length > 0) throw new MigrationRefused(`a pydepot server is running on this storage (${servers.map((s) => s.key.slice(7)).join(', ')}): stop it first, so that nothing changes while it is copied`);
}

async function checkTargetSchema(db: PgDb): Promise<void> {
  const { rows: [row] } = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM pydepot_migrations');
  const latest = PG_MIGRATIONS.at(-1)!.version;
  // migrate() brought an older schema up and refused a newer one; this is what the copy rules were written for.
  if ((row?.v ?? 0) !== latest) throw new MigrationRefused(`the target's schema is at version ${row?.v}, this pydepot's at ${latest}`);
  const { rows } = await db.query<{ table_name: string; column_name: string }>(
    'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()');
  const problems: string[] = [];
  for (const rule of COPY_RULES) {
    const cols = rows.filter((r) => r.table_name === rule.table).map((r) => r.column_name);
    const diff = symmetricDifference(cols, rule.columns);
    if (diff.length > 0) problems.push(`${rule.table} (${diff.join(', ')})`);
  }
  if (problems.length > 0) throw new Error(`this pydepot cannot migrate into its own PostgreSQL schema (a bug): the copy rules' columns differ in ${problems.join('; ')}`);
}

/**
 * A target is ours when its instance id is the source's (an earlier run
 * claimed it); an empty one is claimed now; anything else holds another depot.
 */
async function claimTarget(db: PgDb, instance: string): Promise<{ started: boolean; rowsDone: boolean }> {
  return db.tx(async (t) => {
    await t.query(`CREATE TABLE IF NOT EXISTS ${MARKER_TABLE} (
      source_instance  TEXT PRIMARY KEY,
      started_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
      rows_finished_at TIMESTAMPTZ
    )`);
    const live = await t.query<{ key: string }>(`SELECT key FROM leases WHERE key LIKE 'server:%' AND expires_at > (extract(epoch from clock_timestamp()) * 1000)::bigint`);
    if (live.rows.length > 0) throw new MigrationRefused('a pydepot server is running on the target database: stop it first');
    const { rows: [current] } = await t.query<{ id: string }>('SELECT id FROM instance FOR UPDATE');
    if (current?.id === instance) {
      const { rows: [mark] } = await t.query<{ done: boolean }>(`SELECT rows_finished_at IS NOT NULL AS done FROM ${MARKER_TABLE} WHERE source_instance = $1`, [instance]);
      return { started: false, rowsDone: mark?.done ?? false };
    }
    const held: string[] = [];
    for (const rule of COPY_RULES) {
      if (rule.replace || rule.table === 'secrets' || rule.table === 'maintenance_runs') continue;
      const { rows } = await t.query(`SELECT 1 FROM ${q(rule.table)} LIMIT 1`);
      if (rows.length > 0) held.push(rule.table);
    }
    if (held.length > 0) {
      throw new MigrationRefused(`the target database holds another depot (instance ${current?.id ?? 'none'}, rows in ${held.join(', ')}), not this one (${instance}): migrate into an empty database`);
    }
    await t.query('UPDATE instance SET id = $1', [instance]);
    await t.query(`INSERT INTO ${MARKER_TABLE} (source_instance) VALUES ($1)`, [instance]);
    return { started: true, rowsDone: false };
  });
}

function count(db: Database.Database, table: string): number {
  return (db.prepare(`SELECT count(*) AS n FROM ${q(table)}`).get() as { n: number }).n;
}

/** One table, batch by batch in key order; returns the rows inserted (not already there). */
async function copyTable(src: Database.Database, target: PgDb, rule: CopyRule, batchSize: number, progress: (rows: number) => void): Promise<number> {
  const cols = rule.columns.map(q).join(', ');
  const key = rule.key.map(q).join(', ');
  const first = src.prepare(`SELECT ${cols} FROM ${q(rule.table)} ORDER BY ${key} LIMIT ?`);
  const next = src.prepare(`SELECT ${cols} FROM ${q(rule.table)} WHERE (${key}) > (${rule.key.map(() => '?').join(', ')}) ORDER BY ${key} LIMIT ?`);
  const conflict = rule.replace
    ? `ON CONFLICT (${key}) DO UPDATE SET ${rule.columns.filter((c) => !rule.key.includes(c)).map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}`
    : 'ON CONFLICT DO NOTHING';
  const booleans = new Set(rule.booleans ?? []);
  let after: unknown[] | null = null;
  let inserted = 0;
  for (;;) {
    const rows = (after ? next.all(...after, batchSize) : first.all(batchSize)) as Record<string, unknown>[];
    if (rows.length === 0) break;
    const params: unknown[] = [];
    const tuples = rows.map((row) => `(${rule.columns.map((c) => {
      const v = row[c];
      params.push(booleans.has(c) && v !== null ? v !== 0 : v);
      return `$${params.length}`;
    }).join(', ')})`);
    const n = await target.tx(async (t: Queryable) => {
      const res = await t.query(`INSERT INTO ${q(rule.table)} (${cols}) ${rule.identity ? 'OVERRIDING SYSTEM VALUE ' : ''}VALUES ${tuples.join(', ')} ${conflict}`, params);
      if (rule.identity) {
        // The next row the server inserts continues after the copied ids.
        await t.query(`SELECT setval(pg_get_serial_sequence($1, $2), (SELECT max(${q(rule.identity)}) FROM ${q(rule.table)}))`, [rule.table, rule.identity]);
      }
      return res.rowCount ?? 0;
    });
    inserted += n;
    progress(rows.length);
    migrateTestHooks.afterBatch?.(rule.table, rows.length);
    const last = rows.at(-1)!;
    after = rule.key.map((k) => last[k]);
    if (rows.length < batchSize) break;
  }
  return inserted;
}

/** Every blob of `from` into `to`, its sha256 checked on the way; corrupt ones are counted and left out. */
export async function copyBlobs(from: BlobStore, to: BlobStore, concurrency: number, onProgress?: (p: MigrateProgress) => void): Promise<BlobCounts> {
  const all: { sha256: string; size: number }[] = [];
  for await (const b of from.list()) all.push({ sha256: b.sha256, size: b.size });
  const counts: BlobCounts = { total: all.length, copied: 0, skipped: 0, bytesCopied: 0, corrupt: [] };
  let done = 0;
  let bytes = 0;
  let nextIndex = 0;
  let failed = false;
  const report = (): void => onProgress?.({ phase: 'blobs', done, total: all.length, bytes, corrupt: counts.corrupt.length });
  report();
  const worker = async (): Promise<void> => {
    while (nextIndex < all.length && !failed) {
      const blob = all[nextIndex++]!;
      if (await to.stat(blob.sha256)) {
        counts.skipped++;
      } else {
        const writer = to.createTemp();
        try {
          await pipeline(from.open(blob.sha256), writer.stream);
          const temp = await writer.finished();
          if (temp.sha256 !== blob.sha256) {
            await to.discard(temp);
            counts.corrupt.push({ sha256: blob.sha256, actual: temp.sha256, size: temp.size });
          } else {
            await to.commit(temp);
            counts.copied++;
            counts.bytesCopied += temp.size;
          }
        } catch (err) {
          failed = true;
          await writer.abort();
          throw err;
        }
        try {
          migrateTestHooks.afterBlob?.(blob.sha256);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
      done++;
      bytes += blob.size;
      report();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, all.length)) }, worker));
  counts.corrupt.sort((a, b) => a.sha256.localeCompare(b.sha256));
  return counts;
}
