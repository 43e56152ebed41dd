/**
 * Project names of the repositories, held in memory for search: one sorted
 * array per local, remote and wheelcache repository (a virtual repository
 * searches its members'). A prefix is a binary search and a range; a
 * substring is a scan of plain strings, a few milliseconds over 100,000
 * names, and both stop once they have enough.
 *
 * A hosted repository's list is reloaded when its serial has moved (at most
 * every few seconds, so a burst of uploads costs one reload). A remote's is
 * the projects whose pages it has cached (never its upstream's whole root
 * list, which can hold 700,000 names nobody here asked for): pages fetched
 * by this process are added as they arrive, and the list is reloaded every
 * few minutes for those fetched by others (a prefetch).
 */
import type { ProjectSummary } from '../../pypi/pages.ts';

export interface NameSource {
  /** Changes whenever the repository's names may have; null: no cheap token (reloaded by age). */
  token(repo: string): string | null;
  /** Every name, sorted by normalized name. */
  load(repo: string): ProjectSummary[];
}

export type MatchKind = 'exact' | 'prefix' | 'substring';

export interface NameHit {
  name: string;
  displayName: string;
  match: MatchKind;
  /** The repositories (of those searched) that list it. */
  repos: string[];
}

interface Names {
  names: string[];
  /** Only where the display name differs from the normalized one. */
  display: Map<string, string>;
  token: string | null;
  loadedAt: number;
  checkedAt: number;
  /** Added since the load (pages a remote just fetched), merged in at the next read. */
  pending: Set<string>;
}

const CHECK_EVERY_MS = 1000;
const RELOAD_AT_MOST_EVERY_MS = 5000;
const UNTOKENED_RELOAD_MS = 5 * 60_000;

/** Index of the first name >= `key`. */
function lowerBound(names: readonly string[], key: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class NameIndex {
  private readonly repos = new Map<string, Names>();

  constructor(private readonly source: NameSource, private readonly now: () => number = Date.now) {}

  /** A remote fetched a page: its project is searchable at once. */
  note(repo: string, name: string): void {
    this.repos.get(repo)?.pending.add(name);
  }

  private names(repo: string): Names {
    const now = this.now();
    let n = this.repos.get(repo);
    if (!n) {
      n = this.load(repo, now);
    } else if (now - n.checkedAt >= CHECK_EVERY_MS) {
      n.checkedAt = now;
      const token = this.source.token(repo);
      const stale = token === null ? now - n.loadedAt >= UNTOKENED_RELOAD_MS : token !== n.token && now - n.loadedAt >= RELOAD_AT_MOST_EVERY_MS;
      if (stale) n = this.load(repo, now);
    }
    if (n.pending.size > 0) {
      for (const name of n.pending) {
        const i = lowerBound(n.names, name);
        if (n.names[i] !== name) n.names.splice(i, 0, name);
      }
      n.pending.clear();
    }
    return n;
  }

  private load(repo: string, now: number): Names {
    const token = this.source.token(repo);
    const list = this.source.load(repo);
    const display = new Map<string, string>();
    for (const p of list) if (p.displayName !== p.name) display.set(p.name, p.displayName);
    const n: Names = { names: list.map((p) => p.name), display, token, loadedAt: now, checkedAt: now, pending: new Set() };
    this.repos.set(repo, n);
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
      let more = 0;
      for (let i = 0; i < names.length && more < limit; i++) {
        const name = names[i]!;
        if (name.includes(query) && !name.startsWith(query)) {
          add(repo, n, name, 'substring');
          more++;
        }
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

  /** How many distinct names `repos` hold together. */
  count(repos: readonly string[]): number {
    if (repos.length === 1) return this.names(repos[0]!).names.length;
    const all = new Set<string>();
    for (const r of repos) for (const name of this.names(r).names) all.add(name);
    return all.size;
  }
}
