/**
 * `pydepot doctor`: a healthy installation exits 0; each broken part (an
 * upstream, the certificate, the disk, the database, the config) is one
 * finding that says what to fix, and errors exit 1. The PostgreSQL checks
 * run against a real server (test/helpers/postgres.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { stringify as stringifyYaml } from 'yaml';
import { postgresFindings } from '../../src/commands/doctor.ts';
import { PG_MIGRATIONS } from '../../src/storage/pg/migrations.ts';
import { openPgStores } from '../../src/storage/pg/open.ts';
import { openStorage } from '../../src/storage/open.ts';
import { pinEmbedded } from '../helpers/test-backend.ts';
import { pydepot } from '../helpers/cli.ts';
import { describe } from '../helpers/clients.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { tempDir } from '../helpers/server.ts';
import { freePort, pgDatabase, pgQuery, sharedCluster } from '../helpers/postgres.ts';
import { startS3 } from '../helpers/s3.ts';
import { makeExpiredCertificate, makeTestCertificates } from '../helpers/tls.ts';

interface Finding { level: string; check: string; message: string; fix?: string }

/** A storage folder made as the server makes it, and a config file around `extra`. */
async function install(t: ExecutionContext, extra: Record<string, unknown>): Promise<{ storage: string; config: string }> {
  const dir = await tempDir(t);
  // Embedded: these database checks are of pydepot.db (quick_check, its schema version); PostgreSQL's are below, with `database` in the config.
  const storage = pinEmbedded(join(dir, 'storage'));
  await (await openStorage(storage)).store.close();
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml({ storage, ...extra }));
  return { storage, config };
}

const ROOMY = ['--min-free', '1', '--min-free-percent', '0'];

async function doctor(config: string, args: string[] = ROOMY): Promise<{ code: number; stdout: string; stderr: string; findings: Finding[] }> {
  const r = await pydepot(['doctor', '--config', config, ...args]);
  const json = await pydepot(['doctor', '--config', config, '--json', ...args]);
  return { ...r, findings: (JSON.parse(json.stdout) as { findings: Finding[] }).findings };
}

test('a healthy installation: every check ok, exit 0', async (t) => {
  const up = await FakeUpstream.start(t);
  const html = await FakeUpstream.start(t, { format: 'html' });
  const { config } = await install(t, {
    repositories: {
      internal: { type: 'local' },
      pypi: { type: 'remote', url: up.url, timeout: 5 },
      torch: { type: 'remote', url: html.url, timeout: 5 },
      mirror: { type: 'remote', url: 'http://127.0.0.1:9/simple/', offline: true },
    },
  });
  const r = await doctor(config);
  t.is(r.code, 0, describe(r));
  t.regex(r.stdout, /^ok +config +loaded: 4 repositories \(3 remote\)$/m);
  t.regex(r.stdout, /^ok +storage +.* is writable$/m);
  t.regex(r.stdout, /^ok +database +integrity ok \(quick_check\), schema version \d+$/m);
  t.regex(r.stdout, /^ok +upstream:pypi +http:\/\/127\.0\.0\.1:\d+\/simple\/ answers in \d+ ms: PEP 691 JSON, API 1\.\d+$/m);
  t.regex(r.stdout, /^ok +upstream:torch +.*: PEP 503 HTML only \(no JSON\), API 1\.\d+$/m);
  t.regex(r.stdout, /^ok +upstream:mirror +offline: not asked$/m);
  t.regex(r.stdout, /^no problems found$/m);
  t.true(r.findings.every((f) => f.level === 'ok'));
  t.is(up.count('/simple/'), 2, 'one look per run (text and --json)');
});

test('an upstream that is down or is not an index is an error with what to check; exit 1', async (t) => {
  const down = await FakeUpstream.start(t);
  await down.stop();
  const wrong = await FakeUpstream.start(t);
  const { config } = await install(t, {
    repositories: {
      pypi: { type: 'remote', url: down.url, timeout: 5 },
      typo: { type: 'remote', url: `${wrong.origin}/nothing-here/`, timeout: 5 },
    },
  });
  const r = await doctor(config);
  t.is(r.code, 1);
  t.regex(r.stdout, /^error +upstream:pypi +upstream http:\/\/127\.0\.0\.1:\d+\/simple\/ refused the connection → check the url, DNS, the firewall and HTTPS_PROXY/m);
  t.regex(r.stdout, /^error +upstream:typo +.*answered HTTP 404 → check that url is the simple index/m);
  t.regex(r.stdout, /^2 errors, 0 warnings$/m);
  t.regex(r.stderr, /pydepot: doctor found 2 errors/);
  t.deepEqual(r.findings.filter((f) => f.level === 'error').map((f) => f.check), ['upstream:pypi', 'upstream:typo']);
});

