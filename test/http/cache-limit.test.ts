/**
 * maxCacheSize through HTTP: the least recently used file goes, its page
 * still lists it, the next GET fetches it again from the upstream, and
 * downloads running while files are evicted never fail.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import test, { type ExecutionContext } from 'ava';
import { buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { eventually } from '../helpers/storage.ts';

const WHEEL_PAD = 50_000;

interface Setup {
  s: TestServer;
  up: FakeUpstream;
  wheels: BuiltDist[];
}

async function setup(t: ExecutionContext, maxCacheSize: string | number, count = 3, extra: Record<string, unknown> = {}): Promise<Setup> {
  const up = await FakeUpstream.start(t);
  const wheels: BuiltDist[] = [];
  for (let i = 0; i < count; i++) wheels.push(await buildWheel({ name: 'bigpkg', version: `1.${i}`, padBytes: WHEEL_PAD }));
  up.addProject('bigpkg', wheels.map((dist) => ({ dist })));
  const s = await startTestServer(t, { ...extra, repositories: { pypi: { type: 'remote', url: up.url, timeout: 5, maxCacheSize } } });
  // A file is served where its page lists it: read the page first, as pip does.
  t.is((await fetch(`${s.url}/pypi/simple/bigpkg/`)).status, 200);
  return { s, up, wheels };
}

const fileUrl = (s: TestServer, w: BuiltDist): string => `${s.url}/pypi/files/${w.sha256}/${w.filename}`;

/** Downloads a file and returns the sha256 of what arrived (throws on a non-200). */
async function download(s: TestServer, w: BuiltDist): Promise<string> {
  const res = await fetch(fileUrl(s, w));
  if (res.status !== 200) throw new Error(`${w.filename}: HTTP ${res.status}: ${await res.text()}`);
  return createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex');
}

async function metric(s: TestServer, line: RegExp): Promise<number> {
  const text = await (await fetch(`${s.url}/-/metrics`)).text();
  const m = new RegExp(`^${line.source} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const downloadsOf = (up: FakeUpstream, w: BuiltDist): number => up.count((r) => r.path.endsWith(`/${w.filename}`));

/** At most this many of the server's warn/error lines in a failure message. */
const LOG_LINES = 40;

/**
 * The server's warn and error lines (pino level ≥ 40), for a failure message:
 * a 500 is logged with its cause (the request log's `err`), which the client
 * never sees. A line repeated is shown once, with its count.
 */
function serverWarnings(s: TestServer): string {
  const counts = new Map<string, number>();
  // Errors first: the warnings about the cache staying over its limit must not crowd them out.
  const lines = s.logs.filter((l) => Number(l.level) >= 40).sort((a, b) => Number(b.level) - Number(a.level));
  for (const l of lines) {
    // Without what differs between two lines of the same event.
    const { time: _time, durationMs: _ms, pid: _pid, hostname: _host, ...rest } = l;
    const line = JSON.stringify(rest);
    counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  if (counts.size === 0) return 'no warnings or errors in the server log';
  const out = [...counts].map(([line, n]) => (n > 1 ? `${n}× ${line}` : line));
  const cut = out.length > LOG_LINES ? `\n… and ${out.length - LOG_LINES} more distinct lines` : '';
  return `server warnings and errors:\n${out.slice(0, LOG_LINES).join('\n')}${cut}`;
}

test('the least recently used file is evicted, its page still lists it, and the next GET fetches it again', async (t) => {
  // Room for two wheels, not three.
  const { s, up, wheels } = await setup(t, Math.round(2.4 * (WHEEL_PAD + 1000)));
  const [w1, w2, w3] = wheels as [BuiltDist, BuiltDist, BuiltDist];
  t.is(await download(s, w1), w1.sha256);
  t.is(await download(s, w2), w2.sha256);
  t.is(await download(s, w1), w1.sha256, 'a hit: w2 is now the least recently used');
  t.is(downloadsOf(up, w1), 1);
  t.is(await download(s, w3), w3.sha256);
  await eventually(async () => (await metric(s, /pydepot_cache_evictions_total\{repo="pypi"\}/)) === 1, 'one eviction');

  const page = await (await fetch(`${s.url}/pypi/simple/bigpkg/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).json() as { files: { filename: string }[] };
  t.deepEqual(page.files.map((f) => f.filename).sort(), wheels.map((w) => w.filename).sort(), 'the page still lists the evicted file');

  t.is(await download(s, w1), w1.sha256);
  t.is(downloadsOf(up, w1), 1, 'w1 stayed cached');
  t.is(await download(s, w2), w2.sha256);
  t.is(downloadsOf(up, w2), 2, 'w2 was evicted and fetched again');
  t.true(s.logs.some((l) => l.msg === 'evicted a cached file (maxCacheSize); it is fetched again when asked for' && l.sha256 === w2.sha256));
  t.is(await metric(s, /pydepot_cache_lookups_total\{repo="pypi",result="hit"\}/), 2);
  // The eviction that w2's return sets off runs after its response (a few queries later on PostgreSQL).
  await eventually(async () => (await metric(s, /pydepot_cache_size_bytes\{repo="pypi"\}/)) <= Math.round(2.4 * (WHEEL_PAD + 1000)), 'the cache back within its limit');
  t.is(await metric(s, /pydepot_cache_limit_bytes\{repo="pypi"\}/), Math.round(2.4 * (WHEEL_PAD + 1000)));
});

