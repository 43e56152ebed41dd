/**
 * Builds the configured repositories by name, and is the one place that
 * knows their classes: everything else talks to the Repository interface.
 * Virtual repositories are built after their members (the config is checked
 * for cycles), whatever the order of the file. Features that watch the
 * repositories (the squatting watch) subscribe to `events` here.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import { MethodNotAllowed, NotFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { newOwner, type Leases } from '../storage/lease.ts';
import type { AuditStore, BlobStore, CooldownStore, LeaseStore, MetadataStore, RemoteCacheStore, SquatStore } from '../storage/types.ts';
import { systemClock, type Clock } from '../time.ts';
import { BlobPins } from './blob-pins.ts';
import { RepositoryEvents } from './events.ts';
import { ExemptionList } from './exemptions.ts';
import { LocalRepository } from './local.ts';
import { RemoteRepository } from './remote.ts';
import { SquatWatch } from './squat-watch.ts';
import type { Repository, UploadTarget } from './types.ts';
import { VirtualRepository, type Member } from './virtual.ts';
import { WheelCacheRepository } from './wheelcache.ts';

export interface RegistryDeps {
  blobs: BlobStore;
  store: MetadataStore;
  remoteStore: RemoteCacheStore;
  squats: SquatStore;
  audit: AuditStore;
  cooldown: CooldownStore;
  logger: Logger;
  metrics: Pick<Metrics, 'upstream' | 'confusion' | 'wheelcache' | 'cooldown' | 'cache'>;
  /** What time it is for everything that changes with the clock alone (page freshness, cooldowns). Default: the system's. */
  clock?: Clock;
  /** Shared with the other processes on the storage; without it each process fetches on its own. */
  leases?: LeaseStore;
}

export class Registry {
  private readonly repos = new Map<string, LocalRepository | RemoteRepository | VirtualRepository | WheelCacheRepository>();
  readonly events: RepositoryEvents;
  readonly squats: SquatWatch;
  /** This process's hold on the leases shared with every process on the database (null: none shared). */
  readonly leases: Leases | null;

  constructor(readonly config: Config, deps: RegistryDeps) {
    this.events = new RepositoryEvents(deps.logger);
    const exemptions = new ExemptionList(deps.cooldown);
    const clock = deps.clock ?? systemClock;
    // One per process: blobs are shared between repositories, and so is who reads them.
    const pins = new BlobPins();
    const processId = randomUUID();
    const leases = deps.leases ? { store: deps.leases, owner: newOwner(), ttlMs: config.leaseTtl * 1000 } : null;
    this.leases = leases;
    const build = (name: string): Member => {
      const built = this.repos.get(name);
      if (built) return built;
      const rc = config.repositories[name]!;
      let repo: LocalRepository | RemoteRepository | VirtualRepository | WheelCacheRepository;
      if (rc.type === 'local') repo = new LocalRepository(name, rc, deps.blobs, deps.store, deps.audit);
      else if (rc.type === 'remote') {
        repo = new RemoteRepository(name, rc, {
          blobs: deps.blobs, store: deps.remoteStore, logger: deps.logger, metrics: deps.metrics.upstream, events: this.events,
          clock, exemptions, cooldownMetrics: deps.metrics.cooldown,
          pins, cacheMetrics: deps.metrics.cache, processId, leases,
        });
      }
      else if (rc.type === 'wheelcache') {
        // The config check made `augments` a remote repository.
        repo = new WheelCacheRepository(name, rc, build(rc.augments) as RemoteRepository, {
          blobs: deps.blobs, store: deps.store, audit: deps.audit, logger: deps.logger, metrics: deps.metrics.wheelcache,
          internalReason: (project) => this.internalReason(project),
        });
      } else repo = new VirtualRepository(name, rc, rc.members.map(build), { logger: deps.logger, metrics: deps.metrics.confusion, events: this.events });
      this.repos.set(name, repo);
      return repo;
    };
    for (const name of Object.keys(config.repositories)) build(name);
    const all = [...this.repos.values()];
    this.squats = new SquatWatch(
      deps.squats, deps.logger,
      new Map(all.flatMap((r) => (r instanceof RemoteRepository ? [[r.name, r] as const] : []))),
      all.filter((r): r is VirtualRepository => r instanceof VirtualRepository),
      this.events,
    );
  }

  /** Upstream files held back by the cooldown right now, by the repository serving the pages. */
  async cooldownHidden(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const r of this.repos.values()) {
      if (!(r instanceof RemoteRepository)) continue;
      for (const [label, n] of await r.cooldownHidden()) out.set(label, (out.get(label) ?? 0) + n);
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((r) => r.close?.()));
    // Squats noticed by requests are written in the background: before the database closes.
    await this.squats.idle();
  }

  /** The remote repositories, for their caches (sizes, eviction at start-up). */
  remotes(): RemoteRepository[] {
    return [...this.repos.values()].filter((r): r is RemoteRepository => r instanceof RemoteRepository);
  }

  get(name: string): Repository {
    const repo = this.repos.get(name);
    if (!repo) throw new NotFound(`No repository named '${name}'. Configured: ${[...this.repos.keys()].join(', ')}.`);
    return repo;
  }

  has(name: string): boolean {
    return this.repos.has(name);
  }

  all(): Repository[] {
    return [...this.repos.values()];
  }

  /** For admin commands that only make sense on hosted repositories. */
  local(name: string): LocalRepository {
    const repo = this.get(name);
    if (!(repo instanceof LocalRepository)) throw new NotFound(`'${name}' is a ${repo.kind} repository; this needs a local one.`);
    return repo;
  }

  /** The stored files of a local repository or a wheel cache: what yank and delete change. */
  hosted(name: string): LocalRepository {
    const repo = this.get(name);
    if (repo instanceof WheelCacheRepository) return repo.hosted;
    if (!(repo instanceof LocalRepository)) throw new NotFound(`'${name}' is a ${repo.kind} repository; this needs a local or wheelcache one.`);
    return repo;
  }

  /**
   * Why a project name is internal anywhere in this configuration, or null:
   * a local repository hosts it, or a virtual repository's `internal`
   * patterns match it. A wheel cache never takes such a name.
   */
  async internalReason(project: string): Promise<string | null> {
    for (const repo of this.repos.values()) {
      if (repo instanceof LocalRepository && (await repo.hostsProject(project))) return `hosted by local repository '${repo.name}'`;
      if (repo instanceof VirtualRepository && repo.matchesInternalPattern(project)) return `matches the internal patterns of virtual repository '${repo.name}'`;
    }
    return null;
  }

  /**
   * Where an upload POSTed to `name` is stored: the repository itself, or a
   * virtual repository's `uploadTo` (Artifactory's default deployment repository).
   */
  uploadTarget(name: string): UploadTarget {
    const repo = this.get(name);
    if (repo instanceof LocalRepository || repo instanceof WheelCacheRepository) return repo;
    if (repo instanceof VirtualRepository && repo.uploadTo !== null) return this.local(repo.uploadTo);
    const hint = repo instanceof VirtualRepository
      ? `set 'uploadTo' on it, or upload to one of its local members`
      : 'upload to a local or wheelcache repository';
    throw new MethodNotAllowed(`Repository '${repo.name}' is a ${repo.kind} repository and does not accept uploads; ${hint}.`, 'GET, HEAD');
  }

  get defaultName(): string {
    return this.config.defaultRepository;
  }
}
