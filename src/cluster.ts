/**
 * `workers: n` (n > 1): this process is the primary of a node:cluster. It
 * opens the storage once (migrations, the start-up clean-up of tmp/), closes
 * it, then forks n workers that share the listening socket. Each worker is a
 * whole server (server.ts) on the same storage: what they must agree on is
 * in the database (page serials, files, leases), never in process memory.
 * Worker 1 alone runs the timed jobs. A worker that exits is forked again,
 * after a back-off that doubles while it keeps dying young. SIGTERM or
 * SIGINT to the primary stops every worker gracefully, then the primary.
 * The primary also gathers the workers' metrics for /-/metrics (metrics.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config/schema.ts';
import type { Logger } from './log.ts';
import { serveClusterMetrics } from './metrics.ts';
import { openStorage, removeLeftovers } from './storage/open.ts';

/** The environment variable that tells a forked worker its number (1..n). */
const WORKER_ENV = 'PYDEPOT_WORKER';
/** A worker that lived this long is healthy again: its next restart is quick. */
const HEALTHY_AFTER_MS = 10_000;
const FIRST_RESTART_MS = 100;
const MAX_RESTART_MS = 30_000;
/** Beyond the workers' own grace period, how long the primary waits before killing them. */
const STOP_SLACK_MS = 5_000;

/** In a worker of the cluster: its number; otherwise null. */
export function workerNumber(): number | null {
  if (!cluster.isWorker) return null;
  const n = Number(process.env[WORKER_ENV]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

export interface Primary {
  /** Resolves when every worker listens; rejects when a worker dies before any listened. */
  ready: Promise<void>;
  /** Stops the workers (each finishes its requests in flight, up to graceMs) and resolves when all have exited. */
  stop(graceMs?: number): Promise<void>;
}

export async function startPrimary(config: Config, logger: Logger): Promise<Primary> {
  const log = logger.child({ worker: 0 });
  // Once, before any worker opens the database: migrations never race.
  const storage = await openStorage(config.storage, config.blobs, config.database);
  try {
    const { count } = await removeLeftovers(storage, { root: config.storage, sharedDatabase: config.database !== null });
    if (count > 0) log.warn({ count }, 'removed unfinished transfers from tmp/');
  } finally {
    await storage.store.close();
  }

  const workers = new Map<number, Worker>();
  const deaths = new Map<number, number>();
  let stopping = false;
  let listening = 0;
  let everListened = false;
  let markReady!: () => void;
  let failStart!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => { markReady = resolve; failStart = reject; });
  ready.catch(() => undefined);

  const fork = (n: number): void => {
    const born = Date.now();
    const w = cluster.fork({ [WORKER_ENV]: String(n) });
    workers.set(n, w);
    w.once('listening', () => {
      everListened = true;
      if (++listening === config.workers) markReady();
    });
    w.once('exit', (code, signal) => {
      workers.delete(n);
      if (stopping) return;
      if (!everListened) {
        // Not a crash to recover from: the port is taken, the storage unreadable...
        // (the worker logged why). Fail as one server would.
        failStart(new Error(`worker ${n} exited (${signal ?? code}) before any worker listened; see its log above`));
        void stop();
        return;
      }
      const young = Date.now() - born < HEALTHY_AFTER_MS;
      const count = young ? (deaths.get(n) ?? 0) + 1 : 1;
      deaths.set(n, count);
      const delay = Math.min(MAX_RESTART_MS, FIRST_RESTART_MS * 2 ** (count - 1));
      log.error({ exited: n, code, signal, restartInMs: delay }, `worker ${n} exited; starting it again`);
      setTimeout(() => { if (!stopping) fork(n); }, delay);
    });
  };
  // /-/metrics in any worker answers for all of them: the primary gathers them.
  serveClusterMetrics();
  log.info({ workers: config.workers }, `starting ${config.workers} workers`);
  for (let n = 1; n <= config.workers; n++) fork(n);

  let stopped: Promise<void> | null = null;
  const stop = (graceMs = 30_000): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      const exits = [...workers.values()].map((w) => new Promise<void>((resolve) => {
        if (w.isDead()) return resolve();
        w.once('exit', () => resolve());
        w.process.kill('SIGTERM');
      }));
      const killer = setTimeout(() => {
        for (const w of workers.values()) w.process.kill('SIGKILL');
      }, graceMs + STOP_SLACK_MS);
      await Promise.all(exits);
      clearTimeout(killer);
      log.info('pydepot stopped (all workers)');
    })();
    return stopped;
  };
  return { ready, stop };
}
