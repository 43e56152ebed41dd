/**
 * A closed-loop load generator: `concurrency` loops, each sending the next
 * request as soon as the previous answer has been read, over keep-alive
 * sockets, for `durationMs`. Only 200s of the expected length count.
 */
import http from 'node:http';

export interface LoadOptions {
  url: string;
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

  const once = (): Promise<void> => new Promise((resolve) => {
    const bad = (why: string): void => {
      failed++;
      firstError ??= why;
      resolve();
    };
    const req = http.get(o.url, { agent, headers: o.headers }, (res) => {
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
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) await once();
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return { ok, failed, seconds, rps: ok / seconds, firstError };
}
