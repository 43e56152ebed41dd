/**
 * Which back end the suite runs on, chosen by PYDEPOT_TEST_BACKEND:
 *
 * - `embedded` (unset): SQLite and blobs in each test's storage folder, as a
 *   default install.
 * - `embedded-s3`: SQLite in the folder, blobs in S3 (the old
 *   PYDEPOT_TEST_BLOBS=s3, still accepted).
 * - `postgres-s3`: metadata in PostgreSQL, blobs in S3: what replicas share.
 *
 * With S3, the test process starts one s3rver (test/helpers/s3.ts) and every
 * storage folder gets a prefix of its own; with PostgreSQL, every storage
 * folder gets a fresh database on the run's cluster (`npm run test:pg`:
 * test/pg-pass.ts starts one for all test processes) or else on a throw-away
 * cluster the process starts (test/helpers/postgres.ts). Both are remembered per folder, so a server
 * restarted on the same folder, a CLI run or a test opening the folder's
 * stores all see the same depot. The folder itself still holds tmp/ (and
 * nothing else with postgres-s3).
 *
 * A test whose subject is the embedded back end itself (the SQLite file, the
 * blob folder on disk) asks for it with EMBEDDED in its config, or opens the
 * folder with openStorage, and says why.
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import test from 'ava';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { DEFAULT_CONFIG_FILE } from '../../src/config/load.ts';
import type { S3BlobsConfig } from '../../src/config/schema.ts';
import { openStorage, type Storage } from '../../src/storage/open.ts';
import { freshDatabase } from './postgres.ts';
import { startS3, type FakeS3 } from './s3.ts';

export type TestBackend = 'embedded' | 'embedded-s3' | 'postgres-s3';

function chosen(): TestBackend {
  const backend = process.env.PYDEPOT_TEST_BACKEND;
  const blobs = process.env.PYDEPOT_TEST_BLOBS;
  if (blobs !== undefined && blobs !== 'fs' && blobs !== 's3') throw new Error(`PYDEPOT_TEST_BLOBS: expected fs or s3, got ${blobs}`);
  if (backend === undefined || backend === '') return blobs === 's3' ? 'embedded-s3' : 'embedded';
  if (backend !== 'embedded' && backend !== 'embedded-s3' && backend !== 'postgres-s3') {
    throw new Error(`PYDEPOT_TEST_BACKEND: expected embedded, embedded-s3 or postgres-s3, got ${backend}`);
  }
  return backend;
}

export const TEST_BACKEND: TestBackend = chosen();
const USES_S3 = TEST_BACKEND !== 'embedded';
const USES_PG = TEST_BACKEND === 'postgres-s3';

/**
 * Config keys that pin a test server to the embedded back end whatever
 * PYDEPOT_TEST_BACKEND says (`database: sqlite` is the default spelled out);
 * startTestServer pins its folder too (pinEmbedded).
 */
export const EMBEDDED = { database: 'sqlite', blobs: { type: 'fs' } } as const;

/** What a storage folder's config gets: the keys to add to a config that names neither. */
export interface FolderBackend {
  blobs?: S3BlobsConfig;
  database?: string;
}

let s3: Promise<FakeS3> | null = null;
const folders = new Map<string, Promise<FolderBackend>>();
let configDir: string | null = null;
// Hooks are declared as the test file loads; s3rver starts with the first folder that needs it.
// (postgres.ts removes the process's cluster, or drops its databases on the run's, at process exit.)
if (USES_S3) {
  test.after.always(async () => {
    await (await s3)?.stop();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });
}

/**
 * The folder stays on the embedded back end (SQLite and blobs in it) for
 * every helper here: seedCi, openTestStorage, the CLI, writeConfig. For the
 * tests whose subject is that back end; before anything else uses the folder.
 */
export function pinEmbedded(storage: string): string {
  folders.set(resolve(storage), Promise.resolve({}));
  return storage;
}

/** The storage folder's S3 prefix and database, made on first use. */
export function backendFor(storage: string): Promise<FolderBackend> {
  if (!USES_S3) return Promise.resolve({});
  const key = resolve(storage);
  let got = folders.get(key);
  if (!got) {
    const n = folders.size + 1;
    got = (async () => {
      s3 ??= startS3();
      const blobs = (await s3).blobs(`depot-${n}`);
      return USES_PG ? { blobs, database: await freshDatabase() } : { blobs };
    })();
    folders.set(key, got);
  }
  return got;
}

