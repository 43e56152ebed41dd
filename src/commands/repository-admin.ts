/** `pydepot yank | unyank | delete | audit`: changes to what a hosted repository (local, or a wheel cache) serves, and their record (cooldown exemptions too). */
import { plural } from '../format.ts';
import { normalizeName } from '../pypi/names.ts';
import { parseDate, parseDuration } from '../time.ts';
import { cliActor, printOut, UsageError, withRegistry, withStorage, type CommonOptions, type Io } from './context.ts';

export async function yank(yanked: boolean, repoName: string, project: string, version: string, opts: CommonOptions & { reason?: string }, io: Io): Promise<void> {
  await withRegistry(opts, io, async (registry) => {
    const repo = registry.hosted(repoName);
    const name = normalizeName(project);
    const { matched, changed } = await repo.setYanked(name, version, yanked, opts.reason ?? null, cliActor());
    if (matched === 0) throw new UsageError(`${name} ${version} is not in repository '${repoName}'`);
    const verb = yanked ? 'yanked' : 'un-yanked';
    printOut(io, changed.length > 0 ? `${verb} ${name} ${version} in ${repoName} (${plural(changed.length, 'file')})` : `${name} ${version} in ${repoName} was already ${verb}`);
  });
}

export async function deleteRelease(repoName: string, project: string, version: string, opts: CommonOptions & { file?: string }, io: Io): Promise<void> {
  await withRegistry(opts, io, async (registry) => {
    const repo = registry.hosted(repoName);
    const name = normalizeName(project);
    const deleted = await repo.deleteFiles(name, version, opts.file ?? null, cliActor());
    if (deleted.length === 0) throw new UsageError(`${opts.file ?? `${name} ${version}`} is not in repository '${repoName}'`);
    printOut(io, `deleted ${plural(deleted.length, 'file')} of ${name} ${version} from ${repoName}:`);
    for (const f of deleted) printOut(io, `  ${f.filename}  sha256 ${f.sha256}`);
  });
}

/** `--since`: a date, or a duration back from now (`7d`, `12h`). */
export function sinceOf(text: string | undefined, now: Date): string | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms !== null) return new Date(now.getTime() - ms).toISOString();
  const d = parseDate(text);
  if (!d) throw new UsageError(`--since ${text}: expected a date (2026-11-30, 2026-11-30T12:00Z) or a duration such as 7d or 12h`);
  return d.toISOString();
}

export async function auditReport(opts: CommonOptions & { repo?: string; since?: string; json?: boolean }, io: Io): Promise<void> {
  const since = sinceOf(opts.since, new Date());
  await withStorage(opts, io, async (storage) => {
    const entries = await storage.audit.list({ ...(opts.repo ? { repo: opts.repo } : {}), ...(since ? { since } : {}) });
    if (opts.json) return printOut(io, JSON.stringify(entries, null, 2));
    if (entries.length === 0) return printOut(io, 'No changes recorded.');
    for (const e of entries) {
      const via = e.tokenId ? ` (token ${e.tokenId})` : '';
      const from = e.address ? ` from ${e.address}` : '';
      const detail = e.detail ? `  [${e.detail}]` : '';
      // A cooldown exemption names projects, not one file.
      const what = e.action.startsWith('cooldown-') ? `${e.project}${e.version ? `==${e.version}` : ''}` : `${e.filename}  sha256 ${e.sha256}`;
      printOut(io, `${e.at}  ${e.actor}${via}${from}  ${e.action}  ${e.repo}  ${what}${detail}`);
    }
  });
}
