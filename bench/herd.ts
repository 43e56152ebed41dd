/**
 * Many clients downloading one file at the same instant, each body counted and
 * (optionally) sha256-hashed as it streams, then checked.
 *
 * BENCH_HERD_CLIENT=curl: each client is a `curl` process (its body piped to
 * `sha256sum` when hashed) instead of a request of this Node process. On 2
 * cores one Node process receiving 50 bodies costs about 3.5 CPU-s per GB on
 * one thread, and becomes the limit of a herd's last byte; curl's processes
 * cost less and spread over both cores. Every side of a comparison
 * (the direct download too) uses the same client.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { check } from './helpers.ts';
import { CLK_TCK } from './transfer.ts';

export const HERD_CLIENT: 'node' | 'curl' = process.env.BENCH_HERD_CLIENT === 'curl' ? 'curl' : 'node';

const TIMEOUT_MS = 120_000; // no progress for this long fails the download

export interface Expected {
  size: number;
  sha256: string;
}

interface Body {
  status: number;
  bytes: number;
  sha256: string | null;
  /** performance.now() when the last byte arrived. */
  endAt: number;
}

/** GET that keeps only the byte count and, with `hash`, the sha256 of the body. */
function getBody(url: string, agent: http.Agent, hash: boolean): Promise<Body> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      const h = hash ? createHash('sha256') : null;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        h?.update(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, sha256: h?.digest('hex') ?? null, endAt: performance.now() }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`GET ${url}: response aborted after ${bytes} bytes`)));
    });
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`GET ${url}: no progress for ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}

export interface HerdResult {
  clients: number;
  /** Until the LAST client had all bytes. */
  seconds: number;
  firstSeconds: number;
  medianSeconds: number;
  totalBytes: number;
  /** This process's CPU (user + system) during the herd: receiving and hashing. */
  clientCpuSeconds: number;
}

/**
 * `clients` GETs of `url` started in the same tick over `agent` (give it
 * keep-alive sockets already open, so no client waits for a connect).
 * `hash`: every body's sha256 is checked (true), none (false), or that of the
 * first `hash` clients (the others are counted).
 * Several URLs (replicas): client i asks urls[i % n]. `client`: BENCH_HERD_CLIENT's
 * choice unless the scenario sets its own.
 */
export async function herd(url: string | string[], clients: number, expect: Expected, agent: http.Agent, hash: boolean | number, client: 'node' | 'curl' = HERD_CLIENT): Promise<HerdResult> {
  const hashed = hash === true ? clients : hash === false ? 0 : hash;
  const urls = Array.isArray(url) ? url : [url];
  const cpu0 = process.cpuUsage();
  const children0 = childrenCpuSeconds();
  const t0 = performance.now();
  const get = client === 'curl' ? curlBody : (u: string, h: boolean) => getBody(u, agent, h);
  const bodies = await Promise.all(Array.from({ length: clients }, (_, i) => get(urls[i % urls.length]!, i < hashed)));
  const cpuUsage = process.cpuUsage(cpu0);
  const cpu = { user: cpuUsage.user + (childrenCpuSeconds() - children0) * 1e6, system: cpuUsage.system };
  let totalBytes = 0;
  for (const [i, b] of bodies.entries()) {
    check(b.status === 200 && b.bytes === expect.size, `client ${i + 1}: status ${b.status}, ${b.bytes} of ${expect.size} bytes`);
    check(i >= hashed || b.sha256 === expect.sha256, `client ${i + 1}: body sha256 ${b.sha256}, expected ${expect.sha256}`);
    totalBytes += b.bytes;
  }
  check(totalBytes === clients * expect.size, `${clients} clients got ${totalBytes} bytes in all, expected ${clients * expect.size}`);
  const ends = bodies.map((b) => (b.endAt - t0) / 1000).sort((a, b) => a - b);
  return {
    clients,
    seconds: ends.at(-1)!,
    firstSeconds: ends[0]!,
    medianSeconds: ends[Math.floor(ends.length / 2)]!,
    totalBytes,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

/** CPU seconds of this process's children that have exited (the curl clients). */
function childrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

/** One client as a curl process: status and size from curl, the sha256 from sha256sum (when hashed). */
function curlBody(url: string, hash: boolean): Promise<Body> {
  const script = hash
    ? 'curl -sS --max-time 600 -w "%{stderr}%{http_code} %{size_download}" "$0" | sha256sum'
    : 'curl -sS --max-time 600 -o /dev/null -w "%{stderr}%{http_code} %{size_download}" "$0"';
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-c', script, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    p.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    p.on('error', reject);
    p.on('close', (code) => {
      const endAt = performance.now();
      const m = /(\d{3}) (\d+)\s*$/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`curl ${url}: exit ${code}: ${err.trim().slice(0, 200)}`));
      resolve({ status: Number(m[1]), bytes: Number(m[2]), sha256: hash ? out.split(' ')[0]! : null, endAt });
    });
  });
}

/** Opens `n` keep-alive sockets on `agent` with concurrent HEADs (any status will do). */
export async function openSockets(url: string, n: number, agent: http.Agent): Promise<void> {
  await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve, reject) => {
    http.request(url, { method: 'HEAD', agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject).end();
  })));
}
