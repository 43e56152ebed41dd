/**
 * The two storage interfaces. The filesystem and SQLite implementations are
 * the embedded default; an S3 blob store or a PostgreSQL metadata store
 * implements the same contracts.
 */
import type { Readable, Writable } from 'node:stream';

export interface Digests {
  sha256: string;
  md5: string;
  blake2b256: string;
}

/**
 * Bytes fully written to temporary storage but not yet visible under their
 * sha256. `key` is the store's own name for them: opaque, never a path a
 * caller may open. Only the store that made it reads, commits or discards it.
 */
export interface TempBlob extends Digests {
  readonly key: string;
  readonly size: number;
}

/**
 * Random access to one object's bytes: upload inspection seeks through a
 * zip's central directory, and clients of a download in flight follow the
 * object as it grows. A file store preads one descriptor; an object store
 * would send ranged GETs.
 */
export interface BlobReader {
  /** Up to `length` bytes at `position`; fewer only where the bytes written so far end. */
  read(position: number, length: number): Promise<Buffer>;
  /** `end` is inclusive, like HTTP ranges; without a range, every byte. */
  stream(range?: { start: number; end: number }): Readable;
  /** Safe to call more than once. */
  close(): Promise<void>;
}

/** A stream into temporary storage that hashes as it writes. */
export interface TempBlobWriter {
  readonly stream: Writable;
  /** Bytes that a reader() can read so far. */
  readonly bytesWritten: number;
  /** Called each time bytesWritten grows. */
  onProgress(listener: (bytesWritten: number) => void): void;
  /**
   * Reads the object while it is being written, and after it is committed:
   * followers of a download keep reading across the commit.
   */
  reader(): BlobReader;
  /** Resolves once every byte is durable (fsync'd), with the digests. */
  finished(): Promise<TempBlob>;
  /** Removes the partial object; safe to call at any point, more than once. */
  abort(): Promise<void>;
}

export interface BlobInfo {
  size: number;
  mtime: Date;
}

/** Content-addressed bytes, keyed by sha256. No file-system path crosses this interface. */
export interface BlobStore {
  /** `maxBytes`: the stream errors with PayloadTooLarge past it. */
  createTemp(opts?: { maxBytes?: number; tooLargeMessage?: string }): TempBlobWriter;
  /** Random access to a finished temp blob, before it is committed (upload inspection). */
  openTemp(temp: TempBlob): Promise<BlobReader>;
  /** Makes a temp blob permanent under its sha256 (atomic; a no-op if already there). */
  commit(temp: TempBlob): Promise<void>;
  discard(temp: TempBlob): Promise<void>;
  stat(sha256: string): Promise<BlobInfo | null>;
  /** `end` is inclusive, like HTTP ranges. */
  open(sha256: string, range?: { start: number; end: number }): Readable;
  delete(sha256: string): Promise<void>;
  /** Removes leftovers of transfers interrupted by a crash. */
  cleanTemp(): Promise<number>;
  /** Throws when the storage cannot be written (readiness probe). */
  check(): Promise<void>;
}

export interface ProjectRow {
  repo: string;
  name: string;
  displayName: string;
  serial: number;
  updatedAt: string;
}

export type DistKind = 'wheel' | 'sdist';

export interface FileRow extends Digests {
  repo: string;
  project: string;
  filename: string;
  version: string;
  kind: DistKind;
  size: number;
  requiresPython: string | null;
  /** sha256 of the PEP 658 metadata file, null when none is served. */
  metadataSha256: string | null;
  yanked: boolean;
  yankedReason: string | null;
  uploadTime: string;
  uploader: string | null;
}

/** A file to add, with the core metadata that was read out of it. */
export interface NewFile extends Omit<FileRow, 'yanked' | 'yankedReason'> {
  displayName: string;
  /** Exact METADATA bytes, served as `<file>.metadata` (wheels only). */
  coreMetadata: Buffer | null;
  /** Parsed metadata kept for the legacy JSON API. */
  metadataJson: string;
}

/** Who asked for a change, as the audit trail records it. */
export interface Actor {
  /** A user name, `cli:<login>` for an admin command; null: anonymous. */
  user: string | null;
  tokenId: string | null;
  /** The client's address; null for an admin command. */
  address: string | null;
}

export type AddFileResult =
  | { outcome: 'added'; replaced: FileRow | null }
  | { outcome: 'identical'; existing: FileRow }
  | { outcome: 'conflict'; existing: FileRow };

export interface MetadataStore {
  repoSerial(repo: string): number;
  listProjects(repo: string): ProjectRow[];
  getProject(repo: string, name: string): ProjectRow | null;
  listFiles(repo: string, project: string): FileRow[];
  getFile(repo: string, filename: string): FileRow | null;
  /** Distinct version strings as uploaded (callers match them with PEP 440 rules). */
  listVersions(repo: string, project: string): string[];
  getCoreMetadata(repo: string, filename: string): Buffer | null;
  getMetadataJson(repo: string, filename: string): string | null;
  /**
   * Atomic: the duplicate check, the insert and the upload's audit entry
   * (created, replaced, or unchanged for identical bytes) are one transaction.
   */
  addFile(file: NewFile, opts: { overwrite: boolean; actor: Actor }): AddFileResult;
  /** Returns how many files changed. */
  setYanked(repo: string, project: string, version: string, yanked: boolean, reason: string | null): number;
  /** Removes one file (its project's page changes); returns what it was, or null. */
  deleteFile(repo: string, filename: string): FileRow | null;
  /** Is any file in any repository (a remote's cached files too) still stored under this sha256? */
  blobInUse(sha256: string): boolean;
  /** A random id made with the database. */
  instanceId(): string;
  check(): void;
  close(): void;
}

