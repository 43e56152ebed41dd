/**
 * The benchmark's servers, each in its own child process (so its RSS and CPU
 * are its own and it does not share the load client's event loop). Every
 * child prints {"url": ...} once listening; later stdout lines are events.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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

/** pydepot's server child (bench/server-child.mjs). */
export const SERVER_CHILD = 'bench/server-child.mjs';

/**
 * How the pydepot server children run: the built `dist/` under plain node,
 * as the Docker image runs it (`node dist/main.js`), unless BENCH_TSX=1: src/
 * under `node --import tsx`, whose loader (a thread of its own) weighs on the
 * RSS and CPU measured (an idle server: about 82 MB built, 127 MB under tsx).
 * The other children (upstreams, baselines, s3rver) always run under tsx.
 */
export const SERVER_RUNTIME: 'dist' | 'tsx' = process.env.BENCH_TSX === '1' ? 'tsx' : 'dist';

/** A checkout's server child, for running its src/ under tsx (older checkouts have bench/server-child.ts). */
export function serverChildOf(root: string): string {
  const mjs = join(root, SERVER_CHILD);
  return existsSync(mjs) ? mjs : join(root, 'bench/server-child.ts');
}

/** Newest modification time of a file under `dir` (ms). */
function newest(dir: string): number {
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    max = Math.max(max, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return max;
}

/**
 * With the servers from `dist/`: builds it (`npm run build`) when it is
 * missing or older than src/, once, before any server starts. Returns what
 * the report's header says of the servers.
 */
export function prepareServerRuntime(): string {
  if (SERVER_RUNTIME === 'tsx') return 'pydepot from src/ under tsx (BENCH_TSX=1)';
  const main = join(ROOT, 'dist', 'main.js');
  const built = existsSync(main) ? statSync(main).mtimeMs : 0;
  const sources = Math.max(newest(join(ROOT, 'src')), ...['tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(join(ROOT, f)).mtimeMs));
  if (built < sources) {
    console.log(built === 0 ? 'dist/ is missing: npm run build' : 'src/ is newer than dist/: npm run build');
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`npm run build failed (${r.status ?? r.signal}); BENCH_TSX=1 runs the servers from src/ instead`);
  }
  return 'pydepot from the built dist/ under plain node, as deployed (BENCH_TSX=1: from src/ under tsx)';
}

/** Node flags for pydepot's server children (BENCH_NODE_FLAGS, split on spaces: e.g. a V8 heap setting to compare). */
const SERVER_NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');

/** Starts `node --import tsx <script>` (pydepot's server child: see SERVER_RUNTIME) and waits (up to `startMs`) for its {"url"} line. */
export async function startChild(script: string, args: string[], startMs = 30_000): Promise<Child> {
  const built = script === SERVER_CHILD && SERVER_RUNTIME === 'dist';
  const flags = script === SERVER_CHILD ? SERVER_NODE_FLAGS : [];
  const proc = spawn(process.execPath, [...flags, ...(built ? [] : ['--import', 'tsx']), join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, PYDEPOT_BENCH_FROM: built ? 'dist' : 'src' },
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
 * pydepot (bench/server-child.mjs) on `storage`: its local `bench`, a remote
 * per entry of `remotes` (name → the upstream it mirrors) and `repos` (the
 * config file's `repositories` shape) besides.
 */
export function startPydepot(storage: string, opts: { remotes?: Record<string, Child>; repos?: Record<string, unknown> } = {}): Promise<Child> {
  const args = [storage];
  for (const [name, upstream] of Object.entries(opts.remotes ?? {})) args.push('--remote', `${name}=${upstream.url}/simple/`);
  if (opts.repos) args.push('--repos', JSON.stringify(opts.repos));
  return startChild(SERVER_CHILD, args);
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
