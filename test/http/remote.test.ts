import { createHash } from 'node:crypto';
import test from 'ava';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream, type FakeUpstreamOptions } from '../helpers/fake-upstream.ts';
import { countRows } from '../helpers/test-backend.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { eventually, storageCounts } from '../helpers/storage.ts';

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';

interface Setup {
  s: TestServer;
  up: FakeUpstream;
  wheel: BuiltDist;
  sdist: BuiltDist;
}

async function setup(t: Parameters<typeof startTestServer>[0], remote: Record<string, unknown> = {}, upOpts: FakeUpstreamOptions = {}): Promise<Setup> {
  const up = await FakeUpstream.start(t, upOpts);
  const wheel = await buildWheel({ name: 'requests', version: '2.32.0', requiresPython: '>=3.8', padBytes: 50_000 });
  const sdist = await buildSdist({ name: 'requests', version: '2.32.0' });
  up.addProject('requests', [{ dist: wheel, requiresPython: '>=3.8' }, { dist: sdist, yanked: 'bad sdist' }], { status: 'active' });
  const s = await startTestServer(t, {
    repositories: { pypi: { type: 'remote', url: up.url, indexTtl: 600, timeout: 2, ...remote } },
  });
  return { s, up, wheel, sdist };
}

type JsonPage = { files: { filename: string; url: string; hashes: { sha256: string }; yanked: unknown; 'requires-python': string | null; size: number; 'upload-time': string | null; 'core-metadata': unknown }[]; versions: string[]; 'project-status'?: unknown; meta: Record<string, string> };

async function jsonPage(s: TestServer, project = 'requests'): Promise<{ res: Response; page: JsonPage }> {
  const res = await fetch(`${s.url}/pypi/simple/${project}/`, { headers: { Accept: JSON_ACCEPT } });
  return { res, page: res.status === 200 ? ((await res.json()) as JsonPage) : (null as unknown as JsonPage) };
}

test('an upstream page is served in both formats, links rewritten to pydepot, every field kept', async (t) => {
  const { s, wheel, sdist } = await setup(t);
  const { res, page } = await jsonPage(s);
  t.is(res.status, 200);
  const w = page.files.find((f) => f.filename === wheel.filename)!;
  t.is(w.url, `../../files/${wheel.sha256}/${wheel.filename}`);
  t.is(w.hashes.sha256, wheel.sha256);
  t.is(w['requires-python'], '>=3.8');
  t.is(w.size, wheel.bytes.length);
  t.truthy(w['upload-time']);
  t.deepEqual(w['core-metadata'], { sha256: createHash('sha256').update(wheel.metadata).digest('hex') });
  const sd = page.files.find((f) => f.filename === sdist.filename)!;
  t.is(sd.yanked, 'bad sdist');
  t.deepEqual(page.versions, ['2.32.0']);
  t.deepEqual(page['project-status'], { status: 'active' });
  const html = await (await fetch(`${s.url}/pypi/simple/requests/`)).text();
  t.true(html.includes(`href="../../files/${wheel.sha256}/${wheel.filename}#sha256=${wheel.sha256}"`));
  t.true(html.includes('data-yanked="bad sdist"'));
  t.false(html.includes('127.0.0.1'), 'no link may lead clients to the upstream');
});

test('inside indexTtl a cached page makes no upstream request; concurrent misses make one', async (t) => {
  const { s, up } = await setup(t);
  up.pageFaults('requests', { latencyMs: 200 });
  const results = await Promise.all(Array.from({ length: 20 }, () => jsonPage(s)));
  t.true(results.every((r) => r.res.status === 200));
  t.is(up.count('/simple/requests/'), 1);
  await jsonPage(s);
  await fetch(`${s.url}/pypi/simple/requests/`);
  t.is(up.count('/simple/requests/'), 1);
});

