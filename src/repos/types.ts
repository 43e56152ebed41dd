/**
 * The one interface that local, remote and virtual repositories implement.
 * Routes only talk to this; renderers only read ProjectPage/ProjectList.
 */
import type { Readable } from 'node:stream';
import type { FileRow } from '../storage/types.ts';

export type RepoKind = 'local' | 'remote' | 'virtual';

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

/** A stored file ready to be sent. */
export interface FileHandle {
  filename: string;
  sha256: string;
  size: number;
  lastModified: Date;
  open(range?: { start: number; end: number }): Readable;
}

export interface Repository {
  readonly name: string;
  readonly kind: RepoKind;
  /** Cache-Control max-age of index pages. */
  readonly indexMaxAge: number;
  /**
   * A cheap token that changes whenever the project's page changes: rendered
   * pages are cached under it. null when the project does not exist.
   */
  projectVersion(project: string): Promise<string | null>;
  projectPage(project: string): Promise<ProjectPage | null>;
  /** Like projectVersion, for the root page. */
  listVersion(): Promise<string>;
  /**
   * Every project, in batches, ordered by normalized name: an upstream's list
   * can have 700,000 names, which are streamed rather than held in memory.
   */
  listProjects(): AsyncIterable<ProjectSummary[]>;
  openFile(sha256: string, filename: string): Promise<FileHandle | null>;
  openCoreMetadata(sha256: string, filename: string): Promise<FileHandle | null>;
  /** Rows with full details, for the legacy JSON API. */
  projectFiles(project: string): Promise<FileRow[]>;
  fileMetadataJson(filename: string): Promise<string | null>;
}

export function filePath(sha256: string, filename: string): string {
  return `files/${sha256}/${encodeURIComponent(filename)}`;
}
