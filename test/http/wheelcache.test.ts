/**
 * Wheel caches over HTTP: uploads to `cache` (augments the remote `pypi`, a
 * fake upstream on loopback) and the pages of the virtual `all` that merge
 * them into the upstream's pages.
 *
 *   internal: local · pypi: remote · cache: wheelcache (augments pypi)
 *   all: virtual [internal, pypi, cache], internal: ['acme-*']
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { buildSdist, buildWheel, type BuiltDist, type DistSpec } from '../helpers/dists.ts';
import { FakeUpstream, type UpstreamFile } from '../helpers/fake-upstream.ts';
import { pydepot } from '../helpers/cli.ts';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { storageCounts } from '../helpers/storage.ts';
import { upload } from '../helpers/upload.ts';
import { openTestStorage } from '../helpers/test-backend.ts';

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';

type JsonFile = {
  filename: string; url: string; hashes: { sha256: string }; yanked: unknown; size: number;
  'upload-time': string | null; 'core-metadata': unknown; _pydepot?: { source: string; repository: string };
};
type JsonPage = { name: string; files: JsonFile[]; versions: string[] };

const AARCH64 = { pythonTag: 'cp311', abiTag: 'cp311', platformTag: 'manylinux_2_28_aarch64' } satisfies Partial<DistSpec>;

// staleTimeout: 60 where a test reads what a revalidation brings: on a busy machine (PostgreSQL
// answering in tens of ms, not microseconds) it may take longer than the default 2 s, and the
// cached copy would be served instead.
async function setup(t: ExecutionContext, opts: { remote?: Record<string, unknown>; cache?: Record<string, unknown> } = {}) {
  const up = await FakeUpstream.start(t);
  const s = await startTestServer(t, {
    defaultRepository: 'all',
    repositories: {
      internal: { type: 'local', upload: ['ci'] },
      pypi: { type: 'remote', url: up.url, timeout: 2, ...opts.remote },
      cache: { type: 'wheelcache', augments: 'pypi', upload: ['ci'], ...opts.cache },
      all: { type: 'virtual', members: ['internal', 'pypi', 'cache'], internal: ['acme-*'] },
    },
  });
  return { s, up };
}

/** slowpkg: 0.9 with a pure wheel and an sdist, 1.0 as an sdist only (the release a node would build). */
async function slowpkg(up: FakeUpstream, extra: { yanked?: string; drop10?: boolean; status?: 'quarantined' } = {}): Promise<{ sdist10: BuiltDist; sdist09: BuiltDist; wheel09: BuiltDist }> {
  const sdist10 = await buildSdist({ name: 'slowpkg', version: '1.0' });
  const sdist09 = await buildSdist({ name: 'slowpkg', version: '0.9' });
  const wheel09 = await buildWheel({ name: 'slowpkg', version: '0.9' });
  const files: UpstreamFile[] = [{ dist: sdist09 }, { dist: wheel09 }];
  if (!extra.drop10) files.push({ dist: sdist10, ...(extra.yanked ? { yanked: extra.yanked } : {}) });
  up.addProject('slowpkg', files, extra.status ? { status: extra.status } : {});
  return { sdist10, sdist09, wheel09 };
}

function cacheWheel(spec: Partial<DistSpec> = {}): Promise<BuiltDist> {
  return buildWheel({ name: 'slowpkg', version: '1.0', ...AARCH64, ...spec });
}

async function put(s: TestServer, dist: BuiltDist, name = 'slowpkg', version = '1.0', repo = 'cache'): Promise<Response> {
  return upload(`${s.url}/${repo}/`, dist, name, version);
}

async function jsonPage(s: TestServer, path: string): Promise<{ status: number; etag: string | null; body: JsonPage | null }> {
  const res = await fetch(`${s.url}${path}`, { headers: { Accept: JSON_ACCEPT } });
  const text = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), body: res.status === 200 ? (JSON.parse(text) as JsonPage) : null };
}

function blobPath(s: TestServer, sha256: string): string {
  return join(s.storage, 'blobs', 'sha256', sha256.slice(0, 2), sha256.slice(2, 4), sha256);
}

async function auditOf(s: TestServer, repo: string) {
  const st = await openTestStorage(s.storage);
  try {
    return await st.audit.list({ repo });
  } finally {
    await st.store.close();
  }
}