test('50 clients downloading while files are evicted all get every byte: no errors', async (t) => {
  // Room for about one wheel: nearly every fill evicts another file.
  const { s, up, wheels } = await setup(t, Math.round(1.5 * WHEEL_PAD), 8);
  up.faults = { bytesPerSecond: 2_000_000 };
  const errors: string[] = [];
  let ok = 0;
  await Promise.all(Array.from({ length: 50 }, async (_, client) => {
    for (let round = 0; round < 6; round++) {
      const w = wheels[(client * 3 + round * 5) % wheels.length]!;
      try {
        const got = await download(s, w);
        if (got === w.sha256) ok++;
        else errors.push(`${w.filename}: wrong bytes`);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  }));
  t.deepEqual(errors, [], errors.length > 0 ? serverWarnings(s) : undefined);
  t.is(ok, 300);
  const evictions = await metric(s, /pydepot_cache_evictions_total\{repo="pypi"\}/);
  t.log(`${evictions} evictions, ${up.count((r) => r.path.endsWith('.whl'))} upstream downloads`);
  t.true(evictions > 0, 'files were evicted meanwhile');
});

test('a maxCacheSize smaller than one file: the file is served whole, with a warning, then evicted and fetched again', async (t) => {
  const { s, up, wheels } = await setup(t, '1KiB', 1);
  const w = wheels[0]!;
  t.is(await download(s, w), w.sha256);
  // Warned as the file is recorded, which may end after the response (on PostgreSQL).
  await eventually(async () => s.logs.some((l) => String(l.msg).includes('larger than maxCacheSize')), 'the warning');
  await eventually(async () => (await metric(s, /pydepot_cache_evictions_total\{repo="pypi"\}/)) === 1, 'the file evicted once its download is done');
  t.is(await download(s, w), w.sha256);
  t.is(downloadsOf(up, w), 2);
});

test('a cached file removed between its lookup and its open (another process evicted it) is fetched again, not a 500', async (t) => {
  // Blobs on disk whatever the back end: the blob file goes as the hit opens it.
  const { s, up, wheels } = await setup(t, '10MiB', 1, { blobs: { type: 'fs' } });
  const w = wheels[0]!;
  t.is(await download(s, w), w.sha256);
  // The next GET is a hit (its lookup finds the blob); its open finds it gone.
  const original = fs.createReadStream;
  let removed = false;
  fs.createReadStream = ((path: fs.PathLike, opts?: Parameters<typeof fs.createReadStream>[1]) => {
    // This server's blob alone (the other tests' servers, running meanwhile, hold the same wheel).
    if (!removed && String(path).startsWith(s.config.storage) && String(path).endsWith(`/${w.sha256}`)) {
      removed = true;
      fs.rmSync(path);
    }
    return original(path, opts);
  }) as typeof fs.createReadStream;
  syncBuiltinESMExports();
  t.teardown(() => {
    fs.createReadStream = original;
    syncBuiltinESMExports();
  });
  const got = await download(s, w).catch((err: Error) => err.message);
  t.is(got, w.sha256, serverWarnings(s));
  t.true(removed, 'the blob was removed as it was opened');
  t.is(downloadsOf(up, w), 2, 'fetched again');
  t.is(await download(s, w), w.sha256);
  t.is(downloadsOf(up, w), 2, 'and cached again');
});
