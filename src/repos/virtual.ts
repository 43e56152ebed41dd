/**
 * A virtual repository: one index over an ordered list of members (local,
 * remote, or virtual themselves), merged per project. Which members may
 * answer for a project is decided by the dependency-confusion rule
 * (confusion.ts), here and nowhere else: `route()`.
 *
 * Nested virtual repositories are flattened into their leaves (local and
 * remote repositories), each remote remembering the virtual repositories it
 * is reached through: it may contribute only if every one of them allows it.
 */
import { LRUCache } from 'lru-cache';
import type { VirtualRepoConfig } from '../config/schema.ts';
import { NotFound, UpstreamUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ConfusionMetrics } from '../metrics.ts';
import type { FileRow } from '../storage/types.ts';
import { compilePolicy, decideUpstream, type ConfusionPolicy, type SkipReason, type UpstreamDecision } from './confusion.ts';
import { LocalRepository } from './local.ts';
import { mergePages, mergeSortedLists } from './merge.ts';
import { RemoteRepository } from './remote.ts';
import type { SquatWatch } from './squat-watch.ts';
import type { FileHandle, ProjectPage, ProjectSummary, Repository } from './types.ts';

type LeafRepository = LocalRepository | RemoteRepository;

interface Leaf {
  repo: LeafRepository;
  /** Each way the leaf is reached: the virtual repositories passed through, this one first. */
  paths: VirtualRepository[][];
}

interface Route {
  /** Members that may answer for the project, in member order. */
  sources: LeafRepository[];
  skipped: { remote: RemoteRepository; reason: SkipReason }[];
}

interface Answer<T> {
  repo: LeafRepository;
  value: T | null;
  error?: UpstreamUnavailable;
}

export interface VirtualDeps {
  logger: Logger;
  metrics: ConfusionMetrics;
  squats: SquatWatch;
}

export class VirtualRepository implements Repository {
  readonly kind = 'virtual' as const;
  readonly indexMaxAge: number;
  readonly uploadTo: string | null;
  readonly squatCheckInterval: number;
  private readonly policy: ConfusionPolicy;
  /** Read by an enclosing virtual repository when it flattens its members. */
  readonly leaves: readonly Leaf[];
  private readonly localLeaves: LocalRepository[];
  // Once per project and process: a log line and a look at the skipped remotes' caches.
  private readonly noticed = new LRUCache<string, true>({ max: 10_000 });

  constructor(readonly name: string, config: VirtualRepoConfig, members: readonly Repository[], private readonly deps: VirtualDeps) {
    this.indexMaxAge = config.indexMaxAge;
    this.uploadTo = config.uploadTo;
    this.squatCheckInterval = config.squatCheckInterval;
    this.policy = compilePolicy(config.internal, config.mergeUpstream);
    this.leaves = flatten(this, members);
    this.localLeaves = this.leaves.flatMap((l) => (l.repo instanceof LocalRepository ? [l.repo] : []));
    for (const leaf of this.leaves) {
      const remote = leaf.repo;
      if (remote instanceof RemoteRepository) remote.onUpstreamPage((page) => this.watch(remote, page));
    }
  }

  /** The rule for this repository alone; nested ones decide for themselves. */
  decide(project: string): UpstreamDecision {
    return decideUpstream(project, this.localLeaves.some((l) => l.hasProject(project)), this.policy);
  }

  /** May a remote reached through this repository list `project` on the root page? */
  private listsUpstreamName(project: string): boolean {
    return this.policy.mergeUpstream.has(project) || !this.policy.matchesInternal(project);
  }