test('after indexTtl the page is revalidated with If-None-Match; a 304 renews it', async (t) => {
  const { s, up } = await setup(t, { indexTtl: 0 });
  const first = await jsonPage(s);
  const second = await jsonPage(s);
  t.is(up.count('/simple/requests/'), 2);
  const conditional = up.requests.filter((r) => r.path === '/simple/requests/')[1]!;
  t.truthy(conditional.headers['if-none-match']);
  t.is(conditional.status, 304);
  t.is(second.res.headers.get('etag'), first.res.headers.get('etag'));
});

test('a changed upstream page changes the served page and its ETag', async (t) => {
  // staleTimeout: the revalidated page is what is asserted, however busy the machine (or the database).
  const { s, up, wheel } = await setup(t, { indexTtl: 0, staleTimeout: 60 });
  const before = await jsonPage(s);
  const newer = await buildWheel({ name: 'requests', version: '2.33.0' });
  up.addProject('requests', [{ dist: wheel }, { dist: newer }]);
  const after = await jsonPage(s);
  t.not(after.res.headers.get('etag'), before.res.headers.get('etag'));
  t.deepEqual(after.page.versions, ['2.32.0', '2.33.0']);
});

test('an upstream 404 is a 404, remembered for negativeTtl', async (t) => {
  const { s, up } = await setup(t, { negativeTtl: 600 });
  t.is((await fetch(`${s.url}/pypi/simple/nope/`)).status, 404);
  t.is((await fetch(`${s.url}/pypi/simple/nope/`)).status, 404);
  t.is(up.count('/simple/nope/'), 1);
});

test('upstream down: cached pages and files are still served; an uncached page gets 502 naming the upstream', async (t) => {
  const { s, up, wheel } = await setup(t, { indexTtl: 0 });
  const { page } = await jsonPage(s);
  const fileUrl = new URL(page.files.find((f) => f.filename === wheel.filename)!.url, `${s.url}/pypi/simple/requests/`).href;
  t.true(Buffer.from(await (await fetch(fileUrl)).arrayBuffer()).equals(wheel.bytes));
  await up.stop();

  const stale = await jsonPage(s);
  t.is(stale.res.status, 200);
  t.deepEqual(stale.page.files.map((f) => f.filename).sort(), page.files.map((f) => f.filename).sort());
  t.true(Buffer.from(await (await fetch(fileUrl)).arrayBuffer()).equals(wheel.bytes));
  t.true(s.logs.some((l) => l.msg === 'upstream failed; serving the cached page'));

  const missing = await fetch(`${s.url}/pypi/simple/flask/`);
  t.is(missing.status, 502);
  t.regex(missing.statusText, /upstream http:\/\/127\.0\.0\.1:\d+\/simple\/flask\/ refused the connection; project 'flask' is not cached/);
});

test('an uncached file with the upstream down or timing out is a 502/504 naming the upstream, counted as an upstream failure', async (t) => {
  const { s, up, wheel, sdist } = await setup(t, { timeout: 1 });
  const { page } = await jsonPage(s);
  const urlOf = (d: BuiltDist) => new URL(page.files.find((f) => f.filename === d.filename)!.url, `${s.url}/pypi/simple/requests/`).href;
  up.fileFaults(sdist.filename, { latencyMs: 3000 });
  const slow = await fetch(urlOf(sdist));
  t.is(slow.status, 504);
  t.regex(slow.statusText, /upstream http:\/\/127\.0\.0\.1:\d+\/.* timed out; '.*' is not cached/);
  await up.stop();
  const down = await fetch(urlOf(wheel));
  t.is(down.status, 502);
  t.regex(down.statusText, /upstream http:\/\/127\.0\.0\.1:\d+\/.* refused the connection; 'requests-2\.32\.0-py3-none-any\.whl' is not cached/);
  t.regex(await (await fetch(`${s.url}/-/metrics`)).text(), /pydepot_upstream_failures_total\{repo="pypi",kind="file"\} 2/);
  // An operator's log line, not a stack trace: 5xx from pydepot's own bugs are the only ones logged with one.
  t.false(s.logs.some((l) => typeof l.err === 'object' && l.err !== null && 'stack' in (l.err as object)));
});

