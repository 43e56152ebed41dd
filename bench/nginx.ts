/**
 * The anchor (issue 14): Debian's nginx serving the same bytes as pydepot,
 * side by side in one run, every figure as a ratio against nginx.
 *  - the 2,000-file project page, pre-rendered: pydepot's own HTML and JSON
 *    answers written to files, with `.gz` variants for gzip_static (pydepot's
 *    gzip bytes), chosen by Accept as pydepot chooses; identity and gzip
 *    (`Accept-Encoding: gzip, deflate`, as pip sends it), req/s;
 *  - a 200 MiB wheel (BENCH_NGINX_MB): pydepot's blob file sent by nginx with
 *    sendfile, against pydepot streaming it, pydepot with `sendfileOffload:
 *    nginx` behind nginx running deploy/nginx.conf, and the bare node:http
 *    baseline (createReadStream); 1 client and 16 concurrent clients, MiB/s;
 *  - peak RSS while 16 clients download (nginx: master and workers summed).
 * The bare node:http baselines of bench/run.ts (pages from memory, the file
 * streamed) run beside them. nginx runs `worker_processes auto`, as deployed.
 * Without nginx the group prints one line and the rest of the bench runs.
 *   BENCH_NGINX_MB      size of the wheel's data file in MiB (default 200)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { deployConfig, NGINX_INSTALL, nginxBinary, nginxVersion, startNginx, type Nginx } from '../test/helpers/nginx.ts';
import type { BaselinePage } from './baseline-server.ts';
import { startChild, stopChild, type Child } from './children.ts';
import { ACCEPT, check, fetchPage, LOAD, median, settle } from './helpers.ts';
import { LOAD_ENGINE, runLoad, type LoadOptions } from './load.ts';
import { makeBigWheel } from './make-wheel.ts';
import { PAGE_PROJECT, uploadFields, uploadPageProject } from './page-project.ts';
import type { ScenarioContext } from './report.ts';
import { cpuSeconds, download, multipart, processTree, sampleTreeRss, upload } from './transfer.ts';

const WHEEL_MB = Number(process.env.BENCH_NGINX_MB ?? 200);
const MiB = 1024 * 1024;
const MANY = 16;
// 1 client moves 200 MiB in a fraction of a second: more runs for a steady median.
const RUNS = { one: 7, many: 3 };

const VARIANTS = [
  { key: 'html', format: 'html', gzip: false },
  { key: 'json', format: 'json', gzip: false },
  { key: 'html-gzip', format: 'html', gzip: true },
  { key: 'json-gzip', format: 'json', gzip: true },
] as const;

/** CPU seconds of a process and its children (nginx's workers). */
function treeCpu(pids: number[]): number {
  return pids.reduce((sum, p) => {
    try {
      return sum + cpuSeconds(p);
    } catch {
      return sum;
    }
  }, 0);
}

/** nginx serving the pages (by Accept, gzip_static) and the wheel's blob file, as a static server would. */
function anchorConfig(www: string, types: Record<'html' | 'json', string>, blobFile: string): (listen: string) => string {
  return (listen) => `
  server {
    listen ${listen};
    root ${www};
    sendfile on;
    tcp_nopush on;
    gzip_static on;
    location = /bench/simple/${PAGE_PROJECT}/ {
      set $format html;
      if ($http_accept ~ "application/vnd\\.pypi\\.simple\\.v1\\+json") { set $format json; }
      rewrite ^ /page.$format last;
    }
    location = /page.html { internal; types { } default_type "${types.html}"; }
    location = /page.json { internal; types { } default_type "${types.json}"; }
    location = /wheel { types { } default_type application/octet-stream; alias ${blobFile}; }
  }`;
}

interface Side {
  name: string;
  pid: number;
}

