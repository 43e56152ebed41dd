import { createHash } from 'node:crypto';
import type { CachedFileRow, CachedPage, CachedRoot, RemoteCacheStore, RemoteFileRecord, RemoteFileRow, RemovalCause, RemovedFileRow, WheelMetadataRecord } from '../types.ts';
import { LOCK_NAMESPACE, lockKey, type PgDb, type Queryable } from './db.ts';

type SavedAnswer = { state: 'ok' | 'missing'; etag: string | null; lastModified: string | null; page: string | null; files: RemoteFileRow[]; removedCause?: RemovalCause };

const PAGE_COLUMNS = 'state, checked_at AS "checkedAt", etag, last_modified AS "lastModified", serial';
const FILE_COLUMNS = `sha256, filename, project, url, size, metadata_sha256 AS "metadataSha256", upload_time AS "uploadTime",
  requires_python AS "requiresPython", removed_at AS "removedAt", removed_cause AS "removedCause"`;
const CACHED_COLUMNS = 'sha256, size, cached_at AS "cachedAt", last_access AS "lastAccess", accessed_by AS "accessedBy"';

const pageKey = (repo: string, project: string): string => `${repo}/${project}`;

export class PgRemoteCacheStore implements RemoteCacheStore {
  constructor(private readonly db: PgDb) {}

  async getPage(repo: string, project: string): Promise<CachedPage | null> {
    // Every page request asks it: concurrent askers share a query (PgDb.sharedRow).
    return this.db.sharedRow<CachedPage>(`SELECT ${PAGE_COLUMNS} FROM remote_pages WHERE repo = $1 AND project = $2`, [repo, project], 'pydepot_get_page');
  }

  async getPageBody(repo: string, project: string): Promise<string | null> {
    return (await this.db.query<{ page: string | null }>('SELECT page FROM remote_pages WHERE repo = $1 AND project = $2', [repo, project])).rows[0]?.page ?? null;
  }

  async getPageWithBody(repo: string, project: string): Promise<(CachedPage & { body: string | null }) | null> {
    // One statement: the body is the one the serial names.
    return (await this.db.query<CachedPage & { body: string | null }>(`SELECT ${PAGE_COLUMNS}, page AS body FROM remote_pages WHERE repo = $1 AND project = $2`, [repo, project], 'pydepot_get_page_body')).rows[0] ?? null;
  }

  savePage(repo: string, project: string, a: SavedAnswer, now: number): Promise<CachedPage & { removed: number }> {
    return this.db.tx(async (q) => {
      // Two replicas saving one page at once: the second reads the first's digest and serial.
      await lockKey(q, LOCK_NAMESPACE.page, pageKey(repo, project));
      const old = (await q.query<{ state: string; digest: string | null; serial: number }>(
        'SELECT state, digest, serial FROM remote_pages WHERE repo = $1 AND project = $2', [repo, project])).rows[0];
      const digest = a.page === null ? null : createHash('sha256').update(a.page).digest('hex');
      const changed = !old || old.state !== a.state || old.digest !== digest;
      const serial = changed ? (old?.serial ?? 0) + 1 : old.serial;
      await q.query(`INSERT INTO remote_pages (repo, project, state, checked_at, etag, last_modified, page, digest, serial)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (repo, project) DO UPDATE SET state = excluded.state, checked_at = excluded.checked_at, etag = excluded.etag,
          last_modified = excluded.last_modified, page = excluded.page, digest = excluded.digest, serial = excluded.serial`,
      [repo, project, a.state, now, a.etag, a.lastModified, a.page, digest, serial]);
      let removed = 0;
      if (changed) removed = await reconcileFiles(q, repo, project, a.files, a.removedCause ?? 'deleted', now);
      return { state: a.state, checkedAt: now, etag: a.etag, lastModified: a.lastModified, serial, removed };
    });
  }

  async touchPage(repo: string, project: string, now: number): Promise<void> {
    await this.db.query('UPDATE remote_pages SET checked_at = $1 WHERE repo = $2 AND project = $3', [now, repo, project]);
  }

