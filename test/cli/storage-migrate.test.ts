/**
 * `pydepot storage migrate`: an embedded depot populated through a real
 * server (uploads, a yank, a remote with a cached page and file, a virtual
 * repository with a squat, users, tokens, audit, a cooldown exemption) is
 * copied into a fresh PostgreSQL database and an s3rver prefix; a server on
 * the new back end then serves the same bytes. Interrupted runs resume to
 * the same rows; a corrupt source blob is reported; the source is unchanged.
 *
 * Serial: the failure-injection hooks are global to the process.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import pg from 'pg';
import { stringify as stringifyYaml } from 'yaml';
import { migrateTestHooks } from '../../src/storage/migrate-pg.ts';
import { pydepot } from '../helpers/cli.ts';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { cliConfigFile, embeddedDepotConfig } from '../helpers/migrate-source.ts';
import { pgDatabase } from '../helpers/postgres.ts';
import { startS3, type FakeS3 } from '../helpers/s3.ts';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { pinEmbedded } from '../helpers/test-backend.ts';
import { upload } from '../helpers/upload.ts';

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';
const HTML_ACCEPT = 'text/html';

interface Depot {
  storage: string;
  config: string;
  raw: Record<string, unknown>;
  up: FakeUpstream;
  hosted: BuiltDist[];
  remoteWheel: BuiltDist;
  /** Pages as the embedded server served them: path → accept → body. */
  pages: Map<string, string>;
  run(args: string[], opts?: { tty?: boolean }): ReturnType<typeof pydepot>;
}

const PAGES = ['/internal/simple/', '/internal/simple/acme-lib/', '/pypi/simple/requests/', '/all/simple/acme-lib/', '/all/simple/requests/', '/internal/pypi/acme-lib/json'];

async function capturePages(s: TestServer): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const path of PAGES) {
    for (const accept of path.endsWith('/json') ? ['application/json'] : [JSON_ACCEPT, HTML_ACCEPT]) {
      const res = await fetch(`${s.url}${path}`, { headers: { Accept: accept } });
      // The legacy JSON API's URLs are absolute: the two servers listen on different ports.
      out.set(`${path} ${accept}`, `${res.status} ${(await res.text()).replaceAll(s.url, 'ORIGIN')}`);
    }
  }
  return out;
}

async function sha256Of(url: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(url, { headers });
  if (res.status !== 200) return `HTTP ${res.status}`;
  return createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex');
}

/** A depot on SQLite and the storage folder, populated through a real server, then stopped. */
async function populate(t: ExecutionContext, opts: { small?: boolean } = {}): Promise<Depot> {
  const up = await FakeUpstream.start(t);
  const remoteWheel = await buildWheel({ name: 'requests', version: '2.32.0', padBytes: 20_000 });
  const remoteSdist = await buildSdist({ name: 'requests', version: '2.32.0' });
  up.addProject('requests', [{ dist: remoteWheel }, { dist: remoteSdist, yanked: 'bad sdist' }]);
  const upstreamAcme = await buildWheel({ name: 'acme-lib', version: '99.0' });
  up.addProject('acme-lib', [{ dist: upstreamAcme }]);
  const raw = embeddedDepotConfig(up.url);
  const s = await startTestServer(t, raw);
  const specs: [string, string, 'wheel' | 'sdist', string?][] = opts.small
    ? [['acme-lib', '1.0', 'wheel']]
    : [['acme-lib', '1.0', 'wheel'], ['acme-lib', '1.0', 'sdist'], ['acme-lib', '1.1', 'wheel', '>=3.9'], ['acme-tools', '0.1', 'wheel']];
  const hosted: BuiltDist[] = [];
  for (const [name, version, kind, requiresPython] of specs) {
    const d = kind === 'wheel'
      ? await buildWheel({ name, version, padBytes: 5_000, ...(requiresPython ? { requiresPython } : {}) })
      : await buildSdist({ name, version });
    const res = await upload(`${s.url}/internal/`, d, name, version);
    t.is(res.status, 200, await res.text());
    hosted.push(d);
  }
  const config = await cliConfigFile(t, raw, s.storage);
  const run = (args: string[], o: { tty?: boolean } = {}): ReturnType<typeof pydepot> => pydepot([...args, '--config', config], o);
  if (!opts.small) {
    t.is((await run(['yank', 'internal', 'acme-lib', '1.0', '--reason', 'broken build'])).code, 0);
    t.is((await pydepot(['user', 'add', 'bob', '--password-stdin', '--config', config], { input: 'bob-password\n' })).code, 0);
    t.is((await run(['token', 'create', '--user', 'bob', '--scope', 'read'])).code, 0);
    t.is((await run(['cooldown', 'allow', 'requests', '--until', '3d', '--reason', 'hotfix'])).code, 0);
  }
  // The remote's page and file cached; the virtual one merges (and records acme-lib upstream as a squat).
  t.is((await fetch(`${s.url}/pypi/simple/requests/`)).status, 200);
  t.is(await sha256Of(`${s.url}/pypi/files/${remoteWheel.sha256}/${remoteWheel.filename}`), remoteWheel.sha256);
  const pages = await capturePages(s);
  await s.stop(1000);
  // Asks the remote about every hosted name: acme-lib upstream is recorded as a squat.
  if (!opts.small) t.is((await run(['confusion', 'report'])).code, 0);
  return { storage: s.storage, config, raw, up, hosted, remoteWheel, pages, run };
}

