/**
 * Numbered schema migrations. Append only: a released migration is never
 * edited, since databases in the field have already run it.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'projects and files of hosted repositories',
    sql: `
      -- Identifies this database: ETags built from serials must differ across storages.
      CREATE TABLE instance (id TEXT NOT NULL);
      INSERT INTO instance (id) VALUES (lower(hex(randomblob(16))));
      CREATE TABLE repo_state (
        repo   TEXT PRIMARY KEY,
        -- bumped by every change in the repository; per-project serials come from it
        serial INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE projects (
        id           INTEGER PRIMARY KEY,
        repo         TEXT NOT NULL,
        name         TEXT NOT NULL,   -- PEP 503 normalized
        display_name TEXT NOT NULL,   -- as first uploaded
        serial       INTEGER NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        UNIQUE (repo, name)
      );
      CREATE TABLE files (
        id              INTEGER PRIMARY KEY,
        project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        repo            TEXT NOT NULL,
        filename        TEXT NOT NULL,
        version         TEXT NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('wheel', 'sdist')),
        size            INTEGER NOT NULL,
        sha256          TEXT NOT NULL,
        md5             TEXT NOT NULL,
        blake2b_256     TEXT NOT NULL,
        requires_python TEXT,
        core_metadata   BLOB,
        metadata_sha256 TEXT,
        metadata_json   TEXT NOT NULL,
        yanked          INTEGER NOT NULL DEFAULT 0,
        yanked_reason   TEXT,
        upload_time     TEXT NOT NULL,
        uploader        TEXT,
        UNIQUE (repo, filename)
      );
      CREATE INDEX files_by_project ON files (project_id);
      CREATE INDEX files_by_sha256 ON files (sha256);
    `,
  },
  {
    version: 2,
    name: 'cache state of remote repositories',
    sql: `
      -- One row per upstream project page ever asked for.
      CREATE TABLE remote_pages (
        repo          TEXT NOT NULL,
        project       TEXT NOT NULL,   -- normalized
        state         TEXT NOT NULL CHECK (state IN ('ok', 'missing')),
        checked_at    INTEGER NOT NULL, -- ms since epoch of the last answer from upstream (200, 304 or 404)
        etag          TEXT,
        last_modified TEXT,
        page          TEXT,            -- JSON: the parsed page, upstream URLs absolute
        digest        TEXT,            -- sha256 of page: the serial changes only when it does
        serial        INTEGER NOT NULL,
        PRIMARY KEY (repo, project)
      );
      -- The files those pages list, to find a file's upstream URL by its pydepot URL.
      CREATE TABLE remote_files (
        repo            TEXT NOT NULL,
        sha256          TEXT NOT NULL,
        filename        TEXT NOT NULL,
        project         TEXT NOT NULL,
        url             TEXT NOT NULL,
        size            INTEGER,
        metadata_sha256 TEXT,
        PRIMARY KEY (repo, sha256, filename)
      );
      CREATE INDEX remote_files_by_project ON remote_files (repo, project);
      -- The upstream's root page: names only.
      CREATE TABLE remote_roots (
        repo          TEXT PRIMARY KEY,
        checked_at    INTEGER NOT NULL,
        etag          TEXT,
        last_modified TEXT,
        serial        INTEGER NOT NULL
      );
      CREATE TABLE remote_root_names (
        repo TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (repo, name)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    name: 'upstream projects that squat internal names',
    sql: `
      -- A remote that holds a project whose name is internal to a virtual
      -- repository: what \`pydepot confusion report\` lists.
      CREATE TABLE squats (
        remote     TEXT NOT NULL,
        project    TEXT NOT NULL,   -- normalized
        reason     TEXT NOT NULL,   -- hosted | internal-pattern
        first_seen TEXT NOT NULL,
        last_seen  TEXT NOT NULL,
        PRIMARY KEY (remote, project)
      );
      CREATE TABLE squat_versions (
        remote     TEXT NOT NULL,
        project    TEXT NOT NULL,
        version    TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        PRIMARY KEY (remote, project, version)
      );
    `,
  },
  {
    version: 4,
    name: 'users, API tokens and the audit trail',
    sql: `
      CREATE TABLE users (
        name          TEXT PRIMARY KEY,
        -- scrypt$N$r$p$<salt b64>$<key b64>: the parameters travel with the hash
        password_hash TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
      );
      CREATE TABLE tokens (
        id           TEXT PRIMARY KEY,  -- shown by \`token list\`, used by \`token revoke\`
        user         TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        -- sha256 of the token: 256 random bits need no slow hash, and a leaked database leaks no token
        hash         TEXT NOT NULL UNIQUE,
        repos        TEXT,              -- JSON list of repository names, NULL = every repository
        scope        TEXT NOT NULL CHECK (scope IN ('read', 'upload')),
        description  TEXT,
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT,
        last_used_at TEXT
      );
      CREATE INDEX tokens_by_user ON tokens (user);
      CREATE TABLE audit (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        actor    TEXT NOT NULL,   -- user name, 'anonymous', or 'cli:<os user>'
        token_id TEXT,            -- the API token used, if any
        address  TEXT,            -- client address, for HTTP requests
        action   TEXT NOT NULL CHECK (action IN ('upload', 'yank', 'unyank', 'delete')),
        repo     TEXT NOT NULL,
        project  TEXT NOT NULL,
        version  TEXT NOT NULL,
        filename TEXT NOT NULL,
        sha256   TEXT NOT NULL,
        detail   TEXT             -- upload outcome, yank reason
      );
      CREATE INDEX audit_by_time ON audit (at);
    `,
  },
  {
    version: 5,
    name: 'index of remembered upstream 404s',
    sql: `
      -- Upstream 404s are remembered per name; anyone can ask for random names, so
      -- they are pruned by age and count (RemoteCacheStore.pruneMissing) through this.
      CREATE INDEX remote_pages_missing ON remote_pages (repo, checked_at) WHERE state = 'missing';
    `,
  },
  {
    version: 6,
    name: 'cooldown: upstream file clocks, exemptions, and their audit actions',
    sql: `
      -- When pydepot first listed each upstream file (ms since epoch): the cooldown's
      -- clock for upstreams that give no upload-time (HTML-only indexes). Files listed
      -- before this migration count as seen long ago (0): they were already served.
      ALTER TABLE remote_files ADD COLUMN first_seen INTEGER NOT NULL DEFAULT 0;
      -- The upstream's PEP 700 upload-time, when it gave one: the file's Last-Modified.
      ALTER TABLE remote_files ADD COLUMN upload_time TEXT;
      CREATE TABLE cooldown_exemptions (
        id         TEXT PRIMARY KEY,  -- shown by \`cooldown list\`, used by \`cooldown revoke\`
        project    TEXT NOT NULL,     -- a normalized name, or a glob over normalized names
        version    TEXT,              -- name==version: only that version's files
        repo       TEXT,              -- only files served through this repository; NULL: every one
        until      TEXT NOT NULL,     -- ISO instant: it stops applying then, by itself
        reason     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at TEXT,
        revoked_by TEXT
      );
      -- Bumped by every change to the exemptions: a running server re-reads them
      -- when it moves, so the CLI's changes apply at once.
      CREATE TABLE cooldown_state (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        serial INTEGER NOT NULL
      );
      INSERT INTO cooldown_state (id, serial) VALUES (1, 0);
      -- The audit trail records exemptions too: SQLite cannot widen a CHECK in place.
      CREATE TABLE audit_new (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        actor    TEXT NOT NULL,
        token_id TEXT,
        address  TEXT,
        action   TEXT NOT NULL CHECK (action IN ('upload', 'yank', 'unyank', 'delete', 'cooldown-allow', 'cooldown-revoke')),
        repo     TEXT NOT NULL,   -- '*' for an exemption that applies everywhere
        project  TEXT NOT NULL,   -- for an exemption: its name or glob
        version  TEXT NOT NULL,
        filename TEXT NOT NULL,
        sha256   TEXT NOT NULL,
        detail   TEXT
      );
      INSERT INTO audit_new SELECT id, at, actor, token_id, address, action, repo, project, version, filename, sha256, detail FROM audit;
      DROP TABLE audit;
      ALTER TABLE audit_new RENAME TO audit;
      CREATE INDEX audit_by_time ON audit (at);
    `,
  },
  {
    version: 7,
    name: 'core metadata read out of upstream wheels',
    sql: `
      -- METADATA that pydepot read out of an upstream wheel whose index gave no
      -- core metadata (PEP 658/714), served as <file>.metadata. Keyed by the
      -- wheel's bytes and name, so every remote listing the file shares it.
      CREATE TABLE wheel_metadata (
        sha256          TEXT NOT NULL,   -- the wheel's
        filename        TEXT NOT NULL,
        metadata_sha256 TEXT,            -- the METADATA blob; NULL when the wheel could not be read
        method          TEXT NOT NULL CHECK (method IN ('range', 'blob', 'full')),
        failure         TEXT,            -- why the wheel could not be read (a malformed zip); NULL on success
        at              TEXT NOT NULL,
        PRIMARY KEY (sha256, filename)
      );
      -- blobInUse asks whether a blob is someone's METADATA.
      CREATE INDEX wheel_metadata_by_blob ON wheel_metadata (metadata_sha256) WHERE metadata_sha256 IS NOT NULL;
    `,
  },
  {
    version: 8,
    name: 'files held by remote repositories, for their size limit; maintenance runs',
    sql: `
      -- A remote's cached copy of a file: what maxCacheSize counts and evicts, least
      -- recently used first. remote_files lists what a page links to, cached or not;
      -- a row here says the remote holds the bytes. Files cached before this
      -- migration get a row when next served, or from \`pydepot gc\`.
      CREATE TABLE remote_cached (
        repo        TEXT NOT NULL,
        sha256      TEXT NOT NULL,
        size        INTEGER NOT NULL,
        cached_at   INTEGER NOT NULL,  -- ms since epoch
        last_access INTEGER NOT NULL,  -- ms since epoch, recorded at most about once a minute
        accessed_by TEXT NOT NULL,     -- random id of the process that recorded it
        PRIMARY KEY (repo, sha256)
      ) WITHOUT ROWID;
      CREATE INDEX remote_cached_lru ON remote_cached (repo, last_access, sha256);
      CREATE INDEX remote_cached_by_blob ON remote_cached (sha256);
      -- blobInUse and a scrub's report find a blob's rows by its hash.
      CREATE INDEX remote_files_by_blob ON remote_files (sha256);
      CREATE INDEX remote_files_by_metadata ON remote_files (metadata_sha256) WHERE metadata_sha256 IS NOT NULL;
      -- The last scrub and gc, whichever process ran them: the server's metrics show them.
      CREATE TABLE maintenance_runs (
        kind        TEXT PRIMARY KEY CHECK (kind IN ('scrub', 'gc')),
        finished_at INTEGER NOT NULL,  -- ms since epoch
        summary     TEXT NOT NULL      -- JSON: counts and bytes
      );
    `,
  },
  {
    version: 9,
    name: 'leases between processes sharing the database',
    sql: `
      -- Whoever holds a key's lease does the work (one upstream download of a
      -- file, one revalidation of a page) for every process on this database;
      -- the others wait for its result. A holder renews before expires_at; a
      -- crashed holder's lease lapses then and another process takes over.
      CREATE TABLE leases (
        key        TEXT PRIMARY KEY,  -- 'file:<sha256>', 'page:<repo>/<project>', 'root:<repo>', 'job:<name>'
        owner      TEXT NOT NULL,     -- random id of the holding process
        expires_at INTEGER NOT NULL   -- ms since epoch
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 10,
    name: 'upstream removals; Requires-Python of remote files',
    sql: `
      -- A file that leaves its upstream page keeps its row, marked removed, so
      -- its URL answers 410 with when, and \`pydepot removed report\` can list it.
      ALTER TABLE remote_files ADD COLUMN removed_at INTEGER;   -- ms since epoch pydepot first saw it gone upstream; NULL while listed
      ALTER TABLE remote_files ADD COLUMN removed_cause TEXT;   -- deleted | project-deleted | quarantined
      -- remote_cached.last_access (the file's last download through the remote),
      -- kept here when that row goes (eviction, scrub): the removed report shows it.
      ALTER TABLE remote_files ADD COLUMN last_download INTEGER;
      -- The page's Requires-Python, so that a files filter judges a file URL without the page.
      ALTER TABLE remote_files ADD COLUMN requires_python TEXT;
      CREATE TEMP TABLE page_requires_python AS
        SELECT p.repo AS repo, p.project AS project, json_extract(f.value, '$.filename') AS filename,
               json_extract(f.value, '$.requiresPython') AS requires_python
        FROM remote_pages p, json_each(p.page, '$.files') f
        WHERE p.state = 'ok' AND p.page IS NOT NULL;
      CREATE INDEX temp.page_requires_python_key ON page_requires_python (repo, project, filename);
      UPDATE remote_files SET requires_python = (
        SELECT r.requires_python FROM temp.page_requires_python r
        WHERE r.repo = remote_files.repo AND r.project = remote_files.project AND r.filename = remote_files.filename);
      DROP TABLE temp.page_requires_python;
      CREATE INDEX remote_files_removed ON remote_files (repo, removed_at) WHERE removed_at IS NOT NULL;
    `,
  },
  {
    version: 11,
    name: 'secrets shared by every process of a storage (the web UI session key); projects by serial (its name index)',
    sql: `
      -- Random keys made on first use: every pydepot process on this storage (a
      -- worker, a replica, a restart) signs and checks the web UI's session cookies with the same one.
      CREATE TABLE secrets (
        name       TEXT PRIMARY KEY,
        value      BLOB NOT NULL,
        created_at TEXT NOT NULL
      );
      -- The web UI's name index follows a repository's changes by project serial.
      CREATE INDEX projects_by_serial ON projects (repo, serial);
    `,
  },
  {
    version: 12,
    name: 'root list names by serial (a new list is written beside the one served)',
    sql: `
      -- A remote's new root list (pypi.org's: 700,000 names) is written in
      -- batches under a serial of its own while readers read the serial
      -- remote_roots names; the swap is that one row's update.
      CREATE TABLE remote_root_names_by_serial (
        repo   TEXT NOT NULL,
        serial INTEGER NOT NULL,
        name   TEXT NOT NULL,
        PRIMARY KEY (repo, serial, name)
      ) WITHOUT ROWID;
      INSERT INTO remote_root_names_by_serial (repo, serial, name)
        SELECT n.repo, r.serial, n.name FROM remote_root_names n JOIN remote_roots r ON r.repo = n.repo;
      DROP TABLE remote_root_names;
      ALTER TABLE remote_root_names_by_serial RENAME TO remote_root_names;
    `,
  },
];
