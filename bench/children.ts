/**
 * The benchmark's servers, each in its own child process (so its RSS and CPU
 * are its own and it does not share the load client's event loop). Every
 * child prints {"url": ...} once listening; later stdout lines are events.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { UpstreamEvent, UpstreamManifest } from './upstream-child.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Child {
  proc: ChildProcess;
  pid: number;
  url: string;
  /** The child's stdout after its {"url"} line, one line at a time. */
  lines: Interface;
}

const children = new Set<ChildProcess>();

/** Starts `node --import tsx <script>` and waits (up to `startMs`) for its {"url"} line. */
export async function startChild(script: string, args: string[], startMs = 30_000): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT,
    // stdin stays open: a child whose stdin ends (we died) shuts itself down.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const lines = createInterface({ input: proc.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within ${startMs / 1000} s`)), startMs);
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code} before listening`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { url: string }).url);
    });
  });
  return { proc, pid: proc.pid!, url, lines };
}

export interface UpstreamChild extends Child {
  /** What the upstream reported so far (pages, file starts, ends and ranges), in order. */
  events: UpstreamEvent[];
}

/** Writes `manifest` to `file` and serves it (bench/upstream-child.ts) at `mbps`, collecting its events. */
export async function startUpstream(file: string, manifest: UpstreamManifest, mbps: number): Promise<UpstreamChild> {
  await writeFile(file, JSON.stringify(manifest));
  const child = await startChild('bench/upstream-child.ts', ['--manifest', file, '--mbps', String(mbps)]);
  const events: UpstreamEvent[] = [];
  child.lines.on('line', (line) => events.push(JSON.parse(line) as UpstreamEvent));
  return { ...child, events };
}

/**
 * pydepot (bench/server-child.ts) on `storage`: its local `bench`, a remote
 * per entry of `remotes` (name → the upstream it mirrors) and `repos` (the
 * config file's `repositories` shape) besides.
 */
export function startPydepot(storage: string, opts: { remotes?: Record<string, Child>; repos?: Record<string, unknown> } = {}): Promise<Child> {
  const args = [storage];
  for (const [name, upstream] of Object.entries(opts.remotes ?? {})) args.push('--remote', `${name}=${upstream.url}/simple/`);
  if (opts.repos) args.push('--repos', JSON.stringify(opts.repos));
  return startChild('bench/server-child.ts', args);
}

export function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

export function stopAllChildren(): Promise<void> {
  return Promise.all([...children].map(stopChild)).then(() => undefined);
}
