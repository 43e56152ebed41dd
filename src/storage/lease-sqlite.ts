import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';
import type { LeaseStore } from './types.ts';

/**
 * Leases as rows of the shared database. Each call is one statement, so it
 * is atomic across processes (SQLite serialises writers; busy_timeout waits).
 */
export class SqliteLeaseStore implements LeaseStore {
  private readonly q: Record<'acquire' | 'takeOver' | 'renew' | 'release' | 'holder' | 'live', Statement>;

  constructor(db: Db, private readonly now: () => number = Date.now) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.q = {
      // The upsert only replaces a row that has expired or is the owner's own.
      acquire: p(`INSERT INTO leases (key, owner, expires_at) VALUES (@key, @owner, @expires)
                  ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                  WHERE leases.expires_at <= @now OR leases.owner = excluded.owner`),
      takeOver: p('UPDATE leases SET owner = @owner, expires_at = @expires WHERE key = @key AND owner = @from'),
      renew: p('UPDATE leases SET expires_at = @expires WHERE key = @key AND owner = @owner'),
      release: p('DELETE FROM leases WHERE key = ? AND owner = ?'),
      live: p('SELECT key FROM leases WHERE substr(key, 1, length(@prefix)) = @prefix AND expires_at > @now').pluck(),
      holder: p('SELECT owner, expires_at AS expiresAt FROM leases WHERE key = ? AND expires_at > ?'),
    };
  }

  async tryAcquire(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    return this.q.acquire.run({ key, owner, expires: now + ttlMs, now }).changes > 0;
  }

  async renew(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.q.renew.run({ key, owner, expires: this.now() + ttlMs }).changes > 0;
  }

  async takeOver(key: string, from: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.q.takeOver.run({ key, from, owner, expires: this.now() + ttlMs }).changes > 0;
  }

  async release(key: string, owner: string): Promise<void> {
    this.q.release.run(key, owner);
  }

  async live(prefix: string): Promise<string[]> {
    return this.q.live.all({ prefix, now: this.now() }) as string[];
  }

  async holder(key: string): Promise<{ owner: string; expiresAt: number } | null> {
    return (this.q.holder.get(key, this.now()) as { owner: string; expiresAt: number } | undefined) ?? null;
  }
}
