/**
 * Gathers what a project's page shows from the repository interface alone:
 * the page (with the member serving each file, for a virtual repository),
 * each file's version read from its name, and the chosen version's core
 * metadata: the upload's own (local repositories keep it, description
 * included), else the PEP 658 metadata file the index serves.
 */
import { buffer } from 'node:stream/consumers';
import { LRUCache } from 'lru-cache';
import { parseCoreMetadata, type CoreMetadata } from '../../pypi/core-metadata.ts';
import { parseDistFilename } from '../../pypi/filenames.ts';
import type { IndexFile, ProjectPage } from '../../pypi/pages.ts';
import { canonicalVersion, isPrerelease } from '../../pypi/versions.ts';
import type { RepoKind, Repository } from '../../repos/types.ts';
import type { FileEntry, VersionEntry } from './views/project.ts';

/** Core metadata files larger than this are not read for a page. */
const MAX_METADATA = 1024 * 1024;
const LEGACY_EXTENSIONS = ['.tar.gz', '.tar.bz2', '.tar.xz', '.tgz', '.zip', '.egg', '.exe', '.msi', '.rpm', '.dmg'];

export interface ProjectData {
  page: ProjectPage;
  versions: VersionEntry[];
  /** Files by canonical version. */
  byVersion: Map<string, FileEntry[]>;
  otherFiles: FileEntry[];
  /** The version shown when none is asked for: the newest that is neither yanked nor a pre-release, if any. */
  latest: string | null;
}

/** A distribution's version from its filename, or null when the name does not say (legacy formats). */
export function fileVersion(filename: string, project: string): string | null {
  try {
    return parseDistFilename(filename).version;
  } catch {
    const ext = LEGACY_EXTENSIONS.find((e) => filename.toLowerCase().endsWith(e));
    if (!ext) return null;
    const stem = filename.slice(0, -ext.length);
    const prefix = `${project}-`;
    if (!stem.replace(/[-_.]+/g, '-').toLowerCase().startsWith(prefix)) return null;
    // The version starts after the first '-' whose left side is a spelling of the project's name.
    for (let i = 1; i < stem.length; i++) {
      if (stem[i] === '-' && stem.slice(0, i).replace(/[-_.]+/g, '-').toLowerCase() === project) {
        const rest = stem.slice(i + 1);
        // An egg: `name-1.0-py3.8`.
        const v = ext === '.egg' ? rest.replace(/-py\d.*$/, '') : rest;
        return canonicalVersion(v) ?? null;
      }
    }
    return null;
  }
}

export function buildProjectData(page: ProjectPage, servedBy: (f: IndexFile) => string, kindOf: (repo: string) => RepoKind | null): ProjectData {
  const byVersion = new Map<string, FileEntry[]>();
  const otherFiles: FileEntry[] = [];
  for (const f of page.files) {
    const member = servedBy(f);
    const entry: FileEntry = {
      filename: f.filename, path: f.path, size: f.size, uploadTime: f.uploadTime, sha256: f.sha256, yanked: f.yanked,
      requiresPython: f.requiresPython, servedBy: { name: member, kind: kindOf(member) },
    };
    const raw = fileVersion(f.filename, page.name);
    const key = raw === null ? null : (canonicalVersion(raw) ?? raw);
    if (key === null) otherFiles.push(entry);
    else byVersion.set(key, [...(byVersion.get(key) ?? []), entry]);
  }
  // page.versions is ascending (PEP 440); the page shows the newest first.
  const seen = new Set<string>();
  const versions: VersionEntry[] = [];
  for (const v of [...page.versions].reverse()) {
    const key = canonicalVersion(v) ?? v;
    if (seen.has(key)) continue;
    seen.add(key);
    const files = byVersion.get(key) ?? [];
    versions.push({ version: v, files: files.length, yanked: files.length > 0 && files.every((f) => f.yanked !== false), pre: isPrerelease(v) });
  }
  // Files of a version the page does not list (the page's versions come from its index) are shown apart, never lost.
  for (const [key, files] of byVersion) {
    if (!seen.has(key)) {
      otherFiles.push(...files);
      byVersion.delete(key);
    }
  }
  const installable = versions.filter((v) => v.files > 0 && !v.yanked);
  const latest = (installable.find((v) => !v.pre) ?? installable[0] ?? versions.find((v) => v.files > 0) ?? versions[0])?.version ?? null;
  return { page, versions, byVersion, otherFiles, latest };
}

export class MetadataReader {
  private readonly cache = new LRUCache<string, CoreMetadata>({ max: 1000 });

  /**
   * The core metadata of one of `files` (a wheel's first: an sdist's
   * PKG-INFO may leave fields Dynamic), or a reason why there is none.
   */
  async read(repo: Repository, project: string, files: readonly FileEntry[]): Promise<{ metadata: CoreMetadata | null; note: string | null; complete: boolean }> {
    const ordered = [...files].sort((a, b) => Number(b.filename.endsWith('.whl')) - Number(a.filename.endsWith('.whl')));
    for (const f of ordered) {
      const hit = this.cache.get(`${repo.name}\u0000${f.sha256}`);
      if (hit) return { metadata: hit, note: null, complete: true };
    }
    const release = (await repo.releaseFiles?.(project)) ?? null;
    if (release) {
      for (const f of ordered) {
        const row = release.files.find((r) => r.filename === f.filename && r.sha256 === f.sha256);
        const json = row ? await release.metadataJson(row.filename) : null;
        if (json) return this.keep(repo, f, JSON.parse(json) as CoreMetadata);
      }
    }
    for (const f of ordered) {
      let handle;
      try {
        handle = await repo.openCoreMetadata(f.sha256, f.filename);
      } catch (err) {
        return { metadata: null, note: `The metadata could not be fetched: ${(err as Error).message}`, complete: false };
      }
      if (!handle) continue;
      if (handle.size > MAX_METADATA) return { metadata: null, note: 'The metadata file is too large to show.', complete: true };
      try {
        return this.keep(repo, f, parseCoreMetadata((await buffer(handle.open())).toString('utf8')));
      } catch (err) {
        return { metadata: null, note: `The metadata could not be read: ${(err as Error).message}`, complete: false };
      }
    }
    return { metadata: null, note: 'The index serves no metadata for these files (an sdist-only release of an upstream, or a wheel without a metadata file).', complete: true };
  }

  private keep(repo: Repository, f: FileEntry, metadata: CoreMetadata): { metadata: CoreMetadata; note: null; complete: true } {
    this.cache.set(`${repo.name}\u0000${f.sha256}`, metadata);
    return { metadata, note: null, complete: true };
  }
}