  pruneMissing(repo: string, before: number, keep: number): Promise<number> {
    return this.db.tx(async (q) => {
      const expired = await q.query(`DELETE FROM remote_pages WHERE repo = $1 AND state = 'missing' AND checked_at < $2`, [repo, before]);
      const oldest = await q.query(`DELETE FROM remote_pages WHERE repo = $1 AND project IN (
        SELECT project FROM remote_pages WHERE repo = $1 AND state = 'missing' ORDER BY checked_at DESC OFFSET $2)`, [repo, keep]);
      return (expired.rowCount ?? 0) + (oldest.rowCount ?? 0);
    });
  }

  async getFile(repo: string, sha256: string, filename: string): Promise<RemoteFileRecord | null> {
    return (await this.db.query<RemoteFileRecord>(`SELECT ${FILE_COLUMNS} FROM remote_files WHERE repo = $1 AND sha256 = $2 AND filename = $3`,
      [repo, sha256, filename], 'pydepot_get_remote_file')).rows[0] ?? null;
  }

  async listRemoved(filter: { repo?: string; since?: number }): Promise<RemovedFileRow[]> {
    return (await this.db.query<RemovedFileRow>(`SELECT f.repo, f.sha256, f.filename, f.project, f.url, f.size,
        f.metadata_sha256 AS "metadataSha256", f.upload_time AS "uploadTime", f.requires_python AS "requiresPython",
        f.removed_at AS "removedAt", f.removed_cause AS "removedCause",
        nullif(greatest(coalesce(c.last_access, 0), coalesce(f.last_download, 0)), 0) AS "lastAccess"
      FROM remote_files f LEFT JOIN remote_cached c ON c.repo = f.repo AND c.sha256 = f.sha256
      WHERE f.removed_at IS NOT NULL AND ($1::text IS NULL OR f.repo = $1) AND f.removed_at >= $2
      ORDER BY f.removed_at DESC, f.repo, f.project, f.filename`, [filter.repo ?? null, filter.since ?? 0])).rows;
  }

  async firstSeen(repo: string, project: string): Promise<Map<string, number>> {
    // Listed files last: a filename listed again with other bytes takes the listed one's time.
    // Then by name: the same order on both back ends (PostgreSQL returns ties in no fixed order).
    const { rows } = await this.db.query<{ filename: string; firstSeen: number }>(`SELECT filename, first_seen AS "firstSeen"
      FROM remote_files WHERE repo = $1 AND project = $2 ORDER BY removed_at IS NULL, filename, sha256`, [repo, project]);
    return new Map(rows.map((r) => [r.filename, r.firstSeen]));
  }

  async pageUsage(repo: string): Promise<{ projects: number; files: number }> {
    const { rows } = await this.db.query<{ projects: number; files: number }>(`SELECT
      (SELECT count(*) FROM remote_pages WHERE repo = $1 AND state = 'ok') AS projects,
      (SELECT count(*) FROM remote_files WHERE repo = $1 AND removed_at IS NULL) AS files`, [repo]);
    return rows[0]!;
  }

  async cachedProjects(repo: string, after: string, limit: number): Promise<string[]> {
    const { rows } = await this.db.query<{ project: string }>(`SELECT project FROM remote_pages WHERE repo = $1 AND state = 'ok' AND project > $2
      ORDER BY project LIMIT $3`, [repo, after, limit]);
    return rows.map((r) => r.project);
  }

  async getWheelMetadata(sha256: string, filename: string): Promise<WheelMetadataRecord | null> {
    return (await this.db.query<WheelMetadataRecord>(`SELECT sha256, filename, metadata_sha256 AS "metadataSha256", method, failure, at
      FROM wheel_metadata WHERE sha256 = $1 AND filename = $2`, [sha256, filename])).rows[0] ?? null;
  }

  async saveWheelMetadata(r: WheelMetadataRecord): Promise<void> {
    await this.db.query(`INSERT INTO wheel_metadata (sha256, filename, metadata_sha256, method, failure, at) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (sha256, filename) DO UPDATE SET metadata_sha256 = excluded.metadata_sha256, method = excluded.method,
        failure = excluded.failure, at = excluded.at`, [r.sha256, r.filename, r.metadataSha256, r.method, r.failure, r.at]);
  }

