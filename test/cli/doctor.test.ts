/**
 * `pydepot doctor`: a healthy installation exits 0; each broken part (an
 * upstream, the certificate, the disk, the database, the config) is one
 * finding that says what to fix, and errors exit 1.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { stringify as stringifyYaml } from 'yaml';
import { openStorage } from '../../src/storage/open.ts';
import { pinEmbedded } from '../helpers/test-backend.ts';
import { pydepot } from '../helpers/cli.ts';
import { describe } from '../helpers/clients.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { tempDir } from '../helpers/server.ts';
import { startS3 } from '../helpers/s3.ts';
import { makeExpiredCertificate, makeTestCertificates } from '../helpers/tls.ts';

interface Finding { level: string; check: string; message: string; fix?: string }

/** A storage folder made as the server makes it, and a config file around `extra`. */
async function install(t: ExecutionContext, extra: Record<string, unknown>): Promise<{ storage: string; config: string }> {
  const dir = await tempDir(t);
  // Embedded only: doctor's database checks are of pydepot.db (quick_check, its schema version); it has none for PostgreSQL yet.
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
