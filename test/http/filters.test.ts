/**
 * Per-view files filters (issue 13): a remote or virtual repository with
 * `files: {platforms, python, sdists}` lists only the upstream files its
 * cluster can use, in both page formats; a filtered file's URL is a 404
 * naming the filter; local and wheel-cache files are never filtered; the
 * page's ETag follows the filter.
 */
import test, { type ExecutionContext } from 'ava';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';
const FILTER = { platforms: ['manylinux*_x86_64', 'manylinux*_aarch64', 'any'], python: '>=3.10', sdists: false };

interface Native {
  keep: BuiltDist[];
  drop: { dist: BuiltDist; why: RegExp }[];
}

/** acme-native 1.0 in every flavour, and acme-pure: a py3 wheel for 2.0 and one for 1.0 that needs Python < 3.9. */
async function upstreamProjects(up: FakeUpstream): Promise<Native & { pure: BuiltDist; oldPure: BuiltDist }> {
  const w = (pythonTag: string, abiTag: string, platformTag: string) => buildWheel({ name: 'acme-native', version: '1.0', pythonTag, abiTag, platformTag });
  const keep = [
    await w('cp311', 'cp311', 'manylinux_2_17_x86_64'),
    await w('cp312', 'cp312', 'manylinux_2_28_aarch64'),
    await w('cp38', 'abi3', 'manylinux2014_x86_64'),
  ];
  const drop = [
    { dist: await w('cp311', 'cp311', 'win_amd64'), why: /\(platforms: manylinux\*_x86_64, manylinux\*_aarch64, any\)/ },
    { dist: await w('cp39', 'cp39', 'manylinux_2_17_x86_64'), why: /\(python: >=3\.10\)/ },
    { dist: await buildSdist({ name: 'acme-native', version: '1.0' }), why: /\(sdists: false\)/ },
  ];
  up.addProject('acme-native', [...keep, ...drop.map((d) => d.dist)].map((dist) => ({ dist })));
  const pure = await buildWheel({ name: 'acme-pure', version: '2.0' });
  const oldPure = await buildWheel({ name: 'acme-pure', version: '1.0' });
  up.addProject('acme-pure', [{ dist: oldPure, requiresPython: '<3.9' }, { dist: pure, requiresPython: '>=3.8' }]);
  return { keep, drop, pure, oldPure };
}

async function jsonNames(s: TestServer, repo: string, project: string): Promise<{ names: string[]; versions: string[]; etag: string | null }> {
  const res = await fetch(`${s.url}/${repo}/simple/${project}/`, { headers: { Accept: JSON_ACCEPT } });
  t_assert(res.status === 200, `${repo} ${project}: ${res.status} ${res.statusText}`);
  const page = (await res.json()) as { files: { filename: string }[]; versions: string[] };
  return { names: page.files.map((f) => f.filename).sort(), versions: page.versions, etag: res.headers.get('etag') };
}

