/**
 * The three digests an upload is checked and listed by (sha256, md5,
 * blake2b-256), computed beside the disk write rather than one after another
 * on the main thread: two worker threads (blake2b in one, sha256 and md5 in
 * the other: about the same CPU each, and one per core of a small machine;
 * each worker is a V8 instance of its own, tens of MB), shared by all uploads
 * and started on the first big one. Bytes are batched into 1 MiB of shared
 * memory, copied once and read by both workers; the writer waits
 * (backpressure) whenever any worker is more than BACKLOG bytes behind.
 * Batches are reused once both have hashed them: shared memory is
 * freed only when every thread has collected its garbage, and the workers'
 * small heaps rarely do, so fresh batches grew the process by the size of
 * each upload (0.9 GB RSS for 1 GiB).
 *
 * A file smaller than one batch (most wheels and sdists) never reaches the
 * workers: it is hashed on the main thread at the end, where a round trip
 * would cost more than the hashing.
 *
 * The workers leave after IDLE_MS without a big upload, and the spare batches
 * with them: kept for good, they held about 20 MB of a server's RSS from its
 * first big upload on. Starting them again costs tens of milliseconds, once
 * per burst of big uploads.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { createBLAKE2b } from 'hash-wasm';
import { BufferPool } from './buffer-pool.ts';

export type DigestAlgorithm = 'sha256' | 'md5' | 'blake2b256';
export type Digests = Record<DigestAlgorithm, string>;

export type HashRequest =
  | { job: number; op: 'start' | 'end' | 'cancel' }
  | { job: number; op: 'data'; data: Uint8Array };
export type HashReply =
  | { job: number; op: 'ack'; group: number; bytes: number }
  | { job: number; op: 'done'; group: number; hex: Partial<Digests> }
  | { job: number; op: 'error'; group: number; message: string };

const ALGORITHMS: readonly DigestAlgorithm[] = ['sha256', 'md5', 'blake2b256'];
/** What each worker computes, about the same CPU each (measured here, MB/s of one core: sha256 1,700 with the CPU's SHA instructions, md5 720, blake2b in wasm 1,000). */
const GROUPS: readonly (readonly DigestAlgorithm[])[] = [['md5'], ['sha256', 'blake2b256']];
const BATCH = 1024 * 1024;
/** Bytes a worker may lag behind the writer: enough to keep it busy while the next chunks arrive. */
const BACKLOG = 4 * BATCH;
/** How long the workers wait for the next big upload before they exit. */
const IDLE_MS = 10_000;

interface Job {
  /** Bytes hashed so far, per algorithm. */
  acked: Record<DigestAlgorithm, number>;
  hex: Partial<Digests>;
  failed: Error | null;
  /** Called on every reply: a waiter re-checks its condition. */
  wake: (() => void) | null;
}

/**
 * The workers, started on first use and kept; they hold the process
 * open only while some upload is being hashed.
 */
class HashPool {
  private workers: Worker[] | null = null;
  private readonly jobs = new Map<number, Job>();
  private nextJob = 1;
  private idle: NodeJS.Timeout | null = null;

  start(): number {
    const workers = this.workers ?? this.spawn();
    const job = this.nextJob++;
    this.jobs.set(job, { acked: { sha256: 0, md5: 0, blake2b256: 0 }, hex: {}, failed: null, wake: null });
    for (const w of workers) w.postMessage({ job, op: 'start' } satisfies HashRequest);
    this.holdOpen();
    return job;
  }

  job(id: number): Job {
    return this.jobs.get(id)!;
  }

  /** `data` lives in shared memory: posting it copies nothing. */
  send(job: number, m: HashRequest): void {
    for (const w of this.workers ?? []) w.postMessage(m);
    if (m.op === 'cancel') this.forget(job);
  }

  forget(job: number): void {
    this.jobs.delete(job);
    this.holdOpen();
  }

  private holdOpen(): void {
    for (const w of this.workers ?? []) {
      if (this.jobs.size > 0) w.ref();
      else w.unref();
    }
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    if (this.jobs.size === 0 && this.workers) {
      this.idle = setTimeout(() => this.retire(), IDLE_MS);
      this.idle.unref();
    }
  }

