import test from 'ava';
import { buildSdist, buildWheel } from '../helpers/dists.ts';
import { startTestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

interface LegacyJson {
  info: Record<string, unknown>;
  releases?: Record<string, { filename: string; digests: Record<string, string>; packagetype: string; url: string }[]>;
  urls: { filename: string; url: string; yanked: boolean }[];
}

test('the legacy JSON API answers like pypi.org: info of the latest release, releases, urls', async (t) => {
  const s = await startTestServer(t);
  const dists = [
    await buildWheel({ name: 'acme-api', version: '1.0', requiresDist: ['requests>=2'], summary: 'Acme API', requiresPython: '>=3.9' }),
    await buildSdist({ name: 'acme-api', version: '1.0' }),
    await buildWheel({ name: 'acme-api', version: '1.1' }),
    await buildWheel({ name: 'acme-api', version: '2.0b1' }),
  ];
  for (const d of dists) {
    const v = /acme_api-([^-]+?)(-py3|\.tar)/.exec(d.filename)![1]!;
    t.is((await upload(`${s.url}/internal/`, d, 'acme-api', v)).status, 200);
  }
  const res = await fetch(`${s.url}/internal/pypi/acme-api/json`);
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'application/json; charset=utf-8');
  const body = (await res.json()) as LegacyJson;
  // 2.0b1 is a pre-release: "latest" is the newest final release.
  t.is(body.info.version, '1.1');
  t.deepEqual(Object.keys(body.releases!), ['1.0', '1.1', '2.0b1']);
  const file = body.releases!['1.0']!.find((f) => f.packagetype === 'bdist_wheel')!;
  t.is(file.digests.sha256, dists[0]!.sha256);
  t.is(file.digests.blake2b_256, dists[0]!.blake2b256);
  t.is((await fetch(file.url)).status, 200);

  const v10 = (await (await fetch(`${s.url}/internal/pypi/acme-api/1.0/json`)).json()) as LegacyJson;
  t.is(v10.info.summary, 'Acme API');
  t.deepEqual(v10.info.requires_dist, ['requests>=2']);
  t.is(v10.info.requires_python, '>=3.9');
  t.is(v10.releases, undefined);
  t.is(v10.urls.length, 2);
});

test('the legacy JSON API redirects non-normalized names and 404s in JSON', async (t) => {
  const s = await startTestServer(t);
  t.is((await upload(`${s.url}/internal/`, await buildWheel({ name: 'acme-api', version: '1.0' }), 'acme-api', '1.0')).status, 200);
  const moved = await fetch(`${s.url}/internal/pypi/Acme_API/json`, { redirect: 'manual' });
  t.is(moved.status, 301);
  t.is(moved.headers.get('location'), '../acme-api/json');
  t.is((await fetch(`${s.url}/internal/pypi/Acme_API/json`)).status, 200);
  const missing = await fetch(`${s.url}/internal/pypi/nope/json`);
  t.is(missing.status, 404);
  t.regex(((await missing.json()) as { message: string }).message, /not in repository/);
  t.is((await fetch(`${s.url}/internal/pypi/acme-api/9.9/json`)).status, 404);
});
