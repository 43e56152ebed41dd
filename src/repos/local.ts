/**
 * A hosted repository: pages come from the metadata store, files from the
 * blob store. A validated upload is committed blob first, then its rows and
 * its audit entry in one transaction, so a row never points at a missing
 * blob and no change goes unrecorded.
 */
import { createHash } from 'node:crypto';
import type { LocalRepoConfig } from '../config/schema.ts';
import { crashPoint } from '../crash-points.ts';
import { FileExists, StoredFileMissing } from '../errors.ts';
import { filePath, type IndexFile, type ProjectPage, type ProjectSummary } from '../pypi/pages.ts';
import { sortVersions, versionsEqual } from '../pypi/versions.ts';
import type { Actor, AuditAction, AuditStore, BlobStore, FileRow, MetadataStore } from '../storage/types.ts';
import type { ValidatedUpload } from '../upload/pipeline.ts';
import { blobFileHandle, bufferFileHandle } from './file-handles.ts';
import type { FileHandle, ReleaseFiles, Repository, UploadResult, UploadTarget } from './types.ts';

/** Names per page of the project list. */
const LIST_BATCH = 5000;

export class LocalRepository implements Repository, UploadTarget {
  readonly kind = 'local' as const;
  readonly indexMaxAge: number;
  readonly maxFileSize: number;

  constructor(
    readonly name: string,
    private readonly config: LocalRepoConfig,
    private readonly blobs: BlobStore,
    private readonly store: MetadataStore,
    private readonly audit: AuditStore,
  ) {
    this.indexMaxAge = config.indexMaxAge;
    this.maxFileSize = config.maxFileSize;
  }

  async projectVersion(project: string): Promise<string | null> {
    const row = await this.store.getProject(this.name, project);
    return row ? String(row.serial) : null;
  }

  /** The dependency-confusion rule asks it on every virtual lookup: one indexed read. */
  async hostsProject(project: string): Promise<boolean> {
    return (await this.store.getProject(this.name, project)) !== null;
  }

  /** The file stored under this name, whatever its bytes, or null (a wheelhouse import tells a conflict from a new file). */
  storedFile(filename: string): Promise<FileRow | null> {
    return this.store.getFile(this.name, filename);
  }

  /** The project that holds this exact file, or null. */
  async fileProject(sha256: string, filename: string): Promise<string | null> {
    const row = await this.store.getFile(this.name, filename);
    return row && row.sha256 === sha256 ? row.project : null;
  }

  async projectPage(project: string): Promise<ProjectPage | null> {
    // Both reads at once (the page is served on every request); the files decide whether there is a page.
    const [row, files] = await Promise.all([this.store.getProject(this.name, project), this.store.listFiles(this.name, project)]);
    if (!row || files.length === 0) return null;
    return {
      name: row.name,
      displayName: row.displayName,
      files: files.map(toIndexFile),
      versions: sortVersions(files.map((f) => f.version)),
    };
  }

  async listVersion(): Promise<string> {
    return String(await this.store.repoSerial(this.name));
  }

  /** In keyset pages of names: a repository of 100,000 projects is listed in flat memory, as a remote's root is. */
  async *listProjects(): AsyncIterable<ProjectSummary[]> {
    let after = '';
    for (;;) {
      const batch = await this.store.projectNames(this.name, after, LIST_BATCH);
      if (batch.length === 0) return;
      yield batch;
      // A short batch is the last: no query for an empty one (a small list is one query).
      if (batch.length < LIST_BATCH) return;
      after = batch.at(-1)!.name;
    }
  }

  async openFile(sha256: string, filename: string): Promise<FileHandle | null> {
    const row = await this.store.getFile(this.name, filename);
    if (!row || row.sha256 !== sha256) return null;
    if (!(await this.blobs.stat(sha256))) throw new StoredFileMissing(filename, this.name);
    return blobFileHandle(this.blobs, filename, sha256, row.size, new Date(row.uploadTime));
  }

  async openCoreMetadata(sha256: string, filename: string): Promise<FileHandle | null> {
    // Read at once; the row's metadata hash is checked against the bytes, so
    // bytes of a file that replaced it in between are never served as its.
    const [row, bytes] = await Promise.all([this.store.getFile(this.name, filename), this.store.getCoreMetadata(this.name, filename)]);
    if (!row || row.sha256 !== sha256 || !row.metadataSha256 || !bytes) return null;
    if (createHash('sha256').update(bytes).digest('hex') !== row.metadataSha256) return null;
    return bufferFileHandle(`${filename}.metadata`, row.metadataSha256, bytes, new Date(row.uploadTime));
  }

  async releaseFiles(project: string): Promise<ReleaseFiles | null> {
    const files = await this.store.listFiles(this.name, project);
    if (files.length === 0) return null;
    return { files, metadataJson: async (filename) => this.store.getMetadataJson(this.name, filename) };
  }

