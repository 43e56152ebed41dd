/**
 * Cache operations (issue 16):
 * - scrub throughput: `scrubBlobs` (what `pydepot scrub` runs, no rate cap)
 *   over BENCH_SCRUB_MB of blobs, against `sha256sum` over the same files;
 *   alternating, median of RUNS, page cache warm for both. Target: >= 0.8x.
 * - eviction under load: 50 clients download, over and over, 8 files of a
 *   remote whose maxCacheSize holds about two of them, so files are evicted
 *   while others are being served. Target: 0 failed or wrong downloads.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { scrubBlobs } from '../src/repos/scrub.ts';
import { openStorage } from '../src/storage/open.ts';
import { startPydepot, startUpstream, stopChild } from './children.ts';
import { check, MB, median, settle } from './helpers.ts';
import type { ScenarioContext } from './report.ts';
import type { UpstreamEntry, UpstreamManifest } from './upstream-child.ts';

const SCRUB_MIB = Number(process.env.BENCH_SCRUB_MB ?? 1024);
const BLOB_MIB = 64;
const RUNS = 3;
const EVICT_FILES = 8;
const EVICT_FILE_BYTES = 2_000_000;
const EVICT_CLIENTS = 50;
const EVICT_ROUNDS = 10;
const PROJECT = 'evictme';

export async function cacheopsScenarios(ctx: ScenarioContext): Promise<void> {
  const dir = join(ctx.work, 'cacheops');
  await mkdir(dir, { recursive: true });
  try {
    await scrubScenario(ctx, dir);
    await evictionScenario(ctx, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function scrubScenario({ row, details }: ScenarioContext, dir: string): Promise<void> {
  const root = join(dir, 'scrub');
  const storage = await openStorage(root);
  try {
    for (let i = 0; i < SCRUB_MIB / BLOB_MIB; i++) {
      const w = storage.blobs.createTemp();
      for (let j = 0; j < BLOB_MIB; j++) {
        if (!w.stream.write(randomBytes(1024 * 1024))) await new Promise((r) => w.stream.once('drain', r));
      }
      w.stream.end();
      await storage.blobs.commit(await w.finished());
    }
    settle();
    const bytes = SCRUB_MIB * 1024 * 1024;
    const logger = pino({ level: 'silent' });
    const speeds = { scrub: [] as number[], sha256sum: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await sha256sum(join(root, 'blobs'));
      speeds.sha256sum.push(bytes / MB / ((performance.now() - t0) / 1000));
      const r = await scrubBlobs({ ...storage, logger });
      check(r.checked === SCRUB_MIB / BLOB_MIB && r.corrupt.length === 0, `scrub checked ${r.checked} blobs, ${r.corrupt.length} corrupt`);
      speeds.scrub.push(bytes / MB / (r.ms / 1000));
      console.log(`scrub #${i + 1}: pydepot ${speeds.scrub.at(-1)!.toFixed(0)} MB/s, sha256sum ${speeds.sha256sum.at(-1)!.toFixed(0)} MB/s`);
    }
    const p = median(speeds.scrub);
    const b = median(speeds.sha256sum);
    row(`scrub ${SCRUB_MIB} MiB of blobs, MB/s vs sha256sum (median of ${RUNS})`, p, b, 'ratio >= 0.8', p / b >= 0.8);
    details.scrub = { mib: SCRUB_MIB, mbps: speeds };
  } finally {
    await storage.store.close();
  }
}

function sha256sum(blobs: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'find "$1" -type f -print0 | xargs -0 sha256sum > /dev/null', 'sh', blobs], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sha256sum exited ${code}`))));
  });
}

/** GET → sha256 of the body, or the reason it failed. */
function download(url: string, agent: http.Agent): Promise<{ sha256: string } | { error: string }> {
  return new Promise((resolve) => {
    http.get(url, { agent }, (res) => {
      const hash = createHash('sha256');
      res.on('data', (c: Buffer) => hash.update(c));
      res.on('end', () => resolve(res.statusCode === 200 ? { sha256: hash.digest('hex') } : { error: `HTTP ${res.statusCode}` }));
      res.on('error', (e) => resolve({ error: e.message }));
    }).on('error', (e) => resolve({ error: e.message }));
  });
}

async function evictionScenario({ row, details }: ScenarioContext, dir: string): Promise<void> {
  const entries: UpstreamEntry[] = [];
  for (let i = 0; i < EVICT_FILES; i++) {
    const bytes = randomBytes(EVICT_FILE_BYTES);
    const filename = `${PROJECT}-1.${i}-py3-none-any.whl`;
    const path = join(dir, filename);
    await writeFile(path, bytes);
    entries.push({
      filename, version: `1.${i}`, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length,
      requiresPython: null, uploadTime: null, coreMetadataSha256: null, path,
    });
  }
  const upstream = await startUpstream(join(dir, 'evict-upstream.json'), { projects: { [PROJECT]: entries } } satisfies UpstreamManifest, 50);
  const limit = Math.round(2.5 * EVICT_FILE_BYTES);
  const repos = { small: { type: 'remote', url: `${upstream.url}/simple/`, maxCacheSize: limit, timeout: 30 } };
  const pydepot = await startPydepot(join(dir, 'evict-storage'), { repos });
  const agent = new http.Agent({ keepAlive: true, maxSockets: EVICT_CLIENTS });
  try {
    const page = await download(`${pydepot.url}/small/simple/${PROJECT}/`, agent);
    check('sha256' in page, `the page: ${'error' in page ? page.error : ''}`);
    const t0 = performance.now();
    const errors: string[] = [];
    let ok = 0;
    await Promise.all(Array.from({ length: EVICT_CLIENTS }, async (_, client) => {
      for (let round = 0; round < EVICT_ROUNDS; round++) {
        const e = entries[(client * 3 + round * 5) % entries.length]!;
        const got = await download(`${pydepot.url}/small/files/${e.sha256}/${e.filename}`, agent);
        if ('error' in got) errors.push(`${e.filename}: ${got.error}`);
        else if (got.sha256 !== e.sha256) errors.push(`${e.filename}: wrong bytes`);
        else ok++;
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const metrics = await new Promise<string>((resolve, reject) => {
      http.get(`${pydepot.url}/-/metrics`, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => { text += c.toString(); });
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    const evictions = Number(/^pydepot_cache_evictions_total\{repo="small"\} (\S+)$/m.exec(metrics)?.[1] ?? 0);
    const fileDownloads = upstream.events.filter((e) => e.event === 'file-start').length;
    console.log(`eviction: ${ok} downloads ok, ${errors.length} failed, ${evictions} evictions, ${fileDownloads} upstream downloads, ${seconds.toFixed(1)} s`);
    for (const e of errors.slice(0, 5)) console.log(`  ${e}`);
    row(`${EVICT_CLIENTS} clients x ${EVICT_ROUNDS} downloads while evicting: failed downloads`, errors.length, 0, `0 (${evictions} evictions)`, errors.length === 0 && evictions > 0, false);
    details.eviction = { clients: EVICT_CLIENTS, rounds: EVICT_ROUNDS, ok, errors, evictions, upstreamDownloads: fileDownloads, seconds, maxCacheSize: limit };
  } finally {
    agent.destroy();
    await stopChild(pydepot.proc);
    await stopChild(upstream.proc);
  }
}