test('TLS: an expired certificate is an error, one expiring within 30 days a warning', async (t) => {
  const expired = await makeExpiredCertificate(t);
  const { config } = await install(t, { tls: expired, repositories: { internal: { type: 'local' } } });
  const r = await doctor(config);
  t.is(r.code, 1);
  t.regex(r.stdout, /^error +tls +the certificate .*cert\.pem expired on 2020-01-02T00:00:00\.000Z: clients refuse the connection → renew the certificate/m);

  const soon = await makeTestCertificates(t);
  const { config: config2 } = await install(t, { tls: { cert: soon.cert, key: soon.key }, repositories: { internal: { type: 'local' } } });
  const r2 = await doctor(config2);
  t.is(r2.code, 0, 'a warning alone exits 0');
  t.regex(r2.stdout, /^warn +tls +the certificate .* expires in [0-2] days? \(.*\) → renew the certificate before then/m);

  const { config: config3 } = await install(t, { tls: { cert: soon.cert, key: soon.caKey }, repositories: { internal: { type: 'local' } } });
  const r3 = await doctor(config3);
  t.is(r3.code, 1);
  t.regex(r3.stdout, /^error +tls +config key 'tls\.key': .*does not match the certificate/m);
});

test('a nearly full disk is a warning naming the free space', async (t) => {
  const { config } = await install(t, { repositories: { internal: { type: 'local' } } });
  const r = await doctor(config, ['--min-free', '1000TiB']);
  t.is(r.code, 0);
  t.regex(r.stdout, /^warn +storage +low on space: .* free of .* \(\d+\.\d%\); uploads fail with 507 .* → free space \(pydepot gc\), set maxCacheSize on remotes, or grow the filesystem$/m);
  t.regex(r.stdout, /^0 errors, 1 warning$/m);
});

test('the database: pending migrations are a warning; an unreadable file an error; nothing is changed', async (t) => {
  const { storage, config } = await install(t, { repositories: { internal: { type: 'local' } } });
  const db = new Database(join(storage, 'pydepot.db'));
  const latest = db.pragma('user_version', { simple: true }) as number;
  db.pragma('user_version = 4');
  db.close();
  const r = await doctor(config);
  t.is(r.code, 0);
  t.regex(r.stdout, new RegExp(`^warn +database +${latest - 4} migrations pending \\(schema 4, this pydepot ${latest}\\) → back up pydepot.db: they run at the next start$`, 'm'));
  const after = new Database(join(storage, 'pydepot.db'), { readonly: true });
  t.is(after.pragma('user_version', { simple: true }), 4, 'doctor migrated nothing');
  after.close();

  await writeFile(join(storage, 'pydepot.db'), Buffer.alloc(8192, 7));
  const broken = await doctor(config);
  t.is(broken.code, 1);
  t.regex(broken.stdout, /^error +database +cannot read .*pydepot\.db: file is not a database → restore pydepot\.db from a backup$/m);
});

test('a config that does not load is the one finding, naming the key; exit 1', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml({ repositories: { pypi: { type: 'remote', maxCacheSize: 'huge' } } }));
  const r = await doctor(config);
  t.is(r.code, 1);
  t.regex(r.stdout, /^error +config +config key 'repositories\.pypi\.maxCacheSize': expected a size/m);
  t.is(r.findings.length, 1);

  const missing = await doctor(join(dir, 'storage-not-made.yaml'));
  t.regex(missing.stdout, /^error +config +cannot read config file/m);
});

test('a storage folder not made yet is a warning, and doctor does not make it', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml({ storage: join(dir, 'later'), repositories: { internal: { type: 'local' } } }));
  const r = await doctor(config);
  t.is(r.code, 0);
  t.regex(r.stdout, /^warn +storage +the storage folder .*later does not exist yet → it is made at the first start/m);
  const { stat } = await import('node:fs/promises');
  await t.throwsAsync(stat(join(dir, 'later')));
});

