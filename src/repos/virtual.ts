/**
 * A virtual repository: one index over an ordered list of members (local,
 * remote, wheelcache, or virtual themselves), merged per project. Which
 * members may answer for a project is decided by the dependency-confusion
 * rule (confusion.ts), here and nowhere else: `route()`.
 *
 * Nested virtual repositories are flattened into their leaves (local, remote
 * and wheelcache repositories), each remote remembering the virtual
 * repositories it is reached through: it may contribute only if every one of
 * them allows it. A wheel cache answers for a project exactly when the remote
 * it augments does, and its files are merged into that remote's page.
 */
import { LRUCache } from 'lru-cache';
import type { VirtualRepoConfig } from '../config/schema.ts';
import { Gone, NotFound, UpstreamUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ConfusionMetrics } from '../metrics.ts';
import type { ProjectPage, ProjectSummary } from '../pypi/pages.ts';
import { compilePolicy, decideUpstream, type ConfusionPolicy, type SkipReason, type UpstreamDecision } from './confusion.ts';
import type { RepositoryEvents } from './events.ts';
import { chainsReason, filterPage, namedFilter, type NamedFilter } from './file-filters.ts';
import { augmentPage, mergePages, mergeSortedLists } from './merge.ts';
import type { AttributedPage, AugmentingRepository, FileHandle, PageView, ReleaseFiles, Repository, UpstreamRepository } from './types.ts';

/** A local, remote or wheelcache repository: what a virtual repository is flattened into. */
type LeafRepository = (Repository & { readonly kind: 'local' }) | UpstreamRepository | AugmentingRepository;

/** A member as the registry hands it over: a leaf, or a virtual repository to flatten. */
export type Member = LeafRepository | VirtualRepository;

interface Leaf {
  repo: LeafRepository;
  /** Each way the leaf is reached: the virtual repositories passed through, this one first. */
  paths: VirtualRepository[][];
}

interface Route {
  /** Members that may answer for the project, in member order. */
  sources: LeafRepository[];
  skipped: { remote: LeafRepository; reason: SkipReason }[];
}

interface Answer<T> {
  repo: LeafRepository;
  value: T | null;
  error?: UpstreamUnavailable;
}

export interface VirtualDeps {
  logger: Logger;
  metrics: ConfusionMetrics;
  events: RepositoryEvents;
}

export class VirtualRepository implements Repository {
  readonly kind = 'virtual' as const;
  readonly indexMaxAge: number;
  readonly uploadTo: string | null;
  readonly squatCheckInterval: number;
  /** The cooldown (ms) this repository imposes on its remote members' files. */
  readonly cooldownMs: number;
  private readonly policy: ConfusionPolicy;
  /** Read by an enclosing virtual repository when it flattens its members. */
  readonly leaves: readonly Leaf[];
  /** This repository's own `files` filter, or null. */
  readonly fileFilter: NamedFilter | null;
  /**
   * The files filters each remote member's files pass on each way to it (its
   * own, then those of the virtual repositories on the way); absent for a
   * remote no filter applies to.
   */
  private readonly filterChains = new Map<string, NamedFilter[][]>();
  private readonly localLeaves: LeafRepository[];
  /** What each remote member is asked for pages with: the cooldowns and exemption scopes of the ways it is reached. */
  private readonly views = new Map<LeafRepository, PageView>();
  // Once per project and process: a log line and a look at the skipped remotes' caches.
  private readonly noticed = new LRUCache<string, true>({ max: 10_000 });

