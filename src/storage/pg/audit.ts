import type { AuditEntry, AuditStore } from '../types.ts';
import type { PgDb, Queryable } from './db.ts';

/** On the pool, or inside the transaction of the change it records (an upload, a cooldown exemption). */
export async function insertAudit(q: Queryable, e: AuditEntry): Promise<void> {
  await q.query(`INSERT INTO audit (at, actor, token_id, address, action, repo, project, version, filename, sha256, detail)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
  [e.at, e.actor, e.tokenId, e.address, e.action, e.repo, e.project, e.version, e.filename, e.sha256, e.detail]);
}

export class PgAuditStore implements AuditStore {
  constructor(private readonly db: PgDb) {}

  record(entry: AuditEntry): Promise<void> {
    return insertAudit(this.db, entry);
  }

  async list(filter: { repo?: string; since?: string }): Promise<AuditEntry[]> {
    return (await this.db.query<AuditEntry>(`SELECT at, actor, token_id AS "tokenId", address, action, repo, project, version, filename, sha256, detail
      FROM audit WHERE ($1::text IS NULL OR repo = $1) AND ($2::text IS NULL OR at >= $2)
      ORDER BY at, id`, [filter.repo ?? null, filter.since ?? null])).rows;
  }
}
