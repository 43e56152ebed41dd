/**
 * How cost grows (issue 14, item 7):
 * - project pages of 10, 100, 1,000 and 10,000 files: latency p50/p99 of the
 *   page pip asks for (JSON, gzip), from a local repository and from a remote
 *   one (its upstream, bench/upstream-child.ts, lists the same files);
 * - a remote's root list of 500,000 names: the time to serve it (first, when
 *   it is fetched from upstream, and again) and pydepot's peak RSS meanwhile;
 * - a local repository of 1,000 and then 100,000 projects: upload latency
 *   (twine's form over HTTP) and page latency (random projects) at each size.
 * The big cases are seeded through the metadata store's API (addFile) into
 * the storage folder before pydepot starts on it: rows, not blobs (pages are
 * never downloaded here), instead of 100,000 HTTP uploads.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../src/storage/open.ts';
import type { MetadataStore } from '../src/storage/types.ts';
import { buildWheel } from '../test/helpers/dists.ts';
import { startChild, stopChild, type Child } from './children.ts';
import { ACCEPT, check, MB, settle } from './helpers.ts';
import { uploadFields } from './page-project.ts';
import type { ScenarioContext } from './report.ts';
import { cpuSeconds, multipart, sampleRss, upload } from './transfer.ts';
import type { UpstreamEntry, UpstreamManifest } from './upstream-child.ts';

const SIZES = (process.env.BENCH_SCALE_FILES ?? '10,100,1000,10000').split(',').map(Number);
const ROOT_NAMES = Number(process.env.BENCH_SCALE_ROOT_NAMES ?? 500_000);
const PROJECTS = Number(process.env.BENCH_SCALE_PROJECTS ?? 100_000);
const SMALL_PROJECTS = 1000;
const UPLOADS = 40;
const RANDOM_PAGES = 200;
const REPO = 'bench';
const REMOTE = 'up';
const UPLOAD_TIME = '2025-01-01T00:00:00.000Z';
const PIP = { Accept: ACCEPT.json, 'Accept-Encoding': 'gzip, deflate' };
const hex = (s: string, n = 64): string => createHash('sha256').update(s).digest('hex').slice(0, n);

interface Latency {
  n: number;
  p50: number;
  p99: number;
  /** The first request (ms): a page rendered, or fetched from upstream, for the first time. */
  first: number;
  bytes: number;
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

function get(url: string, agent: http.Agent, headers: Record<string, string>): Promise<{ status: number; bytes: number; ms: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http.get(url, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, bytes: body.length, ms: performance.now() - t0, body });
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** One client, one request at a time: the first request, then at least 30 more (up to 2 s or 1,000 requests). */
async function latency(urls: () => string, headers: Record<string, string> = PIP, opts: { minN?: number; ms?: number; maxN?: number } = {}): Promise<Latency> {
  const { minN = 30, ms = 2000, maxN = 1000 } = opts;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await get(urls(), agent, headers);
    check(first.status === 200, `GET ${urls()} answered ${first.status}`);
    const times: number[] = [];
    const t0 = performance.now();
    let bytes = first.bytes;
    while (times.length < maxN && (times.length < minN || performance.now() - t0 < ms)) {
      const r = await get(urls(), agent, headers);
      check(r.status === 200, `GET answered ${r.status}`);
      times.push(r.ms);
      bytes = r.bytes;
    }
    times.sort((a, b) => a - b);
    return { n: times.length, p50: pct(times, 50), p99: pct(times, 99), first: first.ms, bytes };
  } finally {
    agent.destroy();
  }
}