/** What a remote repository remembers of one upstream project page. */
export interface CachedPage {
  state: 'ok' | 'missing';
  /** ms since epoch of the last answer from upstream. */
  checkedAt: number;
  etag: string | null;
  lastModified: string | null;
  serial: number;
}

export interface RemoteFileRow {
  sha256: string;
  filename: string;
  project: string;
  url: string;
  size: number | null;
  metadataSha256: string | null;
  /** The page's Requires-Python for the file (a files filter reads it on file URLs). */
  requiresPython: string | null;
}

/** Why an upstream file is no longer listed: its file left the page, its project is gone (404), or quarantined (PEP 792). */
export type RemovalCause = 'deleted' | 'project-deleted' | 'quarantined';

/** A remote file as stored: listed on its page now, or removed upstream since. */
export interface RemoteFileRecord extends RemoteFileRow {
  /** ms since epoch pydepot first saw it gone upstream; null while the upstream lists it. */
  removedAt: number | null;
  removedCause: RemovalCause | null;
  /** ms since epoch the remote last served it (to the minute); null: never, as far as pydepot recorded. */
  lastAccess: number | null;
}

/** What `pydepot removed report` lists from: every file removed upstream. */
export interface RemovedFileRow extends RemoteFileRecord {
  repo: string;
  removedAt: number;
  removedCause: RemovalCause;
}

export interface CachedRoot {
  checkedAt: number;
  etag: string | null;
  lastModified: string | null;
  serial: number;
}

/** Cache state of remote repositories (pages, the files they list, root lists). */
export interface RemoteCacheStore {
  /** Freshness state only: read on every request, so it never carries the page. */
  getPage(repo: string, project: string): CachedPage | null;
  /** JSON of the ProjectPage served for the project (null when missing or unknown). */
  getPageBody(repo: string, project: string): string | null;
  /**
   * Stores a fresh answer; the serial changes only when the page's content
   * does. Files of the project that the answer no longer lists are kept,
   * marked removed at `now` for `removedCause` (default 'deleted'; an
   * earlier removal keeps its time), and `removed` counts those newly marked.
   * A file listed again is no longer removed. 'quarantined' also marks the
   * files removed before.
   */
  savePage(repo: string, project: string, answer: { state: 'ok' | 'missing'; etag: string | null; lastModified: string | null; page: string | null; files: RemoteFileRow[]; removedCause?: RemovalCause }, now: number): CachedPage & { removed: number };
  /** A 304: the cached page is current as of `now`. */
  touchPage(repo: string, project: string, now: number): void;
  /**
   * Forgets remembered upstream 404s checked before `before`, and all but the
   * newest `keep` of the rest. Returns how many were forgotten.
   */
  pruneMissing(repo: string, before: number, keep: number): number;
  getFile(repo: string, sha256: string, filename: string): RemoteFileRecord | null;
  /** The remote served the file at `now` (callers write at most about once a minute per file). */
  touchFile(repo: string, sha256: string, filename: string, now: number): void;
  /** Files removed upstream (all repositories, or one), removed at or after `since` (ms), newest removal first. */
  listRemoved(filter: { repo?: string; since?: number }): RemovedFileRow[];
  getRoot(repo: string): CachedRoot | null;
  saveRoot(repo: string, names: string[], etag: string | null, lastModified: string | null, now: number): void;
  touchRoot(repo: string, now: number): void;
  /** Up to `limit` names after `after`, in order (keyset pages: no open cursor between calls). */
  rootNames(repo: string, after: string, limit: number): string[];
}

/** An upstream project whose name is internal to a virtual repository. */
export interface SquatRecord {
  remote: string;
  project: string;
  reason: string;
  firstSeen: string;
  lastSeen: string;
  /** Upstream versions seen, each with when it was first seen (in no PEP 440 order: storage does not know it). */
  versions: { version: string; firstSeen: string }[];
}

/** What the dependency-confusion watch has seen upstream. */
export interface SquatStore {
  /** Returns whether the project is new to the record, and which versions are. */
  recordSquat(remote: string, project: string, reason: string, versions: readonly string[], now: string): { newProject: boolean; newVersions: string[] };
  listSquats(): SquatRecord[];
  squatCount(): number;
}

export interface UserRow {
  name: string;
  passwordHash: string;
  createdAt: string;
  updatedAt: string;
}

export type TokenScope = 'read' | 'upload';

export interface TokenRow {
  id: string;
  user: string;
  /** null: every repository its owner may use. */
  repos: string[] | null;
  scope: TokenScope;
  description: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** Users and their API tokens. Tokens are found by the sha256 of their text. */
export interface UserStore {
  getUser(name: string): UserRow | null;
  listUsers(): UserRow[];
  /** false when the name is taken. */
  addUser(name: string, passwordHash: string, now: string): boolean;
  /** false when there is no such user. */
  setPassword(name: string, passwordHash: string, now: string): boolean;
  /** Removes the user and every token of theirs; false when there is no such user. */
  removeUser(name: string): boolean;
  addToken(token: TokenRow & { hash: string }): void;
  tokenByHash(hash: string): TokenRow | null;
  listTokens(user?: string): TokenRow[];
  /** false when there is no such token or it was already revoked. */
  revokeToken(id: string, now: string): boolean;
  touchToken(id: string, now: string): void;
}

export type AuditAction = 'upload' | 'yank' | 'unyank' | 'delete';

export interface AuditEntry {
  at: string;
  actor: string;
  tokenId: string | null;
  address: string | null;
  action: AuditAction;
  repo: string;
  project: string;
  version: string;
  filename: string;
  sha256: string;
  detail: string | null;
}

/** Who changed what a repository serves: append only. */
export interface AuditStore {
  record(entry: AuditEntry): void;
  list(filter: { repo?: string; since?: string }): AuditEntry[];
}
