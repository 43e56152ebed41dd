/**
 * An upstream's project page → the page a remote repository serves, and the
 * map from each served file back to its upstream URL. Pure. Pages link to
 * pydepot's own file URLs, never to the upstream (air-gapped clients cannot
 * reach it, and it would skip verification), so a file without a sha256,
 * which cannot be verified, is not served at all.
 */
import { parseDistFilename } from '../pypi/filenames.ts';
import { filePath, type IndexFile, type ProjectPage } from '../pypi/pages.ts';
import { sortVersions } from '../pypi/versions.ts';
import type { RemoteFileRow } from '../storage/types.ts';
import type { UpstreamProjectPage } from '../upstream/project-page-parser.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface ServedPage {
  page: ProjectPage;
  files: RemoteFileRow[];
  /** Upstream files left out for want of a sha256. */
  unverifiable: number;
}

/**
 * `readMetadata`: the sha256 of the METADATA pydepot read out of a wheel the
 * upstream gives no core metadata for, if it did (wheel-metadata.ts).
 */
export function servedPage(project: string, up: UpstreamProjectPage, readMetadata: (sha256: string, filename: string) => string | null = () => null): ServedPage {
  // PEP 792: an index offers no file of a quarantined project, whatever its page lists.
  if (up.projectStatus?.status === 'quarantined') {
    return { page: { name: project, displayName: up.name ?? project, files: [], versions: [], status: up.projectStatus }, files: [], unverifiable: 0 };
  }
  const files: IndexFile[] = [];
  const rows: RemoteFileRow[] = [];
  const versions: string[] = [];
  let unverifiable = 0;
  for (const f of up.files) {
    const sha256 = f.hashes.sha256;
    if (!sha256 || !SHA256_HEX.test(sha256)) {
      unverifiable++;
      continue;
    }
    const upstreamMetadata = typeof f.coreMetadata === 'object' && f.coreMetadata.sha256 && SHA256_HEX.test(f.coreMetadata.sha256) ? f.coreMetadata.sha256 : null;
    const metadataSha256 = upstreamMetadata ?? (f.filename.endsWith('.whl') ? readMetadata(sha256, f.filename) : null);
    files.push({
      filename: f.filename, path: filePath(sha256, f.filename), sha256, size: f.size ?? 0,
      requiresPython: f.requiresPython, uploadTime: f.uploadTime, yanked: f.yanked, metadataSha256,
    });
    rows.push({ sha256, filename: f.filename, project, url: f.url, size: f.size, metadataSha256, uploadTime: f.uploadTime, requiresPython: f.requiresPython });
    try {
      versions.push(parseDistFilename(f.filename).version);
    } catch {
      // The parser already dropped what is not a wheel or sdist.
    }
  }
  const page: ProjectPage = {
    name: project,
    displayName: up.name ?? project,
    files,
    versions: sortVersions(up.versions ?? versions),
    status: up.projectStatus,
  };
  return { page, files: rows, unverifiable };
}
