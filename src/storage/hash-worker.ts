/**
 * One digest algorithm (workerData.algorithm) for any number of uploads at
 * once, off the main thread: see digests.ts. Chunks arrive in shared memory
 * and are acknowledged once hashed, which is what the sender's backpressure
 * waits for.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { createBLAKE2b } from 'hash-wasm';
import type { HashReply, HashRequest } from './digests.ts';

interface Hasher {
  update(data: Uint8Array): unknown;
  digest(encoding: 'hex'): string;
}

const algorithm = (workerData as { algorithm: 'sha256' | 'md5' | 'blake2b256' }).algorithm;
const jobs = new Map<number, Promise<Hasher>>();
const port = parentPort!;

function start(): Promise<Hasher> {
  return algorithm === 'blake2b256' ? createBLAKE2b(256) : Promise.resolve(createHash(algorithm));
}

// blake2b's hasher is made asynchronously: each job's steps run in order on its promise.
port.on('message', (m: HashRequest) => {
  const reply = (r: HashReply): void => port.postMessage(r);
  if (m.op === 'start') {
    jobs.set(m.job, start());
    return;
  }
  const hasher = jobs.get(m.job);
  if (!hasher) return;
  if (m.op === 'cancel') {
    jobs.delete(m.job);
    return;
  }
  const next = hasher.then((h) => {
    if (m.op === 'data') {
      h.update(m.data);
      reply({ job: m.job, op: 'ack', algorithm, bytes: m.data.length });
    } else {
      jobs.delete(m.job);
      reply({ job: m.job, op: 'done', algorithm, hex: h.digest('hex') });
    }
    return h;
  }, (err: unknown) => {
    jobs.delete(m.job);
    reply({ job: m.job, op: 'error', algorithm, message: String(err) });
    throw err;
  });
  next.catch(() => undefined);
  if (m.op === 'data') jobs.set(m.job, next);
});
