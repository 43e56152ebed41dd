/**
 * Server CPU per request for the 2,000-file project's gzip JSON page (what pip
 * asks for), for one or more pydepot checkouts on the same storage, measured
 * alternately in one run so that machine load affects each alike:
 *   node --import tsx bench/ab-page.ts <storage dir> <checkout>... [--rounds N] [--ms N] [--prepare] [--dist] [--baseline]
 * --prepare uploads the page project (bench/page-project.ts) through the first
 * checkout first. CPU is the server process's user+system time (/proc), which
 * a loaded machine slows but does not inflate the way it does req/s.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { serverChildOf } from './children.ts';
import { ACCEPT, fetchPage, median } from './helpers.ts';
import { runLoad } from './load.ts';
import { buildPageProject, PAGE_PROJECT, uploadPageProject } from './page-project.ts';
import { cpuSeconds } from './transfer.ts';

const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '5' }, ms: { type: 'string', default: '3000' }, prepare: { type: 'boolean', default: false }, dist: { type: 'boolean', default: false }, files: { type: 'string', default: '2000' }, identity: { type: 'boolean', default: false }, baseline: { type: 'boolean', default: false } },
});
const [storage, ...roots] = positionals;
if (!storage || roots.length === 0) throw new Error('usage: ab-page.ts <storage> <checkout>...');

async function start(root: string): Promise<{ pid: number; url: string; stop(): void }> {
  // --dist: the checkout's built dist/ under plain node (bench/dist-child.mjs), as deployed.
  const args = a.dist ? [join(root, 'bench/dist-child.mjs'), storage!] : ['--import', 'tsx', serverChildOf(root), storage!];
  const proc = spawn(process.execPath, [...(process.env.AB_NODE_ARGS ?? '').split(' ').filter(Boolean), ...args], { cwd: root, env: { ...process.env, PYDEPOT_BENCH_FROM: 'src' }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! });
  const url = await new Promise<string>((resolve) => lines.once('line', (l) => resolve((JSON.parse(l) as { url: string }).url)));
  return { pid: proc.pid!, url, stop: () => proc.kill('SIGINT') };
}

const servers: Array<{ root: string; pid: number; url: string; stop(): void }> = [];
for (const root of roots) servers.push({ root, ...(await start(root)) });

/** --baseline: the bare node:http server (bench/baseline-server.ts) sending the first checkout's page bytes from memory. */
async function baseline(): Promise<{ root: string; pid: number; url: string; stop(): void }> {
  const pageUrl = `${servers[0]!.url}/bench/simple/${PAGE_PROJECT}/`;
  const pages: Record<string, unknown> = {};
  for (const gzip of [false, true]) {
    const p = await fetchPage(pageUrl, ACCEPT.json, undefined, gzip ? { 'Accept-Encoding': 'gzip, deflate' } : {});
    pages[gzip ? 'json-gzip' : 'json'] = { headers: p.headers, bodyBase64: p.bodyBase64 };
  }
  const file = join(storage!, 'ab-pages.json');
  writeFileSync(file, JSON.stringify(pages));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/baseline-server.ts', '--pages', file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! });
  const url = await new Promise<string>((resolve) => lines.once('line', (l) => resolve((JSON.parse(l) as { url: string }).url)));
  return { root: 'node:http (bare)', pid: proc.pid!, url: url.replace(/\/$/, ''), stop: () => proc.kill('SIGTERM') };
}
if (a.baseline) servers.push(await baseline());
if (a.prepare) {
  const project = await buildPageProject(Number(a.files));
  console.log(`uploaded in ${(await uploadPageProject(servers[0]!.url, 'bench', project)).toFixed(1)} s`);
}
const headers: Record<string, string> = { Accept: ACCEPT.json, ...(a.identity ? {} : { 'Accept-Encoding': 'gzip, deflate' }) };
const results: Record<string, number[]> = {};
for (const s of servers) {
  const url = `${s.url}/bench/simple/${PAGE_PROJECT}/`;
  const page = await fetchPage(url, ACCEPT.json, undefined, a.identity ? {} : { 'Accept-Encoding': 'gzip, deflate' });
  Object.assign(s, { url, bytes: page.body.length });
  await runLoad({ url, headers, expectBytes: page.body.length, concurrency: 32, durationMs: 1500 });
}
for (let round = 0; round < Number(a.rounds); round++) {
  for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
    const { url, bytes } = s as typeof s & { bytes: number };
    const c0 = cpuSeconds(s.pid);
    const r = await runLoad({ url, headers, expectBytes: bytes, concurrency: 32, durationMs: Number(a.ms) });
    const us = ((cpuSeconds(s.pid) - c0) * 1e6) / r.ok;
    (results[s.root] ??= []).push(us);
    console.log(`round ${round} ${s.root.padEnd(16)} ${r.rps.toFixed(0).padStart(6)} req/s ${us.toFixed(0).padStart(5)} µs CPU/request (${r.failed} failed)`);
  }
}
for (const [root, xs] of Object.entries(results)) console.log(`median ${root}: ${median(xs).toFixed(0)} µs CPU/request (${xs.map((x) => x.toFixed(0)).join(', ')})`);
for (const s of servers) s.stop();