  /** No upload is being hashed: the workers exit, and the next big upload starts new ones. */
  retire(): void {
    const workers = this.workers;
    this.idle = null;
    if (!workers || this.jobs.size > 0) return;
    this.workers = null;
    spare.clear();
    for (const w of workers) {
      // Leaving is not a loss: the next pool's jobs must not be failed by this one's exit.
      w.removeAllListeners('exit').removeAllListeners('error').on('error', () => undefined);
      void w.terminate();
    }
  }

  /** Whether workers are running (tests). */
  get running(): boolean {
    return this.workers !== null;
  }

  private spawn(): Worker[] {
    const workers: Worker[] = [];
    for (const [group, algorithms] of GROUPS.entries()) {
      const w = startWorker(algorithms, group);
      w.on('message', (r: HashReply) => this.reply(r));
      // A worker that dies fails every upload it was hashing; the next upload starts a new pool.
      const lost = (err: Error): void => {
        if (this.workers === workers) this.workers = null;
        for (const other of workers) if (other !== w) void other.terminate();
        for (const job of this.jobs.values()) {
          job.failed ??= err;
          job.wake?.();
        }
      };
      w.on('error', lost);
      w.on('exit', (code) => lost(new Error(`the ${algorithms.join(' and ')} digest worker exited (${code})`)));
      // After the listeners: a 'message' listener refs the worker's port again.
      w.unref();
      workers.push(w);
    }
    this.workers = workers;
    return workers;
  }

  private reply(r: HashReply): void {
    const job = this.jobs.get(r.job);
    if (!job) return;
    if (r.op === 'ack') for (const a of GROUPS[r.group]!) job.acked[a] += r.bytes;
    else if (r.op === 'done') Object.assign(job.hex, r.hex);
    else job.failed ??= new Error(`${GROUPS[r.group]!.join(' and ')} digest failed: ${r.message}`);
    job.wake?.();
  }
}

/**
 * The worker's code: plain JavaScript in a string, so that the same code runs
 * from the sources (tsx, whose loader a worker would need to load and which
 * cost 25 MB more per worker) and once built, with no file to find. It holds
 * some of the digests (workerData.algorithms) for any number of uploads at
 * once; chunks arrive in shared memory and are acknowledged once hashed, which
 * is what the sender's backpressure waits for. blake2b's hasher is made
 * asynchronously, so each job's steps run in order on its promise.
 */
const WORKER_SOURCE = `
const { createHash } = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
const { algorithms, group, hashWasm } = workerData;
const wasm = import(hashWasm);
const jobs = new Map();
const start = () => Promise.all(algorithms.map(async (a) => [a, a === 'blake2b256' ? await (await wasm).createBLAKE2b(256) : createHash(a)]));
parentPort.on('message', (m) => {
  if (m.op === 'start') return void jobs.set(m.job, start());
  const hashers = jobs.get(m.job);
  if (!hashers) return;
  if (m.op === 'cancel') return void jobs.delete(m.job);
  const next = hashers.then((hs) => {
    if (m.op === 'data') {
      for (const [, h] of hs) h.update(m.data);
      parentPort.postMessage({ job: m.job, op: 'ack', group, bytes: m.data.length });
    } else {
      jobs.delete(m.job);
      const hex = {};
      for (const [a, h] of hs) hex[a] = h.digest('hex');
      parentPort.postMessage({ job: m.job, op: 'done', group, hex });
    }
    return hs;
  }, (err) => {
    jobs.delete(m.job);
    parentPort.postMessage({ job: m.job, op: 'error', group, message: String(err) });
    throw err;
  });
  next.catch(() => undefined);
  if (m.op === 'data') jobs.set(m.job, next);
});
`;

function startWorker(algorithms: readonly DigestAlgorithm[], group: number): Worker {
  return new Worker(WORKER_SOURCE, { eval: true, workerData: { algorithms, group, hashWasm: import.meta.resolve('hash-wasm') } });
}

const pool = new HashPool();

