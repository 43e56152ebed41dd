/**
 * A closed-loop load generator: `concurrency` loops, each sending the next
 * request as soon as the previous answer has been read, over keep-alive
 * sockets, for `durationMs`. Only 200s of the expected length count.
 */
import http from 'node:http';
import { cpuSeconds } from './transfer.ts';

export interface LoadOptions {
  url: string;
  /** Spread the loops over these (loop i asks urls[i % n]: replicas behind no balancer); default [url]. */
  urls?: string[];
  headers: Record<string, string>;
  expectBytes: number;
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

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const concurrency = o.concurrency ?? 32;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;

  const urls = o.urls ?? [o.url];
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
        if (res.statusCode === 200 && n === o.expectBytes) {
          ok++;
          resolve();
        } else bad(`status ${res.statusCode}, ${n} bytes (expected 200, ${o.expectBytes})`);
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
