import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';
import type { SquatRecord, SquatStore } from './types.ts';

export class SqliteSquatStore implements SquatStore {
  private readonly q: Record<string, Statement>;

  constructor(private readonly db: Db) {
    const p = (sql: string) => db.prepare(sql);
    this.q = {
      upsert: p(`INSERT INTO squats (remote, project, reason, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (remote, project) DO UPDATE SET last_seen = excluded.last_seen, reason = excluded.reason`),
      exists: p('SELECT 1 FROM squats WHERE remote = ? AND project = ?').pluck(),
      addVersion: p('INSERT OR IGNORE INTO squat_versions (remote, project, version, first_seen) VALUES (?, ?, ?, ?)'),
      list: p(`SELECT remote, project, reason, first_seen AS firstSeen, last_seen AS lastSeen FROM squats ORDER BY project, remote`),
      versions: p('SELECT version, first_seen AS firstSeen FROM squat_versions WHERE remote = ? AND project = ? ORDER BY first_seen, version'),
      count: p('SELECT count(DISTINCT project) FROM squats').pluck(),
    };
  }

  async recordSquat(remote: string, project: string, reason: string, versions: readonly string[], now: string): Promise<{ newProject: boolean; newVersions: string[] }> {
    return this.db.transaction(() => {
      const newProject = !this.q.exists!.get(remote, project);
      this.q.upsert!.run(remote, project, reason, now, now);
      const newVersions = versions.filter((v) => this.q.addVersion!.run(remote, project, v, now).changes > 0);
      return { newProject, newVersions };
    })();
  }

  async listSquats(): Promise<SquatRecord[]> {
    return (this.q.list!.all() as Omit<SquatRecord, 'versions'>[]).map((r) => ({
      ...r,
      versions: this.q.versions!.all(r.remote, r.project) as SquatRecord['versions'],
    }));
  }

  async squatCount(): Promise<number> {
    return this.q.count!.get() as number;
  }
}
