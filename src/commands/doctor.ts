/**
 * `pydepot doctor`: checks an installation without changing it (no folder is
 * created, no migration runs) and prints one line per finding, with what to
 * do about each problem. Exit 1 when any finding is an error; warnings alone
 * exit 0.
 *
 * Checks: the config loads; the TLS certificate and key load and the
 * certificate is not expired (a warning within 30 days); the storage folder
 * is writable and has room (a warning under --min-free or --min-free-percent);
 * the embedded database passes PRAGMA quick_check and has no pending or
 * unknown migrations; with `database: postgres://…` instead, PostgreSQL
 * answers with these credentials, is 13 or later, its schema is this
 * pydepot's (or older: migrated at the next start), its free connections
 * leave room for this pydepot's pool, and which leases have lapsed
 * (informational); nothing sits in quarantine; an S3 bucket (`blobs: {type: s3}`)
 * answers; each remote's upstream answers as a simple index (format and API
 * version; offline remotes are skipped).
 */
import { X509Certificate } from 'node:crypto';
import { parseByteSize, type Config } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { plural } from '../format.ts';
import { inspectStorage } from '../storage/health.ts';
import { inspectPostgres, MIN_SERVER_VERSION, type PgHealth } from '../storage/health-pg.ts';
import { loadTlsFiles } from '../tls.ts';
import { UpstreamClient } from '../upstream/client.ts';
import { probeIndex } from '../upstream/probe.ts';
import { configFrom, printOut, UsageError, type CommonOptions, type Io } from './context.ts';
import { formatBytes } from './wheelhouse.ts';

/** info: worth knowing, nothing to do (a database that the next start will set up, leases that lapse by themselves). */
export type Level = 'ok' | 'info' | 'warn' | 'error';

export interface Finding {
  level: Level;
  /** What was checked: config, tls, storage, database, connections, leases, blobs, upstream:<repo>. */
  check: string;
  message: string;
  /** What to do about it (warnings and errors). */
  fix?: string;
}

export interface DoctorOptions extends CommonOptions {
  json?: boolean;
  minFree?: string;
  minFreePercent?: string;
}

const DAY_MS = 86_400_000;
const CERT_WARN_DAYS = 30;

function certificate(config: Config, now: number): Finding[] {
  if (!config.tls) return [];
  let cert: Buffer;
  try {
    cert = loadTlsFiles(config.tls).cert;
  } catch (err) {
    return [{ level: 'error', check: 'tls', message: (err as Error).message, fix: 'point tls.cert and tls.key at a readable PEM certificate and its unencrypted key' }];
  }
  const x = new X509Certificate(cert);
  const until = new Date(x.validTo);
  const days = Math.floor((until.getTime() - now) / DAY_MS);
  if (until.getTime() <= now) {
    return [{ level: 'error', check: 'tls', message: `the certificate ${config.tls.cert} expired on ${until.toISOString()}: clients refuse the connection`, fix: 'renew the certificate, replace the file and restart pydepot' }];
  }
  if (days < CERT_WARN_DAYS) {
    return [{ level: 'warn', check: 'tls', message: `the certificate ${config.tls.cert} expires in ${plural(days, 'day')} (${until.toISOString()})`, fix: 'renew the certificate before then, replace the file and restart pydepot' }];
  }
  return [{ level: 'ok', check: 'tls', message: `certificate valid until ${until.toISOString()} (${days} days), key matches` }];
}