/** Lets the digest workers go now if no upload is being hashed (what IDLE_MS does; server stop and tests). */
export function retireHashWorkers(): void {
  pool.retire();
}

/** Whether the digest workers are running (tests). */
export function hashWorkersRunning(): boolean {
  return pool.running;
}

/** Digests of one stream of bytes: update() as they come, finish() at the end. */
export class Digester {
  // Ordinary memory until the file outgrows one batch: a small upload never allocates shared memory.
  private batch: Buffer = plain.take();
  private filled = 0;
  private sent = 0;
  private job: number | null = null;
  /** Batches the workers may still be reading, oldest first, with where each ends in the stream. */
  private readonly inFlight: { batch: Buffer; end: number }[] = [];

  /** Takes a copy of `chunk` (the caller may reuse it). */
  update(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, BATCH - this.filled);
      chunk.copy(this.batch, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled === BATCH) this.flush();
    }
  }

  /** Resolves once every worker is within BACKLOG bytes of what was sent; rejects if hashing failed. */
  drained(): Promise<void> {
    if (this.job === null) return Promise.resolve();
    const job = pool.job(this.job);
    return this.until(job, () => ALGORITHMS.every((a) => this.sent - job.acked[a] <= BACKLOG));
  }

  async finish(): Promise<Digests> {
    if (this.job === null) {
      const hex = await hashHere(this.batch.subarray(0, this.filled));
      plain.give(this.batch);
      return hex;
    }
    if (this.filled > 0) this.flush();
    const id = this.job;
    const job = pool.job(id);
    pool.send(id, { job: id, op: 'end' });
    await this.until(job, () => ALGORITHMS.every((a) => job.hex[a] !== undefined));
    pool.forget(id);
    this.job = null;
    // Every batch was hashed: all may be reused.
    for (const { batch } of this.inFlight.splice(0)) spare.give(batch);
    spare.give(this.batch);
    this.filled = 0;
    return job.hex as Digests;
  }

  /** The upload was abandoned: the workers drop its state (its batches are left to the collector). */
  cancel(): void {
    if (this.job !== null) pool.send(this.job, { job: this.job, op: 'cancel' });
    this.job = null;
  }

  private flush(): void {
    this.job ??= pool.start();
    let shared = this.batch;
    if (!(shared.buffer instanceof SharedArrayBuffer)) {
      shared = spare.take();
      this.batch.copy(shared, 0, 0, this.filled);
      plain.give(this.batch);
    }
    pool.send(this.job, { job: this.job, op: 'data', data: shared.subarray(0, this.filled) });
    this.sent += this.filled;
    this.inFlight.push({ batch: shared, end: this.sent });
    // The workers still read the old batch: the next bytes go to one they have finished with.
    const job = pool.job(this.job);
    const hashed = Math.min(...ALGORITHMS.map((a) => job.acked[a]));
    while (this.inFlight.length > 0 && this.inFlight[0]!.end <= hashed) spare.give(this.inFlight.shift()!.batch);
    this.batch = spare.take();
    this.filled = 0;
  }

  private until(job: Job, ready: () => boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (job.failed) {
          job.wake = null;
          reject(job.failed);
        } else if (ready()) {
          job.wake = null;
          resolve();
        }
      };
      job.wake = check;
      check();
    });
  }
}

/**
 * The first batches of finished uploads, for the next ones. Each upload
 * starts with one (most fit in it whole); a fresh one each was 1 MiB of
 * garbage per upload, which 2,000 uploads of small wheels left as 30 MB of
 * RSS until a major GC.
 */
const plain = new BufferPool(() => Buffer.allocUnsafe(BATCH), 16);

/** Batches every worker has finished with, for the next upload's bytes. */
const spare = new BufferPool(() => Buffer.from(new SharedArrayBuffer(BATCH)), BACKLOG / BATCH + 2);

async function hashHere(data: Buffer): Promise<Digests> {
  const blake2 = await createBLAKE2b(256);
  blake2.update(data);
  return {
    sha256: createHash('sha256').update(data).digest('hex'),
    md5: createHash('md5').update(data).digest('hex'),
    blake2b256: blake2.digest('hex'),
  };
}
