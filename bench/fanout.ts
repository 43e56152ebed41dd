/**
 * Herd at fan-out speed (issue 14, item 5): N clients asking at the same
 * instant for one uncached file of a remote whose upstream is not paced (a
 * fast mirror on the same network), against the same N clients downloading
 * the same file once it is cached. Both herds run in one pydepot, one after
 * the other, so a cold herd costs what a warm one does only if the clients
 * follow the download at the speed the cached file is served.
 */
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { startPydepot, startUpstream, stopChild, type Child } from './children.ts';
import { ACCEPT, check, fetchPage, MB, median, settle } from './helpers.ts';
import { herd, openSockets, type HerdResult } from './herd.ts';
import { makeBigWheel } from './make-wheel.ts';
import type { ScenarioContext } from './report.ts';
import { cpuSeconds, sampleRss } from './transfer.ts';
import type { UpstreamManifest } from './upstream-child.ts';

const FANOUT_MIB = Number(process.env.BENCH_FANOUT_MB ?? 50);
const CLIENTS = Number(process.env.BENCH_HERD_CLIENTS ?? 50);
const RUNS = Number(process.env.BENCH_FANOUT_RUNS ?? 5);
// An upstream cap far above what 2 cores can serve: the upstream is not the limit.
const FAST_MBPS = 100_000;
const TARGET = 1.2;
/** Clients of each herd whose body is hashed (all are counted): the hashing client is CPU the server does not get. */
const HASHED = 1;

interface FanoutRun {
  cold: HerdResult;
  warm: HerdResult;
  upstreamFileDownloads: number;
  coldPeakRss: number;
  warmPeakRss: number;
  /** pydepot's CPU (user + system) during each herd, s: the sharper signal on a loaded machine. */
  coldCpu: number;
  warmCpu: number;
  loadAverage: number[];
}

export async function fanoutScenarios(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'fanout');
  await mkdir(dir, { recursive: true });
  const wheel = await makeBigWheel(dir, FANOUT_MIB * 1024 * 1024);
  const manifest: UpstreamManifest = {
    projects: {
      [wheel.name]: [{
        filename: wheel.filename, version: wheel.version, sha256: wheel.sha256, size: wheel.size,
        requiresPython: null, uploadTime: null, coreMetadataSha256: null, path: wheel.path,
      }],
    },
  };
  const upstream = await startUpstream(join(dir, 'upstream.json'), manifest, FAST_MBPS);
  const { events } = upstream;
  const expect = { size: wheel.size, sha256: wheel.sha256 };
  const runs: FanoutRun[] = [];
  let pydepot: Child | null = null;
  try {
    for (let i = 1; i <= RUNS; i++) {
      const storage = join(dir, `storage-${i}`);
      pydepot = await startPydepot(storage, { remotes: { up: upstream } });
      const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
      const pageUrl = `${pydepot.url}/up/simple/${wheel.name}/`;
      const pages = await Promise.all(Array.from({ length: CLIENTS }, () => fetchPage(pageUrl, ACCEPT.json, agent)));
      check(pages.every((p) => p.status === 200), 'the remote project page answered 200');
      const files = (JSON.parse(pages[0]!.body.toString('utf8')) as { files: Array<{ filename: string; url: string }> }).files;
      const fileUrl = new URL(files.find((f) => f.filename === wheel.filename)!.url, pageUrl).href;
      settle();
      const since = events.length;
      let rss = sampleRss(pydepot.pid, 20);
      let cpu0 = cpuSeconds(pydepot.pid);
      const cold = await herd(fileUrl, CLIENTS, expect, agent, HASHED);
      const coldCpu = cpuSeconds(pydepot.pid) - cpu0;
      const coldPeakRss = rss.stop();
      const upstreamFileDownloads = events.slice(since).filter((e) => e.event === 'file-start').length;
      settle();
      await openSockets(fileUrl, CLIENTS, agent);
      rss = sampleRss(pydepot.pid, 20);
      cpu0 = cpuSeconds(pydepot.pid);
      const warm = await herd(fileUrl, CLIENTS, expect, agent, HASHED);
      const warmCpu = cpuSeconds(pydepot.pid) - cpu0;
      const warmPeakRss = rss.stop();
      check(events.slice(since).filter((e) => e.event === 'file-start').length === upstreamFileDownloads, 'the warm herd did not go upstream');
      agent.destroy();
      const loadAverage = os.loadavg();
      runs.push({ cold, warm, upstreamFileDownloads, coldPeakRss, warmPeakRss, coldCpu, warmCpu, loadAverage });
      console.log(`fan-out herd #${i}: ${CLIENTS} clients, ${FANOUT_MIB} MiB: cold ${cold.seconds.toFixed(2)} s (first ${cold.firstSeconds.toFixed(2)}), `
        + `warm ${warm.seconds.toFixed(2)} s (first ${warm.firstSeconds.toFixed(2)}), ratio ${(cold.seconds / warm.seconds).toFixed(2)}, `
        + `server CPU cold ${coldCpu.toFixed(2)} s warm ${warmCpu.toFixed(2)} s, upstream GETs ${upstreamFileDownloads}, peak RSS cold ${(coldPeakRss / MB).toFixed(0)} MB warm ${(warmPeakRss / MB).toFixed(0)} MB, `
        + `load average ${loadAverage.map((x) => x.toFixed(2)).join(' ')}`);
      await stopChild(pydepot.proc);
      pydepot = null;
      await rm(storage, { recursive: true, force: true });
    }
    const coldS = median(runs.map((r) => r.cold.seconds));
    const warmS = median(runs.map((r) => r.warm.seconds));
    // The ratio of each run, then their median: both herds of a run share its machine load.
    const ratio = median(runs.map((r) => r.cold.seconds / r.warm.seconds));
    const downloads = Math.max(...runs.map((r) => r.upstreamFileDownloads));
    row(`herd at fan-out speed: ${CLIENTS} clients, ${FANOUT_MIB} MiB, unpaced upstream, s to last byte, cold (baseline: same clients warm; median of ${RUNS}, ratio = median of per-run ratios ${ratio.toFixed(2)})`,
      coldS, warmS, `ratio <= ${TARGET}`, ratio <= TARGET);
    row('  fan-out herd: upstream file downloads (max per herd)', downloads, 1, 'pydepot = 1', downloads === 1, false);
    row('  fan-out herd: server CPU, s, cold (baseline: warm)', median(runs.map((r) => r.coldCpu)), median(runs.map((r) => r.warmCpu)), '(report only)', null);
    row('  fan-out herd: peak server RSS, MB, cold (baseline: warm)', Math.max(...runs.map((r) => r.coldPeakRss)) / MB, Math.max(...runs.map((r) => r.warmPeakRss)) / MB, '(report only)', null);
    details.fanout = { clients: CLIENTS, fileBytes: wheel.size, runs, ratio };
  } finally {
    await Promise.all([upstream, pydepot].map((c) => (c ? stopChild(c.proc) : undefined)));
    await rm(dir, { recursive: true, force: true });
  }
}