  constructor(readonly name: string, config: VirtualRepoConfig, members: readonly Member[], private readonly deps: VirtualDeps) {
    this.indexMaxAge = config.indexMaxAge;
    this.uploadTo = config.uploadTo;
    this.squatCheckInterval = config.squatCheckInterval;
    this.cooldownMs = config.cooldown * 1000;
    this.policy = compilePolicy(config.internal, config.mergeUpstream);
    this.fileFilter = namedFilter(name, config.files);
    this.leaves = flatten(this, members);
    this.localLeaves = this.leaves.flatMap((l) => (l.repo.kind === 'local' ? [l.repo] : []));
    for (const leaf of this.leaves) if (leaf.repo.kind === 'remote') this.views.set(leaf.repo, viewOf(leaf));
    for (const { repo, paths } of this.leaves) {
      if (repo.kind !== 'remote') continue;
      const chains = paths.map((via) => [repo.fileFilter, ...[...via].reverse().map((v) => v.fileFilter)].filter((f): f is NamedFilter => f !== null));
      if (chains.some((c) => c.length > 0)) this.filterChains.set(repo.name, chains);
    }
  }

  /** Why the filters on the way to a remote member drop its file (a 404's reason), or null. */
  private async filteredOut(repo: LeafRepository, sha256: string, filename: string): Promise<string | null> {
    if (repo.kind !== 'remote') return null;
    const chains = this.filterChains.get(repo.name);
    return chains ? chainsReason(chains, filename, await repo.requiresPythonOf(sha256, filename)) : null;
  }

  /** The rule for this repository alone; nested ones decide for themselves. */
  async decide(project: string): Promise<UpstreamDecision> {
    return this.decideWith(project, await this.hostingLeaves(project));
  }

  /** The rule, given the local leaves (this repository's, nested ones' included) that host the project. */
  private decideWith(project: string, hosting: ReadonlySet<string>): UpstreamDecision {
    return decideUpstream(project, this.localLeaves.some((l) => hosting.has(l.name)), this.policy);
  }

  async hostsProject(project: string): Promise<boolean> {
    return (await this.hostingLeaves(project)).size > 0;
  }

  /** The names of the local leaves that host `project`, asked all at once (the rule needs them on every lookup). */
  private async hostingLeaves(project: string): Promise<Set<string>> {
    const hosts = await Promise.all(this.localLeaves.map((l) => l.hostsProject(project)));
    return new Set(this.localLeaves.filter((_, i) => hosts[i]).map((l) => l.name));
  }

  /** Names of the remote members, nested ones included. */
  remoteNames(): string[] {
    return this.leaves.flatMap((l) => (l.repo.kind === 'remote' ? [l.repo.name] : []));
  }

  /** Names of the local members, nested ones included. */
  localNames(): string[] {
    return this.localLeaves.map((l) => l.name);
  }

  /** Every project its local members host, whatever the rule says of it. */
  async hostedNames(): Promise<Set<string>> {
    const names = new Set<string>();
    for (const leaf of this.localLeaves) for await (const batch of leaf.listProjects()) for (const p of batch) names.add(p.name);
    return names;
  }

  /** The remote members the rule keeps out of `project`, and why. */
  async skippedRemotes(project: string): Promise<{ remote: string; reason: SkipReason }[]> {
    return (await this.route(project, false)).skipped.map(({ remote, reason }) => ({ remote: remote.name, reason }));
  }

  /** Does the name match this repository's own `internal` patterns? */
  matchesInternalPattern(project: string): boolean {
    return this.policy.matchesInternal(project);
  }

  /** May a remote reached through this repository list `project` on the root page? */
  private listsUpstreamName(project: string): boolean {
    return this.policy.mergeUpstream.has(project) || !this.policy.matchesInternal(project);
  }