test('S3 blobs: the bucket answering is ok; a missing bucket is an error naming it and what to check', async (t) => {
  const s3 = await startS3(t);
  const good = await install(t, { blobs: s3.blobs('doctor'), repositories: { internal: { type: 'local' } } });
  const ok = await doctor(good.config);
  t.is(ok.code, 0, describe(ok));
  t.regex(ok.stdout, new RegExp(`^ok +blobs +s3://${s3.bucket}/doctor at ${s3.endpoint} answers$`, 'm'));
  const bad = await install(t, { blobs: s3.blobs('doctor', { bucket: 'no-such-bucket' }), repositories: { internal: { type: 'local' } } });
  const r = await doctor(bad.config);
  t.is(r.code, 1);
  t.regex(r.stdout, new RegExp(`^error +blobs +S3 bucket 'no-such-bucket' at ${s3.endpoint}: no such bucket → check blobs.endpoint, bucket, region and forcePathStyle`, 'm'));
});

/** A storage folder and a config naming the PostgreSQL database `url` (the test backend leaves a config that names one alone). */
async function pgInstall(t: ExecutionContext, url: string, extra: Record<string, unknown> = {}): Promise<string> {
  const dir = await tempDir(t);
  const storage = join(dir, 'storage');
  await mkdir(storage);
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml({ storage, database: url, repositories: { internal: { type: 'local' } }, ...extra }));
  return config;
}

/** A database as a server's start leaves it: pydepot's tables, at this pydepot's schema version. */
async function migratedDatabase(t: ExecutionContext): Promise<string> {
  const url = await pgDatabase(t);
  await (await openPgStores(url, { poolSize: 1 })).close();
  return url;
}

const LATEST_PG = PG_MIGRATIONS.at(-1)!.version;

