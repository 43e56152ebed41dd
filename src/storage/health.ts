/**
 * What `pydepot doctor` asks of the embedded storage folder, without changing
 * it: does it exist, can it be written, how much room is left, is the
 * database whole and at the schema this pydepot expects, is anything in
 * quarantine. Nothing is created and no migration runs (openStorage would
 * do both).
 */
import { randomUUID } from 'node:crypto';
import { readdir, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.ts';

export interface DatabaseHealth {
  /** PRAGMA user_version: the migrations this database has run. */
  schemaVersion: number;
  /** The newest migration this pydepot knows. */
  latestVersion: number;
  /** PRAGMA quick_check's answer: ['ok'], or one line per problem. */
  problems: string[];
}

export interface StorageHealth {
  root: string;
  exists: boolean;
  /** Folders where a test file could not be written, each with the reason. */
  unwritable: { dir: string; reason: string }[];
  space: { free: number; total: number } | null;
  /** null: no database yet (a fresh folder); `error`: it could not be opened. */
  database: DatabaseHealth | { error: string } | null;
  /** Blobs a scrub found corrupt and moved aside. */
  quarantined: number;
}

export const DATABASE_FILE = 'pydepot.db';
const QUICK_CHECK_ROWS = 20;

/** `sqlite: false`: the metadata is elsewhere (PostgreSQL); a pydepot.db left in the folder (the depot migrated) is not read. */
export async function inspectStorage(root: string, opts: { sqlite?: boolean } = {}): Promise<StorageHealth> {
  const health: StorageHealth = { root, exists: false, unwritable: [], space: null, database: null, quarantined: 0 };
  const s = await stat(root).catch(() => null);
  if (!s?.isDirectory()) return health;
  health.exists = true;
  for (const dir of [root, join(root, 'tmp'), join(root, 'blobs', 'sha256')]) {
    if (!(await stat(dir).catch(() => null))) continue;
    const reason = await probeWrite(dir);
    if (reason) health.unwritable.push({ dir, reason });
  }
  const fs = await statfs(root).catch(() => null);
  if (fs) health.space = { free: fs.bavail * fs.bsize, total: fs.blocks * fs.bsize };
  if (opts.sqlite !== false) health.database = inspectDatabase(join(root, DATABASE_FILE));
  health.quarantined = (await readdir(join(root, 'quarantine')).catch(() => [])).length;
  return health;
}

async function probeWrite(dir: string): Promise<string | null> {
  const probe = join(dir, `.doctor-${randomUUID()}`);
  try {
    await writeFile(probe, 'ok');
    await unlink(probe);
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

function inspectDatabase(file: string): DatabaseHealth | { error: string } | null {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'SQLITE_CANTOPEN') return null;
    return { error: (err as Error).message };
  }
  try {
    db.pragma('busy_timeout = 5000');
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    const rows = db.pragma(`quick_check(${QUICK_CHECK_ROWS})`) as { quick_check: string }[];
    return { schemaVersion, latestVersion: MIGRATIONS.at(-1)?.version ?? 0, problems: rows.map((r) => r.quick_check) };
  } catch (err) {
    // Not a database at all ("file is not a database") fails here, not at open.
    return { error: (err as Error).message };
  } finally {
    db.close();
  }
}