  /** The one place the dependency-confusion rule is applied to serving. */
  private async route(project: string, note = true): Promise<Route> {
    // Every local leaf, nested repositories' included, is asked once: each
    // repository on the way decides from the same answers.
    const hosting = await this.hostingLeaves(project);
    const decisions = new Map<VirtualRepository, UpstreamDecision>();
    const decisionOf = (v: VirtualRepository): UpstreamDecision => {
      let d = decisions.get(v);
      if (!d) decisions.set(v, (d = v.decideWith(project, hosting)));
      return d;
    };
    const route: Route = { sources: [], skipped: [] };
    for (const { repo, paths } of this.leaves) {
      if (repo.kind === 'local') {
        route.sources.push(repo);
        continue;
      }
      // Decided below, once the remotes are.
      if (repo.kind === 'wheelcache') continue;
      let blocked: SkipReason | null = null;
      const allowed = paths.some((via) => {
        const refusal = via.map(decisionOf).find((d) => !d.merge);
        if (refusal && !refusal.merge) blocked ??= refusal.reason;
        return !refusal;
      });
      if (allowed) route.sources.push(repo);
      else route.skipped.push({ remote: repo, reason: blocked! });
    }
    // A cache adds to its remote's page: it answers only where the remote may,
    // never for a name the rule keeps internal, and never counts as hosting one.
    const remotes = new Set(route.sources.flatMap((r) => (r.kind === 'remote' ? [r.name] : [])));
    for (const { repo } of this.leaves) {
      if (repo.kind === 'wheelcache' && remotes.has(repo.augments)) route.sources.push(repo);
    }
    if (note && route.skipped.length > 0) this.noteSkipped(project, route.skipped);
    return route;
  }

  private noteSkipped(project: string, skipped: Route['skipped']): void {
    const reason = skipped[0]!.reason;
    this.deps.metrics.upstreamSkipped.inc({ repo: this.name, reason });
    if (this.noticed.has(project)) return;
    this.noticed.set(project, true);
    this.deps.logger.info(
      { repo: this.name, project, reason, skipped: skipped.map((s) => s.remote.name) },
      'internal project: remote members not asked (dependency-confusion rule)',
    );
    // The squatting watch looks at what the skipped remotes already hold.
    this.deps.events.remotesSkipped.emit({ repo: this.name, project, skipped: skipped.map((x) => ({ remote: x.remote.name, reason: x.reason })) });
  }

  /**
   * Asks every source at once. An unreachable member with nothing cached is
   * left out while others answer; only when none answers is its error the
   * answer.
   */
  private async ask<T>(sources: readonly LeafRepository[], f: (repo: LeafRepository) => Promise<T | null>): Promise<Answer<T>[]> {
    return Promise.all(sources.map(async (repo): Promise<Answer<T>> => {
      try {
        return { repo, value: await f(repo) };
      } catch (err) {
        if (err instanceof NotFound) return { repo, value: null };
        if (err instanceof UpstreamUnavailable) return { repo, value: null, error: err };
        throw err;
      }
    }));
  }

  async projectVersion(project: string): Promise<string | null> {
    // A cache's own token: the remote's, asked beside it, covers the upstream's state.
    const answers = await this.ask((await this.route(project)).sources, (r) => (r.kind === 'wheelcache' ? r.ownVersion(project) : r.projectVersion(project, this.views.get(r))));
    // Cache wheels alone make no project: they only ever complete an upstream one.
    if (answers.every((a) => a.value === null || a.repo.kind === 'wheelcache')) return noneFound(answers);
    // Names the members and their tokens: any member's change, a member
    // failing or recovering, and the rule's outcome all change it.
    return answers.map((a) => `${a.repo.name}:${a.error ? '!' : (a.value ?? '-')}`).join(' ');
  }

  async projectPage(project: string): Promise<ProjectPage | null> {
    const pages = await this.memberPages(project);
    return pages && mergePages(pages.map((p) => p.page));
  }

  async attributedPage(project: string): Promise<AttributedPage | null> {
    const pages = await this.memberPages(project);
    const page = pages && mergePages(pages.map((p) => p.page));
    if (!pages || !page) return null;
    // The first member to list a filename serves it, as mergePages keeps it.
    const servedBy = new Map<string, string>();
    for (const p of pages) {
      for (const f of p.page.files) if (!servedBy.has(f.filename)) servedBy.set(f.filename, f.origin?.repository ?? p.member);
    }
    return { page, servedBy };
  }

