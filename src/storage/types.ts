/**
 * The storage interfaces. The filesystem and SQLite implementations are
 * the embedded default; an S3 blob store or a PostgreSQL metadata store
 * implements the same contracts. Every method of the metadata stores returns
 * a promise (a networked database answers later): where callers need two
 * facts to agree, one method returns both (getPageWithBody), or a change
 * says what it changed (setYanked, addFile), since nothing holds between two
 * awaits.
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
  /** When the blob was last committed (a commit of bytes already stored renews it). */
  mtime: Date;
}

export interface StoredBlob extends BlobInfo {
  sha256: string;
}

/** Content-addressed bytes, keyed by sha256. No file-system path crosses this interface. */
export interface BlobStore {
  /** `maxBytes`: the stream errors with PayloadTooLarge past it. */
  createTemp(opts?: { maxBytes?: number; tooLargeMessage?: string }): TempBlobWriter;
  /** Random access to a finished temp blob, before it is committed (upload inspection). */
  openTemp(temp: TempBlob): Promise<BlobReader>;
  /**
   * Makes a temp blob permanent under its sha256 (atomic). If the bytes are
   * already stored, the temp blob is dropped and the stored blob's mtime is
   * renewed: garbage collection spares blobs committed within its grace
   * period, so a blob an upload is about to reference is never collected.
   */
  commit(temp: TempBlob): Promise<void>;
  discard(temp: TempBlob): Promise<void>;
  stat(sha256: string): Promise<BlobInfo | null>;
  /** `end` is inclusive, like HTTP ranges. */
  open(sha256: string, range?: { start: number; end: number }): Readable;
  /**
   * The whole blob for a client's download: clients of this process that
   * open one blob at about the same time may share one read of it (an S3
   * store reads it once and fans the bytes out; the disk store's shared read
   * is the page cache, so this is its open()). Bulk readers (scrub, export)
   * use open(), which never stages anything. `size`: the blob's, as the
   * caller knows it (a stat, a verified row); a blob of another size fails
   * the stream before its end. `herd`: the caller knows that other clients
   * of this process are about to read it too (they waited for the same
   * download), so a shared read starts at once.
   */
  openShared(sha256: string, size: number, opts?: { herd?: boolean }): Readable;
  /**
   * The blob's key under the store's blob folder (`<storage>/blobs/`), e.g.
   * `sha256/ab/cd/abcd…`, for a reverse proxy to send it from disk
   * (`sendfileOffload`); null when the store keeps no such folder (S3), and
   * the bytes are streamed instead. A relative key, never a filesystem path:
   * where the folder is mounted is the proxy's configuration.
   */
  offloadKey(sha256: string): string | null;
  delete(sha256: string): Promise<void>;
  /** Every stored blob, in no particular order (scrub and gc walk them all). */
  list(): AsyncIterable<StoredBlob>;
  /**
   * Moves a blob out of the store's namespace (to `quarantine/`): it is never
   * served again, and kept for inspection. false when there was no such blob.
   */
  quarantine(sha256: string): Promise<boolean>;
  /** Removes leftovers of transfers interrupted by a crash (at start-up: every temp object). */
  cleanTemp(): Promise<number>;
  /**
   * Temp objects last written before `before`: what crashed transfers left
   * while the server runs (an upload in progress writes to its own often).
   * Removed unless `dryRun`.
   */
  removeStaleTemp(before: Date, opts?: { dryRun?: boolean }): Promise<{ count: number; bytes: number }>;
  /** Free and total bytes where blobs are written; null when the store cannot tell (an object store). */
  space(): Promise<{ free: number; total: number } | null>;
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

/** What a repository holds, as the web UI lists it. */
export interface RepoUsage {
  projects: number;
  files: number;
  bytes: number;
}

export type AddFileResult =
  /** `file`: the row as added, read in the same transaction. */
  | { outcome: 'added'; file: FileRow; replaced: FileRow | null }
  | { outcome: 'identical'; existing: FileRow }
  | { outcome: 'conflict'; existing: FileRow };

export interface MetadataStore {
  repoSerial(repo: string): Promise<number>;
  listProjects(repo: string): Promise<ProjectRow[]>;
  /** Up to `limit` projects with files after the normalized name `after`, in name order (keyset pages). */
  projectNames(repo: string, after: string, limit: number): Promise<{ name: string; displayName: string }[]>;
  /**
   * The projects whose page changed since the repository's serial was
   * `serial` (a file added, yanked or deleted), each with whether it still
   * has files.
   */
  projectsChangedSince(repo: string, serial: number): Promise<{ name: string; displayName: string; present: boolean }[]>;
  getProject(repo: string, name: string): Promise<ProjectRow | null>;
  listFiles(repo: string, project: string): Promise<FileRow[]>;
  getFile(repo: string, filename: string): Promise<FileRow | null>;
  /** Distinct version strings as uploaded (callers match them with PEP 440 rules). */
  listVersions(repo: string, project: string): Promise<string[]>;
  getCoreMetadata(repo: string, filename: string): Promise<Buffer | null>;
  getMetadataJson(repo: string, filename: string): Promise<string | null>;
  /**
   * Atomic: the duplicate check, the insert and the upload's audit entry
   * (created, replaced, or unchanged for identical bytes) are one transaction.
   */
  addFile(file: NewFile, opts: { overwrite: boolean; actor: Actor }): Promise<AddFileResult>;
  /**
   * Yanks or un-yanks the files of one exact version string. Returns the
   * files whose state changed, as they are now: read in the same transaction
   * as the change, so a concurrent yank's changes are never counted as this
   * one's.
   */
  setYanked(repo: string, project: string, version: string, yanked: boolean, reason: string | null): Promise<FileRow[]>;
  /** Removes one file (its project's page changes); returns what it was, or null. */
  deleteFile(repo: string, filename: string): Promise<FileRow | null>;
  /** A hosted repository's projects (with files), files and their bytes. */
  repoUsage(repo: string): Promise<RepoUsage>;
  /**
   * Does any row name this blob: a hosted file, a file or PEP 658 metadata
   * file listed on a remote's page, METADATA read out of an upstream wheel, a
   * remote's cached copy? Garbage collection deletes only blobs for which
   * this is false: a table that starts naming blobs must be added to it.
   */
  blobInUse(sha256: string): Promise<boolean>;
  /** The rows that name this blob (hosted files; remote listings), for a scrub's report. */
  blobReferences(sha256: string): Promise<BlobReference[]>;
  /** The blobs a repository's rows name: its hosted files; a remote's listed files and their metadata files. */
  repoBlobs(repo: string): Promise<string[]>;
  /** Remembers how the last scrub or gc went (the metrics show it, whichever process ran it). */
  recordRun(kind: MaintenanceKind, at: number, summary: Record<string, number>): Promise<void>;
  lastRun(kind: MaintenanceKind): Promise<{ at: number; summary: Record<string, number> } | null>;
  /** A random id made with the database. */
  instanceId(): Promise<string>;
  check(): Promise<void>;
  close(): Promise<void>;
}

export type MaintenanceKind = 'scrub' | 'gc';

export interface BlobReference {
  repo: string;
  filename: string;
  /** A hosted (uploaded) file: its bytes cannot be fetched again. false: a remote's listing. */
  hosted: boolean;
  /** The blob is this file's PEP 658 metadata, not the file itself. */
  metadata: boolean;
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
  /** The upstream's PEP 700 upload-time, as it gave it; null when it gave none. */
  uploadTime: string | null;
  /** The page's Requires-Python for the file (a files filter reads it on file URLs); absent: none. */
  requiresPython?: string | null;
}

/** Why an upstream file is no longer listed: its file left the page, its project is gone (404), or quarantined (PEP 792). */
export type RemovalCause = 'deleted' | 'project-deleted' | 'quarantined';

/** A remote file as stored: listed on its page now, or removed upstream since. */
export interface RemoteFileRecord extends RemoteFileRow {
  requiresPython: string | null;
  /** ms since epoch pydepot first saw it gone upstream; null while the upstream lists it. */
  removedAt: number | null;
  removedCause: RemovalCause | null;
}

/** What `pydepot removed report` lists from: a file removed upstream. */
export interface RemovedFileRow extends RemoteFileRecord {
  repo: string;
  removedAt: number;
  removedCause: RemovalCause;
  /**
   * ms since epoch of its last download through the remote (remote_cached.last_access,
   * kept on the file's record when the cached copy is evicted); null: none recorded.
   */
  lastAccess: number | null;
}

/** What pydepot read out of an upstream wheel that its index gave no core metadata for. */
export interface WheelMetadataRecord {
  /** The wheel's. */
  sha256: string;
  filename: string;
  /** The METADATA blob; null when the wheel could not be read. */
  metadataSha256: string | null;
  method: 'range' | 'blob' | 'full';
  /** Why the wheel could not be read (a malformed zip); null on success. */
  failure: string | null;
  at: string;
}

export interface CachedRoot {
  checkedAt: number;
  etag: string | null;
  lastModified: string | null;
  serial: number;
}

/** A file a remote repository holds in the blob store: what its size limit counts. */
export interface CachedFileRow {
  sha256: string;
  size: number;
  /** ms since epoch. */
  cachedAt: number;
  /** ms since epoch of the last recorded use (recorded at most about once a minute). */
  lastAccess: number;
  /** The process that recorded it (a random id per process). */
  accessedBy: string;
}

/** Cache state of remote repositories (pages, the files they list, root lists, the files they hold). */
export interface RemoteCacheStore {
  /** Freshness state only: read on every request, so it never carries the page. */
  getPage(repo: string, project: string): Promise<CachedPage | null>;
  /** JSON of the ProjectPage served for the project (null when missing or unknown). */
  getPageBody(repo: string, project: string): Promise<string | null>;
  /**
   * The freshness state and the body in one read: the body is the one the
   * serial names (two reads could pair a serial with a body saved after it).
   */
  getPageWithBody(repo: string, project: string): Promise<(CachedPage & { body: string | null }) | null>;
  /**
   * Stores a fresh answer; the serial changes only when the page's content
   * does. Files of the project that the answer no longer lists are kept,
   * marked removed at `now` for `removedCause` (default 'deleted'; an
   * earlier removal keeps its time), and `removed` counts those newly marked.
   * A file listed again is no longer removed. 'quarantined' also marks the
   * files removed before.
   */
  savePage(repo: string, project: string, answer: { state: 'ok' | 'missing'; etag: string | null; lastModified: string | null; page: string | null; files: RemoteFileRow[]; removedCause?: RemovalCause }, now: number): Promise<CachedPage & { removed: number }>;
  /** A 304: the cached page is current as of `now`. */
  touchPage(repo: string, project: string, now: number): Promise<void>;
  /**
   * Forgets remembered upstream 404s checked before `before`, and all but the
   * newest `keep` of the rest. Returns how many were forgotten.
   */
  pruneMissing(repo: string, before: number, keep: number): Promise<number>;
  getFile(repo: string, sha256: string, filename: string): Promise<RemoteFileRecord | null>;
  /** Files removed upstream (all repositories, or one), removed at or after `since` (ms), newest removal first. */
  listRemoved(filter: { repo?: string; since?: number }): Promise<RemovedFileRow[]>;
  /**
   * When pydepot first listed each file of the project's page (ms since epoch,
   * by filename); kept across page changes for as long as the upstream lists
   * the file (listed again after a removal, it is new again). 0: listed
   * before pydepot recorded it.
   */
  firstSeen(repo: string, project: string): Promise<Map<string, number>>;
  /** Projects whose pages are cached (found upstream), and the files those pages list. */
  pageUsage(repo: string): Promise<{ projects: number; files: number }>;
  /** Normalized names of the projects whose pages are cached (found upstream), after `after`, in order. */
  cachedProjects(repo: string, after: string, limit: number): Promise<string[]>;
  getWheelMetadata(sha256: string, filename: string): Promise<WheelMetadataRecord | null>;
  saveWheelMetadata(record: WheelMetadataRecord): Promise<void>;
  /**
   * A page that now serves core metadata for one more of its files: its new
   * body, and that file's metadata hash. Bumps the serial when the body
   * changed; leaves the freshness state alone. `serial`: the serial of the
   * body the new one was made from; false when the page is gone or its
   * serial moved on since (a newer page was saved: the caller reads it again).
   */
  updatePageMetadata(repo: string, project: string, serial: number, page: string, file: { sha256: string; filename: string; metadataSha256: string }): Promise<boolean>;
  getRoot(repo: string): Promise<CachedRoot | null>;
  /**
   * Replaces the repository's root list with the names `batches` gives
   * (normalized by the caller; repeats are stored once), written batch by
   * batch as they come, so that no list need be held whole (pypi.org's
   * has 700,000 names). Readers (rootNames) see the previous list until
   * the last batch is written, then the new one at once, with a new serial.
   * When `batches` throws (a cut download, a page that turns out unreadable),
   * the previous list stays, nothing of the new one is kept, and the error is
   * rethrown. Two saves at once (two processes whose lease lapsed) each keep
   * a whole list: the one started last wins.
   */
  saveRoot(repo: string, batches: Iterable<readonly string[]> | AsyncIterable<readonly string[]>, etag: string | null, lastModified: string | null, now: number): Promise<void>;
  touchRoot(repo: string, now: number): Promise<void>;
  /** Up to `limit` names after `after`, in order (keyset pages: no open cursor between calls). */
  rootNames(repo: string, after: string, limit: number): Promise<string[]>;
  /** The remote holds this blob (fetched, or found stored): a new row, or its last access renewed. */
  recordCached(repo: string, file: { sha256: string; size: number }, now: number, by: string): Promise<void>;
  /** Renews the last access of rows that exist (one evicted meanwhile stays gone). */
  touchCached(repo: string, touches: readonly { sha256: string; at: number }[], by: string): Promise<void>;
  cacheUsage(repo: string): Promise<{ files: number; bytes: number }>;
  /** Least recently used first, after `after` (keyset pages). */
  leastRecentlyUsed(repo: string, after: { lastAccess: number; sha256: string } | null, limit: number): Promise<CachedFileRow[]>;
  /**
   * Forgets that the remote holds the blob. Returns whether the blob must
   * stay: a hosted file or another remote's cached copy still uses it.
   */
  uncache(repo: string, sha256: string): Promise<{ heldElsewhere: boolean }>;
  /** Every remote forgets the blob (a scrub quarantined it); returns the remotes that held it. */
  uncacheEverywhere(sha256: string): Promise<string[]>;
  /**
   * Rows for the remotes that list this stored blob but hold no row for it
   * (files cached before pydepot counted them); returns how many were added.
   */
  adoptCached(sha256: string, size: number, at: number): Promise<number>;
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
  recordSquat(remote: string, project: string, reason: string, versions: readonly string[], now: string): Promise<{ newProject: boolean; newVersions: string[] }>;
  listSquats(): Promise<SquatRecord[]>;
  squatCount(): Promise<number>;
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
  getUser(name: string): Promise<UserRow | null>;
  listUsers(): Promise<UserRow[]>;
  /** false when the name is taken. */
  addUser(name: string, passwordHash: string, now: string): Promise<boolean>;
  /** false when there is no such user. */
  setPassword(name: string, passwordHash: string, now: string): Promise<boolean>;
  /** Removes the user and every token of theirs; false when there is no such user. */
  removeUser(name: string): Promise<boolean>;
  addToken(token: TokenRow & { hash: string }): Promise<void>;
  tokenByHash(hash: string): Promise<TokenRow | null>;
  listTokens(user?: string): Promise<TokenRow[]>;
  /** false when there is no such token or it was already revoked. */
  revokeToken(id: string, now: string): Promise<boolean>;
  touchToken(id: string, now: string): Promise<void>;
  /**
   * A random 32-byte key named `name`, made on first use and the same from
   * then on for every process that shares this storage (the web UI signs its
   * session cookies with one).
   */
  secret(name: string): Promise<Buffer>;
}

export type AuditAction = 'upload' | 'yank' | 'unyank' | 'delete' | 'cooldown-allow' | 'cooldown-revoke';

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
  record(entry: AuditEntry): Promise<void>;
  list(filter: { repo?: string; since?: string }): Promise<AuditEntry[]>;
}

