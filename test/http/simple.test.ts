import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import test from 'ava';
import { buildSdist, buildWheel } from '../helpers/dists.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

const PIP_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01';
const UV_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01';
const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';

async function withProject(t: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
  const s = await startTestServer(t);
  for (const d of [
    await buildWheel({ name: 'Acme.Core', version: '1.0', requiresPython: '>=3.8,<4' }),
    await buildSdist({ name: 'Acme.Core', version: '1.0' }),
    await buildWheel({ name: 'Acme.Core', version: '1.0.post1' }),
    await buildWheel({ name: 'Acme.Core', version: '1.1rc1' }),
  ]) {
    const res = await upload(`${s.url}/internal/`, d, 'Acme.Core', d.filename.includes('rc1') ? '1.1rc1' : d.filename.includes('post1') ? '1.0.post1' : '1.0');
    if (res.status !== 200) throw new Error(await res.text());
  }
  return s;
}

test('PEP 691 JSON for pip and uv: v1 fields, PEP 700 versions/size/upload-time, core-metadata, never dist-info-metadata', async (t) => {
  const s = await withProject(t);
  for (const accept of [PIP_ACCEPT, UV_ACCEPT, `${JSON_TYPE}, */*;q=0.1`, 'application/vnd.pypi.simple.latest+json']) {
    const res = await fetch(`${s.url}/internal/simple/acme-core/`, { headers: { Accept: accept } });
    t.is(res.headers.get('content-type'), JSON_TYPE, accept);
    t.is(res.headers.get('vary'), 'Accept, Accept-Encoding');
    const page = (await res.json()) as { meta: Record<string, string>; name: string; versions: string[]; files: Record<string, unknown>[] };
    t.is(page.meta['api-version'], '1.1');
    t.is(page.name, 'acme-core');
    t.deepEqual(page.versions, ['1.0', '1.0.post1', '1.1rc1']);
    const wheel = page.files.find((f) => f.filename === 'acme_core-1.0-py3-none-any.whl')!;
    t.is(wheel['requires-python'], '>=3.8,<4');
    t.is(typeof wheel.size, 'number');
    t.regex(wheel['upload-time'] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/);
    t.regex(wheel.url as string, /^\.\.\/\.\.\/files\/[0-9a-f]{64}\/acme_core-1\.0-py3-none-any\.whl$/);
    t.deepEqual(Object.keys(wheel.hashes as object), ['sha256']);
    t.deepEqual(Object.keys(wheel['core-metadata'] as object), ['sha256']);
    t.is(wheel.yanked, false);
    const sdist = page.files.find((f) => String(f.filename).endsWith('.tar.gz'))!;
    t.is(sdist['core-metadata'], false);
    for (const f of page.files) t.false('dist-info-metadata' in f);
  }
});

test('PEP 503 HTML when asked, when nothing acceptable is asked, and for */*', async (t) => {
  const s = await withProject(t);
  const cases: [string | undefined, string][] = [
    ['text/html', 'text/html; charset=utf-8'],
    [undefined, 'text/html; charset=utf-8'],
    ['*/*', 'text/html; charset=utf-8'],
    ['application/xml', 'text/html; charset=utf-8'],
    ['application/vnd.pypi.simple.v1+html', 'application/vnd.pypi.simple.v1+html; charset=utf-8'],
    [`${JSON_TYPE};q=0.1, text/html`, 'text/html; charset=utf-8'],
  ];
  for (const [accept, type] of cases) {
    const res = await fetch(`${s.url}/internal/simple/acme-core/`, { headers: accept ? { Accept: accept } : {} });
    t.is(res.headers.get('content-type'), type, String(accept));
    const html = await res.text();
    t.true(html.startsWith('<!DOCTYPE html>'));
    t.true(html.includes('<meta name="pypi:repository-version" content="1.1">'));
  }
});