  /** The one place the dependency-confusion rule is applied to serving. */
  private route(project: string, note = true): Route {
    const decisions = new Map<VirtualRepository, UpstreamDecision>();
    const decisionOf = (v: VirtualRepository): UpstreamDecision => {
      let d = decisions.get(v);
      if (!d) decisions.set(v, (d = v.decide(project)));
      return d;
    };
    const route: Route = { sources: [], skipped: [] };
    for (const { repo, paths } of this.leaves) {
      if (repo instanceof LocalRepository) {
        route.sources.push(repo);
        continue;
      }
      let blocked: SkipReason | null = null;
      const allowed = paths.some((via) => {
        const refusal = via.map(decisionOf).find((d) => !d.merge);
        if (refusal && !refusal.merge) blocked ??= refusal.reason;
        return !refusal;
      });
      if (allowed) route.sources.push(repo);
      else route.skipped.push({ remote: repo, reason: blocked! });
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
    // A page cached before the project became internal is a squat already known.
    for (const { remote, reason: why } of skipped) {
      const page = remote.cachedPage(project);
      if (page) this.deps.squats.record(remote.name, page, why);
    }
  }

  /** Every page a remote member fetches is checked against the rule. */
  private watch(remote: RemoteRepository, page: ProjectPage): void {
    const d = this.decide(page.name);
    if (!d.merge) this.deps.squats.record(remote.name, page, d.reason);
  }

  /**
   * Asks each remote member, honouring its cache TTL, whether it holds any
   * of the hosted project names (the squatting check of `pydepot confusion
   * report`). Names matched only by a pattern are checked when requested.
   */
  async checkUpstreams(): Promise<{ checked: number; failed: string[] }> {
    const names = new Set(this.localLeaves.flatMap((l) => l.projectNames()));
    let checked = 0;
    const failed: string[] = [];
    for (const name of names) {
      for (const { remote, reason } of this.route(name, false).skipped) {
        try {
          await remote.projectVersion(name);
          checked++;
        } catch (err) {
          if (!(err instanceof UpstreamUnavailable || err instanceof NotFound)) throw err;
          failed.push(`${remote.name}/${name}: ${err.message}`);
          continue;
        }
        const page = remote.cachedPage(name);
        if (page) this.deps.squats.record(remote.name, page, reason);
      }
    }
    return { checked, failed };
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
    const answers = await this.ask(this.route(project).sources, (r) => r.projectVersion(project));
    if (answers.every((a) => a.value === null)) return noneFound(answers);
    // Names the members and their tokens: any member's change, a member
    // failing or recovering, and the rule's outcome all change it.
    return answers.map((a) => `${a.repo.name}:${a.error ? '!' : (a.value ?? '-')}`).join(' ');
  }

  async projectPage(project: string): Promise<ProjectPage | null> {
    // Not noted again: projectVersion, asked first for every page, did.
    const answers = await this.ask(this.route(project, false).sources, (r) => r.projectPage(project));
    const pages = answers.flatMap((a) => (a.value ? [a.value] : []));
    if (pages.length === 0) return noneFound(answers);
    return mergePages(pages);
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
    const keep = repo instanceof RemoteRepository
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
  private fileSources(sha256: string, filename: string): LeafRepository[] {
    const out: LeafRepository[] = [];
    const routes = new Map<string, Route>();
    for (const { repo } of this.leaves) {
      const project = repo.fileProject(sha256, filename);
      if (project === null) continue;
      let route = routes.get(project);
      if (!route) routes.set(project, (route = this.route(project, false)));
      if (route.sources.includes(repo)) out.push(repo);
    }
    return out;
  }

  async openFile(sha256: string, filename: string): Promise<FileHandle | null> {
    return this.firstOf(this.fileSources(sha256, filename), (r) => r.openFile(sha256, filename));
  }

  async openCoreMetadata(sha256: string, filename: string): Promise<FileHandle | null> {
    return this.firstOf(this.fileSources(sha256, filename), (r) => r.openCoreMetadata(sha256, filename));
  }

  /** The first member, in order, that answers; a failure only counts if nobody does. */
  private async firstOf<T>(sources: readonly LeafRepository[], f: (repo: LeafRepository) => Promise<T | null>): Promise<T | null> {
    let failure: UpstreamUnavailable | undefined;
    for (const repo of sources) {
      try {
        const v = await f(repo);
        if (v !== null) return v;
      } catch (err) {
        if (!(err instanceof UpstreamUnavailable)) throw err;
        failure ??= err;
      }
    }
    if (failure) throw failure;
    return null;
  }

  async projectFiles(project: string): Promise<FileRow[]> {
    const answers = await this.ask(this.route(project).sources, (r) => r.projectFiles(project));
    const seen = new Set<string>();
    return answers.flatMap((a) => a.value ?? []).filter((f) => !seen.has(f.filename) && seen.add(f.filename));
  }

  async fileMetadataJson(filename: string): Promise<string | null> {
    return this.firstOf(this.localLeaves, (r) => r.fileMetadataJson(filename));
  }
}

function noneFound(answers: readonly Answer<unknown>[]): null {
  const failed = answers.find((a) => a.error);
  if (failed) throw failed.error;
  return null;
}

function flatten(self: VirtualRepository, members: readonly Repository[]): Leaf[] {
  const leaves = new Map<string, Leaf>();
  const visit = (repo: Repository, via: VirtualRepository[]): void => {
    if (repo instanceof VirtualRepository) {
      for (const leaf of repo.leaves) for (const path of leaf.paths) add(leaf.repo, [...via, ...path]);
    } else if (repo instanceof LocalRepository || repo instanceof RemoteRepository) {
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
