import { createHash } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';
import type { CachedFileRow, CachedPage, CachedRoot, RemoteCacheStore, RemoteFileRecord, RemoteFileRow, RemovalCause, RemovedFileRow, WheelMetadataRecord } from './types.ts';

interface PageRecord {
  state: 'ok' | 'missing'; checked_at: number; etag: string | null; last_modified: string | null; serial: number;
}

function toPage(r: PageRecord): CachedPage {
  return { state: r.state, checkedAt: r.checked_at, etag: r.etag, lastModified: r.last_modified, serial: r.serial };
}

const FILE_COLUMNS = `sha256, filename, project, url, size, metadata_sha256 AS metadataSha256, upload_time AS uploadTime,
  requires_python AS requiresPython, removed_at AS removedAt, removed_cause AS removedCause`;

/** Names deleted per statement when an old root list goes. */
const ROOT_DELETE_BATCH = 5000;

export class SqliteRemoteCacheStore implements RemoteCacheStore {
  private readonly q: Record<string, Statement>;

  constructor(private readonly db: Db) {
    const p = (sql: string) => db.prepare(sql);
    this.q = {
      getPage: p('SELECT state, checked_at, etag, last_modified, serial FROM remote_pages WHERE repo = ? AND project = ?'),
      getPageBody: p('SELECT page FROM remote_pages WHERE repo = ? AND project = ?').pluck(),
      getPageWithBody: p('SELECT state, checked_at, etag, last_modified, serial, page FROM remote_pages WHERE repo = ? AND project = ?'),
      getDigest: p('SELECT state, digest, serial FROM remote_pages WHERE repo = ? AND project = ?'),
      upsertPage: p(`INSERT INTO remote_pages (repo, project, state, checked_at, etag, last_modified, page, digest, serial)
                     VALUES (@repo, @project, @state, @now, @etag, @lastModified, @page, @digest, @serial)
                     ON CONFLICT (repo, project) DO UPDATE SET state = @state, checked_at = @now, etag = @etag,
                       last_modified = @lastModified, page = @page, digest = @digest, serial = @serial`),
      touchPage: p('UPDATE remote_pages SET checked_at = ? WHERE repo = ? AND project = ?'),
      pruneExpired: p(`DELETE FROM remote_pages WHERE repo = ? AND state = 'missing' AND checked_at < ?`),
      pruneOldest: p(`DELETE FROM remote_pages WHERE rowid IN (
                        SELECT rowid FROM remote_pages WHERE repo = ? AND state = 'missing'
                        ORDER BY checked_at DESC LIMIT -1 OFFSET ?)`),
      projectFiles: p('SELECT sha256, filename, removed_at AS removedAt, removed_cause AS removedCause FROM remote_files WHERE repo = ? AND project = ?'),
      // A file still listed keeps the time it was first seen (the cooldown's
      // clock without an upload-time); one listed again after the upstream
      // removed it is new again, and no longer removed.
      upsertFile: p(`INSERT INTO remote_files (repo, sha256, filename, project, url, size, metadata_sha256, upload_time, requires_python, first_seen)
                     VALUES (@repo, @sha256, @filename, @project, @url, @size, @metadataSha256, @uploadTime, @requiresPython, @now)
                     ON CONFLICT (repo, sha256, filename) DO UPDATE SET project = @project, url = @url, size = @size,
                       metadata_sha256 = @metadataSha256, upload_time = @uploadTime, requires_python = @requiresPython,
                       first_seen = CASE WHEN removed_at IS NULL THEN first_seen ELSE @now END,
                       removed_at = NULL, removed_cause = NULL`),
      markRemoved: p(`UPDATE remote_files SET removed_at = coalesce(removed_at, @now), removed_cause = @cause
                      WHERE repo = @repo AND sha256 = @sha256 AND filename = @filename`),
      getFile: p(`SELECT ${FILE_COLUMNS} FROM remote_files WHERE repo = ? AND sha256 = ? AND filename = ?`),
      listRemoved: p(`SELECT f.repo AS repo, f.sha256 AS sha256, f.filename AS filename, f.project AS project, f.url AS url, f.size AS size,
                        f.metadata_sha256 AS metadataSha256, f.upload_time AS uploadTime, f.requires_python AS requiresPython,
                        f.removed_at AS removedAt, f.removed_cause AS removedCause,
                        nullif(max(coalesce(c.last_access, 0), coalesce(f.last_download, 0)), 0) AS lastAccess
                      FROM remote_files f LEFT JOIN remote_cached c ON c.repo = f.repo AND c.sha256 = f.sha256
                      WHERE f.removed_at IS NOT NULL AND (@repo IS NULL OR f.repo = @repo) AND f.removed_at >= @since
                      ORDER BY f.removed_at DESC, f.repo, f.project, f.filename`),
      // Listed files last: a filename listed again with other bytes takes the listed one's time.
      firstSeen: p('SELECT filename, first_seen AS firstSeen FROM remote_files WHERE repo = ? AND project = ? ORDER BY removed_at IS NULL, filename, sha256'),
      pageCount: p(`SELECT count(*) FROM remote_pages WHERE repo = ? AND state = 'ok'`).pluck(),
      listedCount: p('SELECT count(*) FROM remote_files WHERE repo = ? AND removed_at IS NULL').pluck(),
      cachedProjects: p(`SELECT project FROM remote_pages WHERE repo = ? AND state = 'ok' AND project > ? ORDER BY project LIMIT ?`).pluck(),
      setFileMetadata: p('UPDATE remote_files SET metadata_sha256 = ? WHERE repo = ? AND sha256 = ? AND filename = ?'),
      setPageBody: p(`UPDATE remote_pages SET page = @page, digest = @digest, serial = serial + 1
                      WHERE repo = @repo AND project = @project AND state = 'ok' AND digest IS NOT @digest`),
      pageExists: p(`SELECT 1 FROM remote_pages WHERE repo = ? AND project = ? AND state = 'ok' AND serial = ?`).pluck(),
      getWheelMetadata: p(`SELECT sha256, filename, metadata_sha256 AS metadataSha256, method, failure, at
                           FROM wheel_metadata WHERE sha256 = ? AND filename = ?`),
      saveWheelMetadata: p(`INSERT OR REPLACE INTO wheel_metadata (sha256, filename, metadata_sha256, method, failure, at)
                            VALUES (@sha256, @filename, @metadataSha256, @method, @failure, @at)`),
      getRoot: p('SELECT checked_at AS checkedAt, etag, last_modified AS lastModified, serial FROM remote_roots WHERE repo = ?'),
      upsertRoot: p(`INSERT INTO remote_roots (repo, checked_at, etag, last_modified, serial) VALUES (@repo, @now, @etag, @lastModified, @serial)
                     ON CONFLICT (repo) DO UPDATE SET checked_at = @now, etag = @etag, last_modified = @lastModified, serial = @serial`),
      rootSerial: p('SELECT serial FROM remote_roots WHERE repo = ?').pluck(),
      // Past both the list served and any list being written (or left by a save that died).
      nextRootSerial: p(`SELECT max(coalesce((SELECT serial FROM remote_roots WHERE repo = @repo), 0),
                                    coalesce((SELECT max(serial) FROM remote_root_names WHERE repo = @repo), 0)) + 1`).pluck(),
      touchRoot: p('UPDATE remote_roots SET checked_at = ? WHERE repo = ?'),
      insertName: p('INSERT OR IGNORE INTO remote_root_names (repo, serial, name) VALUES (?, ?, ?)'),
      deleteName: p('DELETE FROM remote_root_names WHERE repo = ? AND serial = ? AND name = ?'),
      olderRootSerial: p('SELECT serial FROM remote_root_names WHERE repo = ? AND serial < ? ORDER BY serial LIMIT 1').pluck(),
      // The last name of the next batch to delete (none: fewer are left).
      rootNameAt: p('SELECT name FROM remote_root_names WHERE repo = ? AND serial = ? ORDER BY name LIMIT 1 OFFSET ?').pluck(),
      deleteRootNames: p('DELETE FROM remote_root_names WHERE repo = ? AND serial = ? AND name <= ?'),
      deleteAllRootNames: p('DELETE FROM remote_root_names WHERE repo = ? AND serial = ?'),
      rootNames: p(`SELECT name FROM remote_root_names
                    WHERE repo = @repo AND serial = (SELECT serial FROM remote_roots WHERE repo = @repo) AND name > @after
                    ORDER BY name LIMIT @limit`).pluck(),
      recordCached: p(`INSERT INTO remote_cached (repo, sha256, size, cached_at, last_access, accessed_by)
                       VALUES (@repo, @sha256, @size, @now, @now, @by)
                       ON CONFLICT (repo, sha256) DO UPDATE SET size = @size, last_access = MAX(last_access, @now), accessed_by = @by`),
      touchCached: p(`UPDATE remote_cached SET last_access = @at, accessed_by = @by
                      WHERE repo = @repo AND sha256 = @sha256 AND last_access < @at`),
      cacheUsage: p('SELECT COUNT(*) AS files, IFNULL(SUM(size), 0) AS bytes FROM remote_cached WHERE repo = ?'),
      lruFirst: p(`SELECT sha256, size, cached_at AS cachedAt, last_access AS lastAccess, accessed_by AS accessedBy
                   FROM remote_cached WHERE repo = ? ORDER BY last_access, sha256 LIMIT ?`),
      lruAfter: p(`SELECT sha256, size, cached_at AS cachedAt, last_access AS lastAccess, accessed_by AS accessedBy
                   FROM remote_cached WHERE repo = @repo AND (last_access, sha256) > (@lastAccess, @sha256)
                   ORDER BY last_access, sha256 LIMIT @limit`),
      uncache: p('DELETE FROM remote_cached WHERE repo = ? AND sha256 = ?'),
      // A copy forgotten keeps its last download on the file's record (\`removed report\` reads it).
      keepLastDownload: p(`UPDATE remote_files SET last_download = max(coalesce(last_download, 0), c.last_access)
                           FROM (SELECT repo, sha256, last_access FROM remote_cached WHERE sha256 = @sha256 AND (@repo IS NULL OR repo = @repo)) c
                           WHERE remote_files.repo = c.repo AND remote_files.sha256 = c.sha256`),
      // Hosted files (local and wheel-cache repositories) and other remotes' copies keep a blob.
      heldElsewhere: p(`SELECT 1 FROM files WHERE sha256 = @sha256
                        UNION ALL SELECT 1 FROM remote_cached WHERE sha256 = @sha256 AND repo != @repo LIMIT 1`),
      holders: p('DELETE FROM remote_cached WHERE sha256 = ? RETURNING repo').pluck(),
      adopt: p(`INSERT INTO remote_cached (repo, sha256, size, cached_at, last_access, accessed_by)
                SELECT DISTINCT f.repo, f.sha256, @size, @at, @at, 'adopted' FROM remote_files f
                WHERE f.sha256 = @sha256 AND NOT EXISTS (SELECT 1 FROM remote_cached c WHERE c.repo = f.repo AND c.sha256 = f.sha256)`),
    };
  }

