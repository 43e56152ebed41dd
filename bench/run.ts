/**
 * `npm run bench`: pydepot against bare node:http baselines on the same data,
 * in the same run. Servers run in child processes (their RSS is measured
 * alone, and the load client does not share their event loop); clients run here.
 * pydepot's servers run the built `dist/` under plain node, as deployed
 * (built first with `npm run build` when dist/ is missing or older than src/):
 *   BENCH_TSX=1         run them from src/ under tsx instead (no build; more RSS and CPU)
 *   BENCH_NODE_FLAGS    node flags for the pydepot servers, e.g. "--max-semi-space-size=4" (default none)
 *   BENCH_HERD_CLIENT=curl  herd clients are curl processes (piped to sha256sum) instead of this Node process
 *                       (the replicas herd uses curl unless BENCH_HERD_CLIENT=node)
 *   BENCH_LOAD=wrk      single-URL loads run with Debian's wrk (apt-get install -y wrk) instead of the Node client
 *   BENCH_ONLY          comma-separated scenario groups to run: transfers, pages,
 *                       remote, herd, scale, virtual, wheelcache, policies, auth, soak, metadata, cacheops, workers, ui, wheelhouse, nginx, replicas, pip (default: all eighteen)
 *   BENCH_FILE_MB       size of the big wheel's data file in MiB (default 1024)
 *   BENCH_RUNS          big-file transfers per server (default 3; 7 below 512 MiB, where one run is noisy)
 * Remote repositories (bench/remote.ts), against bench/upstream-child.ts:
 *   BENCH_HERD_MB       size of the herd wheel's data file in MiB (default 200)
 *   BENCH_UPSTREAM_MBPS the upstream's bandwidth cap per response, MB/s (default 10)
 *   BENCH_HERD_CLIENTS  clients in the herd (default 50)
 *   BENCH_HERD_RUNS     herds, each against a fresh pydepot (default 3)
 *   BENCH_HERD_HASH     0: count the herd's bodies without hashing them (default: sha256 each;
 *                       the replicas herd hashes one body per replica unless BENCH_HERD_HASH=all)
 * Herd at fan-out speed (bench/fanout.ts): 50 clients of one uncached file from an
 * unpaced upstream (cold) against the same 50 clients once it is cached (warm).
 *   BENCH_FANOUT_MB     size of its wheel's data file in MiB (default 50)
 *   BENCH_FANOUT_RUNS   cold + warm pairs, each against a fresh pydepot (default 5)
 * How cost grows (bench/scale.ts): page latency p50/p99 for projects of 10 to
 * 10,000 files (local and remote); a remote root list of 500,000 names (time, peak
 * RSS); upload and page latency in a local repository of 1,000 then 100,000
 * projects (seeded through the metadata store, not over HTTP).
 *   BENCH_SCALE_FILES       the project sizes (default 10,100,1000,10000)
 *   BENCH_SCALE_ROOT_NAMES  names in the remote root list (default 500000)
 *   BENCH_SCALE_PROJECTS    projects of the big local repository (default 100000)
 * Virtual repositories (bench/virtual.ts): a merged 2,000-file page (local +
 * remote member) against the same page from one local repository.
 * Wheel caches (bench/wheelcache.ts): a merged 2,000-file page, 100 of its files
 * from a wheelcache member, against the same files from a virtual repository
 * without one.
 * Page policies (bench/policies.ts): a 2,000-file page through a remote and a
 * virtual repository with a `files` filter that keeps every file, against the
 * same page without the filter.
 * Credentials (bench/auth.ts): the 2,000-file JSON page of a `read: authenticated`
 * repository, with a password and with an API token, against a public repository.
 * Cache operations (bench/cacheops.ts): scrub throughput against sha256sum over
 * the same blobs; 50 clients downloading from a remote while maxCacheSize evicts.
 *   BENCH_SCRUB_MB      bytes of blobs the scrub reads, in MiB (default 1024)
 * Web UI (bench/ui.ts): the 2,000-file project's UI page (TTFB, req/s against its
 * index page) and search over 100,000 project names (p99, and the server CPU per search).
 *   BENCH_UI_NAMES      project names searched (default 100000)
 * Soak (bench/soak.ts): pip-like clients on a local, a remote and a virtual
 * repository while uploads, yanks and revalidations happen; errors must be 0.
 *   BENCH_SOAK_SECONDS  how long the soak runs (default 30)
 *   BENCH_SOAK_CLIENTS  concurrent clients (default 200)
 * Workers (bench/workers.ts): the 2,000-file JSON page from `workers: 1` and
 * `workers: auto` on the same storage.
 * Metadata (bench/metadata.ts): core metadata read out of upstream wheels by HTTP
 * Range, for an upstream whose pages give none: upstream bytes per wheel.
 * Wheelhouses (bench/wheelhouse.ts): `pydepot wheelhouse export` of a 30-project
 * graph for 2 targets against a `pip download` loop; planWheelhouse for 200 pins
 * and 4 targets; a big export's peak RSS and throughput against a bare zip copy.
 *   BENCH_WHEELHOUSE_GB size of the big export in GB (default 2)
 * The anchor (bench/nginx.ts): Debian's nginx serving the same page bytes
 * (gzip_static) and the same wheel (sendfile); every figure of issue 14 as a
 * ratio against it, with sendfileOffload behind nginx and the bare-Node
 * baselines beside. Skipped with one line when nginx is not installed.
 *   BENCH_NGINX_MB      size of its wheel's data file in MiB (default 200)
 * Replicas (bench/replicas.ts, issue 15): 3 replicas on a throw-away PostgreSQL
 * and s3rver against 1 process on SQLite and the disk: the 2,000-file page
 * (req/s, server CPU per request), a 50-client herd over the replicas (upstream
 * downloads, last byte against a direct download, peak RSS per replica) and a
 * warm download from S3 against the disk. Skipped with one line without PostgreSQL.
 *   BENCH_REPLICAS_MB   size of its wheel's data file in MiB (default 200)
 * pip (bench/pip-graph.ts): `pip install` of a 30-package graph from pydepot
 * against nginx serving the same wheels as a static PEP 503 index, warm, median.
 *   BENCH_PIP_RUNS      installs per side (default 9)
 */