test('a file cut before its first byte is a 502, not an empty 200', async (t) => {
  const { s, up, sdist } = await setup(t);
  const { page } = await jsonPage(s);
  const url = new URL(page.files.find((f) => f.filename === sdist.filename)!.url, `${s.url}/pypi/simple/requests/`).href;
  up.fileFaults(sdist.filename, { truncateAt: 0 });
  const res = await fetch(url);
  t.is(res.status, 502);
  t.regex(res.statusText, /broke off/);
  up.fileFaults(sdist.filename, {});
  t.true(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(sdist.bytes));
});

test('names longer than any real project are refused before any lookup; remembered upstream 404s are pruned', async (t) => {
  const { s, up } = await setup(t, { negativeTtl: 0 });
  const huge = 'a'.repeat(8000);
  const res = await fetch(`${s.url}/pypi/simple/${huge}/`);
  t.is(res.status, 404);
  t.regex(res.statusText, /project names are at most 200 characters, this one has 8000/);
  t.is(up.count((r) => r.path.length > 1000), 0, 'the upstream is never asked');

  // Random valid names: each is asked once, and the memory of their 404s does not grow with them.
  for (let i = 0; i < 70; i++) t.is((await fetch(`${s.url}/pypi/simple/random-name-${i}/`)).status, 404);
  const missing = await countRows(s.storage, `remote_pages WHERE state = 'missing'`);
  t.true(missing < 70, `${missing} remembered 404s after 70 misses with negativeTtl 0`);
});

test('a client asking for many distinct missing names is refused (429) for its window; repeats of one name and other clients are not', async (t) => {
  const up = await FakeUpstream.start(t);
  const wheel = await buildWheel({ name: 'requests', version: '2.32.0' });
  up.addProject('requests', [{ dist: wheel }]);
  const s = await startTestServer(t, {
    repositories: { pypi: { type: 'remote', url: up.url } }, auth: { trustProxy: true }, limits: { missesPerMinute: 5 },
  });
  const get = (path: string, client: string) => fetch(`${s.url}/pypi/simple/${path}/`, { headers: { 'X-Forwarded-For': client } });
  // A thousand nodes behind one address asking for the same misspelt name count once.
  for (let i = 0; i < 20; i++) t.is((await get('reqeusts', '10.0.0.1')).status, 404);
  t.is((await get('requests', '10.0.0.1')).status, 200);
  for (let i = 0; i < 5; i++) t.is((await get(`random-${i}`, '10.0.0.2')).status, 404);
  const refused = await get('requests', '10.0.0.2');
  t.is(refused.status, 429);
  t.regex(refused.statusText, /Too many requests for projects that do not exist from 10\.0\.0\.2; try again in \d+ s/);
  t.truthy(refused.headers.get('retry-after'));
  t.is((await get('random-5', '10.0.0.2')).status, 429);
  t.is(up.count('/simple/random-5/'), 0, 'refused before any upstream request');
  t.is((await get('requests', '10.0.0.3')).status, 200, 'other clients go on');
});

test('upstream 5xx and unparsable pages fall back to the cached copy', async (t) => {
  const { s, up } = await setup(t, { indexTtl: 0 });
  t.is((await jsonPage(s)).res.status, 200);
  up.pageFaults('requests', { status: 503 });
  t.is((await jsonPage(s)).res.status, 200);
  up.pageFaults('requests', { corrupt: true });
  t.is((await jsonPage(s)).res.status, 200);
  up.pageFaults('requests', {});
  t.is((await fetch(`${s.url}/pypi/simple/other/`)).status, 404);
  up.faults.status = 500;
  const res = await fetch(`${s.url}/pypi/simple/other2/`);
  t.is(res.status, 502);
  t.regex(res.statusText, /answered 500/);
});

