/**
 * `pydepot prefetch`: the resolution of `wheelhouse export`, then every
 * chosen file and its core metadata read through the repository
 * (src/wheelhouse/prefetch.ts), so a remote's cache is warm before a
 * whole cluster asks for the same files at once. Files that fail are
 * listed and the command exits 1; the others are warmed all the same.
 */
import { prefetchWheelhouse, type PrefetchResult } from '../wheelhouse/prefetch.ts';
import { printErr, printOut, UsageError, withRegistry, type Io } from './context.ts';
import { formatBytes, printTable, progressReporter, readInput, readTargets, resolveForTargets, seconds, type TargetRow, type WheelhouseResolveOptions } from './wheelhouse.ts';

export type PrefetchOptions = WheelhouseResolveOptions;

function rows(result: PrefetchResult): TargetRow[] {
  return result.targets.map((t) => ({ name: t.name, pins: t.pins, files: t.files, bytes: t.bytes, failures: t.failures }));
}

export async function prefetch(opts: PrefetchOptions, io: Io): Promise<void> {
  const input = readInput(opts, io);
  const targets = readTargets(opts.target ?? [], opts.targetFile ?? []);

  await withRegistry(opts, io, async (registry) => {
    const repo = registry.get(opts.repo ?? registry.defaultName);
    const { plan, resolveMs, resolvedWallClock } = await resolveForTargets(repo, input, targets, opts, io, 'nothing was fetched');

    const start = Date.now();
    const progress = progressReporter(io, 'prefetching');
    let result: PrefetchResult;
    try {
      result = await prefetchWheelhouse(plan, repo, { onProgress: progress.onProgress });
    } finally {
      progress.stop();
    }
    const prefetchMs = Date.now() - start;
    const ok = result.failures.length === 0;

    if (opts.json) {
      printOut(io, JSON.stringify({
        ok,
        repository: repo.name,
        files: result.files,
        bytes: result.bytes,
        metadata: result.metadata,
        failures: result.failures,
        resolvedAt: resolvedWallClock.toISOString(),
        resolveSeconds: resolveMs / 1000,
        prefetchSeconds: prefetchMs / 1000,
        targets: rows(result),
      }, null, 2));
    } else {
      printTable(io, rows(result), { label: `'${repo.name}' (all targets)`, files: result.files, bytes: result.bytes });
      printOut(io, `resolved in ${seconds(resolveMs)}, prefetched in ${seconds(prefetchMs)}: ${result.files} file${result.files === 1 ? '' : 's'} warmed (${formatBytes(result.bytes)} read, every one verified against its sha256), ${result.metadata} core metadata file${result.metadata === 1 ? '' : 's'}`);
    }
    if (!ok) {
      for (const f of result.failures) printErr(io, `failed: ${f.filename} (sha256 ${f.sha256}): ${f.reason}`);
      throw new UsageError(`${result.failures.length} file${result.failures.length === 1 ? '' : 's'} could not be prefetched: ${result.failures.map((f) => f.filename).join(', ')}`);
    }
  });
}
