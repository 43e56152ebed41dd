/**
 * The shapes of the simple API (PEP 503/691) as pydepot serves them: what a
 * repository answers and what the renderers read. Pure data, no I/O.
 */

/** One distribution file as index pages describe it. */
export interface IndexFile {
  filename: string;
  /** Path of the file relative to the repository root, e.g. `files/<sha256>/<filename>`. */
  path: string;
  sha256: string;
  size: number;
  requiresPython: string | null;
  uploadTime: string | null;
  /** false, or the reason ('' when none was given). */
  yanked: false | string;
  /** sha256 of `<file>.metadata` (PEP 658), or null when it is not served. */
  metadataSha256: string | null;
  /** Set on a file a wheel cache added to an upstream's page: which cache it came from. */
  origin?: FileOrigin;
}

/** Where a merged file came from, when that is not the page's own repository. */
export interface FileOrigin {
  source: 'wheelcache';
  repository: string;
}

export interface ProjectPage {
  name: string;          // normalized
  displayName: string;
  files: IndexFile[];
  versions: string[];    // PEP 440 order
  /** PEP 792 project status, passed through from an upstream. */
  status?: { status: string; reason: string | null } | null;
}

export interface ProjectSummary {
  name: string;          // normalized
  displayName: string;
}

/** Where a file lives below its repository's root: the same for every kind of repository. */
export function filePath(sha256: string, filename: string): string {
  return `files/${sha256}/${encodeURIComponent(filename)}`;
}
