/**
 * PostgreSQL's own numbered schema migrations, tracked in the
 * `pydepot_migrations` table. Append only, like SQLite's list: a released
 * migration is never edited. Migration 1 is the schema SQLite's migrations
 * 1-11 arrive at; the two lists grow separately from here on (2 is SQLite's 12).
 *
 * Every text column that is sorted or compared by range (names, filenames,
 * ISO times, lease keys) is COLLATE "C": byte order, as SQLite compares, so
 * that keyset pages and listings come in the same order whatever locale the
 * database was created with.
 */
import { crashPoint } from '../../crash-points.ts';
import { ConfigError } from '../../errors.ts';
import { LOCK_NAMESPACE, type PgDb } from './db.ts';

export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

const T = 'TEXT COLLATE "C"';

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'the schema of SQLite migrations 1-11',
    sql: `
      -- Identifies this database: ETags built from serials must differ across storages.
      CREATE TABLE instance (id TEXT NOT NULL);
      INSERT INTO instance (id) VALUES (replace(gen_random_uuid()::text, '-', ''));
      CREATE TABLE repo_state (
        repo   ${T} PRIMARY KEY,
        -- bumped by every change in the repository; per-project serials come from it
        serial BIGINT NOT NULL DEFAULT 0
      );
      CREATE TABLE projects (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        repo         ${T} NOT NULL,
        name         ${T} NOT NULL,   -- PEP 503 normalized
        display_name TEXT NOT NULL,   -- as first uploaded
        serial       BIGINT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        UNIQUE (repo, name)
      );
      -- The web UI's name index follows a repository's changes by project serial.
      CREATE INDEX projects_by_serial ON projects (repo, serial);
      CREATE TABLE files (
        id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project_id      BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        repo            ${T} NOT NULL,
        filename        ${T} NOT NULL,
        version         TEXT NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('wheel', 'sdist')),
        size            BIGINT NOT NULL,
        sha256          TEXT NOT NULL,
        md5             TEXT NOT NULL,
        blake2b_256     TEXT NOT NULL,
        requires_python TEXT,
        core_metadata   BYTEA,
        metadata_sha256 TEXT,
        metadata_json   TEXT NOT NULL,
        yanked          BOOLEAN NOT NULL DEFAULT false,
        yanked_reason   TEXT,
        upload_time     TEXT NOT NULL,
        uploader        TEXT,
        UNIQUE (repo, filename)
      );
      CREATE INDEX files_by_project ON files (project_id);
      CREATE INDEX files_by_sha256 ON files (sha256);

      -- One row per upstream project page ever asked for.
      CREATE TABLE remote_pages (
        repo          ${T} NOT NULL,
        project       ${T} NOT NULL,   -- normalized
        state         TEXT NOT NULL CHECK (state IN ('ok', 'missing')),
        checked_at    BIGINT NOT NULL, -- ms since epoch of the last answer from upstream (200, 304 or 404)
        etag          TEXT,
        last_modified TEXT,
        page          TEXT,            -- JSON: the parsed page, upstream URLs absolute
        digest        TEXT,            -- sha256 of page: the serial changes only when it does
        serial        BIGINT NOT NULL,
        PRIMARY KEY (repo, project)
      );
      -- Upstream 404s are pruned by age and count (RemoteCacheStore.pruneMissing) through this.
      CREATE INDEX remote_pages_missing ON remote_pages (repo, checked_at) WHERE state = 'missing';
      -- The files those pages list, to find a file's upstream URL by its pydepot URL;
      -- a file that leaves its page keeps its row, marked removed.
      CREATE TABLE remote_files (
        repo            ${T} NOT NULL,
        sha256          TEXT NOT NULL,
        filename        ${T} NOT NULL,
        project         ${T} NOT NULL,
        url             TEXT NOT NULL,
        size            BIGINT,
        metadata_sha256 TEXT,
        first_seen      BIGINT NOT NULL DEFAULT 0, -- ms since epoch pydepot first listed it
        upload_time     TEXT,                      -- the upstream's PEP 700 upload-time
        removed_at      BIGINT,                    -- ms since epoch pydepot first saw it gone upstream; NULL while listed
        removed_cause   TEXT,                      -- deleted | project-deleted | quarantined
        last_download   BIGINT,                    -- remote_cached.last_access, kept when that row goes
        requires_python TEXT,
        PRIMARY KEY (repo, sha256, filename)
      );
      CREATE INDEX remote_files_by_project ON remote_files (repo, project);
      CREATE INDEX remote_files_by_blob ON remote_files (sha256);
      CREATE INDEX remote_files_by_metadata ON remote_files (metadata_sha256) WHERE metadata_sha256 IS NOT NULL;
      CREATE INDEX remote_files_removed ON remote_files (repo, removed_at) WHERE removed_at IS NOT NULL;
      -- The upstream's root page: names only.
      CREATE TABLE remote_roots (
        repo          ${T} PRIMARY KEY,
        checked_at    BIGINT NOT NULL,
        etag          TEXT,
        last_modified TEXT,
        serial        BIGINT NOT NULL
      );
      CREATE TABLE remote_root_names (
        repo ${T} NOT NULL,
        name ${T} NOT NULL,
        PRIMARY KEY (repo, name)
      );

      -- A remote that holds a project whose name is internal to a virtual repository.
      CREATE TABLE squats (
        remote     ${T} NOT NULL,
        project    ${T} NOT NULL,   -- normalized
        reason     TEXT NOT NULL,   -- hosted | internal-pattern
        first_seen TEXT NOT NULL,
        last_seen  TEXT NOT NULL,
        PRIMARY KEY (remote, project)
      );
      CREATE TABLE squat_versions (
        remote     ${T} NOT NULL,
        project    ${T} NOT NULL,
        version    ${T} NOT NULL,
        first_seen ${T} NOT NULL,
        PRIMARY KEY (remote, project, version)
      );

      CREATE TABLE users (
        name          ${T} PRIMARY KEY,
        -- scrypt$N$r$p$<salt b64>$<key b64>: the parameters travel with the hash
        password_hash TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
      );
      CREATE TABLE tokens (
        id           ${T} PRIMARY KEY,
        "user"       ${T} NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        -- sha256 of the token: a leaked database leaks no token
        hash         TEXT NOT NULL UNIQUE,
        repos        TEXT,              -- JSON list of repository names, NULL = every repository
        scope        TEXT NOT NULL CHECK (scope IN ('read', 'upload')),
        description  TEXT,
        created_at   ${T} NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT,
        last_used_at TEXT
      );
      CREATE INDEX tokens_by_user ON tokens ("user");
      CREATE TABLE audit (
        id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at       ${T} NOT NULL,
        actor    TEXT NOT NULL,   -- user name, 'anonymous', or 'cli:<os user>'
        token_id TEXT,
        address  TEXT,
        action   TEXT NOT NULL CHECK (action IN ('upload', 'yank', 'unyank', 'delete', 'cooldown-allow', 'cooldown-revoke')),
        repo     ${T} NOT NULL,   -- '*' for an exemption that applies everywhere
        project  TEXT NOT NULL,
        version  TEXT NOT NULL,
        filename TEXT NOT NULL,
        sha256   TEXT NOT NULL,
        detail   TEXT
      );
      CREATE INDEX audit_by_time ON audit (at);

      CREATE TABLE cooldown_exemptions (
        id         ${T} PRIMARY KEY,
        project    TEXT NOT NULL,     -- a normalized name, or a glob over normalized names
        version    TEXT,
        repo       TEXT,              -- NULL: every repository
        until      TEXT NOT NULL,     -- ISO instant
        reason     TEXT NOT NULL,
        created_at ${T} NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at TEXT,
        revoked_by TEXT
      );
      -- Bumped by every change to the exemptions: a running server re-reads them when it moves.
      CREATE TABLE cooldown_state (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        serial BIGINT NOT NULL
      );
      INSERT INTO cooldown_state (id, serial) VALUES (1, 0);

      -- METADATA read out of an upstream wheel whose index gave no core metadata.
      CREATE TABLE wheel_metadata (
        sha256          TEXT NOT NULL,
        filename        TEXT NOT NULL,
        metadata_sha256 TEXT,
        method          TEXT NOT NULL CHECK (method IN ('range', 'blob', 'full')),
        failure         TEXT,
        at              TEXT NOT NULL,
        PRIMARY KEY (sha256, filename)
      );
      CREATE INDEX wheel_metadata_by_blob ON wheel_metadata (metadata_sha256) WHERE metadata_sha256 IS NOT NULL;

      -- A remote's cached copy of a file: what maxCacheSize counts and evicts.
      CREATE TABLE remote_cached (
        repo        ${T} NOT NULL,
        sha256      ${T} NOT NULL,
        size        BIGINT NOT NULL,
        cached_at   BIGINT NOT NULL,
        last_access BIGINT NOT NULL,
        accessed_by TEXT NOT NULL,
        PRIMARY KEY (repo, sha256)
      );
      CREATE INDEX remote_cached_lru ON remote_cached (repo, last_access, sha256);
      CREATE INDEX remote_cached_by_blob ON remote_cached (sha256);
      CREATE TABLE maintenance_runs (
        kind        TEXT PRIMARY KEY CHECK (kind IN ('scrub', 'gc')),
        finished_at BIGINT NOT NULL,
        summary     TEXT NOT NULL
      );

      -- Leases between processes (replicas) sharing the database. expires_at is
      -- by the database's clock (clock_timestamp()), never a replica's: replicas
      -- on different machines do not share one.
      CREATE TABLE leases (
        key        ${T} PRIMARY KEY,
        owner      TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      );

      CREATE TABLE secrets (
        name       TEXT PRIMARY KEY,
        value      BYTEA NOT NULL,
        created_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'root list names by serial (SQLite migration 12)',
    sql: `
      -- A remote's new root list (pypi.org's: 700,000 names) is written in
      -- batches under a serial of its own while readers read the serial
      -- remote_roots names; the swap is that one row's update.
      ALTER TABLE remote_root_names ADD COLUMN serial BIGINT;
      UPDATE remote_root_names n SET serial = r.serial FROM remote_roots r WHERE r.repo = n.repo;
      DELETE FROM remote_root_names WHERE serial IS NULL;
      ALTER TABLE remote_root_names ALTER COLUMN serial SET NOT NULL;
      ALTER TABLE remote_root_names DROP CONSTRAINT remote_root_names_pkey;
      ALTER TABLE remote_root_names ADD PRIMARY KEY (repo, serial, name);
    `,
  },
];

/** A database that a newer pydepot migrated: this one must not touch it. */
export class SchemaTooNew extends ConfigError {
  constructor(readonly current: number, readonly latest: number) {
    super(`the PostgreSQL database schema (version ${current}) is newer than this pydepot understands (${latest}); upgrade pydepot`);
    this.name = 'SchemaTooNew';
  }
}

/**
 * Brings the schema up to date in one transaction that holds an advisory
 * lock: replicas starting together queue on it, the first migrates, the
 * others then find nothing to do. DDL is transactional in PostgreSQL, so a
 * crash mid-way leaves the previous version. Returns the versions applied.
 */
export async function migrate(db: PgDb, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<number[]> {
  return db.tx(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock($1)', [LOCK_NAMESPACE.migrations]);
    await q.query(`CREATE TABLE IF NOT EXISTS pydepot_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`);
    const { rows } = await q.query<{ v: number | null }>('SELECT max(version) AS v FROM pydepot_migrations');
    const current = rows[0]?.v ?? 0;
    const latest = migrations.at(-1)?.version ?? 0;
    if (current > latest) throw new SchemaTooNew(current, latest);
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= current) continue;
      await q.query(m.sql);
      await q.query('INSERT INTO pydepot_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      // Crash-matrix step (test-only, see crash-points.ts): the migrations are
      // not committed yet, so a restart finds the schema as it was.
      crashPoint('migration:inside-step');
      applied.push(m.version);
    }
    return applied;
  });
}
