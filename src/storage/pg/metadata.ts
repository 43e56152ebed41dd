import type { Actor, AddFileResult, AuditEntry, BlobReference, FileRow, MaintenanceKind, MetadataStore, NewFile, ProjectRow, RepoUsage } from '../types.ts';
import { insertAudit } from './audit.ts';
import { LOCK_NAMESPACE, lockKey, type PgDb, type Queryable } from './db.ts';

interface FileRecord {
  repo: string; project: string; filename: string; version: string; kind: 'wheel' | 'sdist';
  size: number; sha256: string; md5: string; blake2b_256: string; requires_python: string | null;
  metadata_sha256: string | null; yanked: boolean; yanked_reason: string | null; upload_time: string; uploader: string | null;
}

const FILE_COLUMNS = `f.repo, p.name AS project, f.filename, f.version, f.kind, f.size, f.sha256, f.md5, f.blake2b_256,
  f.requires_python, f.metadata_sha256, f.yanked, f.yanked_reason, f.upload_time, f.uploader`;

function toFileRow(r: FileRecord): FileRow {
  return {
    repo: r.repo, project: r.project, filename: r.filename, version: r.version, kind: r.kind, size: r.size,
    sha256: r.sha256, md5: r.md5, blake2b256: r.blake2b_256, requiresPython: r.requires_python,
    metadataSha256: r.metadata_sha256, yanked: r.yanked, yankedReason: r.yanked_reason,
    uploadTime: r.upload_time, uploader: r.uploader,
  };
}

const PROJECT_COLUMNS = 'p.repo, p.name, p.display_name AS "displayName", p.serial, p.updated_at AS "updatedAt"';

async function getFile(q: Queryable, repo: string, filename: string): Promise<FileRow | null> {
  const { rows } = await q.query<FileRecord>(`SELECT ${FILE_COLUMNS} FROM files f JOIN projects p ON p.id = f.project_id
                                              WHERE f.repo = $1 AND f.filename = $2`, [repo, filename], 'pydepot_get_file');
  return rows[0] ? toFileRow(rows[0]) : null;
}

async function bumpRepo(q: Queryable, repo: string): Promise<number> {
  const { rows } = await q.query<{ serial: number }>(`INSERT INTO repo_state (repo, serial) VALUES ($1, 1)
    ON CONFLICT (repo) DO UPDATE SET serial = repo_state.serial + 1 RETURNING serial`, [repo]);
  return rows[0]!.serial;
}

/** Inside a transaction: the project's page changed, so it takes the repository's next serial. */
async function bumpProject(q: Queryable, repo: string, project: string): Promise<void> {
  const serial = await bumpRepo(q, repo);
  await q.query('UPDATE projects SET serial = $1, updated_at = $2 WHERE repo = $3 AND name = $4', [serial, new Date().toISOString(), repo, project]);
}

export class PgMetadataStore implements MetadataStore {
  private instance: string | null = null;

  /** `close` ends the pool every store of this database shares (as SQLite's close ends its one connection). */
  constructor(private readonly db: PgDb) {}

  async repoSerial(repo: string): Promise<number> {
    const { rows } = await this.db.query<{ serial: number }>('SELECT serial FROM repo_state WHERE repo = $1', [repo]);
    return rows[0]?.serial ?? 0;
  }

  async listProjects(repo: string): Promise<ProjectRow[]> {
    return (await this.db.query<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects p
      WHERE p.repo = $1 AND EXISTS (SELECT 1 FROM files f WHERE f.project_id = p.id) ORDER BY p.name`, [repo])).rows;
  }

  async projectNames(repo: string, after: string, limit: number): Promise<{ name: string; displayName: string }[]> {
    return (await this.db.query<{ name: string; displayName: string }>(`SELECT p.name, p.display_name AS "displayName" FROM projects p
      WHERE p.repo = $1 AND p.name > $2 AND EXISTS (SELECT 1 FROM files f WHERE f.project_id = p.id)
      ORDER BY p.name LIMIT $3`, [repo, after, limit])).rows;
  }

  async projectsChangedSince(repo: string, serial: number): Promise<{ name: string; displayName: string; present: boolean }[]> {
    return (await this.db.query<{ name: string; displayName: string; present: boolean }>(`SELECT p.name, p.display_name AS "displayName",
      EXISTS (SELECT 1 FROM files f WHERE f.project_id = p.id) AS present
      FROM projects p WHERE p.repo = $1 AND p.serial > $2`, [repo, serial])).rows;
  }

  async getProject(repo: string, name: string): Promise<ProjectRow | null> {
    // Every page request asks it: concurrent askers share a query (PgDb.sharedRow).
    return this.db.sharedRow<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects p WHERE p.repo = $1 AND p.name = $2`, [repo, name], 'pydepot_get_project');
  }

