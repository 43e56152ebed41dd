/**
 * The one queue every password hash waits in. scrypt runs on libuv's thread
 * pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), the same
 * threads that open, read and write files: a burst of logins hashed at once
 * would queue every download behind them. So at most 2 hashes run at a
 * time, never more than half the pool, and on a machine with fewer than 3
 * cores only 1, so a core stays free for the event loop.
 *
 * A small FIFO semaphore written here rather than p-limit: that would be a
 * new dependency for these few lines.
 */
import { availableParallelism } from 'node:os';

const POOL_SIZE = Number(process.env.UV_THREADPOOL_SIZE) || 4;
export const HASH_CONCURRENCY = Math.max(1, Math.min(2, Math.floor(POOL_SIZE / 2), availableParallelism() - 1));

/** Runs at most `concurrency` tasks at a time, the others in the order they came. */
export function createLimiter(concurrency: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next task, so none can jump the queue.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

export const hashQueue = createLimiter(HASH_CONCURRENCY);
