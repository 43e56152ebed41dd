import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBLAKE2b } from 'hash-wasm';
import busboy from 'busboy';

const CH = 64 * 1024, TOTAL = 512 * 1024 * 1024;
const chunk = randomBytes(CH);
const rate = (t0: number, bytes = TOTAL) => `${(bytes / 1e6 / ((performance.now() - t0) / 1000)).toFixed(0)} MB/s`;
for (const alg of ['sha256', 'md5']) {
  const h = createHash(alg); const t0 = performance.now();
  for (let n = 0; n < TOTAL; n += CH) h.update(chunk);
  h.digest(); console.log(alg, rate(t0));
}
{ const h = await createBLAKE2b(256); const t0 = performance.now();
  for (let n = 0; n < TOTAL; n += CH) h.update(chunk); h.digest('hex'); console.log('blake2b-256 hash-wasm', rate(t0)); }
{ // busboy alone
  const boundary = 'x'.repeat(32);
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="a.whl"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const bb = busboy({ headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
  let got = 0;
  const done = new Promise<void>((r) => bb.on('close', () => r()));
  bb.on('file', (_n, s) => { s.on('data', (c: Buffer) => { got += c.length; }); });
  const t0 = performance.now();
  await pipeline(Readable.from((function* () { yield head; for (let n = 0; n < TOTAL; n += CH) yield chunk; yield tail; })()), bb);
  await done; console.log('busboy parse', rate(t0), got === TOTAL);
}
for (const flush of [false, true]) {
  const path = `/tmp/scratch-write-${flush}`;
  const t0 = performance.now();
  await pipeline(Readable.from((function* () { for (let n = 0; n < TOTAL; n += CH) yield chunk; })()), createWriteStream(path, { flush }));
  console.log(`write 512 MiB flush=${flush}`, rate(t0)); rmSync(path);
}
