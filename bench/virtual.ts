/**
 * A virtual repository's merged project page, against the same page from one
 * local repository of the same pydepot. The realistic merge: the 2,000 files
 * of one project split between a local member `a` (the first 1,000, uploaded)
 * and a remote member `pypi` (the other 1,000, on a fake upstream in its own
 * process), with the project listed in `mergeUpstream` (else the
 * dependency-confusion rule would keep the remote out). The baseline, local
 * repository `single`, holds all 2,000. Both pages are warm (the upstream
 * page fetched once, both rendered pages cached) before load is measured,
 * JSON and HTML, alternating sides, median of RUNS.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { startChild, stopChild, type Child } from './children.ts';
import { ACCEPT, check, fetchListedPage, LOAD, median, settle } from './helpers.ts';
import { measurePage, type PageResult } from './load.ts';
import { PAGE_PROJECT, PAGE_REQUIRES_PYTHON, uploadPageProject, type PageProject } from './page-project.ts';
import type { AddRow, ScenarioContext } from './report.ts';
import { sampleRss } from './transfer.ts';
import type { UpstreamEntry, UpstreamEvent, UpstreamManifest } from './upstream-child.ts';

const RUNS = 3;
const RATIO = 0.9;
const UPLOAD_TIME = '2025-01-01T00:00:00.000Z';
const FORMATS = ['json', 'html'] as const;
type Format = (typeof FORMATS)[number];
const SIDES = ['virtual', 'single'] as const;
type Side = (typeof SIDES)[number];

export type VirtualContext = ScenarioContext;

/** pydepot's repositories beside the default `bench`: see the file comment. */
const REPOS = {
  a: { type: 'local', upload: 'anonymous' },
  single: { type: 'local', upload: 'anonymous' },
  all: { type: 'virtual', members: ['a', 'pypi'], internal: [], mergeUpstream: [PAGE_PROJECT] },
};

function manifest(upstreamHalf: PageProject['dists']): UpstreamManifest {
  const listed = upstreamHalf.map(({ dist, version }): UpstreamEntry => ({
    filename: dist.filename, version, sha256: dist.sha256, size: dist.bytes.length,
    requiresPython: PAGE_REQUIRES_PYTHON, uploadTime: UPLOAD_TIME,
    coreMetadataSha256: createHash('sha256').update(dist.metadata).digest('hex'),
  }));
  return { projects: { [PAGE_PROJECT]: listed } };
}

/** A GET with If-None-Match: the status and the ETag answered. */
function conditionalGet(url: string, accept: string, etag: string): Promise<{ status: number; etag: string | undefined }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { Accept: accept, 'If-None-Match': etag } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

