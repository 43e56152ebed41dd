/**
 * Several pydepot processes on one storage: two `pydepot serve` children
 * (the situation of `workers: n`, where the test cannot pick the worker), and
 * one `workers: 2` cluster. What they share is the database: page serials,
 * files, and the leases that make one upstream download per file and one
 * revalidation per page across all of them.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import test, { type ExecutionContext } from 'ava';
import { deadline, launch, startChild, writeConfig, type ChildServer } from '../helpers/child-server.ts';
import { CI } from '../helpers/ci-user.ts';
import { buildWheel } from '../helpers/dists.ts';
import { download, fileGets, page, sha256, type JsonPage } from '../helpers/cluster-http.ts';
import { FakeUpstream, JSON_TYPE } from '../helpers/fake-upstream.ts';
import { seedCi, tempDir } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

const WAIT_MS = 60_000;


/** Two `pydepot serve` processes on one fresh storage, with the config given. */
async function twoServers(t: ExecutionContext, raw: Record<string, unknown>): Promise<{ a: string; b: string; servers: ChildServer[]; storage: string }> {
  const dir = await tempDir(t);
  const storage = `${dir}/storage`;
  await seedCi(storage);
  const config = await writeConfig(dir, raw, storage);
  const [first, second] = await Promise.all([startChild(t, { config, storage }), startChild(t, { config, storage })]);
  return { a: first.url, b: second.url, servers: [first.server, second.server], storage };
}

const remoteConfig = (up: FakeUpstream, extra: Record<string, unknown> = {}) => ({
  repositories: {
    internal: { type: 'local', upload: [CI.user] },
    pypi: { type: 'remote', url: up.url },
    // Same upstream, every request revalidates: a revalidation per request, not per TTL.
    live: { type: 'remote', url: up.url, indexTtl: 0 },
  },
  defaultRepository: 'internal',
  ...extra,
});

test('two serve processes on one storage: a herd makes one upstream GET, a page one revalidation, an upload is listed by the other at once', async (t) => {
  const up = await FakeUpstream.start(t);
  const wheel = await buildWheel({ name: 'acme-herd', version: '1.0', padBytes: 512 * 1024 });
  const other = await buildWheel({ name: 'acme-cold', version: '1.0' });
  up.addProject('acme-herd', [{ dist: wheel }]);
  up.addProject('acme-cold', [{ dist: other }]);
  const { a, b } = await twoServers(t, remoteConfig(up));

  // A cold page asked of both at once (held upstream so that both wait on it): one upstream GET.
  up.pageFaults('acme-cold', { latencyMs: 500 });
  const cold = await Promise.all([a, b, a, b].map((u) => page(`${u}/pypi/simple/acme-cold/`)));
  t.true(cold.every((p) => p.files.length === 1 && p.files[0]!.hashes.sha256 === other.sha256));
  t.is(up.count(up.pageUrl('acme-cold')), 1, 'one upstream GET for a page asked of both processes');

  // A stored page revalidated by both at once: one conditional GET.
  await page(`${a}/live/simple/acme-cold/`);
  up.resetCounts();
  const again = await Promise.all([a, b, a, b].map((u) => page(`${u}/live/simple/acme-cold/`)));
  t.true(again.every((p) => p.files.length === 1));
  t.is(up.count(up.pageUrl('acme-cold')), 1, 'one revalidation across both processes');

  // 20 cold downloads of one file, half through each process: one upstream GET, all verified.
  up.fileFaults(wheel.filename, { bytesPerSecond: 1024 * 1024 });
  const listed = await page(`${a}/pypi/simple/acme-herd/`);
  t.is((await page(`${b}/pypi/simple/acme-herd/`)).files.length, 1);
  const path = `/pypi/simple/acme-herd/`;
  const rel = listed.files[0]!.url;
  const got = await Promise.all(Array.from({ length: 20 }, (_, i) => download(new URL(rel, `${i % 2 ? a : b}${path}`).href)));
  t.deepEqual(got.filter((g) => g.status !== 200 || g.sha256 !== wheel.sha256), [], 'every client got the verified bytes');
  t.is(fileGets(up, wheel), 1, 'one upstream GET for the file across both processes');

  // An upload through A is on B's page at once (serials come from the database).
  const mine = await buildWheel({ name: 'acme-mine', version: '1.0' });
  const before = await fetch(`${b}/internal/simple/acme-mine/`, { headers: { accept: JSON_TYPE } });
  t.is(before.status, 404);
  t.is((await upload(`${a}/internal/`, mine, 'acme-mine', '1.0')).status, 200);
  const seen = await page(`${b}/internal/simple/acme-mine/`);
  t.deepEqual(seen.files.map((f) => f.filename), [mine.filename]);
  // A second version through B changes the page (and its ETag) served by A.
  const etagA = (await fetch(`${a}/internal/simple/acme-mine/`, { headers: { accept: JSON_TYPE } })).headers.get('etag');
  const second = await buildWheel({ name: 'acme-mine', version: '2.0' });
  t.is((await upload(`${b}/internal/`, second, 'acme-mine', '2.0')).status, 200);
  const res = await fetch(`${a}/internal/simple/acme-mine/`, { headers: { accept: JSON_TYPE } });
  t.not(res.headers.get('etag'), etagA);
  t.is(((await res.json()) as JsonPage).files.length, 2);

  // The same file uploaded through both at once: one row, one blob, served verified by both.
  const race = await buildWheel({ name: 'acme-race', version: '1.0', padBytes: 256 * 1024 });
  const statuses = await Promise.all([a, b].map(async (u) => (await upload(`${u}/internal/`, race, 'acme-race', '1.0')).status));
  t.true(statuses.includes(200), `statuses ${statuses.join(', ')}`);
  for (const u of [a, b]) {
    const p = await page(`${u}/internal/simple/acme-race/`);
    t.deepEqual(p.files.map((f) => f.filename), [race.filename]);
    const d = await download(new URL(p.files[0]!.url, `${u}/internal/simple/acme-race/`).href);
    t.deepEqual(d, { status: 200, sha256: race.sha256 });
  }
});