test('?format= overrides Accept', async (t) => {
  const s = await withProject(t);
  const json = await fetch(`${s.url}/internal/simple/acme-core/?format=${encodeURIComponent(JSON_TYPE)}`, { headers: { Accept: 'text/html' } });
  t.is(json.headers.get('content-type'), JSON_TYPE);
  const html = await fetch(`${s.url}/internal/simple/acme-core/?format=text/html`, { headers: { Accept: PIP_ACCEPT } });
  t.is(html.headers.get('content-type'), 'text/html; charset=utf-8');
});

test('HTML anchors: filename text, sha256 fragment, escaped requires-python, both metadata attributes or neither', async (t) => {
  const s = await withProject(t);
  const html = await (await fetch(`${s.url}/internal/simple/acme-core/`)).text();
  const anchors = html.match(/<a [^>]*>[^<]*<\/a>/g) ?? [];
  t.is(anchors.length, 4);
  for (const a of anchors) {
    const filename = />([^<]*)</.exec(a)![1]!;
    t.regex(a, new RegExp(`href="\\.\\./\\.\\./files/[0-9a-f]{64}/${filename.replace(/\./g, '\\.')}#sha256=[0-9a-f]{64}"`));
    t.is(a.includes('data-core-metadata='), a.includes('data-dist-info-metadata='));
    t.false(a.includes('="false"'));
    t.is(a.includes('data-core-metadata="sha256='), filename.endsWith('.whl'));
  }
  t.true(html.includes('data-requires-python="&gt;=3.8,&lt;4"'));
});

test('non-normalized names and missing slashes redirect with a relative 301 that keeps ?format=', async (t) => {
  const s = await withProject(t);
  const cases: [string, string][] = [
    ['/internal/simple/Acme.Core/', '../acme-core/'],
    ['/internal/simple/Acme_Core', 'acme-core/'],
    ['/internal/simple/acme-core', 'acme-core/'],
    ['/internal/simple', 'simple/'],
    ['/simple/ACME-core/?format=text/html', '../acme-core/?format=text/html'],
  ];
  for (const [path, location] of cases) {
    const res = await fetch(`${s.url}${path}`, { redirect: 'manual' });
    t.is(res.status, 301, path);
    t.is(res.headers.get('location'), location, path);
    const followed = await fetch(`${s.url}${path}`);
    t.is(followed.status, 200, path);
  }
});

test('unknown projects and repositories are 404 with a reason', async (t) => {
  const s = await withProject(t);
  const res = await fetch(`${s.url}/internal/simple/nope/`);
  t.is(res.status, 404);
  t.regex(res.statusText, /Project 'nope' is not in repository 'internal'/);
  const repo = await fetch(`${s.url}/nowhere/simple/acme-core/`);
  t.is(repo.status, 404);
  t.regex(repo.statusText, /No repository named 'nowhere'/);
});

test('ETag and If-None-Match: 304 until an upload changes the page; revalidation by default', async (t) => {
  const s = await withProject(t);
  const url = `${s.url}/internal/simple/acme-core/`;
  const first = await fetch(url, { headers: { Accept: PIP_ACCEPT } });
  const etag = first.headers.get('etag')!;
  t.truthy(etag);
  t.is(first.headers.get('cache-control'), 'max-age=0, must-revalidate');
  const again = await fetch(url, { headers: { Accept: PIP_ACCEPT, 'If-None-Match': etag } });
  t.is(again.status, 304);
  // The HTML rendering is a different representation with its own ETag.
  const html = await fetch(url, { headers: { Accept: 'text/html', 'If-None-Match': etag } });
  t.is(html.status, 200);

  const res = await upload(`${s.url}/internal/`, await buildWheel({ name: 'acme-core', version: '2.0' }), 'acme-core', '2.0');
  t.is(res.status, 200);
  const changed = await fetch(url, { headers: { Accept: PIP_ACCEPT, 'If-None-Match': etag } });
  t.is(changed.status, 200);
  t.not(changed.headers.get('etag'), etag);
  t.true(((await changed.json()) as { versions: string[] }).versions.includes('2.0'));
});