/** A refusal: its status and one-line reason (phrase and body), and nothing of the upload kept anywhere. */
async function refused(t: ExecutionContext, s: TestServer, res: Response, status: number, reason: RegExp, dist: BuiltDist, project: string): Promise<void> {
  const body = await res.text();
  t.is(res.status, status, body);
  t.regex(res.statusText, reason);
  t.regex(body, reason);
  t.false(existsSync(blobPath(s, dist.sha256)), 'no blob');
  t.is((await storageCounts(s.storage)).tmp, 0, 'no temp file');
  t.is((await fetch(`${s.url}/cache/simple/${project}/`)).status, 404, 'nothing listed');
  t.deepEqual(await auditOf(s, 'cache'), [], 'nothing audited as stored');
}

async function metric(s: TestServer, line: RegExp): Promise<string | undefined> {
  const text = await (await fetch(`${s.url}/-/metrics`)).text();
  return text.split('\n').find((l) => line.test(l));
}

// --- accepted uploads, merged pages ---------------------------------------------

test('a wheel for an sdist-only upstream release is stored, audited, and merged into the upstream page in both formats', async (t) => {
  const { s, up } = await setup(t);
  const { sdist10, sdist09, wheel09 } = await slowpkg(up);
  const before = await jsonPage(s, '/all/simple/slowpkg/');
  const wheel = await cacheWheel();
  const started = Date.now();
  const res = await put(s, wheel);
  t.is(res.status, 200, await res.text());

  const merged = await jsonPage(s, '/all/simple/slowpkg/');
  t.not(merged.etag, before.etag, 'the page changed, so did its ETag');
  const names = merged.body!.files.map((f) => f.filename);
  t.deepEqual(names, [sdist09.filename, wheel09.filename, sdist10.filename, wheel.filename], "the upstream's files first, every version still listed");
  t.deepEqual(merged.body!.versions, ['0.9', '1.0']);
  const ours = merged.body!.files.at(-1)!;
  t.deepEqual(ours._pydepot, { source: 'wheelcache', repository: 'cache' });
  t.is(ours.hashes.sha256, wheel.sha256);
  t.is(ours.size, wheel.bytes.length);
  t.is(ours.yanked, false);
  t.true(Date.parse(ours['upload-time']!) >= started - 1000, 'its own upload time, not an upstream one');
  t.deepEqual(ours['core-metadata'], { sha256: (await import('node:crypto')).createHash('sha256').update(wheel.metadata).digest('hex') });
  t.is(merged.body!.files.find((f) => f.filename === sdist10.filename)!._pydepot, undefined, 'upstream files carry no extension key');

  const html = await (await fetch(`${s.url}/all/simple/slowpkg/`)).text();
  t.regex(html, new RegExp(`href="../../files/${wheel.sha256}/${wheel.filename}#sha256=${wheel.sha256}" data-dist-info-metadata="sha256=[0-9a-f]{64}" data-core-metadata="sha256=[0-9a-f]{64}">${wheel.filename}<`));
  t.true(html.includes(sdist10.filename) && html.includes(wheel09.filename));

  // The file and its PEP 658 metadata through the virtual repository, and through the cache itself.
  const got = await fetch(`${s.url}/simple/../all/files/${wheel.sha256}/${wheel.filename}`);
  t.is(got.status, 200);
  t.deepEqual(Buffer.from(await got.arrayBuffer()), wheel.bytes);
  const meta = await fetch(`${s.url}/files/${wheel.sha256}/${wheel.filename}.metadata`);
  t.deepEqual(Buffer.from(await meta.arrayBuffer()), wheel.metadata);
  t.is((await fetch(`${s.url}/cache/files/${wheel.sha256}/${wheel.filename}`)).status, 200);

  // The cache's own page lists its own files only.
  const own = await jsonPage(s, '/cache/simple/slowpkg/');
  t.deepEqual(own.body!.files.map((f) => f.filename), [wheel.filename]);
  t.deepEqual(own.body!.versions, ['1.0']);

  const [entry] = await auditOf(s, 'cache');
  t.like(entry, { actor: 'ci', tokenId: 'c1c1c1c1c1c1', address: '127.0.0.1', action: 'upload', project: 'slowpkg', filename: wheel.filename, sha256: wheel.sha256, detail: 'created' });
  t.regex((await metric(s, /^pydepot_wheelcache_uploads_total\{repo="cache",outcome="created"\}/))!, / 1$/);
  t.regex((await metric(s, /^pydepot_wheelcache_hits_total\{repo="cache"\}/))!, / 2$/);
});

