/**
 * Peak RSS and MiB/s per server CPU-second while 16 clients download a big
 * wheel, for one or more pydepot checkouts on the same storage, alternately
 * in one run:
 *   node --import tsx bench/ab-download.ts <storage dir> <checkout>... [--rounds N] [--clients N] [--mb N] [--prepare] [--dist]
 * --prepare uploads a BENCH --mb MiB wheel through the first checkout first
 * (its sha256 and filename are kept in <storage>/ab-wheel.json).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { serverChildOf } from './children.ts';
import { median } from './helpers.ts';
import { makeBigWheel } from './make-wheel.ts';
import { uploadFields } from './page-project.ts';
import { cpuSeconds, download, multipart, sampleRss, upload } from './transfer.ts';

const MiB = 1024 * 1024;
const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' }, clients: { type: 'string', default: '16' }, mb: { type: 'string', default: '200' }, prepare: { type: 'boolean', default: false }, dist: { type: 'boolean', default: false } },
});
const [storage, ...roots] = positionals;
if (!storage || roots.length === 0) throw new Error('usage: ab-download.ts <storage> <checkout>...');

async function start(root: string): Promise<{ pid: number; url: string; stop(): void }> {
  // --dist: the checkout's built dist/ under plain node (bench/dist-child.mjs), as deployed.
  const args = a.dist ? [join(root, 'bench/dist-child.mjs'), storage!] : ['--import', 'tsx', serverChildOf(root), storage!];
  const proc = spawn(process.execPath, [...args], { cwd: root, env: { ...process.env, PYDEPOT_BENCH_FROM: 'src' }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! });
  const url = await new Promise<string>((resolve) => lines.once('line', (l) => resolve((JSON.parse(l) as { url: string }).url)));
  return { pid: proc.pid!, url, stop: () => proc.kill('SIGINT') };
}

const servers = [];
for (const root of roots) servers.push({ root, ...(await start(root)) });
const info = join(storage, 'ab-wheel.json');
if (a.prepare) {
  const wheel = await makeBigWheel(storage, Number(a.mb) * MiB);
  const up = await upload(`${servers[0]!.url}/bench/`, multipart(uploadFields(wheel.name, wheel.version, wheel.sha256), wheel.filename), wheel);
  if (up.status !== 200) throw new Error(`upload: ${up.status} ${up.body}`);
  writeFileSync(info, JSON.stringify({ sha256: wheel.sha256, filename: wheel.filename, size: wheel.size }));
}
const wheel = JSON.parse(readFileSync(info, 'utf8')) as { sha256: string; filename: string; size: number };
const n = Number(a.clients);
const res: Record<string, { rss: number[]; perCpu: number[]; mibps: number[] }> = {};
for (let round = 0; round < Number(a.rounds); round++) {
  for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
    const url = `${s.url}/bench/files/${wheel.sha256}/${wheel.filename}`;
    const sampler = sampleRss(s.pid, 20);
    const c0 = cpuSeconds(s.pid);
    const t0 = performance.now();
    const got = await Promise.all(Array.from({ length: n }, () => download(url)));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(s.pid) - c0;
    const rss = sampler.stop();
    for (const g of got) if (g.status !== 200 || g.bytes !== wheel.size) throw new Error(`${s.root}: ${g.status} ${g.bytes}`);
    const mib = (n * wheel.size) / MiB;
    const r = (res[s.root] ??= { rss: [], perCpu: [], mibps: [] });
    r.rss.push(rss / 1e6); r.perCpu.push(mib / cpu); r.mibps.push(mib / seconds);
    console.log(`round ${round} ${s.root.padEnd(16)} peak RSS ${(rss / 1e6).toFixed(0).padStart(4)} MB, ${(mib / seconds).toFixed(0).padStart(5)} MiB/s, ${(mib / cpu).toFixed(0).padStart(5)} MiB per CPU-second (${cpu.toFixed(2)} s CPU)`);
  }
}
for (const [root, r] of Object.entries(res)) console.log(`median ${root}: peak RSS ${median(r.rss).toFixed(0)} MB (max ${Math.max(...r.rss).toFixed(0)}), ${median(r.mibps).toFixed(0)} MiB/s, ${median(r.perCpu).toFixed(0)} MiB per CPU-second`);
for (const s of servers) s.stop();