  /** Stores and indexes one validated upload. Consumes its temp blob, whatever happens. */
  async add(v: ValidatedUpload, actor: Actor): Promise<UploadResult> {
    const { temp, dist } = v;
    try {
      // Cheap early refusal; addFile re-checks inside its transaction for races.
      const existing = await this.store.getFile(this.name, dist.filename);
      if (existing && existing.sha256 !== temp.sha256 && !this.config.overwrite) throw new FileExists(dist.filename, existing.sha256);

      // Crash-matrix steps (test-only, see crash-points.ts): a crash before the
      // commit leaves a temp file (cleaned at start), after it a blob no row
      // names (reused by the next upload of the same bytes), never the reverse.
      crashPoint('upload:temp-complete');
      await this.blobs.commit(temp);
      crashPoint('upload:blob-committed');
      const result = await this.store.addFile(
        {
          repo: this.name,
          project: dist.normalizedName,
          displayName: v.metadata.name,
          filename: dist.filename,
          version: dist.version,
          kind: dist.kind,
          size: temp.size,
          sha256: temp.sha256,
          md5: temp.md5,
          blake2b256: temp.blake2b256,
          requiresPython: v.requiresPython,
          coreMetadata: v.coreMetadata,
          metadataSha256: v.metadataSha256,
          metadataJson: JSON.stringify(v.metadata),
          uploadTime: new Date().toISOString(),
          uploader: actor.user,
        },
        { overwrite: this.config.overwrite, actor },
      );
      crashPoint('upload:row-committed');
      if (result.outcome !== 'added') {
        // Lost a race against a concurrent upload of the same filename.
        await this.dropBlobIfUnused(temp.sha256);
        if (result.outcome === 'identical') return { outcome: 'unchanged', file: result.existing, note: IDENTICAL };
        throw new FileExists(dist.filename, result.existing.sha256);
      }
      if (result.replaced) await this.dropBlobIfUnused(result.replaced.sha256);
      // The row as added, not a re-read: a concurrent upload may replace it meanwhile.
      const file = result.file;
      return { outcome: result.replaced ? 'replaced' : 'created', file };
    } finally {
      // Whatever happened, nothing stays in temporary storage (a no-op after a commit).
      await this.blobs.discard(temp);
    }
  }

  /**
   * Yanks or un-yanks every file of a version (PEP 592). Returns how many
   * versions matched, and the files whose state changed.
   */
  async setYanked(project: string, version: string, yanked: boolean, reason: string | null, actor: Actor): Promise<{ matched: number; changed: FileRow[] }> {
    const versions = await this.matchingVersions(project, version);
    const changed: FileRow[] = [];
    // The store says which files each call changed: a concurrent yank's are not counted as this one's.
    for (const v of versions) changed.push(...(await this.store.setYanked(this.name, project, v, yanked, reason)));
    changed.sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
    await this.record(yanked ? 'yank' : 'unyank', changed, actor, yanked ? reason : null);
    return { matched: versions.length, changed };
  }

  /**
   * Deletes the files of a version (or the one named `filename` of it) for
   * good: pip pinned to it will fail. Blobs no other file uses are removed.
   */
  async deleteFiles(project: string, version: string, filename: string | null, actor: Actor): Promise<FileRow[]> {
    const versions = await this.matchingVersions(project, version);
    const targets = (await this.filesOf(project, versions)).filter((f) => filename === null || f.filename === filename);
    const deleted: FileRow[] = [];
    for (const f of targets) {
      const row = await this.store.deleteFile(this.name, f.filename);
      if (!row) continue;
      deleted.push(row);
      await this.dropBlobIfUnused(row.sha256);
    }
    await this.record('delete', deleted, actor, null);
    return deleted;
  }

  private async record(action: AuditAction, files: readonly FileRow[], actor: Actor, detail: string | null): Promise<void> {
    const at = new Date().toISOString();
    for (const f of files) {
      await this.audit.record({
        at, actor: actor.user ?? 'anonymous', tokenId: actor.tokenId, address: actor.address,
        action, repo: this.name, project: f.project, version: f.version, filename: f.filename, sha256: f.sha256, detail,
      });
    }
  }

  /** The version strings as uploaded that mean `version` by PEP 440 (`2.0` matches `2.0.0`). */
  private async matchingVersions(project: string, version: string): Promise<string[]> {
    return (await this.store.listVersions(this.name, project)).filter((v) => versionsEqual(v, version));
  }

  private async filesOf(project: string, versions: readonly string[]): Promise<FileRow[]> {
    return (await this.store.listFiles(this.name, project)).filter((f) => versions.includes(f.version));
  }

  private async dropBlobIfUnused(sha256: string): Promise<void> {
    if (!(await this.store.blobInUse(sha256))) await this.blobs.delete(sha256);
  }
}

const IDENTICAL = 'File already exists with identical content; nothing changed.';

function toIndexFile(f: FileRow): IndexFile {
  return {
    filename: f.filename,
    path: filePath(f.sha256, f.filename),
    sha256: f.sha256,
    size: f.size,
    requiresPython: f.requiresPython,
    uploadTime: f.uploadTime,
    yanked: f.yanked ? (f.yankedReason ?? '') : false,
    metadataSha256: f.metadataSha256,
  };
}
