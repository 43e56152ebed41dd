/**
 * What each repository holds, for the start page: projects, files and bytes
 * on disk. A hosted repository's come from one query, cached until its
 * serial moves (and then at least five seconds). A remote's are the pages
 * it has cached, the files those list, and the files it holds (the rows
 * maxCacheSize counts), read at most every ten seconds.
 */
import type { Config } from '../../config/schema.ts';
import type { MetadataStore, RemoteCacheStore } from '../../storage/types.ts';

export interface Usage {
  projects: number;
  files: number;
  bytes: number;
}

/** A remote's: the pages it has cached and the files they list, and the files it holds. */
export interface RemoteUsage extends Usage {
  listed: number;
  heldFiles: number;
}

const REMOTE_FRESH_MS = 10_000;
const HOSTED_RECOUNT_MS = 5000;

/** The local, remote and wheelcache repositories a repository reads from, in member order, each once. */
export function leavesOf(config: Config, name: string): string[] {
  const out: string[] = [];
  const visit = (n: string): void => {
    const rc = config.repositories[n];
    if (!rc) return;
    if (rc.type === 'virtual') for (const m of rc.members) visit(m);
    else if (!out.includes(n)) out.push(n);
  };
  visit(name);
  return out;
}

export class UsageCounter {
  private readonly hosted = new Map<string, { serial: number; usage: Usage; at: number }>();
  private readonly remotes = new Map<string, { at: number; usage: RemoteUsage }>();

  constructor(
    private readonly deps: { config: Config; store: MetadataStore; remoteStore: RemoteCacheStore },
    private readonly now: () => number = Date.now,
  ) {}

  /** A local or wheelcache repository's projects and files, or a remote's pages and the files it holds. */
  async leaf(repo: string): Promise<Usage> {
    const rc = this.deps.config.repositories[repo]!;
    if (rc.type === 'remote') {
      const r = await this.remote(repo);
      return { projects: r.projects, files: r.heldFiles, bytes: r.bytes };
    }
    const serial = await this.deps.store.repoSerial(repo);
    const cached = this.hosted.get(repo);
    // A burst of uploads costs one count every few seconds, not one per page view.
    if (cached && (cached.serial === serial || this.now() - cached.at < HOSTED_RECOUNT_MS)) return cached.usage;
    // Counted after the serial was read: at worst newer than it, and counted again next time.
    const usage = await this.deps.store.repoUsage(repo);
    this.hosted.set(repo, { serial, usage, at: this.now() });
    return usage;
  }

  async remote(repo: string): Promise<RemoteUsage> {
    const now = this.now();
    const cached = this.remotes.get(repo);
    if (cached && now - cached.at < REMOTE_FRESH_MS) return cached.usage;
    const [pages, held] = await Promise.all([this.deps.remoteStore.pageUsage(repo), this.deps.remoteStore.cacheUsage(repo)]);
    const usage = { projects: pages.projects, files: pages.files, listed: pages.files, heldFiles: held.files, bytes: held.bytes };
    this.remotes.set(repo, { at: now, usage });
    return usage;
  }
}
