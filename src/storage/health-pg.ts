/**
 * What `pydepot doctor` asks of a PostgreSQL metadata database
 * (`database: postgres://…`), without changing it: can it be reached with
 * these credentials, which server version, which schema version against this
 * pydepot's, how many connections are free, and how many leases were left
 * by holders that stopped renewing them. Nothing is created and no migration
 * runs (openPgStores would do both): the one connection is made read-only
 * first thing, so a mistake here could not write either.
 *
 * `pg` is imported dynamically, as in open.ts: the embedded default never loads it.
 */
import { PG_MIGRATIONS } from './pg/migrations.ts';

/** pydepot's schema needs PostgreSQL 13 (gen_random_uuid() without pgcrypto). */
export const MIN_SERVER_VERSION = 13;

export interface PgSchemaHealth {
  /** The newest migration recorded in pydepot_migrations; 0: none (a database pydepot has not used yet). */
  current: number;
  /** The newest migration this pydepot knows. */
  latest: number;
  /** With current 0: how many tables the schema holds anyway (not pydepot's: perhaps the wrong database). */
  otherTables: number;
}

export interface PgConnectionsHealth {
  /** max_connections. */
  max: number;
  /** superuser_reserved_connections plus reserved_connections (PostgreSQL 16+): slots ordinary users never get. */
  reserved: number;
  /** Client sessions now (this check's own left out), idle pooled ones included: each holds a slot. */
  inUse: number;
  /** Of those, pydepot processes' pools (application_name 'pydepot'). */
  pydepot: number;
}

export interface PgLeasesHealth {
  live: number;
  /** Live heartbeat leases of servers (`server:…`): the pydepot servers running on this database. */
  liveServers: number;
  /** Expired rows by kind (the key's part before ':'), most first. */
  expired: { kind: string; count: number }[];
  /** How long ago the oldest expired lease lapsed, ms by the database's clock; null when none. */
  oldestExpiredAgoMs: number | null;
}

/** A part that could not be read (no privilege, a statement timeout), with the server's reason. */
export type Part<T> = T | { error: string };

export type PgHealth =
  | { reachable: false; where: string; reason: string; code: string | null }
  | {
    reachable: true;
    where: string;
    /** server_version, as the server spells it (`16.4 (Debian 16.4-1)`). */
    version: string;
    /** The major version (server_version_num / 10000). */
    major: number;
    schema: Part<PgSchemaHealth>;
    connections: Part<PgConnectionsHealth>;
    /** null: no leases table yet (the schema is not there). */
    leases: Part<PgLeasesHealth> | null;
  };

const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** The server's (or the socket's) reason; an AggregateError (every address of a host name failed) has none of its own. */
function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && !err.message) return [...new Set(err.errors.map(reasonOf))].join('; ');
  return err instanceof Error ? err.message : String(err);
}

async function part<T>(f: () => Promise<T>): Promise<Part<T>> {
  try {
    return await f();
  } catch (err) {
    return { error: reasonOf(err) };
  }
}

export async function inspectPostgres(url: string, opts: { connectTimeoutMs?: number } = {}): Promise<PgHealth> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    application_name: 'pydepot doctor',
  });
  // The URL's user, host, port and database as the driver resolved them (PGHOST, PGUSER… fill gaps); never the password.
  const where = `${client.host}:${client.port}/${client.database ?? ''}${client.user ? ` as ${client.user}` : ''}`;
  // A connection that breaks later emits 'error'; the query that was running rejects anyway.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    await client.end().catch(() => {});
    return { reachable: false, where, reason: reasonOf(err), code: typeof code === 'string' ? code : null };
  }
  try {
    // Read-only for the whole session (SET after the connect: an `options` parameter in the URL would
    // replace one given to the driver), and no statement waits long behind a lock (a migration running).
    await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; SET statement_timeout = 10000');
    const { rows: [v] } = await client.query<{ version: string; num: string }>(
      "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num");
    const schema = await part(async (): Promise<PgSchemaHealth> => {
      const latest = PG_MIGRATIONS.at(-1)?.version ?? 0;
      const { rows: [t] } = await client.query<{ has: boolean; tables: number }>(`SELECT to_regclass('pydepot_migrations') IS NOT NULL AS has,
        (SELECT count(*)::int FROM pg_tables WHERE schemaname = current_schema()) AS tables`);
      if (!t!.has) return { current: 0, latest, otherTables: t!.tables };
      const { rows: [m] } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM pydepot_migrations');
      return { current: m!.v ?? 0, latest, otherTables: 0 };
    });
    const connections = await part(async (): Promise<PgConnectionsHealth> => {
      // Another user's session shows backend_type NULL unless this user may see its details
      // (pg_read_all_stats): then a database named (datid) tells a client from the server's own processes.
      const { rows: [c] } = await client.query<PgConnectionsHealth>(`SELECT
        current_setting('max_connections')::int AS max,
        current_setting('superuser_reserved_connections')::int + coalesce(current_setting('reserved_connections', true), '0')::int AS reserved,
        count(*) FILTER (WHERE backend_type = 'client backend' OR (backend_type IS NULL AND datid IS NOT NULL))::int AS "inUse",
        count(*) FILTER (WHERE application_name = 'pydepot')::int AS pydepot
        FROM pg_stat_activity WHERE pid <> pg_backend_pid()`);
      return c!;
    });
    const leases = await part(async (): Promise<PgLeasesHealth | null> => {
      const { rows: [has] } = await client.query<{ has: boolean }>("SELECT to_regclass('leases') IS NOT NULL AS has");
      if (!has!.has) return null;
      // One reading of the database's clock (the one leases expire by) for every row.
      const { rows } = await client.query<{ kind: string; live: boolean; n: number; oldest: string; now: string }>(`
        WITH clock AS (SELECT ${NOW_MS} AS now)
        SELECT split_part(key, ':', 1) AS kind, expires_at > clock.now AS live, count(*)::int AS n,
               min(expires_at)::text AS oldest, clock.now::text AS now
        FROM leases, clock GROUP BY 1, 2, clock.now`);
      const expiredRows = rows.filter((r) => !r.live).sort((a, b) => b.n - a.n || a.kind.localeCompare(b.kind));
      const oldest = expiredRows.length > 0 ? Math.min(...expiredRows.map((r) => Number(r.oldest))) : null;
      return {
        live: rows.filter((r) => r.live).reduce((s, r) => s + r.n, 0),
        liveServers: rows.find((r) => r.live && r.kind === 'server')?.n ?? 0,
        expired: expiredRows.map((r) => ({ kind: r.kind, count: r.n })),
        oldestExpiredAgoMs: oldest === null ? null : Number(expiredRows[0]!.now) - oldest,
      };
    });
    return { reachable: true, where, version: v!.version, major: Math.floor(Number(v!.num) / 10000), schema, connections, leases };
  } catch (err) {
    // The server went away between the connect and the first query.
    return { reachable: false, where, reason: reasonOf(err), code: null };
  } finally {
    await client.end().catch(() => {});
  }
}
