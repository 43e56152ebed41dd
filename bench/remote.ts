/**
 * Remote repositories (proxy-caches of an upstream index), against an
 * upstream in its own process (bench/upstream-child.ts):
 * - thundering herd: N clients ask for one uncached file at the same instant;
 *   pydepot must download it from upstream once, and the last client should
 *   be done about when ONE client going straight to the upstream would be;
 * - warm cache: the cached file, and a 2,000-file remote page, against the
 *   same file and page in a local repository of the same pydepot;
 * - the same remote page through a second remote with a 7-day cooldown (every
 *   file older: the same bytes), against the remote without one: the cost of
 *   judging every request by the clock and the exemptions.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { startChild, stopChild, type Child } from './children.ts';
import { ACCEPT, check, fetchPage, LOAD, MB, mbps, median, settle } from './helpers.ts';
import { herd, openSockets, type HerdResult } from './herd.ts';
import { measurePage, type PageResult } from './load.ts';
import { makeBigWheel, type BigWheel } from './make-wheel.ts';
import { PAGE_PROJECT, uploadFields, uploadPageProject, type PageProject } from './page-project.ts';
import type { AddRow, ScenarioContext } from './report.ts';
import { cpuSeconds, download, multipart, sampleRss, upload } from './transfer.ts';
import type { UpstreamEntry, UpstreamEvent, UpstreamManifest } from './upstream-child.ts';

const HERD_MIB = Number(process.env.BENCH_HERD_MB ?? 200);
// 10 MB/s: a WAN link to pypi.org. The herd then measures coalescing, not this
// machine: 50 clients x the cap must fit in 2 cores (at 100 MB/s, bare
// node:http serving 50 clients from disk already takes 9x the direct time).
const UPSTREAM_MBPS = Number(process.env.BENCH_UPSTREAM_MBPS ?? 10);
const CLIENTS = Number(process.env.BENCH_HERD_CLIENTS ?? 50);
const HERD_RUNS = Number(process.env.BENCH_HERD_RUNS ?? 3);
const HASH = process.env.BENCH_HERD_HASH !== '0';
const WARM_RUNS = 7; // a 200 MiB download takes well under a second: one run is noisy
const HERD_RATIO = 1.3;
const HERD_RSS_LIMIT = 250e6;
const REMOTE = 'upstream'; // the remote repository's name in pydepot
const COOLED = 'cooled'; // the same upstream, with a cooldown
const UPLOAD_TIME = '2025-01-01T00:00:00.000Z'; // pydepot's own precision: pages of equal size

export type RemoteContext = ScenarioContext;

/** What the upstream child has reported on stdout so far. */
export class UpstreamLog {
  readonly events: Array<UpstreamEvent & { at: number }> = [];
  constructor(child: Child) {
    child.lines.on('line', (line) => this.events.push({ ...(JSON.parse(line) as UpstreamEvent), at: performance.now() }));
  }
  count(kind: UpstreamEvent['event'], since = 0): number {
    return this.events.slice(since).filter((e) => e.event === kind).length;
  }
  get length(): number {
    return this.events.length;
  }
  /** The first event after `since` that matches, waiting up to `ms` for it. */
  async waitFor(kind: UpstreamEvent['event'], since: number, ms = 10_000): Promise<UpstreamEvent & { at: number }> {
    const deadline = performance.now() + ms;
    for (;;) {
      const e = this.events.slice(since).find((x) => x.event === kind);
      if (e) return e;
      if (performance.now() > deadline) throw new Error(`upstream reported no ${kind} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function manifest(wheel: BigWheel, page: PageProject): UpstreamManifest {
  const big: UpstreamEntry = {
    filename: wheel.filename, version: wheel.version, sha256: wheel.sha256, size: wheel.size,
    requiresPython: null, uploadTime: null, coreMetadataSha256: null, path: wheel.path,
  };
  // The same 2,000 files as the local page: same names, sizes, hashes, metadata.
  const listed = page.dists.map(({ dist, version }): UpstreamEntry => ({
    filename: dist.filename, version, sha256: dist.sha256, size: dist.bytes.length,
    requiresPython: '>=3.8', uploadTime: UPLOAD_TIME,
    coreMetadataSha256: createHash('sha256').update(dist.metadata).digest('hex'),
  }));
  return { projects: { [wheel.name]: [big], [PAGE_PROJECT]: listed } };
}

interface HerdRun {
  direct: HerdResult;
  fanout: HerdResult & { serverPeakRss: number; serverCpuSeconds: number };
  pydepot: HerdResult & {
    upstreamFileDownloads: number;
    upstreamPageRequests: number;
    upstreamSeconds: number;
    /** From the upstream's last byte to the last client's last byte. */
    tailSeconds: number;
    peakRss: number;
    rssBefore: number;
    serverCpuSeconds: number;
  };
}

export async function remoteScenarios(ctx: RemoteContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'remote');
  await mkdir(dir, { recursive: true });
  const t0 = performance.now();
  const wheel = await makeBigWheel(dir, HERD_MIB * 1024 * 1024);
  console.log(`built ${wheel.filename} for the herd: ${(wheel.size / MB).toFixed(0)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const page = await ctx.pageProject();
  const manifestFile = join(dir, 'upstream.json');
  await writeFile(manifestFile, JSON.stringify(manifest(wheel, page)));

  const upstream = await startChild('bench/upstream-child.ts', ['--manifest', manifestFile, '--mbps', String(UPSTREAM_MBPS)]);
  const up = new UpstreamLog(upstream);
  const fanout = await startChild('bench/baseline-server.ts', ['--file', wheel.path]);
  const expect = { size: wheel.size, sha256: wheel.sha256 };
  const directUrl = `${upstream.url}/files/${wheel.name}/${wheel.filename}`;
  const runs: HerdRun[] = [];
  let pydepot: Child | null = null;

  try {
    // 1. The herd, HERD_RUNS times, each against a fresh pydepot (nothing cached),
    //    beside one client straight from the upstream and N clients of bare node:http.
    for (let i = 1; i <= HERD_RUNS; i++) {
      settle();
      const directAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const since = up.length;
      const direct = await herd(directUrl, 1, expect, directAgent, HASH);
      directAgent.destroy();
      check(up.count('file-start', since) === 1, 'the direct client made one upstream download');

      settle();
      const fanAgent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
      await openSockets(`${fanout.url}/file`, CLIENTS, fanAgent);
      const fanCpu0 = cpuSeconds(fanout.pid);
      const fanRss = sampleRss(fanout.pid);
      const fan = await herd(`${fanout.url}/file`, CLIENTS, expect, fanAgent, HASH);
      const fanResult = { ...fan, serverPeakRss: fanRss.stop(), serverCpuSeconds: cpuSeconds(fanout.pid) - fanCpu0 };
      fanAgent.destroy();

      if (pydepot) {
        await stopChild(pydepot.proc);
        await rm(join(dir, `storage-${i - 1}`), { recursive: true, force: true });
      }
      pydepot = await startChild('bench/server-child.mjs', [
        join(dir, `storage-${i}`), '--remote', `${REMOTE}=${upstream.url}/simple/`,
        '--repos', JSON.stringify({ [COOLED]: { type: 'remote', url: `${upstream.url}/simple/`, indexTtl: 600, timeout: 30, cooldown: '7d' } }),
      ]);
      const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
      // Every client reads the project page once (this opens its socket), then all fetch the file at once.
      const pageUrl = `${pydepot.url}/${REMOTE}/simple/${wheel.name}/`;
      const before = up.length;
      const pages = await Promise.all(Array.from({ length: CLIENTS }, () => fetchPage(pageUrl, ACCEPT.json, agent)));
      const fileUrls = new Set(pages.map((p) => {
        check(p.status === 200, `remote project page answered ${p.status}: ${p.body.toString('utf8').slice(0, 200)}`);
        const files = (JSON.parse(p.body.toString('utf8')) as { files: Array<{ filename: string; url: string }> }).files;
        const f = files.find((x) => x.filename === wheel.filename);
        check(f !== undefined, `remote project page lists ${wheel.filename}`);
        return new URL(f!.url, pageUrl).href;
      }));
      check(fileUrls.size === 1, 'every client got the same file URL');
      const [fileUrl] = [...fileUrls] as [string];
      settle();
      const rssBefore = sampleRss(pydepot.pid).stop();
      const cpu0 = cpuSeconds(pydepot.pid);
      const since2 = up.length;
      const rss = sampleRss(pydepot.pid, 20);
      const h = await herd(fileUrl, CLIENTS, expect, agent, HASH);
      const herdEnd = performance.now();
      const peakRss = rss.stop();
      const serverCpuSeconds = cpuSeconds(pydepot.pid) - cpu0;
      agent.destroy();
      const end = await up.waitFor('file-end', since2);
      check(end.event === 'file-end' && end.complete && end.bytes === wheel.size, `upstream sent the whole file once (${JSON.stringify(end)})`);
      const result = {
        ...h,
        upstreamFileDownloads: up.count('file-start', since2),
        upstreamPageRequests: up.count('page', before),
        upstreamSeconds: end.event === 'file-end' ? end.seconds : NaN,
        tailSeconds: (herdEnd - end.at) / 1000,
        peakRss,
        rssBefore,
        serverCpuSeconds,
      };
      runs.push({ direct, fanout: fanResult, pydepot: result });
      console.log(`herd #${i}: ${CLIENTS} clients ${h.seconds.toFixed(2)} s (first ${h.firstSeconds.toFixed(2)}, median ${h.medianSeconds.toFixed(2)}), `
        + `upstream downloads ${result.upstreamFileDownloads} (${result.upstreamSeconds.toFixed(2)} s), page requests ${result.upstreamPageRequests}, `
        + `last byte ${result.tailSeconds.toFixed(2)} s after upstream's; RSS ${(peakRss / MB).toFixed(0)} MB, CPU server ${serverCpuSeconds.toFixed(1)} s client ${h.clientCpuSeconds.toFixed(1)} s | `
        + `direct ${direct.seconds.toFixed(2)} s | bare fan-out ${fan.seconds.toFixed(2)} s, CPU server ${fanResult.serverCpuSeconds.toFixed(1)} s client ${fan.clientCpuSeconds.toFixed(1)} s`);
    }
    await stopChild(fanout.proc);

    const herdS = median(runs.map((r) => r.pydepot.seconds));
    const directS = median(runs.map((r) => r.direct.seconds));
    const fanS = median(runs.map((r) => r.fanout.seconds));
    const downloads = Math.max(...runs.map((r) => r.pydepot.upstreamFileDownloads));
    const peak = Math.max(...runs.map((r) => r.pydepot.peakRss));
    const fanPeak = Math.max(...runs.map((r) => r.fanout.serverPeakRss));
    const of = `median of ${HERD_RUNS}`;
    row(`remote herd: ${CLIENTS} clients, uncached ${HERD_MIB} MiB file, s to last byte (${of}; baseline: 1 client direct @ ${UPSTREAM_MBPS} MB/s)`,
      herdS, directS, `ratio <= ${HERD_RATIO}`, herdS / directS <= HERD_RATIO);
    row('  herd: upstream file downloads (max per herd; baseline: the direct client)', downloads, 1, 'pydepot = 1', runs.every((r) => r.pydepot.upstreamFileDownloads === 1), false);
    row(`  herd: peak server RSS, MB (baseline: bare node:http, ${CLIENTS} clients)`, peak / MB, fanPeak / MB, `pydepot < ${HERD_RSS_LIMIT / MB}`, peak < HERD_RSS_LIMIT, false);
    row(`  herd: s to last byte vs bare node:http from disk, unpaced (${of})`, herdS, fanS, '(report only)', null);
    row('  herd: server CPU, s (baseline: bare node:http)', median(runs.map((r) => r.pydepot.serverCpuSeconds)), median(runs.map((r) => r.fanout.serverCpuSeconds)), '(report only)', null);

    // 2. Warm cache: the cached file against the same file in the local repository.
    const p = pydepot!;
    const form = multipart(uploadFields(wheel.name, wheel.version, wheel.sha256), wheel.filename);
    const ul = await upload(`${p.url}/bench/`, form, wheel);
    check(ul.status === 200, `upload of ${wheel.filename} to the local repository answered ${ul.status}: ${ul.body.trim()}`);
    const urls = {
      remote: `${p.url}/${REMOTE}/files/${wheel.sha256}/${wheel.filename}`,
      local: `${p.url}/bench/files/${wheel.sha256}/${wheel.filename}`,
    };
    const warm = { remote: [] as number[], local: [] as number[] };
    const since3 = up.length;
    for (let i = 0; i < WARM_RUNS; i++) {
      for (const side of ['remote', 'local'] as const) {
        settle();
        const t = await download(urls[side]);
        check(t.status === 200 && t.bytes === wheel.size, `${side} cached download #${i + 1}: status ${t.status}, ${t.bytes} of ${wheel.size} bytes`);
        warm[side].push(mbps(t));
      }
    }
    check(up.count('file-start', since3) === 0, 'the cached file was not downloaded again');
    const warmMbps = { remote: median(warm.remote), local: median(warm.local) };
    console.log(`cached ${HERD_MIB} MiB file: remote ${warm.remote.map((x) => x.toFixed(0)).join(' ')} MB/s; local ${warm.local.map((x) => x.toFixed(0)).join(' ')} MB/s`);
    row(`remote cached ${HERD_MIB} MiB file, MB/s (median of ${WARM_RUNS}; baseline: same file, local repo)`, warmMbps.remote, warmMbps.local, 'ratio >= 0.9', warmMbps.remote / warmMbps.local >= 0.9);

    // 3. The 2,000-file page: remote (its upstream page fetched once) against local.
    const uploadSeconds = await uploadPageProject(p.url, 'bench', page);
    console.log(`uploaded ${page.dists.length} wheels to the local repository in ${uploadSeconds.toFixed(1)} s`);
    const pageUrls = { remote: `${p.url}/${REMOTE}/simple/${PAGE_PROJECT}/`, local: `${p.url}/bench/simple/${PAGE_PROJECT}/` };
    const since4 = up.length;
    const sizes = { remote: 0, local: 0 };
    for (const side of ['remote', 'local'] as const) {
      const pg = await fetchPage(pageUrls[side], ACCEPT.json);
      check(pg.status === 200, `${side} page answered ${pg.status}`);
      const files = (JSON.parse(pg.body.toString('utf8')) as { files: Array<{ url: string }> }).files;
      check(files.length === ctx.pageFiles, `${side} page lists ${files.length} files, expected ${ctx.pageFiles}`);
      check(files.every((f) => f.url.startsWith('../../files/')), `${side} page links to pydepot's own files`);
      sizes[side] = pg.body.length;
    }
    const results = {} as Record<'remote' | 'local', PageResult>;
    for (const side of ['remote', 'local'] as const) {
      settle();
      const r = await measurePage({ url: pageUrls[side], headers: { Accept: ACCEPT.json }, expectBytes: sizes[side], ...LOAD }, p.pid);
      check(r.ok > 0 && r.failed === 0, `${side} page load: ${r.failed} failed (${r.firstError ?? 'none ok'})`);
      console.log(`json page ${side.padEnd(6)} ${r.rps.toFixed(0).padStart(6)} req/s (${(sizes[side] / 1024).toFixed(0)} KiB); CPU per request: server ${r.serverUsPerRequest.toFixed(0)} µs, client ${r.clientUsPerRequest.toFixed(0)} µs`);
      results[side] = r;
    }
    const pageFetches = up.count('page', since4);
    check(pageFetches === 1, `the remote page was fetched from upstream once (${pageFetches} times)`);
    row(`remote project page (${ctx.pageFiles} files) JSON, req/s (baseline: local page)`, results.remote.rps, results.local.rps, 'ratio >= 0.9', results.remote.rps / results.local.rps >= 0.9);
    row('  remote vs local JSON page: server CPU per request, µs', results.remote.serverUsPerRequest, results.local.serverUsPerRequest, '(report only)', null);

    // 4. The same remote page with a cooldown active (every file older than it: the same bytes).
    const cooledUrl = `${p.url}/${COOLED}/simple/${PAGE_PROJECT}/`;
    const cooledPage = await fetchPage(cooledUrl, ACCEPT.json);
    check(cooledPage.status === 200 && cooledPage.body.length === sizes.remote, `the cooled page answered ${cooledPage.status} with ${cooledPage.body.length} bytes, expected ${sizes.remote}`);
    settle();
    const cooled = await measurePage({ url: cooledUrl, headers: { Accept: ACCEPT.json }, expectBytes: sizes.remote, ...LOAD }, p.pid);
    check(cooled.ok > 0 && cooled.failed === 0, `cooled page load: ${cooled.failed} failed (${cooled.firstError ?? 'none ok'})`);
    console.log(`json page cooled ${cooled.rps.toFixed(0).padStart(6)} req/s; CPU per request: server ${cooled.serverUsPerRequest.toFixed(0)} µs`);
    row(`remote project page with a 7-day cooldown, JSON, req/s (baseline: the same page, no cooldown)`, cooled.rps, results.remote.rps, 'ratio >= 0.9', cooled.rps / results.remote.rps >= 0.9);

    details.remote = {
      herd: { clients: CLIENTS, fileBytes: wheel.size, upstreamMBps: UPSTREAM_MBPS, hashed: HASH, runs },
      warm: { mbps: warm, runs: WARM_RUNS },
      pages: { files: ctx.pageFiles, bytes: sizes, uploadSeconds, upstreamPageFetches: pageFetches, load: results, loadOptions: LOAD },
      cooldownPage: { load: cooled },
      pydepotRssAfterBytes: sampleRss(p.pid).stop(),
    };
  } finally {
    await Promise.all([upstream, fanout, pydepot].map((c) => (c ? stopChild(c.proc) : undefined)));
    await rm(dir, { recursive: true, force: true });
  }
}
