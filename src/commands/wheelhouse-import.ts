/**
 * `pydepot wheelhouse import ZIP|DIR --repo LOCAL`: seeds a hosted repository
 * from a wheelhouse (src/wheelhouse/import.ts), every file through the
 * upload checks, then reports the imported names that a remote serves too:
 * hosting them hides the upstream files in virtual repositories. Exits 1
 * when any file was a conflict, refused or failed; the others are imported
 * all the same.
 */
import { resolve } from 'node:path';
import { plural } from '../format.ts';
import { LocalRepository } from '../repos/local.ts';
import type { Registry } from '../repos/registry.ts';
import { importWheelhouse, openWheelhouse, OUTCOMES, shadowedNames, type ImportResult, type ShadowReport, type WheelhouseInput } from '../wheelhouse/import.ts';
import { cliActor, printErr, printOut, UsageError, withRegistry, type CommonOptions, type Io } from './context.ts';
import { formatBytes, progressReporter, seconds, table } from './wheelhouse.ts';

export interface WheelhouseImportOptions extends CommonOptions {
  repo: string;
  /** false with `--no-check`: only the remotes' caches are read. */
  check: boolean;
  json?: boolean;
}

function localRepository(registry: Registry, name: string): LocalRepository {
  const locals = registry.all().filter((r) => r.kind === 'local').map((r) => r.name);
  const choices = locals.length > 0 ? `local ones: ${locals.join(', ')}` : 'the config has no local repository';
  if (!registry.has(name)) throw new UsageError(`--repo ${name}: no repository of that name; ${choices}`);
  const repo = registry.get(name);
  if (!(repo instanceof LocalRepository)) throw new UsageError(`--repo ${name} is a ${repo.kind} repository; a wheelhouse is imported into a local one (${choices})`);
  return repo;
}

/** Up to `n` items, then how many more. */
function some(items: readonly string[], n = 5): string {
  return items.length <= n ? items.join(', ') : `${items.slice(0, n).join(', ')} and ${items.length - n} more`;
}

function printSummary(io: Io, input: WheelhouseInput, repoName: string, result: ImportResult, shadow: ShadowReport, asked: boolean, importMs: number): void {
  const rows = [
    ['outcome', 'files', 'bytes'],
    ...OUTCOMES.map((o) => [o, String(result.counts[o]), formatBytes(result.bytes[o])]),
    ['total', String(result.files.length), formatBytes(result.files.reduce((n, f) => n + f.size, 0))],
  ];
  for (const line of table(rows, new Set([1, 2]))) printOut(io, line);

  const problems = result.files.filter((f) => f.outcome !== 'added' && f.outcome !== 'skipped');
  if (problems.length > 0) {
    printOut(io, '');
    printOut(io, 'not imported:');
    for (const line of table(problems.map((f) => [`  ${f.outcome}`, f.path, f.reason ?? '']), new Set())) printOut(io, line);
  }
  if (result.counts.skipped > 0) printOut(io, `${plural(result.counts.skipped, 'file')} skipped: already in '${repoName}' with the same sha256`);

  if (shadow.shadowed.length > 0) {
    printOut(io, '');
    printOut(io, `warning: ${plural(shadow.shadowed.length, 'imported name')} ${shadow.shadowed.length === 1 ? 'is' : 'are'} also served by a remote. In a virtual repository that merges both, the local name hides the upstream files (dependency-confusion rule) unless the name is listed in its mergeUpstream:`);
    const lines = shadow.shadowed.map((s) => {
      const hidden = s.virtuals.filter((v) => v.hidden).map((v) => v.name);
      const merged = s.virtuals.filter((v) => !v.hidden).map((v) => v.name);
      const where = [
        ...(hidden.length > 0 ? [`upstream files hidden in ${hidden.join(', ')}`] : []),
        ...(merged.length > 0 ? [`merged in ${merged.join(', ')} (mergeUpstream)`] : []),
      ];
      return [`  ${s.project}`, `on ${s.remotes.join(', ')}`, where.length > 0 ? where.join('; ') : 'no virtual repository merges them'];
    });
    for (const line of table(lines, new Set())) printOut(io, line);
  }
  for (const u of shadow.unchecked) printOut(io, `could not check remote '${u.remote}' for the imported names: ${u.reason}`);

  const verified = input.locks.length > 0 ? `every file checked against ${input.locks.join(', ')} and` : 'every file';
  printOut(io, `imported ${input.path} into '${repoName}' in ${seconds(importMs)}; ${verified} through the upload checks`);
  if (shadow.remotes.length > 0 && shadow.unchecked.length === 0 && shadow.shadowed.length === 0) {
    printOut(io, `no imported name is served by ${shadow.remotes.join(', ')}${asked ? '' : " (their caches only: --no-check)"}`);
  }
}