  updatePageMetadata(repo: string, project: string, serial: number, page: string, file: { sha256: string; filename: string; metadataSha256: string }): Promise<boolean> {
    return this.db.tx(async (q) => {
      await lockKey(q, LOCK_NAMESPACE.page, pageKey(repo, project));
      // Made from the body at `serial`: a page saved since wins (the caller reads it again).
      const exists = await q.query(`SELECT 1 FROM remote_pages WHERE repo = $1 AND project = $2 AND state = 'ok' AND serial = $3`, [repo, project, serial]);
      if (exists.rows.length === 0) return false;
      const digest = createHash('sha256').update(page).digest('hex');
      await q.query(`UPDATE remote_pages SET page = $3, digest = $4, serial = serial + 1
        WHERE repo = $1 AND project = $2 AND state = 'ok' AND digest IS DISTINCT FROM $4`, [repo, project, page, digest]);
      await q.query('UPDATE remote_files SET metadata_sha256 = $1 WHERE repo = $2 AND sha256 = $3 AND filename = $4',
        [file.metadataSha256, repo, file.sha256, file.filename]);
      return true;
    });
  }

  async getRoot(repo: string): Promise<CachedRoot | null> {
    return this.db.sharedRow<CachedRoot>(`SELECT checked_at AS "checkedAt", etag, last_modified AS "lastModified", serial
      FROM remote_roots WHERE repo = $1`, [repo], 'pydepot_get_root');
  }

  async saveRoot(repo: string, batches: Iterable<readonly string[]> | AsyncIterable<readonly string[]>, etag: string | null, lastModified: string | null, now: number): Promise<void> {
    // The new list is written under a serial of its own, past both the list
    // served and any list being written (or left by a save that died),
    // reserved by a row with the empty name (no project's, and before every
    // other: rootNames reads after ''); readers keep reading the serial
    // remote_roots names.
    const serial = await this.db.tx(async (q) => {
      await lockKey(q, LOCK_NAMESPACE.root, repo);
      const { rows: [row] } = await q.query<{ next: number }>(`SELECT greatest(
          coalesce((SELECT serial FROM remote_roots WHERE repo = $1), 0),
          coalesce((SELECT max(serial) FROM remote_root_names WHERE repo = $1), 0)) + 1 AS next`, [repo]);
      await q.query(`INSERT INTO remote_root_names (repo, serial, name) VALUES ($1, $2, '')`, [repo, row!.next]);
      return row!.next;
    });
    try {
      for await (const batch of batches) {
        // One statement a batch, however long.
        if (batch.length > 0) {
          await this.db.query('INSERT INTO remote_root_names (repo, serial, name) SELECT $1, $2, n FROM unnest($3::text[]) AS n ON CONFLICT DO NOTHING',
            [repo, serial, batch]);
        }
      }
    } catch (err) {
      await this.db.query('DELETE FROM remote_root_names WHERE repo = $1 AND serial = $2', [repo, serial]).catch(() => undefined);
      throw err;
    }
    const won = await this.db.tx(async (q) => {
      await lockKey(q, LOCK_NAMESPACE.root, repo);
      // A save started later (a higher serial) that finished first keeps its list.
      const { rows: [current] } = await q.query<{ serial: number }>('SELECT serial FROM remote_roots WHERE repo = $1', [repo]);
      if ((current?.serial ?? 0) > serial) return false;
      await q.query(`INSERT INTO remote_roots (repo, checked_at, etag, last_modified, serial) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (repo) DO UPDATE SET checked_at = excluded.checked_at, etag = excluded.etag,
          last_modified = excluded.last_modified, serial = excluded.serial`, [repo, now, etag, lastModified, serial]);
      await q.query(`DELETE FROM remote_root_names WHERE repo = $1 AND serial = $2 AND name = ''`, [repo, serial]);
      return true;
    });
    // The lists before it (nobody reads them now), or this one when a later one won.
    await this.db.query(`DELETE FROM remote_root_names WHERE repo = $1 AND ${won ? 'serial < $2' : 'serial = $2'}`, [repo, serial]);
  }

