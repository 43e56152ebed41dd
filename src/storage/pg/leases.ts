import type { LeaseStore } from '../types.ts';
import { DB_NOW_MS, type PgDb } from './db.ts';

/**
 * Leases as rows of the shared database. Each call is one statement, so it
 * is atomic across replicas. Expiry is reckoned by the database's clock
 * (clock_timestamp()), never the caller's: replicas on different machines
 * do not share a clock, and one whose clock ran ahead would otherwise take
 * leases that are still live. `expiresAt` (holder) is on that clock too.
 */
export class PgLeaseStore implements LeaseStore {
  constructor(private readonly db: PgDb) {}

  async tryAcquire(key: string, owner: string, ttlMs: number): Promise<boolean> {
    // The upsert only replaces a row that has expired or is the owner's own.
    const { rowCount } = await this.db.query(`INSERT INTO leases (key, owner, expires_at) VALUES ($1, $2, ${DB_NOW_MS} + $3)
      ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE leases.expires_at <= ${DB_NOW_MS} OR leases.owner = excluded.owner`, [key, owner, ttlMs]);
    return (rowCount ?? 0) > 0;
  }

  async renew(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE leases SET expires_at = ${DB_NOW_MS} + $3 WHERE key = $1 AND owner = $2`, [key, owner, ttlMs]);
    return (rowCount ?? 0) > 0;
  }

  async takeOver(key: string, from: string, owner: string, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE leases SET owner = $3, expires_at = ${DB_NOW_MS} + $4 WHERE key = $1 AND owner = $2`, [key, from, owner, ttlMs]);
    return (rowCount ?? 0) > 0;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.db.query('DELETE FROM leases WHERE key = $1 AND owner = $2', [key, owner]);
  }

  async live(prefix: string): Promise<string[]> {
    const { rows } = await this.db.query<{ key: string }>(`SELECT key FROM leases WHERE left(key, length($1)) = $1 AND expires_at > ${DB_NOW_MS}
      ORDER BY key`, [prefix]);
    return rows.map((r) => r.key);
  }

  async holder(key: string): Promise<{ owner: string; expiresAt: number } | null> {
    return (await this.db.query<{ owner: string; expiresAt: number }>(`SELECT owner, expires_at AS "expiresAt" FROM leases
      WHERE key = $1 AND expires_at > ${DB_NOW_MS}`, [key])).rows[0] ?? null;
  }
}
