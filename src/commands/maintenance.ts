/**
 * `pydepot scrub` and `pydepot gc`: the storage folder's upkeep, safe while
 * the server runs (src/repos/scrub.ts, src/repos/gc.ts say how). Each prints
 * a closing table (or `--json`); scrub draws a progress bar on a terminal.
 */
import { parseByteSize, type Config } from '../config/schema.ts';
import { collectGarbage, GC_GRACE_MS } from '../repos/gc.ts';
import { scrubBlobs, type ScrubProgress, type ScrubResult } from '../repos/scrub.ts';
import { printErr, printOut, terminalBar, UsageError, withStorage, type CommonOptions, type Io } from './context.ts';
import { formatBytes, seconds } from './wheelhouse.ts';

export interface ScrubCommandOptions extends CommonOptions {
  repo?: string[];
  rate?: string;
  json?: boolean;
}

/** The repositories whose blobs `--repo` names: a virtual one's members, down to the ones that store files. */
function storingRepos(config: Config, names: readonly string[]): string[] {
  const out = new Set<string>();
  const visit = (name: string): void => {
    const rc = config.repositories[name];
    if (!rc) throw new UsageError(`no repository named '${name}'. Configured: ${Object.keys(config.repositories).join(', ')}.`);
    if (rc.type === 'virtual') rc.members.forEach(visit);
    else out.add(name);
  };
  names.forEach(visit);
  return [...out];
}

function scrubProgress(io: Io): { update(p: ScrubProgress): void; stop(): void } {
  if (!io.isTTY) return { update() {}, stop() {} };
  const started = Date.now();
  const bar = terminalBar(io, {
    format: 'scrubbing [{bar}] {percentage}% | {blobs} blobs | {bytes} | {rate} | {corrupt} corrupt | ETA {eta_formatted}',
    etaBuffer: 100,
    fps: 10,
  });
  return {
    update(p) {
      bar.show(p.bytesDone, Math.max(p.bytesTotal, 1), {
        blobs: `${p.blobsDone}/${p.blobsTotal}`,
        bytes: `${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}`,
        rate: `${formatBytes(rateOf(p.bytesDone, Date.now() - started))}/s`,
        corrupt: p.corrupt,
      });
    },
    stop: () => bar.stop(),
  };
}

const rateOf = (bytes: number, ms: number): number => Math.round(bytes / Math.max(ms / 1000, 0.001));

function printScrub(io: Io, r: ScrubResult): void {
  const rows: [string, string][] = [
    ['blobs checked', String(r.checked)],
    ['bytes', formatBytes(r.bytes)],
    ['corrupt', String(r.corrupt.length)],
    ['time', seconds(r.ms)],
    ['rate', `${formatBytes(rateOf(r.bytes, r.ms))}/s`],
  ];
  if (r.vanished > 0) rows.push(['deleted meanwhile', String(r.vanished)]);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) printOut(io, `${k.padEnd(width)}  ${v}`);
  for (const c of r.corrupt) {
    for (const f of c.lost) {
      printErr(io, `CORRUPT hosted file ${f.repo}/${f.filename}${f.metadata ? ' (its metadata)' : ''}: sha256 ${c.sha256} now hashes to ${c.actual}; quarantined. It cannot be fetched again: upload it again, or restore the blob from a backup`);
    }
    if (c.lost.length === 0) {
      const where = c.refetch.length > 0 ? `cached by ${c.refetch.join(', ')}: fetched again from the upstream on the next request` : 'no repository uses it';
      printErr(io, `corrupt blob ${c.sha256} (${formatBytes(c.size)}), quarantined; ${where}`);
    }
  }
}

export async function scrub(opts: ScrubCommandOptions, io: Io): Promise<void> {
  let rate = 0;
  if (opts.rate !== undefined) {
    const n = parseByteSize(opts.rate);
    if (n === null) throw new UsageError(`--rate: expected bytes per second such as 50MiB, got ${JSON.stringify(opts.rate)}`);
    rate = n;
  }
  await withStorage(opts, io, async (storage, config) => {
    const repos = opts.repo && opts.repo.length > 0 ? storingRepos(config, opts.repo) : undefined;
    const progress = scrubProgress(io);
    let result: ScrubResult;
    try {
      result = await scrubBlobs({ ...storage, logger: io.logger() }, { repos, rate, onProgress: (p) => progress.update(p) });
    } finally {
      progress.stop();
    }
    if (opts.json) {
      printOut(io, JSON.stringify({
        checked: result.checked, bytes: result.bytes, seconds: result.ms / 1000, bytesPerSecond: rateOf(result.bytes, result.ms),
        vanished: result.vanished, corrupt: result.corrupt,
      }, null, 2));
    } else {
      printScrub(io, result);
    }
    const lost = result.corrupt.filter((c) => c.lost.length > 0).length;
    if (result.corrupt.length > 0) {
      throw new UsageError(`${result.corrupt.length} corrupt blob${result.corrupt.length === 1 ? '' : 's'} quarantined${lost > 0 ? `, ${lost} of them hosted files that must be uploaded again` : ''}`);
    }
  });
}

export interface GcCommandOptions extends CommonOptions {
  dryRun?: boolean;
  json?: boolean;
}

export async function gc(opts: GcCommandOptions, io: Io): Promise<void> {
  await withStorage(opts, io, async (storage) => {
    const r = await collectGarbage({ ...storage, logger: io.logger() }, { dryRun: opts.dryRun === true });
    if (opts.json) {
      printOut(io, JSON.stringify({ ...r, freedBytes: r.blobs.bytes + r.temp.bytes, seconds: r.ms / 1000 }, null, 2));
      return;
    }
    const verb = r.dryRun ? 'would remove' : 'removed';
    const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
    printOut(io, `${verb} ${plural(r.blobs.count, 'unreferenced blob')} (${formatBytes(r.blobs.bytes)}) and ${plural(r.temp.count, 'stale temp file')} (${formatBytes(r.temp.bytes)}): ${formatBytes(r.blobs.bytes + r.temp.bytes)} ${r.dryRun ? 'would be ' : ''}freed, of ${plural(r.scanned, 'blob')} scanned in ${seconds(r.ms)}`);
    if (r.young > 0) {
      printOut(io, `kept ${plural(r.young, 'unreferenced blob')} younger than ${GC_GRACE_MS / 60_000} minutes: an upload may be about to name ${r.young === 1 ? 'it' : 'them'}`);
    }
    if (r.adopted > 0) printOut(io, `counted ${plural(r.adopted, 'cached file')} from before maxCacheSize was tracked`);
  });
}
