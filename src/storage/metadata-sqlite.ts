import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';
import type { SqliteAuditStore } from './audit-sqlite.ts';
import type { Actor, AddFileResult, BlobReference, FileRow, MaintenanceKind, MetadataStore, NewFile, ProjectRow, RepoUsage } from './types.ts';

interface FileRecord {
  repo: string; project: string; filename: string; version: string; kind: 'wheel' | 'sdist';
  size: number; sha256: string; md5: string; blake2b_256: string; requires_python: string | null;
  metadata_sha256: string | null; yanked: number; yanked_reason: string | null; upload_time: string; uploader: string | null;
}

const FILE_COLUMNS = `f.repo, p.name AS project, f.filename, f.version, f.kind, f.size, f.sha256, f.md5, f.blake2b_256,
  f.requires_python, f.metadata_sha256, f.yanked, f.yanked_reason, f.upload_time, f.uploader`;

function toFileRow(r: FileRecord): FileRow {
  return {
    repo: r.repo, project: r.project, filename: r.filename, version: r.version, kind: r.kind, size: r.size,
    sha256: r.sha256, md5: r.md5, blake2b256: r.blake2b_256, requiresPython: r.requires_python,
    metadataSha256: r.metadata_sha256, yanked: r.yanked !== 0, yankedReason: r.yanked_reason,
    uploadTime: r.upload_time, uploader: r.uploader,
  };
}

export class SqliteMetadataStore implements MetadataStore {
  private readonly q: Record<string, Statement>;

  /** `audit` shares this store's database: an upload and its audit entry commit together. */
  constructor(private readonly db: Db, private readonly audit: SqliteAuditStore) {
    const p = (sql: string) => db.prepare(sql);
    this.q = {
      repoSerial: p('SELECT serial FROM repo_state WHERE repo = ?'),
      bumpRepo: p(`INSERT INTO repo_state (repo, serial) VALUES (?, 1)
                   ON CONFLICT (repo) DO UPDATE SET serial = serial + 1 RETURNING serial`),
      listProjects: p(`SELECT p.repo, p.name, p.display_name AS displayName, p.serial, p.updated_at AS updatedAt
                       FROM projects p WHERE p.repo = ? AND EXISTS (SELECT 1 FROM files f WHERE f.project_id = p.id)
                       ORDER BY p.name`),
      projectNames: p(`SELECT p.name, p.display_name AS displayName FROM projects p
                       WHERE p.repo = ? AND p.name > ? AND EXISTS (SELECT 1 FROM files f WHERE f.project_id = p.id)
                       ORDER BY p.name LIMIT ?`),
      projectsChangedSince: p(`SELECT p.name, p.display_name AS displayName, EXISTS (SELECT 1 FROM files f WHERE f.project_id = p.id) AS present
                               FROM projects p WHERE p.repo = ? AND p.serial > ?`),
      getProject: p(`SELECT repo, name, display_name AS displayName, serial, updated_at AS updatedAt
                     FROM projects WHERE repo = ? AND name = ?`),
      upsertProject: p(`INSERT INTO projects (repo, name, display_name, serial, created_at, updated_at)
                        VALUES (@repo, @name, @displayName, @serial, @now, @now)
                        ON CONFLICT (repo, name) DO UPDATE SET serial = @serial, updated_at = @now
                        RETURNING id`),
      touchProject: p('UPDATE projects SET serial = ?, updated_at = ? WHERE repo = ? AND name = ?'),
      listFiles: p(`SELECT ${FILE_COLUMNS} FROM files f JOIN projects p ON p.id = f.project_id
                    WHERE p.repo = ? AND p.name = ? ORDER BY f.filename`),
      getFile: p(`SELECT ${FILE_COLUMNS} FROM files f JOIN projects p ON p.id = f.project_id
                  WHERE f.repo = ? AND f.filename = ?`),
      coreMetadata: p('SELECT core_metadata AS m FROM files WHERE repo = ? AND filename = ?'),
      metadataJson: p('SELECT metadata_json AS m FROM files WHERE repo = ? AND filename = ?'),
      deleteFile: p('DELETE FROM files WHERE repo = ? AND filename = ?'),
      insertFile: p(`INSERT INTO files (project_id, repo, filename, version, kind, size, sha256, md5, blake2b_256,
                       requires_python, core_metadata, metadata_sha256, metadata_json, upload_time, uploader)
                     VALUES (@projectId, @repo, @filename, @version, @kind, @size, @sha256, @md5, @blake2b256,
                       @requiresPython, @coreMetadata, @metadataSha256, @metadataJson, @uploadTime, @uploader)`),
      setYanked: p(`UPDATE files SET yanked = @yanked, yanked_reason = @reason
                    WHERE project_id = (SELECT id FROM projects WHERE repo = @repo AND name = @project)
                      AND version = @version AND (yanked != @yanked OR IFNULL(yanked_reason, '') != IFNULL(@reason, ''))`),
      toYank: p(`SELECT ${FILE_COLUMNS} FROM files f JOIN projects p ON p.id = f.project_id
                 WHERE p.repo = @repo AND p.name = @project AND f.version = @version
                   AND (f.yanked != @yanked OR IFNULL(f.yanked_reason, '') != IFNULL(@reason, '')) ORDER BY f.filename`),
      filesOfProjectVersion: p(`SELECT f.version FROM files f JOIN projects p ON p.id = f.project_id
                                WHERE p.repo = ? AND p.name = ?`),
      // A remote repository's cached file may be the same blob; remote pages also
      // name their PEP 658 metadata files, and METADATA read out of upstream wheels
      // is stored as blobs too.
      blobInUse: p(`SELECT 1 FROM files WHERE sha256 = @sha UNION ALL SELECT 1 FROM remote_files WHERE sha256 = @sha
                    UNION ALL SELECT 1 FROM remote_files WHERE metadata_sha256 = @sha
                    UNION ALL SELECT 1 FROM wheel_metadata WHERE metadata_sha256 = @sha
                    UNION ALL SELECT 1 FROM remote_cached WHERE sha256 = @sha LIMIT 1`),
      blobReferences: p(`SELECT repo, filename, 1 AS hosted, 0 AS metadata FROM files WHERE sha256 = @sha
                         UNION ALL SELECT repo, filename, 0, 0 FROM remote_files WHERE sha256 = @sha
                         UNION ALL SELECT repo, filename, 0, 1 FROM remote_files WHERE metadata_sha256 = @sha
                         UNION ALL SELECT r.repo, w.filename, 0, 1 FROM wheel_metadata w
                           JOIN remote_files r ON r.sha256 = w.sha256 AND r.filename = w.filename WHERE w.metadata_sha256 = @sha
                         ORDER BY 1, 2`),
      repoBlobs: p(`SELECT sha256 FROM files WHERE repo = @repo
                    UNION SELECT sha256 FROM remote_files WHERE repo = @repo
                    UNION SELECT metadata_sha256 FROM remote_files WHERE repo = @repo AND metadata_sha256 IS NOT NULL
                    UNION SELECT w.metadata_sha256 FROM wheel_metadata w
                      JOIN remote_files r ON r.sha256 = w.sha256 AND r.filename = w.filename
                      WHERE r.repo = @repo AND w.metadata_sha256 IS NOT NULL`).pluck(),
      recordRun: p(`INSERT INTO maintenance_runs (kind, finished_at, summary) VALUES (?, ?, ?)
                    ON CONFLICT (kind) DO UPDATE SET finished_at = excluded.finished_at, summary = excluded.summary`),
      lastRun: p('SELECT finished_at AS at, summary FROM maintenance_runs WHERE kind = ?'),
      repoUsage: p(`SELECT count(DISTINCT project_id) AS projects, count(*) AS files, total(size) AS bytes FROM files WHERE repo = ?`),
      check: p('SELECT 1'),
      instanceId: p('SELECT id FROM instance').pluck(),
    };
  }