  async touchRoot(repo: string, now: number): Promise<void> {
    await this.db.query('UPDATE remote_roots SET checked_at = $1 WHERE repo = $2', [now, repo]);
  }

  async rootNames(repo: string, after: string, limit: number): Promise<string[]> {
    const { rows } = await this.db.query<{ name: string }>(`SELECT name FROM remote_root_names
      WHERE repo = $1 AND serial = (SELECT serial FROM remote_roots WHERE repo = $1) AND name > $2 ORDER BY name LIMIT $3`,
    [repo, after, limit]);
    return rows.map((r) => r.name);
  }

  async recordCached(repo: string, file: { sha256: string; size: number }, now: number, by: string): Promise<void> {
    await this.db.query(`INSERT INTO remote_cached (repo, sha256, size, cached_at, last_access, accessed_by) VALUES ($1, $2, $3, $4, $4, $5)
      ON CONFLICT (repo, sha256) DO UPDATE SET size = excluded.size,
        last_access = greatest(remote_cached.last_access, excluded.last_access), accessed_by = excluded.accessed_by`,
    [repo, file.sha256, file.size, now, by]);
  }

  async touchCached(repo: string, touches: readonly { sha256: string; at: number }[], by: string): Promise<void> {
    if (touches.length === 0) return;
    // One statement for the batch; a blob touched twice keeps its latest time.
    await this.db.query(`UPDATE remote_cached c SET last_access = t.at, accessed_by = $2
      FROM (SELECT sha256, max(at) AS at FROM unnest($3::text[], $4::bigint[]) AS u(sha256, at) GROUP BY sha256) t
      WHERE c.repo = $1 AND c.sha256 = t.sha256 AND c.last_access < t.at`,
    [repo, by, touches.map((t) => t.sha256), touches.map((t) => t.at)]);
  }

  async cacheUsage(repo: string): Promise<{ files: number; bytes: number }> {
    return (await this.db.query<{ files: number; bytes: number }>(`SELECT count(*) AS files, coalesce(sum(size), 0)::bigint AS bytes
      FROM remote_cached WHERE repo = $1`, [repo])).rows[0]!;
  }

  async leastRecentlyUsed(repo: string, after: { lastAccess: number; sha256: string } | null, limit: number): Promise<CachedFileRow[]> {
    return (after === null
      ? await this.db.query<CachedFileRow>(`SELECT ${CACHED_COLUMNS} FROM remote_cached WHERE repo = $1 ORDER BY last_access, sha256 LIMIT $2`, [repo, limit])
      : await this.db.query<CachedFileRow>(`SELECT ${CACHED_COLUMNS} FROM remote_cached WHERE repo = $1 AND (last_access, sha256) > ($2, $3)
          ORDER BY last_access, sha256 LIMIT $4`, [repo, after.lastAccess, after.sha256, limit])).rows;
  }

  uncache(repo: string, sha256: string): Promise<{ heldElsewhere: boolean }> {
    return this.db.tx(async (q) => {
      await keepLastDownload(q, sha256, repo);
      await q.query('DELETE FROM remote_cached WHERE repo = $1 AND sha256 = $2', [repo, sha256]);
      // Hosted files (local and wheel-cache repositories) and other remotes' copies keep a blob.
      const held = await q.query(`SELECT 1 FROM files WHERE sha256 = $2
        UNION ALL SELECT 1 FROM remote_cached WHERE sha256 = $2 AND repo != $1 LIMIT 1`, [repo, sha256]);
      return { heldElsewhere: held.rows.length > 0 };
    });
  }

  uncacheEverywhere(sha256: string): Promise<string[]> {
    return this.db.tx(async (q) => {
      await keepLastDownload(q, sha256, null);
      return (await q.query<{ repo: string }>('DELETE FROM remote_cached WHERE sha256 = $1 RETURNING repo', [sha256])).rows.map((r) => r.repo);
    });
  }

