/**
 * How a virtual repository combines what its members answer: pure
 * functions over pages and name lists, no I/O.
 */
import { sortVersions } from '../pypi/versions.ts';
import type { ProjectPage, ProjectSummary } from '../pypi/pages.ts';
import { cacheFilesOn } from './wheelcache-rules.ts';

/**
 * An upstream's page completed by wheel caches: each cache's wheels that the
 * upstream's state shows (wheelcache-rules.ts), after the upstream's own
 * files, which win any filename. The upstream's versions and status stand:
 * a cache wheel is only ever shown for a release the upstream lists.
 */
export function augmentPage(upstream: ProjectPage, remote: string, caches: readonly { cache: string; page: ProjectPage }[]): ProjectPage {
  let files = upstream.files;
  for (const { cache, page } of caches) {
    const { shown } = cacheFilesOn({ ...upstream, files }, page.files, { cache, remote });
    if (shown.length > 0) files = [...files, ...shown];
  }
  return files === upstream.files ? upstream : { ...upstream, files };
}

/**
 * The union of the members' pages, in member order: on the same filename
 * the earlier member wins (its hashes, yank state and metadata with it).
 */
export function mergePages(pages: readonly ProjectPage[]): ProjectPage | null {
  const first = pages[0];
  if (!first) return null;
  if (pages.length === 1) return first;
  const seen = new Set<string>();
  const files = [];
  for (const page of pages) {
    for (const f of page.files) {
      if (seen.has(f.filename)) continue;
      seen.add(f.filename);
      files.push(f);
    }
  }
  return {
    name: first.name,
    displayName: first.displayName,
    files,
    versions: sortVersions(pages.flatMap((p) => p.versions)),
    // An upstream's "archived" or "quarantined" says nothing of the other members' files.
    status: null,
  };
}

/**
 * Merges name lists that each arrive sorted, in batches, into one sorted
 * list without duplicates, holding one batch per member at a time.
 */
export async function* mergeSortedLists(lists: readonly AsyncIterable<ProjectSummary[]>[], batchSize = 5000): AsyncIterable<ProjectSummary[]> {
  const cursors = lists.map((l) => new Cursor(l[Symbol.asyncIterator]()));
  await Promise.all(cursors.map((c) => c.fill()));
  let out: ProjectSummary[] = [];
  for (;;) {
    let min: Cursor | null = null;
    for (const c of cursors) {
      const head = c.head();
      if (head && (!min || head.name < min.head()!.name)) min = c;
    }
    if (!min) break;
    const item = min.head()!;
    out.push(item);
    // Every member that has this name moves past it; only an emptied batch awaits.
    for (const c of cursors) if (c.head()?.name === item.name) c.skip();
    const drained = cursors.filter((c) => c.needsFill());
    if (drained.length > 0) await Promise.all(drained.map((c) => c.fill()));
    if (out.length >= batchSize) {
      yield out;
      out = [];
    }
  }
  if (out.length > 0) yield out;
}

class Cursor {
  private batch: ProjectSummary[] = [];
  private i = 0;
  private done = false;

  constructor(private readonly it: AsyncIterator<ProjectSummary[]>) {}

  head(): ProjectSummary | undefined {
    return this.batch[this.i];
  }

  async fill(): Promise<void> {
    while (!this.done && this.i >= this.batch.length) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        this.batch = [];
      } else {
        this.batch = r.value;
      }
      this.i = 0;
    }
  }

  skip(): void {
    this.i++;
  }

  needsFill(): boolean {
    return !this.done && this.i >= this.batch.length;
  }
}
