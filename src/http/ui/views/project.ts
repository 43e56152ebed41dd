/** A project's page: one version's files and metadata, every version, how to install. */
import type { CoreMetadata } from '../../../pypi/core-metadata.ts';
import type { RepoKind } from '../../../repos/types.ts';
import { formatBytes, formatTime, html, safeHttpUrl, seg, type Html } from '../html.ts';

export interface VersionEntry {
  version: string;
  files: number;
  yanked: boolean;
  pre: boolean;
}

export interface FileEntry {
  filename: string;
  /** Relative to the repository's root (`files/<sha256>/<name>`). */
  path: string;
  size: number;
  uploadTime: string | null;
  sha256: string;
  yanked: false | string;
  requiresPython: string | null;
  servedBy: { name: string; kind: RepoKind | null };
}

export interface ProjectView {
  /** From this page to /-/ui/. */
  root: string;
  repo: string;
  name: string;
  displayName: string;
  /** null: the project lists no file with a version. */
  version: string | null;
  versions: VersionEntry[];
  files: FileEntry[];
  /** Files whose version cannot be read from their name (legacy formats). */
  otherFiles: FileEntry[];
  metadata: CoreMetadata | null;
  metadataNote: string | null;
  description: Html | null;
  indexUrl: string;
  isPublic: boolean;
  status: { status: string; reason: string | null } | null;
}

const SOURCE: Record<RepoKind, string> = { local: 'uploaded', remote: 'upstream cache', wheelcache: 'wheel cache', virtual: '' };

function fileRows(v: ProjectView, files: FileEntry[]): Html {
  // Files are linked from the repository's root, which is two levels up from /-/ui/.
  const repoRoot = `${v.root}../../${seg(v.repo)}/`;
  return html`<div class="scroll"><table>
<thead><tr><th scope="col">File</th><th scope="col" class="num">Size</th><th scope="col">Uploaded</th><th scope="col">Served by</th><th scope="col">SHA-256</th></tr></thead>
<tbody>${files.map((f) => html`<tr>
<td><a href="${repoRoot}${f.path}">${f.filename}</a>${f.yanked !== false ? html` <span class="badge yanked">yanked${f.yanked ? html`: ${f.yanked}` : ''}</span>` : ''}${f.requiresPython ? html`<br><span class="muted">Requires-Python ${f.requiresPython}</span>` : ''}</td>
<td class="num">${formatBytes(f.size)}</td>
<td>${formatTime(f.uploadTime)}</td>
<td>${f.servedBy.name}${f.servedBy.kind && f.servedBy.kind !== 'virtual' ? html` <span class="muted">(${SOURCE[f.servedBy.kind]})</span>` : ''}</td>
<td><code class="sha">${f.sha256}</code></td>
</tr>`)}</tbody>
</table></div>`;
}

function metadataList(m: CoreMetadata): Html {
  const urls = m.projectUrls.map((entry) => {
    const comma = entry.indexOf(',');
    const label = comma < 0 ? entry : entry.slice(0, comma).trim();
    const url = comma < 0 ? entry : entry.slice(comma + 1).trim();
    const safe = safeHttpUrl(url);
    return html`<li>${label}: ${safe ? html`<a href="${safe}" rel="nofollow noopener noreferrer">${url}</a>` : html`<code>${url}</code>`}</li>`;
  });
  const home = m.homePage ? safeHttpUrl(m.homePage) : null;
  const row = (label: string, value: Html | string | null) => (value ? html`<dt>${label}</dt><dd>${value}</dd>` : '');
  return html`<dl class="meta">
${row('Requires-Python', m.requiresPython)}
${row('Dependencies', m.requiresDist.length > 0 ? html`<ul>${m.requiresDist.map((d) => html`<li><code>${d}</code></li>`)}</ul>` : html`<span class="muted">none</span>`)}
${row('Extras', m.providesExtra.join(', ') || null)}
${row('License', m.licenseExpression ?? (m.license && m.license.length <= 200 ? m.license : null))}
${row('Author', [m.author, m.authorEmail].filter(Boolean).join(' ') || null)}
${row('Home page', m.homePage ? (home ? html`<a href="${home}" rel="nofollow noopener noreferrer">${m.homePage}</a>` : m.homePage) : null)}
${row('Links', urls.length > 0 ? html`<ul>${urls}</ul>` : null)}
</dl>`;
}

export function projectPage(v: ProjectView): Html {
  const pin = v.version ? `${v.name}==${v.version}` : v.name;
  const current = v.versions.find((x) => x.version === v.version);
  const base = `${v.root}${seg(v.repo)}/${seg(v.name)}/`;
  return html`<p class="muted"><a href="${v.root}${seg(v.repo)}/">${v.repo}</a> /</p>
<h1>${v.displayName}${v.version ? html` ${v.version}` : ''}
${current?.pre ? html`<span class="badge pre">pre-release</span>` : ''}${current?.yanked ? html`<span class="badge yanked">yanked</span>` : ''}</h1>
${v.status && v.status.status !== 'active' ? html`<p class="error">The upstream marks this project <strong>${v.status.status}</strong>${v.status.reason ? html`: ${v.status.reason}` : ''}.</p>` : ''}
${v.metadata?.summary ? html`<p class="summary">${v.metadata.summary}</p>` : ''}
<div class="copy"><code data-copy>pip install --index-url ${v.indexUrl} ${pin}</code></div>
${v.isPublic ? '' : html`<p class="note">The index needs credentials: give pip a user name and password, or <code>__token__</code> and an API token.</p>`}
${v.metadata ? metadataList(v.metadata) : html`<p class="note">${v.metadataNote ?? 'No metadata for this version.'}</p>`}
<h2>Files${v.version ? ` of ${v.version}` : ''}</h2>
${v.files.length > 0 ? fileRows(v, v.files) : html`<p class="muted">No files of this version are listed.</p>`}
${v.otherFiles.length > 0 ? html`<h2>Other files</h2><p class="note">Files whose name does not say their version (legacy formats), or of a version the index does not list.</p>${fileRows(v, v.otherFiles)}` : ''}
<h2>Versions</h2>
<ul class="versions">${v.versions.map((x) => html`<li><a href="${base}${seg(x.version)}/"${x.version === v.version ? html` aria-current="page"` : ''}>${x.version}</a>${x.pre ? html` <span class="badge pre">pre</span>` : ''}${x.yanked ? html` <span class="badge yanked">yanked</span>` : ''}${x.files === 0 ? html` <span class="muted">(no files)</span>` : ''}</li>`)}</ul>
${v.description ? html`<section class="description" aria-label="Description">${v.description}</section>` : ''}`;
}