  async getPage(repo: string, project: string): Promise<CachedPage | null> {
    const r = this.q.getPage!.get(repo, project) as PageRecord | undefined;
    return r ? toPage(r) : null;
  }

  async pruneMissing(repo: string, before: number, keep: number): Promise<number> {
    return this.db.transaction((): number =>
      this.q.pruneExpired!.run(repo, before).changes + this.q.pruneOldest!.run(repo, keep).changes)();
  }

  async getPageBody(repo: string, project: string): Promise<string | null> {
    return (this.q.getPageBody!.get(repo, project) as string | null | undefined) ?? null;
  }

  async getPageWithBody(repo: string, project: string): Promise<(CachedPage & { body: string | null }) | null> {
    const r = this.q.getPageWithBody!.get(repo, project) as (PageRecord & { page: string | null }) | undefined;
    return r ? { ...toPage(r), body: r.page } : null;
  }

  async savePage(
    repo: string, project: string,
    a: { state: 'ok' | 'missing'; etag: string | null; lastModified: string | null; page: string | null; files: RemoteFileRow[]; removedCause?: RemovalCause },
    now: number,
  ): Promise<CachedPage & { removed: number }> {
    return this.db.transaction((): CachedPage & { removed: number } => {
      const old = this.q.getDigest!.get(repo, project) as { state: string; digest: string | null; serial: number } | undefined;
      const digest = a.page === null ? null : createHash('sha256').update(a.page).digest('hex');
      const changed = !old || old.state !== a.state || old.digest !== digest;
      const serial = changed ? (old?.serial ?? 0) + 1 : old.serial;
      this.q.upsertPage!.run({ repo, project, state: a.state, now, etag: a.etag, lastModified: a.lastModified, page: a.page, digest, serial });
      let removed = 0;
      if (changed) removed = this.reconcileFiles(repo, project, a.files, a.removedCause ?? 'deleted', now);
      return { state: a.state, checkedAt: now, etag: a.etag, lastModified: a.lastModified, serial, removed };
    }).immediate();
  }

