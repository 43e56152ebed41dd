/**
 * A current project page is answered before Koa (src/http/fast-page.ts): the
 * answer must be the route's, byte for byte and header for header, and be
 * logged and counted as the route's.
 */
import { request } from 'node:http';
import test from 'ava';
import { buildWheel } from '../helpers/dists.ts';
import { CI, startTestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

const PIP_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01';

interface Got { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function get(url: string, headers: Record<string, string>): Promise<Got> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
    }).on('error', reject).end();
  });
}

const withoutDate = (h: Got['headers']): Got['headers'] => Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'date'));

test('a cached page answered before Koa has the rendering answer\'s status, headers and bytes, 304s included, and is logged and counted as the route', async (t) => {
  const s = await startTestServer(t);
  // Enough files for the page to be gzipped (over 1 KB).
  for (let i = 0; i < 12; i++) {
    const res = await upload(`${s.url}/internal/`, await buildWheel({ name: 'Acme.Core', version: `1.${i}` }), 'Acme.Core', `1.${i}`);
    t.is(res.status, 200);
  }
  let requests = 0;
  for (const path of ['/internal/simple/acme-core/', '/simple/acme-core/']) {
    for (const headers of [{ Accept: PIP_ACCEPT, 'Accept-Encoding': 'gzip, deflate' }, { Accept: PIP_ACCEPT }, { Accept: 'text/html', 'Accept-Encoding': 'gzip' }, {}] as Record<string, string>[]) {
      const what = `${path} ${JSON.stringify(headers)}`;
      // The first renders (through Koa), the second is the cached page.
      const first = await get(`${s.url}${path}`, headers);
      const second = await get(`${s.url}${path}`, headers);
      requests += 2;
      t.is(first.status, 200, what);
      t.is(second.status, 200, what);
      t.deepEqual(withoutDate(second.headers), withoutDate(first.headers), what);
      t.true(second.body.equals(first.body), what);
      const revalidated = await get(`${s.url}${path}`, { ...headers, 'If-None-Match': String(first.headers.etag) });
      requests++;
      t.is(revalidated.status, 304, what);
      t.is(revalidated.headers.etag, first.headers.etag, what);
      t.is(revalidated.headers.vary, 'Accept, Accept-Encoding', what);
      t.is(revalidated.headers['cache-control'], first.headers['cache-control'], what);
      t.is(revalidated.headers['content-type'], undefined, what);
      t.is(revalidated.body.length, 0, what);
    }
  }
  // What only the route answers still goes there: HEAD, a query, a non-canonical name, a missing project.
  t.is((await get(`${s.url}/internal/simple/Acme.Core/`, {})).status, 301);
  t.is((await get(`${s.url}/internal/simple/acme-core/?format=application/vnd.pypi.simple.v1%2Bjson`, {})).headers['content-type'], 'application/vnd.pypi.simple.v1+json');
  requests++;
  t.is((await get(`${s.url}/internal/simple/nothing-here/`, {})).status, 404);
  t.is((await get(`${s.url}/nope/simple/acme-core/`, {})).status, 404);

  const pageLines = s.logs.filter((l) => l.msg === 'request' && typeof l.path === 'string' && /^(\/internal)?\/simple\/acme-core\/$/.test(l.path));
  t.is(pageLines.length, requests);
  for (const l of pageLines) {
    t.is(l.method, 'GET');
    t.true(l.status === 200 || l.status === 304);
    t.true(typeof l.bytes === 'number' && typeof l.durationMs === 'number');
  }
  const metrics = await (await fetch(`${s.url}/-/metrics`)).text();
  const count = (route: string, status: number): number =>
    Number(new RegExp(`pydepot_http_requests_total\\{method="GET",route="${route.replaceAll('/', '\\/')}",status="${status}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
  t.is(count('/:repo/simple/:project/', 200) + count('/:repo/simple/:project/', 304) + count('/simple/:project/', 200) + count('/simple/:project/', 304), requests);
  t.is(count('/simple/:project/', 304), 4);
});

test('a protected repository\'s page, however often asked, is refused without credentials and private with them', async (t) => {
  const s = await startTestServer(t, { repositories: { internal: { type: 'local', upload: [CI.user], read: [CI.user] } }, defaultRepository: 'internal' });
  t.is((await upload(`${s.url}/internal/`, await buildWheel({ name: 'acme', version: '1.0' }), 'acme', '1.0')).status, 200);
  for (let i = 0; i < 3; i++) {
    const ok = await get(`${s.url}/internal/simple/acme/`, { Authorization: CI.basic });
    t.is(ok.status, 200);
    t.regex(String(ok.headers['cache-control']), /private/);
    t.is((await get(`${s.url}/internal/simple/acme/`, {})).status, 401);
    t.is((await get(`${s.url}/simple/acme/`, {})).status, 401);
  }
});