  async adoptCached(sha256: string, size: number, at: number): Promise<number> {
    const { rowCount } = await this.db.query(`INSERT INTO remote_cached (repo, sha256, size, cached_at, last_access, accessed_by)
      SELECT DISTINCT f.repo, f.sha256, $2::bigint, $3::bigint, $3::bigint, 'adopted' FROM remote_files f
      WHERE f.sha256 = $1 AND NOT EXISTS (SELECT 1 FROM remote_cached c WHERE c.repo = f.repo AND c.sha256 = f.sha256)`, [sha256, size, at]);
    return rowCount ?? 0;
  }
}

/** Upserts the listed files; marks the others of the project removed. Returns how many are newly removed. */
async function reconcileFiles(q: Queryable, repo: string, project: string, files: RemoteFileRow[], cause: RemovalCause, now: number): Promise<number> {
  const listed = new Set(files.map((f) => `${f.sha256}/${f.filename}`));
  const before = (await q.query<{ sha256: string; filename: string; removedAt: number | null; removedCause: RemovalCause | null }>(
    'SELECT sha256, filename, removed_at AS "removedAt", removed_cause AS "removedCause" FROM remote_files WHERE repo = $1 AND project = $2',
    [repo, project])).rows;
  if (files.length > 0) {
    // One statement for the whole page. A file still listed keeps the time it
    // was first seen (the cooldown's clock without an upload-time); one listed
    // again after the upstream removed it is new again, and no longer removed.
    // A page listing one file twice keeps the last listing, as SQLite's row-by-row upserts do.
    const unique = new Map(files.map((f) => [`${f.sha256}/${f.filename}`, f]));
    const rows = [...unique.values()];
    await q.query(`INSERT INTO remote_files (repo, sha256, filename, project, url, size, metadata_sha256, upload_time, requires_python, first_seen)
      SELECT $1, u.sha256, u.filename, $2, u.url, u.size, u.metadata_sha256, u.upload_time, u.requires_python, $3
      FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[])
        AS u(sha256, filename, url, size, metadata_sha256, upload_time, requires_python)
      ON CONFLICT (repo, sha256, filename) DO UPDATE SET project = excluded.project, url = excluded.url, size = excluded.size,
        metadata_sha256 = excluded.metadata_sha256, upload_time = excluded.upload_time, requires_python = excluded.requires_python,
        first_seen = CASE WHEN remote_files.removed_at IS NULL THEN remote_files.first_seen ELSE excluded.first_seen END,
        removed_at = NULL, removed_cause = NULL`, [
      repo, project, now,
      rows.map((f) => f.sha256), rows.map((f) => f.filename), rows.map((f) => f.url), rows.map((f) => f.size),
      rows.map((f) => f.metadataSha256), rows.map((f) => f.uploadTime), rows.map((f) => f.requiresPython ?? null),
    ]);
  }
  let removed = 0;
  for (const f of before) {
    if (listed.has(`${f.sha256}/${f.filename}`)) continue;
    if (f.removedAt === null) removed++;
    // A quarantine covers the files removed before it too; otherwise the first cause stands.
    else if (!(cause === 'quarantined' && f.removedCause !== 'quarantined')) continue;
    await q.query(`UPDATE remote_files SET removed_at = coalesce(removed_at, $4), removed_cause = $5
      WHERE repo = $1 AND sha256 = $2 AND filename = $3`, [repo, f.sha256, f.filename, now, f.removedAt === null ? cause : 'quarantined']);
  }
  return removed;
}

/** A copy forgotten keeps its last download on the file's record (`removed report` reads it). */
async function keepLastDownload(q: Queryable, sha256: string, repo: string | null): Promise<void> {
  await q.query(`UPDATE remote_files SET last_download = greatest(coalesce(remote_files.last_download, 0), c.last_access)
    FROM (SELECT repo, sha256, last_access FROM remote_cached WHERE sha256 = $1 AND ($2::text IS NULL OR repo = $2)) c
    WHERE remote_files.repo = c.repo AND remote_files.sha256 = c.sha256`, [sha256, repo]);
}