  async repoSerial(repo: string): Promise<number> {
    const row = this.q.repoSerial!.get(repo) as { serial: number } | undefined;
    return row?.serial ?? 0;
  }

  async listProjects(repo: string): Promise<ProjectRow[]> {
    return this.q.listProjects!.all(repo) as ProjectRow[];
  }

  async projectNames(repo: string, after: string, limit: number): Promise<{ name: string; displayName: string }[]> {
    return this.q.projectNames!.all(repo, after, limit) as { name: string; displayName: string }[];
  }

  async projectsChangedSince(repo: string, serial: number): Promise<{ name: string; displayName: string; present: boolean }[]> {
    return (this.q.projectsChangedSince!.all(repo, serial) as { name: string; displayName: string; present: number }[])
      .map((r) => ({ name: r.name, displayName: r.displayName, present: r.present !== 0 }));
  }

  async getProject(repo: string, name: string): Promise<ProjectRow | null> {
    return (this.q.getProject!.get(repo, name) as ProjectRow | undefined) ?? null;
  }

  async listFiles(repo: string, project: string): Promise<FileRow[]> {
    return (this.q.listFiles!.all(repo, project) as FileRecord[]).map(toFileRow);
  }

  async getFile(repo: string, filename: string): Promise<FileRow | null> {
    return this.fileRow(repo, filename);
  }

  /** Synchronous, for use inside a transaction. */
  private fileRow(repo: string, filename: string): FileRow | null {
    const r = this.q.getFile!.get(repo, filename) as FileRecord | undefined;
    return r ? toFileRow(r) : null;
  }

  async getCoreMetadata(repo: string, filename: string): Promise<Buffer | null> {
    return (this.q.coreMetadata!.get(repo, filename) as { m: Buffer | null } | undefined)?.m ?? null;
  }

