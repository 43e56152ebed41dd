/**
 * Files on disk are sent from two buffers that take turns (send-file.ts):
 * bytes must arrive whole and in order whatever the pace of each client,
 * and a client that goes away must leave the server serving the others.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import test from 'ava';
import { buildWheel } from '../helpers/dists.ts';
import { startTestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

function sha256Of(url: string, headers: Record<string, string> = {}, slow = false): Promise<{ status: number; sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const h = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        h.update(c);
        bytes += c.length;
        // A slow reader: the server must wait for it, not buffer the file for it.
        if (slow) {
          res.pause();
          setImmediate(() => res.resume());
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, sha256: h.digest('hex'), bytes }));
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

test('several clients, fast and slow, get every byte of a multi-chunk file, ranges included; one that leaves mid-file does not disturb them', async (t) => {
  const s = await startTestServer(t);
  // About 3 MiB: a dozen reads of 256 KiB, and a last one that is short.
  const wheel = await buildWheel({ name: 'acme-big', version: '1.0', padBytes: 3 * 1024 * 1024 + 12_345 });
  t.is((await upload(`${s.url}/internal/`, wheel, 'acme-big', '1.0')).status, 200);
  const url = `${s.url}/internal/files/${wheel.sha256}/${wheel.filename}`;

  // One client reads the first bytes and hangs up.
  const gone = new Promise<void>((resolve) => {
    const req = request(url, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => resolve());
    req.end();
  });
  const all = await Promise.all(Array.from({ length: 6 }, (_, i) => sha256Of(url, {}, i % 2 === 1)));
  await gone;
  for (const r of all) t.deepEqual(r, { status: 200, sha256: wheel.sha256, bytes: wheel.bytes.length });

  const start = 256 * 1024 - 7;
  const end = wheel.bytes.length - 1000;
  const part = await sha256Of(url, { Range: `bytes=${start}-${end}` });
  t.is(part.status, 206);
  t.is(part.bytes, end - start + 1);
  t.is(part.sha256, createHash('sha256').update(wheel.bytes.subarray(start, end + 1)).digest('hex'));
  const tail = await sha256Of(url, { Range: 'bytes=-10' });
  t.is(tail.sha256, createHash('sha256').update(wheel.bytes.subarray(-10)).digest('hex'));

  // Each finished download is logged once, with its bytes.
  const lines = s.logs.filter((l) => l.msg === 'request' && String(l.path).includes('/files/') && l.status === 200);
  t.is(lines.length, 6);
  for (const l of lines) t.true((l.bytes as number) > wheel.bytes.length);
});
