import { createHash } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';
import type { CachedPage, CachedRoot, RemoteCacheStore, RemoteFileRecord, RemoteFileRow, RemovalCause, RemovedFileRow } from './types.ts';

interface PageRecord {
  state: 'ok' | 'missing'; checked_at: number; etag: string | null; last_modified: string | null; serial: number;
}

function toPage(r: PageRecord): CachedPage {
  return { state: r.state, checkedAt: r.checked_at, etag: r.etag, lastModified: r.last_modified, serial: r.serial };
}

const FILE_COLUMNS = `sha256, filename, project, url, size, metadata_sha256 AS metadataSha256, requires_python AS requiresPython,
  removed_at AS removedAt, removed_cause AS removedCause, last_access AS lastAccess`;

export class SqliteRemoteCacheStore implements RemoteCacheStore {
  private readonly q: Record<string, Statement>;

  constructor(private readonly db: Db) {
    const p = (sql: string) => db.prepare(sql);
    this.q = {
      getPage: p('SELECT state, checked_at, etag, last_modified, serial FROM remote_pages WHERE repo = ? AND project = ?'),
      getPageBody: p('SELECT page FROM remote_pages WHERE repo = ? AND project = ?').pluck(),
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
      // A file listed (again) is not removed; when it was last served stays.
      upsertFile: p(`INSERT INTO remote_files (repo, sha256, filename, project, url, size, metadata_sha256, requires_python)
                     VALUES (@repo, @sha256, @filename, @project, @url, @size, @metadataSha256, @requiresPython)
                     ON CONFLICT (repo, sha256, filename) DO UPDATE SET project = @project, url = @url, size = @size,
                       metadata_sha256 = @metadataSha256, requires_python = @requiresPython, removed_at = NULL, removed_cause = NULL`),
      markRemoved: p(`UPDATE remote_files SET removed_at = coalesce(removed_at, @now), removed_cause = @cause
                      WHERE repo = @repo AND sha256 = @sha256 AND filename = @filename`),
      getFile: p(`SELECT ${FILE_COLUMNS} FROM remote_files WHERE repo = ? AND sha256 = ? AND filename = ?`),
      touchFile: p('UPDATE remote_files SET last_access = ? WHERE repo = ? AND sha256 = ? AND filename = ?'),
      listRemoved: p(`SELECT repo, ${FILE_COLUMNS} FROM remote_files
                      WHERE removed_at IS NOT NULL AND (@repo IS NULL OR repo = @repo) AND removed_at >= @since
                      ORDER BY removed_at DESC, repo, project, filename`),
      getRoot: p('SELECT checked_at AS checkedAt, etag, last_modified AS lastModified, serial FROM remote_roots WHERE repo = ?'),
      upsertRoot: p(`INSERT INTO remote_roots (repo, checked_at, etag, last_modified, serial) VALUES (@repo, @now, @etag, @lastModified, 1)
                     ON CONFLICT (repo) DO UPDATE SET checked_at = @now, etag = @etag, last_modified = @lastModified, serial = serial + 1`),
      touchRoot: p('UPDATE remote_roots SET checked_at = ? WHERE repo = ?'),
      deleteNames: p('DELETE FROM remote_root_names WHERE repo = ?'),
      insertName: p('INSERT OR IGNORE INTO remote_root_names (repo, name) VALUES (?, ?)'),
      rootNames: p('SELECT name FROM remote_root_names WHERE repo = ? AND name > ? ORDER BY name LIMIT ?').pluck(),
    };
  }

  getPage(repo: string, project: string): CachedPage | null {
    const r = this.q.getPage!.get(repo, project) as PageRecord | undefined;
    return r ? toPage(r) : null;
  }

  pruneMissing(repo: string, before: number, keep: number): number {
    return this.db.transaction((): number =>
      this.q.pruneExpired!.run(repo, before).changes + this.q.pruneOldest!.run(repo, keep).changes)();
  }

  getPageBody(repo: string, project: string): string | null {
    return (this.q.getPageBody!.get(repo, project) as string | null | undefined) ?? null;
  }

  savePage(
    repo: string, project: string,
    a: { state: 'ok' | 'missing'; etag: string | null; lastModified: string | null; page: string | null; files: RemoteFileRow[]; removedCause?: RemovalCause },
    now: number,
  ): CachedPage & { removed: number } {
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
    for (const f of files) this.q.upsertFile!.run({ repo, ...f });
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

  touchPage(repo: string, project: string, now: number): void {
    this.q.touchPage!.run(now, repo, project);
  }

  getFile(repo: string, sha256: string, filename: string): RemoteFileRecord | null {
    return (this.q.getFile!.get(repo, sha256, filename) as RemoteFileRecord | undefined) ?? null;
  }

  touchFile(repo: string, sha256: string, filename: string, now: number): void {
    this.q.touchFile!.run(now, repo, sha256, filename);
  }

  listRemoved(filter: { repo?: string; since?: number }): RemovedFileRow[] {
    return this.q.listRemoved!.all({ repo: filter.repo ?? null, since: filter.since ?? 0 }) as RemovedFileRow[];
  }

  getRoot(repo: string): CachedRoot | null {
    return (this.q.getRoot!.get(repo) as CachedRoot | undefined) ?? null;
  }

  saveRoot(repo: string, names: string[], etag: string | null, lastModified: string | null, now: number): void {
    this.db.transaction(() => {
      this.q.deleteNames!.run(repo);
      for (const n of names) this.q.insertName!.run(repo, n);
      this.q.upsertRoot!.run({ repo, now, etag, lastModified });
    }).immediate();
  }

  touchRoot(repo: string, now: number): void {
    this.q.touchRoot!.run(now, repo);
  }

  rootNames(repo: string, after: string, limit: number): string[] {
    return this.q.rootNames!.all(repo, after, limit) as string[];
  }
}
