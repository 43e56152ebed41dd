import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/storage/migrations.ts';
import { openStorage } from '../../src/storage/open.ts';
import { openTestStorage } from '../helpers/test-backend.ts';

async function dir(t: ExecutionContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'pydepot-cooldown-store-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

const actor = { user: 'cli:ops', tokenId: null, address: null };

test('exemptions: each addition and revocation moves the serial and is in the audit trail; a revoked one cannot be revoked again', async (t) => {
  const s = await openTestStorage(await dir(t));
  t.teardown(() => s.store.close());
  const before = await s.cooldown.serial();
  await s.cooldown.add({ id: 'e1', project: 'acme-*', version: null, repo: 'pypi', until: '2027-01-01T00:00:00.000Z', reason: 'hotfix', createdAt: '2026-12-01T00:00:00.000Z', createdBy: 'cli:ops' }, actor);
  t.is(await s.cooldown.serial(), before + 1);
  t.like((await s.cooldown.list())[0], { id: 'e1', project: 'acme-*', version: null, repo: 'pypi', revokedAt: null });
  t.like(await s.cooldown.revoke('e1', '2026-12-02T00:00:00.000Z', actor), { id: 'e1', revokedAt: '2026-12-02T00:00:00.000Z', revokedBy: 'cli:ops' });
  t.is(await s.cooldown.serial(), before + 2);
  t.is(await s.cooldown.revoke('e1', '2026-12-03T00:00:00.000Z', actor), null);
  t.is(await s.cooldown.revoke('nope', '2026-12-03T00:00:00.000Z', actor), null);
  t.deepEqual((await s.audit.list({})).map((e) => [e.action, e.repo, e.project, e.actor]), [
    ['cooldown-allow', 'pypi', 'acme-*', 'cli:ops'],
    ['cooldown-revoke', 'pypi', 'acme-*', 'cli:ops'],
  ]);
});

test('migration 6 keeps the audit trail and marks files cached before it as seen long ago', async (t) => {
  const d = await dir(t);
  const file = join(d, 'pydepot.db');
  const db = new Database(file);
  for (const m of MIGRATIONS.filter((x) => x.version <= 5)) db.exec(m.sql);
  db.pragma('user_version = 5');
  db.prepare(`INSERT INTO audit (at, actor, action, repo, project, version, filename, sha256) VALUES ('2026-01-01', 'alice', 'upload', 'internal', 'acme', '1.0', 'acme-1.0.tar.gz', 'ab')`).run();
  db.prepare(`INSERT INTO remote_files (repo, sha256, filename, project, url) VALUES ('pypi', 'cd', 'x-1.0.tar.gz', 'x', 'http://up/x')`).run();
  db.close();
  // Embedded only: a SQLite migration of an older pydepot.db.
  const s = await openStorage(d);
  t.teardown(() => s.store.close());
  t.like((await s.audit.list({}))[0], { actor: 'alice', action: 'upload', filename: 'acme-1.0.tar.gz' });
  t.deepEqual(await s.remoteStore.firstSeen('pypi', 'x'), new Map([['x-1.0.tar.gz', 0]]));
  t.like(await s.remoteStore.getFile('pypi', 'cd', 'x-1.0.tar.gz'), { uploadTime: null });
});
