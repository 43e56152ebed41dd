import test, { type ExecutionContext } from 'ava';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { openTestStorage } from '../helpers/test-backend.ts';
import { eventually } from '../helpers/storage.ts';
import { upload } from '../helpers/upload.ts';

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';

type JsonFile = { filename: string; url: string; hashes: { sha256: string }; yanked: unknown; 'requires-python': string | null; 'core-metadata': unknown };
type JsonPage = { name: string; files: JsonFile[]; versions: string[] };

async function page(s: TestServer, path: string): Promise<{ status: number; etag: string | null; body: JsonPage | null; text: string }> {
  const res = await fetch(`${s.url}${path}`, { headers: { Accept: JSON_ACCEPT } });
  const text = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), body: res.status === 200 ? (JSON.parse(text) as JsonPage) : null, text };
}

async function put(s: TestServer, repo: string, dist: BuiltDist, name: string, version: string): Promise<void> {
  const res = await upload(`${s.url}/${repo}/`, dist, name, version);
  if (res.status !== 200) throw new Error(`upload of ${dist.filename} to ${repo}: ${res.status} ${await res.text()}`);
}

/** internal (local) + pypi (remote on a fake upstream) merged as `all`, the default. */
async function setup(t: ExecutionContext, all: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const up = await FakeUpstream.start(t);
  const s = await startTestServer(t, {
    defaultRepository: 'all',
    repositories: {
      internal: { type: 'local', upload: ['ci'] },
      pypi: { type: 'remote', url: up.url, timeout: 2 },
      all: { type: 'virtual', members: ['internal', 'pypi'], ...all },
      ...extra,
    },
  });
  return { s, up };
}

const ATTACK = { name: 'acme-internal-utils', version: '1.0.0' };

async function squatUpstream(up: FakeUpstream): Promise<BuiltDist> {
  const evil = await buildWheel({ name: ATTACK.name, version: '99.0.0' });
  up.addProject(ATTACK.name, [{ dist: evil }]);
  return evil;
}

function versionsOn(p: JsonPage | null): string[] {
  return p?.versions ?? [];
}

test('a project page is the union of the members, both formats, every attribute kept', async (t) => {
  const { s, up } = await setup(t);
  const local = await buildWheel({ name: 'shared-lib', version: '1.0', requiresPython: '>=3.8' });
  await put(s, 'internal', local, 'shared-lib', '1.0');
  const remoteWheel = await buildWheel({ name: 'requests', version: '2.32.0' });
  const remoteSdist = await buildSdist({ name: 'requests', version: '2.32.0' });
  up.addProject('requests', [{ dist: remoteWheel, requiresPython: '>=3.8' }, { dist: remoteSdist, yanked: 'bad sdist' }]);

  const r = await page(s, '/all/simple/requests/');
  t.is(r.status, 200);
  const w = r.body!.files.find((f) => f.filename === remoteWheel.filename)!;
  t.is(w.hashes.sha256, remoteWheel.sha256);
  t.is(w['requires-python'], '>=3.8');
  t.truthy(w['core-metadata']);
  t.is(w.url, `../../files/${remoteWheel.sha256}/${remoteWheel.filename}`);
  t.is(r.body!.files.find((f) => f.filename === remoteSdist.filename)!.yanked, 'bad sdist');

  const html = await (await fetch(`${s.url}/all/simple/shared-lib/`)).text();
  t.true(html.includes(`href="../../files/${local.sha256}/${local.filename}#sha256=${local.sha256}"`));
  t.true(html.includes('data-requires-python="&gt;=3.8"'));

  // Files through the virtual repository: local from disk, remote fetched and verified.
  const lf = await fetch(`${s.url}/all/files/${local.sha256}/${local.filename}`);
  t.is(lf.status, 200);
  t.deepEqual(Buffer.from(await lf.arrayBuffer()), local.bytes);
  const rf = await fetch(`${s.url}/all/files/${remoteWheel.sha256}/${remoteWheel.filename}`);
  t.is(rf.status, 200);
  t.deepEqual(Buffer.from(await rf.arrayBuffer()), remoteWheel.bytes);
  const meta = await fetch(`${s.url}/all/files/${remoteWheel.sha256}/${remoteWheel.filename}.metadata`);
  t.deepEqual(Buffer.from(await meta.arrayBuffer()), remoteWheel.metadata);
});