async function storage(config: Config, minFree: number, minFreePercent: number): Promise<Finding[]> {
  const h = await inspectStorage(config.storage, { sqlite: config.database === null });
  if (!h.exists) {
    return [{ level: 'warn', check: 'storage', message: `the storage folder ${config.storage} does not exist yet`, fix: 'it is made at the first start; check that the storage key (or PYDEPOT_STORAGE) names the folder you mean' }];
  }
  const out: Finding[] = [];
  for (const u of h.unwritable) {
    out.push({ level: 'error', check: 'storage', message: `cannot write in ${u.dir} (${u.reason})`, fix: `give the user pydepot runs as write access: chown -R <user> ${config.storage}` });
  }
  if (h.unwritable.length === 0) out.push({ level: 'ok', check: 'storage', message: `${config.storage} is writable` });
  if (h.space) {
    const percent = h.space.total > 0 ? (h.space.free / h.space.total) * 100 : 100;
    const text = `${formatBytes(h.space.free)} free of ${formatBytes(h.space.total)} (${percent.toFixed(1)}%)`;
    if (h.space.free < minFree || percent < minFreePercent) {
      out.push({ level: 'warn', check: 'storage', message: `low on space: ${text}; uploads fail with 507 and downloads with 503 when it runs out`, fix: 'free space (pydepot gc), set maxCacheSize on remotes, or grow the filesystem' });
    } else {
      out.push({ level: 'ok', check: 'storage', message: text });
    }
  }
  if (h.quarantined > 0) {
    out.push({ level: 'warn', check: 'storage', message: `${plural(h.quarantined, 'corrupt blob')} in ${config.storage}/quarantine`, fix: 'see the scrub report for the files they held (hosted ones must be uploaded again); then delete the quarantine folder' });
  }
  // With PostgreSQL, a pydepot.db left in the folder (a migrated depot) is not the database: postgres() checks that.
  if (config.database) return out;
  const db = h.database;
  if (db === null) {
    out.push({ level: 'warn', check: 'database', message: 'no database yet', fix: 'it is made at the first start' });
  } else if ('error' in db) {
    out.push({ level: 'error', check: 'database', message: `cannot read ${config.storage}/pydepot.db: ${db.error}`, fix: 'restore pydepot.db from a backup' });
  } else {
    if (db.problems.length === 1 && db.problems[0] === 'ok') out.push({ level: 'ok', check: 'database', message: `integrity ok (quick_check), schema version ${db.schemaVersion}` });
    else out.push({ level: 'error', check: 'database', message: `integrity check failed: ${db.problems.join('; ')}`, fix: 'stop pydepot and restore pydepot.db from a backup (or try sqlite3 pydepot.db .recover)' });
    if (db.schemaVersion > db.latestVersion) {
      out.push({ level: 'error', check: 'database', message: `the schema (version ${db.schemaVersion}) is newer than this pydepot knows (${db.latestVersion})`, fix: 'run the pydepot release that wrote it, or a newer one' });
    } else if (db.schemaVersion < db.latestVersion) {
      const n = db.latestVersion - db.schemaVersion;
      out.push({ level: 'warn', check: 'database', message: `${plural(n, 'migration')} pending (schema ${db.schemaVersion}, this pydepot ${db.latestVersion})`, fix: 'back up pydepot.db: they run at the next start' });
    }
  }
  return out;
}

/** Why a connection failed, as what to do: the driver's SQLSTATE or socket code says which part is wrong. */
function connectFix(code: string | null): string {
  if (code === '28P01' || code === '28000') return 'check the user and password (in the URL, or PGPASSWORD) and pg_hba.conf';
  if (code === '3D000') return 'create the database (createdb, or CREATE DATABASE): pydepot creates its tables, not the database';
  return 'check that PostgreSQL runs and listens at that host and port (listen_addresses, port), the firewall, and sslmode';
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return plural(s, 'second');
  if (s < 7200) return plural(Math.round(s / 60), 'minute');
  if (s < 2 * 86_400) return plural(Math.round(s / 3600), 'hour');
  return plural(Math.round(s / 86_400), 'day');
}

/**
 * `database: postgres://…`: the findings of inspectPostgres. Exported for
 * the cases a test server cannot show (a PostgreSQL older than 13).
 */
