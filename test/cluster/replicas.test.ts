/**
 * Replicas: three `pydepot serve` processes, each with a storage folder of
 * its own (its tmp/), sharing one PostgreSQL database (`database:`) and one
 * S3 bucket and prefix (`blobs:`), as on three machines behind a load
 * balancer. Where `unshare` allows (ownHostnames), each runs under a host
 * name of its own, so that no replica can see another's process die: a
 * dead holder's lease must lapse, as across machines.
 *
 * Heavy (three tsx start-ups per test, real twine and pip): the tests run
 * one at a time.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { hashPassword } from '../../src/auth/passwords.ts';
import { tokenHash } from '../../src/auth/tokens.ts';
import { openStorage } from '../../src/storage/open.ts';
import { deadline, launch, ownHostnames, writeConfig, type ChildServer } from '../helpers/child-server.ts';
import { CI } from '../helpers/ci-user.ts';
import { describe, requireClient, twine, venv } from '../helpers/clients.ts';
import { buildWheel, writeDists } from '../helpers/dists.ts';
import { download, fileGets, page, sha256 } from '../helpers/cluster-http.ts';
import { FakeUpstream, JSON_TYPE } from '../helpers/fake-upstream.ts';
import { pgDatabase, startCluster, type PgCluster } from '../helpers/postgres.ts';
import { startS3, useS3rverCredentials, type FakeS3 } from '../helpers/s3.ts';
import { tempDir } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

const WAIT_MS = 60_000;
const DB_DOWN = 'The metadata database is unavailable. Try again later or tell the operator.';


interface Replica {
  name: string;
  url: string;
  server: ChildServer;
}

interface Replicas {
  replicas: Replica[];
  up: FakeUpstream;
  database: string;
  /** The replicas' `blobs` config (one bucket, one prefix). */
  blobs: ReturnType<FakeS3['blobs']>;
}

/** The `ci` user and token, in the shared database (every replica sees them). */
async function seedDatabase(dir: string, database: string): Promise<void> {
  const s = await openStorage(join(dir, 'seed'), { type: 'fs' }, { url: database, poolSize: 2 });
  try {
    await s.users.addUser(CI.user, await hashPassword(CI.password), new Date().toISOString());
    await s.users.addToken({
      id: 'c1c1c1c1c1c1', hash: tokenHash(CI.token), user: CI.user, repos: null, scope: 'upload', description: 'tests',
      createdAt: new Date().toISOString(), expiresAt: null, revokedAt: null, lastUsedAt: null,
    });
  } finally {
    await s.store.close();
  }
}

/**
 * Three replicas (a, b, c) on one fresh database (of `cluster`, else this
 * process's shared one) and one bucket prefix, with a local repository
 * `internal`, a remote `pypi` on a fake upstream, and a virtual `all` of both.
 */
async function startReplicas(t: ExecutionContext, extra: Record<string, unknown> = {}, cluster?: PgCluster): Promise<Replicas> {
  useS3rverCredentials();
  const [up, s3, database, dir] = await Promise.all([FakeUpstream.start(t), startS3(t), pgDatabase(t, cluster), tempDir(t)]);
  await seedDatabase(dir, database);
  const blobs = s3.blobs();
  const config = await writeConfig(dir, {
    database,
    blobs,
    repositories: {
      internal: { type: 'local', upload: [CI.user] },
      // A page is fresh for 1 s: the revalidation check waits that long, not 10 minutes.
      pypi: { type: 'remote', url: up.url, indexTtl: 1 },
      all: { type: 'virtual', members: ['internal', 'pypi'] },
    },
    defaultRepository: 'internal',
    ...extra,
  });
  const hosts = ownHostnames();
  const names = ['a', 'b', 'c'];
  const servers = await Promise.all(names.map(async (name) => {
    const storage = join(dir, `replica-${name}`);
    await mkdir(storage);
    const server = launch(t, { config, storage, ...(hosts ? { hostname: `replica-${name}` } : {}) });
    return { name, url: await server.listening, server };
  }));
  if (!hosts) t.log('unshare is not usable here: the replicas share this machine\'s host name (a dead holder is seen at once)');
  return { replicas: servers, up, database, blobs };
}