import { mkdtemp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { BaselinePage } from './baseline-server.ts';
import { prepareServerRuntime, ROOT, startChild, stopAllChildren, stopChild } from './children.ts';
import { ACCEPT, check, fetchPage, LOAD, MB, mbps, median, settle } from './helpers.ts';
import { LOAD_ENGINE, measurePage, type PageResult } from './load.ts';
import { makeBigWheel } from './make-wheel.ts';
import { buildPageProject, PAGE_PROJECT, uploadFields, uploadPageProject, type PageProject } from './page-project.ts';
import { remoteScenarios } from './remote.ts';
import { fanoutScenarios } from './fanout.ts';
import { scaleScenarios } from './scale.ts';
import { virtualScenarios } from './virtual.ts';
import { wheelcacheScenarios } from './wheelcache.ts';
import { policyScenarios } from './policies.ts';
import { authScenarios } from './auth.ts';
import { soakScenarios } from './soak.ts';
import { metadataScenarios } from './metadata.ts';
import { cacheopsScenarios } from './cacheops.ts';
import { workersScenarios } from './workers.ts';
import { uiScenarios } from './ui.ts';
import { wheelhouseScenarios } from './wheelhouse.ts';
import { nginxScenarios } from './nginx.ts';
import { pipGraphScenarios } from './pip-graph.ts';
import { replicasScenarios } from './replicas.ts';
import { printTable, rowAdder, type Row } from './report.ts';
import { cpuSeconds, download, multipart, sampleRss, upload, type Transfer } from './transfer.ts';

const FILE_MB = Number(process.env.BENCH_FILE_MB ?? 1024);
// Big transfers: the median of RUNS, alternating pydepot and baseline.
const RUNS = Number(process.env.BENCH_RUNS ?? (FILE_MB >= 512 ? 3 : 7));
const GROUPS = ['transfers', 'pages', 'remote', 'herd', 'scale', 'virtual', 'wheelcache', 'policies', 'auth', 'soak', 'metadata', 'cacheops', 'workers', 'ui', 'wheelhouse', 'nginx', 'replicas', 'pip'] as const;
type Group = (typeof GROUPS)[number];
const ONLY = (process.env.BENCH_ONLY ?? GROUPS.join(',')).split(',').map((g) => g.trim()).filter(Boolean);
for (const g of ONLY) {
  if (!GROUPS.includes(g as Group)) throw new Error(`BENCH_ONLY: unknown group '${g}' (expected ${GROUPS.join(', ')})`);
}
const want = (g: Group): boolean => ONLY.includes(g);
const PAGE_FILES = 2000;
const RSS_LIMIT = 200e6;
const DEADLINE_MS = 20 * 60_000;

// --- scenarios ----------------------------------------------------------------------

async function main(work: string): Promise<void> {
  const rows: Row[] = [];
  const row = rowAdder(rows);
  const details: Record<string, unknown> = {};
  const loadBefore = os.loadavg()[0]!;
  if (loadBefore > 1) console.warn(`warning: load average is ${loadBefore.toFixed(1)} on ${os.cpus().length} cores; other work will skew these numbers`);
  console.log(`scenarios: ${ONLY.join(', ')}; load engine ${LOAD_ENGINE}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  // Built before any server starts (and before the load figures matter).
  const servers = prepareServerRuntime();
  console.log(`servers: ${servers}`);

  // The 2,000-file project, built once for the page scenarios that need it.
  let pageProject: Promise<PageProject> | null = null;
  const getPageProject = (): Promise<PageProject> => (pageProject ??= buildPageProject(PAGE_FILES));

  if (want('transfers') || want('pages')) {
    const pydepot = await startChild('bench/server-child.mjs', [join(work, 'storage')]);
    if (want('transfers')) await transferScenarios(work, pydepot, row, details);
    if (want('pages')) await pageScenarios(work, pydepot, row, details, await getPageProject());
    const rssNow = sampleRss(pydepot.pid).stop();
    console.log(`pydepot RSS at the end: ${(rssNow / MB).toFixed(0)} MB`);
    await stopChild(pydepot.proc);
    await rm(join(work, 'storage'), { recursive: true, force: true });
  }
  if (want('remote')) {
    await remoteScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('herd')) {
    await fanoutScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('scale')) {
    await scaleScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('virtual')) {
    await virtualScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('wheelcache')) {
    await wheelcacheScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('policies')) {
    await policyScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('auth')) {
    await authScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('ui')) {
    await uiScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('soak')) {
    await soakScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('metadata')) {
    await metadataScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('cacheops')) {
    await cacheopsScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('workers')) {
    await workersScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('wheelhouse')) {
    await wheelhouseScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('nginx')) {
    await nginxScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('replicas')) {
    await replicasScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }
  if (want('pip')) {
    await pipGraphScenarios({ work, row, details, pageProject: getPageProject, pageFiles: PAGE_FILES });
  }

  printTable(rows);
  const out = join(ROOT, 'bench', 'results');
  await mkdir(out, { recursive: true });
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    scenarios: ONLY,
    servers,
    fileMiB: FILE_MB,
    runs: RUNS,
    loadAverage: { before: loadBefore, after: os.loadavg()[0] },
    units: { throughput: 'MB/s (10^6 bytes)', rss: 'MB (10^6 bytes)', pages: 'requests/s', times: 'seconds' },
    rows,
    details,
  };
  await writeFile(join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${join(out, 'latest.json')}`);
  if (rows.some((r) => r.pass === false)) process.exitCode = 1;
}

type Server = Awaited<ReturnType<typeof startChild>>;

/** 1-3. Upload, then download, the big wheel; RSS sampled during each transfer. */
async function transferScenarios(work: string, pydepot: Server, row: ReturnType<typeof rowAdder>, details: Record<string, unknown>): Promise<void> {
  const t0 = performance.now();
  const wheel = await makeBigWheel(work, FILE_MB * 1024 * 1024);
  details.wheel = { filename: wheel.filename, bytes: wheel.size, sha256: wheel.sha256, buildSeconds: (performance.now() - t0) / 1000 };
  console.log(`built ${wheel.filename}: ${(wheel.size / MB).toFixed(0)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const baseline = await startChild('bench/baseline-server.ts', ['--file', wheel.path, '--upload-to', join(work, 'baseline-upload.bin')]);

  const fields = uploadFields(wheel.name, wheel.version, wheel.sha256);
  const rssNow = (pid: number): number => sampleRss(pid).stop();
  const pydepotRss: Record<string, number> = { atStart: rssNow(pydepot.pid) };
  const servers = { pydepot, baseline };
  type Side = keyof typeof servers;
  const sides: Side[] = ['pydepot', 'baseline'];
  type Kind = 'upload' | 'download';
  const perSide = (): Record<Side, number[]> => ({ pydepot: [], baseline: [] });
  const speed = { upload: perSide(), download: perSide() };
  const cpuSecondsPerGB = { upload: perSide(), download: perSide() };
  const rss = { upload: { pydepot: 0, baseline: 0 }, download: { pydepot: 0, baseline: 0 } };
  const transfer = (kind: Kind, side: Side): Promise<Transfer> => {
    const { url } = servers[side];
    if (kind === 'upload') return upload(side === 'pydepot' ? `${url}/bench/` : `${url}/upload`, multipart(fields, wheel.filename), wheel);
    return download(side === 'pydepot' ? `${url}/bench/files/${wheel.sha256}/${wheel.filename}` : `${url}/file`);
  };

  for (const kind of ['upload', 'download'] as const) {
    for (let i = 0; i < RUNS; i++) {
      for (const side of sides) {
        const { pid } = servers[side];
        settle();
        const cpu0 = cpuSeconds(pid);
        const sampler = sampleRss(pid);
        const t = await transfer(kind, side);
        rss[kind][side] = Math.max(rss[kind][side], sampler.stop());
        const cpu = cpuSeconds(pid) - cpu0;
        if (kind === 'upload') {
          check(t.status === 200, `${side} upload #${i + 1} answered ${t.status}: ${t.body.trim()}`);
          if (side === 'baseline') check((await stat(join(work, 'baseline-upload.bin'))).size === t.bytes, 'baseline stored the whole body');
        } else {
          check(t.status === 200 && t.bytes === wheel.size, `${side} download #${i + 1}: status ${t.status}, ${t.bytes} of ${wheel.size} bytes`);
        }
        speed[kind][side].push(mbps(t));
        cpuSecondsPerGB[kind][side].push(cpu / (t.bytes / 1e9));
        console.log(`${kind.padEnd(8)} #${i + 1} ${side.padEnd(8)} ${mbps(t).toFixed(0).padStart(5)} MB/s, server CPU ${cpu.toFixed(1)} s  ${t.body.trim()}`);
      }
    }
  }
  pydepotRss.afterTransfers = rssNow(pydepot.pid);
  await stopChild(baseline.proc);
  await rm(join(work, 'baseline-upload.bin'), { force: true });
  await rm(wheel.path, { force: true });

  const dl = { pydepot: median(speed.download.pydepot), baseline: median(speed.download.baseline) };
  const ul = { pydepot: median(speed.upload.pydepot), baseline: median(speed.upload.baseline) };
  row(`download ${FILE_MB} MiB wheel, MB/s (median of ${RUNS})`, dl.pydepot, dl.baseline, 'ratio >= 0.8', dl.pydepot / dl.baseline >= 0.8);
  row(`upload ${FILE_MB} MiB wheel, MB/s (median of ${RUNS})`, ul.pydepot, ul.baseline, '(report only)', null);
  row('peak server RSS while uploading, MB', rss.upload.pydepot / MB, rss.upload.baseline / MB, 'pydepot < 200', rss.upload.pydepot < RSS_LIMIT, false);
  row('peak server RSS while downloading, MB', rss.download.pydepot / MB, rss.download.baseline / MB, 'pydepot < 200', rss.download.pydepot < RSS_LIMIT, false);
  details.transfers = { mbps: speed, serverCpuSecondsPerGB: cpuSecondsPerGB, peakRssBytes: rss, pydepotRssBytes: pydepotRss };
}