/** `count` synthetic wheels of one project, added as an upload would add them (rows only). */
async function seedProject(store: MetadataStore, repo: string, project: string, count: number): Promise<UpstreamEntry[]> {
  const listed: UpstreamEntry[] = [];
  const stem = project.replace(/-/g, '_');
  for (let i = 0; i < count; i++) {
    const version = `1.${Math.floor(i / 100)}.${i % 100}`;
    const filename = `${stem}-${version}-py3-none-any.whl`;
    const sha256 = hex(`${repo}/${filename}`);
    const coreMetadata = Buffer.from(`Metadata-Version: 2.1\nName: ${project}\nVersion: ${version}\nRequires-Python: >=3.8\n`);
    const metadataSha256 = createHash('sha256').update(coreMetadata).digest('hex');
    // Awaited: the store's methods may return promises (the async stores).
    await store.addFile({
      repo, project, displayName: project, filename, version, kind: 'wheel', size: 10_000 + i, requiresPython: '>=3.8',
      metadataSha256, uploadTime: UPLOAD_TIME, uploader: null, sha256, md5: hex(`md5/${filename}`, 32), blake2b256: hex(`b2/${filename}`),
      coreMetadata, metadataJson: '{}',
    }, { overwrite: false, actor: { user: null, tokenId: null, address: null } });
    listed.push({ filename, version, sha256, size: 10_000 + i, requiresPython: '>=3.8', uploadTime: UPLOAD_TIME, coreMetadataSha256: metadataSha256 });
  }
  return listed;
}

/** Projects `from`..`to`-1 of one file each. */
async function seedProjects(storageDir: string, from: number, to: number): Promise<number> {
  const t0 = performance.now();
  const storage = await openStorage(storageDir);
  try {
    for (let i = from; i < to; i++) await seedProject(storage.store, REPO, `many-${String(i).padStart(6, '0')}`, 1);
  } finally {
    await storage.store.close();
  }
  return (performance.now() - t0) / 1000;
}

const ms = (x: number): string => x.toFixed(1);