  /** Upserts the listed files; marks the others of the project removed. Returns how many are newly removed. */
  private reconcileFiles(repo: string, project: string, files: RemoteFileRow[], cause: RemovalCause, now: number): number {
    const listed = new Set(files.map((f) => `${f.sha256}/${f.filename}`));
    const before = this.q.projectFiles!.all(repo, project) as { sha256: string; filename: string; removedAt: number | null; removedCause: RemovalCause | null }[];
    for (const f of files) this.q.upsertFile!.run({ repo, ...f, requiresPython: f.requiresPython ?? null, now });
    let removed = 0;
    for (const f of before) {
      if (listed.has(`${f.sha256}/${f.filename}`)) continue;
      if (f.removedAt === null) removed++;
      // A quarantine covers the files removed before it too; otherwise the first cause stands.
      else if (!(cause === 'quarantined' && f.removedCause !== 'quarantined')) continue;
      this.q.markRemoved!.run({ repo, sha256: f.sha256, filename: f.filename, now, cause: f.removedAt === null ? cause : 'quarantined' });
    }
    return removed;
  }

  async touchPage(repo: string, project: string, now: number): Promise<void> {
    this.q.touchPage!.run(now, repo, project);
  }

  async getFile(repo: string, sha256: string, filename: string): Promise<RemoteFileRecord | null> {
    return (this.q.getFile!.get(repo, sha256, filename) as RemoteFileRecord | undefined) ?? null;
  }

