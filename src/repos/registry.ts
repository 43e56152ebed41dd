/**
 * Builds the configured repositories by name. Virtual repositories are
 * accepted in the config but answer 501 until they are implemented, so a
 * config written for them already loads.
 */
import type { Config } from '../config/schema.ts';
import { NotFound, NotImplementedYet } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { UpstreamMetrics } from '../metrics.ts';
import type { BlobStore, MetadataStore, RemoteCacheStore } from '../storage/types.ts';
import { LocalRepository } from './local.ts';
import { RemoteRepository } from './remote.ts';
import type { RepoKind, Repository } from './types.ts';

export interface RegistryDeps {
  blobs: BlobStore;
  store: MetadataStore;
  remoteStore: RemoteCacheStore;
  logger: Logger;
  metrics: UpstreamMetrics;
}

export class Registry {
  private readonly repos = new Map<string, Repository>();

  constructor(readonly config: Config, deps: RegistryDeps) {
    for (const [name, rc] of Object.entries(config.repositories)) {
      let repo: Repository;
      if (rc.type === 'local') repo = new LocalRepository(name, rc, deps.blobs, deps.store);
      else if (rc.type === 'remote') repo = new RemoteRepository(name, rc, deps.blobs, deps.remoteStore, deps.logger, deps.metrics);
      else repo = new UnimplementedRepository(name, rc.type);
      this.repos.set(name, repo);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.repos.values()].map((r) => (r instanceof RemoteRepository ? r.close() : undefined)));
  }

  get(name: string): Repository {
    const repo = this.repos.get(name);
    if (!repo) throw new NotFound(`No repository named '${name}'. Configured: ${[...this.repos.keys()].join(', ')}.`);
    if (repo instanceof UnimplementedRepository) repo.reject();
    return repo;
  }

  has(name: string): boolean {
    return this.repos.has(name);
  }

  /** For admin commands that only make sense on hosted repositories. */
  local(name: string): LocalRepository {
    const repo = this.get(name);
    if (!(repo instanceof LocalRepository)) throw new NotFound(`'${name}' is a ${repo.kind} repository; this needs a local one.`);
    return repo;
  }

  get defaultName(): string {
    return this.config.defaultRepository;
  }
}

class UnimplementedRepository implements Repository {
  readonly indexMaxAge = 0;
  constructor(readonly name: string, readonly kind: RepoKind) {}
  reject(): never {
    throw new NotImplementedYet(`Repository '${this.name}' is of type '${this.kind}', which this version of pydepot does not serve yet.`);
  }
  projectVersion(): never { return this.reject(); }
  projectPage(): never { return this.reject(); }
  listVersion(): never { return this.reject(); }
  listProjects(): AsyncIterable<never> { return this.reject(); }
  openFile(): never { return this.reject(); }
  openCoreMetadata(): never { return this.reject(); }
  projectFiles(): never { return this.reject(); }
  fileMetadataJson(): never { return this.reject(); }
}
