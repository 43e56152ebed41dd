/**
 * `pydepot scrub` and `pydepot gc`, run (in-process) against the storage of a
 * server that keeps running: a corrupt cached file is quarantined and fetched
 * again, a corrupt hosted file is reported; gc removes orphan blobs and stale
 * temp files but never what an upload in progress needs.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import { pydepot } from '../helpers/cli.ts';
import { describe } from '../helpers/clients.ts';
import { buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { CI, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { eventually } from '../helpers/storage.ts';
import { twineFields, upload } from '../helpers/upload.ts';

interface Setup {
  s: TestServer;
  up: FakeUpstream;
  /** A config file naming the same repositories (the CLI gets --storage). */
  config: string;
  hostedWheel: BuiltDist;
  remoteWheel: BuiltDist;
  run(args: string[], opts?: { tty?: boolean }): ReturnType<typeof pydepot>;
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const up = await FakeUpstream.start(t);
  const remoteWheel = await buildWheel({ name: 'requests', version: '2.32.0', padBytes: 20_000 });
  up.addProject('requests', [{ dist: remoteWheel }]);
  const repositories = {
    internal: { type: 'local', upload: [CI.user] },
    pypi: { type: 'remote', url: up.url, timeout: 5 },
    all: { type: 'virtual', members: ['internal', 'pypi'] },
  };
  // Blobs in the folder whatever the test back end: the tests corrupt blob files and plant orphans on disk (the database follows PYDEPOT_TEST_BACKEND).
  const s = await startTestServer(t, { repositories, defaultRepository: 'all', blobs: { type: 'fs' } });
  const hostedWheel = await buildWheel({ name: 'acme-core', version: '1.0', padBytes: 10_000 });
  t.is((await upload(`${s.url}/internal/`, hostedWheel, 'acme-core', '1.0')).status, 200);
  t.is((await fetch(`${s.url}/pypi/simple/requests/`)).status, 200);
  t.is(await download(s, 'pypi', remoteWheel), remoteWheel.sha256, 'now cached');
  const config = join(await tempDir(t, 'pydepot-cli-'), 'pydepot.yaml');
  await writeFile(config, stringifyYaml({ repositories, defaultRepository: 'all' }));
  return {
    s, up, config, hostedWheel, remoteWheel,
    run: (args, opts = {}) => pydepot([...args, '--config', config, '--storage', s.storage], opts),
  };
}

/** The sha256 of what a GET of the file returns, or `HTTP <status>`. */
async function download(s: TestServer, repo: string, w: BuiltDist): Promise<string> {
  const res = await fetch(`${s.url}/${repo}/files/${w.sha256}/${w.filename}`);
  if (res.status !== 200) return `HTTP ${res.status}`;
  try {
    return createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex');
  } catch (err) {
    return `broken body: ${(err as Error).message}`;
  }
}

const blobPath = (storage: string, sha: string): string => join(storage, 'blobs', 'sha256', sha.slice(0, 2), sha.slice(2, 4), sha);

async function flipByte(storage: string, sha: string): Promise<void> {
  const path = blobPath(storage, sha);
  const bytes = await readFile(path);
  bytes[bytes.length >> 1]! ^= 0xff;
  await writeFile(path, bytes);
}

/** Stores `bytes` as a blob no row names, last written `ageMs` ago. */
async function orphan(storage: string, bytes: Buffer, ageMs: number): Promise<string> {
  const sha = createHash('sha256').update(bytes).digest('hex');
  const path = blobPath(storage, sha);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, bytes);
  const then = new Date(Date.now() - ageMs);
  await utimes(path, then, then);
  return sha;
}

