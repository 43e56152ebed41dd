/**
 * A throw-away PostgreSQL for tests: a cluster made with `initdb` in a temp
 * folder and started with `pg_ctl` on a random loopback port (and a Unix
 * socket in that folder), fsync off. One cluster per test process (an ava
 * worker), a fresh database per test; the cluster is stopped (immediate
 * mode: nothing in it is worth a checkpoint) and removed when the process exits.
 *
 * The binaries come from the PATH or Debian's /usr/lib/postgresql/<v>/bin
 * (the `postgresql` package). initdb refuses to run as root, so as root
 * (CI) they run as the `postgres` system user, which owns the temp folder.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import pg from 'pg';

const execFileAsync = promisify(execFile);

export interface PgCluster {
  port: number;
  /** The folder holding the data directory, the log and the socket. */
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

/** A new cluster of its own (a test that stops PostgreSQL must not stop everyone's). */
export async function startCluster(): Promise<PgCluster> {
  const bin = findBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'pydepot-pg-'));
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
    'max_connections = 300', 'shared_buffers = 16MB', '',
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

let shared: Promise<PgCluster> | undefined;

/** This process's cluster, started on first use. */
export function sharedCluster(): Promise<PgCluster> {
  shared ??= startCluster();
  return shared;
}

/** A fresh, empty database (t_<random>) for one test; returns its URL. */
export async function freshDatabase(cluster?: PgCluster): Promise<string> {
  const c = cluster ?? await sharedCluster();
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: c.url('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return c.url(name);
}

/** freshDatabase for an ava test (the database is left to the cluster's removal). */
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