test('an identical re-upload answers 200 and changes nothing', async (t) => {
  const { s, up } = await setup(t);
  await slowpkg(up);
  const wheel = await cacheWheel();
  t.is((await put(s, wheel)).status, 200);
  const before = await jsonPage(s, '/all/simple/slowpkg/');
  const again = await put(s, wheel);
  t.is(again.status, 200);
  t.regex(await again.text(), /identical content; nothing changed/);
  const after = await jsonPage(s, '/all/simple/slowpkg/');
  t.is(after.etag, before.etag);
  t.is(after.body!.files.filter((f) => f.filename === wheel.filename).length, 1);
  t.deepEqual((await auditOf(s, 'cache')).map((e) => e.detail), ['created', 'unchanged']);
});

test("a file identical to the upstream's own answers 200 and stores nothing", async (t) => {
  const { s, up } = await setup(t);
  const { wheel09 } = await slowpkg(up);
  const res = await put(s, wheel09, 'slowpkg', '0.9');
  t.is(res.status, 200);
  t.regex(await res.text(), /Upstream 'pypi' has this very file; nothing stored/);
  t.is((await fetch(`${s.url}/cache/simple/slowpkg/`)).status, 404);
});

test('Requires-Dist and Requires-Python are compared normalized: other spellings of the same dependencies pass', async (t) => {
  const { s, up } = await setup(t);
  const x86 = await buildWheel({ name: 'depx', version: '1.0', pythonTag: 'cp311', abiTag: 'cp311', platformTag: 'manylinux_2_17_x86_64', requiresDist: ['six>=1.0', 'numpy (>=1.22,<3); python_version>="3.9"'], requiresPython: '>=3.8' });
  up.addProject('depx', [{ dist: x86 }, { dist: await buildSdist({ name: 'depx', version: '1.0' }) }]);
  const ours = await buildWheel({ name: 'depx', version: '1.0', ...AARCH64, requiresDist: ['NumPy<3,>=1.22 ; python_version >= "3.9"', 'Six >= 1.0'], requiresPython: '>= 3.8' });
  const res = await put(s, ours, 'depx', '1.0');
  t.is(res.status, 200, await res.text());
});

test('allowNonPortable: true accepts a linux_* wheel deliberately', async (t) => {
  const { s, up } = await setup(t, { cache: { allowNonPortable: true } });
  await slowpkg(up);
  const res = await put(s, await cacheWheel({ platformTag: 'linux_x86_64' }));
  t.is(res.status, 200, await res.text());
});

// --- refusals: each says why, and nothing is stored ------------------------------

test('an sdist is refused', async (t) => {
  const { s, up } = await setup(t);
  await slowpkg(up);
  const sdist = await buildSdist({ name: 'slowpkg', version: '1.0', summary: 'ours' });
  await refused(t, s, await put(s, sdist), 400, /'slowpkg-1\.0\.tar\.gz' is an sdist; repository 'cache' takes wheels only/, sdist, 'slowpkg');
  t.regex((await metric(s, /outcome="sdist"/))!, / 1$/);
});

test('a wheel for a version the upstream lacks is refused, naming its latest versions', async (t) => {
  const { s, up } = await setup(t);
  await slowpkg(up);
  const wheel = await cacheWheel({ version: '2.0' });
  await refused(t, s, await put(s, wheel, 'slowpkg', '2.0'), 400, /Upstream 'pypi' has no release slowpkg 2\.0 \(its latest: 0\.9, 1\.0\); repository 'cache' only adds wheels/, wheel, 'slowpkg');
});

test('a wheel for a project the upstream does not have is refused', async (t) => {
  const { s } = await setup(t);
  const wheel = await buildWheel({ name: 'nowhere', version: '1.0', ...AARCH64 });
  await refused(t, s, await put(s, wheel, 'nowhere', '1.0'), 400, /Upstream 'pypi' has no project 'nowhere'/, wheel, 'nowhere');
});

