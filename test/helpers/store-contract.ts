/**
 * Behavioural tests of the metadata store interfaces (src/storage/types.ts),
 * written once against their Promise-returning shape and run against every
 * implementation: SQLite (through `asyncStores`, an adapter) and PostgreSQL.
 * What one back end does, the other must do, down to serials, orders and
 * audit rows.
 */
import type { ExecutionContext, TestFn } from 'ava';
import type {
  Actor, AuditStore, CooldownStore, LeaseStore, MetadataStore, NewFile, RemoteCacheStore, RemoteFileRow, SquatStore, UserStore,
} from '../../src/storage/types.ts';

export interface AsyncStores {
  store: MetadataStore;
  remoteStore: RemoteCacheStore;
  squats: SquatStore;
  users: UserStore;
  audit: AuditStore;
  cooldown: CooldownStore;
  leases: LeaseStore;
}

export type OpenStores = (t: ExecutionContext) => Promise<AsyncStores>;

const sha = (c: string): string => c.repeat(64);
const ACTOR: Actor = { user: 'alice', tokenId: 'tok1', address: '127.0.0.1' };

function newFile(over: Partial<NewFile> & { filename: string }): NewFile {
  return {
    repo: 'internal', project: 'acme', displayName: 'Acme', version: '1.0', kind: 'wheel', size: 100,
    sha256: sha('a'), md5: 'm'.repeat(32), blake2b256: 'b'.repeat(64), requiresPython: '>=3.8',
    metadataSha256: sha('e'), uploadTime: '2026-12-01T00:00:00.000Z', uploader: 'alice',
    coreMetadata: Buffer.from('Metadata-Version: 2.1\nName: acme\n'), metadataJson: '{"name":"acme"}',
    ...over,
  };
}

function remoteFile(filename: string, c: string, extra: Partial<RemoteFileRow> = {}): RemoteFileRow {
  return { sha256: sha(c), filename, project: 'acme', url: `https://files.example/${filename}`, size: 10, metadataSha256: null, uploadTime: null, ...extra };
}

const okPage = (files: RemoteFileRow[], page = JSON.stringify(files.map((f) => f.filename))) =>
  ({ state: 'ok' as const, etag: '"e1"', lastModified: null, page, files });

