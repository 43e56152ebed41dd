import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';
import type { AuditEntry, AuditStore } from './types.ts';

export class SqliteAuditStore implements AuditStore {
  private readonly insert: Statement;
  private readonly select: Statement;

  constructor(db: Db) {
    this.insert = db.prepare(`INSERT INTO audit (at, actor, token_id, address, action, repo, project, version, filename, sha256, detail)
                              VALUES (@at, @actor, @tokenId, @address, @action, @repo, @project, @version, @filename, @sha256, @detail)`);
    this.select = db.prepare(`SELECT at, actor, token_id AS tokenId, address, action, repo, project, version, filename, sha256, detail
                              FROM audit WHERE (@repo IS NULL OR repo = @repo) AND (@since IS NULL OR at >= @since)
                              ORDER BY at, id`);
  }

  async record(entry: AuditEntry): Promise<void> {
    this.recordSync(entry);
  }

  /**
   * For the stores that share this database: inside their own synchronous
   * transaction, the change and its audit entry commit together (no await
   * may split a better-sqlite3 transaction).
   */
  recordSync(entry: AuditEntry): void {
    this.insert.run(entry);
  }

  async list(filter: { repo?: string; since?: string }): Promise<AuditEntry[]> {
    return this.select.all({ repo: filter.repo ?? null, since: filter.since ?? null }) as AuditEntry[];
  }
}
