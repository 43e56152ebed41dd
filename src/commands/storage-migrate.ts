/**
 * `pydepot storage migrate --to postgres://… [--blobs s3://bucket/prefix?endpoint=…]`:
 * the embedded depot of the config's storage folder (its SQLite database, and
 * its blobs with --blobs) copied into PostgreSQL (and S3). The copier is
 * src/storage/migrate-pg.ts; this parses, draws the progress, prints the
 * closing table and says what to put in the config next.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type BlobsConfig } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { FsBlobStore } from '../storage/blob-fs.ts';
import { migrateToPg, openTarget, redactUrl, type MigrateProgress, type MigrateResult } from '../storage/migrate-pg.ts';
import type { BlobStore } from '../storage/types.ts';
import { configFrom, printErr, printOut, terminalBar, UsageError, type CommonOptions, type Io } from './context.ts';
import { formatBytes, seconds, table } from './wheelhouse.ts';

export interface StorageMigrateOptions extends CommonOptions {
  to: string;
  blobs?: string;
  batchSize?: string;
  json?: boolean;
}

/** --to and --blobs validated as the config's `database` and `blobs` keys are. */
function parseTargets(opts: StorageMigrateOptions): { url: string; blobs: BlobsConfig | null } {
  try {
    const parsed = parseConfig({ database: opts.to, ...(opts.blobs !== undefined ? { blobs: opts.blobs } : {}) });
    if (!parsed.database) throw new UsageError('--to: expected a postgres://user@host:5432/dbname URL');
    if (opts.blobs !== undefined && parsed.blobs.type !== 's3') throw new UsageError('--blobs: expected s3://BUCKET/PREFIX?endpoint=…');
    return { url: parsed.database.url, blobs: opts.blobs !== undefined ? parsed.blobs : null };
  } catch (err) {
    // The config's message names its keys; here they are the flags.
    if (err instanceof ConfigError) throw new UsageError(err.message.replace(/^config key 'database'/, '--to').replace(/^config key 'blobs(\.\w+)?'/, '--blobs'));
    throw err;
  }
}

async function s3Store(staging: string, blobs: BlobsConfig & { type: 's3' }): Promise<BlobStore> {
  // The AWS SDK is loaded only when a bucket is involved.
  const store = new (await import('../storage/blob-s3.ts')).S3BlobStore(staging, blobs);
  await store.init();
  return store;
}

function progress(io: Io): { update(p: MigrateProgress): void; stop(): void } {
  if (!io.isTTY) return { update() {}, stop() {} };
  let phase: MigrateProgress['phase'] | null = null;
  let bar: ReturnType<typeof terminalBar> | null = null;
  return {
    update(p) {
      if (p.phase !== phase) {
        bar?.stop();
        phase = p.phase;
        bar = terminalBar(io, {
          format: p.phase === 'rows'
            ? 'copying rows  [{bar}] {percentage}% | {value}/{total} rows | {table} | ETA {eta_formatted}'
            : 'copying blobs [{bar}] {percentage}% | {value}/{total} blobs | {bytes} | {corrupt} corrupt | ETA {eta_formatted}',
          etaBuffer: 100,
          fps: 10,
        });
      }
      if (p.phase === 'rows') bar!.show(p.done, Math.max(p.total, 1), { table: p.table });
      else bar!.show(p.done, Math.max(p.total, 1), { bytes: formatBytes(p.bytes), corrupt: p.corrupt });
    },
    stop: () => bar?.stop(),
  };
}

function printSummary(io: Io, r: MigrateResult): void {
  const cells = [['table', 'rows', 'copied', 'already there'], ...r.tables.map((t) => [t.table, String(t.rows), String(t.copied), String(t.skipped)])];
  const sum = (k: 'rows' | 'copied' | 'skipped'): string => String(r.tables.reduce((n, t) => n + t[k], 0));
  cells.push(['total', sum('rows'), sum('copied'), sum('skipped')]);
  for (const line of table(cells, new Set([1, 2, 3]))) printOut(io, line);
  if (r.blobs) {
    const b = r.blobs;
    printOut(io, `blobs: ${b.copied} copied (${formatBytes(b.bytesCopied)}), ${b.skipped} already there, ${b.corrupt.length} corrupt, of ${b.total}`);
  } else {
    printOut(io, 'blobs: not copied (no --blobs): they stay where the config has them');
  }
  printOut(io, `time: ${seconds(r.ms)}`);
}

export async function storageMigrate(opts: StorageMigrateOptions, io: Io): Promise<void> {
  const config = configFrom(opts, io);
  if (config.database) throw new UsageError(`the config's metadata is in PostgreSQL already (database: ${redactUrl(config.database.url)}): storage migrate copies the SQLite database of an embedded depot`);
  const { url, blobs } = parseTargets(opts);
  const batchSize = opts.batchSize === undefined ? 500 : Number(opts.batchSize);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 5000) throw new UsageError(`--batch-size: expected a number of rows from 1 to 5000, got ${JSON.stringify(opts.batchSize)}`);

  // S3 stores stage their transfers in <root>/tmp: a folder of ours, never the source's.
  const staging = await mkdtemp(join(tmpdir(), 'pydepot-migrate-'));
  const target = await openTarget(url);
  const bar = progress(io);
  let result: MigrateResult;
  try {
    let blobsFrom: BlobStore | undefined;
    let blobsTo: BlobStore | undefined;
    if (blobs && blobs.type === 's3') {
      // Read only: list and open; FsBlobStore's init (which creates folders) is not called.
      blobsFrom = config.blobs.type === 's3' ? await s3Store(join(staging, 'source'), config.blobs) : new FsBlobStore(config.storage);
      blobsTo = await s3Store(join(staging, 'target'), blobs);
    }
    result = await migrateToPg({
      sqliteFile: join(config.storage, 'pydepot.db'),
      target,
      blobsFrom,
      blobsTo,
      batchSize,
      onProgress: (p) => bar.update(p),
    });
  } finally {
    bar.stop();
    await target.end();
    await rm(staging, { recursive: true, force: true });
  }

  if (opts.json) {
    printOut(io, JSON.stringify({
      instance: result.instance, target: redactUrl(url), resumed: !result.started, rowsAlreadyDone: result.rowsAlreadyDone,
      tables: result.tables, blobs: result.blobs, seconds: result.ms / 1000,
    }, null, 2));
  } else {
    if (!result.started) printErr(io, result.rowsAlreadyDone ? 'the rows were copied by an earlier run: not copied again' : 'went on with an earlier, interrupted run (rows and blobs already there were skipped)');
    printSummary(io, result);
  }
  const corrupt = result.blobs?.corrupt ?? [];
  for (const c of corrupt) {
    printErr(io, `CORRUPT blob ${c.sha256} (${formatBytes(c.size)}): its bytes hash to ${c.actual}; not copied. Run \`pydepot scrub\` on the source, then migrate again`);
  }
  if (corrupt.length > 0) throw new UsageError(`${corrupt.length} corrupt blob${corrupt.length === 1 ? '' : 's'} not copied: the target lacks ${corrupt.length === 1 ? 'it' : 'them'}`);
  if (!opts.json) {
    printErr(io, `done. Now stop using ${config.storage} for this depot: set in the config`);
    printErr(io, `  database: ${redactUrl(url)}`);
    if (opts.blobs !== undefined) printErr(io, `  blobs: ${opts.blobs}`);
    printErr(io, 'and start the server on it.');
  }
}
