/**
 * The web UI (issue 16): the 2,000-file project's UI page against its index
 * page on the same pydepot, and search over 100,000 project names.
 *  - UI page: time to first byte, p50 of sequential requests once rendered
 *    (target < 50 ms; the first, cold render is reported beside it), and
 *    requests/s under load against the HTML index page (target >= 0.5x).
 *  - Search: `/-/ui/?q=` over a local repository of 100,000 names (rows put in
 *    the storage before the server starts: search reads only names),
 *    with exact names, prefixes, substrings and misses (a miss scans every
 *    name); p99 of the whole request (target < 20 ms).
 */
import { mkdir } from 'node:fs/promises';
import Database from 'better-sqlite3';
import http from 'node:http';
import { join } from 'node:path';
import { openStorage } from '../src/storage/open.ts';
import { startChild, stopChild, type Child } from './children.ts';
import { ACCEPT, check, LOAD, median } from './helpers.ts';
import { measurePage } from './load.ts';
import { PAGE_PROJECT, uploadPageProject } from './page-project.ts';
import { cpuSeconds } from './transfer.ts';
import type { ScenarioContext } from './report.ts';

const NAMES = Number(process.env.BENCH_UI_NAMES ?? 100_000);
const SEARCHES = 2000;
const TTFB_REQUESTS = 200;
const WORDS = ['data', 'py', 'cloud', 'async', 'json', 'http', 'test', 'core', 'utils', 'django', 'flask', 'torch', 'aws', 'sdk', 'client', 'parser', 'tools', 'lib', 'plugin', 'api'];

function nameOf(i: number): string {
  return `${WORDS[i % WORDS.length]}-${WORDS[Math.floor(i / WORDS.length) % WORDS.length]}-${i.toString(36)}`;
}

/**
 * 100,000 one-file projects in a local repository `names`: rows put straight
 * into the embedded SQLite schema in one transaction (through the store, one
 * transaction per file, this takes minutes); search reads only names.
 */
async function seedNames(storage: string): Promise<number> {
  const t0 = performance.now();
  // Creates the schema, then lets go of the database.
  (await openStorage(storage)).store.close();
  const db = new Database(join(storage, 'pydepot.db'));
  try {
    const now = new Date().toISOString();
    const project = db.prepare(`INSERT INTO projects (repo, name, display_name, serial, created_at, updated_at) VALUES ('names', ?, ?, ?, ?, ?) RETURNING id`);
    const file = db.prepare(`INSERT INTO files (project_id, repo, filename, version, kind, size, sha256, md5, blake2b_256, metadata_json, upload_time)
                             VALUES (?, 'names', ?, '1.0', 'sdist', 100, ?, ?, ?, '{}', ?)`);
    db.transaction(() => {
      for (let i = 0; i < NAMES; i++) {
        const name = nameOf(i);
        const sha = i.toString(16).padStart(64, '0');
        const { id } = project.get(name, name, i + 1, now, now) as { id: number };
        file.run(id, `${name.replace(/-/g, '_')}-1.0.tar.gz`, sha, sha.slice(0, 32), sha, now);
      }
      db.prepare(`INSERT INTO repo_state (repo, serial) VALUES ('names', ?)`).run(NAMES);
    })();
  } finally {
    db.close();
  }
  return (performance.now() - t0) / 1000;
}