test('mergeUpstream: versions from both members, PEP 440 order, the earlier member wins a filename', async (t) => {
  const { s, up } = await setup(t, { mergeUpstream: ['Shared_Lib'] });
  const ours = await buildWheel({ name: 'shared-lib', version: '1.0', padBytes: 10 });
  const theirsSame = await buildWheel({ name: 'shared-lib', version: '1.0', padBytes: 20 });
  const theirs = await Promise.all(['1.0rc1', '1.0.post1', '1!0.1', '2.0'].map((v) => buildWheel({ name: 'shared-lib', version: v })));
  t.is(ours.filename, theirsSame.filename);
  t.not(ours.sha256, theirsSame.sha256);
  await put(s, 'internal', ours, 'shared-lib', '1.0');
  up.addProject('shared-lib', [theirsSame, ...theirs].map((dist) => ({ dist })));

  const r = await page(s, '/all/simple/shared-lib/');
  t.deepEqual(r.body!.versions, ['1.0rc1', '1.0', '1.0.post1', '2.0', '1!0.1']);
  const same = r.body!.files.filter((f) => f.filename === ours.filename);
  t.is(same.length, 1);
  t.is(same[0]!.hashes.sha256, ours.sha256, 'internal is listed first, so its bytes win');
  t.is(r.body!.files.length, 5);
  const html = await (await fetch(`${s.url}/all/simple/shared-lib/`)).text();
  t.false(html.includes(theirsSame.sha256));
});

test('dependency confusion: a hosted name never merges upstream files, and the remote is not asked', async (t) => {
  const { s, up } = await setup(t);
  const evil = await squatUpstream(up);
  const ours = await buildWheel(ATTACK);
  await put(s, 'internal', ours, ATTACK.name, ATTACK.version);

  const r = await page(s, `/simple/${ATTACK.name}/`);
  t.is(r.status, 200);
  t.deepEqual(versionsOn(r.body), ['1.0.0']);
  t.false(r.text.includes('99.0.0'));
  t.is(up.count(up.pageUrl(ATTACK.name)), 0, 'remote members are not even asked');
  // A file URL cannot reach around the rule either.
  t.is((await fetch(`${s.url}/simple/../all/files/${evil.sha256}/${evil.filename}`)).status, 404);
  t.is((await fetch(`${s.url}/files/${evil.sha256}/${evil.filename}`)).status, 404);
  // Logged once per project, counted every time.
  await page(s, `/simple/${ATTACK.name}/`);
  t.is(s.logs.filter((l) => String(l.msg).includes('dependency-confusion rule') && l.project === ATTACK.name && l.reason === 'hosted').length, 1);
  const metrics = await (await fetch(`${s.url}/-/metrics`)).text();
  t.regex(metrics, /pydepot_confusion_upstream_skipped_total\{repo="all",reason="hosted"\} 2/);
});

test('dependency confusion: an upload after the upstream page was cached still wins alone, and the squat is recorded', async (t) => {
  const { s, up } = await setup(t);
  await squatUpstream(up);
  const before = await page(s, `/simple/${ATTACK.name}/`);
  t.deepEqual(versionsOn(before.body), ['99.0.0'], 'before any upload the name is an ordinary public project');

  await put(s, 'internal', await buildWheel(ATTACK), ATTACK.name, ATTACK.version);
  const after = await page(s, `/simple/${ATTACK.name}/`);
  t.deepEqual(versionsOn(after.body), ['1.0.0']);
  t.not(after.etag, before.etag);

  // The watch records the squat in the background, after the page is served.
  await s.idle();
  const warnings = s.logs.filter((l) => l.level === 40 && l.project === ATTACK.name && l.remote === 'pypi');
  t.is(warnings.length, 1, 'one warning per squatted name');
  t.deepEqual(warnings[0]!.versions, ['99.0.0']);
  await page(s, `/simple/${ATTACK.name}/`);
  await s.idle();
  t.is(s.logs.filter((l) => l.level === 40 && l.project === ATTACK.name && l.remote === 'pypi').length, 1);
  const metrics = await (await fetch(`${s.url}/-/metrics`)).text();
  t.regex(metrics, /pydepot_confusion_squatted_projects 1/);
});