test('a hanging upstream does not hold a cached page: it is served after staleTimeout while the revalidation goes on', async (t) => {
  const { s, up } = await setup(t, { indexTtl: 0, staleTimeout: 0.2, timeout: 10 });
  const first = await jsonPage(s);
  up.pageFaults('requests', { latencyMs: 2000 });
  const again = await jsonPage(s);
  t.is(again.res.status, 200);
  t.deepEqual(again.page.files, first.page.files);
  // No revalidation answered yet. (Not "the last request is unanswered": on a busy machine
  // the client may have its page before the revalidation reaches the upstream at all.)
  const revalidations = () => up.requests.filter((r) => r.path === '/simple/requests/' && r.headers['if-none-match'] !== undefined);
  t.deepEqual(revalidations().map((r) => r.status), revalidations().map(() => 0), 'the client had its page before the upstream answered');
  await eventually(async () => revalidations().length > 0, 'the revalidation to reach the upstream');
});

test('a revalidation that timed out is not retried for failureBackoff; the cached page is served at once', async (t) => {
  const { s, up } = await setup(t, { indexTtl: 0, staleTimeout: 5, timeout: 0.3, failureBackoff: 600 });
  t.is((await jsonPage(s)).res.status, 200);
  up.pageFaults('requests', { latencyMs: 2000 });
  t.is((await jsonPage(s)).res.status, 200);
  const asked = up.count('/simple/requests/');
  for (let i = 0; i < 3; i++) t.is((await jsonPage(s)).res.status, 200);
  t.is(up.count('/simple/requests/'), asked, 'no upstream request during the back-off');
  t.regex(await (await fetch(`${s.url}/-/metrics`)).text(), /pydepot_upstream_failures_total\{repo="pypi",kind="page"\} 1/);
});

test('an upstream timeout with nothing cached is a 504', async (t) => {
  const { s, up } = await setup(t, { timeout: 1 });
  up.pageFaults('requests', { latencyMs: 3000 });
  const res = await fetch(`${s.url}/pypi/simple/requests/`);
  t.is(res.status, 504);
  t.regex(res.statusText, /timed out/);
});

test('50 concurrent first requests for one file make one upstream download, and all get identical complete bytes', async (t) => {
  const { s, up, wheel } = await setup(t);
  const { page } = await jsonPage(s);
  const url = new URL(page.files.find((f) => f.filename === wheel.filename)!.url, `${s.url}/pypi/simple/requests/`).href;
  up.fileFaults(wheel.filename, { bytesPerSecond: 500_000 });
  const bodies = await Promise.all(Array.from({ length: 50 }, async () => Buffer.from(await (await fetch(url)).arrayBuffer())));
  t.is(up.count(up.fileUrl(wheel.filename)), 1);
  t.true(bodies.every((b) => b.equals(wheel.bytes)));
  // Later requests come from the blob store.
  const again = await fetch(url, { headers: { Range: 'bytes=-22' } });
  t.is(again.status, 206);
  t.true(Buffer.from(await again.arrayBuffer()).equals(wheel.bytes.subarray(-22)));
  t.is(up.count(up.fileUrl(wheel.filename)), 1);
  const metrics = await (await fetch(`${s.url}/-/metrics`)).text();
  t.regex(metrics, /pydepot_upstream_downloads_total\{repo="pypi"\} 1/);
});

test('a herd of a file of several MiB (read in shared 1 MiB blocks) gets identical complete bytes from one upstream download', async (t) => {
  const up = await FakeUpstream.start(t);
  const big = await buildWheel({ name: 'bigpkg', version: '1.0', padBytes: 3 * 1024 * 1024 + 12_345 });
  up.addProject('bigpkg', [{ dist: big }]);
  const s = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url, indexTtl: 600, timeout: 5 } } });
  const { page } = await jsonPage(s, 'bigpkg');
  const url = new URL(page.files[0]!.url, `${s.url}/pypi/simple/bigpkg/`).href;
  up.fileFaults(big.filename, { bytesPerSecond: 8_000_000 });
  const bodies = await Promise.all(Array.from({ length: 20 }, async () => Buffer.from(await (await fetch(url)).arrayBuffer())));
  t.is(up.count(up.fileUrl(big.filename)), 1);
  t.true(bodies.every((b) => b.equals(big.bytes)));
});

