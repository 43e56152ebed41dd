/** Upstream removals: the page reconciliation (src/repos/removals.ts), the store's marking, the parser's unreadable status. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openStorage } from '../../src/storage/open.ts';
import { openTestStorage } from '../helpers/test-backend.ts';
import type { RemoteFileRow } from '../../src/storage/types.ts';
import { goneReason, reconcile, servesRemoved, visiblePage, type StoredPage } from '../../src/repos/removals.ts';
import { parseProjectHtml, parseProjectJson, type UpstreamFile, type UpstreamProjectPage } from '../../src/upstream/project-page-parser.ts';

const sha = (c: string): string => c.repeat(64);

function upFile(filename: string, c: string, extra: Partial<UpstreamFile> = {}): UpstreamFile {
  return { filename, url: `https://files.example/${filename}`, hashes: { sha256: sha(c) }, requiresPython: null, yanked: false, coreMetadata: false, size: 10, uploadTime: null, ...extra };
}

function upPage(files: UpstreamFile[], status: UpstreamProjectPage['projectStatus'] = null, extra: Partial<UpstreamProjectPage> = {}): UpstreamProjectPage {
  return { name: 'acme', files, versions: null, apiVersion: '1.4', projectStatus: status, ...extra };
}

const A = upFile('acme-1.0-py3-none-any.whl', 'a');
const B = upFile('acme-1.0.tar.gz', 'b');
const C = upFile('acme-2.0-py3-none-any.whl', 'c');
const cachedOnly = (...shas: string[]) => ({ cached: async (s: string) => shas.includes(s) });

test('reconcile: files gone from the page are carried when cached; relisted ones are dropped from the carry', async (t) => {
  const first = await reconcile('acme', upPage([A, B, C]), null, cachedOnly(), 1000);
  t.deepEqual(first.stored.files.map((f) => f.filename), [A.filename, B.filename, C.filename]);
  t.is(first.stored.removed, undefined);
  t.is(first.cause, 'deleted');

  const second = await reconcile('acme', upPage([C]), JSON.stringify(first.stored), cachedOnly(sha('a')), Date.parse('2026-09-01T00:00:00Z'));
  t.deepEqual(second.stored.files.map((f) => f.filename), [C.filename]);
  t.deepEqual(second.stored.removed?.map((k) => [k.file.filename, k.removedAt]), [[A.filename, '2026-09-01T00:00:00.000Z']], 'only the cached one is carried');

  // Visible only with keepRemoved, and then with its version.
  t.deepEqual(visiblePage(second.stored, false).files.map((f) => f.filename), [C.filename]);
  t.false('removed' in visiblePage(second.stored, false));
  const kept = visiblePage(second.stored, true);
  t.deepEqual(kept.files.map((f) => f.filename), [C.filename, A.filename]);
  t.deepEqual(kept.versions, ['1.0', '2.0']);

  const third = await reconcile('acme', upPage([A, C]), JSON.stringify(second.stored), cachedOnly(), 3000);
  t.is(third.stored.removed, undefined, 'listed again: no longer carried');
});

test('reconcile: a quarantined page lists nothing, carries nothing new, hides what was carried', async (t) => {
  const first = await reconcile('acme', upPage([A, C]), null, cachedOnly(), 1000);
  const second = await reconcile('acme', upPage([C]), JSON.stringify(first.stored), cachedOnly(sha('a')), 2000);
  // An upstream that still lists files of a quarantined project: none is served (PEP 792).
  const q = await reconcile('acme', upPage([C], { status: 'quarantined', reason: 'malware' }), JSON.stringify(second.stored), cachedOnly(sha('a'), sha('c')), 3000);
  t.is(q.cause, 'quarantined');
  t.deepEqual(q.served.files, []);
  t.deepEqual(q.stored.files, []);
  t.deepEqual(q.stored.versions, []);
  t.deepEqual(q.stored.status, { status: 'quarantined', reason: 'malware' });
  t.deepEqual(visiblePage(q.stored, true).files, [], 'keepRemoved does not outlive a quarantine');
});

test('reconcile: an unreadable status keeps the last known one (a quarantine is not lifted by a malformed page)', async (t) => {
  const q = await reconcile('acme', upPage([], { status: 'quarantined', reason: null }), null, cachedOnly(), 1000);
  const bad = await reconcile('acme', upPage([A], null, { statusProblem: 'unreadable project-status "oops"' }), JSON.stringify(q.stored), cachedOnly(), 2000);
  t.is(bad.statusKept, 'unreadable project-status "oops"');
  t.deepEqual(bad.stored.status, { status: 'quarantined', reason: null });
  t.deepEqual(bad.stored.files, []);
  const fresh = await reconcile('acme', upPage([A], null, { statusProblem: 'x' }), null, cachedOnly(), 2000);
  t.is(fresh.stored.status, null, 'nothing known: no status');
  t.deepEqual(fresh.stored.files.map((f) => f.filename), [A.filename]);
});

test('parser: a project status that cannot be read is flagged, in both formats', (t) => {
  const json = (extra: Record<string, unknown>) => parseProjectJson(JSON.stringify({ meta: { 'api-version': '1.4' }, name: 'acme', files: [], ...extra }), 'https://pypi.org/simple/acme/');
  t.regex(json({ 'project-status': 'quarantined' }).statusProblem ?? '', /unreadable project-status "quarantined"/);
  t.truthy(json({ 'project-status': { reason: 'x' } }).statusProblem);
  t.is(json({ 'project-status': { status: 'archived' } }).statusProblem, undefined);
  t.false('statusProblem' in json({}));
  const html = (head: string) => parseProjectHtml(`<html><head>${head}</head><body></body></html>`, 'https://pypi.org/simple/acme/');
  t.regex(html('<meta name="pypi:project-status" content=" ">').statusProblem ?? '', /empty <meta name="pypi:project-status">/);
  t.false('statusProblem' in html('<meta name="pypi:project-status" content="active">'));
});

test('store: files left off a saved page are marked removed once, with their cause; relisted ones are restored; the last download survives eviction', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-removals-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { remoteStore: store, store: meta } = await openTestStorage(dir);
  t.teardown(() => meta.close());
  const row = (f: UpstreamFile): RemoteFileRow => ({ sha256: f.hashes.sha256!, filename: f.filename, project: 'acme', url: f.url, size: 10, metadataSha256: null, uploadTime: null, requiresPython: '>=3.9' });
  const save = (files: UpstreamFile[], now: number, extra: { state?: 'ok' | 'missing'; removedCause?: 'quarantined' | 'project-deleted' } = {}) =>
    store.savePage('pypi', 'acme', { state: extra.state ?? 'ok', etag: null, lastModified: null, page: extra.state === 'missing' ? null : JSON.stringify(files.map((f) => f.filename)), files: files.map(row), ...(extra.removedCause ? { removedCause: extra.removedCause } : {}) }, now);

  t.is((await save([A, B, C], 1000)).removed, 0);
  await store.recordCached('pypi', { sha256: sha('a'), size: 10 }, 1500, 'test');
  t.like(await store.getFile('pypi', sha('a'), A.filename), { removedAt: null, requiresPython: '>=3.9' });
  t.is((await store.firstSeen('pypi', 'acme')).get(A.filename), 1000);

  t.is((await save([C], 2000)).removed, 2);
  t.like(await store.getFile('pypi', sha('a'), A.filename), { removedAt: 2000, removedCause: 'deleted' });
  t.is((await store.listRemoved({})).find((r) => r.filename === A.filename)?.lastAccess, 1500, 'the last download: remote_cached');
  // Evicted: the last download stays on the file's record.
  await store.uncache('pypi', sha('a'));
  t.is((await store.listRemoved({})).find((r) => r.filename === A.filename)?.lastAccess, 1500, 'kept after eviction');
  t.is((await store.listRemoved({})).find((r) => r.filename === B.filename)?.lastAccess, null);
  t.is((await save([C], 2500)).removed, 0, 'unchanged page: nothing new');
  t.is((await save([C, upFile('acme-2.0.tar.gz', 'd')], 3000)).removed, 0);
  t.is((await store.getFile('pypi', sha('a'), A.filename))?.removedAt, 2000, 'the first removal time stands');

  // A quarantine covers the files removed before it too.
  t.is((await save([], 4000, { removedCause: 'quarantined' })).removed, 2);
  t.like(await store.getFile('pypi', sha('a'), A.filename), { removedAt: 2000, removedCause: 'quarantined' });
  t.like(await store.getFile('pypi', sha('c'), C.filename), { removedAt: 4000, removedCause: 'quarantined' });

  // Listed again: served again, new again for the cooldown.
  t.is((await save([A], 5000)).removed, 0);
  t.like(await store.getFile('pypi', sha('a'), A.filename), { removedAt: null, removedCause: null });
  t.is((await store.firstSeen('pypi', 'acme')).get(A.filename), 5000);
  t.is((await save([], 6000, { state: 'missing', removedCause: 'project-deleted' })).removed, 1);
  t.like(await store.getFile('pypi', sha('a'), A.filename), { removedAt: 6000, removedCause: 'project-deleted' });

  const listed = await store.listRemoved({});
  t.deepEqual(listed.map((r) => [r.filename, r.removedAt]), [[A.filename, 6000], [C.filename, 4000], ['acme-2.0.tar.gz', 4000], [B.filename, 2000]]);
  t.deepEqual((await store.listRemoved({ since: 4500 })).map((r) => r.filename), [A.filename]);
  t.deepEqual(await store.listRemoved({ repo: 'other' }), []);
});

test('servesRemoved and goneReason', (t) => {
  const base = { sha256: sha('a'), filename: A.filename, project: 'acme', url: '', size: 1, metadataSha256: null, uploadTime: null, requiresPython: null };
  const deleted = { ...base, removedAt: Date.parse('2026-09-01T12:00:00Z'), removedCause: 'deleted' as const };
  t.true(servesRemoved(deleted, true, true));
  t.false(servesRemoved(deleted, true, false));
  t.false(servesRemoved(deleted, false, true));
  t.false(servesRemoved({ ...deleted, removedCause: 'quarantined' }, true, true));
  t.is(goneReason(deleted, 'https://pypi.org/simple/acme/'), `'${A.filename}' was removed by the upstream https://pypi.org/simple/acme/ on 2026-09-01T12:00:00Z; pydepot no longer serves it.`);
});

test('visiblePage never shows carried files beside the same filename', (t) => {
  const stored: StoredPage = {
    name: 'acme', displayName: 'acme', versions: ['1.0'], status: null,
    files: [{ filename: A.filename, path: 'p', sha256: sha('e'), size: 1, requiresPython: null, uploadTime: null, yanked: false, metadataSha256: null }],
    removed: [{ file: { filename: A.filename, path: 'q', sha256: sha('a'), size: 1, requiresPython: null, uploadTime: null, yanked: false, metadataSha256: null }, removedAt: 'x' }],
  };
  t.deepEqual(visiblePage(stored, true).files.map((f) => f.sha256), [sha('e')]);
});

test('migration 10 keeps existing remote files listed and fills their Requires-Python from the stored pages', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-migration-10-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { default: Database } = await import('better-sqlite3');
  const { MIGRATIONS } = await import('../../src/storage/migrations.ts');
  const db = new Database(join(dir, 'pydepot.db'));
  for (const m of MIGRATIONS.filter((x) => x.version <= 9)) db.exec(m.sql);
  db.pragma('user_version = 9');
  const page = { name: 'acme', displayName: 'acme', versions: ['1.0'], status: null, files: [
    { filename: A.filename, path: 'p', sha256: sha('a'), size: 1, requiresPython: '>=3.9', uploadTime: null, yanked: false, metadataSha256: null },
    { filename: B.filename, path: 'p', sha256: sha('b'), size: 1, requiresPython: null, uploadTime: null, yanked: false, metadataSha256: null },
  ] };
  db.prepare(`INSERT INTO remote_pages (repo, project, state, checked_at, page, digest, serial) VALUES ('pypi', 'acme', 'ok', 0, ?, 'd', 1)`).run(JSON.stringify(page));
  for (const f of [A, B]) db.prepare(`INSERT INTO remote_files (repo, sha256, filename, project, url, size) VALUES ('pypi', ?, ?, 'acme', 'u', 1)`).run(f.hashes.sha256, f.filename);
  db.close();
  // Embedded only: a SQLite migration of an older pydepot.db.
  const { remoteStore, store } = await openStorage(dir);
  t.teardown(() => store.close());
  t.like(await remoteStore.getFile('pypi', sha('a'), A.filename), { requiresPython: '>=3.9', removedAt: null });
  t.like(await remoteStore.getFile('pypi', sha('b'), B.filename), { requiresPython: null, removedAt: null });
});