test('PostgreSQL: reachable, at this pydepot\'s schema, room for the pool: every check ok; a pydepot.db left behind is not read', async (t) => {
  const config = await pgInstall(t, await migratedDatabase(t));
  // What `storage migrate` leaves: the old SQLite file (here not even a database) is no longer the depot's.
  await writeFile(join(dirname(config), 'storage', 'pydepot.db'), Buffer.alloc(8192, 7));
  const r = await doctor(config);
  t.is(r.code, 0, describe(r));
  t.regex(r.stdout, /^ok +database +PostgreSQL \d+\.\d+.* at 127\.0\.0\.1:\d+\/t_[0-9a-f_]+ as postgres answers$/m);
  t.regex(r.stdout, new RegExp(`^ok +database +schema version ${LATEST_PG}, this pydepot's$`, 'm'));
  // max_connections is the test cluster's own (larger when one cluster serves the whole run).
  t.regex(r.stdout, /^ok +connections +\d+ free \(max_connections \d+, \d+ in use \(\d+ by pydepot\), 3 reserved\); this pydepot's pool takes up to 10 \(databasePoolSize 10\)$/m);
  t.regex(r.stdout, /^ok +leases +0 live leases \(0 servers running\), none expired$/m);
  t.regex(r.stdout, /^no problems found$/m);
  t.false(r.stdout.includes('pydepot.db'), 'the SQLite checks are for the embedded database only');
  t.deepEqual(r.findings.filter((f) => f.level !== 'ok'), []);
});

test('PostgreSQL: expired leases are information; a pool that would take most free connections a warning (exit 0)', async (t) => {
  const url = await migratedDatabase(t);
  const now = '(extract(epoch from clock_timestamp()) * 1000)::bigint';
  await pgQuery(url, `INSERT INTO leases (key, owner, expires_at) VALUES
    ('server:h:/srv/storage#a', 'h/1/a', ${now} - 300000), ('page:pypi/six', 'h/1/a', ${now} - 1000),
    ('server:h:/srv/storage#b', 'h/2/b', ${now} + 600000)`);
  // A pool of max_connections per worker: more than half of what is free, whatever the test cluster allows.
  const max = Number((await pgQuery<{ max_connections: string }>(url, 'SHOW max_connections'))[0]!.max_connections);
  const r = await doctor(await pgInstall(t, url, { databasePoolSize: max, workers: 2 }));
  t.is(r.code, 0, describe(r));
  t.regex(r.stdout, /^info +leases +2 expired leases \(page 1, server 1; the oldest lapsed 5 minutes ago\), left by processes that stopped or finished a job's round: nothing to do, they lapse by themselves \(the next process that wants one takes it over\); 1 live lease \(1 server running\)$/m);
  t.regex(r.stdout, new RegExp(`^warn +connections +this pydepot's pool \\(2 workers × databasePoolSize ${max} = ${2 * max}\\) would take more than half of the \\d+ connections free \\(max_connections ${max}, .*\\) → replicas × workers × databasePoolSize, plus the CLI's runs, must stay under max_connections: raise max_connections, lower databasePoolSize or workers, or put PgBouncer \\(transaction mode\\) in front$`, 'm'));
  t.regex(r.stdout, /^0 errors, 1 warning$/m);
  t.is((await pgQuery(url, 'SELECT count(*)::int AS n FROM leases'))[0]!.n, 3, 'doctor removed no lease');
});

test('PostgreSQL: a fresh empty database is information (the next start migrates it); doctor creates nothing', async (t) => {
  const url = await pgDatabase(t);
  const r = await doctor(await pgInstall(t, url));
  t.is(r.code, 0, describe(r));
  t.regex(r.stdout, new RegExp(`^info +database +an empty database: it will be migrated at the next start \\(pydepot creates its tables, schema version ${LATEST_PG}\\)$`, 'm'));
  t.false(r.findings.some((f) => f.check === 'leases'), 'no leases table: nothing to say about leases');
  t.regex(r.stdout, /^no problems found$/m);
  t.deepEqual(await pgQuery(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"), [], 'no table made');
});

test('PostgreSQL: a schema newer than this pydepot is an error (the server refuses it at start); exit 1', async (t) => {
  const url = await migratedDatabase(t);
  await pgQuery(url, "INSERT INTO pydepot_migrations (version, name) VALUES ($1, 'from a newer pydepot')", [LATEST_PG + 1]);
  const r = await doctor(await pgInstall(t, url));
  t.is(r.code, 1);
  t.regex(r.stdout, new RegExp(`^error +database +the schema \\(version ${LATEST_PG + 1}\\) is newer than this pydepot knows \\(${LATEST_PG}\\): this pydepot is older than the schema, and refuses to start on it → run the pydepot release that migrated it, or a newer one$`, 'm'));
  t.regex(r.stderr, /pydepot: doctor found 1 error/);
});

test('PostgreSQL: a server not there, or no such database, is an error naming host:port/db with the driver\'s reason and never the password; exit 1', async (t) => {
  const port = await freePort();
  const r = await doctor(await pgInstall(t, `postgres://pydepot:s3cret-pw@127.0.0.1:${port}/depot`));
  t.is(r.code, 1);
  t.regex(r.stdout, new RegExp(`^error +database +cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${port}/depot as pydepot: connect ECONNREFUSED 127\\.0\\.0\\.1:${port} → check that PostgreSQL runs and listens at that host and port`, 'm'));
  t.is(r.findings.filter((f) => f.check === 'database').length, 1, 'nothing else is asked of a server not there');
  t.false(`${r.stdout}${r.stderr}`.includes('s3cret-pw'));

  const cluster = await sharedCluster();
  const missing = await doctor(await pgInstall(t, cluster.url('no_such_db')));
  t.is(missing.code, 1);
  t.regex(missing.stdout, /^error +database +cannot connect to PostgreSQL at 127\.0\.0\.1:\d+\/no_such_db as postgres: database "no_such_db" does not exist → create the database \(createdb, or CREATE DATABASE\): pydepot creates its tables, not the database$/m);
});

test('PostgreSQL findings a test server cannot show: a server older than 13; migrations pending on a used database', (t) => {
  const pool = { workers: 1, poolSize: 10 };
  const connections = { max: 100, reserved: 3, inUse: 5, pydepot: 0 };
  const old = postgresFindings({ reachable: true, where: 'db:5432/depot as pydepot', version: '12.19', major: 12, schema: { current: 1, latest: 1, otherTables: 0 }, connections, leases: null }, pool);
  t.deepEqual(old[0], { level: 'error', check: 'database', message: 'PostgreSQL 12.19 at db:5432/depot as pydepot is older than 13, which pydepot needs', fix: 'upgrade PostgreSQL to 13 or later' });
  const behind = postgresFindings({ reachable: true, where: 'db:5432/depot', version: '16.4', major: 16, schema: { current: 1, latest: 3, otherTables: 0 }, connections, leases: null }, pool);
  t.deepEqual(behind[1], { level: 'warn', check: 'database', message: '2 migrations pending (schema 1, this pydepot 3): it will be migrated at the next start', fix: 'back up the database (pg_dump) first' });
  t.deepEqual(behind[2], { level: 'ok', check: 'connections', message: '92 free (max_connections 100, 5 in use (0 by pydepot), 3 reserved); this pydepot\'s pool takes up to 10 (databasePoolSize 10)' });
});