test('an upstream page fetched for any reason records a squat on a hosted name', async (t) => {
  const { s, up } = await setup(t);
  await put(s, 'internal', await buildWheel(ATTACK), ATTACK.name, ATTACK.version);
  await squatUpstream(up);
  // Someone browses the remote directly: the page is fetched, served there, and recorded.
  t.is((await page(s, `/pypi/simple/${ATTACK.name}/`)).status, 200);
  // The watch records it in the background, after the page is served.
  await s.idle();
  t.true(s.logs.some((l) => l.level === 40 && l.project === ATTACK.name && l.reason === 'hosted'), 'the squat warning');
});

test('internal patterns: an upstream project matching one is not served at all, nor listed', async (t) => {
  const { s, up } = await setup(t, { internal: ['ACME_*'] });
  up.addProject('acme-secret', [{ dist: await buildWheel({ name: 'acme-secret', version: '9.0' }) }]);
  up.addProject('requests', [{ dist: await buildWheel({ name: 'requests', version: '2.0' }) }]);

  const r = await page(s, '/simple/acme-secret/');
  t.is(r.status, 404);
  t.is(up.count(up.pageUrl('acme-secret')), 0);
  t.is((await page(s, '/simple/requests/')).status, 200);
  const root = await (await fetch(`${s.url}/simple/`, { headers: { Accept: JSON_ACCEPT } })).json() as { projects: { name: string }[] };
  const names = root.projects.map((p) => p.name);
  t.true(names.includes('requests'));
  t.false(names.includes('acme-secret'));
  t.truthy(s.logs.find((l) => l.project === 'acme-secret' && l.reason === 'internal-pattern'));
});

test('mergeUpstream overrides a pattern and a hosted name', async (t) => {
  const { s, up } = await setup(t, { internal: ['acme-*'], mergeUpstream: [ATTACK.name] });
  await squatUpstream(up);
  await put(s, 'internal', await buildWheel(ATTACK), ATTACK.name, ATTACK.version);
  t.deepEqual(versionsOn((await page(s, `/simple/${ATTACK.name}/`)).body), ['1.0.0', '99.0.0']);
});

test('nested virtual repositories: a local member inside a nested member still keeps upstream out', async (t) => {
  const up = await FakeUpstream.start(t);
  await squatUpstream(up);
  up.addProject('requests', [{ dist: await buildWheel({ name: 'requests', version: '2.0' }) }]);
  const s = await startTestServer(t, {
    defaultRepository: 'outer',
    repositories: {
      // Declared before its members on purpose.
      outer: { type: 'virtual', members: ['pypi', 'team'] },
      team: { type: 'virtual', members: ['internal'] },
      internal: { type: 'local', upload: ['ci'] },
      pypi: { type: 'remote', url: up.url, timeout: 2 },
    },
  });
  await put(s, 'internal', await buildWheel(ATTACK), ATTACK.name, ATTACK.version);
  t.deepEqual(versionsOn((await page(s, `/simple/${ATTACK.name}/`)).body), ['1.0.0']);
  t.is(up.count(up.pageUrl(ATTACK.name)), 0);
  t.deepEqual(versionsOn((await page(s, '/simple/requests/')).body), ['2.0']);
  const root = await (await fetch(`${s.url}/simple/`, { headers: { Accept: JSON_ACCEPT } })).json() as { projects: { name: string }[] };
  t.deepEqual(root.projects.map((p) => p.name), [ATTACK.name, 'requests']);
});

test('a nested virtual repository keeps its own rule when reached through another', async (t) => {
  const up = await FakeUpstream.start(t);
  up.addProject('acme-secret', [{ dist: await buildWheel({ name: 'acme-secret', version: '9.0' }) }]);
  const s = await startTestServer(t, {
    defaultRepository: 'outer',
    repositories: {
      internal: { type: 'local', upload: ['ci'] },
      pypi: { type: 'remote', url: up.url, timeout: 2 },
      team: { type: 'virtual', members: ['internal', 'pypi'], internal: ['acme-*'] },
      outer: { type: 'virtual', members: ['team'] },
    },
  });
  t.is((await page(s, '/simple/acme-secret/')).status, 404);
  t.is((await page(s, '/pypi/simple/acme-secret/')).status, 200, 'the remote itself still serves it');
});