test('the holder of a download is killed (kill -9): the other process takes over (at once on the same machine), and clients that retry get verified bytes', async (t) => {
  const up = await FakeUpstream.start(t);
  const wheel = await buildWheel({ name: 'acme-stall', version: '1.0', padBytes: 512 * 1024 });
  up.addProject('acme-stall', [{ dist: wheel }]);
  // Stalls: 512 KiB at 32 KiB/s would take 16 s.
  up.fileFaults(wheel.filename, { bytesPerSecond: 32 * 1024 });
  const { a, b, servers } = await twoServers(t, remoteConfig(up, { leaseTtl: 1 }));
  const [holder] = servers;
  const rel = (await page(`${a}/pypi/simple/acme-stall/`)).files[0]!.url;
  const fileA = new URL(rel, `${a}/pypi/simple/acme-stall/`).href;
  const fileB = new URL(rel, `${b}/pypi/simple/acme-stall/`).href;

  // A answers with headers once the first bytes arrived: it holds the lease then.
  const resA = await fetch(fileA);
  t.is(resA.status, 200);
  const cut = resA.arrayBuffer().then(() => 'whole', () => 'cut');
  // B's client waits for the commit of A's download.
  const viaB = download(fileB);
  t.is(fileGets(up, wheel), 1);
  holder!.child.kill('SIGKILL');
  await holder!.exited;
  t.is(await cut, 'cut', 'the client of the killed process sees a cut download, never a complete-looking bad one');
  // The upstream recovers; B takes over (its holder's process is gone; elsewhere the lease would lapse after 1 s).
  up.fileFaults(wheel.filename, {});
  t.deepEqual(await deadline(viaB, WAIT_MS, 'the takeover'), { status: 200, sha256: wheel.sha256 });
  t.is(fileGets(up, wheel), 2, 'the killed holder\'s GET, and the one of the process that took over');
  // The client that was cut retries (against the process that is left).
  t.deepEqual(await download(fileB), { status: 200, sha256: wheel.sha256 });
  t.is(fileGets(up, wheel), 2);
});

