/**
 * `pydepot removed report`: the files a remote served (or holds cached) that
 * its upstream has since removed, deleted with their project, or quarantined:
 * what an operator needs after a malware takedown, with when pydepot noticed
 * and when each file was last downloaded through it.
 */
import type { RemovedFileRow } from '../storage/types.ts';
import { printOut, UsageError, withStorage, type CommonOptions, type Io } from './context.ts';
import { sinceOf } from './repository-admin.ts';

export interface RemovedEntry {
  repo: string;
  project: string;
  filename: string;
  sha256: string;
  cause: RemovedFileRow['removedCause'];
  /** When pydepot first saw it gone upstream. */
  removedAt: string;
  /** When a client last downloaded it through pydepot (to the minute); null: not since pydepot records it. */
  lastDownload: string | null;
  /** Its bytes are still in the blob store. */
  cached: boolean;
}

const CAUSES: Record<RemovedFileRow['removedCause'], string> = {
  deleted: 'deleted upstream',
  'project-deleted': 'project deleted upstream',
  quarantined: 'project quarantined upstream',
};

export async function removedReport(opts: CommonOptions & { repo?: string; since?: string; all?: boolean; json?: boolean }, io: Io): Promise<void> {
  const since = sinceOf(opts.since, new Date());
  await withStorage(opts, io, async (storage, config) => {
    if (opts.repo !== undefined && config.repositories[opts.repo]?.type !== 'remote') {
      const remotes = Object.entries(config.repositories).filter(([, r]) => r.type === 'remote').map(([n]) => n);
      throw new UsageError(`--repo ${opts.repo}: not a remote repository (remote repositories: ${remotes.join(', ') || 'none'})`);
    }
    const rows = await storage.remoteStore.listRemoved({
      ...(opts.repo ? { repo: opts.repo } : {}),
      ...(since ? { since: Date.parse(since) } : {}),
    });
    const entries: RemovedEntry[] = [];
    for (const r of rows) {
      const cached = (await storage.blobs.stat(r.sha256)) !== null;
      // Served from the cache, or still in it: the files a node may have installed.
      if (!opts.all && r.lastAccess === null && !cached) continue;
      entries.push({
        repo: r.repo, project: r.project, filename: r.filename, sha256: r.sha256, cause: r.removedCause,
        removedAt: iso(r.removedAt), lastDownload: r.lastAccess === null ? null : iso(r.lastAccess), cached,
      });
    }
    if (opts.json) return printOut(io, JSON.stringify(entries, null, 2));
    if (entries.length === 0) {
      return printOut(io, opts.all ? 'No file has been removed upstream.' : 'No file that pydepot served or holds has been removed upstream.');
    }
    for (const e of entries) {
      const last = e.lastDownload ? `last downloaded ${e.lastDownload}` : 'no download recorded';
      printOut(io, `${e.removedAt}  ${e.repo}  ${e.project}  ${e.filename}  ${CAUSES[e.cause]}  ${last}  ${e.cached ? 'cached' : 'not cached'}  sha256 ${e.sha256}`);
    }
  });
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