  async listFiles(repo: string, project: string): Promise<FileRow[]> {
    return (await this.db.query<FileRecord>(`SELECT ${FILE_COLUMNS} FROM files f JOIN projects p ON p.id = f.project_id
      WHERE p.repo = $1 AND p.name = $2 ORDER BY f.filename`, [repo, project])).rows.map(toFileRow);
  }

  getFile(repo: string, filename: string): Promise<FileRow | null> {
    return getFile(this.db, repo, filename);
  }

  async listVersions(repo: string, project: string): Promise<string[]> {
    // Distinct in the order the rows come, as SQLite's version does (callers sort by PEP 440).
    const { rows } = await this.db.query<{ version: string }>(`SELECT f.version FROM files f JOIN projects p ON p.id = f.project_id
      WHERE p.repo = $1 AND p.name = $2 ORDER BY f.id`, [repo, project]);
    return [...new Set(rows.map((r) => r.version))];
  }

  async getCoreMetadata(repo: string, filename: string): Promise<Buffer | null> {
    return (await this.db.query<{ m: Buffer | null }>('SELECT core_metadata AS m FROM files WHERE repo = $1 AND filename = $2', [repo, filename])).rows[0]?.m ?? null;
  }

  async getMetadataJson(repo: string, filename: string): Promise<string | null> {
    return (await this.db.query<{ m: string }>('SELECT metadata_json AS m FROM files WHERE repo = $1 AND filename = $2', [repo, filename])).rows[0]?.m ?? null;
  }