/** `raw` (a test's config) with the folder's back end added where it names none of its own. */
export async function withBackend(raw: Record<string, unknown>, storage: string): Promise<Record<string, unknown>> {
  const b = await backendFor(storage);
  return {
    ...raw,
    ...(raw.blobs === undefined && b.blobs ? { blobs: b.blobs } : {}),
    ...(raw.database === undefined && b.database ? { database: b.database } : {}),
  };
}

/**
 * The folder keeps its blobs on disk whatever the back end (its database
 * still follows PYDEPOT_TEST_BACKEND): for a test that handles blob files
 * (mtimes, corruption, gc of orphans). startTestServer does it for a config
 * with `blobs: {type: fs}`.
 */
export function pinFsBlobs(storage: string): string {
  const key = resolve(storage);
  const before = backendFor(key);
  folders.set(key, before.then(({ database }) => (database ? { database } : {})));
  return storage;
}

/** The storage folder's stores on the test back end (the test closes them: `store.close()`). */
export async function openTestStorage(storage: string): Promise<Storage> {
  const b = await backendFor(storage);
  return openStorage(storage, b.blobs ?? { type: 'fs' }, b.database ? { url: b.database, poolSize: 4 } : null);
}

/**
 * A config file for a run on `storage`: `file` itself on the embedded back
 * end, or when it names its own back end or is not a YAML mapping (a test of
 * a broken config); else a copy with the folder's back end added (in a
 * temp folder of the process: tests list their own folders).
 */
export async function backendConfigFile(file: string | null, storage: string): Promise<string | null> {
  if (!USES_S3) return file;
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file ?? DEFAULT_CONFIG_FILE, 'utf8'));
  } catch {
    return file;
  }
  raw ??= {};
  if (typeof raw !== 'object' || Array.isArray(raw)) return file;
  const rec = raw as Record<string, unknown>;
  if (rec.blobs !== undefined || rec.database !== undefined) return file;
  configDir ??= mkdtempSync(join(tmpdir(), 'pydepot-backend-'));
  const dir = mkdtempSync(join(configDir, 'c-'));
  const copy = join(dir, basename(file ?? 'pydepot.yaml'));
  writeFileSync(copy, stringifyYaml(await withBackend(rec, storage)));
  return copy;
}

/**
 * `pydepot` command-line arguments with the config file swapped for
 * backendConfigFile's copy, when they name a storage folder (--storage,
 * PYDEPOT_STORAGE or the config's `storage`) and the command takes --config.
 */
export async function backendArgs(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  if (!USES_S3) return args;
  let configAt = -1;
  let storageAt = -1;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') break;
    if (args[i] === '--config' || args[i] === '-c') configAt = i + 1;
    if (args[i] === '--storage') storageAt = i + 1;
  }
  const file = configAt > 0 ? args[configAt] : undefined;
  let storage = storageAt > 0 ? args[storageAt] : env.PYDEPOT_STORAGE || undefined;
  if (storage === undefined && file !== undefined) {
    try {
      const raw = parseYaml(readFileSync(file, 'utf8')) as { storage?: unknown } | null;
      if (typeof raw?.storage === 'string') storage = raw.storage;
    } catch { /* the command reports it */ }
  }
  // No storage named: the command does not open one (or a test of the default ./storage, left alone).
  if (storage === undefined) return args;
  if (file !== undefined) {
    const copy = await backendConfigFile(file, storage);
    if (copy === file) return args;
    const out = [...args];
    out[configAt] = copy!;
    return out;
  }
  const copy = await backendConfigFile(null, storage);
  return copy === null ? args : [...args, '--config', copy];
}

/** How many blobs the storage folder's S3 prefix holds; null when the folder keeps its own blobs. */
export async function s3BlobCount(storage: string): Promise<number | null> {
  const got = folders.get(resolve(storage));
  if (!got || !s3) return null;
  const { blobs } = await got;
  if (!blobs) return null;
  const server = await s3;
  const client = new S3Client({ region: 'us-east-1', endpoint: server.endpoint, forcePathStyle: true });
  try {
    let count = 0;
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: `${blobs.prefix}/sha256/`, ContinuationToken: token }));
      count += page.KeyCount ?? 0;
      token = page.NextContinuationToken;
    } while (token);
    return count;
  } finally {
    client.destroy();
  }
}

/** `SELECT count(*) FROM <from>` in the storage folder's database, whichever it is (for what no store method tells). */
export async function countRows(storage: string, from: string): Promise<number> {
  const { database } = await backendFor(storage);
  if (database) {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: database });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`);
      return Number(rows[0]!.n);
    } finally {
      await client.end();
    }
  }
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(storage, 'pydepot.db'), { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) FROM ${from}`).pluck().get() as number);
  } finally {
    db.close();
  }
}
