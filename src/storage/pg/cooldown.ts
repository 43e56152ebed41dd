import type { Actor, CooldownExemptionRow, CooldownStore } from '../types.ts';
import { insertAudit } from './audit.ts';
import type { PgDb, Queryable } from './db.ts';

const COLUMNS = `id, project, version, repo, until, reason, created_at AS "createdAt", created_by AS "createdBy",
                 revoked_at AS "revokedAt", revoked_by AS "revokedBy"`;

/** Each change and its audit entry commit together; the serial's row lock orders concurrent changes. */
export class PgCooldownStore implements CooldownStore {
  constructor(private readonly db: PgDb) {}

  async serial(): Promise<number> {
    return (await this.db.query<{ serial: number }>('SELECT serial FROM cooldown_state WHERE id = 1')).rows[0]!.serial;
  }

  async list(): Promise<CooldownExemptionRow[]> {
    return (await this.db.query<CooldownExemptionRow>(`SELECT ${COLUMNS} FROM cooldown_exemptions ORDER BY created_at, id`)).rows;
  }

  async add(row: Omit<CooldownExemptionRow, 'revokedAt' | 'revokedBy'>, actor: Actor): Promise<void> {
    await this.db.tx(async (q) => {
      await q.query(`INSERT INTO cooldown_exemptions (id, project, version, repo, until, reason, created_at, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [row.id, row.project, row.version, row.repo, row.until, row.reason, row.createdAt, row.createdBy]);
      await q.query('UPDATE cooldown_state SET serial = serial + 1 WHERE id = 1');
      await record(q, 'cooldown-allow', row, actor, row.createdAt, `id ${row.id}, until ${row.until}: ${row.reason}`);
    });
  }

  revoke(id: string, at: string, actor: Actor): Promise<CooldownExemptionRow | null> {
    return this.db.tx(async (q): Promise<CooldownExemptionRow | null> => {
      const { rows } = await q.query<CooldownExemptionRow>(`UPDATE cooldown_exemptions SET revoked_at = $1, revoked_by = $2
        WHERE id = $3 AND revoked_at IS NULL RETURNING ${COLUMNS}`, [at, actor.user ?? 'anonymous', id]);
      const row = rows[0];
      if (!row) return null;
      await q.query('UPDATE cooldown_state SET serial = serial + 1 WHERE id = 1');
      await record(q, 'cooldown-revoke', row, actor, at, `id ${row.id}`);
      return row;
    });
  }
}

function record(q: Queryable, action: 'cooldown-allow' | 'cooldown-revoke', row: Pick<CooldownExemptionRow, 'project' | 'version' | 'repo'>, actor: Actor, at: string, detail: string): Promise<void> {
  return insertAudit(q, {
    at, actor: actor.user ?? 'anonymous', tokenId: actor.tokenId, address: actor.address, action,
    repo: row.repo ?? '*', project: row.project, version: row.version ?? '', filename: '', sha256: '', detail,
  });
}
