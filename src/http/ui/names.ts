/**
 * Project names of the repositories, held in memory for search: a sorted
 * array per local, remote and wheelcache repository (a virtual repository
 * searches its members'). A prefix is a binary search and a range; a
 * substring is one scan of the names joined into a single string (native
 * indexOf, a millisecond or two over 100,000 names), and both stop once
 * they have enough.
 *
 * A list is loaded once, a page of names at a time so that a large one
 * never holds the event loop, then kept current: a hosted repository's by
 * the projects whose serial moved since (an indexed query), a remote's by
 * the pages it fetches (`note`), and reloaded in the background every few
 * minutes for pages fetched by other processes (a prefetch). A remote's list
 * is the projects whose pages it has cached, never its upstream's whole
 * root list (700,000 names nobody here asked for).
 */
import type { ProjectSummary } from '../../pypi/pages.ts';

export interface NameSource {
  /** Changes whenever the repository's names may have; null: no cheap token (reloaded by age). */
  token(repo: string): Promise<string | null>;
  /** Up to `limit` names after `after`, in normalized-name order. */
  page(repo: string, after: string, limit: number): Promise<ProjectSummary[]>;
  /** The projects changed since the list at `since` was read, each with whether it still has files; null: reload instead. */
  changes(repo: string, since: string): Promise<(ProjectSummary & { present: boolean })[] | null>;
}

export type MatchKind = 'exact' | 'prefix' | 'substring';

export interface NameHit {
  name: string;
  displayName: string;
  match: MatchKind;
  /** The repositories (of those searched) that list it. */
  repos: string[];
}

class Names {
  names: string[] = [];
  /** Only where the display name differs from the normalized one. */
  display = new Map<string, string>();
  token: string | null = null;
  loadedAt = 0;
  checkedAt = 0;
  /** Bumped by every change: what cached counts are keyed by. */
  version = 0;
  private joined: { text: string; starts: Int32Array } | null = null;

  add(name: string, displayName: string): void {
    const i = lowerBound(this.names, name);
    if (this.names[i] !== name) {
      this.names.splice(i, 0, name);
      this.changed();
    }
    if (displayName !== name) this.display.set(name, displayName);
  }

  remove(name: string): void {
    const i = lowerBound(this.names, name);
    if (this.names[i] === name) {
      this.names.splice(i, 1);
      this.display.delete(name);
      this.changed();
    }
  }

  changed(): void {
    this.version++;
    this.joined = null;
  }

  /** `\n`-separated names and where each starts, rebuilt after a change. */
  text(): { text: string; starts: Int32Array } {
    if (!this.joined) {
      const starts = new Int32Array(this.names.length);
      let at = 1;
      this.names.forEach((n, i) => {
        starts[i] = at;
        at += n.length + 1;
      });
      this.joined = { text: `\n${this.names.join('\n')}\n`, starts };
    }
    return this.joined;
  }
}

const UNTOKENED_RELOAD_MS = 5 * 60_000;
const PAGE = 5000;