test('an internal name is refused, hosted or matching a pattern, and the upstream is never asked about it', async (t) => {
  const { s, up } = await setup(t);
  // Squatted upstream: the same names exist on the public index.
  for (const name of ['team-lib', 'acme-tools']) up.addProject(name, [{ dist: await buildSdist({ name, version: '1.0' }) }]);
  t.is((await put(s, await buildWheel({ name: 'team-lib', version: '1.0' }), 'team-lib', '1.0', 'internal')).status, 200);

  const hosted = await buildWheel({ name: 'team-lib', version: '1.0', ...AARCH64 });
  await refused(t, s, await put(s, hosted, 'team-lib', '1.0'), 400, /'team-lib' is an internal name \(hosted by local repository 'internal'\); repository 'cache' only adds wheels to upstream projects/, hosted, 'team-lib');
  const patterned = await buildWheel({ name: 'acme-tools', version: '1.0', ...AARCH64 });
  await refused(t, s, await put(s, patterned, 'acme-tools', '1.0'), 400, /'acme-tools' is an internal name \(matches the internal patterns of virtual repository 'all'\)/, patterned, 'acme-tools');
  t.is(up.count(up.pageUrl('team-lib')) + up.count(up.pageUrl('acme-tools')), 0);
});

test('a wheel whose Requires-Dist differs from the upstream release is refused, naming the difference', async (t) => {
  const { s, up } = await setup(t);
  const x86 = await buildWheel({ name: 'depx', version: '1.0', pythonTag: 'cp311', abiTag: 'cp311', platformTag: 'manylinux_2_17_x86_64', requiresDist: ['six>=1.0', 'attrs'], requiresPython: '>=3.8' });
  up.addProject('depx', [{ dist: x86 }]);
  const evil = await buildWheel({ name: 'depx', version: '1.0', ...AARCH64, requiresDist: ['six>=1.0', 'evil-pkg'], requiresPython: '>=3.7' });
  await refused(t, s, await put(s, evil, 'depx', '1.0'), 400,
    /'depx-1\.0-cp311-cp311-manylinux_2_28_aarch64\.whl' declares other dependencies than the upstream's 'depx-1\.0-cp311-cp311-manylinux_2_17_x86_64\.whl': Requires-Dist adds 'evil-pkg' and lacks 'attrs'; Requires-Python is '>=3\.7', upstream's is '>=3\.8'/,
    evil, 'depx');
});

test('a filename the upstream has, with other bytes, is refused', async (t) => {
  const { s, up } = await setup(t);
  const { wheel09 } = await slowpkg(up);
  const other = await buildWheel({ name: 'slowpkg', version: '0.9', summary: 'rebuilt' });
  t.is(other.filename, wheel09.filename);
  await refused(t, s, await put(s, other, 'slowpkg', '0.9'), 400,
    new RegExp(`Upstream 'pypi' already has '${wheel09.filename}' with other bytes \\(sha256 ${wheel09.sha256}\\); a wheel cache never replaces an upstream file`), other, 'slowpkg');
});

test('a wheel for a platform an upstream wheel already serves is refused', async (t) => {
  const { s, up } = await setup(t);
  const abi3 = await buildWheel({ name: 'fastpkg', version: '1.0', pythonTag: 'cp38', abiTag: 'abi3', platformTag: 'manylinux_2_17_x86_64' });
  up.addProject('fastpkg', [{ dist: abi3 }]);
  const newer = await buildWheel({ name: 'fastpkg', version: '1.0', pythonTag: 'cp311', abiTag: 'cp311', platformTag: 'manylinux_2_28_x86_64' });
  await refused(t, s, await put(s, newer, 'fastpkg', '1.0'), 400, new RegExp(`Upstream 'pypi' already has '${abi3.filename}', which installs wherever`), newer, 'fastpkg');
  // Another architecture is what the cache is for.
  t.is((await put(s, await buildWheel({ name: 'fastpkg', version: '1.0', ...AARCH64 }), 'fastpkg', '1.0')).status, 200);
});

test('a linux_x86_64 wheel is refused by default, saying to repair it or allow it', async (t) => {
  const { s, up } = await setup(t);
  await slowpkg(up);
  const wheel = await cacheWheel({ platformTag: 'linux_x86_64' });
  await refused(t, s, await put(s, wheel), 400, /non-portable platform tag 'linux_x86_64'.*auditwheel.*allowNonPortable: true on repository 'cache'/, wheel, 'slowpkg');
});