test('workers: 2 serves through both workers over one socket, forks a killed worker again, and stops cleanly on SIGTERM', async (t) => {
  const dir = await tempDir(t);
  const storage = `${dir}/storage`;
  await seedCi(storage);
  const config = await writeConfig(dir, { workers: 2, repositories: { internal: { type: 'local', upload: [CI.user] } } }, storage);
  const server = launch(t, { config, storage });
  const url = await server.listening;
  // Both workers listen on the one port the primary holds.
  for (const n of [1, 2]) {
    const re = new RegExp(`"worker":${n},[^\\n]*"msg":"pydepot listening"`);
    await deadline(waitFor(server, () => re.test(server.output())), WAIT_MS, `worker ${n} to listen`);
  }
  for (const m of server.output().matchAll(/"url":"([^"]+)"[^\n]*"msg":"pydepot listening"/g)) t.is(m[1], url);

  const wheel = await buildWheel({ name: 'acme-workers', version: '1.0' });
  t.is((await upload(`${url}/internal/`, wheel, 'acme-workers', '1.0')).status, 200);
  // Whichever worker answers, the upload is listed (many requests: both workers take some).
  const pages = await Promise.all(Array.from({ length: 10 }, () => page(`${url}/internal/simple/acme-workers/`)));
  t.true(pages.every((p) => p.files.length === 1));
  t.is((await fetch(`${url}/-/health`)).status, 200);

  // /-/metrics answers for the whole server, whichever worker takes it: 20 more
  // health checks, one connection each (the cluster deals connections out in
  // turn), counted by both workers, show as one total of 21.
  const logged = (n: number): number => (server.output().match(new RegExp(`"worker":${n},[^\\n]*"path":"/-/health"`, 'g')) ?? []).length;
  const checks = await Promise.all(Array.from({ length: 20 }, () => getOnNewConnection(`${url}/-/health`)));
  t.true(checks.every((s) => s === 200));
  await deadline(waitFor(server, () => logged(1) + logged(2) === 21), WAIT_MS, 'the health checks to be logged');
  t.true(logged(1) > 0 && logged(2) > 0, `both workers answered health checks (${logged(1)} and ${logged(2)})`);
  for (let i = 0; i < 4; i++) {
    const res = await getText(`${url}/-/metrics`);
    t.is(res.status, 200);
    t.regex(res.text, /^pydepot_http_requests_total\{method="GET",route="\/-\/health",status="200"\} 21$/m, 'the counter is the sum over both workers');
    // Process metrics stay per worker.
    t.regex(res.text, /^pydepot_process_resident_memory_bytes\{worker="1"\} \d+/m);
    t.regex(res.text, /^pydepot_process_resident_memory_bytes\{worker="2"\} \d+/m);
  }

  // A worker killed (kill -9) is forked again by the primary.
  const workers = readFileSync(`/proc/${server.child.pid}/task/${server.child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  t.is(workers.length, 2);
  process.kill(workers[0]!, 'SIGKILL');
  const listening = /"msg":"pydepot listening"/g;
  await deadline(waitFor(server, () => (server.output().match(listening) ?? []).length === 3), WAIT_MS, 'the killed worker to be started again');
  t.regex(server.output(), /"worker":0,[^\n]*"msg":"worker \d exited; starting it again"/);
  t.is((await page(`${url}/internal/simple/acme-workers/`)).files.length, 1);

  const exit = await server.stop();
  t.deepEqual(exit, { code: 0, signal: null });
  t.regex(server.output(), /"worker":1,[^\n]*"msg":"pydepot stopped"/);
  t.regex(server.output(), /"worker":2,[^\n]*"msg":"pydepot stopped"/);
  t.regex(server.output(), /"msg":"pydepot stopped \(all workers\)"/);
});

/** GET on a connection of its own (the next worker in turn takes it): the status. */
function getOnNewConnection(url: string): Promise<number> {
  return getText(url).then((r) => r.status);
}

function getText(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** Resolves when `done()` holds, checked at each of the child's stdout 'data' events. */
function waitFor(server: ChildServer, done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!done()) return;
      server.child.stdout!.off('data', check);
      resolve();
    };
    // After the helper's own listener, which appends to the output.
    server.child.stdout!.on('data', check);
    check();
  });
}
