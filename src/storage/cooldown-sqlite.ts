import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';
import type { SqliteAuditStore } from './audit-sqlite.ts';
import type { Actor, CooldownExemptionRow, CooldownStore } from './types.ts';

const COLUMNS = `id, project, version, repo, until, reason, created_at AS createdAt, created_by AS createdBy,
                 revoked_at AS revokedAt, revoked_by AS revokedBy`;

export class SqliteCooldownStore implements CooldownStore {
  private readonly q: Record<string, Statement>;

  constructor(private readonly db: Db, private readonly audit: SqliteAuditStore) {
    const p = (sql: string) => db.prepare(sql);
    this.q = {
      serial: p('SELECT serial FROM cooldown_state WHERE id = 1').pluck(),
      bump: p('UPDATE cooldown_state SET serial = serial + 1 WHERE id = 1'),
      list: p(`SELECT ${COLUMNS} FROM cooldown_exemptions ORDER BY created_at, id`),
      get: p(`SELECT ${COLUMNS} FROM cooldown_exemptions WHERE id = ?`),
      insert: p(`INSERT INTO cooldown_exemptions (id, project, version, repo, until, reason, created_at, created_by)
                 VALUES (@id, @project, @version, @repo, @until, @reason, @createdAt, @createdBy)`),
      revoke: p('UPDATE cooldown_exemptions SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL'),
    };
  }

  async serial(): Promise<number> {
    return this.q.serial!.get() as number;
  }

  async list(): Promise<CooldownExemptionRow[]> {
    return this.q.list!.all() as CooldownExemptionRow[];
  }

  async add(row: Omit<CooldownExemptionRow, 'revokedAt' | 'revokedBy'>, actor: Actor): Promise<void> {
    this.db.transaction(() => {
      this.q.insert!.run(row);
      this.q.bump!.run();
      this.record('cooldown-allow', row, actor, row.createdAt, `id ${row.id}, until ${row.until}: ${row.reason}`);
    }).immediate();
  }

  async revoke(id: string, at: string, actor: Actor): Promise<CooldownExemptionRow | null> {
    return this.db.transaction((): CooldownExemptionRow | null => {
      if (this.q.revoke!.run(at, actor.user ?? 'anonymous', id).changes === 0) return null;
      this.q.bump!.run();
      const row = this.q.get!.get(id) as CooldownExemptionRow;
      this.record('cooldown-revoke', row, actor, at, `id ${row.id}`);
      return row;
    }).immediate();
  }

  private record(action: 'cooldown-allow' | 'cooldown-revoke', row: Pick<CooldownExemptionRow, 'project' | 'version' | 'repo'>, actor: Actor, at: string, detail: string): void {
    this.audit.recordSync({
      at, actor: actor.user ?? 'anonymous', tokenId: actor.tokenId, address: actor.address, action,
      repo: row.repo ?? '*', project: row.project, version: row.version ?? '', filename: '', sha256: '', detail,
    });
  }
}