/** The storage folder: every file's path, size and sha256. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[relative(dir, path)] = `${(await stat(path)).size} ${createHash('sha256').update(await readFile(path)).digest('hex')}`;
  }
  return out;
}

function s3Url(s3: FakeS3, prefix: string): string {
  return `s3://${s3.bucket}/${prefix}?endpoint=${encodeURIComponent(s3.endpoint)}&forcePathStyle=true`;
}

interface Summary {
  instance: string;
  resumed: boolean;
  tables: { table: string; rows: number; copied: number; skipped: number }[];
  blobs: { total: number; copied: number; skipped: number; corrupt: { sha256: string }[] } | null;
}

/** Every copied table's rows, in key order, as text: two migrations compare equal when these do. */
async function dump(url: string): Promise<Record<string, unknown[]>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: Record<string, unknown[]> = {};
    const { COPY_RULES } = await import('../../src/storage/migrate-pg.ts');
    for (const rule of COPY_RULES) {
      out[rule.table] = (await client.query(`SELECT * FROM "${rule.table}" ORDER BY ${rule.key.map((k) => `"${k}"`).join(', ')}`)).rows;
    }
    out.instance = (await client.query('SELECT id FROM instance')).rows;
    return out;
  } finally {
    await client.end();
  }
}

test.serial('a migrated depot serves the same pages and files from PostgreSQL + S3; the token uploads; the source is untouched', async (t) => {
  const depot = await populate(t);
  const s3 = await startS3(t);
  const db = await pgDatabase(t);
  const before = await snapshot(depot.storage);

  const r = await depot.run(['storage', 'migrate', '--to', db, '--blobs', s3Url(s3, 'migrated')]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^table\s+rows\s+copied\s+already there$/m);
  t.regex(r.stdout, /^files\s+4\s+4\s+0$/m, r.stdout);
  t.regex(r.stdout, /^blobs: 5 copied .*, 0 already there, 0 corrupt, of 5$/m, r.stdout);
  t.regex(r.stderr, /database: postgres:\/\/…@127\.0\.0\.1/);
  t.deepEqual(await snapshot(depot.storage), before, 'the storage folder is byte for byte as it was');

  // A second run finds everything there.
  const again = await depot.run(['storage', 'migrate', '--to', db, '--blobs', s3Url(s3, 'migrated'), '--json']);
  t.is(again.code, 0, again.stderr);
  const summary = JSON.parse(again.stdout) as Summary;
  t.true(summary.resumed);
  t.true(summary.tables.every((x) => x.copied === 0 && x.skipped === x.rows));
  t.like(summary.blobs, { total: 5, copied: 0, skipped: 5, corrupt: [] });

  // The upstream is gone: what the remote serves comes from the migrated cache.
  await depot.up.stop();
  const s = await startTestServer(t, { ...depot.raw, database: db, blobs: s3.blobs('migrated') });
  const pages = await capturePages(s);
  for (const [key, body] of depot.pages) t.is(pages.get(key), body, key);
  for (const d of depot.hosted) {
    t.is(await sha256Of(`${s.url}/internal/files/${d.sha256}/${d.filename}`), d.sha256, d.filename);
    t.is(await sha256Of(`${s.url}/all/files/${d.sha256}/${d.filename}`), d.sha256, d.filename);
  }
  t.is(await sha256Of(`${s.url}/pypi/files/${depot.remoteWheel.sha256}/${depot.remoteWheel.filename}`), depot.remoteWheel.sha256);

  // The ci token authenticates an upload; its file id and the serials continue past the copied ones.
  const next = await buildWheel({ name: 'acme-lib', version: '1.2' });
  const up = await upload(`${s.url}/internal/`, next, 'acme-lib', '1.2');
  t.is(up.status, 200, await up.text());
  const page = await (await fetch(`${s.url}/internal/simple/acme-lib/`, { headers: { Accept: JSON_ACCEPT } })).json() as { files: { filename: string; yanked: unknown }[] };
  t.deepEqual(page.files.map((f) => f.filename).sort(), [...depot.hosted.slice(0, 3).map((d) => d.filename), next.filename].sort());
  t.is(page.files.find((f) => f.filename === depot.hosted[0]!.filename)!.yanked, 'broken build');
  await s.stop(1000);

  // Users, tokens, exemptions and the audit trail came along (read through the CLI on the new back end).
  const target = join(await tempDir(t, 'pydepot-cli-'), 'target.yaml');
  await writeFile(target, stringifyYaml({ ...depot.raw, storage: await tempDir(t), database: db, blobs: s3.blobs('migrated') }));
  const users = await pydepot(['user', 'list', '--json', '--config', target]);
  t.deepEqual((JSON.parse(users.stdout) as { name: string }[]).map((u) => u.name).sort(), ['bob', 'ci']);
  const tokens = await pydepot(['token', 'list', '--json', '--config', target]);
  t.is((JSON.parse(tokens.stdout) as unknown[]).length, 2);
  const exemptions = await pydepot(['cooldown', 'list', '--json', '--config', target]);
  t.is((JSON.parse(exemptions.stdout) as unknown[]).length, 1);
  const audit = await pydepot(['audit', '--json', '--config', target]);
  const actions = (JSON.parse(audit.stdout) as { action: string }[]).map((a) => a.action);
  t.is(actions.filter((a) => a === 'upload').length, 5, 'four before, one after');
  t.true(actions.includes('yank') && actions.includes('cooldown-allow'));
  const squats = await pydepot(['confusion', 'report', '--no-check', '--json', '--config', target]);
  t.deepEqual((JSON.parse(squats.stdout) as { project: string }[]).map((x) => x.project), ['acme-lib']);
});

