/**
 * A small soak: 50 pip-like clients for a few seconds against a local, a
 * remote (on the fake upstream) and a virtual repository over both, while
 * files are uploaded, versions yanked and un-yanked (through another database
 * connection, as `pydepot yank` does), the upstream publishes new releases and
 * the remote revalidates its pages every half second. Every answer must be
 * the one pip expects (200, 304 to a conditional request, 404 for a project
 * nobody has) and every file and metadata file must match the sha256 its page
 * gave. `npm run bench` (BENCH_ONLY=soak) runs the full-size version.
 */
import test from 'ava';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { getPage, getVerified, JSON_ACCEPT, percentile } from '../helpers/pip-like.ts';
import { CI, startTestServer } from '../helpers/server.ts';
import { storageCounts } from '../helpers/storage.ts';
import { upload } from '../helpers/upload.ts';
import { openTestStorage } from '../helpers/test-backend.ts';

const CLIENTS = 50;
const SOAK_MS = 5000;
const REQUEST_TIMEOUT_MS = 20_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/** What each repository serves; `all` = internal + pypi, where acme-core is hosted and so never comes from upstream. */
const PROJECTS = {
  internal: ['acme-core', 'acme-utils'],
  pypi: ['requests', 'six', 'acme-core'],
  all: ['acme-core', 'acme-utils', 'requests', 'six'],
} as const;
type Repo = keyof typeof PROJECTS;
const SQUAT_VERSION = '99.0.0';