test('the merged page is cached: its ETag changes exactly when a member changes', async (t) => {
  const { s, up } = await setup(t, { mergeUpstream: ['shared-lib'] }, {});
  // indexTtl 0: every request revalidates the upstream page.
  await s.stop(1000);
  const s2 = await startTestServer(t, {
    defaultRepository: 'all',
    repositories: {
      internal: { type: 'local', upload: ['ci'] },
      pypi: { type: 'remote', url: up.url, timeout: 2, indexTtl: 0 },
      all: { type: 'virtual', members: ['internal', 'pypi'], mergeUpstream: ['shared-lib'] },
    },
  }, s.storage);
  await put(s2, 'internal', await buildWheel({ name: 'shared-lib', version: '1.0' }), 'shared-lib', '1.0');
  up.addProject('shared-lib', [{ dist: await buildWheel({ name: 'shared-lib', version: '2.0' }) }]);

  const a = await page(s2, '/simple/shared-lib/');
  const b = await page(s2, '/simple/shared-lib/');
  t.truthy(a.etag);
  t.is(b.etag, a.etag, 'nothing changed, upstream revalidated with 304');
  const revalidated = await fetch(`${s2.url}/simple/shared-lib/`, { headers: { Accept: JSON_ACCEPT, 'If-None-Match': a.etag! } });
  t.is(revalidated.status, 304);

  await put(s2, 'internal', await buildWheel({ name: 'shared-lib', version: '1.1' }), 'shared-lib', '1.1');
  const c = await page(s2, '/simple/shared-lib/');
  t.not(c.etag, b.etag, 'an upload changes it');
  t.deepEqual(c.body!.versions, ['1.0', '1.1', '2.0']);

  up.addProject('shared-lib', [{ dist: await buildWheel({ name: 'shared-lib', version: '2.0' }) }, { dist: await buildWheel({ name: 'shared-lib', version: '3.0' }) }]);
  const d = await page(s2, '/simple/shared-lib/');
  t.not(d.etag, c.etag, 'an upstream change seen on revalidation changes it');
  t.deepEqual(d.body!.versions, ['1.0', '1.1', '2.0', '3.0']);
  t.is((await page(s2, '/simple/shared-lib/')).etag, d.etag);
});

test('a yank in a member changes the merged page', async (t) => {
  const { s } = await setup(t);
  await put(s, 'internal', await buildWheel({ name: 'acme-core', version: '1.0' }), 'acme-core', '1.0');
  const before = await page(s, '/simple/acme-core/');
  // As `pydepot yank` does it: another connection to the same database.
  const st = await openTestStorage(s.storage);
  await st.store.setYanked('internal', 'acme-core', '1.0', true, 'broken');
  await st.store.close();
  const after = await page(s, '/simple/acme-core/');
  t.not(after.etag, before.etag);
  t.is(after.body!.files[0]!.yanked, 'broken');
});

test('a member failing does not fail the page while others answer', async (t) => {
  const { s, up } = await setup(t);
  await put(s, 'internal', await buildWheel({ name: 'acme-core', version: '1.0' }), 'acme-core', '1.0');
  up.addProject('requests', [{ dist: await buildWheel({ name: 'requests', version: '2.0' }) }]);
  await up.stop();

  // acme-core is hosted, so the remote is not even asked; shared-lib is not, and the remote is down.
  t.deepEqual(versionsOn((await page(s, '/simple/acme-core/')).body), ['1.0']);
  await put(s, 'internal', await buildWheel({ name: 'shared-lib', version: '1.0' }), 'shared-lib', '1.0');
  t.is((await page(s, '/simple/shared-lib/')).status, 200);
  // A project only the dead upstream could answer for: the upstream's error, not a 404.
  const r = await page(s, '/simple/requests/');
  t.is(r.status, 502);
  t.regex(r.text, /not cached in repository 'pypi'/);
  // The root lists what the members that answer have.
  const root = await fetch(`${s.url}/simple/`, { headers: { Accept: JSON_ACCEPT } });
  t.is(root.status, 200);
  t.deepEqual(((await root.json()) as { projects: { name: string }[] }).projects.map((p) => p.name), ['acme-core', 'shared-lib']);
});