  async listRemoved(filter: { repo?: string; since?: number }): Promise<RemovedFileRow[]> {
    return this.q.listRemoved!.all({ repo: filter.repo ?? null, since: filter.since ?? 0 }) as RemovedFileRow[];
  }

  async firstSeen(repo: string, project: string): Promise<Map<string, number>> {
    const rows = this.q.firstSeen!.all(repo, project) as { filename: string; firstSeen: number }[];
    return new Map(rows.map((r) => [r.filename, r.firstSeen]));
  }

  async pageUsage(repo: string): Promise<{ projects: number; files: number }> {
    return { projects: this.q.pageCount!.get(repo) as number, files: this.q.listedCount!.get(repo) as number };
  }

  async cachedProjects(repo: string, after: string, limit: number): Promise<string[]> {
    return this.q.cachedProjects!.all(repo, after, limit) as string[];
  }

  async getWheelMetadata(sha256: string, filename: string): Promise<WheelMetadataRecord | null> {
    return (this.q.getWheelMetadata!.get(sha256, filename) as WheelMetadataRecord | undefined) ?? null;
  }

  async saveWheelMetadata(record: WheelMetadataRecord): Promise<void> {
    this.q.saveWheelMetadata!.run(record);
  }

  async updatePageMetadata(repo: string, project: string, serial: number, page: string, file: { sha256: string; filename: string; metadataSha256: string }): Promise<boolean> {
    return this.db.transaction((): boolean => {
      if (this.q.pageExists!.get(repo, project, serial) === undefined) return false;
      const digest = createHash('sha256').update(page).digest('hex');
      this.q.setPageBody!.run({ repo, project, page, digest });
      this.q.setFileMetadata!.run(file.metadataSha256, repo, file.sha256, file.filename);
      return true;
    }).immediate();
  }

  async getRoot(repo: string): Promise<CachedRoot | null> {
    return (this.q.getRoot!.get(repo) as CachedRoot | undefined) ?? null;
  }

