/**
 * The squatting watch, in one place: upstream projects whose names are
 * internal (someone registered `acme-internal-utils` on pypi.org). The rule
 * (confusion.ts) already keeps them out of every merged page; this tells the
 * operator, once per name, before a client configured with pypi.org as an
 * extra index could be tricked. It learns of squats three ways:
 *   - every page a remote fetches is checked against each virtual repository
 *     that reaches the remote (the upstream-page event);
 *   - when a virtual repository first keeps its remotes out of a project, the
 *     pages those remotes already hold are looked at (remotes-skipped);
 *   - `check()` asks the remotes about every hosted name (the background
 *     check every squatCheckInterval, and `pydepot confusion report`).
 */
import { NotFound, UpstreamUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ProjectPage } from '../pypi/pages.ts';
import { sortVersions } from '../pypi/versions.ts';
import { jobRound, type Leases } from '../storage/lease.ts';
import type { SquatRecord, SquatStore } from '../storage/types.ts';
import type { SkipReason } from './confusion.ts';
import type { RepositoryEvents } from './events.ts';
import type { RemoteRepository } from './remote.ts';
import type { VirtualRepository } from './virtual.ts';

export interface CheckResult {
  repo: string;
  /** Names asked of a remote. */
  checked: number;
  /** `<remote>/<name>: <reason>` for each that could not be asked. */
  failed: string[];
}

export class SquatWatch {
  /** Records the events started, not yet written (idle() waits for them). */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly store: SquatStore,
    private readonly logger: Logger,
    private readonly remotes: ReadonlyMap<string, RemoteRepository>,
    private readonly virtuals: readonly VirtualRepository[],
    events: RepositoryEvents,
  ) {
    events.upstreamPage.on(({ remote, page }) => this.background(async () => {
      for (const v of this.virtuals) {
        if (!v.remoteNames().includes(remote)) continue;
        const d = await v.decide(page.name);
        if (!d.merge) await this.record(remote, page, d.reason);
      }
    }));
    // A page cached before the project became internal is a squat already known.
    events.remotesSkipped.on(({ project, skipped }) => this.background(async () => {
      for (const { remote, reason } of skipped) {
        const page = await this.remotes.get(remote)?.cachedPage(project);
        if (page) await this.record(remote, page, reason);
      }
    }));
  }

  /** Runs an event's recording in the background: the request that raised it does not wait; a failure is logged. */
  private background(task: () => Promise<void>): void {
    const p = task()
      .catch((err: unknown) => this.logger.warn({ reason: (err as Error).message }, 'could not record a squatted name'))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Resolves once the recordings started by events so far are written (tests). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** `page`: what remote `remote` holds under a name that is internal for `reason`. */
  private async record(remote: string, page: ProjectPage, reason: SkipReason): Promise<void> {
    if (page.files.length === 0 && page.versions.length === 0) return;
    const { newProject, newVersions } = await this.store.recordSquat(remote, page.name, reason, page.versions, new Date().toISOString());
    if (newProject) {
      this.logger.warn(
        { remote, project: page.name, versions: page.versions, reason },
        `upstream '${remote}' holds a project whose name is internal; it is never merged (dependency-confusion rule): see \`pydepot confusion report\``,
      );
    } else if (newVersions.length > 0) {
      this.logger.info({ remote, project: page.name, versions: newVersions }, 'new upstream versions of an internal project name');
    }
  }

  /**
   * Asks each skipped remote, honouring its cache TTL, whether it holds any
   * of a virtual repository's hosted names. Names matched only by a pattern
   * are checked when requested.
   */
  async check(virtual: VirtualRepository): Promise<CheckResult> {
    let checked = 0;
    const failed: string[] = [];
    for (const name of await virtual.hostedNames()) {
      for (const { remote: remoteName, reason } of await virtual.skippedRemotes(name)) {
        const remote = this.remotes.get(remoteName)!;
        try {
          await remote.projectVersion(name);
          checked++;
        } catch (err) {
          if (!(err instanceof UpstreamUnavailable || err instanceof NotFound)) throw err;
          failed.push(`${remote.name}/${name}: ${err.message}`);
          continue;
        }
        const page = await remote.cachedPage(name);
        if (page) await this.record(remote.name, page, reason);
      }
    }
    return { repo: virtual.name, checked, failed };
  }

  async checkAll(): Promise<CheckResult[]> {
    const results: CheckResult[] = [];
    for (const v of this.virtuals) results.push(await this.check(v));
    return results;
  }

  /**
   * Checks now and then, so a squat is logged even if nobody looks. Not at
   * start-up: the first check waits one interval, and a check never delays
   * a request. Returns the function that stops it. With `leases`, each round
   * of a virtual repository's check runs on the process that takes the lease
   * `job:squats:<virtual>` (jobRound): one replica (or worker) asks the
   * remotes per round, the others skip it.
   */
  schedule(leases?: Leases | null): () => void {
    const timers: NodeJS.Timeout[] = [];
    for (const v of this.virtuals) {
      if (v.squatCheckInterval === 0) continue;
      let running = false;
      const timer = setInterval(() => {
        if (running) return;
        running = true;
        const lease = `job:squats:${v.name}`;
        jobRound(leases, lease, v.squatCheckInterval * 1000, async () => {
          const { checked, failed } = await this.check(v);
          this.logger.debug({ repo: v.name, checked, failed: failed.length }, 'squatting check done');
        })
          .then((ran) => { if (!ran) this.logger.debug({ repo: v.name, lease }, 'squatting check skipped: another process runs this round'); })
          .catch((err: Error) => this.logger.warn({ repo: v.name, reason: err.message }, 'squatting check failed'))
          .finally(() => { running = false; });
      }, v.squatCheckInterval * 1000);
      timer.unref();
      timers.push(timer);
    }
    return () => timers.forEach(clearInterval);
  }

  /** What was recorded, each project's versions in PEP 440 order. */
  async report(): Promise<SquatRecord[]> {
    return (await this.store.listSquats()).map((s) => {
      const seen = new Map(s.versions.map((v) => [v.version, v.firstSeen]));
      return { ...s, versions: sortVersions(seen.keys()).map((version) => ({ version, firstSeen: seen.get(version)! })) };
    });
  }

  count(): Promise<number> {
    return this.store.squatCount();
  }
}
