/**
 * pip installs through a depot migrated to PostgreSQL + S3 what it installed
 * before the migration: a hosted package (through a virtual repository) and
 * its dependency from a remote's cache, with the upstream gone.
 */
import test from 'ava';
import { pydepot } from '../helpers/cli.ts';
import { describe, requireClient, venv } from '../helpers/clients.ts';
import { buildWheel } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { cliConfigFile, embeddedDepotConfig } from '../helpers/migrate-source.ts';
import { pgDatabase } from '../helpers/postgres.ts';
import { startS3 } from '../helpers/s3.ts';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

test('pip installs the same packages from the migrated depot, the upstream gone', async (t) => {
  if (!(await requireClient(t, 'python3'))) return;
  const up = await FakeUpstream.start(t);
  const dep = await buildWheel({ name: 'acme-dep', version: '2.0' });
  up.addProject('acme-dep', [{ dist: dep }]);
  const raw = embeddedDepotConfig(up.url);
  const s = await startTestServer(t, raw);
  const app = await buildWheel({ name: 'acme-app', version: '1.0', requiresDist: ['acme-dep>=2'] });
  t.is((await upload(`${s.url}/internal/`, app, 'acme-app', '1.0')).status, 200);

  const v = await venv(t);
  const before = await tempDir(t, 'pydepot-target-');
  const r1 = await v.pip(['install', '--index-url', `${s.url}/all/simple/`, '--target', before, 'acme-app']);
  t.is(r1.code, 0, describe(r1));
  await s.stop(1000);

  const s3 = await startS3(t);
  const db = await pgDatabase(t);
  const config = await cliConfigFile(t, raw, s.storage);
  const m = await pydepot(['storage', 'migrate', '--config', config, '--to', db, '--blobs', `s3://${s3.bucket}/moved?endpoint=${encodeURIComponent(s3.endpoint)}&forcePathStyle=true`]);
  t.is(m.code, 0, m.stderr);

  await up.stop();
  const moved = await startTestServer(t, { ...raw, database: db, blobs: s3.blobs('moved') });
  const after = await tempDir(t, 'pydepot-target-');
  const r2 = await v.pip(['install', '--index-url', `${moved.url}/all/simple/`, '--target', after, 'acme-app']);
  t.is(r2.code, 0, describe(r2));
  const list = await v.pip(['list', '--path', after, '--format', 'json']);
  const installed = Object.fromEntries((JSON.parse(list.stdout) as { name: string; version: string }[]).map((p) => [p.name.toLowerCase().replace(/[-_.]+/g, '-'), p.version]));
  t.like(installed, { 'acme-app': '1.0', 'acme-dep': '2.0' });
});