test('a project the upstream quarantined takes no wheels', async (t) => {
  const { s, up } = await setup(t);
  await slowpkg(up, { status: 'quarantined' });
  const wheel = await cacheWheel();
  await refused(t, s, await put(s, wheel), 400, /Upstream 'pypi' has quarantined project 'slowpkg'/, wheel, 'slowpkg');
});

test('an unreachable upstream with nothing cached answers 503: the upload cannot be checked, so it is not accepted', async (t) => {
  const { s, up } = await setup(t);
  await slowpkg(up);
  await up.stop();
  const wheel = await cacheWheel();
  await refused(t, s, await put(s, wheel), 503, /Cannot check 'slowpkg-1\.0-cp311-cp311-manylinux_2_28_aarch64\.whl' against upstream 'pypi' \(.*\); nothing was stored, try again later/, wheel, 'slowpkg');
  t.regex((await metric(s, /outcome="cannot-check"/))!, / 1$/);
});

// --- the upstream's state wins ---------------------------------------------------

test("an upstream yank reaches the cache wheel at the next revalidation, with the upstream's reason", async (t) => {
  const { s, up } = await setup(t, { remote: { indexTtl: 0, staleTimeout: 60 } });
  await slowpkg(up);
  const wheel = await cacheWheel();
  t.is((await put(s, wheel)).status, 200);
  const before = await jsonPage(s, '/all/simple/slowpkg/');
  t.is(before.body!.files.find((f) => f.filename === wheel.filename)!.yanked, false);

  await slowpkg(up, { yanked: 'miscompiled' });
  const after = await jsonPage(s, '/all/simple/slowpkg/');
  t.not(after.etag, before.etag);
  t.is(after.body!.files.find((f) => f.filename === wheel.filename)!.yanked, 'miscompiled');
  const html = await (await fetch(`${s.url}/all/simple/slowpkg/`)).text();
  t.regex(html, new RegExp(`data-yanked="miscompiled">${wheel.filename}<`));
  t.is((await jsonPage(s, '/cache/simple/slowpkg/')).body!.files[0]!.yanked, 'miscompiled', "the cache's own page too");
  // Yanked files stay installable by an exact pin.
  t.is((await fetch(`${s.url}/all/files/${wheel.sha256}/${wheel.filename}`)).status, 200);
});

test('an upstream removal of the release hides the cache wheel at the next revalidation; its URL answers 404 with the reason', async (t) => {
  const { s, up } = await setup(t, { remote: { indexTtl: 0, staleTimeout: 60 } });
  await slowpkg(up);
  const wheel = await cacheWheel();
  t.is((await put(s, wheel)).status, 200);
  const before = await jsonPage(s, '/all/simple/slowpkg/');

  await slowpkg(up, { drop10: true });
  const after = await jsonPage(s, '/all/simple/slowpkg/');
  t.not(after.etag, before.etag);
  t.false(after.body!.files.some((f) => f.filename === wheel.filename));
  t.deepEqual(after.body!.versions, ['0.9']);
  for (const path of [`/all/files/${wheel.sha256}/${wheel.filename}`, `/all/files/${wheel.sha256}/${wheel.filename}.metadata`, `/cache/files/${wheel.sha256}/${wheel.filename}`]) {
    const res = await fetch(`${s.url}${path}`);
    t.is(res.status, 404, path);
    t.regex(res.statusText, /is hidden: upstream 'pypi' no longer lists release slowpkg 1\.0/);
  }
  t.is((await fetch(`${s.url}/cache/simple/slowpkg/`)).status, 404);

  // The release comes back: so does the wheel.
  await slowpkg(up);
  t.true((await jsonPage(s, '/all/simple/slowpkg/')).body!.files.some((f) => f.filename === wheel.filename));
});