  /** Each answering member's page, in member order; a remote's completed by its wheel caches. */
  private async memberPages(project: string): Promise<{ member: string; page: ProjectPage }[] | null> {
    // Not noted again: projectVersion, asked first for every page, did.
    // A remote's page before any files filter: cache wheels are judged
    // against all the upstream has, and filters never hide them.
    const answers = await this.ask((await this.route(project, false)).sources, (r) => (r.kind === 'wheelcache' ? r.ownPage(project) : r.kind === 'remote' ? r.upstreamPage(project, this.views.get(r)) : r.projectPage(project, this.views.get(r))));
    const pages: { member: string; page: ProjectPage }[] = [];
    for (const a of answers) {
      if (!a.value || a.repo.kind === 'wheelcache') continue;
      const caches = a.repo.kind === 'remote' ? cachePagesOf(a.repo.name, answers) : [];
      let page = caches.length > 0 ? augmentPage(a.value, a.repo.name, caches) : a.value;
      const chains = a.repo.kind === 'remote' ? this.filterChains.get(a.repo.name) : undefined;
      if (chains) page = filterPage(page, (f) => f.origin !== undefined || chainsReason(chains, f.filename, f.requiresPython) === null);
      pages.push({ member: a.repo.name, page });
    }
    if (pages.length === 0) return noneFound(answers);
    return pages;
  }

  /** The soonest any member's page changes by the clock alone. */
  async pageLifetime(project: string): Promise<number | null> {
    const answers = await this.ask((await this.route(project, false)).sources, async (r) => (r.pageLifetime ? r.pageLifetime(project, this.views.get(r)) : null));
    const lifetimes = answers.flatMap((a) => (a.value === null ? [] : [a.value]));
    return lifetimes.length === 0 ? null : Math.min(...lifetimes);
  }

  async listVersion(): Promise<string> {
    const answers = await this.ask(this.leaves.map((l) => l.repo), (r) => r.listVersion());
    return answers.map((a) => `${a.repo.name}:${a.error ? '!' : a.value}`).join(' ');
  }

  listProjects(): AsyncIterable<ProjectSummary[]> {
    return mergeSortedLists(this.leaves.map((leaf) => this.namesOf(leaf)));
  }

  /** A member's names; a remote's without those the rule keeps out, and none when it is down. */
  private async *namesOf({ repo, paths }: Leaf): AsyncIterable<ProjectSummary[]> {
    // Its projects are its remote's, listed (or kept out) there.
    if (repo.kind === 'wheelcache') return;
    const keep = repo.kind === 'remote'
      ? (n: ProjectSummary) => paths.some((via) => via.every((v) => v.listsUpstreamName(n.name)))
      : () => true;
    try {
      for await (const batch of repo.listProjects()) yield batch.filter(keep);
    } catch (err) {
      if (!(err instanceof UpstreamUnavailable)) throw err;
      this.deps.logger.warn({ repo: this.name, member: repo.name, reason: err.message }, 'member left out of the project list');
    }
  }

  /**
   * A file is served only by a member that lists it on its page and may
   * answer for its project, so a file URL cannot reach around the rule.
   */
  private async fileSources(sha256: string, filename: string): Promise<{ repo: LeafRepository; project: string }[]> {
    // Every member is asked at once (file serving: one wait, not one per member).
    const projects = await Promise.all(this.leaves.map(({ repo }) => repo.fileProject(sha256, filename)));
    const out: { repo: LeafRepository; project: string }[] = [];
    const routes = new Map<string, Promise<Route>>();
    for (const [i, { repo }] of this.leaves.entries()) {
      const project = projects[i] ?? null;
      if (project === null) continue;
      let route = routes.get(project);
      if (!route) routes.set(project, (route = this.route(project, false)));
      if ((await route).sources.includes(repo)) out.push({ repo, project });
    }
    return out;
  }

  /** The project of the first member that may serve this file. */
  async fileProject(sha256: string, filename: string): Promise<string | null> {
    return (await this.fileSources(sha256, filename))[0]?.project ?? null;
  }

  async openFile(sha256: string, filename: string): Promise<FileHandle | null> {
    const sources = (await this.fileSources(sha256, filename)).map((s) => s.repo);
    return this.firstOf(sources, (r) => this.unlessFiltered(r, sha256, filename, () => r.openFile(sha256, filename)));
  }