test('followers of a slow upstream get bytes before a whole block has arrived, and never a complete body of a cut download', async (t) => {
  const { s, up, wheel } = await setup(t);
  const { page } = await jsonPage(s);
  const url = new URL(page.files.find((f) => f.filename === wheel.filename)!.url, `${s.url}/pypi/simple/requests/`).href;
  // 40 KB in 2 s, then the connection is cut: far less than a block.
  up.fileFaults(wheel.filename, { bytesPerSecond: 20_000, truncateAt: 40_000 });
  const outcomes = await Promise.all(Array.from({ length: 3 }, async () => {
    const res = await fetch(url);
    let got = 0;
    try {
      for await (const chunk of res.body!) got += (chunk as Uint8Array).length;
      return { got, ended: 'complete' };
    } catch {
      return { got, ended: 'cut' };
    }
  }));
  for (const o of outcomes) {
    t.is(o.ended, 'cut');
    t.true(o.got > 0 && o.got <= 40_000, `received ${o.got} bytes before the cut`);
  }
});

for (const fault of ['corrupt', 'truncateAt'] as const) {
  test(`a ${fault === 'corrupt' ? 'wrong-hash' : 'truncated'} upstream file fails every client before its end and is never cached`, async (t) => {
    const { s, up, wheel } = await setup(t);
    const { page } = await jsonPage(s);
    const url = new URL(page.files.find((f) => f.filename === wheel.filename)!.url, `${s.url}/pypi/simple/requests/`).href;
    up.fileFaults(wheel.filename, fault === 'corrupt' ? { corrupt: true, bytesPerSecond: 1_000_000 } : { truncateAt: 20_000 });
    const outcomes = await Promise.all(Array.from({ length: 5 }, async () => {
      try {
        const res = await fetch(url);
        if (res.status !== 200) return `status ${res.status}`;
        const body = Buffer.from(await res.arrayBuffer());
        return body.equals(wheel.bytes) ? 'complete' : `short ${body.length}`;
      } catch {
        return 'failed';
      }
    }));
    t.false(outcomes.includes('complete'), outcomes.join());
    t.true(outcomes.every((o) => o === 'failed' || o.startsWith('status 502')), outcomes.join());
    t.regex(await (await fetch(`${s.url}/-/metrics`)).text(), /pydepot_upstream_files_rejected_total\{repo="pypi"\} 1/);

    up.fileFaults(wheel.filename, {});
    const good = await fetch(url);
    t.true(Buffer.from(await good.arrayBuffer()).equals(wheel.bytes));
    t.is(up.count(up.fileUrl(wheel.filename)), 2);
  });
}

test('.metadata is fetched from upstream once, verified, and served', async (t) => {
  const { s, up, wheel } = await setup(t);
  const { page } = await jsonPage(s);
  const url = new URL(`${page.files.find((f) => f.filename === wheel.filename)!.url}.metadata`, `${s.url}/pypi/simple/requests/`).href;
  for (let i = 0; i < 3; i++) {
    const res = await fetch(url);
    t.is(res.status, 200);
    t.true(Buffer.from(await res.arrayBuffer()).equals(wheel.metadata));
  }
  t.is(up.count(`${up.fileUrl(wheel.filename)}.metadata`), 1);
});

test('wrong upstream metadata is refused', async (t) => {
  const { s, up, wheel } = await setup(t);
  const { page } = await jsonPage(s);
  up.fileFaults(`${wheel.filename}.metadata`, { corrupt: true });
  const url = new URL(`${page.files.find((f) => f.filename === wheel.filename)!.url}.metadata`, `${s.url}/pypi/simple/requests/`).href;
  const res = await fetch(url);
  t.is(res.status, 502);
  t.regex(res.statusText, /metadata has sha256/);
});