export async function virtualScenarios(ctx: VirtualContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'virtual');
  await mkdir(dir, { recursive: true });
  const project = await ctx.pageProject();
  const half = Math.floor(project.dists.length / 2);
  const localHalf = { ...project, dists: project.dists.slice(0, half) };
  const manifestFile = join(dir, 'upstream.json');
  await writeFile(manifestFile, JSON.stringify(manifest(project.dists.slice(half))));

  let upstream: Child | null = null;
  let pydepot: Child | null = null;
  try {
    upstream = await startChild('bench/upstream-child.ts', ['--manifest', manifestFile, '--mbps', '1000']);
    let upstreamPages = 0;
    upstream.lines.on('line', (line) => { if ((JSON.parse(line) as UpstreamEvent).event === 'page') upstreamPages++; });
    pydepot = await startChild('bench/server-child.mjs', [join(dir, 'storage'), '--remote', `pypi=${upstream.url}/simple/`, '--repos', JSON.stringify(REPOS)]);
    const p = pydepot;

    settle();
    const uploadSeconds = {
      a: await uploadPageProject(p.url, 'a', localHalf),
      single: await uploadPageProject(p.url, 'single', project),
    };
    console.log(`uploaded ${half} wheels to 'a' in ${uploadSeconds.a.toFixed(1)} s, ${project.dists.length} to 'single' in ${uploadSeconds.single.toFixed(1)} s; `
      + `the other ${project.dists.length - half} of 'all' come from the remote 'pypi'`);

    // Warm both pages in both formats, and check they list the same 2,000 files.
    const urls: Record<Side, string> = { virtual: `${p.url}/all/simple/${PAGE_PROJECT}/`, single: `${p.url}/single/simple/${PAGE_PROJECT}/` };
    const sizes = { virtual: {}, single: {} } as Record<Side, Record<Format, number>>;
    const etags = {} as Record<Format, string>;
    let names: Record<Side, string[]> | null = null;
    for (const format of FORMATS) {
      for (const side of SIDES) {
        const { page: pg, files } = await fetchListedPage<{ filename: string; url: string }>(urls[side], format, side, ctx.pageFiles);
        if (files) {
          check(files.every((f) => f.url.startsWith('../../files/')), `${side} page links to pydepot's own files`);
          (names ??= {} as Record<Side, string[]>)[side] = files.map((f) => f.filename).sort();
        }
        sizes[side][format] = pg.body.length;
        if (side === 'virtual') etags[format] = String(pg.headers.etag);
      }
    }
    check(JSON.stringify(names!.virtual) === JSON.stringify(names!.single), 'the merged page and the single page list the same files');
    check(upstreamPages === 1, `the upstream page was fetched once while warming (${upstreamPages} times)`);

    // The merged page's ETag: stable while nothing changes, and a conditional request gets 304.
    const conditional = {} as Record<Format, { status: number; etag: string | undefined }>;
    for (const format of FORMATS) {
      conditional[format] = await conditionalGet(urls.virtual, ACCEPT[format], etags[format]);
      check(conditional[format].status === 304 && conditional[format].etag === etags[format],
        `merged ${format} page with If-None-Match ${etags[format]}: ${conditional[format].status}, ETag ${conditional[format].etag}`);
    }
    console.log(`merged page ETags ${etags.json} (JSON), ${etags.html} (HTML): If-None-Match answered 304`);

    const rps = { json: { virtual: [], single: [] }, html: { virtual: [], single: [] } } as Record<Format, Record<Side, number[]>>;
    const cpu = { json: { virtual: [], single: [] }, html: { virtual: [], single: [] } } as Record<Format, Record<Side, number[]>>;
    const load: Record<Format, Record<Side, PageResult[]>> = { json: { virtual: [], single: [] }, html: { virtual: [], single: [] } };
    for (const format of FORMATS) {
      for (let i = 0; i < RUNS; i++) {
        for (const side of SIDES) {
          settle();
          const r = await measurePage({ url: urls[side], headers: { Accept: ACCEPT[format] }, expectBytes: sizes[side][format], ...LOAD }, p.pid);
          check(r.ok > 0 && r.failed === 0, `${side} ${format} page load: ${r.failed} failed (${r.firstError ?? 'none ok'})`);
          console.log(`${format.padEnd(4)} page #${i + 1} ${side.padEnd(7)} ${r.rps.toFixed(0).padStart(6)} req/s (${(sizes[side][format] / 1024).toFixed(0)} KiB); `
            + `CPU per request: server ${r.serverUsPerRequest.toFixed(0)} µs, client ${r.clientUsPerRequest.toFixed(0)} µs`);
          rps[format][side].push(r.rps);
          cpu[format][side].push(r.serverUsPerRequest);
          load[format][side].push(r);
        }
      }
      const v = median(rps[format].virtual);
      const s = median(rps[format].single);
      row(`virtual project page (${ctx.pageFiles} files: local + remote member) ${format.toUpperCase()}, req/s (median of ${RUNS}; baseline: one local repo)`,
        v, s, `ratio >= ${RATIO}`, v / s >= RATIO);
      row(`  virtual vs local ${format.toUpperCase()} page: server CPU per request, µs`, median(cpu[format].virtual), median(cpu[format].single), '(report only)', null);
    }
    check(upstreamPages === 1, `the upstream page was fetched once in all (${upstreamPages} times)`);

    details.virtual = {
      files: ctx.pageFiles,
      members: { a: half, pypi: project.dists.length - half, single: project.dists.length },
      repositories: REPOS,
      bytes: sizes,
      etags,
      conditional,
      uploadSeconds,
      upstreamPageFetches: upstreamPages,
      rps,
      serverUsPerRequest: cpu,
      load,
      loadOptions: LOAD,
      runs: RUNS,
      pydepotRssAfterBytes: sampleRss(p.pid).stop(),
    };
  } finally {
    await Promise.all([upstream, pydepot].map((c) => (c ? stopChild(c.proc) : undefined)));
    await rm(dir, { recursive: true, force: true });
  }
}
