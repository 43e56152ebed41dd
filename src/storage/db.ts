import Database from 'better-sqlite3';
import { crashPoint } from '../crash-points.ts';
import { MIGRATIONS } from './migrations.ts';

export type Db = Database.Database;

/** Opens (creating if needed) the database and brings its schema up to date. */
export function openDatabase(file: string): Db {
  const db = new Database(file);
  // WAL: readers never block the writer, and the CLI (yank...) can write
  // while the server runs.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = MIGRATIONS.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new Error(`the database schema (version ${current}) is newer than this pydepot understands (${latest}); upgrade pydepot`);
  }
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      // Crash-matrix steps (test-only, see crash-points.ts): each migration
      // and its version number commit together, so a restart resumes.
      crashPoint('migration:inside-step');
      db.pragma(`user_version = ${m.version}`);
    })();
    crashPoint('migration:between-steps');
  }
}
