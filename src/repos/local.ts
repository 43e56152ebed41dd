/**
 * A hosted repository: pages come from the metadata store, files from the
 * blob store, uploads go through the validation pipeline and are committed
 * blob first, row second, so a row never points at a missing blob.
 */
import { FileExists } from '../errors.ts';
import type { UploadForm } from '../http/multipart.ts';
import { sortVersions, versionsEqual } from '../pypi/versions.ts';
import type { LocalRepoConfig } from '../config/schema.ts';
import type { BlobStore, FileRow, MetadataStore } from '../storage/types.ts';
import { sha256Hex, validateUpload } from '../upload/pipeline.ts';
import { blobFileHandle, bufferFileHandle } from './file-handles.ts';
import { filePath, type FileHandle, type IndexFile, type ProjectPage, type ProjectSummary, type Repository } from './types.ts';

export type UploadOutcome = 'created' | 'unchanged' | 'replaced';

export interface UploadResult {
  outcome: UploadOutcome;
  file: FileRow;
}

export class LocalRepository implements Repository {
  readonly kind = 'local' as const;
  readonly indexMaxAge: number;
  readonly maxFileSize: number;

  constructor(
    readonly name: string,
    private readonly config: LocalRepoConfig,
    private readonly blobs: BlobStore,
    private readonly store: MetadataStore,
  ) {
    this.indexMaxAge = config.indexMaxAge;
    this.maxFileSize = config.maxFileSize;
  }

  async projectVersion(project: string): Promise<string | null> {
    const row = this.store.getProject(this.name, project);
    return row ? String(row.serial) : null;
  }

  /** Synchronous on purpose: the dependency-confusion rule asks it on every virtual lookup. */
  hasProject(project: string): boolean {
    return this.store.getProject(this.name, project) !== null;
  }

  projectNames(): string[] {
    return this.store.listProjects(this.name).map((p) => p.name);
  }

  /** The project that holds this exact file, or null. */
  fileProject(sha256: string, filename: string): string | null {
    const row = this.store.getFile(this.name, filename);
    return row && row.sha256 === sha256 ? row.project : null;
  }

  async projectPage(project: string): Promise<ProjectPage | null> {
    const row = this.store.getProject(this.name, project);
    if (!row) return null;
    const files = this.store.listFiles(this.name, project);
    if (files.length === 0) return null;
    return {
      name: row.name,
      displayName: row.displayName,
      files: files.map(toIndexFile),
      versions: sortVersions(files.map((f) => f.version)),
    };
  }

  async listVersion(): Promise<string> {
    return String(this.store.repoSerial(this.name));
  }

  async *listProjects(): AsyncIterable<ProjectSummary[]> {
    yield this.store.listProjects(this.name).map((p) => ({ name: p.name, displayName: p.displayName }));
  }

  async openFile(sha256: string, filename: string): Promise<FileHandle | null> {
    const row = this.store.getFile(this.name, filename);
    if (!row || row.sha256 !== sha256) return null;
    return blobFileHandle(this.blobs, filename, sha256, row.size, new Date(row.uploadTime));
  }

  async openCoreMetadata(sha256: string, filename: string): Promise<FileHandle | null> {
    const row = this.store.getFile(this.name, filename);
    if (!row || row.sha256 !== sha256 || !row.metadataSha256) return null;
    const bytes = this.store.getCoreMetadata(this.name, filename);
    if (!bytes) return null;
    return bufferFileHandle(`${filename}.metadata`, row.metadataSha256, bytes, new Date(row.uploadTime));
  }

  async projectFiles(project: string): Promise<FileRow[]> {
    return this.store.listFiles(this.name, project);
  }

  async fileMetadataJson(filename: string): Promise<string | null> {
    return this.store.getMetadataJson(this.name, filename);
  }

  /** Validates, stores and indexes one uploaded file. Consumes form.content's temp file. */
  async upload(form: UploadForm, uploader: string | null): Promise<UploadResult> {
    try {
      const v = await validateUpload(form);
      const { temp, dist } = v;
      // Cheap early answer; addFile re-checks inside its transaction for races.
      const existing = this.store.getFile(this.name, dist.filename);
      if (existing && existing.sha256 === temp.sha256) {
        await this.blobs.discard(temp);
        return { outcome: 'unchanged', file: existing };
      }
      if (existing && !this.config.overwrite) throw new FileExists(dist.filename, existing.sha256);

      await this.blobs.commit(temp);
      const result = this.store.addFile(
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
          metadataSha256: v.coreMetadata ? sha256Hex(v.coreMetadata) : null,
          metadataJson: JSON.stringify(v.metadata),
          uploadTime: new Date().toISOString(),
          uploader,
        },
        { overwrite: this.config.overwrite },
      );
      if (result.outcome !== 'added') {
        // Lost a race against a concurrent upload of the same filename.
        await this.dropBlobIfUnused(temp.sha256);
        if (result.outcome === 'identical') return { outcome: 'unchanged', file: result.existing };
        throw new FileExists(dist.filename, result.existing.sha256);
      }
      if (result.replaced) await this.dropBlobIfUnused(result.replaced.sha256);
      const file = this.store.getFile(this.name, dist.filename)!;
      return { outcome: result.replaced ? 'replaced' : 'created', file };
    } finally {
      // Whatever happened, nothing stays in tmp/ (a no-op after a commit).
      if (form.content) await this.blobs.discard(form.content.temp);
    }
  }

  /**
   * Yanks or un-yanks every file of a version (PEP 592). Returns how many
   * versions matched, and the files whose state changed.
   */
  setYanked(project: string, version: string, yanked: boolean, reason: string | null): { matched: number; changed: FileRow[] } {
    const versions = this.matchingVersions(project, version);
    const before = new Map(this.filesOf(project, versions).map((f) => [f.filename, f]));
    for (const v of versions) this.store.setYanked(this.name, project, v, yanked, reason);
    const changed = this.filesOf(project, versions).filter((f) => {
      const old = before.get(f.filename);
      return old && (old.yanked !== f.yanked || old.yankedReason !== f.yankedReason);
    });
    return { matched: versions.length, changed };
  }

  /**
   * Deletes the files of a version (or the one named `filename` of it) for
   * good: pip pinned to it will fail. Blobs no other file uses are removed.
   */
  async deleteFiles(project: string, version: string, filename: string | null): Promise<FileRow[]> {
    const versions = this.matchingVersions(project, version);
    const targets = this.filesOf(project, versions).filter((f) => filename === null || f.filename === filename);
    const deleted: FileRow[] = [];
    for (const f of targets) {
      const row = this.store.deleteFile(this.name, f.filename);
      if (!row) continue;
      deleted.push(row);
      await this.dropBlobIfUnused(row.sha256);
    }
    return deleted;
  }

  /** The version strings as uploaded that mean `version` by PEP 440 (`2.0` matches `2.0.0`). */
  private matchingVersions(project: string, version: string): string[] {
    return this.store.listVersions(this.name, project).filter((v) => versionsEqual(v, version));
  }

  private filesOf(project: string, versions: readonly string[]): FileRow[] {
    return this.store.listFiles(this.name, project).filter((f) => versions.includes(f.version));
  }

  private async dropBlobIfUnused(sha256: string): Promise<void> {
    if (!this.store.blobInUse(sha256)) await this.blobs.delete(sha256);
  }
}

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
