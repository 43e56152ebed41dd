/**
 * One pg.Pool shared by every PostgreSQL store, with the two things each of
 * them needs: a query that turns "the database is not there" into
 * StorageUnavailable, and a transaction on one pooled connection.
 *
 * Only types are imported from `pg` here: open.ts loads the module itself
 * (dynamically), so the embedded default never pays for it.
 */
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { StorageUnavailable } from '../../errors.ts';

/** What a store runs its statements on: the pool, or a transaction's connection. */
export interface Queryable {
  /**
   * `name`: run it as a named prepared statement, parsed and planned once per
   * connection. Only for the few fixed reads every request makes (a page's
   * freshness lookup, a file row): measured with 32 concurrent callers, it
   * cuts PostgreSQL's CPU per lookup by about 40% and node-postgres's by
   * about 13%. Each name must always carry the same text. (PgBouncer in
   * transaction mode supports these from 1.21, max_prepared_statements > 0.)
   */
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[], name?: string): Promise<{ rows: R[]; rowCount: number | null }>;
}

const UNAVAILABLE_MESSAGE = 'The metadata database is unavailable. Try again later or tell the operator.';

// SQLSTATE classes and codes that mean the server is gone or not accepting
// work, as opposed to a statement it rejected (a bug, a constraint):
// 08 connection exception, 57P01-57P03 shutdown / cannot connect now,
// 53300 too many connections, 3D000 no such database (dropped under us).
const UNAVAILABLE_SQLSTATE = /^(08|57P0[123]$|53300$|3D000$)/;
// Errors of the socket or of node-postgres itself, which carry no SQLSTATE.
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOENT']);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection terminated unexpectedly|the database system is (starting up|shutting down|in recovery mode)/;

/** Whether an error from node-postgres means the database cannot be reached (rather than a bad statement). */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NODE_CODES.has(code))) return true;
  // AggregateError: every address of a host name refused.
  if (err instanceof AggregateError && err.errors.some(isUnavailable)) return true;
  return UNAVAILABLE_MESSAGES.test(err.message);
}

function mapError(err: unknown): unknown {
  return isUnavailable(err) ? new StorageUnavailable(err, UNAVAILABLE_MESSAGE) : err;
}

const DEADLOCK = '40P01';
const SERIALIZATION_FAILURE = '40001';
const TX_ATTEMPTS = 3;

export class PgDb implements Queryable {
  private ended = false;
  /** sharedRow's reads by statement and parameters, while one is in flight. */
  private readonly rounds = new Map<string, SharedRead>();

  constructor(readonly pool: Pool) {
    // An idle connection whose server went away (PostgreSQL restarted) emits
    // 'error' on the pool; without a listener that would crash the process.
    // The pool drops that connection and the next query opens a new one.
    pool.on('error', () => {});
  }

  async query<R extends QueryResultRow = QueryResultRow>(sql: string, params: unknown[] = [], name?: string): Promise<{ rows: R[]; rowCount: number | null }> {
    try {
      return await (name === undefined ? this.pool.query<R>(sql, params) : this.pool.query<R>({ name, text: sql, values: params }));
    } catch (err) {
      throw mapError(err);
    }
  }

  /**
   * The first row of a named read, shared by the callers that ask for the
   * same row at about the same time: a request herd asking one page's
   * freshness makes one query per round trip, not one per request.
   *
   * A caller never gets an answer from before it asked: it joins only a
   * query not sent yet, and one is sent when the query in flight (if any)
   * returns. So an upload committed before a request arrived on any replica
   * is seen by that request, as with a query of its own. Measured on the
   * 3-replica page bench (issue 15), node-postgres spends about 80 µs of CPU
   * per query, several times the page's other work; under load most
   * requests share one.
   *
   * Each caller gets its own shallow copy of the row.
   */
  async sharedRow<R extends QueryResultRow>(sql: string, params: string[], name: string): Promise<R | null> {
    const key = `${name}\u0000${params.join('\u0000')}`;
    let round = this.rounds.get(key);
    if (!round) {
      round = new SharedRead(() => this.query<R>(sql, params, name).then((r) => r.rows[0] ?? null), () => this.rounds.delete(key));
      this.rounds.set(key, round);
    }
    const row = (await round.join()) as R | null;
    return row === null ? null : { ...row };
  }

  /**
   * Runs `fn` in one transaction on one connection: committed when it
   * returns, rolled back when it throws. A connection that failed is
   * destroyed rather than given back to the pool.
   *
   * SQLite runs one writer at a time; PostgreSQL runs them side by side and
   * breaks the rare deadlock between two (a page saved while a cached copy
   * of one of its files is forgotten) by failing one of them: that one is
   * run again, from the start, as SQLite would have run it after the other.
   * `fn` must therefore have no effect outside the database.
   */
  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.txOnce(fn);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (attempt >= TX_ATTEMPTS || (code !== DEADLOCK && code !== SERIALIZATION_FAILURE)) throw err;
      }
    }
  }

  private async txOnce<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapError(err);
    }
    const q: Queryable = {
      query: async <R extends QueryResultRow>(sql: string, params: unknown[] = [], name?: string) =>
        (name === undefined ? client.query<R>(sql, params) : client.query<R>({ name, text: sql, values: params })),
    };
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(q);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      if (isUnavailable(err)) broken = err as Error;
      else await client.query('ROLLBACK').catch((e: unknown) => { broken = e as Error; });
      throw mapError(err);
    } finally {
      client.release(broken);
    }
  }

  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.pool.end();
  }
}

/**
 * One statement's reads for sharedRow: at most one in flight and one
 * waiting. Callers join the waiting one (sent when the one in flight
 * returns), or start one when nothing is in flight.
 */
class SharedRead {
  private waiting: { promise: Promise<unknown>; resolve(v: unknown): void; reject(e: unknown): void } | null = null;
  private inFlight = false;

  constructor(private readonly read: () => Promise<unknown>, private readonly idle: () => void) {}

  join(): Promise<unknown> {
    if (!this.inFlight) return this.send();
    if (!this.waiting) {
      let resolve!: (v: unknown) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<unknown>((res, rej) => { resolve = res; reject = rej; });
      this.waiting = { promise, resolve, reject };
    }
    return this.waiting.promise;
  }

  private send(): Promise<unknown> {
    this.inFlight = true;
    const sent = this.read();
    const next = (): void => {
      this.inFlight = false;
      const waiting = this.waiting;
      this.waiting = null;
      if (!waiting) return this.idle();
      this.send().then(waiting.resolve, waiting.reject);
    };
    sent.then(next, next);
    return sent;
  }
}

/** ms since epoch by the database's clock: replicas on other machines read the same one. */
export const DB_NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/**
 * Keys of pg_advisory_xact_lock(namespace, key): writers that read before
 * they write (the duplicate check of an upload, a page's serial) take one,
 * as SQLite's BEGIN IMMEDIATE serialises them.
 */
export const LOCK_NAMESPACE = { migrations: 0x70796470, repo: 1, page: 2, root: 3, cooldown: 4 } as const;

export async function lockKey(q: Queryable, namespace: number, key: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [namespace, key]);
}