export async function nginxScenarios(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  if (!nginxBinary()) {
    console.log(`nginx: skipped, nginx is not installed (${NGINX_INSTALL}; README "Benchmarks")`);
    details.nginx = { skipped: 'nginx is not installed' };
    return;
  }
  const dir = join(work, 'nginx');
  const storage = join(dir, 'storage');
  const www = join(dir, 'www');
  await mkdir(www, { recursive: true });
  const started: Array<Child | Nginx> = [];
  try {
    const pydepot = await startChild('bench/server-child.mjs', [storage]);
    started.push(pydepot);
    const project = await ctx.pageProject();
    const uploadSeconds = await uploadPageProject(pydepot.url, 'bench', project);
    console.log(`nginx: uploaded ${ctx.pageFiles} wheels in ${uploadSeconds.toFixed(1)} s`);

    // The pages as pydepot answers them, written where nginx serves them pre-rendered.
    const pageUrl = `${pydepot.url}/bench/simple/${PAGE_PROJECT}/`;
    const pages: Record<string, BaselinePage> = {};
    const bytes: Record<string, number> = {};
    const types = { html: '', json: '' };
    for (const { key, format, gzip } of VARIANTS) {
      const page = await fetchPage(pageUrl, ACCEPT[format], undefined, gzip ? { 'Accept-Encoding': 'gzip, deflate' } : {});
      check(page.status === 200 && gzip === (page.headers['content-encoding'] === 'gzip'), `nginx: pydepot's ${key} page: ${page.status} ${String(page.headers['content-encoding'])}`);
      pages[key] = { headers: page.headers, bodyBase64: page.bodyBase64 };
      bytes[key] = page.body.length;
      if (!gzip) types[format] = String(page.headers['content-type']);
      await writeFile(join(www, `page.${format}${gzip ? '.gz' : ''}`), page.body);
    }
    const pagesFile = join(dir, 'pages.json');
    await writeFile(pagesFile, JSON.stringify(pages));

    // The wheel, uploaded as twine would; nginx sends pydepot's blob file itself.
    const wheel = await makeBigWheel(dir, WHEEL_MB * MiB);
    const up = await upload(`${pydepot.url}/bench/`, multipart(uploadFields(wheel.name, wheel.version, wheel.sha256), wheel.filename), wheel);
    check(up.status === 200, `nginx: wheel upload answered ${up.status}: ${up.body}`);
    const s = wheel.sha256;
    const blobFile = join(storage, 'blobs', 'sha256', s.slice(0, 2), s.slice(2, 4), s);

    const anchor = await startNginx({ http: anchorConfig(www, types, blobFile), workers: 'auto' });
    started.push(anchor);
    // pydepot with sendfileOffload on the same storage, behind nginx running deploy/nginx.conf.
    const offloaded = await startChild('bench/server-child.mjs', [storage, '--offload']);
    started.push(offloaded);
    const front = await startNginx({ http: await deployConfig({ pydepot: new URL(offloaded.url).host, storage }), workers: 'auto' });
    started.push(front);
    const baseline = await startChild('bench/baseline-server.ts', ['--pages', pagesFile]);
    started.push(baseline);
    // nginx runs a worker per core: pydepot with `workers: auto` on the same storage is the like-for-like side.
    const both = await startChild('bench/server-child.mjs', [storage, '--workers', 'auto']);
    started.push(both);
    const fileBaseline = await startChild('bench/baseline-server.ts', ['--file', wheel.path]);
    started.push(fileBaseline);
    console.log(`nginx: ${nginxVersion() ?? 'nginx'}, worker_processes auto (${availableParallelism()})`);

    // --- pages ---
    const pageSides: Array<Side & { url: string }> = [
      { name: 'nginx', pid: anchor.pid, url: `${anchor.url}/bench/simple/${PAGE_PROJECT}/` },
      { name: 'pydepot', pid: pydepot.pid, url: pageUrl },
      { name: 'node', pid: baseline.pid, url: `${baseline.url}/bench/simple/${PAGE_PROJECT}/` },
      { name: 'workers', pid: both.pid, url: `${both.url}/bench/simple/${PAGE_PROJECT}/` },
    ];
    const pageRps: Record<string, Record<string, number>> = {};
    const pageUs: Record<string, Record<string, number>> = {};
    for (const { key, format, gzip } of VARIANTS) {
      pageRps[key] = {};
      pageUs[key] = {};
      for (const side of pageSides) {
        const o: LoadOptions = { url: side.url, headers: { Accept: ACCEPT[format], ...(gzip ? { 'Accept-Encoding': 'gzip, deflate' } : {}) }, expectBytes: bytes[key]!, concurrency: LOAD.concurrency };
        await runLoad({ ...o, durationMs: LOAD.warmupMs });
        settle();
        const pids = processTree(side.pid);
        const cpu0 = treeCpu(pids);
        const r = await runLoad({ ...o, durationMs: LOAD.durationMs });
        check(r.ok > 0 && r.failed === 0, `nginx: ${side.name} ${key} page: ${r.failed} failed (${r.firstError ?? 'none ok'})`);
        pageRps[key]![side.name] = r.rps;
        pageUs[key]![side.name] = ((treeCpu(pids) - cpu0) * 1e6) / r.ok;
        console.log(`nginx: ${key.padEnd(9)} page ${side.name.padEnd(8)} ${r.rps.toFixed(0).padStart(6)} req/s, server CPU ${pageUs[key]![side.name]!.toFixed(0)} µs/request`);
      }
    }

    // --- downloads ---
    const fileSides: Array<Side & { url: string }> = [
      { name: 'nginx', pid: anchor.pid, url: `${anchor.url}/wheel` },
      { name: 'pydepot', pid: pydepot.pid, url: `${pydepot.url}/bench/files/${s}/${wheel.filename}` },
      // The pydepot that authorises is the one measured for RSS; nginx sends the bytes.
      { name: 'offload', pid: offloaded.pid, url: `${front.url}/bench/files/${s}/${wheel.filename}` },
      { name: 'node', pid: fileBaseline.pid, url: `${fileBaseline.url}/file` },
    ];
    const speeds: Record<'one' | 'many', Record<string, number[]>> = { one: {}, many: {} };
    const rss: Record<string, number> = {};
    const frontRss = { peak: 0 };
    const rssBefore: Record<string, number> = {};
    for (const clients of ['one', 'many'] as const) {
      const n = clients === 'one' ? 1 : MANY;
      for (let run = 0; run < RUNS[clients]; run++) {
        // Alternate the order, so that no side always follows the same one.
        const order = run % 2 === 0 ? fileSides : [...fileSides].reverse();
        for (const side of order) {
          settle();
          // What the server holds before the clients come (the page loads above grew its heap).
          if (clients === 'many') rssBefore[side.name] = Math.min(rssBefore[side.name] ?? Infinity, sampleTreeRss(side.pid).stop());
          const sampler = sampleTreeRss(side.pid);
          const frontSampler = side.name === 'offload' ? sampleTreeRss(front.pid) : null;
          const t0 = performance.now();
          const got = await Promise.all(Array.from({ length: n }, () => download(side.url)));
          const seconds = (performance.now() - t0) / 1000;
          if (clients === 'many') {
            rss[side.name] = Math.max(rss[side.name] ?? 0, sampler.stop());
            if (frontSampler) frontRss.peak = Math.max(frontRss.peak, frontSampler.stop());
          } else {
            sampler.stop();
            frontSampler?.stop();
          }
          for (const g of got) check(g.status === 200 && g.bytes === wheel.size, `nginx: ${side.name} download: ${g.status}, ${g.bytes} of ${wheel.size} bytes`);
          const mibps = (n * wheel.size) / MiB / seconds;
          (speeds[clients][side.name] ??= []).push(mibps);
          console.log(`nginx: download ${String(n).padStart(2)} client(s) ${side.name.padEnd(8)} ${mibps.toFixed(0).padStart(5)} MiB/s`);
        }
      }
    }

    // --- rows: each figure against nginx ---
    const label = (key: string): string => `${key.startsWith('json') ? 'JSON' : 'HTML'}${key.endsWith('gzip') ? ' gzip' : ''}`;
    for (const { key, gzip } of VARIANTS) {
      const r = pageRps[key]!;
      const target = gzip ? 0.8 : 0.9;
      row(`vs nginx: ${ctx.pageFiles}-file page ${label(key)}, req/s`, r.pydepot!, r.nginx!, `ratio >= ${target} (issue 14)`, r.pydepot! / r.nginx! >= target);
      row(`  pydepot, workers: auto (${availableParallelism()} processes, as nginx)`, r.workers!, r.nginx!, '(report only)', null);
      row(`  bare node:http, same ${label(key)} bytes from memory`, r.node!, r.nginx!, '(report only)', null);
      row(`  server CPU per request, µs (pydepot | nginx)`, pageUs[key]!.pydepot!, pageUs[key]!.nginx!, '(report only)', null);
      row(`  server CPU per request, µs (bare node:http | nginx)`, pageUs[key]!.node!, pageUs[key]!.nginx!, '(report only)', null);
    }
    const dl = (clients: 'one' | 'many', side: string): number => median(speeds[clients][side]!);
    for (const clients of ['one', 'many'] as const) {
      const n = clients === 'one' ? 1 : MANY;
      const what = `${WHEEL_MB} MiB wheel, ${n} client${n > 1 ? 's' : ''}, MiB/s`;
      row(`vs nginx: download ${what}`, dl(clients, 'pydepot'), dl(clients, 'nginx'), clients === 'many' ? 'ratio >= 0.8 (issue 14)' : '(report only)', clients === 'many' ? dl(clients, 'pydepot') / dl(clients, 'nginx') >= 0.8 : null);
      row(`  sendfileOffload: nginx, ${what}`, dl(clients, 'offload'), dl(clients, 'nginx'), clients === 'many' ? 'ratio >= 0.95 (issue 14)' : '(report only)', clients === 'many' ? dl(clients, 'offload') / dl(clients, 'nginx') >= 0.95 : null);
      row(`  bare node:http createReadStream, ${what}`, dl(clients, 'node'), dl(clients, 'nginx'), '(report only)', null);
    }
    row(`vs nginx: peak RSS while ${MANY} clients download, MB`, rss.pydepot! / 1e6, rss.nginx! / 1e6, 'pydepot < 120 (issue 14)', rss.pydepot! < 120e6, false);
    row('  RSS just before those downloads, MB', rssBefore.pydepot! / 1e6, rssBefore.nginx! / 1e6, '(report only)', null, false);
    row('  sendfileOffload: pydepot | its nginx front, MB', rss.offload! / 1e6, frontRss.peak / 1e6, '(report only)', null, false);
    details.nginx = {
      version: nginxVersion(), workers: availableParallelism(), wheelBytes: wheel.size, pageBytes: bytes,
      pages: { rps: pageRps, serverUsPerRequest: pageUs, load: LOAD, engine: LOAD_ENGINE },
      downloads: { mibps: speeds, runs: RUNS, clients: MANY },
      peakRssBytes: { ...rss, offloadFront: frontRss.peak },
      rssBeforeManyBytes: rssBefore,
    };
  } finally {
    for (const s of started.reverse()) await ('proc' in s ? stopChild(s.proc) : s.stop());
  }
}
