/**
 * A merged page with cache wheels against the same page without a cache
 * member, side by side in one pydepot. The 2,000 files of one project: in
 * `cached` (virtual: remote `pypi` + wheelcache `cache` augmenting it), the
 * upstream lists 1,900 and the cache adds the aarch64 wheels of the last 100
 * releases (uploaded through the cache's rules: each checked against the
 * upstream page and its core metadata); in `plain` (virtual: remote `full`
 * only), another upstream lists all 2,000. Same files, same page size: the
 * difference is what the cache member costs. Pages warm (both upstream pages
 * fetched once, both rendered pages cached), JSON and HTML, alternating
 * sides, median of RUNS. Target (issue 12): the cached page costs at most
 * 1.1x, i.e. req/s ratio >= 1/1.1.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startChild, stopChild, type Child } from './children.ts';
import { ACCEPT, check, fetchListedPage, LOAD, median, settle } from './helpers.ts';
import { measurePage } from './load.ts';
import { PAGE_PROJECT, PAGE_REQUIRES_PYTHON, uploadPageProject, type PageDist } from './page-project.ts';
import type { ScenarioContext } from './report.ts';
import type { UpstreamEntry, UpstreamEvent, UpstreamManifest } from './upstream-child.ts';

const RUNS = 3;
const MAX_COST = 1.1;
const CACHED_RELEASES = 100;
const CACHE_PLATFORM = 'manylinux_2_17_aarch64';
const UPLOAD_TIME = '2025-01-01T00:00:00.000Z';
const FORMATS = ['json', 'html'] as const;
type Format = (typeof FORMATS)[number];
const SIDES = ['cached', 'plain'] as const;
type Side = (typeof SIDES)[number];

const REPOS = {
  cache: { type: 'wheelcache', augments: 'pypi', upload: 'anonymous' },
  cached: { type: 'virtual', members: ['pypi', 'cache'] },
  plain: { type: 'virtual', members: ['full'] },
};

/** Every file listed, each with its core metadata served (the cache's uploads compare against it). */
async function manifest(dir: string, dists: PageDist[]): Promise<UpstreamManifest> {
  const listed: UpstreamEntry[] = [];
  for (const { dist, version } of dists) {
    const metadataPath = join(dir, `${dist.filename}.metadata`);
    await writeFile(metadataPath, dist.metadata);
    listed.push({
      filename: dist.filename, version, sha256: dist.sha256, size: dist.bytes.length,
      requiresPython: PAGE_REQUIRES_PYTHON, uploadTime: UPLOAD_TIME,
      coreMetadataSha256: createHash('sha256').update(dist.metadata).digest('hex'), metadataPath,
    });
  }
  return { projects: { [PAGE_PROJECT]: listed } };
}

