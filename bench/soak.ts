/**
 * The soak: BENCH_SOAK_CLIENTS (200) pip-like clients for BENCH_SOAK_SECONDS
 * (30) against one pydepot in its own process, with a local repository
 * (`bench`), a remote one (`pypi`, on bench/upstream-child.ts, indexTtl 1 s so
 * its pages are revalidated all the time) and a virtual one over both (`all`,
 * uploadTo `bench`). Each client loops as pip does: a project page (JSON or
 * HTML; three times in ten a page it read before, with If-None-Match), then one listed
 * file's PEP 658 metadata and the file, both checked against the page's
 * sha256; one page in ten is a project nobody has (404). Meanwhile wheels
 * are uploaded over HTTP (to `bench` and through `all`), and versions yanked
 * and un-yanked through another database connection, as `pydepot yank` does.
 *
 * An error is any other status, a hash that does not match, a page pip could
 * not read, an upstream release leaking into a hosted project, or no answer
 * within 30 s. The same loop with one client, no writers, first (which also
 * fills the remote's cache) is the baseline for latency. Reported: requests,
 * errors (target 0), p50/p99 latency, and pydepot's peak RSS (sampled from
 * /proc every 100 ms; target below RSS_LIMIT).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { openStorage } from '../src/storage/open.ts';
import { buildSdist, buildWheel, type BuiltDist } from '../test/helpers/dists.ts';
import { HTML_ACCEPT, JSON_ACCEPT, parsePage, percentile } from '../test/helpers/pip-like.ts';
import { startChild, stopChild, type Child } from './children.ts';
import { check, MB, settle } from './helpers.ts';
import { uploadFields } from './page-project.ts';
import type { ScenarioContext } from './report.ts';
import { multipart, upload } from './transfer.ts';
import type { UpstreamEntry, UpstreamEvent, UpstreamManifest } from './upstream-child.ts';

const CLIENTS = Number(process.env.BENCH_SOAK_CLIENTS ?? 200);
const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 30);
const BASELINE_SECONDS = Math.min(5, Math.max(1, SECONDS / 3));
const REQUEST_TIMEOUT_MS = 30_000;
const RSS_LIMIT = 300e6; // 200 clients: V8 settles at about 250 MB here (a plateau, not a climb: see details.soak.pydepotRssBytes.every5s)
const SQUAT_VERSION = '99.0.0';

/** What each repository serves. acme-core is hosted in `bench`, so `all` never takes the upstream's (squatted) acme-core. */
const PROJECTS = {
  bench: ['acme-core', 'acme-utils'],
  pypi: ['requests', 'six', 'urllib3', 'acme-core'],
  all: ['acme-core', 'acme-utils', 'requests', 'six', 'urllib3'],
} as const;
type Repo = keyof typeof PROJECTS;
const REPOS = Object.keys(PROJECTS) as Repo[];
type Kind = 'page' | 'notModified' | 'notFound' | 'metadata' | 'file';