test.serial('an interrupted migration (mid-table, then mid-blobs) completes on a rerun with the same rows as an uninterrupted one', async (t) => {
  const depot = await populate(t);
  const s3 = await startS3(t);
  const straight = await pgDatabase(t);
  t.is((await depot.run(['storage', 'migrate', '--to', straight, '--blobs', s3Url(s3, 'straight')])).code, 0);

  const db = await pgDatabase(t);
  const args = ['storage', 'migrate', '--to', db, '--blobs', s3Url(s3, 'resumed'), '--batch-size', '2', '--json'];
  let batches = 0;
  migrateTestHooks.afterBatch = (table) => {
    if (table === 'files' && ++batches === 2) throw new Error('connection lost (injected)');
  };
  try {
    const first = await depot.run(args);
    t.is(first.code, 1);
    t.regex(first.stderr, /connection lost \(injected\)/);
  } finally {
    delete migrateTestHooks.afterBatch;
  }
  let blobs = 0;
  migrateTestHooks.afterBlob = () => {
    if (++blobs === 2) throw new Error('bucket went away (injected)');
  };
  try {
    const second = await depot.run(args);
    t.is(second.code, 1);
    t.regex(second.stderr, /bucket went away \(injected\)/);
  } finally {
    delete migrateTestHooks.afterBlob;
  }
  const last = await depot.run(args);
  t.is(last.code, 0, last.stderr);
  const summary = JSON.parse(last.stdout) as Summary;
  t.true(summary.resumed);
  t.true(summary.tables.every((x) => x.copied === 0), 'the second run copied every row');
  t.is(summary.blobs!.total, 5);
  t.true(summary.blobs!.skipped >= 2, 'blobs copied before the interruption are not copied again');
  t.is(summary.blobs!.copied + summary.blobs!.skipped, 5);
  t.deepEqual(await dump(db), await dump(straight));

  // Another depot is not mixed into this one.
  const other = await populate(t, { small: true });
  const refused = await other.run(['storage', 'migrate', '--to', db]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /holds another depot/);
});