function t_assert(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

async function htmlOf(s: TestServer, repo: string, project: string): Promise<string> {
  return (await fetch(`${s.url}/${repo}/simple/${project}/`)).text();
}

function url(s: TestServer, repo: string, d: BuiltDist): string {
  return `${s.url}/${repo}/files/${d.sha256}/${d.filename}`;
}

async function status(u: string): Promise<Response> {
  const res = await fetch(u);
  await res.arrayBuffer();
  return res;
}

const names = (ds: BuiltDist[]): string[] => ds.map((d) => d.filename).sort();

test('a filtered remote lists only the allowed wheels in both formats; a filtered file URL (and .metadata) is a 404 naming the filter', async (t) => {
  const up = await FakeUpstream.start(t);
  const { keep, drop, pure, oldPure } = await upstreamProjects(up);
  const s = await startTestServer(t, {
    repositories: {
      pypi: { type: 'remote', url: up.url, timeout: 5, files: FILTER },
      unfiltered: { type: 'remote', url: up.url, timeout: 5 },
    },
  });
  t.deepEqual((await jsonNames(s, 'pypi', 'acme-native')).names, names(keep));
  const html = await htmlOf(s, 'pypi', 'acme-native');
  for (const d of keep) t.true(html.includes(`>${d.filename}</a>`));
  for (const { dist } of drop) t.false(html.includes(dist.filename));
  // The py3 wheel whose Requires-Python admits no Python >= 3.10 goes; its release leaves `versions`.
  const p = await jsonNames(s, 'pypi', 'acme-pure');
  t.deepEqual(p.names, [pure.filename]);
  t.deepEqual(p.versions, ['2.0']);

  for (const { dist, why } of drop) {
    const res = await status(url(s, 'pypi', dist));
    t.is(res.status, 404, dist.filename);
    t.regex(res.statusText, new RegExp(`'${dist.filename.replace(/\./g, '\\.')}' is filtered out of repository 'pypi' by its files filter`));
    t.regex(res.statusText, why);
  }
  t.is((await status(url(s, 'pypi', oldPure))).status, 404);
  t.is((await status(`${url(s, 'pypi', drop[0]!.dist)}.metadata`)).status, 404);
  for (const d of [...keep, pure]) t.is((await status(url(s, 'pypi', d))).status, 200, d.filename);
  t.is((await status(`${url(s, 'pypi', keep[0]!)}.metadata`)).status, 200);

  // The same upstream unfiltered: everything, and another ETag.
  const all = await jsonNames(s, 'unfiltered', 'acme-native');
  t.deepEqual(all.names, names([...keep, ...drop.map((d) => d.dist)]));
  t.is((await status(url(s, 'unfiltered', drop[0]!.dist))).status, 200);
});

test('a filtered virtual repository filters its remote members only: local files and wheel-cache wheels are never hidden', async (t) => {
  const up = await FakeUpstream.start(t);
  const { keep, drop } = await upstreamProjects(up);
  // An upstream release without a wheel, completed by a cache wheel for a platform the filter drops.
  const slowSdist = await buildSdist({ name: 'slowpkg', version: '1.0' });
  up.addProject('slowpkg', [{ dist: slowSdist }]);
  const s = await startTestServer(t, {
    defaultRepository: 'view',
    repositories: {
      internal: { type: 'local', upload: ['ci'] },
      pypi: { type: 'remote', url: up.url, timeout: 5 },
      cache: { type: 'wheelcache', augments: 'pypi', upload: ['ci'] },
      view: { type: 'virtual', members: ['internal', 'pypi', 'cache'], files: FILTER },
      outer: { type: 'virtual', members: ['view'] },
    },
  });
  const winLocal = await buildWheel({ name: 'acme-internal', version: '1.0', pythonTag: 'cp39', abiTag: 'cp39', platformTag: 'win_amd64' });
  const sdistLocal = await buildSdist({ name: 'acme-internal', version: '1.0' });
  for (const d of [winLocal, sdistLocal]) t.is((await upload(`${s.url}/internal/`, d, 'acme-internal', '1.0')).status, 200);
  const musl = await buildWheel({ name: 'slowpkg', version: '1.0', pythonTag: 'cp311', abiTag: 'cp311', platformTag: 'musllinux_1_2_x86_64' });
  const up1 = await upload(`${s.url}/cache/`, musl, 'slowpkg', '1.0');
  t.is(up1.status, 200, up1.statusText);

  for (const repo of ['view', 'outer', 'simple']) {
    const base = repo === 'simple' ? '' : `/${repo}`;
    const res = await fetch(`${s.url}${base}/simple/acme-native/`, { headers: { Accept: JSON_ACCEPT } });
    const page = (await res.json()) as { files: { filename: string }[] };
    t.deepEqual(page.files.map((f) => f.filename).sort(), names(keep), repo);
  }
  t.deepEqual((await jsonNames(s, 'view', 'acme-internal')).names, names([winLocal, sdistLocal]), 'local files are never filtered');
  t.deepEqual((await jsonNames(s, 'view', 'slowpkg')).names, [musl.filename], 'the cache wheel stays; the upstream sdist goes');
  t.false((await htmlOf(s, 'view', 'acme-native')).includes(drop[0]!.dist.filename));

  for (const repo of ['view', 'outer']) {
    const res = await status(url(s, repo, drop[0]!.dist));
    t.is(res.status, 404);
    t.regex(res.statusText, /is filtered out of repository 'view' by its files filter \(platforms: /);
    t.is((await status(url(s, repo, keep[0]!))).status, 200);
  }
  t.is((await status(url(s, 'view', slowSdist))).status, 404);
  t.is((await status(url(s, 'view', winLocal))).status, 200);
  t.is((await status(url(s, 'view', sdistLocal))).status, 200);
  t.is((await status(url(s, 'view', musl))).status, 200);
  t.is((await status(url(s, 'pypi', drop[0]!.dist))).status, 200, 'the remote itself is not filtered');
});

test('a config change of the filter changes the page and its ETag; bad filters fail at start naming the key', async (t) => {
  const up = await FakeUpstream.start(t);
  const { keep } = await upstreamProjects(up);
  const storage = await tempDir(t);
  const start = async (files?: Record<string, unknown>) => startTestServer(t, {
    repositories: { pypi: { type: 'remote', url: up.url, timeout: 5, ...(files ? { files } : {}) } },
  }, storage);
  const a = await start();
  const before = await jsonNames(a, 'pypi', 'acme-native');
  await a.stop(100);
  const b = await start(FILTER);
  const after = await jsonNames(b, 'pypi', 'acme-native');
  t.deepEqual(after.names, names(keep));
  t.not(after.etag, before.etag);
  await b.stop(100);
  const c = await start({ ...FILTER, python: '>=3.12' });
  const narrower = await jsonNames(c, 'pypi', 'acme-native');
  t.not(narrower.etag, after.etag);
  t.deepEqual(narrower.names, names(keep.slice(1)), 'cp311 goes for >=3.12; cp312 and abi3 stay');

  await t.throwsAsync(start({ platforms: ['manylinux-x86_64'] }), { message: /config key 'repositories\.pypi\.files\.platforms': "manylinux-x86_64" is not a platform glob/ });
  await t.throwsAsync(start({ python: '>=3.10,,<=x' }), { message: /config key 'repositories\.pypi\.files\.python': ">=3\.10,,<=x" is not a PEP 440 specifier set/ });
  await t.throwsAsync(start({ sdist: false }), { message: /config key 'repositories\.pypi\.files\.sdist': unknown key/ });
});

test('a platform glob that matches no known platform tag is warned about at start', async (t) => {
  const up = await FakeUpstream.start(t);
  const s = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url, files: { platforms: ['manylinux_x86_64', 'any'] } } } });
  t.true(s.logs.some((l) => l.level === 40 && l.repo === 'pypi' && JSON.stringify(l.globs) === '["manylinux_x86_64"]'));
});