  async openCoreMetadata(sha256: string, filename: string): Promise<FileHandle | null> {
    const sources = (await this.fileSources(sha256, filename)).map((s) => s.repo);
    return this.firstOf(sources, (r) => this.unlessFiltered(r, sha256, filename, () => r.openCoreMetadata(sha256, filename)));
  }

  /** A file URL is served only where the page lists the file: one the filters drop is a 404 saying which. */
  private async unlessFiltered<T>(r: LeafRepository, sha256: string, filename: string, open: () => Promise<T>): Promise<T> {
    const reason = await this.filteredOut(r, sha256, filename);
    if (reason !== null) throw new NotFound(`${reason}.`);
    return open();
  }

  /**
   * The first member, in order, that answers; a failure only counts if nobody
   * does, and so does a member's refusal with a reason (a cache wheel the
   * upstream's state hides, a file the upstream removed or a filter drops).
   */
  private async firstOf<T>(sources: readonly LeafRepository[], f: (repo: LeafRepository) => Promise<T | null>): Promise<T | null> {
    let failure: UpstreamUnavailable | NotFound | Gone | undefined;
    for (const repo of sources) {
      try {
        const v = await f(repo);
        if (v !== null) return v;
      } catch (err) {
        if (!(err instanceof UpstreamUnavailable) && !(err instanceof NotFound) && !(err instanceof Gone)) throw err;
        failure ??= err;
      }
    }
    if (failure) throw failure;
    return null;
  }

  /** The members' release details merged; on the same filename the earlier member wins, as on pages. */
  async releaseFiles(project: string): Promise<ReleaseFiles | null> {
    const answers = await this.ask((await this.route(project)).sources, async (r) => (r.releaseFiles ? r.releaseFiles(project) : null));
    const found = answers.flatMap((a) => (a.value ? [a.value] : []));
    if (found.length === 0) return null;
    const seen = new Set<string>();
    const owner = new Map<string, ReleaseFiles>();
    const files = found.flatMap((r) => r.files.filter((f) => !seen.has(f.filename) && seen.add(f.filename) && owner.set(f.filename, r)));
    return { files, metadataJson: async (filename) => (await owner.get(filename)?.metadataJson(filename)) ?? null };
  }
}

/** The own pages of the caches that augment `remote`, in member order. */
function cachePagesOf(remote: string, answers: readonly Answer<ProjectPage>[]): { cache: string; page: ProjectPage }[] {
  return answers.flatMap((a) => (a.repo.kind === 'wheelcache' && a.repo.augments === remote && a.value ? [{ cache: a.repo.name, page: a.value }] : []));
}

function noneFound(answers: readonly Answer<unknown>[]): null {
  const failed = answers.find((a) => a.error);
  if (failed) throw failed.error;
  return null;
}

/**
 * A remote reached through several virtual repositories takes, on each way,
 * the longest cooldown along it, and of the ways the shortest (it is listed
 * wherever one way lists it, as with the dependency-confusion rule);
 * exemptions scoped to any of them apply.
 */
function viewOf(leaf: Leaf): PageView {
  const cooldownMs = Math.min(...leaf.paths.map((via) => Math.max(...via.map((v) => v.cooldownMs))));
  return { cooldownMs, via: [...new Set(leaf.paths.flat().map((v) => v.name))] };
}

function flatten(self: VirtualRepository, members: readonly Member[]): Leaf[] {
  const leaves = new Map<string, Leaf>();
  const visit = (repo: Member, via: VirtualRepository[]): void => {
    if (repo.kind === 'virtual') {
      for (const leaf of repo.leaves) for (const path of leaf.paths) add(leaf.repo, [...via, ...path]);
    } else {
      add(repo, via);
    }
  };
  const add = (repo: LeafRepository, via: VirtualRepository[]): void => {
    const leaf = leaves.get(repo.name);
    if (leaf) leaf.paths.push(via);
    else leaves.set(repo.name, { repo, paths: [via] });
  };
  for (const m of members) visit(m, [self]);
  return [...leaves.values()];
}
