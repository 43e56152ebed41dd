/**
 * A throw-away PostgreSQL for tests: a cluster made with `initdb` in a temp
 * folder and started with `pg_ctl` on a random loopback port (and a Unix
 * socket in that folder), fsync off; a fresh database per test (or per
 * storage folder, test/helpers/test-backend.ts). The cluster is stopped
 * (immediate mode: nothing in it is worth a checkpoint) and removed when the
 * process that started it exits.
 *
 * Which cluster: under `npm run test:pg`, the one that test/pg-pass.ts starts
 * for the whole run and names in PYDEPOT_TEST_PG_URL (initdb and a start cost
 * seconds, and ava runs each test file in a process of its own); every test
 * process makes its databases there and drops them when it exits. Otherwise
 * each test process starts its own on first use. A test that stops or
 * restarts PostgreSQL takes a cluster of its own (startCluster,
 * stoppableCluster): the run's cluster refuses stop() and start().
 *
 * Each cluster's folder records its owner's pid (`owner.pid`): a process
 * killed with SIGKILL cannot stop its cluster, so whoever starts a cluster
 * first stops and removes those whose owner is dead (sweepStrayClusters).
 *
 * The binaries come from the PATH or Debian's /usr/lib/postgresql/<v>/bin
 * (the `postgresql` package). initdb refuses to run as root, so as root
 * (CI) they run as the `postgres` system user, which owns the temp folder.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import pg from 'pg';

const execFileAsync = promisify(execFile);

/** Set by test/pg-pass.ts for the test processes of its run: the admin URL of the run's cluster. */
export const SHARED_PG_URL_ENV = 'PYDEPOT_TEST_PG_URL';

/** What startCluster's folders are called (in tmpdir()): the sweep looks for these. */
const DIR_PREFIX = 'pydepot-pg-';
/** In a cluster's folder: the pid of the process that started it (and stops it at its exit). */
const OWNER_FILE = 'owner.pid';

export interface PgCluster {
  port: number;
  /** The folder holding the data directory, the log and the socket ('' for the run's cluster: test/pg-pass.ts has it). */
  dir: string;
  /** A URL for `database` on this cluster (trust authentication: no password). */
  url(database: string): string;
  /** pg_ctl stop -m immediate: PostgreSQL gone at once, as if it crashed. */
  stop(): Promise<void>;
  /** Starts it again on the same port, waiting until it accepts connections (nothing when it runs). */
  start(): Promise<void>;
  /** Stops it and removes its folder (synchronous: it also runs at process exit). */
  destroy(): void;
}

function findBinDir(): string {
  const onPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) {
    const dir = dirname(realpathSync(onPath));
    if (existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions[0]) return join(root, versions[0], 'bin');
  throw new Error('PostgreSQL tests need initdb and pg_ctl: install Debian\'s `postgresql` package (apt-get install postgresql)');
}

/** Where initdb and pg_ctl are, or null when PostgreSQL is not installed (the bench then skips its group). */
export function postgresBinDir(): string | null {
  try {
    return findBinDir();
  } catch {
    return null;
  }
}

const asRoot = process.getuid?.() === 0;

function command(bin: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

// LC_ALL=C: no dependence on which locales the machine has; the schema sorts with COLLATE "C" anyway.
const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };

/** Without blocking the event loop: a worker's other tests go on while a cluster starts. */
async function run(bin: string, args: string[]): Promise<void> {
  const [cmd, argv] = command(bin, args);
  try {
    await execFileAsync(cmd, argv, { env, cwd: '/' });
  } catch (err) {
    const e = err as { code?: number; stderr?: string; stdout?: string };
    throw new Error(`${[cmd, ...argv].join(' ')} failed (${e.code}): ${e.stderr || e.stdout}`);
  }
}

/** At process exit, where only synchronous work runs. */
function runSync(bin: string, args: string[]): void {
  const [cmd, argv] = command(bin, args);
  spawnSync(cmd, argv, { env, cwd: '/', stdio: 'ignore' });
}

/** A loopback port nothing listens on (just now). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Is the process with this pid alive (EPERM: it is, someone else's)? A
 * zombie is not: in a container whose pid 1 reaps nobody, a dead process
 * (or a stopped postmaster) stays one.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: kill(0) is all there is
  }
}

/**
 * Stops (immediate) and removes every cluster folder in tmpdir() whose owner
 * (its `owner.pid`) is dead: left by a test process killed with SIGKILL, or
 * by a run of test:pg killed so. A folder without the file is left alone: it
 * is being made (the file comes right after the folder) or belongs to an
 * older helper that records no owner. Returns the folders removed.
 */
