/**
 * Supply-chain page policies (issue 13): what a `files` filter, and a filter
 * with a cooldown, cost a page. One upstream lists the 2,000 files of the
 * page project; pydepot serves it through a remote without a filter
 * (`plain`), a remote with one (`filtered`), a remote with one and a 7-day
 * cooldown (`both`; every file is older), and through virtual repositories
 * over `plain` without and with a filter (`vplain`, `vfiltered`). Each filter keeps every file (all
 * five platforms of the page, Python >=3.8, no sdists to drop), so the pages
 * are the same bytes: the difference is what judging 2,000 files costs.
 * Pages warm (the upstream page fetched once per remote, rendered pages
 * cached), JSON and HTML, alternating sides, median of RUNS. Target (issue
 * 13): a page's throughput with a cooldown and a filter >= 0.9x the same
 * page without them.
 * Reported beside it: the filter's own cost on a 2,000-file page in this
 * process (what a render after each upstream change pays), and the page a
 * cluster's real filter (x86_64 and aarch64 Linux only) leaves.
 * (bench/remote.ts measures the cooldown alone.)
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { filePath, type IndexFile, type ProjectPage } from '../src/pypi/pages.ts';
import { filterPage, filterReason, namedFilter } from '../src/repos/file-filters.ts';
import { startChild, stopChild, type Child } from './children.ts';
import { ACCEPT, check, fetchPage, LOAD, median, settle } from './helpers.ts';
import { measurePage } from './load.ts';
import { PAGE_PROJECT, PAGE_REQUIRES_PYTHON, type PageDist } from './page-project.ts';
import type { ScenarioContext } from './report.ts';
import type { UpstreamEntry, UpstreamEvent, UpstreamManifest } from './upstream-child.ts';

const RUNS = 3;
const TARGET = 0.9;
const UPLOAD_TIME = '2025-01-01T00:00:00.000Z';
const FORMATS = ['json', 'html'] as const;
type Format = (typeof FORMATS)[number];

/** Keeps all of the page project: its five platforms, its Python. */
const KEEP_ALL = {
  platforms: ['manylinux*_x86_64', 'manylinux*_aarch64', 'musllinux*', 'macosx_*_arm64', 'win_amd64', 'any'],
  python: '>=3.8',
  sdists: false,
};
/** What a Linux cluster would set: two of the five platforms. */
const CLUSTER = { platforms: ['manylinux*_x86_64', 'manylinux*_aarch64', 'any'], python: '>=3.10', sdists: false };

const PAIRS = [
  { name: 'remote page with a files filter', with: 'filtered', without: 'plain' },
  { name: 'virtual page with a files filter', with: 'vfiltered', without: 'vplain' },
  { name: 'remote page with a 7-day cooldown and a files filter', with: 'both', without: 'plain' },
] as const;
const REPOS = ['plain', 'filtered', 'both', 'vplain', 'vfiltered'] as const;

function manifest(dists: PageDist[]): UpstreamManifest {
  const listed = dists.map(({ dist, version }): UpstreamEntry => ({
    filename: dist.filename, version, sha256: dist.sha256, size: dist.bytes.length,
    requiresPython: PAGE_REQUIRES_PYTHON, uploadTime: UPLOAD_TIME,
    coreMetadataSha256: createHash('sha256').update(dist.metadata).digest('hex'),
  }));
  return { projects: { [PAGE_PROJECT]: listed } };
}

/** The filter alone on a 2,000-file page, in this process: µs per page (best of 30 after a warm-up: the least disturbed by other work on the machine). */
function filterCost(dists: PageDist[], spec: typeof KEEP_ALL): { us: number; kept: number } {
  const files: IndexFile[] = dists.map(({ dist }) => ({
    filename: dist.filename, path: filePath(dist.sha256, dist.filename), sha256: dist.sha256, size: dist.bytes.length,
    requiresPython: PAGE_REQUIRES_PYTHON, uploadTime: UPLOAD_TIME, yanked: false, metadataSha256: null,
  }));
  const page: ProjectPage = { name: PAGE_PROJECT, displayName: PAGE_PROJECT, files, versions: [...new Set(dists.map((d) => d.version))], status: null };
  const times: number[] = [];
  let kept = 0;
  for (let i = 0; i < 40; i++) {
    // A filter per run: its memo of tag combinations starts empty, as after a start.
    const f = namedFilter('bench', spec)!;
    const t0 = performance.now();
    kept = filterPage(page, (x) => filterReason([f], x.filename, x.requiresPython) === null).files.length;
    if (i >= 10) times.push((performance.now() - t0) * 1000);
  }
  return { us: Math.min(...times), kept };
}

