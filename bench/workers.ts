/**
 * `workers: 1` against `workers: auto` (one per core) on the same storage:
 * the 2,000-file JSON project page under the closed-loop load of
 * bench/load.ts, alternating sides, median of RUNS. Server CPU is summed
 * over the primary and its workers. On a 2-core machine the load client
 * takes a core of its own, so this shows what the second worker buys when
 * the client competes with it (report only).
 */
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { startChild, stopChild } from './children.ts';
import { ACCEPT, check, fetchPage, LOAD, median, settle } from './helpers.ts';
import { runLoad } from './load.ts';
import { PAGE_PROJECT, uploadPageProject } from './page-project.ts';
import type { ScenarioContext } from './report.ts';
import { cpuSeconds, processTree } from './transfer.ts';

const RUNS = 3;

const treeCpu = (pids: number[]): number => pids.reduce((sum, p) => {
  try {
    return sum + cpuSeconds(p);
  } catch {
    return sum;
  }
}, 0);

export async function workersScenarios(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  const storage = join(work, 'workers', 'storage');
  await mkdir(storage, { recursive: true });
  const project = await ctx.pageProject();
  const first = await startChild('bench/server-child.mjs', [storage]);
  await uploadPageProject(first.url, 'bench', project);
  await stopChild(first.proc);

  const sides = { one: '1', auto: 'auto' } as const;
  const results: Record<keyof typeof sides, { rps: number[]; usPerRequest: number[] }> = { one: { rps: [], usPerRequest: [] }, auto: { rps: [], usPerRequest: [] } };
  for (let run = 0; run < RUNS; run++) {
    const order = run % 2 === 0 ? (['one', 'auto'] as const) : (['auto', 'one'] as const);
    for (const side of order) {
      const server = await startChild('bench/server-child.mjs', [storage, '--workers', sides[side]]);
      const url = `${server.url}/bench/simple/${PAGE_PROJECT}/`;
      const page = await fetchPage(url, ACCEPT.json);
      check(page.status === 200, `workers ${sides[side]}: page answered ${page.status}`);
      const o = { url, headers: { Accept: ACCEPT.json }, expectBytes: page.body.length, concurrency: LOAD.concurrency };
      await runLoad({ ...o, durationMs: LOAD.warmupMs });
      settle();
      const pids = processTree(server.pid);
      const cpu0 = treeCpu(pids);
      const r = await runLoad({ ...o, durationMs: LOAD.durationMs });
      check(r.failed === 0 && r.ok > 0, `workers ${sides[side]}: ${r.failed} failed (${r.firstError ?? 'none ok'})`);
      results[side].rps.push(r.rps);
      results[side].usPerRequest.push(((treeCpu(pids) - cpu0) * 1e6) / r.ok);
      console.log(`workers ${sides[side].padEnd(4)} JSON page ${r.rps.toFixed(0).padStart(6)} req/s (${pids.length} server processes)`);
      await stopChild(server.proc);
    }
  }
  const one = median(results.one.rps);
  const auto = median(results.auto.rps);
  row(`workers: auto (${availableParallelism()}) vs 1, JSON page req/s`, auto, one, '(report only)', null);
  row('  server CPU per request (all processes), µs', median(results.auto.usPerRequest), median(results.one.usPerRequest), '(report only)', null);
  details.workers = { cores: availableParallelism(), runs: RUNS, results };
}