test('a quarantined upstream project hides its cache wheels', async (t) => {
  const { s, up } = await setup(t, { remote: { indexTtl: 0, staleTimeout: 60 } });
  await slowpkg(up);
  const wheel = await cacheWheel();
  t.is((await put(s, wheel)).status, 200);
  await slowpkg(up, { status: 'quarantined' });
  const page = await jsonPage(s, '/all/simple/slowpkg/');
  t.deepEqual(page.body?.files ?? [], []);
  const res = await fetch(`${s.url}/all/files/${wheel.sha256}/${wheel.filename}`);
  t.is(res.status, 404);
  t.regex(res.statusText, /quarantined project 'slowpkg'/);
});

test('when the upstream publishes the same filename later, its file wins', async (t) => {
  const { s, up } = await setup(t, { remote: { indexTtl: 0, staleTimeout: 60 } });
  const { sdist10 } = await slowpkg(up);
  const ours = await cacheWheel();
  t.is((await put(s, ours)).status, 200);
  const theirs = await cacheWheel({ summary: 'official build' });
  t.is(theirs.filename, ours.filename);
  up.addProject('slowpkg', [{ dist: sdist10 }, { dist: theirs }]);
  const page = await jsonPage(s, '/all/simple/slowpkg/');
  const same = page.body!.files.filter((f) => f.filename === ours.filename);
  t.is(same.length, 1);
  console.log(JSON.stringify(s.logs.filter((l) => /slow|request/.test(String(l.msg))).map((l) => [l.msg, l.path, l.durationMs])));
  t.is(same[0]!.hashes.sha256, theirs.sha256);
  t.is(same[0]!._pydepot, undefined);
  t.is((await fetch(`${s.url}/all/files/${ours.sha256}/${ours.filename}`)).status, 404);
});

test('a name that becomes internal after the upload gets no cache wheels: the rule hides the upstream, and the cache with it', async (t) => {
  const { s, up } = await setup(t);
  await slowpkg(up);
  const wheel = await cacheWheel();
  t.is((await put(s, wheel)).status, 200);
  const mine = await buildWheel({ name: 'slowpkg', version: '5.0' });
  t.is((await put(s, mine, 'slowpkg', '5.0', 'internal')).status, 200);
  const page = await jsonPage(s, '/all/simple/slowpkg/');
  t.deepEqual(page.body!.files.map((f) => f.filename), [mine.filename]);
  t.is((await fetch(`${s.url}/all/files/${wheel.sha256}/${wheel.filename}`)).status, 404);
});

test('a cache wheel alone is no project of the virtual repository, nor a name on its root page', async (t) => {
  const { s, up } = await setup(t, { remote: { indexTtl: 0, negativeTtl: 0 } });
  await slowpkg(up);
  t.is((await put(s, await cacheWheel())).status, 200);
  up.removeProject('slowpkg');
  t.is((await fetch(`${s.url}/all/simple/slowpkg/`)).status, 404);
  const root = await (await fetch(`${s.url}/all/simple/`, { headers: { Accept: JSON_ACCEPT } })).json() as { projects: { name: string }[] };
  t.deepEqual(root.projects.map((p) => p.name), []);
});

test('pydepot delete and yank work on a cache wheel, and the merged page follows', async (t) => {
  const { s, up } = await setup(t);
  await slowpkg(up);
  const wheel = await cacheWheel();
  t.is((await put(s, wheel)).status, 200);
  const dir = await tempDir(t);
  const config = join(dir, 'c.yaml');
  await writeFile(config, `repositories:\n  pypi:\n    type: remote\n    url: ${up.url}\n  cache:\n    type: wheelcache\n    augments: pypi\n`);
  const cli = (...args: string[]) => pydepot([...args, '--config', config, '--storage', s.storage]);

  const y = await cli('yank', 'cache', 'slowpkg', '1.0', '--reason', 'bad build');
  t.is(y.code, 0, y.stderr);
  t.is((await jsonPage(s, '/all/simple/slowpkg/')).body!.files.find((f) => f.filename === wheel.filename)!.yanked, 'bad build');

  const d = await cli('delete', 'cache', 'slowpkg', '1.0', '--file', wheel.filename);
  t.is(d.code, 0, d.stderr);
  t.false((await jsonPage(s, '/all/simple/slowpkg/')).body!.files.some((f) => f.filename === wheel.filename));
  t.false(existsSync(blobPath(s, wheel.sha256)));
  t.deepEqual((await auditOf(s, 'cache')).map((e) => e.action), ['upload', 'yank', 'delete']);
});