async function metric(s: TestServer, name: string): Promise<number | null> {
  const text = await (await fetch(`${s.url}/-/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

const HOUR = 3_600_000;

test('scrub on a healthy storage checks every blob and exits 0, with a closing table', async (t) => {
  const { s, run } = await setup(t);
  const r = await run(['scrub']);
  t.is(r.code, 0, describe(r));
  t.regex(r.stdout, /^blobs checked +2$/m, 'the hosted wheel and the cached one');
  t.regex(r.stdout, /^corrupt +0$/m);
  t.regex(r.stdout, /^rate +.+\/s$/m);
  t.is(await metric(s, 'pydepot_scrub_last_checked_blobs'), 2, 'the running server shows the CLI run');
  t.is(await metric(s, 'pydepot_scrub_last_corrupt_blobs'), 0);

  const json = await run(['scrub', '--repo', 'internal', '--json']);
  t.is(json.code, 0, describe(json));
  const summary = JSON.parse(json.stdout) as { checked: number; corrupt: unknown[]; bytes: number };
  t.is(summary.checked, 1, '--repo: only that repository\'s blobs');
  t.deepEqual(summary.corrupt, []);

  const tty = await run(['scrub', '--rate', '100MiB'], { tty: true });
  t.is(tty.code, 0, describe(tty));
  t.regex(tty.stderr, /scrubbing \[/, 'a progress bar on a terminal');
  t.regex((await run(['scrub', '--repo', 'nope'])).stderr, /no repository named 'nope'/);
  t.regex((await run(['scrub', '--rate', 'fast'])).stderr, /--rate: expected bytes per second/);
});

test('scrub quarantines corrupt blobs: the cached file is fetched again, the hosted one is reported loudly', async (t) => {
  const { s, up, run, hostedWheel, remoteWheel } = await setup(t);
  await flipByte(s.storage, hostedWheel.sha256);
  await flipByte(s.storage, remoteWheel.sha256);
  const r = await run(['scrub']);
  t.is(r.code, 1, 'corruption found: exit 1');
  t.regex(r.stdout, /^corrupt +2$/m);
  t.regex(r.stderr, new RegExp(`CORRUPT hosted file internal/${hostedWheel.filename}: sha256 ${hostedWheel.sha256} now hashes to [0-9a-f]{64}; quarantined. It cannot be fetched again`));
  t.regex(r.stderr, new RegExp(`corrupt blob ${remoteWheel.sha256} .*cached by pypi: fetched again from the upstream on the next request`));
  t.regex(r.stderr, /pydepot: 2 corrupt blobs quarantined, 1 of them hosted files that must be uploaded again/);
  t.is((await readdir(join(s.storage, 'quarantine'))).length, 2);

  t.is(await download(s, 'pypi', remoteWheel), remoteWheel.sha256, 'fetched again, whole and verified');
  t.is(up.count((q) => q.path.endsWith(`/${remoteWheel.filename}`)), 2);
  t.is(await download(s, 'internal', hostedWheel), 'HTTP 500', 'the corrupt bytes are never served again');
  const res = await fetch(`${s.url}/internal/files/${hostedWheel.sha256}/${hostedWheel.filename}`);
  t.regex(await res.text(), /missing \(a scrub found them corrupt\); the file must be uploaded again/);
  t.is(await metric(s, 'pydepot_scrub_last_corrupt_blobs'), 2);

  const again = await run(['scrub']);
  t.is(again.code, 0, describe(again));
  t.regex(again.stdout, /^corrupt +0$/m);
});

test('gc removes old orphan blobs and stale temp files, keeps young ones and everything a row names', async (t) => {
  const { s, run, hostedWheel, remoteWheel } = await setup(t);
  const old = await orphan(s.storage, Buffer.from('an old orphan'), 2 * HOUR);
  const young = await orphan(s.storage, Buffer.from('a young orphan'), 0);
  await writeFile(join(s.storage, 'tmp', 'crashed.part'), Buffer.alloc(500));
  await utimes(join(s.storage, 'tmp', 'crashed.part'), new Date(Date.now() - 2 * HOUR), new Date(Date.now() - 2 * HOUR));
  await writeFile(join(s.storage, 'tmp', 'in-flight.part'), Buffer.alloc(100));

  const dry = await run(['gc', '--dry-run']);
  t.is(dry.code, 0, describe(dry));
  t.regex(dry.stdout, /would remove 1 unreferenced blob \(13 B\) and 1 stale temp file \(500 B\)/);
  t.truthy(await stat(blobPath(s.storage, old)), 'a dry run removes nothing');

  const r = await run(['gc', '--json']);
  t.is(r.code, 0, describe(r));
  const summary = JSON.parse(r.stdout) as { blobs: { count: number }; temp: { count: number; bytes: number }; young: number; freedBytes: number };
  t.is(summary.blobs.count, 1);
  t.deepEqual(summary.temp, { count: 1, bytes: 500 });
  t.is(summary.young, 1);
  t.is(summary.freedBytes, 513);
  await t.throwsAsync(stat(blobPath(s.storage, old)));
  t.truthy(await stat(blobPath(s.storage, young)), 'younger than the grace period');
  t.deepEqual(await readdir(join(s.storage, 'tmp')), ['in-flight.part']);
  t.is(await download(s, 'internal', hostedWheel), hostedWheel.sha256);
  t.is(await download(s, 'pypi', remoteWheel), remoteWheel.sha256);
  t.is(await metric(s, 'pydepot_gc_last_freed_bytes'), 513);
});

test('gc while an upload is in progress: the upload finishes and its file is intact (even when gc removed an old orphan of the same bytes)', async (t) => {
  const { s, run } = await setup(t);
  const wheel = await buildWheel({ name: 'acme-late', version: '1.0', padBytes: 200_000 });
  await orphan(s.storage, wheel.bytes, 2 * HOUR);
  const form = new FormData();
  for (const [k, v] of Object.entries(twineFields(wheel, 'acme-late', '1.0'))) form.append(k, v);
  form.append('content', new Blob([wheel.bytes]), wheel.filename);
  const encoded = new Response(form);
  const body = Buffer.from(await encoded.arrayBuffer());
  let answer!: Promise<number>;
  const req = request(`${s.url}/internal/`, {
    method: 'POST',
    headers: { 'Content-Type': encoded.headers.get('content-type')!, 'Content-Length': String(body.length), Authorization: CI.basic },
  });
  answer = new Promise((resolve, reject) => {
    req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', reject);
  });
  const half = body.length >> 1;
  req.write(body.subarray(0, half));
  await eventually(async () => {
    const names = await readdir(join(s.storage, 'tmp'));
    for (const n of names) if ((await stat(join(s.storage, 'tmp', n))).size > 50_000) return true;
    return false;
  }, 'the upload writing its temp file');

  const r = await run(['gc']);
  t.is(r.code, 0, describe(r));
  t.regex(r.stdout, /removed 1 unreferenced blob .* and 0 stale temp files/, 'the old orphan went; the upload\'s temp file stayed');
  req.end(body.subarray(half));
  t.is(await answer, 200);
  t.is(await download(s, 'internal', wheel), wheel.sha256, 'intact');
  const again = await run(['gc', '--json']);
  t.is((JSON.parse(again.stdout) as { blobs: { count: number } }).blobs.count, 0, 'now a row names it');
});