export async function policyScenarios(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'policies');
  await mkdir(dir, { recursive: true });
  const project = await ctx.pageProject();
  const file = join(dir, 'upstream.json');
  await writeFile(file, JSON.stringify(manifest(project.dists)));

  const children: Child[] = [];
  try {
    const up = await startChild('bench/upstream-child.ts', ['--manifest', file, '--mbps', '1000']);
    children.push(up);
    let upstreamPages = 0;
    up.lines.on('line', (line) => { if ((JSON.parse(line) as UpstreamEvent).event === 'page') upstreamPages++; });
    const url = `${up.url}/simple/`;
    const repos = {
      plain: { type: 'remote', url, indexTtl: 600, timeout: 30 },
      filtered: { type: 'remote', url, indexTtl: 600, timeout: 30, files: KEEP_ALL },
      // Every file was uploaded long before the cooldown: the same page again.
      both: { type: 'remote', url, indexTtl: 600, timeout: 30, files: KEEP_ALL, cooldown: '7d' },
      cluster: { type: 'remote', url, indexTtl: 600, timeout: 30, files: CLUSTER },
      vplain: { type: 'virtual', members: ['plain'] },
      vfiltered: { type: 'virtual', members: ['plain'], files: KEEP_ALL },
    };
    const p = await startChild('bench/server-child.mjs', [join(dir, 'storage'), '--repos', JSON.stringify(repos)]);
    children.push(p);

    const urlOf = (repo: string): string => `${p.url}/${repo}/simple/${PAGE_PROJECT}/`;
    const sizes: Record<string, Record<Format, number>> = {};
    for (const repo of REPOS) {
      sizes[repo] = {} as Record<Format, number>;
      for (const format of FORMATS) {
        const pg = await fetchPage(urlOf(repo), ACCEPT[format]);
        check(pg.status === 200, `${repo} ${format} page answered ${pg.status}: ${pg.body.toString('utf8').slice(0, 200)}`);
        const text = pg.body.toString('utf8');
        const count = format === 'json' ? (JSON.parse(text) as { files: unknown[] }).files.length : text.split('<a ').length - 1;
        check(count === ctx.pageFiles, `${repo} ${format} page lists ${count} files, expected ${ctx.pageFiles}`);
        sizes[repo]![format] = pg.body.length;
      }
    }
    for (const pair of PAIRS) for (const format of FORMATS) check(sizes[pair.with]![format] === sizes[pair.without]![format], `${pair.name} ${format}: filtered and plain pages are the same size`);
    const clusterPage = await fetchPage(urlOf('cluster'), ACCEPT.json);
    const clusterFiles = (JSON.parse(clusterPage.body.toString('utf8')) as { files: unknown[] }).files.length;
    check(clusterFiles === (ctx.pageFiles * 2) / 5, `the cluster filter keeps 2 platforms of 5 (${clusterFiles} files)`);
    check(upstreamPages === 4, `each remote fetched the upstream page once while warming (${upstreamPages} fetches)`);

    // By pair, then side: each baseline is the runs interleaved with its own pair's.
    const rps: Record<string, Record<Format, { with: number[]; without: number[] }>> = {};
    const cpu: Record<string, Record<Format, { with: number[]; without: number[] }>> = {};
    for (const pair of PAIRS) {
      rps[pair.name] = { json: { with: [], without: [] }, html: { with: [], without: [] } };
      cpu[pair.name] = { json: { with: [], without: [] }, html: { with: [], without: [] } };
      for (const format of FORMATS) {
        for (let i = 0; i < RUNS; i++) {
          for (const side of ['with', 'without'] as const) {
            const repo = pair[side];
            settle();
            const r = await measurePage({ url: urlOf(repo), headers: { Accept: ACCEPT[format] }, expectBytes: sizes[repo]![format], ...LOAD }, p.pid);
            check(r.ok > 0 && r.failed === 0, `${repo} ${format} page load: ${r.failed} failed (${r.firstError ?? 'none ok'})`);
            console.log(`${format.padEnd(4)} page #${i + 1} ${repo.padEnd(9)} ${r.rps.toFixed(0).padStart(6)} req/s (${(sizes[repo]![format] / 1024).toFixed(0)} KiB); CPU per request: server ${r.serverUsPerRequest.toFixed(0)} µs`);
            rps[pair.name]![format][side].push(r.rps);
            cpu[pair.name]![format][side].push(r.serverUsPerRequest);
          }
        }
        const w = median(rps[pair.name]![format].with);
        const b = median(rps[pair.name]![format].without);
        row(`${pair.name} (${ctx.pageFiles} files, all listed) ${format.toUpperCase()}, req/s (median of ${RUNS}; baseline: same page without)`,
          w, b, `ratio >= ${TARGET}`, w / b >= TARGET);
        row(`  ${format.toUpperCase()}: server CPU per request, µs (baseline: without)`, median(cpu[pair.name]![format].with), median(cpu[pair.name]![format].without), '(report only)', null);
      }
    }
    const cost = filterCost(project.dists, KEEP_ALL);
    const clusterCost = filterCost(project.dists, CLUSTER);
    check(cost.kept === ctx.pageFiles && clusterCost.kept === (ctx.pageFiles * 2) / 5, 'in-process filter keeps what the server keeps');
    console.log(`files filter on a ${ctx.pageFiles}-file page, in process: ${cost.us.toFixed(0)} µs (keeps all), ${clusterCost.us.toFixed(0)} µs (cluster filter, keeps ${clusterCost.kept})`);
    row(`  files filter alone on a ${ctx.pageFiles}-file page (once per upstream change), µs, best of 30 (baseline: cluster filter)`, cost.us, clusterCost.us, '(report only)', null);
    check(upstreamPages === 4, `no upstream page fetched while measuring (${upstreamPages} fetches)`);
    details.policies = {
      files: ctx.pageFiles, repositories: repos, bytes: sizes, rps, serverUsPerRequest: cpu, loadOptions: LOAD, runs: RUNS,
      filterCostUs: { keepAll: cost.us, cluster: clusterCost.us }, clusterPageFiles: clusterFiles,
    };
  } finally {
    await Promise.all(children.map((c) => stopChild(c.proc)));
    await rm(dir, { recursive: true, force: true });
  }
}