/** Milliseconds to the response's head (TTFB) and to its last byte. */
function timed(url: string, agent: http.Agent): Promise<{ status: number; ttfb: number; total: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http.get(url, { agent, headers: { Accept: ACCEPT.html } }, (res) => {
      const ttfb = performance.now() - t0;
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ttfb, total: performance.now() - t0, bytes }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

export async function uiScenarios(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'ui');
  const storage = join(dir, 'storage');
  await mkdir(dir, { recursive: true });
  const seedSeconds = await seedNames(storage);
  console.log(`put ${NAMES} project names in the storage in ${seedSeconds.toFixed(1)} s`);
  const project = await ctx.pageProject();
  let pydepot: Child | null = null;
  try {
    pydepot = await startChild('bench/server-child.mjs', [storage, '--repos', JSON.stringify({ names: { type: 'local' } })]);
    const p = pydepot;
    await uploadPageProject(p.url, 'bench', project);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

    // The UI page of the 2,000-file project: cold, then warm.
    const uiUrl = `${p.url}/-/ui/bench/${PAGE_PROJECT}/`;
    const cold = await timed(uiUrl, agent);
    check(cold.status === 200, `the UI page answered ${cold.status}`);
    const ttfbs: number[] = [];
    for (let i = 0; i < TTFB_REQUESTS; i++) ttfbs.push((await timed(uiUrl, agent)).ttfb);
    const ttfb50 = median(ttfbs);
    row(`UI project page (${ctx.pageFiles} files): TTFB p50, ms`, ttfb50, cold.ttfb, 'p50 < 50 ms (baseline: first, cold render)', ttfb50 < 50, false);

    const indexUrl = `${p.url}/bench/simple/${PAGE_PROJECT}/`;
    const indexPage = await timed(indexUrl, agent);
    const uiPage = await timed(uiUrl, agent);
    const index = await measurePage({ url: indexUrl, headers: { Accept: ACCEPT.html }, expectBytes: indexPage.bytes, ...LOAD }, p.pid);
    const ui = await measurePage({ url: uiUrl, headers: { Accept: ACCEPT.html }, expectBytes: uiPage.bytes, ...LOAD }, p.pid);
    check(ui.failed === 0 && index.failed === 0, `UI page load: ${ui.failed} failed (${ui.firstError}), index: ${index.failed} (${index.firstError})`);
    row('UI project page vs its HTML index page, req/s', ui.rps, index.rps, 'ratio >= 0.5', ui.rps / index.rps >= 0.5);
    row('  UI page: server CPU per request, µs', ui.serverUsPerRequest, index.serverUsPerRequest, '(report only)', null);

    // Search over 100,000 names: warm the name list once, then a mix of queries.
    const search = (q: string) => timed(`${p.url}/-/ui/?q=${encodeURIComponent(q)}`, agent);
    const first = await search('warm-up');
    check(first.status === 200, `search answered ${first.status}`);
    const queries = (i: number): string => {
      switch (i % 5) {
        case 0: return nameOf((i * 7919) % NAMES);             // an exact name
        case 1: return WORDS[i % WORDS.length]!;                 // a common prefix
        case 2: return `${WORDS[i % WORDS.length]}-${WORDS[(i >> 3) % WORDS.length]}`.slice(2); // a substring
        case 3: return (i * 31).toString(36);                    // a short fragment
        default: return `zz${i}nothing`;                         // a miss: every name is scanned
      }
    };
    const times: number[] = [];
    // The server's CPU per search, beside the wall time: on a loaded machine
    // the p99 is mostly waiting for a core, which this tells apart.
    const cpu0 = cpuSeconds(p.pid);
    for (let i = 0; i < SEARCHES; i++) {
      const r = await search(queries(i));
      check(r.status === 200, `search '${queries(i)}' answered ${r.status}`);
      times.push(r.total);
    }
    const searchCpuUs = ((cpuSeconds(p.pid) - cpu0) * 1e6) / SEARCHES;
    const p99 = percentile(times, 0.99);
    row(`search over ${NAMES.toLocaleString('en-US')} names: p99 of the request, ms`, p99, percentile(times, 0.5), 'p99 < 20 ms (baseline: p50)', p99 < 20, false);
    row('  search: server CPU per request, µs (baseline: p50 of the request, µs)', searchCpuUs, percentile(times, 0.5) * 1000, '(report only)', null);
    agent.destroy();
    details.ui = {
      names: NAMES, seedSeconds, coldTtfbMs: cold.ttfb, ttfbP50Ms: ttfb50, ttfbP99Ms: percentile(ttfbs, 0.99), uiPageBytes: uiPage.bytes, indexPageBytes: indexPage.bytes,
      ui, index, searchMs: { p50: percentile(times, 0.5), p90: percentile(times, 0.9), p99, max: Math.max(...times), firstWithLoad: first.total }, searchServerCpuUs: searchCpuUs,
    };
    console.log(`UI page: cold ${cold.ttfb.toFixed(1)} ms, TTFB p50 ${ttfb50.toFixed(1)} ms; ${ui.rps.toFixed(0)} req/s against the index page's ${index.rps.toFixed(0)}; `
      + `search: first (loads the names) ${first.total.toFixed(0)} ms, p50 ${percentile(times, 0.5).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, server CPU ${searchCpuUs.toFixed(0)} µs per search`);
  } finally {
    if (pydepot) await stopChild(pydepot.proc);
  }
}
