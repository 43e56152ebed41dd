/**
 * What the resolver reads, from a repository: project pages, and each
 * chosen file's dependencies from its core metadata — the PEP 658 file
 * where the repository serves one (a remote serves one for every wheel:
 * when its upstream gives none, it reads the wheel's METADATA by HTTP
 * Range, repos/wheel-metadata.ts), else the METADATA or PKG-INFO inside the
 * file, read through ranged reads of it (an sdist; a wheel whose upstream
 * has no Range support is then fetched whole, and cached for the export).
 */
import { Readable } from 'node:stream';
import { InvalidRequirement } from '../errors.ts';
import { parseCoreMetadata } from '../pypi/core-metadata.ts';
import { parseDistFilename } from '../pypi/filenames.ts';
import type { IndexFile, ProjectPage } from '../pypi/pages.ts';
import type { FileHandle, Repository } from '../repos/types.ts';
import type { FileMetadata, ResolverSource } from '../resolve/resolver.ts';
import type { BlobReader } from '../storage/types.ts';
import { readSdistMetadata, readWheelMetadata, type Archive } from '../upload/inspect.ts';

export function repositorySource(repo: Repository): ResolverSource {
  return {
    async page(project: string): Promise<ProjectPage | null> {
      // projectVersion brings a remote's page up to date; projectPage then reads it.
      if ((await repo.projectVersion(project)) === null) return null;
      return repo.projectPage(project);
    },

    async metadata(project: string, file: IndexFile) {
      return resolverMetadata(await coreMetadata(repo, project, file), file.filename);
    },
  };
}

/** What the resolver reads of a file's METADATA / PKG-INFO bytes, whatever source they came from. */
export function resolverMetadata(bytes: Buffer, filename: string): FileMetadata {
  const meta = parseCoreMetadata(bytes.toString('utf8'));
  if (meta.dynamic.some((d) => d.toLowerCase() === 'requires-dist')) {
    throw new InvalidRequirement(`${filename} declares its dependencies dynamic: they are known only once it is built (build it into a wheel)`);
  }
  return { requiresDist: meta.requiresDist, requiresPython: meta.requiresPython, providesExtra: meta.providesExtra };
}

/**
 * `source`, each page and each file's metadata read once: the targets of
 * one plan share them, so four targets cost one read of each page (and
 * see the same page, should an upload land during the plan).
 */
export function memoizedSource(source: ResolverSource): ResolverSource {
  const pages = new Map<string, Promise<ProjectPage | null>>();
  const metadata = new Map<string, ReturnType<ResolverSource['metadata']>>();
  return {
    page(project) {
      let p = pages.get(project);
      if (!p) pages.set(project, (p = source.page(project)));
      return p;
    },
    metadata(project, file) {
      const key = `${project}\u0000${file.filename}\u0000${file.sha256}`;
      let m = metadata.get(key);
      if (!m) metadata.set(key, (m = source.metadata(project, file)));
      return m;
    },
  };
}

async function coreMetadata(repo: Repository, project: string, file: IndexFile): Promise<Buffer> {
  const served = await repo.openCoreMetadata(file.sha256, file.filename);
  if (served) return readAll(served.open());
  const handle = await repo.openFile(file.sha256, file.filename);
  if (!handle) throw new InvalidRequirement(`${file.filename} of ${project} is listed but cannot be read`);
  const dist = parseDistFilename(file.filename);
  const archive: Archive = { size: handle.size, open: async () => handleReader(handle) };
  return dist.kind === 'wheel'
    ? readWheelMetadata(archive, file.filename, project)
    : readSdistMetadata(archive, file.filename, dist.format);
}

/**
 * A small stream's bytes. Not stream/consumers' buffer(), which goes through
 * a Blob: for the few hundred bytes of a METADATA file, that was most of the
 * cost of reading one (a plan reads one per pin and target).
 */
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Random access over a served file: every read is a ranged open. */
function handleReader(handle: FileHandle): BlobReader {
  return {
    async read(position: number, length: number): Promise<Buffer> {
      const end = Math.min(position + length, handle.size) - 1;
      if (end < position) return Buffer.alloc(0);
      return readAll(handle.open({ start: position, end }));
    },
    stream(range?: { start: number; end: number }): Readable {
      return handle.open(range);
    },
    async close(): Promise<void> {},
  };
}
