/** The benchmark's HTTP clients for big files, and a memory sampler. */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';

export interface Transfer {
  bytes: number;
  seconds: number;
  status: number;
  body: string;
}

const TIMEOUT_MS = 120_000; // no progress for this long fails the transfer

/** GET that discards the body, counting it. */
export function download(url: string): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(url, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => { bytes += chunk.length; });
      res.on('end', () => resolve({ bytes, seconds: (performance.now() - t0) / 1000, status: res.statusCode ?? 0, body: '' }));
      res.on('error', reject);
    });
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`GET ${url}: no progress for ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}

export interface Multipart {
  contentType: string;
  head: Buffer;
  tail: Buffer;
}

/** The legacy upload form as twine lays it out: text fields, then the `content` file part. */
export function multipart(fields: Record<string, string>, filename: string): Multipart {
  const boundary = randomBytes(16).toString('hex');
  let head = '';
  for (const [name, value] of Object.entries(fields)) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="${filename}"\r\n`
    + 'Content-Type: application/octet-stream\r\n\r\n';
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    head: Buffer.from(head),
    tail: Buffer.from(`\r\n--${boundary}--\r\n`),
  };
}

/** POSTs head + file (or buffer) + tail, streamed, with an exact Content-Length. */
export function upload(url: string, form: Multipart, file: { path: string; size: number } | Buffer, agent?: http.Agent): Promise<Transfer> {
  const size = Buffer.isBuffer(file) ? file.length : file.size;
  const body = Readable.from((async function* () {
    yield form.head;
    if (Buffer.isBuffer(file)) yield file;
    else yield* createReadStream(file.path, { highWaterMark: 1024 * 1024 });
    yield form.tail;
  })(), { objectMode: false });
  const length = form.head.length + size + form.tail.length;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url, {
      method: 'POST',
      agent,
      headers: { 'Content-Type': form.contentType, 'Content-Length': length },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({
        bytes: length,
        seconds: (performance.now() - t0) / 1000,
        status: res.statusCode ?? 0,
        body: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`POST ${url}: no progress for ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    body.on('error', (err) => req.destroy(err));
    body.pipe(req);
  });
}

/** Samples a process's VmRSS from /proc every `everyMs`; stop() returns the peak in bytes. */
export function sampleRss(pid: number, everyMs = 50): { stop(): number } {
  let peak = 0;
  const sample = (): void => {
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (kb) peak = Math.max(peak, Number(kb) * 1024);
    } catch { /* process gone */ }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return { stop: () => { clearInterval(timer); sample(); return peak; } };
}

/** The pid and its children (nginx's workers, a cluster's workers). */
export function processTree(pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [pid, ...kids];
  } catch {
    return [pid];
  }
}

/** Like sampleRss, for a process and its children summed (each sample re-reads the children). */
export function sampleTreeRss(pid: number, everyMs = 50): { stop(): number } {
  let peak = 0;
  const sample = (): void => {
    let sum = 0;
    for (const p of processTree(pid)) {
      try {
        const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1];
        if (kb) sum += Number(kb) * 1024;
      } catch { /* process gone */ }
    }
    peak = Math.max(peak, sum);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return { stop: () => { clearInterval(timer); sample(); return peak; } };
}

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU time (user + system, seconds) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
