/**
 * Work done once for every process sharing a metadata store: the process
 * that takes a key's lease does it, the others poll for its result (with
 * back-off) and take over when the lease lapses (its holder crashed). Inside
 * one process the callers' single-flight comes first, so each process has at
 * most one caller here per key. A holder on this machine whose process is
 * gone (kill -9) is taken over at once; one on another machine, when its
 * lease lapses.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { LeaseStore } from './types.ts';

export interface Leases {
  store: LeaseStore;
  /** This process's id: the holder of the leases it takes. */
  owner: string;
  /** A holder renews every third of this; a crashed one's lease lapses after it. */
  ttlMs: number;
}

const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 200;

/**
 * `result()` when someone (this process or another) has done the work
 * already, else `work()` under the lease. `result` is asked before taking the
 * lease, again right after (the holder may have finished in between), and at
 * each poll while another process holds it.
 */
export async function onceAcrossProcesses<T>(
  leases: Leases | null | undefined,
  key: string,
  steps: { result(): T | null | Promise<T | null>; work(): Promise<T> },
): Promise<T> {
  if (!leases) return steps.work();
  const { store, owner, ttlMs } = leases;
  let delay = FIRST_POLL_MS;
  for (;;) {
    const before = await steps.result();
    if (before !== null) return before;
    const held = (await store.tryAcquire(key, owner, ttlMs)) || (await takeOverDead(store, key, owner, ttlMs));
    if (held) {
      const renewal = renewEvery(store, key, owner, ttlMs);
      try {
        const after = await steps.result();
        if (after !== null) return after;
        return await steps.work();
      } finally {
        clearInterval(renewal);
        await quietly(() => store.release(key, owner));
      }
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, MAX_POLL_MS, Math.max(FIRST_POLL_MS, Math.floor(ttlMs / 4)));
  }
}

/**
 * Holds `key` until the returned function is called, renewing it meanwhile (a
 * crash lets it lapse). The stop function resolves once the lease is released.
 */
export async function holdLease({ store, owner, ttlMs }: Leases, key: string): Promise<() => Promise<void>> {
  await store.tryAcquire(key, owner, ttlMs);
  const renewal = renewEvery(store, key, owner, ttlMs);
  return async () => {
    clearInterval(renewal);
    await quietly(() => store.release(key, owner));
  };
}

/**
 * One round of a timed job (the squatting checks, a scheduled scrub) on one
 * process at a time among all that share the database: the one that takes
 * `key` runs `work`, renewing the lease meanwhile; the others return false at
 * once (they skip the round, they do not wait for it). Once the work is done
 * the lease is kept for `roundMs` more: every process's timer ticks at its own
 * moment, and without that a process whose tick came just after the end would
 * run the job again right away. The holder's own next tick takes its lease
 * again, so the job stays where it runs until that process stops; a holder
 * that dies lets the lease lapse (after leaseTtl while it works, after a round
 * once it is done), and the next process whose tick comes takes it over.
 */
export async function jobRound(leases: Leases | null | undefined, key: string, roundMs: number, work: () => Promise<void>): Promise<boolean> {
  if (!leases) {
    await work();
    return true;
  }
  const { store, owner, ttlMs } = leases;
  const held = (await store.tryAcquire(key, owner, ttlMs)) || (await takeOverDead(store, key, owner, ttlMs));
  if (!held) return false;
  const renewal = renewEvery(store, key, owner, ttlMs);
  try {
    await work();
  } finally {
    clearInterval(renewal);
    await quietly(() => store.renew(key, owner, Math.max(roundMs, 1)));
  }
  return true;
}

/**
 * Renews every third of the ttl. A renewal that fails (the database closed
 * at shutdown, or busy beyond busy_timeout) is skipped: the worst outcome is
 * a lease that lapses and work that is done twice, never a crash.
 */
function renewEvery(store: LeaseStore, key: string, owner: string, ttlMs: number): NodeJS.Timeout {
  const timer = setInterval(() => void quietly(() => store.renew(key, owner, ttlMs)), Math.max(10, Math.floor(ttlMs / 3)));
  timer.unref();
  return timer;
}

/**
 * A lease left behind expires by itself: failing to renew or release it is
 * not an error of the work. Never rejects (a timer fires it and forgets it).
 */
async function quietly(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch {
    // see above
  }
}

/** A lease owner id for this process: `<host>/<pid>/<random>`, so that a dead holder on this machine is recognised. */
export function newOwner(): string {
  return `${hostname()}/${process.pid}/${randomUUID()}`;
}

/** Whether the owner of a lease may still be running: on this machine, its process must exist. */
export function ownerAlive(owner: string): boolean {
  const [host, pid] = owner.split('/');
  const n = Number(pid);
  if (host !== hostname() || !Number.isSafeInteger(n) || n <= 0) return true;
  if (n === process.pid) return true;
  try {
    process.kill(n, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, as another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function takeOverDead(store: LeaseStore, key: string, owner: string, ttlMs: number): Promise<boolean> {
  const holder = await store.holder(key);
  return holder !== null && !ownerAlive(holder.owner) && (await store.takeOver(key, holder.owner, owner, ttlMs));
}
