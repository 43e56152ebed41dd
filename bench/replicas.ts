/**
 * Replicas (issue 15): 3 pydepot processes sharing one PostgreSQL (a
 * throw-away cluster, test/helpers/postgres.ts) and one S3 bucket (s3rver in
 * its own process, bench/s3-child.ts), against 1 process on SQLite and the
 * local disk, in one run:
 * - the 2,000-file JSON page, one load client spread over the 3 replicas (loop
 *   i asks replica i % 3) against the same load on the one SQLite process:
 *   req/s, and server CPU per request (the replicas' summed; PostgreSQL's own
 *   processes beside it, report only, since SQLite's queries run inside pydepot);
 * - a herd of 50 clients spread over the replicas asking for one uncached
 *   50 MiB file of a remote repository: upstream downloads (from the fake
 *   upstream's own events), the last client's last byte against one client
 *   going straight to the same upstream, and each replica's peak RSS;
 * - a 200 MiB file, warm, downloaded through a replica (bytes from S3) against
 *   the SQLite process (bytes from its disk): MiB/s.
 * Without PostgreSQL's binaries the group prints one line and returns.
 *   BENCH_REPLICAS_MB       size of the warm download's wheel data file in MiB (default 200)
 *   BENCH_REPLICAS_PARTS    which parts to run, of herd,page,warm (default all three)
 *   BENCH_REPLICAS_HERD_MB  size of the herd's wheel data file in MiB (default 50: 50 clients
 *                           move 50 times its size through s3rver, a replica and the client's
 *                           sha256; at 200 MiB that alone took 6 minutes on this loaded machine)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { freshDatabase, postgresBinDir, startCluster, type PgCluster } from '../test/helpers/postgres.ts';
import { S3_BUCKET, useS3rverCredentials } from '../test/helpers/s3.ts';
import { startChild, stopChild, type Child } from './children.ts';
import { ACCEPT, check, fetchPage, LOAD, MB, median, settle } from './helpers.ts';
import { herd } from './herd.ts';
import { runLoad } from './load.ts';
import { makeBigWheel } from './make-wheel.ts';
import { PAGE_PROJECT, uploadFields, uploadPageProject } from './page-project.ts';
import { UpstreamLog } from './remote.ts';
import type { ScenarioContext } from './report.ts';
import { cpuSeconds, download, multipart, processTree, sampleRss, upload } from './transfer.ts';
import type { UpstreamManifest } from './upstream-child.ts';

const REPLICAS = 3;
const FILE_MIB = Number(process.env.BENCH_REPLICAS_MB ?? 200);
const HERD_MIB = Number(process.env.BENCH_REPLICAS_HERD_MB ?? 50);
const UPSTREAM_MBPS = Number(process.env.BENCH_UPSTREAM_MBPS ?? 10);
const CLIENTS = Number(process.env.BENCH_HERD_CLIENTS ?? 50);
const PARTS = new Set((process.env.BENCH_REPLICAS_PARTS ?? 'herd,page,warm').split(',').map((p) => p.trim()));
/**
 * The herd's clients are curl processes, and one body per replica is hashed
 * (the others counted) unless BENCH_HERD_CLIENT=node / BENCH_HERD_HASH=all say
 * otherwise: on 2 cores, 50 Node clients hashing every body (2.5 GB) in this
 * one process took 7-8 CPU-s on one thread, more than the 3 replicas' 5.5, and
 * set the last byte themselves. Clients in production have CPUs of their own.
 */
const CLIENT: 'node' | 'curl' = process.env.BENCH_HERD_CLIENT === 'node' ? 'node' : 'curl';
const HASH: boolean | number = process.env.BENCH_HERD_HASH === '0' ? false : process.env.BENCH_HERD_HASH === 'all' ? true : REPLICAS;
const PAGE_RUNS = 2; // alternating sides; each a warm-up and LOAD.durationMs
const WARM_RUNS = 3;
const WARMUP_MS = 2000;
const START_MS = 120_000;
const CPU_RATIO = 1.5;
const HERD_RATIO = 2;
const RSS_LIMIT = 250e6;
const REMOTE = 'upstream';
const MiB = 1024 * 1024;
const PG_INSTALL = 'apt-get install -y postgresql';

