/**
 * pydepot as a child process (`node --import tsx src/main.ts serve`), for the
 * tests that kill it (crash matrix) or preload a fault injector into it (full
 * disk). Every wait ends on an event (the "pydepot listening" log line, the
 * child's 'exit') and is bounded by a deadline that only turns a hang into a
 * failure; nothing sleeps.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import { withBackend } from './test-backend.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Generous: two tsx start-ups at once on a busy 2-core CI machine. */
export const START_DEADLINE_MS = 90_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildServer {
  child: ChildProcess;
  /** Resolves with the URL once the server logs "pydepot listening"; rejects if it exits first. */
  listening: Promise<string>;
  /** Resolves when the process has exited, however. */
  exited: Promise<Exit>;
  /** stdout and stderr so far, for failure messages. */
  output(): string;
  /** SIGTERM and wait for the exit (a clean stop). */
  stop(): Promise<Exit>;
}

export interface LaunchOptions {
  config: string;
  storage: string;
  /** Extra environment (PYDEPOT_CRASH_AT=…). */
  env?: Record<string, string>;
  /** Node flags after `--import tsx`, before src/main.ts (`--import` of a fault injector in TypeScript). */
  nodeArgs?: string[];
  /**
   * Runs the child in a UTS namespace of its own with this host name, so
   * that it looks like a replica on another machine (its leases' owners name
   * that host: another process cannot see it die, its leases must lapse).
   * Needs `unshare` (util-linux); as non-root, with a user namespace too.
   * See `ownHostnames()`.
   */
  hostname?: string;
}

let hostnames: boolean | undefined;

/** Whether `hostname` in LaunchOptions works on this machine (unshare, and the right to use it). */
export function ownHostnames(): boolean {
  hostnames ??= spawnSync('unshare', [...unshareArgs(), 'sh', '-c', 'hostname pydepot-probe && test "$(hostname)" = pydepot-probe'], { stdio: 'ignore' }).status === 0;
  return hostnames;
}

function unshareArgs(): string[] {
  return process.getuid?.() === 0 ? ['--uts'] : ['--user', '--map-root-user', '--uts'];
}

/**
 * Writes a config file for the child (listen and storage are given as
 * flags). With `storage`, on that folder's test back end (PYDEPOT_TEST_BACKEND).
 */
export async function writeConfig(dir: string, config: Record<string, unknown>, storage?: string): Promise<string> {
  const file = join(dir, 'pydepot.yaml');
  await writeFile(file, stringifyYaml(storage === undefined ? config : await withBackend(config, storage)));
  return file;
}

/** Starts `pydepot serve` on a random loopback port; killed (SIGKILL) at teardown if still running. */
export function launch(t: ExecutionContext, opts: LaunchOptions): ChildServer {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  // Loopback only: no proxy from the machine's environment may catch the fake upstream.
  for (const k of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy']) delete env[k];
  if (!opts.env?.PYDEPOT_CRASH_AT) delete env.PYDEPOT_CRASH_AT;
  const node = [process.execPath, '--import', 'tsx', ...(opts.nodeArgs ?? []), 'src/main.ts', 'serve', '--config', opts.config, '--storage', opts.storage, '--listen', '127.0.0.1:0'];
  // unshare and sh exec in place: the child's pid is node's (kill -9 kills pydepot).
  const [cmd, ...args] = opts.hostname === undefined ? node : ['unshare', ...unshareArgs(), 'sh', '-c', 'hostname "$0" && exec "$@"', opts.hostname, ...node];
  const child = spawn(cmd!, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }) as Exit);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const listening = new Promise<string>((resolveUrl, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"pydepot listening"/.exec(out);
      if (m) resolveUrl(m[1]!);
    });
    exited.then((e) => reject(new Error(`pydepot exited (${e.signal ?? e.code}) before listening:\n${out}`)), reject);
  });
  const bounded = deadline(listening, START_DEADLINE_MS, 'pydepot to log "pydepot listening"');
  // A child that is meant to die while starting never listens: not an unhandled rejection.
  bounded.catch(() => undefined);
  return {
    child,
    listening: bounded,
    exited,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return deadline(exited, START_DEADLINE_MS, 'pydepot to stop on SIGTERM');
    },
  };
}

/** Starts the server and waits until it listens. */
export async function startChild(t: ExecutionContext, opts: LaunchOptions): Promise<{ server: ChildServer; url: string }> {
  const server = launch(t, opts);
  return { server, url: await server.listening };
}

/** `promise`, or a rejection naming `what` after `ms`: a bound on a wait that an event ends. */
export function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
