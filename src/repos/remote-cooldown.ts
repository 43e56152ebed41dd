/**
 * A remote repository's cooldown at run time: the rule (cooldown.ts) applied
 * to its cached pages, through its own setting or a virtual repository's.
 * Each page's schedule (its files' clocks) is computed once per page version
 * and kept; judging it at a moment is then a binary search, so the check on
 * every request costs next to nothing.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log.ts';
import type { CooldownMetrics } from '../metrics.ts';
import type { ProjectPage } from '../pypi/pages.ts';
import type { RemoteCacheStore } from '../storage/types.ts';
import type { Clock } from '../time.ts';
import { buildSchedule, judge, visiblePage, type Schedule, type Visibility } from './cooldown.ts';
import type { ExemptionList } from './exemptions.ts';
import type { StoredPage } from './removals.ts';
import type { PageView } from './types.ts';

/** The cooldown one page is judged by. */
export interface CooldownView {
  ms: number;
  /** The remote and the virtual repositories the page is served through: exemptions scoped to one of them apply. */
  scopes: ReadonlySet<string>;
  /** The repository serving the page (the virtual one, else the remote): the metrics' label. */
  label: string;
}

export interface RemoteCooldownDeps {
  store: RemoteCacheStore;
  exemptions: ExemptionList;
  clock: Clock;
  metrics: CooldownMetrics;
  logger: Logger;
}

export class RemoteCooldown {
  private readonly own: CooldownView | null;
  private readonly views = new WeakMap<PageView, CooldownView | null>();
  private readonly schedules = new LRUCache<string, { serial: number; schedule: Schedule }>({ max: 2000 });
  /** Pages judged lately, by label and project: what the hidden-files gauge counts when scraped. */
  private readonly judged = new LRUCache<string, { project: string; view: CooldownView }>({ max: 10_000 });
  // Once per exemption, project and process: a log line when it lists files.
  private readonly noticed = new LRUCache<string, true>({ max: 10_000 });

  constructor(private readonly remote: string, ownSeconds: number, private readonly deps: RemoteCooldownDeps) {
    this.own = ownSeconds > 0 ? { ms: ownSeconds * 1000, scopes: new Set([remote]), label: remote } : null;
  }

  /** The remote's own cooldown, or the virtual repository's when longer; null: none applies. */
  view(via?: PageView): CooldownView | null {
    if (!via) return this.own;
    let v = this.views.get(via);
    if (v === undefined) {
      const ms = Math.max(this.own?.ms ?? 0, via.cooldownMs);
      v = ms > 0 ? { ms, scopes: new Set([this.remote, ...via.via]), label: via.via[0] ?? this.remote } : null;
      this.views.set(via, v);
    }
    return v;
  }

  /** What the cached page of `project` (at `serial`) lists now. */
  async judge(project: string, serial: number, view: CooldownView): Promise<Visibility> {
    const now = this.deps.clock();
    this.judged.set(`${view.label}\u0000${project}`, { project, view });
    const schedule = await this.schedule(project, serial);
    return judge(schedule, view.ms, await this.deps.exemptions.covering(project, view.scopes, now), now);
  }

  /** The page without the files in their cooldown; null when it has none left. */
  async filter(project: string, serial: number, page: ProjectPage, view: CooldownView): Promise<ProjectPage | null> {
    const now = this.deps.clock();
    const exemptions = await this.deps.exemptions.covering(project, view.scopes, now);
    const v = visiblePage(page, await this.schedule(project, serial, page), view.ms, exemptions, now);
    if (v.admitted > 0) {
      this.deps.metrics.exemptionUses.inc({ repo: view.label });
      for (const id of v.exemptionsUsed) {
        const key = `${id}\u0000${view.label}\u0000${project}`;
        if (this.noticed.has(key)) continue;
        this.noticed.set(key, true);
        this.deps.logger.info({ repo: view.label, project, exemption: id, files: v.admitted }, 'cooldown exemption lists files still in their cooldown');
      }
    }
    return v.page;
  }

  /** Files held back right now on the pages judged lately, by serving repository. */
  async hiddenNow(): Promise<Map<string, number>> {
    const now = this.deps.clock();
    const out = new Map<string, number>();
    for (const { project, view } of [...this.judged.values()]) {
      const kept = this.schedules.get(project);
      if (!kept) continue;
      const hidden = judge(kept.schedule, view.ms, await this.deps.exemptions.covering(project, view.scopes, now), now).hidden;
      out.set(view.label, (out.get(view.label) ?? 0) + hidden);
    }
    return out;
  }

  private async schedule(project: string, serial: number, page?: ProjectPage): Promise<Schedule> {
    const kept = this.schedules.get(project);
    if (kept && kept.serial === serial) return kept.schedule;
    // The stored page is read with its serial: the schedule is kept under the
    // serial of the body it was built from, whichever one is stored by now.
    const stored = page ? null : await this.storedFiles(project);
    const files = page?.files ?? stored!.files;
    const schedule = buildSchedule(files, await this.deps.store.firstSeen(this.remote, project), this.deps.clock());
    this.schedules.set(project, { serial: stored?.serial ?? serial, schedule });
    return schedule;
  }

  /** Every file the stored page may list: the upstream's, and the removed ones keepRemoved may keep (removals.ts). */
  private async storedFiles(project: string): Promise<{ serial: number | undefined; files: ProjectPage['files'] }> {
    const row = await this.deps.store.getPageWithBody(this.remote, project);
    if (!row?.body) return { serial: row?.serial, files: [] };
    const page = JSON.parse(row.body) as StoredPage;
    return { serial: row.serial, files: page.removed ? [...page.files, ...page.removed.map((k) => k.file)] : page.files };
  }
}