  addFile(file: NewFile, opts: { overwrite: boolean; actor: Actor }): Promise<AddFileResult> {
    const entry = (detail: 'created' | 'replaced' | 'unchanged'): AuditEntry => ({
      at: file.uploadTime, actor: opts.actor.user ?? 'anonymous', tokenId: opts.actor.tokenId, address: opts.actor.address,
      action: 'upload', repo: file.repo, project: file.project, version: file.version, filename: file.filename, sha256: file.sha256, detail,
    });
    return this.db.tx(async (q): Promise<AddFileResult> => {
      // Two uploads of one filename at once: the second waits, then sees the first's row.
      await lockKey(q, LOCK_NAMESPACE.repo, file.repo);
      const existing = await getFile(q, file.repo, file.filename);
      if (existing) {
        if (existing.sha256 === file.sha256) {
          await insertAudit(q, entry('unchanged'));
          return { outcome: 'identical', existing };
        }
        if (!opts.overwrite) return { outcome: 'conflict', existing };
        await q.query('DELETE FROM files WHERE repo = $1 AND filename = $2', [file.repo, file.filename]);
      }
      const serial = await bumpRepo(q, file.repo);
      const { rows } = await q.query<{ id: number }>(`INSERT INTO projects (repo, name, display_name, serial, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $5)
        ON CONFLICT (repo, name) DO UPDATE SET serial = excluded.serial, updated_at = excluded.updated_at
        RETURNING id`, [file.repo, file.project, file.displayName, serial, file.uploadTime]);
      await q.query(`INSERT INTO files (project_id, repo, filename, version, kind, size, sha256, md5, blake2b_256,
          requires_python, core_metadata, metadata_sha256, metadata_json, upload_time, uploader)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, [
        rows[0]!.id, file.repo, file.filename, file.version, file.kind, file.size, file.sha256, file.md5, file.blake2b256,
        file.requiresPython, file.coreMetadata, file.coreMetadata ? file.metadataSha256 : null, file.metadataJson, file.uploadTime, file.uploader,
      ]);
      await insertAudit(q, entry(existing ? 'replaced' : 'created'));
      return { outcome: 'added', file: (await getFile(q, file.repo, file.filename))!, replaced: existing };
    });
  }

  setYanked(repo: string, project: string, version: string, yanked: boolean, reason: string | null): Promise<FileRow[]> {
    return this.db.tx(async (q): Promise<FileRow[]> => {
      await lockKey(q, LOCK_NAMESPACE.repo, repo);
      const { rows: changed } = await q.query<{ filename: string }>(`UPDATE files SET yanked = $1, yanked_reason = $2
        WHERE project_id = (SELECT id FROM projects WHERE repo = $3 AND name = $4)
          AND version = $5 AND (yanked != $1 OR coalesce(yanked_reason, '') != coalesce($2, ''))
        RETURNING filename`,
      [yanked, yanked ? reason : null, repo, project, version]);
      if (changed.length === 0) return [];
      await bumpProject(q, repo, project);
      // The files as changed, read in the same transaction.
      const { rows } = await q.query<FileRecord>(`SELECT ${FILE_COLUMNS} FROM files f JOIN projects p ON p.id = f.project_id
        WHERE f.repo = $1 AND f.filename = ANY($2) ORDER BY f.filename COLLATE "C"`, [repo, changed.map((r) => r.filename)]);
      return rows.map(toFileRow);
    });
  }

  deleteFile(repo: string, filename: string): Promise<FileRow | null> {
    return this.db.tx(async (q): Promise<FileRow | null> => {
      await lockKey(q, LOCK_NAMESPACE.repo, repo);
      const existing = await getFile(q, repo, filename);
      if (!existing) return null;
      await q.query('DELETE FROM files WHERE repo = $1 AND filename = $2', [repo, filename]);
      await bumpProject(q, repo, existing.project);
      return existing;
    });
  }

  async repoUsage(repo: string): Promise<RepoUsage> {
    return (await this.db.query<RepoUsage>(`SELECT count(DISTINCT project_id) AS projects, count(*) AS files,
      coalesce(sum(size), 0)::bigint AS bytes FROM files WHERE repo = $1`, [repo])).rows[0]!;
  }

  async blobInUse(sha256: string): Promise<boolean> {
    // A remote repository's cached file may be the same blob; remote pages also
    // name their PEP 658 metadata files, and METADATA read out of upstream wheels
    // is stored as blobs too.
    const { rows } = await this.db.query(`SELECT 1 FROM files WHERE sha256 = $1 UNION ALL SELECT 1 FROM remote_files WHERE sha256 = $1
      UNION ALL SELECT 1 FROM remote_files WHERE metadata_sha256 = $1
      UNION ALL SELECT 1 FROM wheel_metadata WHERE metadata_sha256 = $1
      UNION ALL SELECT 1 FROM remote_cached WHERE sha256 = $1 LIMIT 1`, [sha256]);
    return rows.length > 0;
  }

  async blobReferences(sha256: string): Promise<BlobReference[]> {
    return (await this.db.query<BlobReference>(`SELECT repo, filename, true AS hosted, false AS metadata FROM files WHERE sha256 = $1
      UNION ALL SELECT repo, filename, false, false FROM remote_files WHERE sha256 = $1
      UNION ALL SELECT repo, filename, false, true FROM remote_files WHERE metadata_sha256 = $1
      UNION ALL SELECT r.repo, w.filename COLLATE "C", false, true FROM wheel_metadata w
        JOIN remote_files r ON r.sha256 = w.sha256 AND r.filename = w.filename WHERE w.metadata_sha256 = $1
      ORDER BY 1, 2`, [sha256])).rows;
  }

  async repoBlobs(repo: string): Promise<string[]> {
    const { rows } = await this.db.query<{ sha256: string }>(`SELECT sha256 FROM files WHERE repo = $1
      UNION SELECT sha256 FROM remote_files WHERE repo = $1
      UNION SELECT metadata_sha256 FROM remote_files WHERE repo = $1 AND metadata_sha256 IS NOT NULL
      UNION SELECT w.metadata_sha256 FROM wheel_metadata w
        JOIN remote_files r ON r.sha256 = w.sha256 AND r.filename = w.filename
        WHERE r.repo = $1 AND w.metadata_sha256 IS NOT NULL`, [repo]);
    return rows.map((r) => r.sha256);
  }

  async recordRun(kind: MaintenanceKind, at: number, summary: Record<string, number>): Promise<void> {
    await this.db.query(`INSERT INTO maintenance_runs (kind, finished_at, summary) VALUES ($1, $2, $3)
      ON CONFLICT (kind) DO UPDATE SET finished_at = excluded.finished_at, summary = excluded.summary`, [kind, at, JSON.stringify(summary)]);
  }

  async lastRun(kind: MaintenanceKind): Promise<{ at: number; summary: Record<string, number> } | null> {
    const r = (await this.db.query<{ at: number; summary: string }>('SELECT finished_at AS at, summary FROM maintenance_runs WHERE kind = $1', [kind])).rows[0];
    return r ? { at: r.at, summary: JSON.parse(r.summary) as Record<string, number> } : null;
  }

  async instanceId(): Promise<string> {
    // Made once by the first migration and never changed: read once per process.
    this.instance ??= (await this.db.query<{ id: string }>('SELECT id FROM instance')).rows[0]!.id;
    return this.instance;
  }

  async check(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.db.end();
  }
}
