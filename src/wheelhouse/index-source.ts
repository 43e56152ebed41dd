/**
 * What the resolver reads, from an index over HTTP (upstream/index-reader.ts)
 * rather than a repository in this process: `pydepot wheels build` runs on a
 * node, where only pydepot's URL is at hand. Pages are turned into the
 * resolver's shape as a remote repository turns an upstream's
 * (repos/remote-page.ts: a file without a sha256 is left out, since it
 * cannot be verified). Dependencies come from the PEP 658 file, checked
 * against the page's hash, else from the file itself, downloaded once into
 * the work folder and verified, where the build later finds it too.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDistFilename } from '../pypi/filenames.ts';
import { normalizeName } from '../pypi/names.ts';
import type { IndexFile, ProjectPage } from '../pypi/pages.ts';
import { servedPage } from '../repos/remote-page.ts';
import type { FileMetadata, ResolverSource } from '../resolve/resolver.ts';
import { fileReader } from '../storage/blob-fs.ts';
import type { RemoteFileRow } from '../storage/types.ts';
import type { IndexReader } from '../upstream/index-reader.ts';
import { readSdistMetadata, readWheelMetadata, type Archive } from '../upload/inspect.ts';
import { resolverMetadata } from './source.ts';

export interface IndexSource extends ResolverSource {
  /** The index URL, for messages. */
  readonly url: string;
  /** Where a file of a page is served (absolute; may be on another host). */
  fileUrl(project: string, file: IndexFile): string;
  /** The file, downloaded once into the work folder and verified against the page's sha256 (and size); its path. */
  download(project: string, file: IndexFile): Promise<string>;
  /** Per project, files its page lists without a sha256, which are left out. */
  readonly unverifiable: ReadonlyMap<string, number>;
}

/** `dir`: where downloads go (the caller's work folder, removed by the caller). */
export function indexSource(reader: IndexReader, dir: string): IndexSource {
  const rows = new Map<string, RemoteFileRow>();
  const downloads = new Map<string, Promise<string>>();
  const unverifiable = new Map<string, number>();
  const key = (project: string, filename: string) => `${normalizeName(project)}\u0000${filename}`;
  const rowOf = (project: string, file: IndexFile): RemoteFileRow => {
    const row = rows.get(key(project, file.filename));
    if (!row) throw new Error(`${file.filename} is not on a page read from ${reader.url}`);
    return row;
  };

  const download = (project: string, file: IndexFile): Promise<string> => {
    let p = downloads.get(file.sha256);
    if (!p) {
      const row = rowOf(project, file);
      p = (async () => {
        const folder = join(dir, file.sha256);
        await mkdir(folder, { recursive: true });
        const path = join(folder, file.filename);
        await reader.download({ url: row.url, filename: file.filename, sha256: file.sha256, size: row.size }, path);
        return path;
      })();
      // A failed download may be retried by the next caller.
      p.catch(() => downloads.delete(file.sha256));
      downloads.set(file.sha256, p);
    }
    return p;
  };

  return {
    url: reader.url,
    unverifiable,

    async page(project: string): Promise<ProjectPage | null> {
      const up = await reader.projectPage(project);
      if (up === null) return null;
      const name = normalizeName(project);
      const served = servedPage(name, up);
      for (const row of served.files) rows.set(key(name, row.filename), row);
      if (served.unverifiable > 0) unverifiable.set(name, served.unverifiable);
      return served.page;
    },

    async metadata(project: string, file: IndexFile): Promise<FileMetadata> {
      if (file.metadataSha256 !== null) {
        return resolverMetadata(await reader.coreMetadata(rowOf(project, file).url, file.metadataSha256), file.filename);
      }
      // No PEP 658 file (an sdist, or an index that serves none): read it from the file itself.
      const path = await download(project, file);
      return resolverMetadata(await metadataInFile(path, file.filename, project), file.filename);
    },

    fileUrl: (project, file) => rowOf(project, file).url,
    download,
  };
}

/** METADATA of a wheel, PKG-INFO of an sdist, read from a file on disk. */
export async function metadataInFile(path: string, filename: string, project: string): Promise<Buffer> {
  const dist = parseDistFilename(filename);
  const archive: Archive = { size: (await stat(path)).size, open: async () => fileReader(path) };
  return dist.kind === 'wheel'
    ? readWheelMetadata(archive, filename, project)
    : readSdistMetadata(archive, filename, dist.format);
}