  async getMetadataJson(repo: string, filename: string): Promise<string | null> {
    return (this.q.metadataJson!.get(repo, filename) as { m: string } | undefined)?.m ?? null;
  }

  async addFile(file: NewFile, opts: { overwrite: boolean; actor: Actor }): Promise<AddFileResult> {
    const audit = (detail: 'created' | 'replaced' | 'unchanged'): void => this.audit.recordSync({
      at: file.uploadTime, actor: opts.actor.user ?? 'anonymous', tokenId: opts.actor.tokenId, address: opts.actor.address,
      action: 'upload', repo: file.repo, project: file.project, version: file.version, filename: file.filename, sha256: file.sha256, detail,
    });
    return this.db.transaction((): AddFileResult => {
      const existing = this.fileRow(file.repo, file.filename);
      if (existing) {
        if (existing.sha256 === file.sha256) {
          audit('unchanged');
          return { outcome: 'identical', existing };
        }
        if (!opts.overwrite) return { outcome: 'conflict', existing };
        this.q.deleteFile!.run(file.repo, file.filename);
      }
      const serial = (this.q.bumpRepo!.get(file.repo) as { serial: number }).serial;
      const { id: projectId } = this.q.upsertProject!.get({
        repo: file.repo, name: file.project, displayName: file.displayName, serial, now: file.uploadTime,
      }) as { id: number };
      this.q.insertFile!.run({
        projectId, repo: file.repo, filename: file.filename, version: file.version, kind: file.kind, size: file.size,
        sha256: file.sha256, md5: file.md5, blake2b256: file.blake2b256, requiresPython: file.requiresPython,
        coreMetadata: file.coreMetadata, metadataSha256: file.coreMetadata ? file.metadataSha256 : null,
        metadataJson: file.metadataJson, uploadTime: file.uploadTime, uploader: file.uploader,
      });
      audit(existing ? 'replaced' : 'created');
      return { outcome: 'added', file: this.fileRow(file.repo, file.filename)!, replaced: existing };
    }).immediate();
  }

  async setYanked(repo: string, project: string, version: string, yanked: boolean, reason: string | null): Promise<FileRow[]> {
    return this.db.transaction((): FileRow[] => {
      const args = { repo, project, version, yanked: yanked ? 1 : 0, reason: yanked ? reason : null };
      const changed = (this.q.toYank!.all(args) as FileRecord[]).map(toFileRow);
      if (changed.length === 0) return [];
      this.q.setYanked!.run(args);
      this.bumpProject(repo, project);
      return changed.map((f) => ({ ...f, yanked, yankedReason: args.reason }));
    }).immediate();
  }

  async deleteFile(repo: string, filename: string): Promise<FileRow | null> {
    return this.db.transaction((): FileRow | null => {
      const existing = this.fileRow(repo, filename);
      if (!existing) return null;
      this.q.deleteFile!.run(repo, filename);
      this.bumpProject(repo, existing.project);
      return existing;
    }).immediate();
  }

  /** Inside a transaction: the project's page changed, so it takes the repository's next serial. */
  private bumpProject(repo: string, project: string): void {
    const serial = (this.q.bumpRepo!.get(repo) as { serial: number }).serial;
    this.q.touchProject!.run(serial, new Date().toISOString(), repo, project);
  }

  async listVersions(repo: string, project: string): Promise<string[]> {
    return [...new Set((this.q.filesOfProjectVersion!.all(repo, project) as { version: string }[]).map((r) => r.version))];
  }

  async repoUsage(repo: string): Promise<RepoUsage> {
    return this.q.repoUsage!.get(repo) as RepoUsage;
  }

  async blobInUse(sha256: string): Promise<boolean> {
    return this.q.blobInUse!.get({ sha: sha256 }) !== undefined;
  }

  async blobReferences(sha256: string): Promise<BlobReference[]> {
    return (this.q.blobReferences!.all({ sha: sha256 }) as { repo: string; filename: string; hosted: number; metadata: number }[])
      .map((r) => ({ repo: r.repo, filename: r.filename, hosted: r.hosted === 1, metadata: r.metadata === 1 }));
  }

  async repoBlobs(repo: string): Promise<string[]> {
    return this.q.repoBlobs!.all({ repo }) as string[];
  }

  async recordRun(kind: MaintenanceKind, at: number, summary: Record<string, number>): Promise<void> {
    this.q.recordRun!.run(kind, at, JSON.stringify(summary));
  }

  async lastRun(kind: MaintenanceKind): Promise<{ at: number; summary: Record<string, number> } | null> {
    const r = this.q.lastRun!.get(kind) as { at: number; summary: string } | undefined;
    return r ? { at: r.at, summary: JSON.parse(r.summary) as Record<string, number> } : null;
  }

  async instanceId(): Promise<string> {
    return this.q.instanceId!.get() as string;
  }

  async check(): Promise<void> {
    this.q.check!.get();
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