export async function scaleScenarios(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'scale');
  await mkdir(dir, { recursive: true });
  const children: Child[] = [];
  const result: Record<string, unknown> = { loadAverageBefore: os.loadavg() };
  details.scale = result;
  try {
    // 1-2. Pages of 10..10,000 files, local and remote; the 500,000-name root list.
    const storage = join(dir, 'pages');
    const s = await openStorage(storage);
    const manifest: UpstreamManifest = { projects: {} };
    const t0 = performance.now();
    try {
      for (const n of SIZES) manifest.projects[`files-${n}`] = await seedProject(s.store, REPO, `files-${n}`, n);
    } finally {
      await s.store.close();
    }
    console.log(`seeded projects of ${SIZES.join(', ')} files in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const manifestFile = join(dir, 'upstream.json');
    await writeFile(manifestFile, JSON.stringify(manifest));
    const upstream = await startChild('bench/upstream-child.ts', ['--manifest', manifestFile, '--root-names', String(ROOT_NAMES)]);
    children.push(upstream);
    const pydepot = await startChild('bench/server-child.mjs', [storage, '--remote', `${REMOTE}=${upstream.url}/simple/`]);
    children.push(pydepot);
    const pages: Record<number, { local: Latency; remote: Latency }> = {};
    for (const n of SIZES) {
      settle();
      const local = await latency(() => `${pydepot.url}/${REPO}/simple/files-${n}/`);
      const remote = await latency(() => `${pydepot.url}/${REMOTE}/simple/files-${n}/`);
      pages[n] = { local, remote };
      console.log(`${String(n).padStart(6)}-file page (${(local.bytes / 1024).toFixed(0)} KiB gzip): local p50 ${ms(local.p50)} p99 ${ms(local.p99)} ms (first ${ms(local.first)}), `
        + `remote p50 ${ms(remote.p50)} p99 ${ms(remote.p99)} ms (first, from upstream, ${ms(remote.first)}); ${local.n}/${remote.n} requests`);
      row(`scale: ${n}-file page, JSON gzip, p50 ms, local (baseline: remote)`, local.p50, remote.p50, '(report only)', null);
      row(`  scale: ${n}-file page, p99 ms, local (baseline: remote)`, local.p99, remote.p99, '(report only)', null);
    }
    result.pages = pages;

    const rootAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const rootRuns: Array<{ format: string; ms: number; cpuSeconds: number; peakRss: number; rssBefore: number; bytes: number }> = [];
    for (const [format, accept] of [['json (first: fetched from upstream)', ACCEPT.json], ['json', ACCEPT.json], ['html', ACCEPT.html]] as const) {
      settle();
      // Each run from the RSS just before it: V8 keeps the heap a first run grew.
      const rssBefore = sampleRss(pydepot.pid).stop();
      const rss = sampleRss(pydepot.pid, 10);
      const cpu0 = cpuSeconds(pydepot.pid);
      const r = await get(`${pydepot.url}/${REMOTE}/simple/`, rootAgent, { Accept: accept });
      // The server's CPU: what load on a shared machine inflates far less than the time.
      const cpu = cpuSeconds(pydepot.pid) - cpu0;
      const peakRss = rss.stop();
      check(r.status === 200, `the root list answered ${r.status}`);
      if (accept === ACCEPT.json) {
        const names = (JSON.parse(r.body.toString('utf8')) as { projects: unknown[] }).projects.length;
        check(names === ROOT_NAMES, `the root list has ${names} names, expected ${ROOT_NAMES}`);
      }
      rootRuns.push({ format, ms: r.ms, cpuSeconds: cpu, peakRss, rssBefore, bytes: r.bytes });
      console.log(`root list of ${ROOT_NAMES} names, ${format}: ${(r.ms / 1000).toFixed(2)} s (server CPU ${cpu.toFixed(2)} s), ${(r.bytes / MB).toFixed(1)} MB, peak RSS ${(peakRss / MB).toFixed(0)} MB (just before: ${(rssBefore / MB).toFixed(0)} MB)`);
    }
    rootAgent.destroy();
    result.root = { names: ROOT_NAMES, runs: rootRuns };
    const [fetched, served] = rootRuns as [typeof rootRuns[number], typeof rootRuns[number]];
    // Served from the database in pages of names: memory must not grow with the list.
    row(`scale: remote root list of ${ROOT_NAMES} names, served again: peak RSS MB (baseline: RSS before)`, served.peakRss / MB, served.rssBefore / MB, 'growth < 50 MB', served.peakRss - served.rssBefore < 50e6);
    row(`  scale: root list fetched from upstream and served: peak RSS MB (baseline: RSS before)`, fetched.peakRss / MB, fetched.rssBefore / MB, '(report only)', null);
    row(`  scale: root list, s to serve: first (from upstream) (baseline: again, from the database)`, rootRuns[0]!.ms / 1000, rootRuns[1]!.ms / 1000, '(report only)', null);
    row(`  scale: root list, server CPU s: first (from upstream) (baseline: again, from the database)`, rootRuns[0]!.cpuSeconds, rootRuns[1]!.cpuSeconds, '(report only)', null);
    await stopChild(pydepot.proc);
    await stopChild(upstream.proc);
    await rm(storage, { recursive: true, force: true });

    // 3. A local repository of 1,000 projects, then of PROJECTS.
    const many = join(dir, 'many');
    let seeded = 0;
    const atSize: Record<number, { upload: Latency; page: Latency; seedSeconds: number; root: { ms: number; rssBefore: number; peakRss: number } }> = {};
    const wheels = await Promise.all(Array.from({ length: (UPLOADS + 1) * 2 }, (_, i) => buildWheel({ name: `fresh-${i}`, version: '1.0' })));
    let nextWheel = 0;
    for (const size of [SMALL_PROJECTS, PROJECTS]) {
      const seedSeconds = await seedProjects(many, seeded, size);
      console.log(`seeded ${size - seeded} projects (to ${size}) in ${seedSeconds.toFixed(1)} s`);
      seeded = size;
      const p = await startChild('bench/server-child.mjs', [many]);
      try {
        settle();
        // Upload latency: new projects, one at a time, as twine sends them.
        const times: number[] = [];
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        // The first upload of a fresh process (code loaded and compiled on first use) is reported apart.
        for (let i = 0; i <= UPLOADS; i++) {
          const w = wheels[nextWheel++]!;
          const t = await upload(`${p.url}/${REPO}/`, multipart(uploadFields(`fresh-${nextWheel - 1}`, '1.0', w.sha256), w.filename), w.bytes, agent);
          check(t.status === 200, `upload answered ${t.status}: ${t.body.trim()}`);
          times.push(t.seconds * 1000);
        }
        agent.destroy();
        const first = times.shift()!;
        times.sort((a, b) => a - b);
        const up: Latency = { n: times.length, p50: pct(times, 50), p99: pct(times, 99), first, bytes: 0 };
        // Page latency: a random seeded project each time (each one rendered afresh).
        let k = 0;
        const names = Array.from({ length: RANDOM_PAGES }, () => `many-${String(Math.floor(Math.random() * size)).padStart(6, '0')}`);
        const page = await latency(() => `${p.url}/${REPO}/simple/${names[k++ % names.length]}/`, PIP, { minN: RANDOM_PAGES - 1, maxN: RANDOM_PAGES - 1, ms: 0 });
        // The repository's project list (its root page), whole: time and memory.
        const rootAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        settle();
        const rssBefore = sampleRss(p.pid).stop();
        const rss = sampleRss(p.pid, 10);
        const r = await get(`${p.url}/${REPO}/simple/`, rootAgent, { Accept: ACCEPT.json });
        const peakRss = rss.stop();
        rootAgent.destroy();
        const listed = (JSON.parse(r.body.toString('utf8')) as { projects: unknown[] }).projects.length;
        check(r.status === 200 && listed === size + (UPLOADS + 1) * (size === SMALL_PROJECTS ? 1 : 2), `the root list answered ${r.status} with ${listed} names`);
        atSize[size] = { upload: up, page, seedSeconds, root: { ms: r.ms, rssBefore, peakRss } };
        console.log(`local repository of ${size} projects: upload p50 ${ms(up.p50)} p99 ${ms(up.p99)} ms (first ${ms(up.first)}); page (random project) p50 ${ms(page.p50)} p99 ${ms(page.p99)} ms; `
          + `root list ${ms(r.ms)} ms, peak RSS ${(peakRss / MB).toFixed(0)} MB (just before: ${(rssBefore / MB).toFixed(0)} MB)`);
      } finally {
        await stopChild(p.proc);
      }
    }
    result.projects = atSize;
    const big = atSize[PROJECTS]!;
    const small = atSize[SMALL_PROJECTS]!;
    row(`scale: upload p50 ms, local repository of ${PROJECTS} projects (baseline: ${SMALL_PROJECTS} projects)`, big.upload.p50, small.upload.p50, 'ratio <= 1.5', big.upload.p50 / small.upload.p50 <= 1.5);
    row(`  scale: upload p99 ms, ${PROJECTS} projects (baseline: ${SMALL_PROJECTS})`, big.upload.p99, small.upload.p99, '(report only)', null);
    row(`scale: page p50 ms (random project), ${PROJECTS} projects (baseline: ${SMALL_PROJECTS})`, big.page.p50, small.page.p50, 'ratio <= 1.5', big.page.p50 / small.page.p50 <= 1.5);
    row(`  scale: page p99 ms, ${PROJECTS} projects (baseline: ${SMALL_PROJECTS})`, big.page.p99, small.page.p99, '(report only)', null);
    row(`scale: local root list of ${PROJECTS} projects: peak RSS MB (baseline: RSS before)`, big.root.peakRss / MB, big.root.rssBefore / MB, 'growth < 50 MB', big.root.peakRss - big.root.rssBefore < 50e6);
    row(`  scale: local root list, ms: ${PROJECTS} projects (baseline: ${SMALL_PROJECTS})`, big.root.ms, small.root.ms, '(report only)', null);
    result.loadAverageAfter = os.loadavg();
  } finally {
    await Promise.all(children.map((c) => stopChild(c.proc)));
    await rm(dir, { recursive: true, force: true });
  }
}
