/**
 * The three digests an upload is checked and listed by (sha256, md5,
 * blake2b-256), computed beside the disk write rather than one after another
 * on the main thread: one worker thread per algorithm, shared by all uploads
 * and started on the first big one. Bytes are batched into 1 MiB of shared
 * memory, copied once and read by the three workers; the writer waits
 * (backpressure) whenever any worker is more than BACKLOG bytes behind.
 *
 * A file smaller than one batch (most wheels and sdists) never reaches the
 * workers: it is hashed on the main thread at the end, where a round trip
 * would cost more than the hashing.
 */
import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createBLAKE2b } from 'hash-wasm';

export type DigestAlgorithm = 'sha256' | 'md5' | 'blake2b256';
export type Digests = Record<DigestAlgorithm, string>;

export type HashRequest =
  | { job: number; op: 'start' | 'end' | 'cancel' }
  | { job: number; op: 'data'; data: Uint8Array };
export type HashReply =
  | { job: number; op: 'ack'; algorithm: DigestAlgorithm; bytes: number }
  | { job: number; op: 'done'; algorithm: DigestAlgorithm; hex: string }
  | { job: number; op: 'error'; algorithm: DigestAlgorithm; message: string };

const ALGORITHMS: readonly DigestAlgorithm[] = ['sha256', 'md5', 'blake2b256'];
const BATCH = 1024 * 1024;
/** Bytes a worker may lag behind the writer: enough to keep it busy while the next chunks arrive. */
const BACKLOG = 8 * BATCH;

interface Job {
  /** Bytes hashed so far, per algorithm. */
  acked: Record<DigestAlgorithm, number>;
  hex: Partial<Digests>;
  failed: Error | null;
  /** Called on every reply: a waiter re-checks its condition. */
  wake: (() => void) | null;
}

/**
 * The three workers, started on first use and kept; they hold the process
 * open only while some upload is being hashed.
 */
class HashPool {
  private workers: Map<DigestAlgorithm, Worker> | null = null;
  private readonly jobs = new Map<number, Job>();
  private nextJob = 1;

  start(): number {
    const workers = this.workers ?? this.spawn();
    const job = this.nextJob++;
    this.jobs.set(job, { acked: { sha256: 0, md5: 0, blake2b256: 0 }, hex: {}, failed: null, wake: null });
    for (const w of workers.values()) w.postMessage({ job, op: 'start' } satisfies HashRequest);
    this.holdOpen();
    return job;
  }

  job(id: number): Job {
    return this.jobs.get(id)!;
  }

  /** `data` lives in shared memory: posting it copies nothing. */
  send(job: number, m: HashRequest): void {
    for (const w of this.workers?.values() ?? []) w.postMessage(m);
    if (m.op === 'cancel') this.forget(job);
  }

  forget(job: number): void {
    this.jobs.delete(job);
    this.holdOpen();
  }

  private holdOpen(): void {
    for (const w of this.workers?.values() ?? []) {
      if (this.jobs.size > 0) w.ref();
      else w.unref();
    }
  }

  private spawn(): Map<DigestAlgorithm, Worker> {
    const workers = new Map<DigestAlgorithm, Worker>();
    for (const algorithm of ALGORITHMS) {
      const w = startWorker({ algorithm });
      w.on('message', (r: HashReply) => this.reply(r));
      // A worker that dies fails every upload it was hashing; the next upload starts a new pool.
      const lost = (err: Error): void => {
        if (this.workers === workers) this.workers = null;
        for (const other of workers.values()) if (other !== w) void other.terminate();
        for (const job of this.jobs.values()) {
          job.failed ??= err;
          job.wake?.();
        }
      };
      w.on('error', lost);
      w.on('exit', (code) => lost(new Error(`the ${algorithm} digest worker exited (${code})`)));
      // After the listeners: a 'message' listener refs the worker's port again.
      w.unref();
      workers.set(algorithm, w);
    }
    this.workers = workers;
    return workers;
  }

  private reply(r: HashReply): void {
    const job = this.jobs.get(r.job);
    if (!job) return;
    if (r.op === 'ack') job.acked[r.algorithm] += r.bytes;
    else if (r.op === 'done') job.hex[r.algorithm] = r.hex;
    else job.failed ??= new Error(`${r.algorithm} digest failed: ${r.message}`);
    job.wake?.();
  }
}

/**
 * hash-worker.js once built. From the sources (tests, `npm start`), tsx's
 * --import does not reach a worker's entry module on Node 20, so the worker
 * registers tsx itself before importing hash-worker.ts.
 */
function startWorker(workerData: { algorithm: DigestAlgorithm }): Worker {
  const ext = extname(fileURLToPath(import.meta.url));
  const script = new URL(`./hash-worker${ext}`, import.meta.url);
  if (ext !== '.ts') return new Worker(script, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(script.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

const pool = new HashPool();

/** Digests of one stream of bytes: update() as they come, finish() at the end. */
export class Digester {
  // Ordinary memory until the file outgrows one batch: a small upload never allocates shared memory.
  private batch: Buffer = Buffer.allocUnsafe(BATCH);
  private filled = 0;
  private sent = 0;
  private job: number | null = null;

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
    if (this.job === null) return hashHere(this.batch.subarray(0, this.filled));
    if (this.filled > 0) this.flush();
    const id = this.job;
    const job = pool.job(id);
    pool.send(id, { job: id, op: 'end' });
    await this.until(job, () => ALGORITHMS.every((a) => job.hex[a] !== undefined));
    pool.forget(id);
    this.job = null;
    return job.hex as Digests;
  }

  /** The upload was abandoned: the workers drop its state. */
  cancel(): void {
    if (this.job !== null) pool.send(this.job, { job: this.job, op: 'cancel' });
    this.job = null;
  }

  private flush(): void {
    this.job ??= pool.start();
    let data = this.batch.subarray(0, this.filled);
    if (!(data.buffer instanceof SharedArrayBuffer)) data = copyShared(data);
    pool.send(this.job, { job: this.job, op: 'data', data });
    this.sent += this.filled;
    // The workers still read the old batch: the next bytes go to new memory.
    this.batch = newBatch();
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

function copyShared(data: Buffer): Buffer {
  const shared = Buffer.from(new SharedArrayBuffer(data.length));
  data.copy(shared);
  return shared;
}

function newBatch(): Buffer {
  return Buffer.from(new SharedArrayBuffer(BATCH));
}

async function hashHere(data: Buffer): Promise<Digests> {
  const blake2 = await createBLAKE2b(256);
  blake2.update(data);
  return {
    sha256: createHash('sha256').update(data).digest('hex'),
    md5: createHash('md5').update(data).digest('hex'),
    blake2b256: blake2.digest('hex'),
  };
}
