/**
 * What each repository holds, for the start page: projects, files and bytes
 * on disk. A hosted repository's come from one query, cached until its
 * serial moves (and then at least five seconds). A remote's pages and listed files are counted by the store;
 * which of those files it holds is known only to the blob store, so they
 * are counted in the background (a stat per listed file, two at a time so
 * downloads keep the thread pool) and the count kept for a few minutes.
 */
import type { Config } from '../../config/schema.ts';
import type { Logger } from '../../log.ts';
import type { BlobStore, MetadataStore, RemoteCacheStore } from '../../storage/types.ts';

export interface Usage {
  projects: number;
  files: number;
  /** null: still being counted. */
  bytes: number | null;
}

const REMOTE_FRESH_MS = 10_000;
const HOSTED_RECOUNT_MS = 5000;
const DISK_FRESH_MS = 5 * 60_000;
const PAGE = 1000;

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
  private readonly pages = new Map<string, { at: number; projects: number; files: number }>();
  private readonly disk = new Map<string, { at: number; bytes: number | null; running: Promise<void> | null }>();

  constructor(
    private readonly deps: { config: Config; store: MetadataStore; remoteStore: RemoteCacheStore; blobs: BlobStore; logger: Logger },
    private readonly now: () => number = Date.now,
  ) {}

  /** A local, remote or wheelcache repository's usage. */
  leaf(repo: string): Usage {
    const rc = this.deps.config.repositories[repo]!;
    if (rc.type !== 'remote') {
      const serial = this.deps.store.repoSerial(repo);
      const cached = this.hosted.get(repo);
      // A burst of uploads costs one count every few seconds, not one per page view.
      if (cached && (cached.serial === serial || this.now() - cached.at < HOSTED_RECOUNT_MS)) return cached.usage;
      const usage = this.deps.store.repoUsage(repo);
      this.hosted.set(repo, { serial, usage, at: this.now() });
      return usage;
    }
    const now = this.now();
    let p = this.pages.get(repo);
    if (!p || now - p.at >= REMOTE_FRESH_MS) {
      p = { at: now, ...this.deps.remoteStore.pageUsage(repo) };
      this.pages.set(repo, p);
    }
    return { projects: p.projects, files: p.files, bytes: this.remoteBytes(repo) };
  }

  /** Bytes a remote holds, or null while they are first counted. */
  remoteBytes(repo: string): number | null {
    const now = this.now();
    let d = this.disk.get(repo);
    if (!d) this.disk.set(repo, (d = { at: 0, bytes: null, running: null }));
    if (!d.running && now - d.at >= DISK_FRESH_MS) {
      const entry = d;
      entry.running = this.countHeld(repo)
        .then((bytes) => {
          entry.bytes = bytes;
          entry.at = this.now();
        }, (err: Error) => this.deps.logger.warn({ repo, err: err.message }, 'could not count the bytes a remote repository holds'))
        .finally(() => {
          entry.running = null;
        });
    }
    return d.bytes;
  }

  /**
   * Starts the counts of these remotes where due and waits for them up to
   * `ms`: a small cache is counted before the page goes out; a large one
   * shows "counting…" until a later view.
   */
  async prime(repos: readonly string[], ms: number): Promise<void> {
    const running = repos.flatMap((r) => {
      if (this.deps.config.repositories[r]?.type !== 'remote') return [];
      this.remoteBytes(r);
      const p = this.disk.get(r)?.running;
      return p ? [p] : [];
    });
    if (running.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(running), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  private async countHeld(repo: string): Promise<number> {
    let bytes = 0;
    let after = '';
    for (;;) {
      const files = this.deps.remoteStore.listedFiles(repo, after, PAGE);
      if (files.length === 0) return bytes;
      for (let i = 0; i < files.length; i += 2) {
        const infos = await Promise.all(files.slice(i, i + 2).map((f) => this.deps.blobs.stat(f.sha256)));
        for (const info of infos) bytes += info?.size ?? 0;
      }
      after = files.at(-1)!.sha256;
    }
  }
}