test('a member that recovers is merged again (its failure is not cached in the page)', async (t) => {
  const { s, up } = await setup(t, { mergeUpstream: ['shared-lib'] });
  await put(s, 'internal', await buildWheel({ name: 'shared-lib', version: '1.0' }), 'shared-lib', '1.0');
  up.addProject('shared-lib', [{ dist: await buildWheel({ name: 'shared-lib', version: '2.0' }) }]);
  up.pageFaults('shared-lib', { status: 503 });
  t.deepEqual(versionsOn((await page(s, '/simple/shared-lib/')).body), ['1.0']);
  up.clearFaults();
  t.deepEqual(versionsOn((await page(s, '/simple/shared-lib/')).body), ['1.0', '2.0']);
});

test('uploads: through uploadTo they land in the local member; without it 405 with a reason', async (t) => {
  const { s } = await setup(t, { uploadTo: 'internal' }, { plain: { type: 'virtual', members: ['internal'] } });
  const wheel = await buildWheel({ name: 'acme-new', version: '0.1' });
  const res = await upload(`${s.url}/all/`, wheel, 'acme-new', '0.1');
  t.is(res.status, 200);
  t.deepEqual(versionsOn((await page(s, '/internal/simple/acme-new/')).body), ['0.1']);
  t.deepEqual(versionsOn((await page(s, '/all/simple/acme-new/')).body), ['0.1']);

  const refused = await upload(`${s.url}/plain/`, wheel, 'acme-new', '0.1');
  t.is(refused.status, 405);
  t.regex(await refused.text(), /'plain' is a virtual repository and does not accept uploads; set 'uploadTo'/);
  const remote = await upload(`${s.url}/pypi/`, wheel, 'acme-new', '0.1');
  t.is(remote.status, 405);
});

test('the root page is the sorted union of the members, without duplicates', async (t) => {
  const { s, up } = await setup(t);
  for (const n of ['zeta', 'alpha', 'requests']) await put(s, 'internal', await buildWheel({ name: n, version: '1.0' }), n, '1.0');
  for (const n of ['requests', 'beta', 'omega']) up.addProject(n, [{ dist: await buildWheel({ name: n, version: '1.0' }) }]);
  const json = await (await fetch(`${s.url}/simple/`, { headers: { Accept: JSON_ACCEPT } })).json() as { projects: { name: string }[] };
  t.deepEqual(json.projects.map((p) => p.name), ['alpha', 'beta', 'omega', 'requests', 'zeta']);
  const html = await (await fetch(`${s.url}/simple/`)).text();
  t.is(html.match(/<a /g)?.length, 5);
  const etag = (await fetch(`${s.url}/simple/`)).headers.get('etag');
  await put(s, 'internal', await buildWheel({ name: 'gamma', version: '1.0' }), 'gamma', '1.0');
  t.not((await fetch(`${s.url}/simple/`)).headers.get('etag'), etag);
});

test('the legacy JSON API answers through a virtual repository', async (t) => {
  const { s } = await setup(t);
  await put(s, 'internal', await buildWheel({ name: 'acme-core', version: '1.0' }), 'acme-core', '1.0');
  const res = await fetch(`${s.url}/all/pypi/acme-core/json`);
  t.is(res.status, 200);
  const body = await res.json() as { info: { version: string }; urls: { url: string }[] };
  t.is(body.info.version, '1.0');
  t.true(body.urls[0]!.url.includes('/all/files/'));
});

test('the background check finds a squat on a hosted name that nobody asked for', async (t) => {
  const { s, up } = await setup(t, { squatCheckInterval: 1 });
  // The squat exists before the name is hosted: a check that ran between the upload and the
  // squat would get a 404, which the remote then remembers for negativeTtl (60 s).
  await squatUpstream(up);
  await put(s, 'internal', await buildWheel(ATTACK), ATTACK.name, ATTACK.version);
  await eventually(async () => s.logs.some((l) => l.level === 40 && l.project === ATTACK.name && l.remote === 'pypi'), 'the squat warning');
  const metrics = await (await fetch(`${s.url}/-/metrics`)).text();
  t.regex(metrics, /pydepot_confusion_squatted_projects 1/);
});
