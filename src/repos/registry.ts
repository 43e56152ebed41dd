/**
 * Builds the configured repositories by name. Virtual repositories are built
 * after their members (the config is checked for cycles), whatever the
 * order of the file.
 */
import type { Config } from '../config/schema.ts';
import { MethodNotAllowed, NotFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { BlobStore, MetadataStore, RemoteCacheStore, SquatStore } from '../storage/types.ts';
import { LocalRepository } from './local.ts';
import { RemoteRepository } from './remote.ts';
import { SquatWatch } from './squat-watch.ts';
import type { Repository } from './types.ts';
import { VirtualRepository } from './virtual.ts';

export interface RegistryDeps {
  blobs: BlobStore;
  store: MetadataStore;
  remoteStore: RemoteCacheStore;
  squats: SquatStore;
  logger: Logger;
  metrics: Pick<Metrics, 'upstream' | 'confusion'>;
}

export class Registry {
  private readonly repos = new Map<string, Repository>();

  constructor(readonly config: Config, deps: RegistryDeps) {
    const squats = new SquatWatch(deps.squats, deps.logger);
    const build = (name: string): Repository => {
      const built = this.repos.get(name);
      if (built) return built;
      const rc = config.repositories[name]!;
      let repo: Repository;
      if (rc.type === 'local') repo = new LocalRepository(name, rc, deps.blobs, deps.store);
      else if (rc.type === 'remote') repo = new RemoteRepository(name, rc, deps.blobs, deps.remoteStore, deps.logger, deps.metrics.upstream);
      else repo = new VirtualRepository(name, rc, rc.members.map(build), { logger: deps.logger, metrics: deps.metrics.confusion, squats });
      this.repos.set(name, repo);
      return repo;
    };
    for (const name of Object.keys(config.repositories)) build(name);
  }

  async close(): Promise<void> {
    await Promise.all([...this.repos.values()].map((r) => (r instanceof RemoteRepository ? r.close() : undefined)));
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

  /**
   * Where an upload POSTed to `name` is stored: the repository itself, or a
   * virtual repository's `uploadTo` (Artifactory's default deployment repository).
   */
  uploadTarget(name: string): LocalRepository {
    const repo = this.get(name);
    if (repo instanceof LocalRepository) return repo;
    if (repo instanceof VirtualRepository && repo.uploadTo !== null) return this.local(repo.uploadTo);
    const hint = repo instanceof VirtualRepository
      ? `set 'uploadTo' on it, or upload to one of its local members`
      : 'upload to a local repository';
    throw new MethodNotAllowed(`Repository '${repo.name}' is a ${repo.kind} repository and does not accept uploads; ${hint}.`, 'GET, HEAD');
  }

  get defaultName(): string {
    return this.config.defaultRepository;
  }
}
