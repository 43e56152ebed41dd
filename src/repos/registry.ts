/**
 * Builds the configured repositories by name. Remote and virtual
 * repositories are accepted in the config but answer 501 until they are
 * implemented, so a config written for them already loads.
 */
import type { Config } from '../config/schema.ts';
import { NotFound, NotImplementedYet } from '../errors.ts';
import type { BlobStore, MetadataStore } from '../storage/types.ts';
import { LocalRepository } from './local.ts';
import type { RepoKind, Repository } from './types.ts';

export class Registry {
  private readonly repos = new Map<string, Repository>();

  constructor(readonly config: Config, blobs: BlobStore, store: MetadataStore) {
    for (const [name, rc] of Object.entries(config.repositories)) {
      this.repos.set(name, rc.type === 'local' ? new LocalRepository(name, rc, blobs, store) : new UnimplementedRepository(name, rc.type));
    }
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
  listProjects(): never { return this.reject(); }
  openFile(): never { return this.reject(); }
  openCoreMetadata(): never { return this.reject(); }
  projectFiles(): never { return this.reject(); }
  fileMetadataJson(): never { return this.reject(); }
}
