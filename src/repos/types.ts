/**
 * The one interface that local, remote and virtual repositories implement.
 * Routes only talk to this; a virtual repository asks its members only
 * this. Page shapes (ProjectPage…) are the protocol's, in src/pypi/pages.ts.
 */
import type { Readable } from 'node:stream';
import type { ProjectPage, ProjectSummary } from '../pypi/pages.ts';
import type { Actor, FileRow } from '../storage/types.ts';
import type { ValidatedUpload } from '../upload/pipeline.ts';
import type { NamedFilter } from './file-filters.ts';

export type RepoKind = 'local' | 'remote' | 'virtual' | 'wheelcache';

/** A stored file ready to be sent. */
export interface FileHandle {
  filename: string;
  sha256: string;
  size: number;
  lastModified: Date;
  /**
   * Where the bytes come from: stored by the repository itself (an upload),
   * a remote's cached copy, or its upstream right now (the first request).
   * Absent: hosted. Counted per download for the cache statistics.
   */
  source?: FileSource;
  open(range?: { start: number; end: number }): Readable;
  /**
   * For `sendfileOffload`: resolves once the bytes are in the blob store (a
   * remote file still downloading is fetched and verified first) with the
   * blob's key under the blob folder, or null when a proxy cannot send it
   * (S3, a file held in memory); the caller then streams open() instead.
   * `range`: what the proxy will send (for byte counters).
   */
  offload?(range?: { start: number; end: number }): Promise<string | null>;
  /**
   * open() found the bytes missing before the first one went out: the handle
   * to answer with instead (a remote's copy removed between its lookup and
   * its open, by another process's eviction: fetched again), or null when
   * there is none. Absent: the missing bytes are the caller's error.
   */
  reopen?(): Promise<FileHandle | null>;
}

export type FileSource = 'hosted' | 'cache' | 'upstream';

/** A project page with, for each file, the member repository that serves it. */
export interface AttributedPage {
  page: ProjectPage;
  /** filename → the name of the local, remote or wheelcache repository whose file it is. */
  servedBy: ReadonlyMap<string, string>;
}

/** A project's files with every detail, and each file's parsed metadata: the legacy JSON API's input. */
export interface ReleaseFiles {
  files: FileRow[];
  metadataJson(filename: string): Promise<string | null>;
}

/**
 * What a virtual repository asks of a member's pages beyond the member's own
 * settings. Members that hold no upstream files (local ones) ignore it.
 */
export interface PageView {
  /** The cooldown (ms) the virtual repository imposes on upstream files; the longer of it and the member's own applies. */
  cooldownMs: number;
  /** The virtual repositories the page is served through, the serving one first: exemptions scoped to any of them apply. */
  via: readonly string[];
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
  projectVersion(project: string, view?: PageView): Promise<string | null>;
  projectPage(project: string, view?: PageView): Promise<ProjectPage | null>;
  /**
   * The page as projectPage gives it, each file with the member that serves
   * it (the web UI shows it). Absent: every file is the repository's own.
   */
  attributedPage?(project: string): Promise<AttributedPage | null>;
  /**
   * Seconds for which the project's page stays as it is by the clock alone
   * (until an upstream file leaves its cooldown, or an exemption ends); null:
   * indefinitely. Asked after projectVersion; pages are never cached longer.
   * Absent: always null.
   */
  pageLifetime?(project: string, view?: PageView): Promise<number | null>;
  /** Like projectVersion, for the root page. */
  listVersion(): Promise<string>;
  /**
   * Every project, in batches, ordered by normalized name: an upstream's list
   * can have 700,000 names, which are streamed rather than held in memory.
   */
  listProjects(): AsyncIterable<ProjectSummary[]>;
  openFile(sha256: string, filename: string): Promise<FileHandle | null>;
  openCoreMetadata(sha256: string, filename: string): Promise<FileHandle | null>;
  /**
   * Does this repository host the project: do uploads of its own make the
   * name internal? The dependency-confusion rule asks it on every virtual
   * lookup, so it is one indexed read at most. An upstream cache hosts nothing.
   */
  hostsProject(project: string): Promise<boolean>;
  /** The project whose page lists this exact file, or null: a file URL is served only where its page would be. */
  fileProject(sha256: string, filename: string): Promise<string | null>;
  /**
   * Release details for the legacy JSON API, or null when the project has
   * none here. Absent where the repository keeps no such details (an
   * upstream cache stores pages, not upload metadata).
   */
  releaseFiles?(project: string): Promise<ReleaseFiles | null>;
  /** Releases what the repository holds open (upstream connections). */
  close?(): Promise<void>;
}

/**
 * A remote repository as a virtual repository and a wheel cache see it:
 * the upstream's page before the remote's files filter (wheel caches are
 * judged against everything the upstream has), and that filter.
 */
export interface UpstreamRepository extends Repository {
  readonly kind: 'remote';
  /** The remote's own `files` filter, or null. */
  readonly fileFilter: NamedFilter | null;
  /** The page with the upstream's removals and the cooldown applied, before the files filter. */
  upstreamPage(project: string, view?: PageView): Promise<ProjectPage | null>;
  /** The Requires-Python its page gives the file (null: none, or no such file). */
  requiresPythonOf(sha256: string, filename: string): Promise<string | null>;
  /** openCoreMetadata, whatever the files filter says. */
  openUpstreamMetadata(sha256: string, filename: string): Promise<FileHandle | null>;
}

/**
 * A wheel cache as a virtual repository sees it: files that complete the
 * pages of one remote repository (`augments`), merged only where that remote
 * answers for the project.
 */
export interface AugmentingRepository extends Repository {
  readonly kind: 'wheelcache';
  /** The name of the remote repository whose releases it adds wheels to. */
  readonly augments: string;
  /** Changes whenever the cache's own files of the project do; null when it has none. */
  ownVersion(project: string): Promise<string | null>;
  /** Its own files of the project, before the upstream's state is applied. */
  ownPage(project: string): Promise<ProjectPage | null>;
}

export type UploadOutcome = 'created' | 'unchanged' | 'replaced';

export interface UploadResult {
  outcome: UploadOutcome;
  /** The file as the repository now serves it. */
  file: Pick<FileRow, 'filename' | 'sha256'>;
  /** A line for the uploader when something worth saying happened (an identical re-upload). */
  note?: string;
}

/** A repository that stores uploads (local, wheelcache): what `POST /<repo>/` hands a validated upload to. */
export interface UploadTarget {
  readonly name: string;
  readonly maxFileSize: number;
  /** Stores one validated upload, or refuses it. Consumes its temp blob, whatever happens. */
  add(v: ValidatedUpload, actor: Actor): Promise<UploadResult>;
}