  async saveRoot(repo: string, batches: Iterable<readonly string[]> | AsyncIterable<readonly string[]>, etag: string | null, lastModified: string | null, now: number): Promise<void> {
    // The new list is written under a serial of its own, reserved by a row
    // with the empty name (no project's, and before every other: rootNames
    // reads after ''); readers keep reading the serial remote_roots names.
    const serial = this.db.transaction((): number => {
      const next = this.q.nextRootSerial!.get({ repo }) as number;
      this.q.insertName!.run(repo, next, '');
      return next;
    }).immediate();
    try {
      for await (const batch of batches) {
        // One short transaction a batch: other processes' writes wait for a batch, not for the list.
        if (batch.length > 0) this.db.transaction(() => { for (const n of batch) this.q.insertName!.run(repo, serial, n); })();
      }
    } catch (err) {
      await this.dropRootNames(repo, serial).catch(() => undefined);
      throw err;
    }
    const won = this.db.transaction((): boolean => {
      // A save started later (a higher serial) that finished first keeps its list.
      if (((this.q.rootSerial!.get(repo) as number | undefined) ?? 0) > serial) return false;
      this.q.upsertRoot!.run({ repo, now, etag, lastModified, serial });
      this.q.deleteName!.run(repo, serial, '');
      return true;
    }).immediate();
    if (!won) return this.dropRootNames(repo, serial);
    // The lists before it: nobody reads them now.
    for (let old: number | undefined; (old = this.q.olderRootSerial!.get(repo, serial) as number | undefined) !== undefined;) {
      await this.dropRootNames(repo, old);
    }
  }

  /** Deletes one serial's names, a batch at a time (a list is hundreds of thousands of rows: the event loop and other writers go on between batches). */
  private async dropRootNames(repo: string, serial: number): Promise<void> {
    for (;;) {
      const last = this.q.rootNameAt!.get(repo, serial, ROOT_DELETE_BATCH - 1) as string | undefined;
      if (last === undefined) {
        this.q.deleteAllRootNames!.run(repo, serial);
        return;
      }
      this.q.deleteRootNames!.run(repo, serial, last);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  async touchRoot(repo: string, now: number): Promise<void> {
    this.q.touchRoot!.run(now, repo);
  }

  async rootNames(repo: string, after: string, limit: number): Promise<string[]> {
    return this.q.rootNames!.all({ repo, after, limit }) as string[];
  }

  async recordCached(repo: string, file: { sha256: string; size: number }, now: number, by: string): Promise<void> {
    this.q.recordCached!.run({ repo, sha256: file.sha256, size: file.size, now, by });
  }

  async touchCached(repo: string, touches: readonly { sha256: string; at: number }[], by: string): Promise<void> {
    if (touches.length === 0) return;
    this.db.transaction(() => {
      for (const t of touches) this.q.touchCached!.run({ repo, sha256: t.sha256, at: t.at, by });
    })();
  }

  async cacheUsage(repo: string): Promise<{ files: number; bytes: number }> {
    return this.q.cacheUsage!.get(repo) as { files: number; bytes: number };
  }

  async leastRecentlyUsed(repo: string, after: { lastAccess: number; sha256: string } | null, limit: number): Promise<CachedFileRow[]> {
    return (after === null
      ? this.q.lruFirst!.all(repo, limit)
      : this.q.lruAfter!.all({ repo, lastAccess: after.lastAccess, sha256: after.sha256, limit })) as CachedFileRow[];
  }

  async uncache(repo: string, sha256: string): Promise<{ heldElsewhere: boolean }> {
    return this.db.transaction(() => {
      this.q.keepLastDownload!.run({ repo, sha256 });
      this.q.uncache!.run(repo, sha256);
      return { heldElsewhere: this.q.heldElsewhere!.get({ repo, sha256 }) !== undefined };
    }).immediate();
  }

  async uncacheEverywhere(sha256: string): Promise<string[]> {
    return this.db.transaction(() => {
      this.q.keepLastDownload!.run({ repo: null, sha256 });
      return this.q.holders!.all(sha256) as string[];
    })();
  }

  async adoptCached(sha256: string, size: number, at: number): Promise<number> {
    return this.q.adopt!.run({ sha256, size, at }).changes;
  }
}