export async function wheelhouseImport(source: string, opts: WheelhouseImportOptions, io: Io): Promise<void> {
  // The input is read (and its lock files parsed) before the storage is opened.
  const input = await openWheelhouse(resolve(source));
  try {
    await withRegistry(opts, io, async (registry, storage) => {
      const repo = localRepository(registry, opts.repo);
      if (input.members.length === 0) {
        const elsewhere = input.ignored.filter((i) => i.reason.startsWith('not at the top level')).map((i) => i.path);
        throw new UsageError(`${source}: no wheel or sdist at the top level or directly under wheelhouse/${elsewhere.length > 0 ? ` (found elsewhere: ${some(elsewhere, 3)}; give that folder, unzipped, instead)` : ''}; nothing imported`);
      }
      const against = input.locks.length > 0 ? `each file checked against ${input.locks.join(', ')}, then` : 'no lock file in it to check the files against; each file goes';
      printErr(io, `${input.path} (${input.kind === 'zip' ? 'a zip' : 'a folder'}) into '${repo.name}': ${against} through the upload checks`);
      if (input.ignored.length > 0) printErr(io, `ignored ${plural(input.ignored.length, 'entry')}: ${some(input.ignored.map((i) => `${i.path} (${i.reason})`))}`);

      const start = Date.now();
      const progress = progressReporter(io, 'importing');
      let result: ImportResult;
      try {
        result = await importWheelhouse(input, repo, storage.blobs, cliActor(), { onProgress: progress.onProgress });
      } finally {
        progress.stop();
      }
      const importMs = Date.now() - start;

      if (opts.check && result.projects.length > 0 && registry.all().some((r) => r.kind === 'remote')) {
        printErr(io, `asking the remotes about ${plural(result.projects.length, 'imported name')}`);
      }
      const shadow = await shadowedNames(result.projects, repo, registry, { ask: opts.check });
      const notImported = result.counts.conflict + result.counts.refused + result.counts.failed;

      if (opts.json) {
        printOut(io, JSON.stringify({
          ok: notImported === 0,
          source: { path: input.path, kind: input.kind, locks: input.locks, ignored: input.ignored },
          repository: repo.name,
          counts: result.counts,
          bytes: result.bytes,
          files: result.files,
          projects: result.projects,
          remotes: { asked: opts.check, checked: shadow.remotes, unchecked: shadow.unchecked },
          shadowed: shadow.shadowed,
          importSeconds: importMs / 1000,
        }, null, 2));
      } else {
        printSummary(io, input, repo.name, result, shadow, opts.check, importMs);
      }
      if (notImported > 0) {
        const parts = (['conflict', 'refused', 'failed'] as const).filter((o) => result.counts[o] > 0).map((o) => `${result.counts[o]} ${o}`);
        throw new UsageError(`${plural(notImported, 'file')} not imported (${parts.join(', ')}): ${some(result.files.filter((f) => f.outcome !== 'added' && f.outcome !== 'skipped').map((f) => f.filename), 3)}`);
      }
    });
  } finally {
    await input.close();
  }
}
