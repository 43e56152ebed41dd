/**
 * The throw-away PostgreSQL helper itself (test/helpers/postgres.ts): strays
 * of killed processes are swept, and under test:pg's shared cluster a test
 * process makes its databases there, cannot stop it, and drops them at exit.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import pg from 'pg';
import { processAlive as alive, SHARED_PG_URL_ENV, startCluster, sweepStrayClusters } from '../helpers/postgres.ts';

const HELPER = fileURLToPath(new URL('../helpers/postgres.ts', import.meta.url));

test('a cluster whose owner is dead is stopped and removed by the sweep; one whose owner lives is left alone', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.destroy());
  const owner = join(cluster.dir, 'owner.pid');
  t.is(Number(readFileSync(owner, 'utf8')), process.pid, 'the folder records who started it');
  const postmaster = Number(readFileSync(join(cluster.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  t.true(alive(postmaster));

  t.false((await sweepStrayClusters()).includes(cluster.dir));
  t.true(existsSync(cluster.dir), 'its owner (this process) lives');

  // A pid that was just used and is gone: a process killed with SIGKILL, as far as the folder can tell.
  const dead = spawnSync('true').pid!;
  t.false(alive(dead));
  writeFileSync(owner, `${dead}\n`);
  await sweepStrayClusters();
  // (Another test process may have swept it first: what counts is that it is gone.)
  t.false(existsSync(cluster.dir), 'removed');
  t.false(alive(postmaster), 'PostgreSQL stopped');
  const client = new pg.Client({ connectionString: cluster.url('postgres') });
  await t.throwsAsync(client.connect(), { code: 'ECONNREFUSED' });
});

test('under the run\'s shared cluster, a test process makes its databases there, cannot stop it, and drops them at exit', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.destroy());
  // A process of its own: the helper reads PYDEPOT_TEST_PG_URL as it loads.
  const script = `
    import { freshDatabase, sharedCluster } from ${JSON.stringify(HELPER)};
    const urls = [await freshDatabase(), await freshDatabase()];
    const refused = await (await sharedCluster()).stop().then(() => null, (e) => e.message);
    console.log(JSON.stringify({ urls, refused }));
  `;
  const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, [SHARED_PG_URL_ENV]: cluster.url('postgres') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  t.is(code, 0, err);
  const { urls, refused } = JSON.parse(out) as { urls: string[]; refused: string | null };
  t.regex(refused ?? '', /not to be stopped or started by a test/);
  const names = urls.map((u) => new URL(u).pathname.slice(1));
  for (const u of urls) t.is(new URL(u).port, String(cluster.port), 'on the run\'s cluster');
  for (const n of names) t.regex(n, new RegExp(`^t_${child.pid}_\\d+_[0-9a-f]{6}$`));

  const admin = new pg.Client({ connectionString: cluster.url('postgres') });
  await admin.connect();
  t.teardown(() => admin.end());
  const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [names]);
  t.deepEqual(rows, [], 'dropped when the process exited');
});