for (const [title, opts] of [
  ['an HTML-only upstream', { format: 'html' }],
  ['files on a separate host with absolute URLs', { separateFilesHost: true }],
  ['file URLs with query strings', { absoluteUrls: true, queryStrings: true }],
] as [string, FakeUpstreamOptions][]) {
  test(`works with ${title}`, async (t) => {
    const { s, up, wheel } = await setup(t, {}, opts);
    const { res, page } = await jsonPage(s);
    t.is(res.status, 200);
    const f = page.files.find((x) => x.filename === wheel.filename)!;
    const body = await fetch(new URL(f.url, `${s.url}/pypi/simple/requests/`));
    t.true(Buffer.from(await body.arrayBuffer()).equals(wheel.bytes));
    t.is(up.count(up.fileUrl(wheel.filename)), 1);
  });
}

test('offline: cached pages and files are served without asking upstream; the rest is not found', async (t) => {
  const { s, up, wheel } = await setup(t);
  const { page } = await jsonPage(s);
  const url = new URL(page.files.find((f) => f.filename === wheel.filename)!.url, `${s.url}/pypi/simple/requests/`).href;
  await (await fetch(url)).arrayBuffer();
  await s.stop();
  up.resetCounts();
  const offline = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url, offline: true } } }, s.storage);
  t.is((await fetch(`${offline.url}/pypi/simple/requests/`)).status, 200);
  t.true(Buffer.from(await (await fetch(url.replace(s.url, offline.url))).arrayBuffer()).equals(wheel.bytes));
  const missing = await fetch(`${offline.url}/pypi/simple/flask/`);
  t.is(missing.status, 404);
  t.regex(missing.statusText, /offline/);
  t.is(up.requests.length, 0);
});

test('the root page lists the upstream projects, and is cached', async (t) => {
  const { s, up } = await setup(t);
  up.addProject('Flask', [{ dist: await buildWheel({ name: 'flask', version: '3.0' }) }]);
  const html = await (await fetch(`${s.url}/pypi/simple/`)).text();
  t.true(html.includes('<a href="requests/">requests</a>'));
  t.true(html.includes('<a href="flask/">flask</a>'));
  const json = (await (await fetch(`${s.url}/pypi/simple/`, { headers: { Accept: JSON_ACCEPT } })).json()) as { projects: { name: string }[] };
  t.deepEqual(json.projects.map((p) => p.name).sort(), ['flask', 'requests']);
  t.is(up.count('/simple/'), 1);
});