test('indexMaxAge sets a public max-age on index pages', async (t) => {
  const s = await startTestServer(t, { repositories: { internal: { type: 'local', indexMaxAge: 300, upload: ['ci'] } } });
  await upload(`${s.url}/internal/`, await buildWheel({ name: 'x', version: '1' }), 'x', '1');
  t.is((await fetch(`${s.url}/internal/simple/x/`)).headers.get('cache-control'), 'max-age=300, public');
});

test('root index lists every project in both formats; /simple/ serves the default repository', async (t) => {
  const s = await withProject(t);
  await upload(`${s.url}/internal/`, await buildWheel({ name: 'Other_Thing', version: '1' }), 'Other_Thing', '1');
  for (const base of ['/internal/simple/', '/simple/']) {
    const html = await (await fetch(`${s.url}${base}`)).text();
    t.true(html.includes('<a href="acme-core/">Acme.Core</a>'));
    t.true(html.includes('<a href="other-thing/">Other_Thing</a>'));
    const json = (await (await fetch(`${s.url}${base}`, { headers: { Accept: PIP_ACCEPT } })).json()) as { projects: { name: string }[] };
    t.deepEqual(json.projects.map((p) => p.name).sort(), ['Acme.Core', 'Other_Thing']);
  }
  const page = await fetch(`${s.url}/simple/acme-core/`, { headers: { Accept: PIP_ACCEPT } });
  const file = ((await page.json()) as { files: { url: string }[] }).files[0]!;
  t.is((await fetch(new URL(file.url, page.url))).status, 200);
});

test('pages are gzipped for clients that accept it, with their own ETag; never files', async (t) => {
  const s = await withProject(t);
  for (let i = 0; i < 30; i++) {
    await upload(`${s.url}/internal/`, await buildWheel({ name: 'Acme.Core', version: `3.${i}` }), 'Acme.Core', `3.${i}`);
  }
  const get = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
      request(`${s.url}${path}`, { headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      }).on('error', reject).end();
    });
  for (const path of ['/internal/simple/acme-core/', '/internal/simple/']) {
    const plain = await get(path, { Accept: PIP_ACCEPT });
    const gz = await get(path, { Accept: PIP_ACCEPT, 'Accept-Encoding': 'gzip, deflate' });
    t.is(plain.headers['content-encoding'], undefined, path);
    t.is(gz.headers['content-encoding'], 'gzip', path);
    t.true(gunzipSync(gz.body).equals(plain.body), path);
    t.not(gz.headers.etag, plain.headers.etag);
    t.is((await get(path, { Accept: PIP_ACCEPT, 'Accept-Encoding': 'gzip', 'If-None-Match': gz.headers.etag as string })).status, 304);
    t.is((await get(path, { Accept: PIP_ACCEPT, 'If-None-Match': gz.headers.etag as string })).status, 200);
  }
  const page = (JSON.parse((await get('/internal/simple/acme-core/', { Accept: PIP_ACCEPT })).body.toString()) as { files: { url: string }[] }).files[0]!;
  const file = await get(new URL(page.url, `${s.url}/internal/simple/acme-core/`).pathname, { 'Accept-Encoding': 'gzip' });
  t.is(file.headers['content-encoding'], undefined);
});