export async function wheelcacheScenarios(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'wheelcache');
  await mkdir(dir, { recursive: true });
  const project = await ctx.pageProject();
  const versions = [...new Set(project.dists.map((d) => d.version))].slice(-CACHED_RELEASES);
  const fromCache = project.dists.filter((d) => versions.includes(d.version) && d.dist.filename.endsWith(`-${CACHE_PLATFORM}.whl`));
  const upstreamOnly = project.dists.filter((d) => !fromCache.includes(d));
  check(fromCache.length === CACHED_RELEASES, `${fromCache.length} cache wheels, expected ${CACHED_RELEASES}`);
  const partial = join(dir, 'partial.json');
  const whole = join(dir, 'whole.json');
  await writeFile(partial, JSON.stringify(await manifest(dir, upstreamOnly)));
  await writeFile(whole, JSON.stringify(await manifest(dir, project.dists)));

  const children: Child[] = [];
  try {
    const up = await startChild('bench/upstream-child.ts', ['--manifest', partial, '--mbps', '1000']);
    children.push(up);
    const upFull = await startChild('bench/upstream-child.ts', ['--manifest', whole, '--mbps', '1000']);
    children.push(upFull);
    let upstreamPages = 0;
    for (const c of [up, upFull]) c.lines.on('line', (line) => { if ((JSON.parse(line) as UpstreamEvent).event === 'page') upstreamPages++; });
    const p = await startChild('bench/server-child.mjs', [join(dir, 'storage'), '--remote', `pypi=${up.url}/simple/`, '--remote', `full=${upFull.url}/simple/`, '--repos', JSON.stringify(REPOS)]);
    children.push(p);

    settle();
    const uploadSeconds = await uploadPageProject(p.url, 'cache', { dists: fromCache, buildSeconds: 0 });
    console.log(`uploaded ${fromCache.length} cache wheels (${CACHE_PLATFORM}) through the cache's rules in ${uploadSeconds.toFixed(1)} s; `
      + `the upstream of 'cached' lists the other ${upstreamOnly.length}, that of 'plain' all ${project.dists.length}`);

    const urls: Record<Side, string> = { cached: `${p.url}/cached/simple/${PAGE_PROJECT}/`, plain: `${p.url}/plain/simple/${PAGE_PROJECT}/` };
    const sizes = { cached: {}, plain: {} } as Record<Side, Record<Format, number>>;
    const names = {} as Record<Side, string[]>;
    for (const format of FORMATS) {
      for (const side of SIDES) {
        const { page: pg, files } = await fetchListedPage<{ filename: string; _pydepot?: unknown }>(urls[side], format, side, ctx.pageFiles);
        if (files) {
          names[side] = files.map((f) => f.filename).sort();
          if (side === 'cached') check(files.filter((f) => f._pydepot).length === CACHED_RELEASES, `the cached page marks its ${CACHED_RELEASES} cache wheels`);
        }
        sizes[side][format] = pg.body.length;
      }
    }
    check(JSON.stringify(names.cached) === JSON.stringify(names.plain), 'both pages list the same files');
    check(upstreamPages === 2, `each upstream page was fetched once while warming (${upstreamPages} fetches)`);

    const rps = { json: { cached: [], plain: [] }, html: { cached: [], plain: [] } } as Record<Format, Record<Side, number[]>>;
    const cpu = { json: { cached: [], plain: [] }, html: { cached: [], plain: [] } } as Record<Format, Record<Side, number[]>>;
    for (const format of FORMATS) {
      for (let i = 0; i < RUNS; i++) {
        for (const side of SIDES) {
          settle();
          const r = await measurePage({ url: urls[side], headers: { Accept: ACCEPT[format] }, expectBytes: sizes[side][format], ...LOAD }, p.pid);
          check(r.ok > 0 && r.failed === 0, `${side} ${format} page load: ${r.failed} failed (${r.firstError ?? 'none ok'})`);
          console.log(`${format.padEnd(4)} page #${i + 1} ${side.padEnd(6)} ${r.rps.toFixed(0).padStart(6)} req/s (${(sizes[side][format] / 1024).toFixed(0)} KiB); `
            + `CPU per request: server ${r.serverUsPerRequest.toFixed(0)} µs`);
          rps[format][side].push(r.rps);
          cpu[format][side].push(r.serverUsPerRequest);
        }
      }
      const c = median(rps[format].cached);
      const b = median(rps[format].plain);
      row(`merged page with ${CACHED_RELEASES} cache wheels (${ctx.pageFiles} files) ${format.toUpperCase()}, req/s (median of ${RUNS}; baseline: same files, no cache member)`,
        c, b, `ratio >= ${(1 / MAX_COST).toFixed(3)} (cost <= ${MAX_COST}x)`, c / b >= 1 / MAX_COST);
      row(`  with vs without cache member ${format.toUpperCase()}: server CPU per request, µs`, median(cpu[format].cached), median(cpu[format].plain), '(report only)', null);
    }
    check(upstreamPages === 2, `each upstream page was fetched once in all (${upstreamPages} fetches)`);
    details.wheelcache = {
      files: ctx.pageFiles, cacheWheels: CACHED_RELEASES, repositories: REPOS, bytes: sizes, uploadSeconds,
      upstreamPageFetches: upstreamPages, rps, serverUsPerRequest: cpu, loadOptions: LOAD, runs: RUNS,
    };
  } finally {
    await Promise.all(children.map((c) => stopChild(c.proc)));
    await rm(dir, { recursive: true, force: true });
  }
}
