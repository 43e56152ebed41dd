/**
 * upstream/range-read.ts against a loopback server that answers Range
 * requests well, not at all, or wrongly: every answer is held to the range
 * asked for, and "no Range support" is told apart from a failure.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { UpstreamClient, UpstreamRequestError } from '../../src/upstream/client.ts';
import { parseContentRange, RangeNotSupported, upstreamRangeReader } from '../../src/upstream/range-read.ts';

const FILE = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

async function serve(t: ExecutionContext, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; client: UpstreamClient; ranges: string[] }> {
  const ranges: string[] = [];
  const server = createServer((req, res) => {
    ranges.push(String(req.headers.range));
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/f.whl`;
  const client = new UpstreamClient({ url, timeoutSeconds: 5, username: null, password: null });
  t.teardown(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url, client, ranges };
}

/** A correct server: one range, 206 and Content-Range; `lie` bends one thing. */
function ranged(lie: { total?: number; shift?: number; extra?: number } = {}) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const m = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range))!;
    const start = m[1] === '' ? FILE.length - Number(m[2]) : Number(m[1]) + (lie.shift ?? 0);
    const end = m[1] === '' || m[2] === '' ? FILE.length - 1 : Number(m[2]) + (lie.shift ?? 0);
    const body = Buffer.concat([FILE.subarray(Math.max(0, start), end + 1), Buffer.alloc(lie.extra ?? 0)]);
    res.writeHead(206, { 'content-range': `bytes ${Math.max(0, start)}-${end}/${lie.total ?? FILE.length}`, 'content-length': String(body.length) });
    res.end(body);
  };
}

test('a suffix range for the tail, then exact ranges; bytes counted', async (t) => {
  const { url, client, ranges } = await serve(t, ranged());
  let counted = 0;
  const r = upstreamRangeReader(client, url, { expectedSize: FILE.length, onBytes: (n) => { counted += n; } });
  const tail = await r.tail(100);
  t.is(tail.size, FILE.length);
  t.deepEqual(tail.bytes, FILE.subarray(900));
  t.deepEqual(await r.read(10, 20), FILE.subarray(10, 20));
  t.deepEqual(ranges, ['bytes=-100', 'bytes=10-19']);
  t.deepEqual(r.stats, { requests: 2, bytes: 110 });
  t.is(counted, 110);
  // A suffix longer than the file: the whole file, as 206.
  t.deepEqual((await r.tail(5000)).bytes, FILE);
});

test('a 200 (Range ignored), 416 or 501 is "no Range support", not a failure', async (t) => {
  for (const status of [200, 416, 501]) {
    const { url, client } = await serve(t, (_req, res) => {
      res.writeHead(status, { 'content-length': String(FILE.length) });
      res.end(FILE);
    });
    await t.throwsAsync(upstreamRangeReader(client, url, { expectedSize: null }).tail(100), { instanceOf: RangeNotSupported }, String(status));
  }
});

test('a compressed answer to a Range request is not used', async (t) => {
  const { url, client } = await serve(t, (_req, res) => {
    res.writeHead(206, { 'content-range': `bytes 900-999/${FILE.length}`, 'content-encoding': 'gzip', 'content-length': '100' });
    res.end(FILE.subarray(900));
  });
  await t.throwsAsync(upstreamRangeReader(client, url, { expectedSize: null }).tail(100), { instanceOf: RangeNotSupported });
});

test('wrong answers fail: another length than the index declared, another range, more bytes than announced, a 404', async (t) => {
  const total = await serve(t, ranged({ total: 1001 }));
  await t.throwsAsync(upstreamRangeReader(total.client, total.url, { expectedSize: FILE.length }).tail(100), { instanceOf: UpstreamRequestError, message: /the index declared 1000/ });
  const shifted = await serve(t, ranged({ shift: 1 }));
  await t.throwsAsync(upstreamRangeReader(shifted.client, shifted.url, { expectedSize: null }).read(10, 20), { instanceOf: UpstreamRequestError, message: /sent bytes 11-20/ });
  const longer = await serve(t, ranged({ extra: 10 }));
  await t.throwsAsync(upstreamRangeReader(longer.client, longer.url, { expectedSize: null }).read(10, 20), { instanceOf: UpstreamRequestError, message: /more than the 10 bytes/ });
  const missing = await serve(t, (_req, res) => {
    res.writeHead(404);
    res.end();
  });
  await t.throwsAsync(upstreamRangeReader(missing.client, missing.url, { expectedSize: null }).tail(100), { instanceOf: UpstreamRequestError, message: /answered 404/ });
});

test('parseContentRange takes one satisfiable range with a known length', (t) => {
  t.deepEqual(parseContentRange('bytes 0-9/10'), { start: 0, end: 9, total: 10 });
  t.is(parseContentRange('bytes 0-9/*'), null);
  t.is(parseContentRange('bytes 5-4/10'), null);
  t.is(parseContentRange('bytes 0-10/10'), null);
  t.is(parseContentRange(null), null);
});
