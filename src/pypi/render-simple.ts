/**
 * ProjectPage / project list → PEP 503 HTML and PEP 691 JSON. Pure.
 *
 * Links are relative, so pydepot works behind any proxy or hostname: a
 * project page lives at `<repo>/simple/<project>/`, two levels below the
 * repository root that IndexFile.path is relative to.
 */
import type { IndexFile, ProjectPage, ProjectSummary } from './pages.ts';
import { escapeHtml } from './html.ts';
import { API_VERSION, API_VERSION_WITH_STATUS } from './media-types.ts';

const FROM_PROJECT_PAGE = '../../';
/** pydepot's own key in a PEP 691 file object (where a merged file came from). */
export const EXTENSION_KEY = '_pydepot';

/** Everything up to the opening <body>; `title` is already escaped. */
function htmlHead(apiVersion: string, title: string, extraMeta: string): string {
  return '<!DOCTYPE html>\n<html>\n  <head>\n' +
    `    <meta name="pypi:repository-version" content="${apiVersion}">\n` +
    extraMeta +
    `    <title>${title}</title>\n  </head>\n  <body>\n`;
}

const HTML_TAIL = '  </body>\n</html>\n';

function fileHref(f: IndexFile): string {
  return `${FROM_PROJECT_PAGE}${f.path}#sha256=${f.sha256}`;
}

export function renderProjectHtml(page: ProjectPage): string {
  const title = escapeHtml(page.displayName);
  const links = page.files.map((f) => {
    let attrs = `href="${escapeHtml(fileHref(f))}"`;
    if (f.requiresPython) attrs += ` data-requires-python="${escapeHtml(f.requiresPython)}"`;
    // Both PEP 658 and PEP 714 names, or neither: pip 22.3–23.1 reads only the
    // old one, and a "false" value would make pip fetch a missing file.
    if (f.metadataSha256) {
      attrs += ` data-dist-info-metadata="sha256=${f.metadataSha256}" data-core-metadata="sha256=${f.metadataSha256}"`;
    }
    if (f.yanked !== false) attrs += ` data-yanked="${escapeHtml(f.yanked)}"`;
    return `    <a ${attrs}>${escapeHtml(f.filename)}</a><br />\n`;
  });
  const status = page.status
    ? `    <meta name="pypi:project-status" content="${escapeHtml(page.status.status)}">\n` +
      (page.status.reason ? `    <meta name="pypi:project-status-reason" content="${escapeHtml(page.status.reason)}">\n` : '')
    : '';
  return (
    htmlHead(page.status ? API_VERSION_WITH_STATUS : API_VERSION, `Links for ${title}`, status) +
    `    <h1>Links for ${title}</h1>\n` +
    links.join('') +
    HTML_TAIL
  );
}

export function renderProjectJson(page: ProjectPage): string {
  return JSON.stringify({
    meta: { 'api-version': page.status ? API_VERSION_WITH_STATUS : API_VERSION },
    name: page.name,
    ...(page.status ? { 'project-status': page.status.reason ? page.status : { status: page.status.status } } : {}),
    versions: page.versions,
    files: page.files.map((f) => ({
      filename: f.filename,
      url: `${FROM_PROJECT_PAGE}${f.path}`,
      hashes: { sha256: f.sha256 },
      'requires-python': f.requiresPython,
      size: f.size,
      'upload-time': f.uploadTime,
      // A reason must be a non-empty string; without one, plain true.
      yanked: f.yanked === false ? false : f.yanked || true,
      // Never the key "dist-info-metadata": pip 22.3–23.1 crash on a non-string value.
      'core-metadata': f.metadataSha256 ? { sha256: f.metadataSha256 } : false,
      // PEP 691 reserves keys with a leading underscore for the index's private
      // use (no standard will ever claim them) and clients ignore unknown keys.
      ...(f.origin ? { [EXTENSION_KEY]: { source: f.origin.source, repository: f.origin.repository } } : {}),
    })),
  });
}

/** The root page, rendered batch by batch as the names arrive. */
export async function* renderRootHtml(batches: AsyncIterable<ProjectSummary[]>): AsyncIterable<string> {
  yield htmlHead(API_VERSION, 'Simple index', '');
  for await (const batch of batches) {
    yield batch.map((p) => `    <a href="${escapeHtml(encodeURIComponent(p.name))}/">${escapeHtml(p.displayName)}</a><br />\n`).join('');
  }
  yield HTML_TAIL;
}

export async function* renderRootJson(batches: AsyncIterable<ProjectSummary[]>): AsyncIterable<string> {
  yield `{"meta":{"api-version":"${API_VERSION}"},"projects":[`;
  let first = true;
  for await (const batch of batches) {
    if (batch.length === 0) continue;
    yield (first ? '' : ',') + batch.map((p) => JSON.stringify({ name: p.displayName })).join(',');
    first = false;
  }
  yield ']}';
}