/** A live lease's holder and its ms left, by the database's clock. */
async function leaseRow(database: string, key: string): Promise<{ owner: string; remaining: number } | null> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    const { rows } = await client.query<{ owner: string; remaining: string }>(
      'SELECT owner, expires_at - (extract(epoch from clock_timestamp()) * 1000)::bigint AS remaining FROM leases WHERE key = $1', [key]);
    return rows[0] ? { owner: rows[0].owner, remaining: Number(rows[0].remaining) } : null;
  } finally {
    await client.end();
  }
}

/** Parsed log lines of a replica with this message. */
function logLines(r: Replica, msg: string): Record<string, unknown>[] {
  return r.server.output().split('\n').filter((l) => l.includes(`"msg":"${msg}`)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

test.serial('3 replicas on one database and bucket: twine through A, pip through B and C, pages never stale, a 50-client herd makes 1 upstream GET, a page is revalidated once, the scrub runs on one replica per round', async (t) => {
  if (!(await requireClient(t, 'twine')) || !(await requireClient(t, 'python3'))) return;
  const SCRUB_S = 1;
  const { replicas, up } = await startReplicas(t, { scrub: { interval: SCRUB_S }, log: { level: 'debug' } });
  const [a, b, c] = replicas as [Replica, Replica, Replica];
  const startedAt = Date.now();

  // twine through A; pip through B (the virtual: the dependency comes from the remote) and C (the local).
  const dep = await buildWheel({ name: 'acme-upstream-dep', version: '1.0' });
  up.addProject('acme-upstream-dep', [{ dist: dep }]);
  const core = await buildWheel({ name: 'acme-replica-core', version: '1.0' });
  const app = await buildWheel({ name: 'acme-replica-app', version: '1.0', requiresDist: ['acme-replica-core>=1.0', 'acme-upstream-dep'] });
  {
    const dir = await tempDir(t, 'pydepot-dist-');
    const r = await twine(['upload', '--repository-url', `${a.url}/internal/`, ...CI.twineArgs, '--disable-progress-bar', ...await writeDists(dir, [core, app])]);
    t.is(r.code, 0, describe(r));
    const v = await venv(t);
    const viaB = join(dir, 'via-b');
    const viaC = join(dir, 'via-c');
    const pip = (index: string, target: string, what: string[]) => v.pip(['install', '--index-url', index, '--no-input', '--progress-bar', 'off', '--target', target, ...what]);
    const [rb, rc] = await Promise.all([
      pip(`${b.url}/all/simple/`, viaB, ['acme-replica-app']),
      pip(`${c.url}/internal/simple/`, viaC, ['--no-deps', 'acme-replica-app', 'acme-replica-core']),
    ]);
    t.is(rb.code, 0, describe(rb));
    t.is(rc.code, 0, describe(rc));
    const imported = await v.run(['-c', 'import acme_replica_app, acme_replica_core, acme_upstream_dep; print("ok")'], { env: { PYTHONPATH: viaB } });
    t.is(imported.stdout.trim(), 'ok', describe(imported));
    const importedC = await v.run(['-c', 'import acme_replica_app, acme_replica_core; print("ok")'], { env: { PYTHONPATH: viaC } });
    t.is(importedC.stdout.trim(), 'ok', describe(importedC));
  }
  for (const r of replicas) t.is((await page(`${r.url}/internal/simple/acme-replica-app/`)).files[0]?.hashes.sha256, app.sha256);

  // An upload on A is listed at once on B and C; a second one on C changes the page (and ETag) A and B serve.
  const mine = await buildWheel({ name: 'acme-mine', version: '1.0' });
  t.is((await fetch(`${b.url}/internal/simple/acme-mine/`, { headers: { accept: JSON_TYPE } })).status, 404);
  t.is((await upload(`${a.url}/internal/`, mine, 'acme-mine', '1.0')).status, 200);
  for (const r of [b, c]) t.deepEqual((await page(`${r.url}/internal/simple/acme-mine/`)).files.map((f) => f.filename), [mine.filename], `listed on ${r.name} at once`);
  const etags = async () => Promise.all(replicas.map(async (r) => (await fetch(`${r.url}/internal/simple/acme-mine/`, { headers: { accept: JSON_TYPE } })).headers.get('etag')));
  const before = await etags();
  t.is(new Set(before).size, 1, `one ETag on every replica: ${before.join(', ')}`);
  const second = await buildWheel({ name: 'acme-mine', version: '2.0' });
  t.is((await upload(`${c.url}/internal/`, second, 'acme-mine', '2.0')).status, 200);
  const after = await etags();
  t.is(new Set(after).size, 1, `one ETag on every replica: ${after.join(', ')}`);
  t.not(after[0], before[0]);
  for (const r of [a, b]) t.is((await page(`${r.url}/internal/simple/acme-mine/`)).files.length, 2, `both versions on ${r.name}`);

  // 50 cold downloads of one upstream file, spread over the replicas: one upstream GET, all verified.
  const herd = await buildWheel({ name: 'acme-herd', version: '1.0', padBytes: 1024 * 1024 });
  up.addProject('acme-herd', [{ dist: herd }]);
  up.fileFaults(herd.filename, { bytesPerSecond: 2 * 1024 * 1024 });
  const rel = (await page(`${a.url}/pypi/simple/acme-herd/`)).files[0]!.url;
  const got = await Promise.all(Array.from({ length: 50 }, (_, i) => download(new URL(rel, `${replicas[i % 3]!.url}/pypi/simple/acme-herd/`).href)));
  t.deepEqual(got.filter((g) => g.status !== 200 || g.sha256 !== herd.sha256), [], 'every client got the verified bytes');
  t.is(fileGets(up, herd), 1, 'one upstream GET across the three replicas');

  // After the page's TTL, the page asked of all three at once (held upstream so that all ask
  // while it is out): one revalidation.
  const reval = await buildWheel({ name: 'acme-reval', version: '1.0' });
  up.addProject('acme-reval', [{ dist: reval }]);
  await page(`${b.url}/pypi/simple/acme-reval/`);
  up.resetCounts();
  // indexTtl is 1 s (startReplicas): the one wait of this file is for time itself to pass.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  up.pageFaults('acme-reval', { latencyMs: 300 });
  const pages = await Promise.all([a, b, c, a, b, c].map((r) => page(`${r.url}/pypi/simple/acme-reval/`)));
  t.true(pages.every((p) => p.files.length === 1 && p.files[0]!.hashes.sha256 === reval.sha256));
  t.is(up.count(up.pageUrl('acme-reval')), 1, 'one upstream page GET for a stale page asked of three replicas');

  // The scheduled scrub (every second from the end of one to the start of the next, each replica
  // on its own timer): at least two rounds have passed, each ran on one replica only, a round apart.
  const finished = () => replicas.flatMap((r) => logLines(r, 'scheduled scrub finished').map((l) => ({ replica: r.name, time: new Date(l.time as string | number).getTime() })));
  if (finished().length < 2) {
    await deadline(new Promise<void>((resolve) => {
      const check = (): void => { if (finished().length >= 2) resolve(); };
      for (const r of replicas) r.server.child.stdout!.on('data', check);
    }), WAIT_MS, 'two scheduled scrubs');
  }
  const runs = finished().sort((x, y) => x.time - y.time);
  const elapsed = (Date.now() - startedAt) / 1000;
  t.log(`${runs.length} scrubs in ${elapsed.toFixed(1)} s by ${[...new Set(runs.map((r) => r.replica))].join(', ')}`);
  t.true(runs.length <= elapsed / SCRUB_S + 1, `at most one scrub per round: ${runs.length} in ${elapsed} s`);
  for (let i = 1; i < runs.length; i++) t.true(runs[i]!.time - runs[i - 1]!.time >= SCRUB_S * 1000 * 0.9, `scrubs ${i - 1} and ${i} a round apart: ${JSON.stringify(runs.slice(i - 1, i + 1))}`);
  t.true(replicas.some((r) => logLines(r, 'scheduled scrub skipped').length > 0), 'the other replicas skipped their rounds (debug)');
});

test.serial('kill -9 of the replica holding a download lease: another takes over once the lease lapses, clients that retry get verified bytes, nothing half-written is served', async (t) => {
  const { replicas, up, database, blobs } = await startReplicas(t, { leaseTtl: 1 });
  // The bucket as a replica sees it (its own SQLite is empty and unused).
  const bucket = await openStorage(await tempDir(t), blobs);
  t.teardown(() => bucket.store.close());
  const [a, b, c] = replicas as [Replica, Replica, Replica];
  const wheel = await buildWheel({ name: 'acme-stall', version: '1.0', padBytes: 512 * 1024 });
  up.addProject('acme-stall', [{ dist: wheel }]);
  // Stalls: 512 KiB at 32 KiB/s would take 16 s.
  up.fileFaults(wheel.filename, { bytesPerSecond: 32 * 1024 });
  const rel = (await page(`${a.url}/pypi/simple/acme-stall/`)).files[0]!.url;
  const file = (r: Replica) => new URL(rel, `${r.url}/pypi/simple/acme-stall/`).href;

  // A answers with headers once the first bytes arrived: it holds the lease then.
  const resA = await fetch(file(a));
  t.is(resA.status, 200);
  const cut = resA.arrayBuffer().then((body) => (sha256(Buffer.from(body)) === wheel.sha256 ? 'whole' : 'bad'), () => 'cut');
  // B's and C's clients wait for the commit of A's download.
  const waiting = [download(file(b)), download(file(c)), download(file(b)), download(file(c))];
  t.is(fileGets(up, wheel), 1);
  a.server.child.kill('SIGKILL');
  await a.server.exited;
  const killedAt = Date.now();
  // The lease as the database sees it just after the kill: still A's, for how long.
  const lease = await leaseRow(database, `file:${wheel.sha256}`);
  t.is(await bucket.blobs.stat(wheel.sha256), null, 'nothing of the cut download is in the bucket');
  t.is(await cut, 'cut', 'the client of the killed replica sees a cut download, never a complete-looking bad one');
  up.fileFaults(wheel.filename, {});
  const got = await deadline(Promise.all(waiting), WAIT_MS, 'the takeover');
  const tookOver = Date.now() - killedAt;
  t.deepEqual(got, Array(4).fill({ status: 200, sha256: wheel.sha256 }), 'the waiting clients got the verified bytes');
  t.is(fileGets(up, wheel), 2, 'the killed holder\'s GET, and the one of the replica that took over');
  t.is((await bucket.blobs.stat(wheel.sha256))?.size, wheel.bytes.length);
  t.log(`lease after the kill: ${JSON.stringify(lease)}; the waiting clients were served ${tookOver} ms after (leaseTtl 1 s)`);
  // With a host name of its own, A's death cannot be seen: the others wait for its lease to lapse.
  // (Unless the machine is so slow that it lapsed before the look: then it is someone else's already.)
  if (ownHostnames() && lease?.owner.startsWith('replica-a/')) {
    t.true(tookOver >= lease.remaining - 50, `taken over once the lease lapsed (${lease.remaining} ms after the kill), not at once (${tookOver} ms)`);
  }
  // The client that was cut retries, through another replica.
  for (const r of [b, c]) t.deepEqual(await download(file(r)), { status: 200, sha256: wheel.sha256 });
  t.is(fileGets(up, wheel), 2);
});

test.serial('PostgreSQL stopped under load: requests that need it answer 503 with the one-line reason (never a 404 or an empty page), and succeed again once it is back, without a restart', async (t) => {
  // A cluster of its own: stopping it must not stop the other tests' database.
  const cluster = await startCluster();
  t.teardown(() => cluster.destroy());
  const { replicas } = await startReplicas(t, {}, cluster);
  const [a] = replicas as [Replica];
  const wheel = await buildWheel({ name: 'acme-db', version: '1.0' });
  t.is((await upload(`${a.url}/internal/`, wheel, 'acme-db', '1.0')).status, 200);
  const rel = (await page(`${a.url}/internal/simple/acme-db/`)).files[0]!.url;

  /** One request of each kind to each replica: a page (JSON and HTML), the file, the root listing. */
  type Outcome = { replica: string; what: string; status: number; ok: boolean; body: string };
  const round = (): Promise<Outcome[]> => Promise.all(replicas.flatMap((r) => [
    ['json page', `${r.url}/internal/simple/acme-db/`, JSON_TYPE],
    ['html page', `${r.url}/internal/simple/acme-db/`, 'text/html'],
    ['file', new URL(rel, `${r.url}/internal/simple/acme-db/`).href, '*/*'],
    ['root', `${r.url}/internal/simple/`, JSON_TYPE],
  ].map(async ([what, url, accept]) => {
    const res = await fetch(url!, { headers: { accept: accept! } });
    const bytes = Buffer.from(await res.arrayBuffer());
    const body = bytes.toString('utf8');
    let ok = false;
    if (res.status === 200) {
      if (what === 'file') ok = sha256(bytes) === wheel.sha256;
      else if (what === 'root') ok = body.includes('acme-db');
      else ok = body.includes(wheel.filename) && body.includes(wheel.sha256);
    } else if (res.status === 503) {
      ok = body.trim() === DB_DOWN || body.includes(DB_DOWN);
    }
    return { replica: r.name, what: what!, status: res.status, ok, body: body.slice(0, 200) };
  })));

  const before = await round();
  t.deepEqual(before.filter((o) => o.status !== 200 || !o.ok), [], 'all good before');

  // Load while it goes down, while it is down, and while it comes back.
  const seen: Outcome[] = [];
  let phase: 'up' | 'down' | 'back' = 'up';
  let stopLoad = false;
  const load = (async () => {
    while (!stopLoad) seen.push(...(await round()).map((o) => ({ ...o, what: `${o.what} (${phase})` })));
  })();
  await cluster.stop();
  phase = 'down';
  // Down: every replica answers 503 for everything that needs the database.
  const downRound = await deadline((async () => {
    for (;;) {
      const r = await round();
      if (r.every((o) => o.status === 503)) return r;
    }
  })(), WAIT_MS, 'every replica to answer 503');
  for (const o of downRound) t.true(o.ok, `a 503 with the reason: ${JSON.stringify(o)}`);
  const reason = downRound[0]!.body;
  t.false(reason.trim().includes('\n'), `one line: ${reason}`);
  await cluster.start();
  phase = 'back';
  // Back: every replica answers again, none restarted.
  await deadline((async () => {
    for (;;) if ((await round()).every((o) => o.status === 200 && o.ok)) return;
  })(), WAIT_MS, 'every replica to answer 200 again');
  stopLoad = true;
  await load;
  const wrong = seen.filter((o) => !o.ok);
  t.deepEqual(wrong, [], 'under load, every answer was right or a 503 with the reason');
  const down = seen.filter((o) => o.status === 503).length;
  t.log(`${seen.length} requests under load, ${down} answered 503`);
  t.true(down > 0);
  for (const r of replicas) t.is(r.server.child.exitCode, null, `replica ${r.name} still running`);
  // Writes work again too.
  const next = await buildWheel({ name: 'acme-db', version: '2.0' });
  t.is((await upload(`${replicas[1]!.url}/internal/`, next, 'acme-db', '2.0')).status, 200);
  for (const r of replicas) t.is((await page(`${r.url}/internal/simple/acme-db/`)).files.length, 2);
});