interface LoopResult {
  seconds: number;
  latencies: number[];
  byKind: Record<Kind, number[]>;
  errors: number;
  firstErrors: string[];
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function rssOf(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The upstream's projects, written to `dir`: files and metadata on disk, listed in a manifest. */
async function upstreamManifest(dir: string): Promise<UpstreamManifest> {
  const dists: Array<[string, BuiltDist, string]> = [
    ['requests', await buildWheel({ name: 'requests', version: '2.31.0' }), '2.31.0'],
    ['requests', await buildSdist({ name: 'requests', version: '2.31.0' }), '2.31.0'],
    ['six', await buildWheel({ name: 'six', version: '1.16.0', padBytes: 200_000 }), '1.16.0'],
    ['urllib3', await buildWheel({ name: 'urllib3', version: '2.2.0', padBytes: 1_000_000 }), '2.2.0'],
    ['acme-core', await buildWheel({ name: 'acme-core', version: SQUAT_VERSION }), SQUAT_VERSION],
  ];
  const projects: Record<string, UpstreamEntry[]> = {};
  for (const [project, dist, version] of dists) {
    const path = join(dir, dist.filename);
    await writeFile(path, dist.bytes);
    const wheel = dist.filename.endsWith('.whl');
    if (wheel) await writeFile(`${path}.metadata`, dist.metadata);
    (projects[project] ??= []).push({
      filename: dist.filename, version, sha256: dist.sha256, size: dist.bytes.length,
      requiresPython: '>=3.8', uploadTime: '2025-01-01T00:00:00.000Z',
      coreMetadataSha256: wheel ? sha256(dist.metadata) : null,
      path, ...(wheel ? { metadataPath: `${path}.metadata` } : {}),
    });
  }
  return { projects };
}

/** The upload form's fields for a wheel or an sdist. */
function fields(name: string, version: string, dist: BuiltDist): Record<string, string> {
  const f = uploadFields(name, version, dist.sha256);
  return dist.filename.endsWith('.whl') ? f : { ...f, filetype: 'sdist', pyversion: 'source' };
}

async function put(url: string, repo: string, name: string, version: string, dist: BuiltDist, agent?: http.Agent): Promise<void> {
  const t = await upload(`${url}/${repo}/`, multipart(fields(name, version, dist), dist.filename), dist.bytes, agent);
  check(t.status === 200, `upload of ${dist.filename} to ${repo} answered ${t.status}: ${t.body.trim()}`);
}

/** `clients` pip-like loops until `seconds` have passed; see the file comment. */
async function runClients(base: string, clients: number, seconds: number): Promise<LoopResult> {
  const agent = new Agent({ connections: clients, keepAliveTimeout: 30_000, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
  const latencies: number[] = [];
  const byKind: Record<Kind, number[]> = { page: [], notModified: [], notFound: [], metadata: [], file: [] };
  const firstErrors: string[] = [];
  let errors = 0;
  const get = async (url: string, headers: Record<string, string>): Promise<{ status: number; etag: string | null; body: Buffer; ms: number }> => {
    const t0 = performance.now();
    const res = await request(url, { headers, dispatcher: agent, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const body = Buffer.from(await res.body.arrayBuffer());
    const ms = performance.now() - t0;
    latencies.push(ms);
    const etag = res.headers.etag;
    return { status: res.statusCode, etag: typeof etag === 'string' ? etag : null, body, ms };
  };
  const verified = async (url: string, expect: string, kind: 'metadata' | 'file'): Promise<void> => {
    const r = await get(url, {});
    if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
    if (sha256(r.body) !== expect) throw new Error(`GET ${url}: sha256 ${sha256(r.body)}, the page said ${expect}`);
    byKind[kind].push(r.ms);
  };

  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const client = async (id: number): Promise<void> => {
    // Pages this client has read, with their ETags: like pip's HTTP cache, it asks again conditionally.
    const seen = new Map<string, { repo: Repo; project: string; format: 'json' | 'html'; etag: string }>();
    let missing = 0;
    while (performance.now() < deadline) {
      const again = seen.size > 0 && Math.random() < 0.3 ? pick([...seen.values()]) : null;
      const repo = again?.repo ?? pick(REPOS);
      const nobody = !again && Math.random() < 0.1;
      const project = again?.project ?? (nobody ? `nobody-has-${id}-${missing++}-${Math.random().toString(36).slice(2, 8)}` : pick(PROJECTS[repo]));
      const format = again?.format ?? pick(['json', 'html'] as const);
      const pageUrl = `${base}/${repo}/simple/${project}/`;
      const key = `${format} ${pageUrl}`;
      const conditional = again?.etag;
      try {
        const headers: Record<string, string> = { Accept: format === 'json' ? JSON_ACCEPT : HTML_ACCEPT };
        if (conditional) headers['If-None-Match'] = conditional;
        const page = await get(pageUrl, headers);
        if (nobody) {
          if (page.status !== 404) throw new Error(`GET ${pageUrl}: ${page.status}, expected 404`);
          byKind.notFound.push(page.ms);
          continue;
        }
        if (page.status === 304 && conditional) {
          byKind.notModified.push(page.ms);
          continue;
        }
        if (page.status !== 200) throw new Error(`GET ${pageUrl}${conditional ? ' (conditional)' : ''}: ${page.status} ${page.body.toString('utf8').slice(0, 200)}`);
        byKind.page.push(page.ms);
        if (page.etag) seen.set(key, { repo, project, format, etag: page.etag });
        const files = parsePage(page.body.toString('utf8'), format, pageUrl);
        if (files.length === 0) throw new Error(`GET ${pageUrl}: no files`);
        if (repo !== 'pypi' && files.some((f) => f.filename.includes(`-${SQUAT_VERSION}`))) {
          throw new Error(`GET ${pageUrl}: the upstream's ${project} ${SQUAT_VERSION} leaked into a hosted project`);
        }
        const f = pick(files);
        if (!f.url.startsWith(`${base}/${repo}/files/`)) throw new Error(`GET ${pageUrl}: ${f.filename} links outside the repository: ${f.url}`);
        if (f.metadataSha256) await verified(`${f.url}.metadata`, f.metadataSha256, 'metadata');
        await verified(f.url, f.sha256, 'file');
      } catch (err) {
        errors++;
        if (firstErrors.length < 20) firstErrors.push(`client ${id}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  const result = { seconds: (performance.now() - t0) / 1000, latencies, byKind, errors, firstErrors };
  await agent.close();
  return result;
}

const summary = (xs: number[]) => ({ count: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), max: xs.length ? Math.max(...xs) : Number.NaN });

export async function soakScenarios(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'soak');
  const storage = join(dir, 'storage');
  await mkdir(dir, { recursive: true });
  const manifestFile = join(dir, 'upstream.json');
  await writeFile(manifestFile, JSON.stringify(await upstreamManifest(dir)));
  // What the uploaders publish during the soak: more than they can send.
  const toUpload = await Promise.all(Array.from({ length: Math.ceil(SECONDS * 6) }, (_, i) => {
    const name = i % 2 === 0 ? 'acme-core' : 'acme-utils';
    const version = `1.${i + 1}.0`;
    return buildWheel({ name, version }).then((dist) => ({ name, version, dist }));
  }));

  let upstream: Child | null = null;
  let pydepot: Child | null = null;
  try {
    upstream = await startChild('bench/upstream-child.ts', ['--manifest', manifestFile, '--mbps', '100']);
    const upstreamEvents: UpstreamEvent[] = [];
    upstream.lines.on('line', (line) => upstreamEvents.push(JSON.parse(line) as UpstreamEvent));
    const repos = {
      pypi: { type: 'remote', url: `${upstream.url}/simple/`, indexTtl: 1, timeout: 30 },
      all: { type: 'virtual', members: ['bench', 'pypi'], uploadTo: 'bench' },
    };
    pydepot = await startChild('bench/server-child.mjs', [storage, '--repos', JSON.stringify(repos)]);
    const p = pydepot;
    const initial: Array<[string, BuiltDist]> = [
      ['acme-core', await buildWheel({ name: 'acme-core', version: '1.0.0', padBytes: 100_000 })],
      ['acme-core', await buildSdist({ name: 'acme-core', version: '1.0.0' })],
      ['acme-utils', await buildWheel({ name: 'acme-utils', version: '1.0.0' })],
    ];
    const uploadAloneMs: number[] = [];
    for (const [name, dist] of initial) {
      const t0 = performance.now();
      await put(p.url, 'bench', name, '1.0.0', dist);
      uploadAloneMs.push(performance.now() - t0);
    }

    // Baseline: one client alone (this also fills the remote's cache).
    settle();
    const alone = await runClients(p.url, 1, BASELINE_SECONDS);
    const rssBefore = rssOf(p.pid);
    console.log(`soak baseline: 1 client, ${alone.latencies.length} requests in ${alone.seconds.toFixed(1)} s, p50 ${percentile(alone.latencies, 50).toFixed(1)} ms, `
      + `p99 ${percentile(alone.latencies, 99).toFixed(1)} ms, ${alone.errors} errors; pydepot RSS ${(rssBefore / MB).toFixed(0)} MB`);

    // The writers.
    const soakEnd = performance.now() + SECONDS * 1000;
    const uploaded: Array<{ name: string; version: string }> = [];
    const uploadMs: number[] = [];
    let nextUpload = 0;
    const uploadAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const uploader = async (): Promise<void> => {
      while (nextUpload < toUpload.length && performance.now() < soakEnd - 1000) {
        const u = toUpload[nextUpload++]!;
        const t0 = performance.now();
        // Every other one as `twine upload --repository-url …/all/` would: to all's uploadTo.
        await put(p.url, nextUpload % 2 === 0 ? 'bench' : 'all', u.name, u.version, u.dist, uploadAgent);
        uploadMs.push(performance.now() - t0);
        uploaded.push(u);
        await sleep(100);
      }
    };
    const yanks = { yank: 0, unyank: 0 };
    const st = await openStorage(storage);
    const yanker = async (): Promise<void> => {
      const state = new Map<string, boolean>();
      while (performance.now() < soakEnd - 300) {
        const { name, version } = pick([{ name: 'acme-core', version: '1.0.0' }, ...uploaded]);
        const key = `${name} ${version}`;
        const yank = !(state.get(key) ?? false);
        await st.store.setYanked('bench', name, version, yank, yank ? 'soak' : null);
        state.set(key, yank);
        yanks[yank ? 'yank' : 'unyank']++;
        await sleep(200);
      }
    };

    // RSS every 100 ms, kept as a series to tell growth from a plateau.
    const rssSeries: Array<[number, number]> = [];
    const t0 = performance.now();
    const rssTimer = setInterval(() => rssSeries.push([(performance.now() - t0) / 1000, rssOf(p.pid)]), 100);
    const eventsBefore = upstreamEvents.length;
    settle();
    const soakRun = runClients(p.url, CLIENTS, SECONDS);
    const writers = Promise.all([uploader(), uploader(), yanker()]);
    let soak: LoopResult;
    try {
      [soak] = await Promise.all([soakRun, writers]);
    } finally {
      clearInterval(rssTimer);
      uploadAgent.destroy();
      await st.store.close();
    }
    rssSeries.push([(performance.now() - t0) / 1000, rssOf(p.pid)]);

    const total = soak.latencies.length;
    const rps = total / soak.seconds;
    const p50 = percentile(soak.latencies, 50);
    const p99 = percentile(soak.latencies, 99);
    const rssPeak = Math.max(...rssSeries.map(([, r]) => r));
    const quarter = (from: number, to: number): number => Math.max(0, ...rssSeries.filter(([s]) => s >= from * SECONDS && s <= to * SECONDS).map(([, r]) => r));
    const soakEvents = upstreamEvents.slice(eventsBefore);
    const upstreamPages = soakEvents.filter((e) => e.event === 'page');
    const revalidated = upstreamPages.filter((e) => e.event === 'page' && e.notModified).length;
    const counts = Object.fromEntries(Object.entries(soak.byKind).map(([k, v]) => [k, v.length]));
    console.log(`soak: ${CLIENTS} clients, ${total} requests in ${soak.seconds.toFixed(1)} s (${rps.toFixed(0)}/s) ${JSON.stringify(counts)}; `
      + `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; ${soak.errors} errors`);
    console.log(`  meanwhile: ${uploaded.length} uploads (median ${percentile(uploadMs, 50).toFixed(0)} ms; alone before the soak ${percentile(uploadAloneMs, 50).toFixed(0)} ms), ${yanks.yank} yanks, ${yanks.unyank} un-yanks, `
      + `${upstreamPages.length} upstream page requests (${revalidated} answered 304); pydepot RSS peak ${(rssPeak / MB).toFixed(0)} MB `
      + `(first quarter ${(quarter(0, 0.25) / MB).toFixed(0)} MB, last quarter ${(quarter(0.75, 1.01) / MB).toFixed(0)} MB)`);
    for (const e of soak.firstErrors.slice(0, 5)) console.log(`  error: ${e}`);

    row(`soak: ${CLIENTS} pip-like clients x ${SECONDS} s, local + remote + virtual, during uploads, yanks, revalidations: req/s (baseline: 1 client)`,
      rps, alone.latencies.length / alone.seconds, '(report only)', null);
    row(`  soak: errors in ${total} requests (status, sha256, timeout; baseline: 1 client)`, soak.errors, alone.errors, 'pydepot = 0', soak.errors === 0 && alone.errors === 0, false);
    row('  soak: latency p50, ms (baseline: 1 client)', p50, percentile(alone.latencies, 50), '(report only)', null);
    row('  soak: latency p99, ms (baseline: 1 client)', p99, percentile(alone.latencies, 99), '(report only)', null);
    row('  soak: peak server RSS, MB (baseline: after the 1-client run)', rssPeak / MB, rssBefore / MB, `pydepot < ${RSS_LIMIT / MB}`, rssPeak < RSS_LIMIT, false);

    details.soak = {
      clients: CLIENTS,
      seconds: SECONDS,
      repositories: repos,
      requests: total,
      requestsPerSecond: rps,
      errors: soak.errors,
      firstErrors: soak.firstErrors,
      latencyMs: { all: summary(soak.latencies), ...Object.fromEntries(Object.entries(soak.byKind).map(([k, v]) => [k, summary(v)])) },
      baseline: { clients: 1, seconds: alone.seconds, requests: alone.latencies.length, errors: alone.errors, firstErrors: alone.firstErrors, latencyMs: summary(alone.latencies) },
      writers: { uploads: uploaded.length, uploadMs: summary(uploadMs), uploadAloneMs: summary(uploadAloneMs), yanks: yanks.yank, unyanks: yanks.unyank },
      upstream: { pageRequests: upstreamPages.length, notModified: revalidated, fileDownloads: soakEvents.filter((e) => e.event === 'file-start').length },
      pydepotRssBytes: {
        afterBaseline: rssBefore, peak: rssPeak, firstQuarterPeak: quarter(0, 0.25), lastQuarterPeak: quarter(0.75, 1.01),
        // The peak of each 5 s: a plateau or a climb.
        every5s: Array.from({ length: Math.ceil(SECONDS / 5) }, (_, i) => Math.max(0, ...rssSeries.filter(([t]) => t >= i * 5 && t < (i + 1) * 5).map(([, r]) => r))),
      },
    };
  } finally {
    await Promise.all([upstream, pydepot].map((c) => (c ? stopChild(c.proc) : undefined)));
    await rm(dir, { recursive: true, force: true });
  }
}
