/**
 * Upstream removals win. When a remote revalidates a project page, a file
 * the upstream no longer lists (a deleted file or release), every file of a
 * project it no longer has (404/410) and of a project it quarantines
 * (PEP 792) stops being served: absent from pages, its URL 410 Gone with when
 * pydepot noticed. The file's row stays in the remote cache store, marked
 * (RemoteCacheStore.savePage), for the 410 and for `pydepot removed report`.
 *
 * `keepRemoved: true` on the remote keeps serving the files it had cached
 * when they left a page the upstream still has: the stored page carries them
 * (`removed` below) beside the upstream's own files, and whether they are
 * shown is decided when the page is served, so that changing the setting
 * takes effect at the next start. A quarantine or a deleted project is never
 * kept: nothing of it is served.
 *
 * The functions are pure but for `reconcile`'s question "is this file
 * cached?", which the caller answers.
 */
import { parseDistFilename } from '../pypi/filenames.ts';
import type { IndexFile, ProjectPage } from '../pypi/pages.ts';
import { sortVersions } from '../pypi/versions.ts';
import type { RemoteFileRecord, RemovalCause } from '../storage/types.ts';
import type { UpstreamProjectPage } from '../upstream/project-page-parser.ts';
import { servedPage, type ServedPage } from './remote-page.ts';

/** A file removed upstream that pydepot had cached: kept on the stored page, shown only with keepRemoved. */
export interface KeptFile {
  file: IndexFile;
  /** ISO time pydepot first saw it gone. */
  removedAt: string;
}

/** A remote's page as stored: the upstream's page, and the removed files it may still serve. */
export interface StoredPage extends ProjectPage {
  removed?: KeptFile[];
}

export interface Reconciled {
  served: ServedPage;
  /** What to store: the upstream's page with the kept files carried over. */
  stored: StoredPage;
  /** Why the files the upstream stopped listing are removed. */
  cause: RemovalCause;
  /** The upstream sent a status that cannot be read: the one known before was kept. */
  statusKept: string | null;
}

/**
 * A fresh upstream page against the stored one: the page to serve and to
 * store. `cached` says whether a file's bytes are in the blob store (only
 * those can be kept); `readMetadata` is servedPage's.
 */
export async function reconcile(
  project: string,
  up: UpstreamProjectPage,
  oldBody: string | null,
  ask: { cached: (sha256: string) => Promise<boolean>; readMetadata?: (sha256: string, filename: string) => string | null },
  now: number,
): Promise<Reconciled> {
  const old = oldBody === null ? null : (JSON.parse(oldBody) as StoredPage);
  let statusKept: string | null = null;
  if (up.statusProblem !== undefined) {
    // An unreadable status is not "active": the last known state stands (a
    // quarantine is not lifted by a malformed page).
    statusKept = up.statusProblem;
    up = { ...up, projectStatus: old?.status ?? null };
  }
  const served = servedPage(project, up, ask.readMetadata);
  const cause: RemovalCause = served.page.status?.status === 'quarantined' ? 'quarantined' : 'deleted';
  const listed = new Set(served.page.files.map(fileKey));
  const carried = (old?.removed ?? []).filter((k) => !listed.has(fileKey(k.file)));
  if (cause === 'deleted' && old) {
    const at = new Date(now).toISOString();
    const gone = old.files.filter((f) => !listed.has(fileKey(f)));
    for (const f of gone) if (await ask.cached(f.sha256)) carried.push({ file: f, removedAt: at });
  }
  const stored: StoredPage = carried.length > 0 ? { ...served.page, removed: carried } : served.page;
  return { served, stored, cause, statusKept };
}

function fileKey(f: IndexFile): string {
  return `${f.sha256}/${f.filename}`;
}

/** The stored page as the remote serves it: with the kept files when keepRemoved is set (and the project is not quarantined). */
export function visiblePage(stored: StoredPage, keepRemoved: boolean): ProjectPage {
  const { removed, ...page } = stored;
  if (!keepRemoved || !removed || removed.length === 0 || page.status?.status === 'quarantined') return page;
  const names = new Set(page.files.map((f) => f.filename));
  const kept = removed.map((k) => k.file).filter((f) => !names.has(f.filename));
  if (kept.length === 0) return page;
  const versions = new Set(page.versions);
  for (const f of kept) {
    const v = versionOfFile(f.filename);
    if (v !== null) versions.add(v);
  }
  return { ...page, files: [...page.files, ...kept], versions: sortVersions(versions) };
}

function versionOfFile(filename: string): string | null {
  try {
    return parseDistFilename(filename).version;
  } catch {
    return null;
  }
}

/** Whether a stored file row may still be served, given the remote's keepRemoved: kept files are the cached ones of a project still listed. */
export function servesRemoved(row: RemoteFileRecord, keepRemoved: boolean, cached: boolean): boolean {
  return keepRemoved && row.removedCause === 'deleted' && cached;
}

/** The one-line reason of a 410 for a removed file. */
export function goneReason(row: RemoteFileRecord & { removedAt: number }, upstreamPage: string): string {
  const on = new Date(row.removedAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
  switch (row.removedCause) {
    case 'quarantined':
      return `'${row.filename}': project '${row.project}' was quarantined by the upstream ${upstreamPage} (PEP 792), noticed ${on}; pydepot no longer serves its files.`;
    case 'project-deleted':
      return `'${row.filename}': project '${row.project}' was removed by the upstream ${upstreamPage} on ${on}; pydepot no longer serves it.`;
    default:
      return `'${row.filename}' was removed by the upstream ${upstreamPage} on ${on}; pydepot no longer serves it.`;
  }
}