/** The requests s3rver reported (bench/s3-child.ts), with when they were seen here. */
class S3Log {
  readonly requests: Array<{ method: string; url: string; range: string | null; at: number }> = [];
  constructor(child: Child) {
    child.lines.on('line', (line) => {
      const e = JSON.parse(line) as { event: string; method: string; url: string; range: string | null };
      if (e.event === 's3') this.requests.push({ ...e, at: performance.now() });
    });
  }
  /** Requests since index `since` on the object of `sha256` (its key ends in the hash). */
  on(sha256: string, since: number): S3Log['requests'] {
    return this.requests.slice(since).filter((r) => r.url.split('?')[0]!.endsWith(`/${sha256}`));
  }
}

/** CPU seconds of a set of processes from now on; pids come and go (PostgreSQL backends), so each is read at the end. */
function cpuMeter(pids: () => number[]): () => number {
  const read = (pid: number): number | null => {
    try {
      return cpuSeconds(pid);
    } catch {
      return null;
    }
  };
  const start = new Map(pids().map((p) => [p, read(p) ?? 0]));
  return () => pids().reduce((sum, p) => sum + Math.max(0, (read(p) ?? 0) - (start.get(p) ?? 0)), 0);
}

/** The postmaster's pid (first line of postmaster.pid) and its children: the backends, the writers. */
function postgresPids(cluster: PgCluster): number[] {
  try {
    const pid = Number(readFileSync(join(cluster.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    return processTree(pid);
  } catch {
    return [];
  }
}

/** Waits (up to 10 s) until `pids` together use under a tenth of a core over half a second. */
async function quiet(pids: number[]): Promise<void> {
  const until = performance.now() + 10_000;
  while (performance.now() < until) {
    const cpu = cpuMeter(() => pids);
    await new Promise((r) => setTimeout(r, 500));
    if (cpu() < 0.05) return;
  }
}

export async function replicasScenarios(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  if (!postgresBinDir()) {
    console.log(`replicas: skipped, PostgreSQL is not installed (${PG_INSTALL}; README "Benchmarks")`);
    details.replicas = { skipped: 'PostgreSQL is not installed' };
    return;
  }
  const t0 = performance.now();
  const dir = join(work, 'replicas');
  await mkdir(dir, { recursive: true });
  const started: Child[] = [];
  let cluster: PgCluster | null = null;
  try {
    // The credentials s3rver accepts, in the environment the replicas inherit.
    useS3rverCredentials();
    await mkdir(join(dir, 'herd'));
    const [pgc, s3, wheel, herdWheel, page] = await Promise.all([
      startCluster(),
      startChild('bench/s3-child.ts', []),
      makeBigWheel(dir, FILE_MIB * MiB),
      makeBigWheel(join(dir, 'herd'), HERD_MIB * MiB),
      ctx.pageProject(),
    ]);
    cluster = pgc;
    started.push(s3);
    const s3Log = new S3Log(s3);
    const database = await freshDatabase(cluster);
    const blobs = { type: 's3', endpoint: s3.url, bucket: S3_BUCKET, region: 'us-east-1', prefix: 'bench', forcePathStyle: true };
    const manifestFile = join(dir, 'upstream.json');
    const manifest: UpstreamManifest = {
      projects: {
        [herdWheel.name]: [{
          filename: herdWheel.filename, version: herdWheel.version, sha256: herdWheel.sha256, size: herdWheel.size,
          requiresPython: null, uploadTime: null, coreMetadataSha256: null, path: herdWheel.path,
        }],
      },
    };
    await writeFile(manifestFile, JSON.stringify(manifest));
    const upstream = await startChild('bench/upstream-child.ts', ['--manifest', manifestFile, '--mbps', String(UPSTREAM_MBPS)]);
    started.push(upstream);
    const up = new UpstreamLog(upstream);
    const remote = ['--remote', `${REMOTE}=${upstream.url}/simple/`];
    // Started together (their migrations meet on PostgreSQL's advisory lock): four
    // tsx start-ups at once on a busy 2-core machine may take longer than one's 30 s.
    const [sqlite, ...replicas] = await Promise.all([
      startChild('bench/server-child.mjs', [join(dir, 'sqlite'), ...remote], START_MS),
      ...Array.from({ length: REPLICAS }, (_, i) => startChild('bench/server-child.mjs', [
        join(dir, `replica-${i + 1}`), ...remote, '--database', database, '--blobs', JSON.stringify(blobs),
      ], START_MS)),
    ]) as [Child, ...Child[]];
    started.push(sqlite, ...replicas);
    console.log(`replicas: PostgreSQL (${postgresBinDir()}), s3rver, ${REPLICAS} replicas and 1 SQLite process started in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    let herdDetails: Record<string, unknown> | null = null;
    if (PARTS.has('herd')) {
      // 1. The herd: 50 clients over the 3 replicas, one uncached file (nothing else is stored yet).
      const expect = { size: herdWheel.size, sha256: herdWheel.sha256 };
      settle();
      const directAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const since0 = up.length;
      const direct = await herd(`${upstream.url}/files/${herdWheel.name}/${herdWheel.filename}`, 1, expect, directAgent, HASH !== false, CLIENT);
      directAgent.destroy();
      check(up.count('file-start', since0) === 1, 'the direct client made one upstream download');

      const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
      const pageUrls = replicas.map((r) => `${r.url}/${REMOTE}/simple/${herdWheel.name}/`);
      const before = up.length;
      // Every client reads the project page from its replica once (this opens its socket).
      const fileUrls = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
        const pageUrl = pageUrls[i % REPLICAS]!;
        const p = await fetchPage(pageUrl, ACCEPT.json, agent);
        check(p.status === 200, `replica ${(i % REPLICAS) + 1}: remote page answered ${p.status}: ${p.body.toString('utf8').slice(0, 200)}`);
        const f = (JSON.parse(p.body.toString('utf8')) as { files: Array<{ filename: string; url: string }> }).files.find((x) => x.filename === herdWheel.filename);
        check(f !== undefined, `the remote page lists ${herdWheel.filename}`);
        return new URL(f!.url, pageUrl).href;
      }));
      const pageRequests = up.count('page', before);
      settle();
      const since = up.length;
      const s3Since = s3Log.requests.length;
      const rssBefore = replicas.map((r) => sampleRss(r.pid).stop());
      const rss = replicas.map((r) => sampleRss(r.pid, 20));
      const herdCpu = cpuMeter(() => replicas.map((r) => r.pid));
      const s3Cpu = cpuMeter(() => [s3.pid]);
      // The replica that downloads the file: the first with a temp file (the others' scratch files come after the commit).
      let holder: number | null = null;
      const tmpDirs = replicas.map((_, i) => join(dir, `replica-${i + 1}`, 'tmp'));
      const watch = setInterval(() => {
        holder ??= tmpDirs.findIndex((d) => { try { return readdirSync(d).length > 0; } catch { return false; } });
        if (holder === -1) holder = null;
      }, 20);
      const h = await herd(fileUrls, CLIENTS, expect, agent, HASH, CLIENT);
      clearInterval(watch);
      const herdEnd = performance.now();
      const peakRss = rss.map((s) => s.stop());
      const herdCpuSeconds = herdCpu();
      const s3CpuSeconds = s3Cpu();
      agent.destroy();
      const end = await up.waitFor('file-end', since);
      check(end.event === 'file-end' && end.complete && end.bytes === herdWheel.size, `upstream sent the whole file (${JSON.stringify(end)})`);
      const upstreamDownloads = up.count('file-start', since);
      const tailSeconds = (herdEnd - end.at) / 1000;
      // The bucket's side: whole-object reads of the file (the replicas that did not download it), and the commit.
      const onKey = s3Log.on(herdWheel.sha256, s3Since);
      const s3Gets = onKey.filter((r) => r.method === 'GET').length;
      const commitStart = onKey.find((r) => r.method === 'POST' && r.url.includes('uploads'))?.at ?? onKey.find((r) => r.method === 'PUT')?.at;
      const committedAt = onKey.find((r) => r.method === 'POST' && r.url.includes('uploadId='))?.at ?? onKey.filter((r) => r.method === 'PUT').at(-1)?.at;
      const commit = commitStart !== undefined && committedAt !== undefined
        ? { startSecondsAfterUpstream: (commitStart - end.at) / 1000, seconds: (committedAt - commitStart) / 1000 }
        : null;
      console.log(`replicas: herd on S3: ${s3Gets} GETs of the object (${onKey.filter((r) => r.method === 'HEAD').length} HEADs); `
        + (commit ? `commit started ${commit.startSecondsAfterUpstream.toFixed(2)} s after upstream's last byte and took ${commit.seconds.toFixed(2)} s` : 'no commit seen'));
      console.log(`replicas: herd of ${CLIENTS} over ${REPLICAS} replicas: last byte ${h.seconds.toFixed(2)} s (first ${h.firstSeconds.toFixed(2)}, median ${h.medianSeconds.toFixed(2)}), `
        + `direct ${direct.seconds.toFixed(2)} s; upstream downloads ${upstreamDownloads}, page requests ${pageRequests}; last byte ${tailSeconds.toFixed(2)} s after upstream's; `
        + `peak RSS ${peakRss.map((x) => (x / MB).toFixed(0)).join('/')} MB (before: ${rssBefore.map((x) => (x / MB).toFixed(0)).join('/')}; the download's: replica ${holder === null ? '?' : holder + 1}); `
        + `CPU replicas ${herdCpuSeconds.toFixed(1)} s, s3rver ${s3CpuSeconds.toFixed(1)} s, client ${h.clientCpuSeconds.toFixed(1)} s`);
      const maxRss = Math.max(...peakRss);
      row(`replicas herd: ${CLIENTS} clients over ${REPLICAS} replicas (PostgreSQL + S3), uncached ${HERD_MIB} MiB, s to last byte (baseline: 1 client direct @ ${UPSTREAM_MBPS} MB/s; ${CLIENT} clients, ${HASH === true ? 'every' : HASH === false ? 'no' : `${HASH}`} bodies hashed)`,
        h.seconds, direct.seconds, `ratio <= ${HERD_RATIO}`, h.seconds / direct.seconds <= HERD_RATIO);
      row('  replicas herd: upstream file downloads (baseline: the direct client)', upstreamDownloads, 1, 'pydepot = 1', upstreamDownloads === 1, false);
      row('  replicas herd: GETs of the file from S3 (baseline: 1)', s3Gets, 1, '(report only)', null);
      row(`  replicas herd: peak RSS of the largest replica, MB (baseline: the smallest)`, maxRss / MB, Math.min(...peakRss) / MB, `pydepot < ${RSS_LIMIT / MB}`, maxRss < RSS_LIMIT, false);
      herdDetails = { clients: CLIENTS, client: CLIENT, upstreamMBps: UPSTREAM_MBPS, hashed: HASH, direct, pydepot: h, upstreamDownloads, s3Gets, commit, downloadingReplica: holder === null ? null : holder + 1, upstreamPageRequests: pageRequests, tailSeconds, peakRssBytes: peakRss, rssBeforeBytes: rssBefore, serverCpuSeconds: herdCpuSeconds, s3rverCpuSeconds: s3CpuSeconds };
    }

    let pageDetails: Record<string, unknown> | null = null;
    if (PARTS.has('page')) {
      // 2. The 2,000-file page: 3 replicas on PostgreSQL against 1 process on SQLite.
      // To PostgreSQL through every replica (a third each), as behind a balancer.
      const third = (i: number): typeof page => ({ ...page, dists: page.dists.filter((_, j) => j % REPLICAS === i) });
      const [upSqlite, upPg] = await Promise.all([
        uploadPageProject(sqlite.url, 'bench', page),
        Promise.all(replicas.map((r, i) => uploadPageProject(r.url, 'bench', third(i)))).then((ts) => Math.max(...ts)),
      ]);
      console.log(`replicas: uploaded ${ctx.pageFiles} wheels to SQLite in ${upSqlite.toFixed(1)} s and to PostgreSQL in ${upPg.toFixed(1)} s (at once)`);
      // The same SQLite storage served by as many processes as there are replicas (`workers: 3`, a
      // node:cluster): on 2 cores, what 3 processes cost per request whatever their database.
      const sqlite3 = await startChild('bench/server-child.mjs', [join(dir, 'sqlite'), '--workers', String(REPLICAS)], START_MS);
      started.push(sqlite3);
      // What the uploads left behind (their garbage collected, PostgreSQL's writes) is not the page's cost.
      await quiet([sqlite.pid, ...processTree(sqlite3.pid), ...replicas.map((r) => r.pid), ...postgresPids(cluster)]);
      // Four sides: 1 process on SQLite; the same page from one replica alone (PostgreSQL's own
      // cost, process for process); the 3 replicas sharing the load (what a deployment runs); and
      // 3 processes on SQLite (the cost of 3 processes on this machine, apart from PostgreSQL's).
      const sides = {
        sqlite: { urls: [`${sqlite.url}/bench/simple/${PAGE_PROJECT}/`], pids: () => [sqlite.pid] },
        sqlite3: { urls: [`${sqlite3.url}/bench/simple/${PAGE_PROJECT}/`], pids: () => processTree(sqlite3.pid) },
        postgres1: { urls: [`${replicas[0]!.url}/bench/simple/${PAGE_PROJECT}/`], pids: () => [replicas[0]!.pid] },
        postgres: { urls: replicas.map((r) => `${r.url}/bench/simple/${PAGE_PROJECT}/`), pids: () => replicas.map((r) => r.pid) },
      };
      type Side = keyof typeof sides;
      // Identity, and gzip as pip asks for it (the cached page: the lookup is most of the work).
      const variants = { identity: {}, gzip: { 'Accept-Encoding': 'gzip, deflate' } } as const;
      type Variant = keyof typeof variants;
      // Each side's gzip answer is its identity answer compressed (the two back ends were uploaded
      // to separately: their upload-times differ, so lengths are per URL).
      const bytes = {} as Record<Variant, Record<string, number>>;
      const identity = new Map<string, Buffer>();
      for (const variant of Object.keys(variants) as Variant[]) {
        bytes[variant] = {};
        for (const url of [...sides.sqlite.urls, ...sides.sqlite3.urls, ...sides.postgres.urls]) {
          const p = await fetchPage(url, ACCEPT.json, undefined, variants[variant]);
          check(p.status === 200, `${url} answered ${p.status}`);
          if (variant === 'gzip') check(p.headers['content-encoding'] === 'gzip', `${url}: no gzip answer`);
          const body = variant === 'gzip' ? gunzipSync(p.body) : p.body;
          const n = (JSON.parse(body.toString('utf8')) as { files: unknown[] }).files.length;
          check(n === ctx.pageFiles, `${url} lists ${n} files, expected ${ctx.pageFiles}`);
          if (variant === 'identity') identity.set(url, body);
          else check(body.equals(identity.get(url)!), `${url}: the gzip page is not the identity page compressed`);
          bytes[variant][url] = p.body.length;
        }
      }
      type Runs = { rps: number[]; us: number[]; pgUs: number[] };
      const pages = {} as Record<Variant, Record<Side, Runs>>;
      for (const variant of Object.keys(variants) as Variant[]) {
        pages[variant] = { sqlite: { rps: [], us: [], pgUs: [] }, sqlite3: { rps: [], us: [], pgUs: [] }, postgres1: { rps: [], us: [], pgUs: [] }, postgres: { rps: [], us: [], pgUs: [] } };
        for (let run = 0; run < PAGE_RUNS; run++) {
          const order: Side[] = run % 2 === 0 ? ['postgres', 'sqlite3', 'postgres1', 'sqlite'] : ['sqlite', 'postgres1', 'sqlite3', 'postgres'];
          for (const side of order) {
            const o = { url: sides[side].urls[0]!, urls: sides[side].urls, headers: { Accept: ACCEPT.json, ...variants[variant] }, expectBytes: bytes[variant], concurrency: LOAD.concurrency };
            // A longer warm-up than the other groups': each replica's JIT sees a third of it.
            await runLoad({ ...o, durationMs: WARMUP_MS });
            settle();
            const servers = cpuMeter(sides[side].pids);
            const db = cpuMeter(() => postgresPids(cluster!));
            const r = await runLoad({ ...o, durationMs: LOAD.durationMs });
            const [serverCpu, dbCpu] = [servers(), db()];
            check(r.failed === 0 && r.ok > 0, `${side} ${variant} page load: ${r.failed} failed (${r.firstError ?? 'none ok'})`);
            const runs = pages[variant][side];
            runs.rps.push(r.rps);
            runs.us.push((serverCpu * 1e6) / r.ok);
            runs.pgUs.push((dbCpu * 1e6) / r.ok);
            console.log(`replicas: JSON ${variant.padEnd(8)} page ${side.padEnd(9)} ${r.rps.toFixed(0).padStart(6)} req/s; server CPU ${((serverCpu * 1e6) / r.ok).toFixed(0)} µs/request, PostgreSQL's ${((dbCpu * 1e6) / r.ok).toFixed(0)} µs/request`);
          }
        }
      }
      // The least disturbed of the runs: on a shared machine a run only ever costs more than it should.
      const least = (v: Variant, side: Side, k: 'us' | 'pgUs'): number => Math.min(...pages[v][side][k]);
      for (const variant of Object.keys(variants) as Variant[]) {
        const sq = least(variant, 'sqlite', 'us');
        row(`replicas: ${ctx.pageFiles}-file JSON page (${variant}), req/s (best of ${PAGE_RUNS}), ${REPLICAS} replicas on PostgreSQL (baseline: 1 process on SQLite)`, Math.max(...pages[variant].postgres.rps), Math.max(...pages[variant].sqlite.rps), '(report only)', null);
        row(`  replicas page (${variant}): server CPU per request (replicas summed; least of ${PAGE_RUNS} runs), µs`, least(variant, 'postgres', 'us'), sq, `ratio <= ${CPU_RATIO}`, least(variant, 'postgres', 'us') / sq <= CPU_RATIO);
        row(`  one replica alone on PostgreSQL, server CPU per request, µs`, least(variant, 'postgres1', 'us'), sq, '(report only)', null);
        row(`  ${REPLICAS} replicas on PostgreSQL against ${REPLICAS} processes on SQLite (workers: ${REPLICAS}), server CPU per request, µs`, least(variant, 'postgres', 'us'), least(variant, 'sqlite3', 'us'), '(report only)', null);
        row(`  replicas page (${variant}): + PostgreSQL's processes, µs`, least(variant, 'postgres', 'us') + least(variant, 'postgres', 'pgUs'), sq, '(report only)', null);
      }
      pageDetails = { files: ctx.pageFiles, bytes, uploadSeconds: { sqlite: upSqlite, postgres: upPg }, runs: PAGE_RUNS, results: pages, loadOptions: LOAD };
    }

    let warmDetails: Record<string, unknown> | null = null;
    if (PARTS.has('warm')) {
      // 3. Warm download: the file in S3 through a replica against the same file on the SQLite process's disk.
      const form = multipart(uploadFields(wheel.name, wheel.version, wheel.sha256), wheel.filename);
      for (const [name, server] of [['sqlite', sqlite], ['postgres', replicas[0]!]] as const) {
        const ul = await upload(`${server.url}/bench/`, form, wheel);
        check(ul.status === 200, `${name}: upload of ${wheel.filename} answered ${ul.status}: ${ul.body.trim()}`);
      }
      // Through a replica other than the one that stored it.
      const dlUrls = { s3: `${replicas[1]!.url}/bench/files/${wheel.sha256}/${wheel.filename}`, disk: `${sqlite.url}/bench/files/${wheel.sha256}/${wheel.filename}` };
      const warm = { s3: [] as number[], disk: [] as number[] };
      const warmS3Cpu = cpuMeter(() => [s3.pid]);
      const warmReplicaCpu = cpuMeter(() => [replicas[1]!.pid]);
      for (const u of Object.values(dlUrls)) await download(u); // warm: the page cache on either side
      for (let i = 0; i < WARM_RUNS; i++) {
        for (const side of ['s3', 'disk'] as const) {
          settle();
          const t = await download(dlUrls[side]);
          check(t.status === 200 && t.bytes === wheel.size, `${side} download #${i + 1}: status ${t.status}, ${t.bytes} of ${wheel.size} bytes`);
          warm[side].push(t.bytes / MiB / t.seconds);
        }
      }
      const [warmS3CpuSeconds, warmReplicaCpuSeconds] = [warmS3Cpu(), warmReplicaCpu()];
      console.log(`replicas: warm ${FILE_MIB} MiB download: S3 ${warm.s3.map((x) => x.toFixed(0)).join(' ')} MiB/s; disk ${warm.disk.map((x) => x.toFixed(0)).join(' ')} MiB/s; `
        + `CPU per S3 download: s3rver ${(warmS3CpuSeconds / WARM_RUNS).toFixed(2)} s, replica ${(warmReplicaCpuSeconds / WARM_RUNS).toFixed(2)} s`);
      row(`replicas: warm ${FILE_MIB} MiB download through a replica from S3 (s3rver), MiB/s (median of ${WARM_RUNS}; baseline: SQLite process, local disk)`,
        median(warm.s3), median(warm.disk), '(report only)', null);
      warmDetails = { mibps: warm, runs: WARM_RUNS, cpuSecondsPerS3Download: { s3rver: warmS3CpuSeconds / WARM_RUNS, replica: warmReplicaCpuSeconds / WARM_RUNS } };
    }

    details.replicas = {
      replicas: REPLICAS,
      fileBytes: { warm: wheel.size, herd: herdWheel.size },
      herd: herdDetails,
      pages: pageDetails,
      warm: warmDetails,
      wallSeconds: (performance.now() - t0) / 1000,
    };
    console.log(`replicas: group took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    await Promise.all(started.map((c) => stopChild(c.proc)));
    cluster?.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}
