/**
 * The cooldown rule, in one place and pure: which upstream files a project
 * page lists at a given moment. Most malicious uploads to public indexes are
 * found and removed within days; a page that lists only files older than the
 * cooldown lets the whole cluster skip them without any client setting.
 *
 * - Judged per file, never per release: pypi.org adds files to old releases,
 *   so a release-wide rule would either hide mature releases or admit fresh
 *   files.
 * - A file's clock is the upstream's own PEP 700 upload-time; without one
 *   (HTML-only upstreams), the moment pydepot first listed it. Never the time
 *   it was cached.
 * - An exemption (an admin's, with an end) lists matching files however young.
 * - What is listed changes with the clock alone, so the answer says when it
 *   next changes: pages must not be cached past that moment.
 */
import picomatch from 'picomatch';
import { parseDistFilename } from '../pypi/filenames.ts';
import type { ProjectPage } from '../pypi/pages.ts';
import { canonicalVersion, versionsEqual } from '../pypi/versions.ts';
import { normalizePattern } from './confusion.ts';

/** The glob characters of exemption patterns (as in `internal`). */
const GLOB = /[*?[\]!]/;

export function isGlob(pattern: string): boolean {
  return GLOB.test(pattern);
}

/** An exemption as the rule reads it. */
export interface Exemption {
  id: string;
  /** Does it name this (normalized) project? */
  covers(project: string): boolean;
  /** Only this version's files; null: all of them. */
  version: string | null;
  /** Only through this repository; null: through any. */
  repo: string | null;
  /** ms since epoch at which it stops applying. */
  until: number;
}

export function compileExemption(row: { id: string; project: string; version: string | null; repo: string | null; until: string }): Exemption {
  const pattern = normalizePattern(row.project);
  const covers = isGlob(pattern) ? picomatch(pattern, { dot: true }) : (project: string) => project === pattern;
  return { id: row.id, covers, version: row.version, repo: row.repo, until: Date.parse(row.until) };
}

/** One upstream file as the rule needs it. */
interface ScheduledFile {
  /** ms since epoch from which the cooldown counts. */
  clock: number;
  /** From the filename; null when it cannot be read (then no version exemption covers it). */
  version: string | null;
}

/**
 * The clocks of one version of a project page: computed once per page
 * version, then judged at any moment cheaply (a binary search when no
 * exemption applies).
 */
export interface Schedule {
  files: ReadonlyMap<string, ScheduledFile>;
  /** Every file's clock, ascending. */
  sorted: readonly number[];
}

/** The upstream's upload-time when it gave a readable one; else when pydepot first listed the file. */
export function fileClock(uploadTime: string | null, firstSeen: number): number {
  if (uploadTime !== null) {
    const t = Date.parse(uploadTime);
    if (!Number.isNaN(t)) return t;
  }
  return firstSeen;
}

/**
 * `firstSeen`: when pydepot first listed each file, by filename; a file it
 * has no record of counts as first seen at `fallback` (the safe side).
 */
export function buildSchedule(files: readonly { filename: string; uploadTime: string | null }[], firstSeen: ReadonlyMap<string, number>, fallback: number): Schedule {
  const map = new Map<string, ScheduledFile>();
  for (const f of files) {
    let version: string | null = null;
    try {
      version = parseDistFilename(f.filename).version;
    } catch {
      // Not a wheel or sdist name: no version exemption can name it.
    }
    map.set(f.filename, { clock: fileClock(f.uploadTime, firstSeen.get(f.filename) ?? fallback), version });
  }
  const sorted = [...map.values()].map((f) => f.clock).sort((a, b) => a - b);
  return { files: map, sorted };
}

export interface Visibility {
  /** Changes whenever the set of listed files does: part of the page's change token. */
  key: string;
  visible: number;
  hidden: number;
  /** ms since epoch at which the listed set next changes by the clock alone; null: never. */
  changesAt: number | null;
}

/**
 * What a page lists at `now` under a cooldown of `ms`. `exemptions`: those
 * in force now for this project and repository (see ExemptionList).
 */
export function judge(schedule: Schedule, ms: number, exemptions: readonly Exemption[], now: number): Visibility {
  const cut = now - ms;
  const n = schedule.sorted.length;
  const aged = countAtMost(schedule.sorted, cut);
  if (exemptions.length === 0) {
    return { key: `${aged}`, visible: aged, hidden: n - aged, changesAt: aged < n ? schedule.sorted[aged]! + ms : null };
  }
  let hidden = 0;
  let changesAt: number | null = null;
  const earliest = (t: number) => { changesAt = changesAt === null ? t : Math.min(changesAt, t); };
  for (const f of schedule.files.values()) {
    if (f.clock <= cut) continue;
    const crossing = f.clock + ms;
    const until = exemptUntil(f, exemptions);
    if (until === null) {
      hidden++;
      earliest(crossing);
    } else if (until < crossing) {
      // Listed now; hidden again when the exemption ends, until it has aged.
      earliest(until);
    }
  }
  return { key: `${aged}+${exemptions.map((e) => e.id).join(',')}`, visible: n - hidden, hidden, changesAt };
}

/** When the last exemption covering this file ends; null when none does. */
function exemptUntil(f: ScheduledFile, exemptions: readonly Exemption[]): number | null {
  let until: number | null = null;
  for (const e of exemptions) {
    if (e.version !== null && (f.version === null || !versionsEqual(f.version, e.version))) continue;
    until = until === null ? e.until : Math.max(until, e.until);
  }
  return until;
}

/** How many of the ascending `sorted` are <= x. */
function countAtMost(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface VisiblePage {
  /** null when every file is in its cooldown: the project is not listed at all. */
  page: ProjectPage | null;
  hidden: number;
  /** Files listed only thanks to an exemption, and the exemptions that listed them. */
  admitted: number;
  exemptionsUsed: string[];
}

/**
 * The page without the files still in their cooldown. A version disappears
 * from PEP 700 `versions` once all its files are hidden; versions the
 * upstream lists without files stay.
 */
export function visiblePage(page: ProjectPage, schedule: Schedule, ms: number, exemptions: readonly Exemption[], now: number): VisiblePage {
  const cut = now - ms;
  const hiddenVersions = new Set<string>();
  const shownVersions = new Set<string>();
  const used = new Set<string>();
  let admitted = 0;
  const files = page.files.filter((f) => {
    const s = schedule.files.get(f.filename) ?? { clock: now, version: null };
    let show = s.clock <= cut;
    if (!show) {
      const by = exemptions.filter((e) => e.version === null || (s.version !== null && versionsEqual(s.version, e.version)));
      if (by.length > 0) {
        show = true;
        admitted++;
        for (const e of by) used.add(e.id);
      }
    }
    if (s.version !== null) (show ? shownVersions : hiddenVersions).add(canonicalVersion(s.version) ?? s.version);
    return show;
  });
  const hidden = page.files.length - files.length;
  if (hidden === 0) return { page, hidden, admitted, exemptionsUsed: [...used] };
  if (files.length === 0) return { page: null, hidden, admitted, exemptionsUsed: [] };
  const versions = page.versions.filter((v) => {
    const c = canonicalVersion(v) ?? v;
    return shownVersions.has(c) || !hiddenVersions.has(c);
  });
  return { page: { ...page, files, versions }, hidden, admitted, exemptionsUsed: [...used] };
}
