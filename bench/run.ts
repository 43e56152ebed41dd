/**
 * `npm run bench`: pydepot against bare node:http baselines on the same data,
 * in the same run. Servers run in child processes (their RSS is measured
 * alone, and the load client does not share their event loop); clients run here.
 *   BENCH_FILE_MB   size of the big wheel's data file in MiB (default 1024)
 *   BENCH_RUNS      big-file transfers per server (default 3; 7 below 512 MiB, where one run is noisy)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import http, { type OutgoingHttpHeaders } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { buildWheel, type BuiltDist } from '../test/helpers/dists.ts';
import type { BaselinePage } from './baseline-server.ts';
import { runLoad, type LoadResult } from './load.ts';
import { makeBigWheel } from './make-wheel.ts';
import { cpuSeconds, download, multipart, sampleRss, upload, type Transfer } from './transfer.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FILE_MB = Number(process.env.BENCH_FILE_MB ?? 1024);
// Big transfers: the median of RUNS, alternating pydepot and baseline.
const RUNS = Number(process.env.BENCH_RUNS ?? (FILE_MB >= 512 ? 3 : 7));
const PAGE_FILES = 2000;
const LOAD = { concurrency: 32, warmupMs: 1000, durationMs: 5000 };
const RSS_LIMIT = 200e6;
const DEADLINE_MS = 20 * 60_000;
const MB = 1e6; // MB = 10^6 bytes throughout

const ACCEPT = {
  json: 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01',
  html: 'text/html',
} as const;

interface Row {
  scenario: string;
  pydepot: number;
  baseline: number;
  ratio: number | null;
  target: string;
  pass: boolean | null;
}

// --- child processes ------------------------------------------------------------

interface Child {
  proc: ChildProcess;
  pid: number;
  url: string;
}

const children = new Set<ChildProcess>();

/** Starts `node --import tsx <script>` and waits for its {"url"} line. */
async function startChild(script: string, args: string[]): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT,
    // stdin stays open: a child whose stdin ends (we died) shuts itself down.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 30 s`)), 30_000);
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code} before listening`)));
    createInterface({ input: proc.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { url: string }).url);
    });
  });
  return { proc, pid: proc.pid!, url };
}

function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

// --- helpers ------------------------------------------------------------------------

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mbps = (t: Transfer): number => t.bytes / MB / t.seconds;

/**
 * Flushes dirty pages before a timed step: otherwise the kernel writes back
 * the previous gigabyte while the next one is measured (and pydepot, which
 * fsyncs its uploads, would pay for the baseline's writes).
 */
function settle(): void {
  spawnSync('sync', { stdio: 'ignore', timeout: 120_000 });
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

function fetchPage(url: string, accept: string): Promise<BaselinePage & { status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { Accept: accept } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers: OutgoingHttpHeaders = { ...res.headers };
        for (const h of ['date', 'connection', 'keep-alive', 'transfer-encoding']) delete headers[h];
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers, body, bodyBase64: body.toString('base64') });
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

// --- scenarios ----------------------------------------------------------------------

async function main(work: string): Promise<void> {
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const row = (scenario: string, pydepot: number, baseline: number, target: string, pass: boolean | null, withRatio = true): void => {
    rows.push({ scenario, pydepot, baseline, ratio: withRatio ? pydepot / baseline : null, target, pass });
  };

  const loadBefore = os.loadavg()[0]!;
  if (loadBefore > 1) console.warn(`warning: load average is ${loadBefore.toFixed(1)} on ${os.cpus().length} cores; other work will skew these numbers`);
  let t0 = performance.now();
  const wheel = await makeBigWheel(work, FILE_MB * 1024 * 1024);
  details.wheel = { filename: wheel.filename, bytes: wheel.size, sha256: wheel.sha256, buildSeconds: (performance.now() - t0) / 1000 };
  console.log(`built ${wheel.filename}: ${(wheel.size / MB).toFixed(0)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const pydepot = await startChild('bench/server-child.ts', [join(work, 'storage')]);
  const baseline = await startChild('bench/baseline-server.ts', ['--file', wheel.path, '--upload-to', join(work, 'baseline-upload.bin')]);

  // 1-3. Upload, then download, the big wheel; RSS sampled during each transfer.
  const fields = {
    ':action': 'file_upload',
    protocol_version: '1',
    name: wheel.name,
    version: wheel.version,
    filetype: 'bdist_wheel',
    pyversion: 'py3',
    metadata_version: '2.1',
    sha256_digest: wheel.sha256,
  };
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

  const dl = { pydepot: median(speed.download.pydepot), baseline: median(speed.download.baseline) };
  const ul = { pydepot: median(speed.upload.pydepot), baseline: median(speed.upload.baseline) };
  row(`download ${FILE_MB} MiB wheel, MB/s (median of ${RUNS})`, dl.pydepot, dl.baseline, 'ratio >= 0.8', dl.pydepot / dl.baseline >= 0.8);
  row(`upload ${FILE_MB} MiB wheel, MB/s (median of ${RUNS})`, ul.pydepot, ul.baseline, '(report only)', null);
  row('peak server RSS while uploading, MB', rss.upload.pydepot / MB, rss.upload.baseline / MB, 'pydepot < 200', rss.upload.pydepot < RSS_LIMIT, false);
  row('peak server RSS while downloading, MB', rss.download.pydepot / MB, rss.download.baseline / MB, 'pydepot < 200', rss.download.pydepot < RSS_LIMIT, false);
  details.transfers = { mbps: speed, serverCpuSecondsPerGB: cpuSecondsPerGB, peakRssBytes: rss };

  // 4. A project page of 2,000 files, uploaded over HTTP as twine would.
  const project = 'benchpage';
  const platforms = ['manylinux_2_17_x86_64', 'manylinux_2_17_aarch64', 'musllinux_1_2_x86_64', 'macosx_11_0_arm64', 'win_amd64'];
  const specs = Array.from({ length: PAGE_FILES }, (_, i) => ({
    name: project,
    version: `1.${Math.floor(i / platforms.length)}.0`,
    pythonTag: 'cp312',
    abiTag: 'cp312',
    platformTag: platforms[i % platforms.length]!,
    requiresPython: '>=3.8',
  }));
  t0 = performance.now();
  const dists: BuiltDist[] = [];
  for (const spec of specs) dists.push(await buildWheel(spec));
  const buildSeconds = (performance.now() - t0) / 1000;
  settle();
  t0 = performance.now();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  await pool(dists.map((d, i) => [d, specs[i]!] as const), 8, async ([dist, spec]) => {
    const form = multipart({ ...fields, name: spec.name, version: spec.version, sha256_digest: dist.sha256 }, dist.filename);
    const t = await upload(`${pydepot.url}/bench/`, form, dist.bytes, agent);
    check(t.status === 200, `upload of ${dist.filename} answered ${t.status}: ${t.body.trim()}`);
  });
  agent.destroy();
  const loadSeconds = (performance.now() - t0) / 1000;
  console.log(`uploaded ${PAGE_FILES} wheels in ${loadSeconds.toFixed(1)} s (${(PAGE_FILES / loadSeconds).toFixed(0)}/s; built in ${buildSeconds.toFixed(1)} s)`);

  const pageUrl = `${pydepot.url}/bench/simple/${project}/`;
  const pages: Record<string, BaselinePage> = {};
  const pageSizes: Record<string, number> = {};
  for (const format of ['json', 'html'] as const) {
    const page = await fetchPage(pageUrl, ACCEPT[format]);
    check(page.status === 200, `${format} page answered ${page.status}`);
    const count = format === 'json'
      ? (JSON.parse(page.body.toString('utf8')) as { files: unknown[] }).files.length
      : page.body.toString('utf8').split('<a ').length - 1;
    check(count === PAGE_FILES, `${format} page lists ${count} files, expected ${PAGE_FILES}`);
    pages[format] = { headers: page.headers, bodyBase64: page.bodyBase64 };
    pageSizes[format] = page.body.length;
  }
  const pagesFile = join(work, 'pages.json');
  await writeFile(pagesFile, JSON.stringify(pages));
  const pageBaseline = await startChild('bench/baseline-server.ts', ['--pages', pagesFile]);

  type PageResult = LoadResult & { serverUsPerRequest: number; clientUsPerRequest: number };
  const load: Record<string, Record<Side, PageResult>> = {};
  for (const format of ['json', 'html'] as const) {
    const results = {} as Record<Side, PageResult>;
    for (const [side, url] of [['pydepot', pageUrl], ['baseline', `${pageBaseline.url}/bench/simple/${project}/`]] as const) {
      settle();
      const opts = { url, headers: { Accept: ACCEPT[format] }, expectBytes: pageSizes[format]!, concurrency: LOAD.concurrency };
      await runLoad({ ...opts, durationMs: LOAD.warmupMs });
      const pid = side === 'pydepot' ? pydepot.pid : pageBaseline.pid;
      const [server0, client0] = [cpuSeconds(pid), process.cpuUsage()];
      const r = await runLoad({ ...opts, durationMs: LOAD.durationMs });
      const client = process.cpuUsage(client0);
      const cpu = { serverUsPerRequest: ((cpuSeconds(pid) - server0) * 1e6) / r.ok, clientUsPerRequest: (client.user + client.system) / r.ok };
      check(r.ok > 0 && r.failed === 0, `${side} ${format} page load: ${r.failed} failed (${r.firstError ?? 'none ok'})`);
      console.log(`${format.padEnd(4)} page ${side.padEnd(8)} ${r.rps.toFixed(0).padStart(6)} req/s (${(pageSizes[format]! / 1024).toFixed(0)} KiB); CPU per request: server ${cpu.serverUsPerRequest.toFixed(0)} µs, client ${cpu.clientUsPerRequest.toFixed(0)} µs`);
      results[side] = { ...r, ...cpu };
    }
    load[format] = results;
    row(`project page (${PAGE_FILES} files) ${format.toUpperCase()}, req/s`, results.pydepot.rps, results.baseline.rps, 'ratio >= 0.5', results.pydepot.rps / results.baseline.rps >= 0.5);
    // The load client is often the bottleneck on 2 cores; server CPU per request is the sharper signal.
    row(`  ${format.toUpperCase()} page: server CPU per request, µs`, results.pydepot.serverUsPerRequest, results.baseline.serverUsPerRequest, '(report only)', null);
  }
  pydepotRss.afterPages = rssNow(pydepot.pid);
  console.log(`pydepot RSS: ${Object.entries(pydepotRss).map(([k, v]) => `${k} ${(v / MB).toFixed(0)} MB`).join(', ')}`);
  details.pydepotRssBytes = pydepotRss;
  details.pages = { files: PAGE_FILES, buildSeconds, uploadSeconds: loadSeconds, bytes: pageSizes, load, loadOptions: LOAD };

  printTable(rows);
  const out = join(ROOT, 'bench', 'results');
  await mkdir(out, { recursive: true });
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    fileMiB: FILE_MB,
    runs: RUNS,
    loadAverage: { before: loadBefore, after: os.loadavg()[0] },
    units: { throughput: 'MB/s (10^6 bytes)', rss: 'MB (10^6 bytes)', pages: 'requests/s' },
    rows,
    details,
  };
  await writeFile(join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${join(out, 'latest.json')}`);
  if (rows.some((r) => r.pass === false)) process.exitCode = 1;
}

function printTable(rows: Row[]): void {
  const cells = rows.map((r) => [
    r.scenario,
    r.pydepot.toFixed(1),
    r.baseline.toFixed(1),
    r.ratio === null ? '-' : r.ratio.toFixed(2),
    r.target,
    r.pass === null ? '-' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const header = ['scenario', 'pydepot', 'baseline', 'ratio', 'target', 'result'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 || i === 4 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ');
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}`);
  for (const c of cells) console.log(line(c));
}

// --- run, bounded in time, cleaning up whatever happens -------------------------------

const work = await mkdtemp(join(os.tmpdir(), 'pydepot-bench-'));
let cleaned: Promise<void> | null = null;
const cleanup = (): Promise<void> => (cleaned ??= (async () => {
  await Promise.all([...children].map(stopChild));
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
