/**
 * What the files this process sent since it started came to, for the web
 * UI's cache statistics: per repository and source (hosted, cache,
 * upstream), and the most downloaded projects. Prometheus has the same
 * totals (pydepot_files_served_*); projects are kept here only, since a
 * label per project would swamp a metrics store.
 */
import type { ServedMetrics } from '../metrics.ts';
import type { FileSource } from '../repos/types.ts';

export interface Served {
  files: number;
  bytes: number;
}

export interface ProjectServed extends Served {
  repo: string;
  project: string;
}

/** Projects counted at once; past it, the least downloaded is replaced (Space-Saving: its count carries over, so a top entry is never undercounted). */
const MAX_PROJECTS = 5000;

export class ServeStats {
  readonly since = new Date();
  private readonly totals = new Map<string, Served & { repo: string; source: FileSource }>();
  private readonly projects = new Map<string, ProjectServed>();

  constructor(private readonly metrics?: ServedMetrics) {}

  record(repo: string, project: string | null, source: FileSource, bytes: number): void {
    this.metrics?.files.inc({ repo, source });
    this.metrics?.bytes.inc({ repo, source }, bytes);
    const key = `${repo}\u0000${source}`;
    const total = this.totals.get(key) ?? { repo, source, files: 0, bytes: 0 };
    total.files++;
    total.bytes += bytes;
    this.totals.set(key, total);
    if (project !== null) this.count(repo, project, bytes);
  }

  private count(repo: string, project: string, bytes: number): void {
    const key = `${repo}\u0000${project}`;
    let entry = this.projects.get(key);
    if (!entry) {
      let base: Served = { files: 0, bytes: 0 };
      if (this.projects.size >= MAX_PROJECTS) {
        let min: [string, ProjectServed] | null = null;
        for (const e of this.projects) if (!min || e[1].files < min[1].files) min = e;
        this.projects.delete(min![0]);
        base = min![1];
      }
      entry = { repo, project, files: base.files, bytes: base.bytes };
      this.projects.set(key, entry);
    }
    entry.files++;
    entry.bytes += bytes;
  }

  /** Files and bytes by source, over the repositories `visible` lets through. */
  bySource(visible: (repo: string) => boolean): Record<FileSource, Served> {
    const out: Record<FileSource, Served> = { hosted: { files: 0, bytes: 0 }, cache: { files: 0, bytes: 0 }, upstream: { files: 0, bytes: 0 } };
    for (const t of this.totals.values()) {
      if (!visible(t.repo)) continue;
      out[t.source].files += t.files;
      out[t.source].bytes += t.bytes;
    }
    return out;
  }

  /** Per repository and source, for the repositories `visible` lets through. */
  byRepo(visible: (repo: string) => boolean): (Served & { repo: string; source: FileSource })[] {
    return [...this.totals.values()].filter((t) => visible(t.repo)).sort((a, b) => a.repo.localeCompare(b.repo) || a.source.localeCompare(b.source));
  }

  /** The `n` most downloaded projects of the repositories `visible` lets through. */
  top(n: number, visible: (repo: string) => boolean): ProjectServed[] {
    return [...this.projects.values()].filter((p) => visible(p.repo)).sort((a, b) => b.files - a.files || b.bytes - a.bytes).slice(0, n);
  }
}