test('upstream credentials are sent to the index only', async (t) => {
  const { s, up, wheel } = await setup(t, { username: 'mirror', password: 's3cret' }, { separateFilesHost: true });
  const { page } = await jsonPage(s);
  await (await fetch(new URL(page.files.find((f) => f.filename === wheel.filename)!.url, `${s.url}/pypi/simple/requests/`))).arrayBuffer();
  const pageReq = up.requests.find((r) => r.path === '/simple/requests/')!;
  t.is(pageReq.headers.authorization, `Basic ${Buffer.from('mirror:s3cret').toString('base64')}`);
  const fileReq = up.requests.find((r) => r.server === 'files')!;
  t.is(fileReq.headers.authorization, undefined);
  t.regex(String(pageReq.headers['user-agent']), /^pydepot\//);
  t.false(JSON.stringify(s.logs).includes('s3cret'));
});

test('a large root list is streamed in full in both formats, with an ETag that answers 304', async (t) => {
  const { s, up } = await setup(t);
  const names = Array.from({ length: 12_345 }, (_, i) => `pkg-${String(i).padStart(5, '0')}`);
  for (const n of names) up.addProject(n, []);
  const json = await fetch(`${s.url}/pypi/simple/`, { headers: { Accept: JSON_ACCEPT } });
  const body = (await json.json()) as { projects: { name: string }[] };
  t.is(body.projects.length, names.length + 1);
  const html = await (await fetch(`${s.url}/pypi/simple/`)).text();
  t.is(html.match(/<a href=/g)?.length, names.length + 1);
  t.true(html.trimEnd().endsWith('</html>'));
  const again = await fetch(`${s.url}/pypi/simple/`, { headers: { Accept: JSON_ACCEPT, 'If-None-Match': json.headers.get('etag')! } });
  t.is(again.status, 304);
  t.is(up.count('/simple/'), 1);
});

for (const format of ['html', 'json'] as const) {
  test(`a root list (${format}) cut short keeps the previous one whole; the next whole one replaces it`, async (t) => {
    const { s, up } = await setup(t, { indexTtl: 0, staleTimeout: 60 }, { format: format === 'json' ? 'json' : 'both' });
    // Several store batches (5,000 names each) before the cut.
    const names = Array.from({ length: 12_000 }, (_, i) => `pkg-${String(i).padStart(5, '0')}`);
    for (const n of names) up.addProject(n, []);
    const list = async (): Promise<string[]> => {
      const res = await fetch(`${s.url}/pypi/simple/`, { headers: { Accept: JSON_ACCEPT } });
      t.is(res.status, 200);
      return ((await res.json()) as { projects: { name: string }[] }).projects.map((p) => p.name);
    };
    const before = await list();
    t.is(before.length, names.length + 1);
    up.addProject('pkg-new', []);
    up.faults = { truncateAt: 400_000 };
    t.deepEqual(await list(), before, 'the previous list, whole');
    t.true(s.logs.some((l) => /serving the cached project list/.test(String(l.msg))));
    up.faults = {};
    const after = await list();
    t.is(after.length, names.length + 2);
    t.true(after.includes('pkg-new'));
  });
}

test('several remotes keep their own cache state and store identical files once', async (t) => {
  const a = await FakeUpstream.start(t);
  const b = await FakeUpstream.start(t, { format: 'html' });
  const wheel = await buildWheel({ name: 'torch', version: '2.5.0', padBytes: 10_000 });
  a.addProject('torch', [{ dist: wheel }]);
  b.addProject('torch', [{ dist: wheel }]);
  const s = await startTestServer(t, {
    repositories: { pypi: { type: 'remote', url: a.url }, pytorch: { type: 'remote', url: b.url } },
  });
  for (const repo of ['pypi', 'pytorch']) {
    const res = await fetch(`${s.url}/${repo}/simple/torch/`, { headers: { Accept: JSON_ACCEPT } });
    const page = (await res.json()) as JsonPage;
    const body = await fetch(new URL(page.files[0]!.url, res.url));
    t.true(Buffer.from(await body.arrayBuffer()).equals(wheel.bytes), repo);
  }
  t.is(a.count('/simple/torch/'), 1);
  t.is(b.count('/simple/torch/'), 1);
  // The second remote's file was already in the blob store: no second download.
  t.is(a.count(a.fileUrl(wheel.filename)) + b.count(b.fileUrl(wheel.filename)), 1);
  t.is((await storageCounts(s.storage)).blobs, 1);
  // A file is only served through a repository whose index listed it.
  t.is((await fetch(`${s.url}/pypi/files/${wheel.sha256}/other-1.0-py3-none-any.whl`)).status, 404);
});

test('.metadata is kept byte for byte, even when it is not valid UTF-8', async (t) => {
  const up = await FakeUpstream.start(t);
  const built = await buildWheel({ name: 'oldpkg', version: '1.0' });
  // Old wheels exist with Latin-1 METADATA: 0xE9 is "é" there, invalid as UTF-8.
  const wheel = { ...built, metadata: Buffer.concat([built.metadata, Buffer.from('Author: Ren'), Buffer.from([0xe9]), Buffer.from('\n')]) };
  up.addProject('oldpkg', [{ dist: wheel }]);
  const s = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url } } });
  const res = await fetch(`${s.url}/pypi/simple/oldpkg/`, { headers: { Accept: JSON_ACCEPT } });
  const page = (await res.json()) as JsonPage;
  const meta = await fetch(new URL(`${page.files[0]!.url}.metadata`, res.url));
  t.is(meta.status, 200, meta.statusText);
  t.true(Buffer.from(await meta.arrayBuffer()).equals(wheel.metadata));
});