test.serial('a corrupt source blob is reported, not copied, and the exit code says so; the progress bar is drawn on a terminal', async (t) => {
  const depot = await populate(t, { small: true });
  const sha = depot.hosted[0]!.sha256;
  const path = join(depot.storage, 'blobs', 'sha256', sha.slice(0, 2), sha.slice(2, 4), sha);
  const bytes = await readFile(path);
  bytes[bytes.length >> 1]! ^= 0xff;
  await writeFile(path, bytes);
  const s3 = await startS3(t);
  const db = await pgDatabase(t);
  const r = await depot.run(['storage', 'migrate', '--to', db, '--blobs', s3Url(s3, 'corrupt')], { tty: true });
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`CORRUPT blob ${sha} .*not copied`));
  t.regex(r.stderr, /1 corrupt blob not copied/);
  t.regex(r.stderr, /copying (rows|blobs) \[/, 'a progress bar');
  t.regex(r.stdout, /^blobs: 1 copied .*, 0 already there, 1 corrupt, of 2$/m, r.stdout);
  t.false(s3.requests.some((x) => x.method === 'PUT' && x.url.includes(sha)), 'never sent to the bucket');
});

test.serial('without --blobs only the metadata moves; a server on it reads the blobs from the storage folder', async (t) => {
  const depot = await populate(t, { small: true });
  const db = await pgDatabase(t);
  const r = await depot.run(['storage', 'migrate', '--to', db, '--json']);
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(r.stdout) as Summary).blobs, null);
  await depot.up.stop();
  const s = await startTestServer(t, { ...depot.raw, database: db }, depot.storage);
  const pages = await capturePages(s);
  for (const [key, body] of depot.pages) t.is(pages.get(key), body, key);
  t.is(await sha256Of(`${s.url}/internal/files/${depot.hosted[0]!.sha256}/${depot.hosted[0]!.filename}`), depot.hosted[0]!.sha256);
});

test.serial('refuses bad flags, a missing source, a source a server runs on, a target schema from a newer pydepot', async (t) => {
  // Empty folders of an embedded depot (the source's kind), whatever back end the test run picks:
  // on PostgreSQL the config would name the folder's database, refused for that instead.
  const source = async () => pinEmbedded(await tempDir(t));
  const r = await pydepot(['storage', 'migrate', '--to', 'mysql://x/y', '--storage', await source()]);
  t.is(r.code, 1);
  t.regex(r.stderr, /--to: expected sqlite or a postgres:\/\/ URL/);
  const b = await pydepot(['storage', 'migrate', '--to', 'postgres://u:secret@127.0.0.1:1/x', '--blobs', 'gs://x', '--storage', await source()]);
  t.is(b.code, 1);
  t.regex(b.stderr, /--blobs: /);
  t.notRegex(b.stderr, /secret/);
  const none = await pydepot(['storage', 'migrate', '--to', 'postgres://127.0.0.1:1/x', '--storage', await source()]);
  t.is(none.code, 1);
  t.regex(none.stderr, /no embedded database at/);

  // A server running on the source; a target whose schema a newer pydepot made.
  const depot = await populate(t, { small: true });
  const running = await startTestServer(t, depot.raw, depot.storage);
  const busy = await depot.run(['storage', 'migrate', '--to', await pgDatabase(t)]);
  t.is(busy.code, 1);
  t.regex(busy.stderr, /a pydepot server is running on this storage/);
  await running.stop(1000);
  const newer = await pgDatabase(t);
  const client = new pg.Client({ connectionString: newer });
  await client.connect();
  await client.query('CREATE TABLE pydepot_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now()); INSERT INTO pydepot_migrations VALUES (99, $$from the future$$)');
  await client.end();
  const tooNew = await depot.run(['storage', 'migrate', '--to', newer]);
  t.is(tooNew.code, 78);
  t.regex(tooNew.stderr, /schema \(version 99\) is newer than this pydepot understands/);
});