/** An admin's exception to the cooldown: matching upstream files are listed however young. */
export interface CooldownExemptionRow {
  id: string;
  /** A normalized project name, or a glob over normalized names. */
  project: string;
  /** Only this version's files (compared by PEP 440); null: every version. */
  version: string | null;
  /** Only files served through this repository; null: through every one. */
  repo: string | null;
  /** ISO instant at which it stops applying. */
  until: string;
  reason: string;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  revokedBy: string | null;
}

/** Cooldown exemptions. Each change is written to the audit trail in the same transaction. */
export interface CooldownStore {
  /** Changes with every addition and revocation: readers re-read the list when it moves. */
  serial(): Promise<number>;
  list(): Promise<CooldownExemptionRow[]>;
  add(row: Omit<CooldownExemptionRow, 'revokedAt' | 'revokedBy'>, actor: Actor): Promise<void>;
  /** The exemption as revoked, or null when there is none by that id or it was revoked already. */
  revoke(id: string, at: string, actor: Actor): Promise<CooldownExemptionRow | null>;
}

/**
 * Leases shared by every process on one metadata store: one key, one holder
 * until it releases or its lease expires (a crashed holder's lapses). Times
 * are the wall clock's (ms): processes on one machine share it.
 */
export interface LeaseStore {
  /** Takes the lease if nobody holds it, it has expired, or `owner` holds it already. */
  tryAcquire(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Extends `owner`'s lease; false when it lapsed and someone else took it. */
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Takes the lease over from `from` (a holder known to be dead); false when someone else has it by now. */
  takeOver(key: string, from: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up (nothing when `owner` does not hold it). */
  release(key: string, owner: string): Promise<void>;
  /** The keys of the unexpired leases that start with `prefix` (the live servers: `server:`). */
  live(prefix: string): Promise<string[]>;
  /** Who holds the lease now, if anyone. */
  holder(key: string): Promise<{ owner: string; expiresAt: number } | null>;
}