/** Index of the first element >= `key`. */
function lowerBound<T extends string | number>(xs: ArrayLike<T>, key: T): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class NameIndex {
  private readonly lists = new Map<string, Names>();
  private readonly loading = new Map<string, Promise<Names>>();
  private readonly counts = new Map<string, { key: string; count: number }>();

  constructor(private readonly source: NameSource, private readonly now: () => number = Date.now) {}

  /** A remote fetched a page: its project is searchable at once. */
  note(repo: string, name: string): void {
    this.lists.get(repo)?.add(name, name);
  }

  /** Brings the lists of `repos` up to date (the first time, loads them); call before search, list or count. */
  async refresh(repos: readonly string[]): Promise<void> {
    await Promise.all(repos.map((r) => this.current(r)));
  }

  private async current(repo: string): Promise<Names> {
    const n = this.lists.get(repo);
    if (!n) return this.load(repo);
    const now = this.now();
    // The token is one indexed query, read on every search, so an upload is
    // searchable the moment it is accepted (a time-based throttle here hid
    // fresh uploads for up to a second).
    const token = await this.source.token(repo);
    n.checkedAt = now;
    if (token === null) {
      // Served as it is meanwhile: the reload swaps in a new list when done.
      if (now - n.loadedAt >= UNTOKENED_RELOAD_MS) void this.load(repo);
      return n;
    }
    if (token === n.token || n.token === null) return n;
    const base = n.token;
    const changes = await this.source.changes(repo, base);
    // Another search applied changes meanwhile: its token stands (these are
    // applied again by the next search if they were newer: adds and removes repeat safely).
    if (n.token !== base || this.lists.get(repo) !== n) return n;
    if (changes === null) return this.load(repo);
    for (const c of changes) {
      if (c.present) n.add(c.name, c.displayName);
      else n.remove(c.name);
    }
    n.token = token;
    return n;
  }

  private load(repo: string): Promise<Names> {
    let p = this.loading.get(repo);
    if (!p) {
      p = (async () => {
        const n = new Names();
        n.token = await this.source.token(repo);
        for (let after = ''; ;) {
          const batch = await this.source.page(repo, after, PAGE);
          for (const s of batch) {
            n.names.push(s.name);
            if (s.displayName !== s.name) n.display.set(s.name, s.displayName);
          }
          if (batch.length < PAGE) break;
          after = batch.at(-1)!.name;
          await yieldToEventLoop();
        }
        n.loadedAt = n.checkedAt = this.now();
        n.version = (this.lists.get(repo)?.version ?? 0) + 1;
        this.lists.set(repo, n);
        return n;
      })().finally(() => this.loading.delete(repo));
      this.loading.set(repo, p);
    }
    return p;
  }

  private names(repo: string): Names {
    const n = this.lists.get(repo);
    if (!n) throw new Error(`the names of '${repo}' are not loaded: call refresh() first`);
    return n;
  }

  /**
   * Names matching `query` (already normalized) in any of `repos`: the exact
   * name first, then names starting with it, then names containing it, each
   * group in name order; at most `limit`.
   */
  search(repos: readonly string[], query: string, limit: number): NameHit[] {
    const hits = new Map<string, NameHit>();
    const add = (repo: string, n: Names, name: string, match: MatchKind): void => {
      const hit = hits.get(name);
      if (hit) {
        if (!hit.repos.includes(repo)) hit.repos.push(repo);
        return;
      }
      hits.set(name, { name, displayName: n.display.get(name) ?? name, match, repos: [repo] });
    };
    // A newline can never be part of a name: such a query matches nothing.
    if (query === '' || query.includes('\n')) return [];
    for (const repo of repos) {
      const n = this.names(repo);
      const { names } = n;
      let found = 0;
      for (let i = lowerBound(names, query); i < names.length && found < limit; i++) {
        const name = names[i]!;
        if (!name.startsWith(query)) break;
        add(repo, n, name, name === query ? 'exact' : 'prefix');
        found++;
      }
      // Enough prefix matches make substring ones moot: they sort after them.
      if (found >= limit) continue;
      const { text, starts } = n.text();
      let more = 0;
      for (let pos = text.indexOf(query, 1); pos >= 0 && more < limit; pos = text.indexOf(query, pos + 1)) {
        const i = lowerBound(starts, pos + 1) - 1;
        const name = names[i]!;
        // A match at the start of a name is a prefix match, found above.
        if (starts[i] !== pos) {
          add(repo, n, name, 'substring');
          more++;
        }
        // The next match is looked for in the next name.
        pos = starts[i]! + name.length;
      }
    }
    const order: Record<MatchKind, number> = { exact: 0, prefix: 1, substring: 2 };
    return [...hits.values()]
      .sort((a, b) => order[a.match] - order[b.match] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .slice(0, limit);
  }

  /** Up to `limit` names of the union of `repos` after `after`, in order, and whether more follow. */
  list(repos: readonly string[], after: string, limit: number): { names: ProjectSummary[]; more: boolean } {
    const lists = repos.map((r) => this.names(r));
    const pos = lists.map((n) => lowerBound(n.names, after + '\u0000'));
    const out: ProjectSummary[] = [];
    for (;;) {
      let min: string | null = null;
      lists.forEach((n, i) => {
        const name = n.names[pos[i]!];
        if (name !== undefined && (min === null || name < min)) min = name;
      });
      if (min === null) return { names: out, more: false };
      if (out.length === limit) return { names: out, more: true };
      const name: string = min;
      let displayName = name;
      lists.forEach((n, i) => {
        if (n.names[pos[i]!] === name) {
          displayName = n.display.get(name) ?? displayName;
          pos[i] = pos[i]! + 1;
        }
      });
      out.push({ name, displayName });
    }
  }

  /** How many distinct names `repos` hold together (a merge of the sorted lists, kept until one changes). */
  count(repos: readonly string[]): number {
    const lists = repos.map((r) => this.names(r));
    if (lists.length === 1) return lists[0]!.names.length;
    const key = lists.map((n) => n.version).join(',');
    const id = repos.join('\u0000');
    const cached = this.counts.get(id);
    if (cached?.key === key) return cached.count;
    const pos = lists.map(() => 0);
    let count = 0;
    for (;;) {
      let min: string | null = null;
      lists.forEach((n, i) => {
        const name = n.names[pos[i]!];
        if (name !== undefined && (min === null || name < min)) min = name;
      });
      if (min === null) break;
      count++;
      lists.forEach((n, i) => {
        if (n.names[pos[i]!] === min) pos[i] = pos[i]! + 1;
      });
    }
    this.counts.set(id, { key, count });
    return count;
  }
}
