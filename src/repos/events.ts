/**
 * What repositories tell whoever listens, without knowing who: the registry
 * owns one RepositoryEvents, repositories publish to it, and features that
 * watch them (the squatting watch) subscribe there. A listener's failure is
 * logged and never reaches the request that published.
 */
import type { Logger } from '../log.ts';
import type { ProjectPage } from '../pypi/pages.ts';
import type { SkipReason } from './confusion.ts';

class Channel<E> {
  private readonly listeners: ((event: E) => void)[] = [];

  constructor(private readonly name: string, private readonly logger: Logger) {}

  on(listener: (event: E) => void): void {
    this.listeners.push(listener);
  }

  emit(event: E): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ event: this.name, err: (err as Error).message }, 'repository event listener failed');
      }
    }
  }
}

export interface UpstreamPageEvent {
  /** The remote repository that fetched the page. */
  remote: string;
  page: ProjectPage;
}

export interface RemotesSkippedEvent {
  /** The virtual repository that applied the dependency-confusion rule. */
  repo: string;
  project: string;
  skipped: { remote: string; reason: SkipReason }[];
}

export class RepositoryEvents {
  /** A remote repository fetched a new or changed page from its upstream. */
  readonly upstreamPage: Channel<UpstreamPageEvent>;
  /** A virtual repository kept its remote members out of a project (once per project and process). */
  readonly remotesSkipped: Channel<RemotesSkippedEvent>;

  constructor(logger: Logger) {
    this.upstreamPage = new Channel('upstream-page', logger);
    this.remotesSkipped = new Channel('remotes-skipped', logger);
  }
}