export function storeContract(test: TestFn, backend: string, open: OpenStores): void {
  const name = (s: string): string => `${backend}: ${s}`;

  test(name('files: add, get, list, versions, metadata, serials, projects; delete bumps the serial'), async (t) => {
    const { store } = await open(t);
    t.is(await store.repoSerial('internal'), 0);
    t.deepEqual(await store.listProjects('internal'), []);
    const r1 = await store.addFile(newFile({ filename: 'acme-1.0-py3-none-any.whl' }), { overwrite: false, actor: ACTOR });
    t.deepEqual(r1, { outcome: 'added', file: await store.getFile('internal', 'acme-1.0-py3-none-any.whl'), replaced: null }, 'the row as added');
    t.is(await store.repoSerial('internal'), 1);
    await store.addFile(newFile({ filename: 'acme-1.0.tar.gz', kind: 'sdist', sha256: sha('b'), coreMetadata: null }), { overwrite: false, actor: ACTOR });
    await store.addFile(newFile({ filename: 'acme-2.0-py3-none-any.whl', version: '2.0', sha256: sha('c') }), { overwrite: false, actor: ACTOR });
    await store.addFile(newFile({ filename: 'zeta-1.0-py3-none-any.whl', project: 'zeta', displayName: 'Zeta', sha256: sha('d') }), { overwrite: false, actor: ACTOR });
    t.is(await store.repoSerial('internal'), 4);
    t.is(await store.repoSerial('other'), 0);

    const f = await store.getFile('internal', 'acme-1.0-py3-none-any.whl');
    t.deepEqual(f, {
      repo: 'internal', project: 'acme', filename: 'acme-1.0-py3-none-any.whl', version: '1.0', kind: 'wheel', size: 100,
      sha256: sha('a'), md5: 'm'.repeat(32), blake2b256: 'b'.repeat(64), requiresPython: '>=3.8', metadataSha256: sha('e'),
      yanked: false, yankedReason: null, uploadTime: '2026-12-01T00:00:00.000Z', uploader: 'alice',
    });
    t.is((await store.getFile('internal', 'acme-1.0.tar.gz'))?.metadataSha256, null, 'no core metadata: no metadata hash');
    t.is(await store.getFile('internal', 'nope.whl'), null);
    t.deepEqual((await store.getCoreMetadata('internal', 'acme-1.0-py3-none-any.whl'))?.toString(), 'Metadata-Version: 2.1\nName: acme\n');
    t.is(await store.getCoreMetadata('internal', 'acme-1.0.tar.gz'), null);
    t.is(await store.getMetadataJson('internal', 'acme-1.0.tar.gz'), '{"name":"acme"}');
    t.is(await store.getMetadataJson('internal', 'nope'), null);
    t.deepEqual((await store.listFiles('internal', 'acme')).map((x) => x.filename), ['acme-1.0-py3-none-any.whl', 'acme-1.0.tar.gz', 'acme-2.0-py3-none-any.whl']);
    t.deepEqual((await store.listVersions('internal', 'acme')).sort(), ['1.0', '2.0']);
    const projects = await store.listProjects('internal');
    t.deepEqual(projects.map((p) => [p.name, p.displayName, p.serial]), [['acme', 'Acme', 3], ['zeta', 'Zeta', 4]]);
    t.deepEqual(await store.getProject('internal', 'zeta'), projects[1]);
    t.is(await store.getProject('internal', 'nope'), null);
    t.deepEqual(await store.repoUsage('internal'), { projects: 2, files: 4, bytes: 400 });
    t.deepEqual(await store.repoUsage('other'), { projects: 0, files: 0, bytes: 0 });

    const gone = await store.deleteFile('internal', 'zeta-1.0-py3-none-any.whl');
    t.is(gone?.filename, 'zeta-1.0-py3-none-any.whl');
    t.is(await store.deleteFile('internal', 'zeta-1.0-py3-none-any.whl'), null);
    t.is(await store.repoSerial('internal'), 5);
    t.deepEqual((await store.listProjects('internal')).map((p) => p.name), ['acme'], 'a project without files is not listed');
    t.is((await store.getProject('internal', 'zeta'))?.serial, 5, 'but it is still known, at the serial of its deletion');
    t.deepEqual(await store.projectsChangedSince('internal', 3), [{ name: 'zeta', displayName: 'Zeta', present: false }]);
    t.deepEqual((await store.projectsChangedSince('internal', 0)).sort((a, b) => a.name.localeCompare(b.name)),
      [{ name: 'acme', displayName: 'Acme', present: true }, { name: 'zeta', displayName: 'Zeta', present: false }]);
  });

  test(name('addFile: identical, conflict and overwrite outcomes, each with its audit row'), async (t) => {
    const { store, audit } = await open(t);
    const file = newFile({ filename: 'acme-1.0-py3-none-any.whl' });
    await store.addFile(file, { overwrite: false, actor: ACTOR });
    const same = await store.addFile({ ...file, uploadTime: '2026-12-01T00:00:01.000Z' }, { overwrite: false, actor: ACTOR });
    t.is(same.outcome, 'identical');
    t.is(await store.repoSerial('internal'), 1, 'identical bytes change nothing');
    const other = { ...file, sha256: sha('f'), uploadTime: '2026-12-01T00:00:02.000Z' };
    const conflict = await store.addFile(other, { overwrite: false, actor: { user: null, tokenId: null, address: null } });
    t.is(conflict.outcome, 'conflict');
    t.is(conflict.outcome === 'conflict' ? conflict.existing.sha256 : '', sha('a'));
    t.is(await store.repoSerial('internal'), 1);
    const replaced = await store.addFile({ ...other, uploadTime: '2026-12-01T00:00:03.000Z' }, { overwrite: true, actor: ACTOR });
    t.is(replaced.outcome, 'added');
    t.is(replaced.outcome === 'added' ? replaced.replaced?.sha256 : '', sha('a'));
    t.is((await store.getFile('internal', file.filename))?.sha256, sha('f'));
    t.is(await store.repoSerial('internal'), 2);
    const rows = await audit.list({ repo: 'internal' });
    t.deepEqual(rows.map((r) => [r.at, r.action, r.detail, r.actor, r.sha256]), [
      ['2026-12-01T00:00:00.000Z', 'upload', 'created', 'alice', sha('a')],
      ['2026-12-01T00:00:01.000Z', 'upload', 'unchanged', 'alice', sha('a')],
      ['2026-12-01T00:00:03.000Z', 'upload', 'replaced', 'alice', sha('f')],
    ], 'a refused conflict leaves no audit row');
    t.deepEqual(rows[0], {
      at: '2026-12-01T00:00:00.000Z', actor: 'alice', tokenId: 'tok1', address: '127.0.0.1', action: 'upload', repo: 'internal',
      project: 'acme', version: '1.0', filename: file.filename, sha256: sha('a'), detail: 'created',
    });
  });

  test(name('addFile: concurrent uploads of one filename store one and report the other'), async (t) => {
    const { store } = await open(t);
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((c) =>
      store.addFile(newFile({ filename: 'acme-1.0-py3-none-any.whl', sha256: sha(c) }), { overwrite: false, actor: ACTOR })));
    t.is(results.filter((r) => r.outcome === 'added').length, 1);
    t.is(results.filter((r) => r.outcome === 'conflict').length, 3);
    t.is(await store.repoSerial('internal'), 1);
  });

  test(name('yanks: the changed files returned, serial bumped only on change, reason kept'), async (t) => {
    const { store } = await open(t);
    await store.addFile(newFile({ filename: 'acme-1.0-py3-none-any.whl' }), { overwrite: false, actor: ACTOR });
    await store.addFile(newFile({ filename: 'acme-1.0.tar.gz', sha256: sha('b'), kind: 'sdist' }), { overwrite: false, actor: ACTOR });
    t.deepEqual((await store.setYanked('internal', 'acme', '1.0', true, 'broken')).map((x) => [x.filename, x.yanked, x.yankedReason]),
      [['acme-1.0-py3-none-any.whl', true, 'broken'], ['acme-1.0.tar.gz', true, 'broken']], 'the files as changed, in filename order');
    t.is(await store.repoSerial('internal'), 3);
    t.is((await store.setYanked('internal', 'acme', '1.0', true, 'broken')).length, 0, 'already so');
    t.is(await store.repoSerial('internal'), 3);
    t.is((await store.setYanked('internal', 'acme', '1.0', true, 'other reason')).length, 2);
    const f = await store.getFile('internal', 'acme-1.0.tar.gz');
    t.true(f?.yanked);
    t.is(f?.yankedReason, 'other reason');
    t.is((await store.setYanked('internal', 'acme', '1.0', false, 'ignored')).length, 2);
    t.deepEqual([(await store.getFile('internal', 'acme-1.0.tar.gz'))?.yanked, (await store.getFile('internal', 'acme-1.0.tar.gz'))?.yankedReason], [false, null]);
    t.is((await store.setYanked('internal', 'acme', '9.9', true, null)).length, 0);
    t.is((await store.setYanked('internal', 'nope', '1.0', true, null)).length, 0);
    t.deepEqual(await store.projectsChangedSince('internal', 4), [{ name: 'acme', displayName: 'Acme', present: true }]);
    t.deepEqual(await store.projectsChangedSince('internal', 5), []);
  });

  test(name('project names: keyset pages in byte order'), async (t) => {
    const { store } = await open(t);
    // Byte order puts upper case and '-' before lower case, whatever the locale.
    const names = ['b-b', 'bb', 'a', 'b_b', 'Zed', 'c'];
    for (const [i, n] of names.entries()) {
      await store.addFile(newFile({ filename: `${n}-1.0.tar.gz`, project: n, displayName: n.toUpperCase(), sha256: sha(String(i)) }), { overwrite: false, actor: ACTOR });
    }
    const sorted = [...names].sort();
    t.deepEqual((await store.listProjects('internal')).map((p) => p.name), sorted);
    const first = await store.projectNames('internal', '', 4);
    t.deepEqual(first.map((p) => p.name), sorted.slice(0, 4));
    t.is(first[0]?.displayName, sorted[0]!.toUpperCase());
    t.deepEqual((await store.projectNames('internal', first.at(-1)!.name, 4)).map((p) => p.name), sorted.slice(4));
  });

  test(name('blobs: in use, references, repository blobs; maintenance runs; instance id'), async (t) => {
    const { store, remoteStore } = await open(t);
    t.false(await store.blobInUse(sha('a')));
    await store.addFile(newFile({ filename: 'acme-1.0-py3-none-any.whl' }), { overwrite: false, actor: ACTOR });
    await remoteStore.savePage('pypi', 'acme', okPage([remoteFile('acme-1.0-py3-none-any.whl', 'a', { metadataSha256: sha('m') }), remoteFile('acme-2.0.tar.gz', 'c')]), 1000);
    await remoteStore.saveWheelMetadata({ sha256: sha('c'), filename: 'acme-2.0.tar.gz', metadataSha256: sha('w'), method: 'range', failure: null, at: '2026-12-01T00:00:00Z' });
    await remoteStore.recordCached('mirror', { sha256: sha('k'), size: 5 }, 1000, 'p');
    for (const c of 'acmwk') t.true(await store.blobInUse(sha(c)), c);
    t.false(await store.blobInUse(sha('z')));
    t.deepEqual(await store.blobReferences(sha('a')), [
      { repo: 'internal', filename: 'acme-1.0-py3-none-any.whl', hosted: true, metadata: false },
      { repo: 'pypi', filename: 'acme-1.0-py3-none-any.whl', hosted: false, metadata: false },
    ]);
    t.deepEqual(await store.blobReferences(sha('w')), [{ repo: 'pypi', filename: 'acme-2.0.tar.gz', hosted: false, metadata: true }]);
    t.deepEqual(await store.blobReferences(sha('m')), [{ repo: 'pypi', filename: 'acme-1.0-py3-none-any.whl', hosted: false, metadata: true }]);
    t.deepEqual((await store.repoBlobs('pypi')).sort(), [sha('a'), sha('c'), sha('m'), sha('w')].sort());
    t.deepEqual(await store.repoBlobs('internal'), [sha('a')]);

    t.is(await store.lastRun('gc'), null);
    await store.recordRun('gc', 1234, { removed: 2, bytes: 10 });
    await store.recordRun('gc', 1235, { removed: 3 });
    t.deepEqual(await store.lastRun('gc'), { at: 1235, summary: { removed: 3 } });
    t.is(await store.lastRun('scrub'), null);

    const id = await store.instanceId();
    t.regex(id, /^[0-9a-f]{32}$/);
    t.is(await store.instanceId(), id);
    await t.notThrowsAsync(store.check());
  });

  test(name('remote pages: serial changes only with content; touch; body; missing pages pruned'), async (t) => {
    const { remoteStore: rs } = await open(t);
    t.is(await rs.getPage('pypi', 'acme'), null);
    const files = [remoteFile('acme-1.0.tar.gz', 'a')];
    const s1 = await rs.savePage('pypi', 'acme', okPage(files), 1000);
    t.deepEqual(s1, { state: 'ok', checkedAt: 1000, etag: '"e1"', lastModified: null, serial: 1, removed: 0 });
    const s2 = await rs.savePage('pypi', 'acme', { ...okPage(files), etag: '"e2"', lastModified: 'Mon' }, 2000);
    t.is(s2.serial, 1, 'same content: same serial');
    t.deepEqual(await rs.getPage('pypi', 'acme'), { state: 'ok', checkedAt: 2000, etag: '"e2"', lastModified: 'Mon', serial: 1 });
    const s3 = await rs.savePage('pypi', 'acme', okPage(files, '["changed"]'), 3000);
    t.is(s3.serial, 2);
    t.is(await rs.getPageBody('pypi', 'acme'), '["changed"]');
    await rs.touchPage('pypi', 'acme', 4000);
    t.is((await rs.getPage('pypi', 'acme'))?.checkedAt, 4000);
    const missing = { state: 'missing' as const, etag: null, lastModified: null, page: null, files: [] };
    const s4 = await rs.savePage('pypi', 'acme', missing, 5000);
    t.is(s4.serial, 3, 'ok → missing is a change');
    t.is(await rs.getPageBody('pypi', 'acme'), null);
    t.is(await rs.getPageBody('pypi', 'never'), null);

    for (let i = 0; i < 6; i++) await rs.savePage('pypi', `gone-${i}`, missing, 1000 + i);
    await rs.savePage('other', 'gone-0', missing, 0);
    // acme (5000) and gone-0..5 (1000..1005) are missing: drop those checked before 1002, then keep the newest 2.
    t.is(await rs.pruneMissing('pypi', 1002, 2), 5);
    t.truthy(await rs.getPage('pypi', 'acme'));
    t.truthy(await rs.getPage('pypi', 'gone-5'));
    t.is(await rs.getPage('pypi', 'gone-4'), null);
    t.truthy(await rs.getPage('other', 'gone-0'), 'other repositories untouched');
    t.is(await rs.pruneMissing('pypi', 0, 10), 0);

    // A page that lists one file twice (an upstream's mistake) keeps one row, the last listing's.
    const twice = [remoteFile('dup-1.0.tar.gz', 'd', { url: 'https://a/1' }), remoteFile('dup-1.0.tar.gz', 'd', { url: 'https://a/2' })];
    await rs.savePage('pypi', 'dup', okPage(twice.map((f) => ({ ...f, project: 'dup' }))), 1000);
    t.is((await rs.getFile('pypi', sha('d'), 'dup-1.0.tar.gz'))?.url, 'https://a/2');
    t.deepEqual([...(await rs.firstSeen('pypi', 'dup')).keys()], ['dup-1.0.tar.gz']);
  });

  test(name('remote pages: removals marked and cleared, causes, first seen, quarantine, removed report'), async (t) => {
    const { remoteStore: rs } = await open(t);
    const A = remoteFile('acme-1.0.tar.gz', 'a', { requiresPython: '>=3.9', uploadTime: '2026-01-01T00:00:00Z' });
    const B = remoteFile('acme-2.0.tar.gz', 'b');
    const C = remoteFile('acme-3.0.tar.gz', 'c');
    await rs.savePage('pypi', 'acme', okPage([A, B, C]), 1000);
    t.deepEqual(await rs.getFile('pypi', sha('a'), A.filename), {
      sha256: sha('a'), filename: A.filename, project: 'acme', url: A.url, size: 10, metadataSha256: null, uploadTime: '2026-01-01T00:00:00Z',
      requiresPython: '>=3.9', removedAt: null, removedCause: null,
    });
    t.is(await rs.getFile('pypi', sha('a'), 'other.tar.gz'), null);
    t.deepEqual(await rs.pageUsage('pypi'), { projects: 1, files: 3 });

    const r1 = await rs.savePage('pypi', 'acme', okPage([B, C]), 2000);
    t.is(r1.removed, 1);
    t.like(await rs.getFile('pypi', sha('a'), A.filename), { removedAt: 2000, removedCause: 'deleted' });
    t.deepEqual(await rs.pageUsage('pypi'), { projects: 1, files: 2 });
    const r2 = await rs.savePage('pypi', 'acme', { ...okPage([C]), removedCause: 'project-deleted' }, 3000);
    t.is(r2.removed, 1, 'A was removed before: only B is new');
    t.like(await rs.getFile('pypi', sha('a'), A.filename), { removedAt: 2000, removedCause: 'deleted' }, 'the first removal stands');
    t.like(await rs.getFile('pypi', sha('b'), B.filename), { removedAt: 3000, removedCause: 'project-deleted' });
    const unchanged = await rs.savePage('pypi', 'acme', { ...okPage([C]), removedCause: 'project-deleted' }, 3500);
    t.is(unchanged.removed, 0, 'same page: nothing reconciled');

    t.deepEqual((await rs.firstSeen('pypi', 'acme')).get(C.filename), 1000);
    // A listed again: no longer removed, and new again.
    await rs.savePage('pypi', 'acme', okPage([A, C]), 4000);
    t.like(await rs.getFile('pypi', sha('a'), A.filename), { removedAt: null, removedCause: null });
    const seen = await rs.firstSeen('pypi', 'acme');
    t.is(seen.get(A.filename), 4000);
    t.is(seen.get(C.filename), 1000, 'kept while listed');
    t.deepEqual([...seen.keys()], [B.filename, A.filename, C.filename], 'removed files first, then by filename, on every back end');

    const q = await rs.savePage('pypi', 'acme', { ...okPage([], '{"quarantined":true}'), removedCause: 'quarantined' }, 5000);
    t.is(q.removed, 2);
    t.like(await rs.getFile('pypi', sha('a'), A.filename), { removedAt: 5000, removedCause: 'quarantined' });
    t.like(await rs.getFile('pypi', sha('b'), B.filename), { removedAt: 3000, removedCause: 'quarantined' }, 'a quarantine covers earlier removals, keeping their time');

    await rs.savePage('mirror', 'acme', okPage([B]), 1000);
    await rs.savePage('mirror', 'acme', okPage([]), 6000);
    await rs.recordCached('mirror', { sha256: sha('b'), size: 10 }, 7000, 'p');
    const all = await rs.listRemoved({});
    t.deepEqual(all.map((r) => [r.repo, r.filename, r.removedAt, r.lastAccess]), [
      ['mirror', B.filename, 6000, 7000],
      ['pypi', A.filename, 5000, null],
      ['pypi', C.filename, 5000, null],
      ['pypi', B.filename, 3000, null],
    ]);
    t.deepEqual((await rs.listRemoved({ repo: 'pypi', since: 4000 })).map((r) => r.filename), [A.filename, C.filename]);
    t.like(all[0], { sha256: sha('b'), project: 'acme', url: B.url, size: 10, removedCause: 'deleted', requiresPython: null });
    // An evicted copy keeps its last download on the file's record.
    t.deepEqual(await rs.uncache('mirror', sha('b')), { heldElsewhere: false });
    t.is((await rs.listRemoved({ repo: 'mirror' }))[0]?.lastAccess, 7000);
  });

  test(name('remote pages: cached projects, wheel metadata, updatePageMetadata'), async (t) => {
    const { remoteStore: rs } = await open(t);
    const missing = { state: 'missing' as const, etag: null, lastModified: null, page: null, files: [] };
    for (const p of ['b', 'a', 'd']) await rs.savePage('pypi', p, okPage([], `{"p":"${p}"}`), 1);
    await rs.savePage('pypi', 'c', missing, 1);
    t.deepEqual(await rs.cachedProjects('pypi', '', 2), ['a', 'b']);
    t.deepEqual(await rs.cachedProjects('pypi', 'b', 10), ['d']);

    t.is(await rs.getWheelMetadata(sha('a'), 'x.whl'), null);
    const rec = { sha256: sha('a'), filename: 'x.whl', metadataSha256: null, method: 'full' as const, failure: 'bad zip', at: '2026-12-01T00:00:00Z' };
    await rs.saveWheelMetadata(rec);
    t.deepEqual(await rs.getWheelMetadata(sha('a'), 'x.whl'), rec);
    const ok = { ...rec, metadataSha256: sha('m'), method: 'range' as const, failure: null };
    await rs.saveWheelMetadata(ok);
    t.deepEqual(await rs.getWheelMetadata(sha('a'), 'x.whl'), ok, 'replaced');

    const X = remoteFile('acme-1.0-py3-none-any.whl', 'x');
    await rs.savePage('pypi', 'acme', okPage([X], 'v1'), 1000);
    const file = { sha256: sha('x'), filename: X.filename, metadataSha256: sha('m') };
    t.like(await rs.getPageWithBody('pypi', 'acme'), { state: 'ok', serial: 1, checkedAt: 1000, body: 'v1' });
    t.is(await rs.getPageWithBody('pypi', 'nope'), null);
    t.false(await rs.updatePageMetadata('pypi', 'acme', 0, 'v2', file), 'made from another serial than the stored page');
    t.true(await rs.updatePageMetadata('pypi', 'acme', 1, 'v2', file));
    t.deepEqual([(await rs.getPage('pypi', 'acme'))?.serial, (await rs.getPage('pypi', 'acme'))?.checkedAt], [2, 1000], 'serial bumped, freshness alone');
    t.is(await rs.getPageBody('pypi', 'acme'), 'v2');
    t.like(await rs.getPageWithBody('pypi', 'acme'), { serial: 2, body: 'v2' });
    t.is((await rs.getFile('pypi', sha('x'), X.filename))?.metadataSha256, sha('m'));
    t.true(await rs.updatePageMetadata('pypi', 'acme', 2, 'v2', file));
    t.is((await rs.getPage('pypi', 'acme'))?.serial, 2, 'same body: same serial');
    t.false(await rs.updatePageMetadata('pypi', 'c', 1, 'v', file), 'a missing page');
    t.false(await rs.updatePageMetadata('pypi', 'nope', 1, 'v', file));
  });

  test(name('root names: saved, replaced, keyset pages in byte order; serial and touch'), async (t) => {
    const { remoteStore: rs } = await open(t);
    t.is(await rs.getRoot('pypi'), null);
    await rs.saveRoot('pypi', [['b', 'a', 'B'], ['a-b', 'a_b', 'a']], '"r1"', null, 1000);
    t.deepEqual(await rs.getRoot('pypi'), { checkedAt: 1000, etag: '"r1"', lastModified: null, serial: 1 });
    const all = ['B', 'a', 'a-b', 'a_b', 'b'];
    t.deepEqual(await rs.rootNames('pypi', '', 100), all);
    t.deepEqual(await rs.rootNames('pypi', '', 2), all.slice(0, 2));
    t.deepEqual(await rs.rootNames('pypi', 'a', 2), all.slice(2, 4));
    await rs.saveRoot('pypi', [['z']], null, 'Tue', 2000);
    t.deepEqual(await rs.getRoot('pypi'), { checkedAt: 2000, etag: null, lastModified: 'Tue', serial: 2 });
    t.deepEqual(await rs.rootNames('pypi', '', 100), ['z']);
    await rs.touchRoot('pypi', 3000);
    t.is((await rs.getRoot('pypi'))?.checkedAt, 3000);
    t.deepEqual(await rs.rootNames('other', '', 100), []);
  });

  test(name('root names: a save written batch by batch is seen whole or not at all; a failed one keeps the list; of two at once the later started wins'), async (t) => {
    const { remoteStore: rs } = await open(t);
    // Large enough that the old list goes in several batches.
    const big = Array.from({ length: 12_001 }, (_, i) => `old-${String(i).padStart(5, '0')}`);
    await rs.saveRoot('pypi', [big.slice(0, 6000), big.slice(6000)], '"r1"', null, 1000);
    t.deepEqual(await rs.rootNames('pypi', 'old-05998', 3), ['old-05999', 'old-06000', 'old-06001']);
    const seen: string[][] = [];
    async function* batches(): AsyncGenerator<string[]> {
      yield ['n-1', 'n-2'];
      seen.push(await rs.rootNames('pypi', 'old-11999', 100));
      yield ['n-3', 'n-2'];
      seen.push(await rs.rootNames('pypi', 'old-11999', 100));
      yield [];
    }
    await rs.saveRoot('pypi', batches(), '"r2"', null, 2000);
    t.deepEqual(seen, [['old-12000'], ['old-12000']], 'the previous list while the new one is written');
    t.deepEqual(await rs.rootNames('pypi', '', 100), ['n-1', 'n-2', 'n-3'], 'then the new one, whole');
    t.like(await rs.getRoot('pypi'), { checkedAt: 2000, etag: '"r2"', serial: 2 });

    // A download cut short: the list, its serial and its freshness stay; the next save has nothing of it.
    async function* cut(): AsyncGenerator<string[]> {
      yield ['cut-1'];
      throw new Error('connection reset');
    }
    await t.throwsAsync(rs.saveRoot('pypi', cut(), '"r3"', null, 3000), { message: 'connection reset' });
    t.deepEqual(await rs.rootNames('pypi', '', 100), ['n-1', 'n-2', 'n-3']);
    t.like(await rs.getRoot('pypi'), { checkedAt: 2000, etag: '"r2"', serial: 2 });
    await rs.saveRoot('pypi', [['z']], null, null, 4000);
    t.deepEqual(await rs.rootNames('pypi', '', 100), ['z']);
    const serial = (await rs.getRoot('pypi'))!.serial;
    t.true(serial > 2, 'a new serial');

    // Two saves at once (a lease that lapsed): the one started later wins, whichever ends first.
    let started!: () => void;
    const reserved = new Promise<void>((resolve) => { started = resolve; });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    async function* slow(): AsyncGenerator<string[]> {
      started();
      yield ['earlier-1'];
      await gate;
      yield ['earlier-2'];
    }
    const earlier = rs.saveRoot('pypi', slow(), '"earlier"', null, 5000);
    await reserved;
    await rs.saveRoot('pypi', [['later']], '"later"', null, 6000);
    t.deepEqual(await rs.rootNames('pypi', '', 100), ['later']);
    release();
    await earlier;
    t.deepEqual(await rs.rootNames('pypi', '', 100), ['later']);
    t.like(await rs.getRoot('pypi'), { etag: '"later"', checkedAt: 6000 });
    t.true((await rs.getRoot('pypi'))!.serial > serial);
    await rs.saveRoot('pypi', [['last']], null, null, 7000);
    t.deepEqual(await rs.rootNames('pypi', '', 100), ['last']);
  });

  test(name('cached files: record, touch, usage, LRU pages, uncache, uncache everywhere, adopt'), async (t) => {
    const { store, remoteStore: rs } = await open(t);
    await rs.recordCached('pypi', { sha256: sha('a'), size: 10 }, 1000, 'p1');
    await rs.recordCached('pypi', { sha256: sha('b'), size: 20 }, 1000, 'p1');
    await rs.recordCached('pypi', { sha256: sha('c'), size: 30 }, 3000, 'p1');
    await rs.recordCached('pypi', { sha256: sha('a'), size: 10 }, 500, 'p2');
    t.deepEqual(await rs.cacheUsage('pypi'), { files: 3, bytes: 60 });
    t.deepEqual(await rs.cacheUsage('none'), { files: 0, bytes: 0 });
    const lru = await rs.leastRecentlyUsed('pypi', null, 10);
    t.deepEqual(lru.map((r) => [r.sha256[0], r.lastAccess, r.accessedBy]), [['a', 1000, 'p2'], ['b', 1000, 'p1'], ['c', 3000, 'p1']], 'an older time never moves last access back');
    t.is(lru[0]?.cachedAt, 1000);
    t.is(lru[0]?.size, 10);
    await rs.touchCached('pypi', [{ sha256: sha('a'), at: 5000 }, { sha256: sha('b'), at: 900 }, { sha256: sha('z'), at: 5000 }], 'p3');
    const page1 = await rs.leastRecentlyUsed('pypi', null, 1);
    t.deepEqual(page1.map((r) => [r.sha256[0], r.lastAccess]), [['b', 1000]]);
    const page2 = await rs.leastRecentlyUsed('pypi', { lastAccess: page1[0]!.lastAccess, sha256: page1[0]!.sha256 }, 5);
    t.deepEqual(page2.map((r) => [r.sha256[0], r.lastAccess, r.accessedBy]), [['c', 3000, 'p1'], ['a', 5000, 'p3']]);
    await rs.touchCached('pypi', [], 'p3');
    t.deepEqual((await rs.leastRecentlyUsed('pypi', null, 10)).map((r) => r.sha256[0]), ['b', 'c', 'a'], 'a missing row is not created');

    await rs.recordCached('mirror', { sha256: sha('c'), size: 30 }, 1000, 'p1');
    t.deepEqual(await rs.uncache('pypi', sha('c')), { heldElsewhere: true }, 'another remote holds it');
    t.deepEqual(await rs.uncache('pypi', sha('b')), { heldElsewhere: false });
    await store.addFile(newFile({ filename: 'acme-1.0.tar.gz', sha256: sha('a') }), { overwrite: false, actor: ACTOR });
    t.deepEqual(await rs.uncache('pypi', sha('a')), { heldElsewhere: true }, 'a hosted file holds it');
    t.deepEqual(await rs.cacheUsage('pypi'), { files: 0, bytes: 0 });

    await rs.recordCached('pypi', { sha256: sha('c'), size: 30 }, 1000, 'p1');
    t.deepEqual((await rs.uncacheEverywhere(sha('c'))).sort(), ['mirror', 'pypi']);
    t.deepEqual(await rs.uncacheEverywhere(sha('c')), []);

    await rs.savePage('pypi', 'acme', okPage([remoteFile('acme-1.0.tar.gz', 'd')]), 1);
    await rs.savePage('mirror', 'acme', okPage([remoteFile('acme-1.0.tar.gz', 'd'), remoteFile('acme-1.0.zip', 'd')]), 1);
    await rs.recordCached('mirror', { sha256: sha('d'), size: 7 }, 10, 'p1');
    t.is(await rs.adoptCached(sha('d'), 7, 99), 1, 'only the remote without a row, once');
    t.is(await rs.adoptCached(sha('d'), 7, 99), 0);
    t.like((await rs.leastRecentlyUsed('pypi', null, 10))[0], { sha256: sha('d'), size: 7, cachedAt: 99, lastAccess: 99, accessedBy: 'adopted' });
  });

  test(name('squats: new projects and versions, list order, count'), async (t) => {
    const { squats } = await open(t);
    t.deepEqual(await squats.recordSquat('pypi', 'acme', 'hosted', ['1.0', '2.0'], '2026-12-01T00:00:00Z'), { newProject: true, newVersions: ['1.0', '2.0'] });
    t.deepEqual(await squats.recordSquat('pypi', 'acme', 'internal-pattern', ['3.0', '2.0', '3.0'], '2026-12-02T00:00:00Z'), { newProject: false, newVersions: ['3.0'] });
    await squats.recordSquat('mirror', 'acme', 'hosted', [], '2026-12-03T00:00:00Z');
    await squats.recordSquat('pypi', 'aaa', 'hosted', ['0.1'], '2026-12-03T00:00:00Z');
    t.is(await squats.squatCount(), 2);
    const list = await squats.listSquats();
    t.deepEqual(list.map((s) => [s.project, s.remote]), [['aaa', 'pypi'], ['acme', 'mirror'], ['acme', 'pypi']]);
    t.deepEqual(list[2], {
      remote: 'pypi', project: 'acme', reason: 'internal-pattern', firstSeen: '2026-12-01T00:00:00Z', lastSeen: '2026-12-02T00:00:00Z',
      versions: [{ version: '1.0', firstSeen: '2026-12-01T00:00:00Z' }, { version: '2.0', firstSeen: '2026-12-01T00:00:00Z' }, { version: '3.0', firstSeen: '2026-12-02T00:00:00Z' }],
    });
    t.deepEqual(list[1]?.versions, []);
  });

  test(name('users and tokens: add, password, list, revoke, touch, remove with tokens; secrets'), async (t) => {
    const { users } = await open(t);
    t.true(await users.addUser('bob', 'h1', '2026-01-01'));
    t.false(await users.addUser('bob', 'h2', '2026-01-02'), 'taken');
    t.true(await users.addUser('alice', 'h3', '2026-01-03'));
    t.deepEqual(await users.getUser('bob'), { name: 'bob', passwordHash: 'h1', createdAt: '2026-01-01', updatedAt: '2026-01-01' });
    t.true(await users.setPassword('bob', 'h4', '2026-01-04'));
    t.false(await users.setPassword('nobody', 'h4', '2026-01-04'));
    t.like(await users.getUser('bob'), { passwordHash: 'h4', updatedAt: '2026-01-04' });
    t.deepEqual((await users.listUsers()).map((u) => u.name), ['alice', 'bob']);
    t.is(await users.getUser('nobody'), null);

    const token = (id: string, user: string, createdAt: string, repos: string[] | null) => ({
      id, user, hash: `hash-${id}`, repos, scope: 'upload' as const, description: id === 't1' ? 'ci' : null,
      createdAt, expiresAt: id === 't1' ? '2027-01-01' : null, revokedAt: null, lastUsedAt: null,
    });
    await users.addToken(token('t2', 'bob', '2026-02-01', null));
    await users.addToken(token('t1', 'bob', '2026-02-01', ['internal', 'other']));
    await users.addToken(token('t3', 'alice', '2026-03-01', []));
    const { hash: _hash, ...t1 } = token('t1', 'bob', '2026-02-01', ['internal', 'other']);
    t.deepEqual(await users.tokenByHash('hash-t1'), t1);
    t.is(await users.tokenByHash('nope'), null);
    t.deepEqual((await users.listTokens()).map((x) => x.id), ['t3', 't1', 't2']);
    t.deepEqual((await users.listTokens('bob')).map((x) => x.id), ['t1', 't2']);
    t.deepEqual((await users.tokenByHash('hash-t3'))?.repos, []);
    t.true(await users.revokeToken('t1', '2026-04-01'));
    t.false(await users.revokeToken('t1', '2026-04-02'), 'already revoked');
    t.false(await users.revokeToken('nope', '2026-04-02'));
    t.is((await users.tokenByHash('hash-t1'))?.revokedAt, '2026-04-01');
    await users.touchToken('t2', '2026-05-01');
    t.is((await users.tokenByHash('hash-t2'))?.lastUsedAt, '2026-05-01');
    t.true(await users.removeUser('bob'));
    t.false(await users.removeUser('bob'));
    t.deepEqual((await users.listTokens()).map((x) => x.id), ['t3'], 'the user\'s tokens went with them');

    const [s1, s2] = await Promise.all([users.secret('ui'), users.secret('ui')]);
    t.is(s1.length, 32);
    t.deepEqual(s1, s2, 'made once, even when asked for at once');
    t.deepEqual(await users.secret('ui'), s1);
    t.notDeepEqual(await users.secret('other'), s1);
  });

  test(name('audit: list in time order, filtered by repository and time'), async (t) => {
    const { audit } = await open(t);
    const e = (at: string, repo: string, action: 'yank' | 'delete' = 'yank') => ({
      at, actor: 'cli:root', tokenId: null, address: null, action, repo, project: 'acme', version: '1.0', filename: 'f', sha256: 's', detail: null,
    });
    await audit.record(e('2026-01-02T00:00:00Z', 'a'));
    await audit.record(e('2026-01-01T00:00:00Z', 'b', 'delete'));
    await audit.record(e('2026-01-02T00:00:00Z', 'b'));
    await audit.record(e('2026-01-03T00:00:00Z', 'a'));
    t.deepEqual((await audit.list({})).map((r) => [r.at, r.repo]), [
      ['2026-01-01T00:00:00Z', 'b'], ['2026-01-02T00:00:00Z', 'a'], ['2026-01-02T00:00:00Z', 'b'], ['2026-01-03T00:00:00Z', 'a'],
    ], 'by time, then in the order recorded');
    t.deepEqual((await audit.list({ repo: 'a' })).map((r) => r.at), ['2026-01-02T00:00:00Z', '2026-01-03T00:00:00Z']);
    t.deepEqual((await audit.list({ repo: 'b', since: '2026-01-02T00:00:00Z' })).map((r) => r.at), ['2026-01-02T00:00:00Z']);
    t.deepEqual((await audit.list({ since: '2026-01-03' })).length, 1);
    t.deepEqual((await audit.list({}))[0], e('2026-01-01T00:00:00Z', 'b', 'delete'));
  });

  test(name('cooldown: serial moves with add and revoke, each audited; list order'), async (t) => {
    const { cooldown, audit } = await open(t);
    t.is(await cooldown.serial(), 0);
    t.deepEqual(await cooldown.list(), []);
    const row = (id: string, createdAt: string, repo: string | null) => ({
      id, project: 'acme*', version: id === 'x2' ? '1.0' : null, repo, until: '2027-01-01T00:00:00Z', reason: 'urgent fix', createdAt, createdBy: 'alice',
    });
    await cooldown.add(row('x2', '2026-12-01T00:00:00Z', 'pypi'), ACTOR);
    await cooldown.add(row('x1', '2026-12-01T00:00:00Z', null), ACTOR);
    t.is(await cooldown.serial(), 2);
    t.deepEqual((await cooldown.list()).map((r) => r.id), ['x1', 'x2']);
    t.deepEqual((await cooldown.list())[1], { ...row('x2', '2026-12-01T00:00:00Z', 'pypi'), revokedAt: null, revokedBy: null });
    await t.throwsAsync(cooldown.add(row('x1', '2026-12-02T00:00:00Z', null), ACTOR), { any: true }, 'the id is taken');
    t.is(await cooldown.serial(), 2, 'a failed add changes nothing');
    t.is((await audit.list({})).length, 2, 'and records nothing');
    const revoked = await cooldown.revoke('x2', '2026-12-05T00:00:00Z', ACTOR);
    t.deepEqual(revoked, { ...row('x2', '2026-12-01T00:00:00Z', 'pypi'), revokedAt: '2026-12-05T00:00:00Z', revokedBy: 'alice' });
    t.is(await cooldown.revoke('x2', '2026-12-06T00:00:00Z', ACTOR), null, 'already revoked');
    t.is(await cooldown.revoke('nope', '2026-12-06T00:00:00Z', ACTOR), null);
    t.is(await cooldown.serial(), 3);
    t.deepEqual((await audit.list({})).map((r) => [r.action, r.repo, r.project, r.version, r.detail, r.actor, r.tokenId]), [
      ['cooldown-allow', 'pypi', 'acme*', '1.0', 'id x2, until 2027-01-01T00:00:00Z: urgent fix', 'alice', 'tok1'],
      ['cooldown-allow', '*', 'acme*', '', 'id x1, until 2027-01-01T00:00:00Z: urgent fix', 'alice', 'tok1'],
      ['cooldown-revoke', 'pypi', 'acme*', '1.0', 'id x2', 'alice', 'tok1'],
    ]);
  });

  test(name('concurrent writers: each change takes its own serial; a page saved twice at once; a squat new once'), async (t) => {
    const { store, remoteStore: rs, squats } = await open(t);
    await Promise.all(Array.from({ length: 8 }, (_, i) =>
      store.addFile(newFile({ filename: `p${i}-1.0.tar.gz`, project: `p${i}`, sha256: sha(String(i)) }), { overwrite: false, actor: ACTOR })));
    t.is(await store.repoSerial('internal'), 8);
    t.deepEqual((await store.listProjects('internal')).map((p) => p.serial).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);

    const saves = await Promise.all(['one', 'two', 'three'].map((body) => rs.savePage('pypi', 'acme', okPage([], body), 1000)));
    t.deepEqual(saves.map((s) => s.serial).sort(), [1, 2, 3], 'each different body saw the one before it');
    t.is((await rs.getPage('pypi', 'acme'))?.serial, 3);

    const seen = await Promise.all([1, 2, 3].map(() => squats.recordSquat('pypi', 'acme', 'hosted', ['1.0'], '2026-12-01T00:00:00Z')));
    t.is(seen.filter((r) => r.newProject).length, 1);
    t.is(seen.filter((r) => r.newVersions.length > 0).length, 1);
  });

  test(name('leases: acquire, renew, take over, release, live, holder; expiry'), async (t) => {
    const { leases } = await open(t);
    const before = Date.now();
    t.true(await leases.tryAcquire('file:a', 'p1', 60_000));
    t.false(await leases.tryAcquire('file:a', 'p2', 60_000));
    t.true(await leases.tryAcquire('file:a', 'p1', 60_000), 'the holder may take it again');
    t.true(await leases.tryAcquire('file:b', 'p2', 60_000), 'keys are independent');
    const held = await leases.holder('file:a');
    t.is(held?.owner, 'p1');
    // The database's clock on a PostgreSQL store: the same machine's here, give or take.
    t.true(held!.expiresAt >= before + 60_000 - 1000 && held!.expiresAt <= Date.now() + 60_000 + 1000, `${held?.expiresAt}`);
    t.true(await leases.renew('file:a', 'p1', 120_000));
    t.true((await leases.holder('file:a'))!.expiresAt > held!.expiresAt + 30_000);
    t.false(await leases.renew('file:a', 'p2', 60_000));
    t.false(await leases.takeOver('file:a', 'p2', 'p3', 60_000), 'from someone who does not hold it');
    t.true(await leases.takeOver('file:a', 'p1', 'p3', 60_000));
    t.is((await leases.holder('file:a'))?.owner, 'p3');
    await leases.release('file:a', 'p1');
    t.is((await leases.holder('file:a'))?.owner, 'p3', 'a release by a non-holder does nothing');
    t.deepEqual((await leases.live('file:')).sort(), ['file:a', 'file:b']);
    t.deepEqual(await leases.live('server:'), []);
    await leases.release('file:a', 'p3');
    t.is(await leases.holder('file:a'), null);
    t.true(await leases.tryAcquire('file:a', 'p4', 60_000));

    // Expiry: a short lease lapses by itself, and then anyone may take it
    // (short, yet long enough for the next call on a loaded machine).
    t.true(await leases.tryAcquire('job:x', 'p1', 1000));
    t.false(await leases.tryAcquire('job:x', 'p2', 60_000));
    const start = Date.now();
    while (await leases.holder('job:x') !== null) {
      if (Date.now() - start > 5000) t.fail('the lease never lapsed');
      await new Promise((r) => setTimeout(r, 10));
    }
    t.deepEqual((await leases.live('job:')), []);
    t.true(await leases.tryAcquire('job:x', 'p2', 60_000), 'expired: another takes it');
    t.false(await leases.renew('job:x', 'p1', 60_000), 'the old holder has lost it');
  });
}