test('soak: 50 pip-like clients on local, remote and virtual repositories during uploads, yanks and revalidations: no errors, every byte verified', async (t) => {
  const up = await FakeUpstream.start(t);
  const requestsFiles = [{ dist: await buildWheel({ name: 'requests', version: '2.31.0' }) }, { dist: await buildSdist({ name: 'requests', version: '2.31.0' }) }];
  up.addProject('requests', requestsFiles);
  up.addProject('six', [{ dist: await buildWheel({ name: 'six', version: '1.16.0', padBytes: 200_000 }) }]);
  up.addProject('acme-core', [{ dist: await buildWheel({ name: 'acme-core', version: SQUAT_VERSION }) }]);
  const s = await startTestServer(t, {
    defaultRepository: 'all',
    repositories: {
      internal: { type: 'local', upload: [CI.user] },
      pypi: { type: 'remote', url: up.url, indexTtl: 0.5, timeout: 5 },
      all: { type: 'virtual', members: ['internal', 'pypi'], uploadTo: 'internal' },
    },
  });
  const put = async (repo: string, dist: BuiltDist, name: string, version: string): Promise<void> => {
    const res = await upload(`${s.url}/${repo}/`, dist, name, version);
    if (res.status !== 200) throw new Error(`upload of ${dist.filename} to ${repo}: ${res.status} ${await res.text()}`);
  };
  await put('internal', await buildWheel({ name: 'acme-core', version: '1.0.0', padBytes: 100_000 }), 'acme-core', '1.0.0');
  await put('internal', await buildSdist({ name: 'acme-core', version: '1.0.0' }), 'acme-core', '1.0.0');
  await put('internal', await buildWheel({ name: 'acme-utils', version: '1.0.0' }), 'acme-utils', '1.0.0');
  // Built before the clock starts: what the writers publish while the clients run.
  const uploads = await Promise.all(Array.from({ length: 24 }, (_, i) => {
    const name = i % 2 === 0 ? 'acme-core' : 'acme-utils';
    return buildWheel({ name, version: `1.${i + 1}.0` }).then((dist) => ({ dist, name, version: `1.${i + 1}.0` }));
  }));
  const upstreamReleases = await Promise.all(Array.from({ length: 12 }, (_, i) => buildWheel({ name: 'requests', version: `2.32.${i}` })));

  // --- the clients ------------------------------------------------------------
  const errors: string[] = [];
  const latencies: number[] = [];
  const counts = { page: 0, notModified: 0, notFound: 0, metadata: 0, file: 0 };
  const deadline = performance.now() + SOAK_MS;
  // On a busy machine (PostgreSQL + S3, load 10+) a client made three requests in the 5 s, and no
  // conditional one found its page unchanged: the clients go on past the deadline (the writers
  // stop there, so pages settle) until the mix has had a 304 and a 404, for at most 30 s more.
  const mixSeen = (): boolean => counts.notModified > 0 && counts.notFound > 0;
  const going = (): boolean => performance.now() < deadline || (!mixSeen() && performance.now() < deadline + 30_000);
  const timed = async <T>(f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      latencies.push(performance.now() - t0);
    }
  };
  const client = async (id: number): Promise<void> => {
    // Pages this client has read, with their ETags: like pip's HTTP cache, it asks again conditionally.
    const seen = new Map<string, { repo: Repo; project: string; format: 'json' | 'html'; etag: string }>();
    let missing = 0;
    while (going()) {
      const again = seen.size > 0 && Math.random() < 0.3 ? pick([...seen.values()]) : null;
      const repo: Repo = again?.repo ?? pick(['internal', 'pypi', 'all'] as const);
      const nobody = !again && Math.random() < 0.1;
      const project = again?.project ?? (nobody ? `nobody-has-${id}-${missing++}` : pick(PROJECTS[repo]));
      const format = again?.format ?? pick(['json', 'html'] as const);
      const pageUrl = `${s.url}/${repo}/simple/${project}/`;
      const key = `${format} ${pageUrl}`;
      const conditional = again?.etag;
      try {
        const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
        const page = await timed(() => getPage(pageUrl, format, conditional, signal));
        if (nobody) {
          if (page.status !== 404) throw new Error(`GET ${pageUrl}: ${page.status}, expected 404`);
          counts.notFound++;
          continue;
        }
        if (page.status === 304 && conditional) {
          counts.notModified++;
          continue;
        }
        if (page.status !== 200) throw new Error(`GET ${pageUrl}${conditional ? ' (conditional)' : ''}: ${page.status} ${page.text.slice(0, 200)}`);
        counts.page++;
        if (page.etag) seen.set(key, { repo, project, format, etag: page.etag });
        if (page.files.length === 0) throw new Error(`GET ${pageUrl}: no files`);
        if (repo !== 'pypi' && page.files.some((f) => f.filename.includes(`-${SQUAT_VERSION}`))) {
          throw new Error(`GET ${pageUrl}: the upstream's ${project} ${SQUAT_VERSION} leaked into a hosted project`);
        }
        const f = pick(page.files);
        if (!f.url.startsWith(`${s.url}/${repo}/files/`)) throw new Error(`GET ${pageUrl}: ${f.filename} links outside the repository: ${f.url}`);
        if (f.metadataSha256) {
          await timed(() => getVerified(`${f.url}.metadata`, f.metadataSha256!, signal));
          counts.metadata++;
        }
        await timed(() => getVerified(f.url, f.sha256, signal));
        counts.file++;
      } catch (err) {
        errors.push(`client ${id}: ${(err as Error).message}`);
      }
    }
  };

  // --- the writers ------------------------------------------------------------
  const yanks = { yank: 0, unyank: 0 };
  const yanked = new Map<string, boolean>(); // "project version" → what the last write said
  const uploaded: Array<{ name: string; version: string }> = [];
  const st = await openTestStorage(s.storage);
  t.teardown(() => st.store.close());
  const uploadMs: number[] = [];
  let nextUpload = 0;
  const uploader = async (): Promise<void> => {
    while (nextUpload < uploads.length && performance.now() < deadline - 1000) {
      const u = uploads[nextUpload++]!;
      const t1 = performance.now();
      // Half of them as `twine upload --repository-url .../all/` would: to all's uploadTo.
      await put(nextUpload % 2 === 0 ? 'internal' : 'all', u.dist, u.name, u.version);
      uploadMs.push(performance.now() - t1);
      uploaded.push(u);
      await sleep(100);
    }
  };
  const yanker = async (): Promise<void> => {
    while (performance.now() < deadline - 300) {
      const candidates = [{ name: 'acme-core', version: '1.0.0' }, ...uploaded];
      const { name, version } = pick(candidates);
      const key = `${name} ${version}`;
      const yank = !(yanked.get(key) ?? false);
      await st.store.setYanked('internal', name, version, yank, yank ? 'soak test' : null);
      yanked.set(key, yank);
      yanks[yank ? 'yank' : 'unyank']++;
      await sleep(100);
    }
  };
  const published = [...requestsFiles];
  const publisher = async (): Promise<void> => {
    for (const dist of upstreamReleases) {
      if (performance.now() > deadline - 1000) break;
      published.push({ dist });
      up.addProject('requests', [...published]);
      await sleep(300);
    }
  };

  const rss0 = process.memoryUsage().rss;
  let rssPeak = rss0;
  const rssTimer = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 100);
  const t0 = performance.now();
  await Promise.all([...Array.from({ length: CLIENTS }, (_, i) => client(i)), uploader(), uploader(), yanker(), publisher()]);
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(rssTimer);

  const total = latencies.length;
  t.log(`${total} requests in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(0)}/s) by ${CLIENTS} clients: ${JSON.stringify(counts)}`);
  t.log(`latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(0)} ms`);
  t.log(`meanwhile: ${uploaded.length} uploads (median ${percentile(uploadMs, 50).toFixed(0)} ms), ${yanks.yank} yanks, ${yanks.unyank} un-yanks, ${published.length - requestsFiles.length} upstream releases, `
    + `${up.count((r) => r.path.startsWith('/simple/') && r.headers['if-none-match'] !== undefined)} upstream revalidations (${up.count((r) => r.status === 304)} answered 304)`);
  t.log(`test process RSS (server, upstream and clients together): ${(rss0 / 1e6).toFixed(0)} MB before, peak ${(rssPeak / 1e6).toFixed(0)} MB`);
  t.deepEqual(errors.slice(0, 10), [], `${errors.length} errors`);
  t.true(counts.page >= CLIENTS && counts.file >= CLIENTS, 'every client read pages and files');
  t.true(counts.notModified > 0 && counts.notFound > 0, 'conditional requests got 304, and unknown projects 404');
  t.true(uploaded.length >= 2 && yanks.yank > 0 && yanks.unyank > 0, 'uploads, yanks and un-yanks happened during the soak');
  t.true(up.count((r) => r.path === '/simple/requests/' && r.headers['if-none-match'] !== undefined) > 0, 'the remote revalidated');

  // Afterwards, the merged view holds exactly what was written: every upload, the last yank state, the latest upstream release.
  await sleep(600); // past indexTtl
  const res = await fetch(`${s.url}/all/simple/acme-core/`, { headers: { Accept: JSON_ACCEPT } });
  const core = await res.json() as { versions: string[]; files: Array<{ filename: string; yanked: false | string }> };
  const coreVersions = ['1.0.0', ...uploaded.filter((u) => u.name === 'acme-core').map((u) => u.version)];
  t.deepEqual([...core.versions].sort(), [...coreVersions].sort());
  for (const f of core.files) {
    // `acme_core-1.0.0.tar.gz` and `acme_core-1.0.0-py3-none-any.whl`: the version is the second part either way.
    const version = f.filename.replace(/\.tar\.gz$/, '').split('-')[1]!;
    t.is(f.yanked !== false, yanked.get(`acme-core ${version}`) ?? false, `${f.filename}'s yank state`);
  }
  const req = await (await fetch(`${s.url}/all/simple/requests/`, { headers: { Accept: JSON_ACCEPT } })).json() as { versions: string[] };
  t.is(req.versions.at(-1), published.at(-1)!.dist.filename.split('-')[1]);
  t.is((await storageCounts(s.storage)).tmp, 0, 'no temp file left behind');
});