export function postgresFindings(h: PgHealth, pool: { workers: number; poolSize: number }): Finding[] {
  if (!h.reachable) {
    return [{ level: 'error', check: 'database', message: `cannot connect to PostgreSQL at ${h.where}: ${h.reason}`, fix: connectFix(h.code) }];
  }
  const out: Finding[] = [];
  if (h.major < MIN_SERVER_VERSION) {
    out.push({ level: 'error', check: 'database', message: `PostgreSQL ${h.version} at ${h.where} is older than ${MIN_SERVER_VERSION}, which pydepot needs`, fix: `upgrade PostgreSQL to ${MIN_SERVER_VERSION} or later` });
  } else {
    out.push({ level: 'ok', check: 'database', message: `PostgreSQL ${h.version} at ${h.where} answers` });
  }

  const s = h.schema;
  if ('error' in s) {
    out.push({ level: 'error', check: 'database', message: `cannot read the schema version: ${s.error}`, fix: 'grant the user SELECT on pydepot\'s tables (pydepot_migrations)' });
  } else if (s.current === 0 && s.otherTables > 0) {
    out.push({
      level: 'warn', check: 'database', message: `no pydepot tables, but ${plural(s.otherTables, 'other table')}: pydepot adds its own (schema version ${s.latest}) at the next start`,
      fix: 'check that `database` names the database you mean (pydepot is best in a database of its own)',
    });
  } else if (s.current === 0) {
    out.push({ level: 'info', check: 'database', message: `an empty database: it will be migrated at the next start (pydepot creates its tables, schema version ${s.latest})` });
  } else if (s.current > s.latest) {
    out.push({
      level: 'error', check: 'database', message: `the schema (version ${s.current}) is newer than this pydepot knows (${s.latest}): this pydepot is older than the schema, and refuses to start on it`,
      fix: 'run the pydepot release that migrated it, or a newer one',
    });
  } else if (s.current < s.latest) {
    // As with pydepot.db: real data is about to be migrated, so a backup first.
    out.push({
      level: 'warn', check: 'database', message: `${plural(s.latest - s.current, 'migration')} pending (schema ${s.current}, this pydepot ${s.latest}): it will be migrated at the next start`,
      fix: 'back up the database (pg_dump) first',
    });
  } else {
    out.push({ level: 'ok', check: 'database', message: `schema version ${s.current}, this pydepot's` });
  }

  const c = h.connections;
  if ('error' in c) {
    out.push({ level: 'warn', check: 'connections', message: `cannot count the connections: ${c.error}`, fix: 'check the user\'s privileges (pg_stat_activity)' });
  } else {
    // This process's pools, one per worker. Other replicas' needs are not known here (only the
    // connections they hold now), hence half of what is free rather than all of it. While this
    // pydepot runs, its own connections are among those in use: the check errs on the safe side.
    const need = pool.workers * pool.poolSize;
    const free = c.max - c.reserved - c.inUse;
    const counts = `max_connections ${c.max}, ${c.inUse} in use (${c.pydepot} by pydepot), ${c.reserved} reserved`;
    const mine = pool.workers === 1 ? `databasePoolSize ${pool.poolSize}` : `${pool.workers} workers × databasePoolSize ${pool.poolSize}`;
    if (need > free / 2) {
      out.push({
        level: 'warn', check: 'connections', message: `this pydepot's pool (${mine} = ${need}) would take more than half of the ${Math.max(free, 0)} connections free (${counts})`,
        fix: 'replicas × workers × databasePoolSize, plus the CLI\'s runs, must stay under max_connections: raise max_connections, lower databasePoolSize or workers, or put PgBouncer (transaction mode) in front',
      });
    } else {
      out.push({ level: 'ok', check: 'connections', message: `${free} free (${counts}); this pydepot's pool takes up to ${need} (${mine})` });
    }
  }

  const l = h.leases;
  if (l === null) return out;
  if ('error' in l) {
    out.push({ level: 'warn', check: 'leases', message: `cannot read the leases: ${l.error}`, fix: 'grant the user SELECT on pydepot\'s tables (leases)' });
    return out;
  }
  const live = `${plural(l.live, 'live lease')} (${plural(l.liveServers, 'server')} running)`;
  const expired = l.expired.reduce((n, e) => n + e.count, 0);
  if (expired === 0) {
    out.push({ level: 'ok', check: 'leases', message: `${live}, none expired` });
  } else {
    const kinds = l.expired.map((e) => `${e.kind} ${e.count}`).join(', ');
    out.push({
      level: 'info', check: 'leases',
      message: `${plural(expired, 'expired lease')} (${kinds}; the oldest lapsed ${duration(l.oldestExpiredAgoMs ?? 0)} ago), left by processes that stopped or finished a job's round: nothing to do, they lapse by themselves (the next process that wants one takes it over); ${live}`,
    });
  }
  return out;
}

async function postgres(config: Config): Promise<Finding[]> {
  if (!config.database) return [];
  return postgresFindings(await inspectPostgres(config.database.url), { workers: config.workers, poolSize: config.database.poolSize });
}

