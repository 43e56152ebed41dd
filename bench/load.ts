/**
 * A closed-loop load generator: `concurrency` loops, each sending the next
 * request as soon as the previous answer has been read, over keep-alive
 * sockets, for `durationMs`. Only 200s of the expected length count.
 */
import { execFile, spawnSync } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import { cpuSeconds } from './transfer.ts';

const execFileAsync = promisify(execFile);

export interface LoadOptions {
  url: string;
  /** Spread the loops over these (loop i asks urls[i % n]: replicas behind no balancer); default [url]. */
  urls?: string[];
  headers: Record<string, string>;
  /** The length of a right answer; by URL where the sides' bytes differ (each replica gzips its own copy). */
  expectBytes: number | Record<string, number>;
  concurrency?: number;
  durationMs?: number;
}

export interface LoadResult {
  ok: number;
  failed: number;
  seconds: number;
  rps: number;
  firstError?: string;
}

/**
 * The load engine: this Node client, or wrk (Debian's `wrk`) with
 * BENCH_LOAD=wrk. On 2 cores the Node client takes about as much CPU per
 * request as the server it loads, so with it a server's req/s says as much
 * about the client as about the server; wrk's C client takes a fraction of
 * that, so its ratios are closer to the servers' own. Every side of a
 * comparison runs under the same engine.
 */
export const LOAD_ENGINE: 'node' | 'wrk' = process.env.BENCH_LOAD === 'wrk' ? 'wrk' : 'node';
if (LOAD_ENGINE === 'wrk' && spawnSync('wrk', ['--version']).error) {
  throw new Error('BENCH_LOAD=wrk needs wrk on the PATH (apt-get install -y wrk)');
}

/** One wrk run on one URL: its 2xx count (wrk counts the others as errors) over its own duration. */
async function wrkLoad(o: LoadOptions, concurrency: number): Promise<LoadResult> {
  const seconds = Math.max(1, Math.round((o.durationMs ?? 5000) / 1000));
  const headers = Object.entries(o.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const { stdout } = await execFileAsync('wrk', ['-t1', `-c${concurrency}`, `-d${seconds}s`, ...headers, o.url]);
  const took = /(\d+) requests in ([\d.]+)(ms|s|m)/.exec(stdout);
  const requests = Number(took?.[1] ?? NaN);
  const elapsed = took ? Number(took[2]) * ({ ms: 0.001, s: 1, m: 60 } as const)[took[3] as 'ms' | 's' | 'm'] : seconds;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const socketErrors = /Socket errors: (.*)/.exec(stdout)?.[1];
  const ok = requests - non2xx;
  return {
    ok,
    failed: non2xx,
    seconds: elapsed,
    rps: ok / elapsed,
    firstError: non2xx > 0 ? `${non2xx} non-2xx answers` : socketErrors ? `socket errors: ${socketErrors}` : undefined,
  };
}

/**
 * Several URLs under wrk (replicas behind no balancer): one wrk per URL at
 * once, the connections shared out, the counts summed. Left on the Node
 * client, the replicas were loaded by another engine than the side they are
 * compared with, at a fraction of its rate, and an unsaturated server's CPU
 * per request is several times a saturated one's.
 */
async function wrkSpread(o: LoadOptions, urls: string[], concurrency: number): Promise<LoadResult> {
  const results = await Promise.all(urls.map((url, i) => {
    const share = Math.floor(concurrency / urls.length) + (i < concurrency % urls.length ? 1 : 0);
    return wrkLoad({ ...o, url }, Math.max(1, share));
  }));
  const ok = results.reduce((n, r) => n + r.ok, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  return { ok, failed, seconds, rps: results.reduce((n, r) => n + r.rps, 0), firstError: results.find((r) => r.firstError)?.firstError };
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if (LOAD_ENGINE === 'wrk') {
    const urls = o.urls ?? [o.url];
    return urls.length === 1 ? wrkLoad(o, o.concurrency ?? 32) : wrkSpread(o, urls, o.concurrency ?? 32);
  }
  const concurrency = o.concurrency ?? 32;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;

  const urls = o.urls ?? [o.url];
  const expected = (url: string): number => (typeof o.expectBytes === 'number' ? o.expectBytes : o.expectBytes[url] ?? NaN);
  const once = (url: string): Promise<void> => new Promise((resolve) => {
    const bad = (why: string): void => {
      failed++;
      firstError ??= why;
      resolve();
    };
    const req = http.get(url, { agent, headers: o.headers }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => { n += c.length; });
      res.on('end', () => {
        if (res.statusCode === 200 && n === expected(url)) {
          ok++;
          resolve();
        } else bad(`status ${res.statusCode}, ${n} bytes (expected 200, ${expected(url)})`);
      });
      res.on('error', (err) => bad(err.message));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err) => bad(err.message));
  });

  const t0 = performance.now();
  const deadline = t0 + (o.durationMs ?? 5000);
  const loop = async (i: number): Promise<void> => {
    while (performance.now() < deadline) await once(urls[i % urls.length]!);
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return { ok, failed, seconds, rps: ok / seconds, firstError };
}

export type PageResult = LoadResult & { serverUsPerRequest: number; clientUsPerRequest: number };

/**
 * A warm-up, then the measured run, with the CPU the server (by pid) and
 * this client spent per request: on 2 cores the load client is often the
 * bottleneck, and server CPU per request is the sharper signal.
 */
export async function measurePage(o: LoadOptions & { warmupMs: number; durationMs: number }, serverPid: number): Promise<PageResult> {
  await runLoad({ ...o, durationMs: o.warmupMs });
  const [server0, client0] = [cpuSeconds(serverPid), process.cpuUsage()];
  const r = await runLoad(o);
  const client = process.cpuUsage(client0);
  return {
    ...r,
    serverUsPerRequest: ((cpuSeconds(serverPid) - server0) * 1e6) / r.ok,
    clientUsPerRequest: (client.user + client.system) / r.ok,
  };
}
