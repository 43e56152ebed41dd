/**
 * Hostile clients: slowloris on request heads and on upload bodies, and a
 * flood of random project names through a remote repository. In each, the
 * server keeps serving everyone else: an ordinary install round (page,
 * metadata, file, hashes checked) is timed alone and again under attack in
 * the same test, and compared as a ratio (with a small floor for timer noise
 * on a busy machine). The tests run serially: one's attack would skew
 * another's yardstick.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { percentile, probe, probeWhile } from '../helpers/pip-like.ts';
import { CI, startTestServer, type TestServer } from '../helpers/server.ts';
import { eventually, storageCounts } from '../helpers/storage.ts';
import { twineFields, upload } from '../helpers/upload.ts';

// Under attack, the median install round may take this many times as long as alone, plus FLOOR_MS.
const RATIO = 4;
const FLOOR_MS = 25;
// A flood of 20 connections shares 2 cores with 4 installing clients: a slower but bounded yardstick.
const FLOOD_RATIO = 10;
const ROUNDS = 40;
const CONCURRENCY = 4;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function put(s: TestServer, repo: string, dist: BuiltDist, name: string, version: string): Promise<void> {
  const res = await upload(`${s.url}/${repo}/`, dist, name, version);
  if (res.status !== 200) throw new Error(`upload of ${dist.filename}: ${res.status} ${await res.text()}`);
}

/** A server with one hosted project whose install round is the yardstick. */
async function serverWith(t: ExecutionContext, extra: Record<string, unknown> = {}): Promise<{ s: TestServer; pageUrl: string }> {
  const { repositories, ...rest } = extra as { repositories?: Record<string, unknown> };
  const s = await startTestServer(t, { repositories: { internal: { type: 'local', upload: [CI.user] }, ...repositories }, defaultRepository: 'internal', ...rest });
  await put(s, 'internal', await buildWheel({ name: 'acme-utils', version: '1.0.0', padBytes: 64 * 1024 }), 'acme-utils', '1.0.0');
  const pageUrl = `${s.url}/internal/simple/acme-utils/`;
  await probe(pageUrl, 5, 1); // warm: code paths compiled, page rendered once
  return { s, pageUrl };
}

/**
 * Medians alone and under attack: the attack must not make ordinary installs much slower.
 * `alone` may be several runs (before and after the attack): the slowest median is the
 * yardstick, so other work on the machine during the attack is not blamed on it.
 */
function assertPrompt(t: ExecutionContext, alone: number[] | number[][], during: number[], what: string, labels = ['alone', 'under attack']): void {
  const runs = (Array.isArray(alone[0]) ? alone : [alone]) as number[][];
  const yardstick = runs.reduce((x, y) => (percentile(y, 50) > percentile(x, 50) ? y : x));
  const a = percentile(yardstick, 50);
  const d = percentile(during, 50);
  const [la, ld] = labels;
  t.log(`${what}: install round median ${a.toFixed(1)} ms ${la}, ${d.toFixed(1)} ms ${ld} (x${(d / a).toFixed(2)}; p90 ${percentile(yardstick, 90).toFixed(1)} / ${percentile(during, 90).toFixed(1)} ms)`);
  t.true(d <= RATIO * a + FLOOR_MS, `${what}: median ${d.toFixed(1)} ms ${ld} vs ${a.toFixed(1)} ms ${la} (limit ${RATIO}x + ${FLOOR_MS} ms)`);
}

interface SlowSocket {
  socket: Socket;
  kind: 'trickle' | 'silent';
  openedAt: number;
  closedAt: number | null;
  received: string;
}

/** Opens a connection that never finishes its request head; `trickle` ones send one more header byte now and then. */
function slowSocket(url: string, kind: SlowSocket['kind']): Promise<SlowSocket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const s: SlowSocket = { socket, kind, openedAt: 0, closedAt: null, received: '' };
    socket.on('data', (d: Buffer) => { if (s.received.length < 200) s.received += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => { s.closedAt = performance.now(); });
    socket.once('connect', () => {
      s.openedAt = performance.now();
      if (kind === 'trickle') socket.write(`GET /internal/simple/acme-utils/ HTTP/1.1\r\nHost: ${hostname}\r\nX-Slow: `);
      resolve(s);
    });
    socket.once('error', reject);
  });
}