/** 4. A project page of 2,000 files, uploaded over HTTP as twine would, against the same bytes from memory. */
async function pageScenarios(work: string, pydepot: Server, row: ReturnType<typeof rowAdder>, details: Record<string, unknown>, project: PageProject): Promise<void> {
  settle();
  const uploadSeconds = await uploadPageProject(pydepot.url, 'bench', project);
  console.log(`uploaded ${PAGE_FILES} wheels in ${uploadSeconds.toFixed(1)} s (${(PAGE_FILES / uploadSeconds).toFixed(0)}/s; built in ${project.buildSeconds.toFixed(1)} s)`);

  const pageUrl = `${pydepot.url}/bench/simple/${PAGE_PROJECT}/`;
  const pages: Record<string, BaselinePage> = {};
  const pageSizes: Record<string, number> = {};
  // pip sends `Accept-Encoding: gzip, deflate`: the gzip rows are the ones pip sees.
  const variants = [
    { key: 'json', format: 'json', gzip: false },
    { key: 'html', format: 'html', gzip: false },
    { key: 'json-gzip', format: 'json', gzip: true },
    { key: 'html-gzip', format: 'html', gzip: true },
  ] as const;
  const encodingHeaders = (gzip: boolean): Record<string, string> => (gzip ? { 'Accept-Encoding': 'gzip, deflate' } : {});
  for (const { key, format, gzip } of variants) {
    const page = await fetchPage(pageUrl, ACCEPT[format], undefined, encodingHeaders(gzip));
    check(page.status === 200, `${key} page answered ${page.status}`);
    check(gzip === (page.headers['content-encoding'] === 'gzip'), `${key} page: Content-Encoding ${String(page.headers['content-encoding'])}`);
    const body = gzip ? gunzipSync(page.body) : page.body;
    const count = format === 'json'
      ? (JSON.parse(body.toString('utf8')) as { files: unknown[] }).files.length
      : body.toString('utf8').split('<a ').length - 1;
    check(count === PAGE_FILES, `${key} page lists ${count} files, expected ${PAGE_FILES}`);
    pages[key] = { headers: page.headers, bodyBase64: page.bodyBase64 };
    pageSizes[key] = page.body.length;
  }
  const pagesFile = join(work, 'pages.json');
  await writeFile(pagesFile, JSON.stringify(pages));
  const pageBaseline = await startChild('bench/baseline-server.ts', ['--pages', pagesFile]);

  type Side = 'pydepot' | 'baseline';
  const load: Record<string, Record<Side, PageResult>> = {};
  for (const { key, format, gzip } of variants) {
    const results = {} as Record<Side, PageResult>;
    for (const [side, url, pid] of [['pydepot', pageUrl, pydepot.pid], ['baseline', `${pageBaseline.url}/bench/simple/${PAGE_PROJECT}/`, pageBaseline.pid]] as const) {
      settle();
      const r = await measurePage({ url, headers: { Accept: ACCEPT[format], ...encodingHeaders(gzip) }, expectBytes: pageSizes[key]!, ...LOAD }, pid);
      check(r.ok > 0 && r.failed === 0, `${side} ${key} page load: ${r.failed} failed (${r.firstError ?? 'none ok'})`);
      console.log(`${key.padEnd(9)} page ${side.padEnd(8)} ${r.rps.toFixed(0).padStart(6)} req/s (${(pageSizes[key]! / 1024).toFixed(0)} KiB); CPU per request: server ${r.serverUsPerRequest.toFixed(0)} µs, client ${r.clientUsPerRequest.toFixed(0)} µs`);
      results[side] = r;
    }
    load[key] = results;
    const label = `${format.toUpperCase()}${gzip ? ' gzip' : ''}`;
    row(`project page (${PAGE_FILES} files) ${label}, req/s`, results.pydepot.rps, results.baseline.rps, 'ratio >= 0.5', results.pydepot.rps / results.baseline.rps >= 0.5);
    // The load client is often the bottleneck on 2 cores; server CPU per request is the sharper signal.
    row(`  ${label} page: server CPU per request, µs`, results.pydepot.serverUsPerRequest, results.baseline.serverUsPerRequest, '(report only)', null);
  }
  await stopChild(pageBaseline.proc);
  details.pages = { files: PAGE_FILES, buildSeconds: project.buildSeconds, uploadSeconds, bytes: pageSizes, load, loadOptions: LOAD, pydepotRssBytes: sampleRss(pydepot.pid).stop() };
}

// --- run, bounded in time, cleaning up whatever happens -------------------------------

const work = await mkdtemp(join(os.tmpdir(), 'pydepot-bench-'));
let cleaned: Promise<void> | null = null;
const cleanup = (): Promise<void> => (cleaned ??= (async () => {
  await stopAllChildren();
  await rm(work, { recursive: true, force: true });
})());
const abort = (why: string): void => {
  console.error(`bench: ${why}`);
  void cleanup().finally(() => process.exit(1));
};
const deadline = setTimeout(() => abort(`gave up after ${DEADLINE_MS / 60_000} min`), DEADLINE_MS);
process.once('SIGINT', () => abort('interrupted'));
process.once('SIGTERM', () => abort('terminated'));

try {
  await main(work);
} catch (err) {
  console.error('bench failed:', err);
  process.exitCode = 1;
} finally {
  clearTimeout(deadline);
  await cleanup();
}