/** With S3 blobs: does the bucket answer, with these credentials? */
async function bucket(config: Config): Promise<Finding[]> {
  const blobs = config.blobs;
  if (blobs.type !== 's3') return [];
  const { S3BlobStore } = await import('../storage/blob-s3.ts');
  const store = new S3BlobStore(config.storage, blobs);
  try {
    await store.checkBucket();
    return [{ level: 'ok', check: 'blobs', message: `${store.location} answers` }];
  } catch (err) {
    return [{
      level: 'error', check: 'blobs', message: (err as Error).message,
      fix: 'check blobs.endpoint, bucket, region and forcePathStyle, and the AWS credentials pydepot gets (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE)',
    }];
  } finally {
    store.close();
  }
}

async function upstreams(config: Config): Promise<Finding[]> {
  const remotes = Object.entries(config.repositories).flatMap(([name, rc]) => (rc.type === 'remote' ? [[name, rc] as const] : []));
  return Promise.all(remotes.map(async ([name, rc]): Promise<Finding> => {
    const check = `upstream:${name}`;
    if (rc.offline) return { level: 'ok', check, message: 'offline: not asked' };
    const client = new UpstreamClient({ url: rc.url, timeoutSeconds: rc.timeout, username: rc.username, password: rc.password });
    try {
      const p = await probeIndex(client);
      const where = client.displayUrl;
      if (!p.reachable) {
        return { level: 'error', check, message: p.error, fix: 'check the url, DNS, the firewall and HTTPS_PROXY; or set offline: true to serve only what is cached' };
      }
      if (p.status === 401 || p.status === 403) {
        return { level: 'error', check, message: `${where} refused pydepot's credentials (HTTP ${p.status})`, fix: 'set username and password on the repository' };
      }
      if (p.status !== 200) return { level: 'error', check, message: `${where} answered HTTP ${p.status}`, fix: 'check that url is the simple index (it ends in /simple/)' };
      if (p.problem !== null || p.format === null) return { level: 'error', check, message: `${where}: ${p.problem ?? 'not a simple index'}`, fix: 'check that url is the simple index (it ends in /simple/)' };
      const format = p.format === 'json' ? 'PEP 691 JSON' : 'PEP 503 HTML only (no JSON)';
      return { level: 'ok', check, message: `${where} answers in ${p.ms} ms: ${format}, API ${p.apiVersion}` };
    } finally {
      await client.close();
    }
  }));
}

function number(text: string | undefined, def: number, what: string, parse: (t: string) => number | null): number {
  if (text === undefined) return def;
  const n = parse(text);
  if (n === null) throw new UsageError(`${what}: cannot read ${JSON.stringify(text)}`);
  return n;
}

export async function runDoctor(opts: DoctorOptions, io: Io, now = Date.now()): Promise<Finding[]> {
  const minFree = number(opts.minFree, 1024 ** 3, '--min-free', parseByteSize);
  const minFreePercent = number(opts.minFreePercent, 5, '--min-free-percent', (t) => (/^\d+(\.\d+)?$/.test(t) ? Number(t) : null));
  let config: Config;
  try {
    config = configFrom(opts, io);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [{ level: 'error', check: 'config', message: err.message, fix: 'edit the key it names; the README lists every key' }];
  }
  const remotes = Object.values(config.repositories).filter((r) => r.type === 'remote').length;
  const findings: Finding[] = [{ level: 'ok', check: 'config', message: `loaded: ${Object.keys(config.repositories).length} repositories (${remotes} remote)` }];
  findings.push(...certificate(config, now));
  findings.push(...await storage(config, minFree, minFreePercent));
  findings.push(...await postgres(config));
  findings.push(...await bucket(config));
  findings.push(...await upstreams(config));
  return findings;
}

export async function doctor(opts: DoctorOptions, io: Io): Promise<void> {
  const findings = await runDoctor(opts, io);
  const errors = findings.filter((f) => f.level === 'error').length;
  const warnings = findings.filter((f) => f.level === 'warn').length;
  if (opts.json) {
    printOut(io, JSON.stringify({ ok: errors === 0, errors, warnings, findings }, null, 2));
  } else {
    const width = Math.max(...findings.map((f) => f.check.length));
    for (const f of findings) {
      printOut(io, `${f.level.padEnd(5)}  ${f.check.padEnd(width)}  ${f.message}${f.fix ? ` → ${f.fix}` : ''}`);
    }
    printOut(io, errors + warnings === 0 ? 'no problems found' : `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`);
  }
  if (errors > 0) throw new UsageError(`doctor found ${plural(errors, 'error')}`);
}