test.serial('slowloris on headers: 200 unfinished request heads do not slow others, and each is closed after limits.headersTimeout', async (t) => {
  const HEADERS_TIMEOUT = 3;
  const { s, pageUrl } = await serverWith(t, { limits: { headersTimeout: HEADERS_TIMEOUT } });
  const alone = await probe(pageUrl, ROUNDS, CONCURRENCY);

  // 150 send a request head a byte at a time (never finishing it), 50 send nothing at all.
  const slow = await Promise.all(Array.from({ length: 200 }, (_, i) => slowSocket(s.url, i < 150 ? 'trickle' : 'silent')));
  t.teardown(() => { for (const x of slow) x.socket.destroy(); });
  const trickle = setInterval(() => {
    for (const x of slow) if (x.kind === 'trickle' && !x.socket.destroyed) x.socket.write('a');
  }, 250);
  t.teardown(() => clearInterval(trickle));

  // Installs while every slow connection is still open (they close at headersTimeout).
  const until = Math.min(...slow.map((x) => x.openedAt)) + (HEADERS_TIMEOUT - 0.5) * 1000;
  const during = await probeWhile(pageUrl, CONCURRENCY, () => performance.now() < until);
  t.true(during.length >= 10, `${during.length} install rounds under attack`);

  // The server, not the attacker, ends them: after headersTimeout, with a 408.
  await eventually(async () => slow.every((x) => x.closedAt !== null), 'every slow connection to be closed', (HEADERS_TIMEOUT + 8) * 1000);
  clearInterval(trickle);
  const lifetimes = slow.map((x) => (x.closedAt! - x.openedAt) / 1000);
  t.log(`slow connections closed after ${Math.min(...lifetimes).toFixed(2)}-${Math.max(...lifetimes).toFixed(2)} s (headersTimeout ${HEADERS_TIMEOUT} s)`);
  t.true(Math.min(...lifetimes) >= HEADERS_TIMEOUT - 0.1, 'none is closed before headersTimeout');
  // Node checks every quarter of the timeout: closed by 1.25x, plus slack for a loaded machine.
  t.true(Math.max(...lifetimes) <= HEADERS_TIMEOUT * 1.25 + 5, 'all are closed soon after headersTimeout');
  t.true(slow.every((x) => x.received.startsWith('HTTP/1.1 408')), `each got 408 (first: ${JSON.stringify(slow[0]!.received.slice(0, 40))})`);
  assertPrompt(t, [alone, await probe(pageUrl, ROUNDS, CONCURRENCY)], during, 'slowloris (headers)');
});

interface Trickle {
  status: number;
  closedAfterMs: number | null;
}

/** An upload that sends its form head, then one byte every `everyMs`, until the server ends it. */
function trickleUpload(s: TestServer, everyMs: number): Promise<Trickle> {
  const boundary = `b${randomBytes(8).toString('hex')}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="acme_utils-9.0.0-py3-none-any.whl"\r\n`
    + 'Content-Type: application/octet-stream\r\n\r\n';
  return new Promise((resolve) => {
    const t0 = performance.now();
    const out: Trickle = { status: 0, closedAfterMs: null };
    const req = request(`${s.url}/internal/`, {
      method: 'POST',
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(head.length + 1_000_000), Authorization: CI.basic },
    });
    const timer = setInterval(() => { if (!req.destroyed) req.write('x'); }, everyMs);
    const done = (): void => {
      clearInterval(timer);
      out.closedAfterMs ??= performance.now() - t0;
      resolve(out);
    };
    req.on('response', (res) => {
      out.status = res.statusCode ?? 0;
      res.resume();
    });
    req.on('error', done);
    req.on('close', done);
    req.write(head);
  });
}

