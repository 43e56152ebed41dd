import type { SquatRecord, SquatStore } from '../types.ts';
import type { PgDb } from './db.ts';

export class PgSquatStore implements SquatStore {
  constructor(private readonly db: PgDb) {}

  recordSquat(remote: string, project: string, reason: string, versions: readonly string[], now: string): Promise<{ newProject: boolean; newVersions: string[] }> {
    return this.db.tx(async (q) => {
      // xmax = 0: the row was inserted by this statement, not updated.
      const { rows } = await q.query<{ inserted: boolean }>(`INSERT INTO squats (remote, project, reason, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4)
        ON CONFLICT (remote, project) DO UPDATE SET last_seen = excluded.last_seen, reason = excluded.reason
        RETURNING (xmax = 0) AS inserted`, [remote, project, reason, now]);
      const added = await q.query<{ version: string }>(`INSERT INTO squat_versions (remote, project, version, first_seen)
        SELECT $1, $2, v, $4 FROM unnest($3::text[]) AS v ON CONFLICT DO NOTHING RETURNING version`, [remote, project, [...versions], now]);
      // In the order given, each once (as SQLite's inserts one by one report them).
      const fresh = new Set(added.rows.map((r) => r.version));
      const newVersions = versions.filter((v) => fresh.delete(v));
      return { newProject: rows[0]!.inserted, newVersions };
    });
  }

  async listSquats(): Promise<SquatRecord[]> {
    const squats = (await this.db.query<Omit<SquatRecord, 'versions'>>(`SELECT remote, project, reason, first_seen AS "firstSeen", last_seen AS "lastSeen"
      FROM squats ORDER BY project, remote`)).rows;
    const versions = (await this.db.query<{ remote: string; project: string; version: string; firstSeen: string }>(`SELECT remote, project, version,
      first_seen AS "firstSeen" FROM squat_versions ORDER BY first_seen, version`)).rows;
    const byKey = new Map<string, SquatRecord['versions']>();
    for (const v of versions) {
      const key = `${v.remote}\0${v.project}`;
      let list = byKey.get(key);
      if (!list) byKey.set(key, list = []);
      list.push({ version: v.version, firstSeen: v.firstSeen });
    }
    return squats.map((s) => ({ ...s, versions: byKey.get(`${s.remote}\0${s.project}`) ?? [] }));
  }

  async squatCount(): Promise<number> {
    return (await this.db.query<{ n: number }>('SELECT count(DISTINCT project) AS n FROM squats')).rows[0]!.n;
  }
}
