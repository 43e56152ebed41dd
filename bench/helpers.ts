/** Small helpers shared by the benchmark's scenarios. */
import { spawnSync } from 'node:child_process';
import http, { type OutgoingHttpHeaders } from 'node:http';
import { cleanEnv } from '../test/helpers/clients.ts';
import type { BaselinePage } from './baseline-server.ts';
import type { Transfer } from './transfer.ts';

export const MB = 1e6; // MB = 10^6 bytes throughout

/** Page load: closed-loop clients, a warm-up, then the measured run. */
export const LOAD = { concurrency: 32, warmupMs: 1000, durationMs: 5000 };

export const ACCEPT = {
  json: 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01',
  html: 'text/html',
} as const;

/**
 * The machine's python3 with pip, by its real path (a pyenv shim's bash is no
 * part of pip's time), and pip's version; `missing` says why not.
 */
export function pythonWithPip(): { python: string; pipVersion: string } | { missing: string } {
  const probe = spawnSync('python3', ['-c', 'import sys, pip; print(sys.executable); print(pip.__version__)'], { env: cleanEnv(), encoding: 'utf8' });
  if (probe.status !== 0) return { missing: `python3 with pip: ${probe.error?.message ?? probe.stderr}` };
  const [python, pipVersion] = probe.stdout.trim().split('\n') as [string, string];
  return { python, pipVersion };
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const mbps = (t: Transfer): number => t.bytes / MB / t.seconds;

/**
 * Flushes dirty pages before a timed step: otherwise the kernel writes back
 * the previous gigabyte while the next one is measured (and pydepot, which
 * fsyncs its uploads, would pay for the baseline's writes).
 */
export function settle(): void {
  spawnSync('sync', { stdio: 'ignore', timeout: 120_000 });
}

export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

export function fetchPage(url: string, accept: string, agent?: http.Agent, extra: Record<string, string> = {}): Promise<BaselinePage & { status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent, headers: { Accept: accept, ...extra } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers: OutgoingHttpHeaders = { ...res.headers };
        for (const h of ['date', 'connection', 'keep-alive', 'transfer-encoding']) delete headers[h];
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers, body, bodyBase64: body.toString('base64') });
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

/**
 * A project page fetched while warming up, checked before it is measured: it
 * answers 200 and lists `expectFiles` files (the JSON page's `files`, the
 * HTML page's anchors). Returns the page, and the JSON page's file entries.
 */
export async function fetchListedPage<F>(url: string, format: keyof typeof ACCEPT, label: string, expectFiles: number): Promise<{ page: Awaited<ReturnType<typeof fetchPage>>; files: F[] | null }> {
  const page = await fetchPage(url, ACCEPT[format]);
  check(page.status === 200, `${label} ${format} page answered ${page.status}: ${page.body.toString('utf8').slice(0, 200)}`);
  const text = page.body.toString('utf8');
  const files = format === 'json' ? (JSON.parse(text) as { files: F[] }).files : null;
  const count = files ? files.length : text.split('<a ').length - 1;
  check(count === expectFiles, `${label} ${format} page lists ${count} files, expected ${expectFiles}`);
  return { page, files };
}