export async function sweepStrayClusters(): Promise<string[]> {
  const root = tmpdir();
  const removed: string[] = [];
  for (const name of readdirSync(root)) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(root, name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8').trim());
    } catch {
      continue;
    }
    if (!Number.isInteger(owner) || owner <= 0 || processAlive(owner)) continue;
    const data = join(dir, 'data');
    if (existsSync(join(data, 'postmaster.pid'))) {
      // Another process may be sweeping it at the same moment: its stop or ours fails, harmlessly.
      await run(join(findBinDir(), 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w']).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

let swept: Promise<unknown> | undefined;

export interface ClusterOptions {
  /** Default 300: what one test process may hold at once (pools of servers, replicas, CLI runs). */
  maxConnections?: number;
  /** Default 16MB. */
  sharedBuffers?: string;
}

/** A new cluster of its own (a test that stops PostgreSQL must not stop everyone's). */
export async function startCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  const bin = findBinDir();
  // Once per process, before its first cluster: the strays of killed processes.
  swept ??= sweepStrayClusters().catch(() => undefined);
  await swept;
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  writeFileSync(join(dir, OWNER_FILE), `${process.pid}\n`);
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  appendFileSync(join(data, 'postgresql.conf'), [
    '', "listen_addresses = '127.0.0.1'", `port = ${port}`, `unix_socket_directories = '${dir}'`,
    // fsync off: the machine never crashes under a test. synchronous_commit stays on: a
    // test stops PostgreSQL at once (immediate) and expects what was committed to be there.
    'fsync = off', 'full_page_writes = off',
    `max_connections = ${options.maxConnections ?? 300}`, `shared_buffers = ${options.sharedBuffers ?? '16MB'}`, '',
  ].join('\n'));
  const pgCtl = join(bin, 'pg_ctl');
  let running = false;
  const cluster: PgCluster = {
    port,
    dir,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async stop() {
      if (!running) return;
      await run(pgCtl, ['stop', '-D', data, '-m', 'immediate', '-w']);
      running = false;
    },
    async start() {
      if (running) return;
      await run(pgCtl, ['start', '-D', data, '-l', join(dir, 'log'), '-w', '-t', '60']);
      running = true;
    },
    destroy() {
      if (running) runSync(pgCtl, ['stop', '-D', data, '-m', 'immediate', '-w']);
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Stopped whatever way the process ends normally (ava's worker exits when its tests are done).
  process.once('exit', () => { try { cluster.destroy(); } catch { /* exiting anyway */ } });
  try {
    await cluster.start();
  } catch (err) {
    cluster.destroy();
    throw err;
  }
  return cluster;
}

/**
 * The run's cluster (PYDEPOT_TEST_PG_URL) as a PgCluster: others use it at the
 * same time, so it cannot be stopped, started or removed from here.
 */
function runCluster(adminUrl: string): PgCluster {
  const at = new URL(adminUrl);
  const refuse = (): never => {
    throw new Error('the test run\'s shared PostgreSQL cluster (PYDEPOT_TEST_PG_URL) is not to be stopped or started by a test: take one of your own (startCluster, stoppableCluster)');
  };
  return {
    port: Number(at.port),
    dir: '',
    url: (database) => {
      const u = new URL(adminUrl);
      u.pathname = `/${database}`;
      return u.href;
    },
    stop: async () => refuse(),
    start: async () => refuse(),
    destroy: refuse,
  };
}

const runUrl = process.env[SHARED_PG_URL_ENV] || undefined;
let shared: Promise<PgCluster> | undefined;
/** The databases this process made on the run's cluster: dropped at its exit (the cluster outlives it). */
const made: string[] = [];

/** The cluster this process's tests share: the run's (test:pg), else its own, started on first use. */
export function sharedCluster(): Promise<PgCluster> {
  shared ??= runUrl ? Promise.resolve(runCluster(runUrl)) : startCluster();
  return shared;
}

/**
 * A cluster that a test may stop and start: this process's own when it has
 * one (the test is serial: ava runs a file's serial tests before its
 * concurrent ones, so no other test of the process sees it down), else, under
 * the run's cluster, a new one removed after the test.
 */
export async function stoppableCluster(t: ExecutionContext): Promise<PgCluster> {
  if (!runUrl) return sharedCluster();
  const cluster = await startCluster();
  t.teardown(() => cluster.destroy());
  return cluster;
}

let count = 0;

/** A fresh, empty database (t_<pid>_<n>_<random>) for one test; returns its URL. */
export async function freshDatabase(cluster?: PgCluster): Promise<string> {
  const c = cluster ?? await sharedCluster();
  // The pid and a count tell whose it is in the run's cluster; the random part,
  // that a process with a reused pid later in the run does not collide.
  const name = `t_${process.pid}_${++count}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: c.url('postgres') });
  await admin.connect();
  try {
    // template0: never changed, so never "being accessed by other users" (template1 may be).
    // FILE_COPY: copying the template's 7 MB of files beat writing them through the WAL
    // (PostgreSQL 15's default) by 20-25% here, its two checkpoints cheap with fsync off.
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 STRATEGY FILE_COPY`).catch(async (err: { code?: string }) => {
      // 42601: before PostgreSQL 15, no STRATEGY (and always a file copy).
      if (err.code !== '42601') throw err;
      await admin.query(`CREATE DATABASE ${name} TEMPLATE template0`);
    });
  } finally {
    await admin.end();
  }
  if (runUrl && c.dir === '') {
    if (made.length === 0) process.once('exit', dropMade);
    made.push(name);
  }
  return c.url(name);
}

/**
 * At this process's exit, its databases on the run's cluster go (synchronous:
 * psql), whoever is still connected (FORCE): a run makes thousands, some 8 MB
 * each on disk.
 */
function dropMade(): void {
  if (!runUrl || made.length === 0) return;
  const args = ['-X', '-q', '-d', runUrl];
  for (const name of made.splice(0)) args.push('-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  try {
    spawnSync(join(findBinDir(), 'psql'), args, { env, cwd: '/', stdio: 'ignore', timeout: 60_000 });
  } catch { /* the run's cluster goes with its folder anyway */ }
}

/** freshDatabase for an ava test (the database is left to the cluster's removal, or to the process's exit on the run's cluster). */
export function pgDatabase(_t: ExecutionContext, cluster?: PgCluster): Promise<string> {
  return freshDatabase(cluster);
}

/** One statement on `url`, on a connection of its own; its rows. */
export async function pgQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