/** The whole twine form, streamed `chunk` bytes every `everyMs` ms; resolves with the status. */
async function slowHonestUpload(s: TestServer, dist: BuiltDist, name: string, version: string, chunk: number, everyMs: number): Promise<{ status: number; body: string; seconds: number }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(twineFields(dist, name, version))) form.append(k, v);
  form.append('content', new Blob([dist.bytes]), dist.filename);
  const encoded = new Request('http://x/', { method: 'POST', body: form });
  const body = Buffer.from(await encoded.arrayBuffer());
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(`${s.url}/internal/`, {
      method: 'POST',
      headers: { 'Content-Type': encoded.headers.get('content-type')!, 'Content-Length': String(body.length), Authorization: CI.basic },
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString('utf8'); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, seconds: (performance.now() - t0) / 1000 }));
    });
    req.on('error', reject);
    (async () => {
      for (let off = 0; off < body.length; off += chunk) {
        req.write(body.subarray(off, off + chunk));
        await sleep(everyMs);
      }
      req.end();
    })().catch(reject);
  });
}

test.serial('slowloris on bodies: uploads slower than limits.bodyMinRate are dropped with their temp files; honest slow ones are not', async (t) => {
  const WINDOW = 2; // bodyIdleTimeout: the window over which the minimum rate is counted
  const MIN_RATE = 1000;
  const { s, pageUrl } = await serverWith(t, { limits: { bodyIdleTimeout: WINDOW, bodyMinRate: MIN_RATE } });
  const alone = await probe(pageUrl, ROUNDS, CONCURRENCY);

  // 20 uploads at 10 bytes/s: never idle for a second, far below the minimum.
  const trickles = Array.from({ length: 20 }, () => trickleUpload(s, 100));
  // An honest upload over a slow link, 6x the minimum: about 3 windows long.
  const slowWheel = await buildWheel({ name: 'acme-utils', version: '2.0.0', padBytes: 20_000 });
  const honest = slowHonestUpload(s, slowWheel, 'acme-utils', '2.0.0', 600, 100);
  // Installs while the trickles are still connected (the first window ends at WINDOW).
  const until = performance.now() + (WINDOW - 0.3) * 1000;
  const during = await probeWhile(pageUrl, CONCURRENCY, () => performance.now() < until);
  t.true(during.length >= 10, `${during.length} install rounds under attack`);
  // A fast upload meanwhile.
  await put(s, 'internal', await buildWheel({ name: 'acme-utils', version: '3.0.0' }), 'acme-utils', '3.0.0');

  const dropped = await Promise.all(trickles);
  const after = dropped.map((d) => d.closedAfterMs! / 1000);
  t.log(`trickling uploads ended after ${Math.min(...after).toFixed(2)}-${Math.max(...after).toFixed(2)} s (window ${WINDOW} s), statuses ${[...new Set(dropped.map((d) => d.status))].join(',')}`);
  t.true(Math.min(...after) >= WINDOW - 0.1, 'not before the first window is over');
  t.true(Math.max(...after) <= 2 * WINDOW + 3, 'within the first windows');
  t.true(dropped.every((d) => d.status === 0 || d.status === 408), 'dropped (408, or the connection closed)');

  const h = await honest;
  t.is(h.status, 200, h.body);
  t.log(`honest slow upload: ${slowWheel.bytes.length} bytes in ${h.seconds.toFixed(1)} s`);
  t.true(h.seconds > WINDOW, 'the honest upload spanned more than one window');

  // Nothing of the trickles is left behind: two blobs (1.0.0 and 3.0.0) plus the honest one, and no temp file.
  await eventually(async () => (await storageCounts(s.storage)).tmp === 0, 'tmp/ to be empty');
  t.deepEqual(await storageCounts(s.storage), { blobs: 3, tmp: 0 });
  const page = await (await fetch(pageUrl, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).json() as { versions: string[] };
  t.deepEqual(page.versions, ['1.0.0', '2.0.0', '3.0.0']);
  assertPrompt(t, [alone, await probe(pageUrl, ROUNDS, CONCURRENCY)], during, 'slowloris (bodies)');
});

test.serial('bodyMinRate 0 turns the minimum off: a trickle is then only dropped once idle', async (t) => {
  const s = await startTestServer(t, { repositories: { internal: { type: 'local', upload: [CI.user] } }, limits: { bodyIdleTimeout: 0.5, bodyMinRate: 0 } });
  const one = trickleUpload(s, 100);
  await sleep(1500);
  const res = await fetch(`${s.url}/-/health`);
  t.is(res.status, 200);
  // Still going after three windows; end it ourselves.
  const raced = await Promise.race([one, sleep(10).then(() => 'open')]);
  t.is(raced, 'open');
  await s.stop(100);
  await one;
});

test.serial('random-name flood through a remote: the upstream is asked about each name once, and others are served promptly', async (t) => {
  const FLOODERS = 20;
  const up = await FakeUpstream.start(t);
  up.faults = { latencyMs: 20 }; // some of the internet's latency: the flood's requests overlap
  // Every client here shares 127.0.0.1, so the per-client budget of missing names
  // (limits.missesPerMinute, tested in remote.test.ts) is lifted: this measures the flood's cost.
  const { s, pageUrl } = await serverWith(t, { repositories: { pypi: { type: 'remote', url: up.url, timeout: 5 } }, limits: { missesPerMinute: 100_000 } });
  const alone = await probe(pageUrl, ROUNDS, CONCURRENCY);

  const names = Array.from({ length: 1000 }, () => `flood-${randomBytes(6).toString('hex')}`);
  const statuses = new Map<number, number>();
  /** Every name once, FLOODERS at a time, while install rounds are timed; returns those times and the seconds taken. */
  const flood = async (): Promise<{ during: number[]; seconds: number }> => {
    const t0 = performance.now();
    let next = 0;
    const flooders = Promise.all(Array.from({ length: FLOODERS }, async () => {
      while (next < names.length) {
        const res = await fetch(`${s.url}/pypi/simple/${names[next++]!}/`);
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }));
    const during = await probeWhile(pageUrl, CONCURRENCY, () => next < names.length);
    await flooders;
    t.true(during.length >= 10, `${during.length} install rounds under the flood`);
    return { during, seconds: (performance.now() - t0) / 1000 };
  };

  // 1,000 names nobody has asked for: each costs an upstream request.
  const fresh = await flood();
  // The same names again within negativeTtl: remembered 404s, as cheap as any cached answer.
  const known = await flood();
  t.deepEqual([...statuses], [[404, 2 * names.length]]);
  const perName = new Map<string, number>();
  for (const r of up.requests) {
    const m = /^\/simple\/(flood-[0-9a-f]+)\/$/.exec(r.path);
    if (m) perName.set(m[1]!, (perName.get(m[1]!) ?? 0) + 1);
  }
  t.is(perName.size, names.length, 'the upstream was asked about every name');
  t.deepEqual([...new Set(perName.values())], [1], 'and about each one once, however often it was asked');
  t.log(`flood: ${names.length} random names in ${fresh.seconds.toFixed(1)} s (${(names.length / fresh.seconds).toFixed(0)}/s), again in ${known.seconds.toFixed(1)} s; ${up.requests.length} upstream requests`);

  // Any flood of FLOODERS connections takes its share of 2 cores; names the
  // upstream must be asked about may cost others little more than cached ones.
  assertPrompt(t, known.during, fresh.during, 'random-name flood', ['under a flood of remembered 404s', 'under a flood of new names']);
  const a = Math.max(percentile(alone, 50), percentile(await probe(pageUrl, ROUNDS, CONCURRENCY), 50));
  const d = percentile(fresh.during, 50);
  t.log(`random-name flood: install round median ${a.toFixed(1)} ms alone, ${d.toFixed(1)} ms under the flood (x${(d / a).toFixed(2)})`);
  t.true(d <= FLOOD_RATIO * a + FLOOR_MS, `still served: median ${d.toFixed(1)} ms under the flood vs ${a.toFixed(1)} ms alone (limit ${FLOOD_RATIO}x + ${FLOOR_MS} ms)`);
});