test('each encoding of a project page is its own cached representation: same bytes, own ETag, 304, HEAD, fresh after an upload', async (t) => {
  const s = await withProject(t);
  for (let i = 0; i < 30; i++) {
    await upload(`${s.url}/internal/`, await buildWheel({ name: 'Acme.Core', version: `3.${i}` }), 'Acme.Core', `3.${i}`);
  }
  const path = '/internal/simple/acme-core/';
  const get = (headers: Record<string, string>, method = 'GET') =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
      request(`${s.url}${path}`, { method, headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      }).on('error', reject).end();
    });
  for (const accept of [PIP_ACCEPT, 'text/html']) {
    const plain = await get({ Accept: accept });
    // Twice: the second answer comes from the cached compressed copy.
    for (let i = 0; i < 2; i++) {
      const gz = await get({ Accept: accept, 'Accept-Encoding': 'gzip, deflate' });
      t.is(gz.headers['content-encoding'], 'gzip', accept);
      t.is(gz.headers.vary, 'Accept, Accept-Encoding');
      t.is(gz.headers.etag, (plain.headers.etag as string).replace(/"$/, '-gzip"'));
      t.is(Number(gz.headers['content-length']), gz.body.length);
      t.true(gunzipSync(gz.body).equals(plain.body), accept);
    }
    const head = await get({ Accept: accept, 'Accept-Encoding': 'gzip' }, 'HEAD');
    t.is(head.status, 200);
    t.is(head.body.length, 0);
    t.is(head.headers['content-encoding'], 'gzip');
    t.is(head.headers.etag, (plain.headers.etag as string).replace(/"$/, '-gzip"'));
    // The identity ETag revalidates identity only, and the gzip one gzip only.
    t.is((await get({ Accept: accept, 'Accept-Encoding': 'gzip', 'If-None-Match': plain.headers.etag as string })).status, 200);
    const notModified = await get({ Accept: accept, 'Accept-Encoding': 'gzip', 'If-None-Match': `"other", ${head.headers.etag as string}` });
    t.is(notModified.status, 304);
    t.is(notModified.headers.etag, head.headers.etag);
    t.is(notModified.headers.vary, 'Accept, Accept-Encoding');
  }

  // q-values: a refused gzip, or identity preferred, gets identity; `*` stands for gzip.
  for (const [acceptEncoding, gzipped] of [
    ['gzip;q=0, deflate', false],
    ['identity, gzip;q=0.5', false],
    ['gzip;q=0', false],
    ['*', true],
    ['br;q=1, gzip;q=0.8', true],
    ['deflate', false],
  ] as const) {
    const res = await get({ Accept: PIP_ACCEPT, 'Accept-Encoding': acceptEncoding });
    t.is(res.headers['content-encoding'], gzipped ? 'gzip' : undefined, acceptEncoding);
  }

  // An upload is in the very next compressed answer: no stale compressed page.
  const before = await get({ Accept: PIP_ACCEPT, 'Accept-Encoding': 'gzip' });
  t.is((await upload(`${s.url}/internal/`, await buildWheel({ name: 'Acme.Core', version: '9.0' }), 'Acme.Core', '9.0')).status, 200);
  const after = await get({ Accept: PIP_ACCEPT, 'Accept-Encoding': 'gzip', 'If-None-Match': before.headers.etag as string });
  t.is(after.status, 200);
  t.not(after.headers.etag, before.headers.etag);
  t.true((JSON.parse(gunzipSync(after.body).toString()) as { versions: string[] }).versions.includes('9.0'));
});

test('the bare host is an index too: / lists the default repository and /<project>/ is its page, with working file links', async (t) => {
  const s = await startTestServer(t);
  const wheel = await buildWheel({ name: 'acme-utils', version: '1.0.0' });
  t.is((await upload(`${s.url}/internal/`, wheel, 'acme-utils', '1.0.0')).status, 200);

  const root = await fetch(`${s.url}/`);
  t.is(root.status, 200);
  t.regex(await root.text(), /<a href="acme-utils\/">acme-utils<\/a>/);

  const page = await fetch(`${s.url}/acme-utils/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } });
  t.is(page.status, 200);
  const json = (await page.json()) as { files: { url: string }[] };
  const file = await fetch(new URL(json.files[0]!.url, `${s.url}/acme-utils/`));
  t.true(Buffer.from(await file.arrayBuffer()).equals(wheel.bytes));

  const moved = await fetch(`${s.url}/Acme_Utils/`, { redirect: 'manual' });
  t.is(moved.status, 301);
  t.is(moved.headers.get('location'), '../acme-utils/');

  // A repository's name wins; the answer says where the project of that name is.
  const repo = await fetch(`${s.url}/internal/`);
  t.is(repo.status, 404);
  t.regex(repo.statusText, /'\/internal\/' is the repository 'internal': its index is \/internal\/simple\/; a project named 'internal' is at \/simple\/internal\//);
  t.is((await fetch(`${s.url}/no-such-project/`)).status, 404);
});
