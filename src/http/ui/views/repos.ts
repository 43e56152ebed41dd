/** The start page (repositories and search) and a repository's page. */
import type { ProjectSummary } from '../../../pypi/pages.ts';
import type { RepoKind } from '../../../repos/types.ts';
import { formatBytes, formatCount, html, seg, type Html } from '../html.ts';
import type { NameHit } from '../names.ts';

export interface RepoRow {
  name: string;
  kind: RepoKind;
  /** Direct members of a virtual repository; the remote a wheel cache augments. */
  members: string[];
  isDefault: boolean;
  /** null: the viewer may not read it. */
  usage: { projects: number; files: number; bytes: number } | null;
  /** Only for remotes: pages cached and files listed. */
  note: string | null;
}

export const MAX_QUERY = 100;

export function searchForm(action: string, q: string, label: string): Html {
  return html`<form class="search" role="search" method="get" action="${action}">
<label for="q" class="skip">${label}</label>
<input id="q" type="search" name="q" value="${q}" maxlength="${MAX_QUERY}" placeholder="${label}" autocomplete="off">
<input type="submit" value="Search">
</form>`;
}

function kindOf(r: RepoRow): Html {
  if (r.kind === 'virtual') return html`virtual <span class="muted">of ${r.members.join(', ')}</span>`;
  if (r.kind === 'wheelcache') return html`wheel cache <span class="muted">for ${r.members.join(', ')}</span>`;
  return html`${r.kind}`;
}

export function homePage(o: { repos: RepoRow[]; q: string; results: Html | null; signedIn: boolean }): Html {
  const rows = o.repos.map((r) => html`<tr>
<th scope="row"><a href="${seg(r.name)}/">${r.name}</a>${r.isDefault ? html` <span class="badge" title="served at /simple/">default</span>` : ''}</th>
<td>${kindOf(r)}</td>
${r.usage
    ? html`<td class="num">${formatCount(r.usage.projects)}</td><td class="num">${formatCount(r.usage.files)}</td><td class="num">${formatBytes(r.usage.bytes)}</td>`
    : o.signedIn ? html`<td colspan="3" class="muted">you may not read it</td>` : html`<td colspan="3" class="muted">needs credentials: <a href="login?next=${seg(r.name)}/">log in</a></td>`}
</tr>`);
  return html`<h1>Package repositories</h1>
${searchForm('./', o.q, 'Search project names')}
${o.results ?? ''}
<div class="scroll"><table>
<caption class="skip">Repositories</caption>
<thead><tr><th scope="col">Repository</th><th scope="col">Kind</th><th scope="col" class="num">Projects</th><th scope="col" class="num">Files</th><th scope="col" class="num">Size on disk</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>
<p class="note">A remote repository counts the project pages it has cached and the files it holds; a virtual one, the projects and files of its members.</p>`;
}

/** `root`: the path from the results' page to /-/ui/. */
export function searchResults(o: { root: string; q: string; hits: NameHit[]; limit: number; tooShort: boolean }): Html {
  if (o.tooShort) return html`<p class="note" role="status">Type a project name or part of one.</p>`;
  if (o.hits.length === 0) return html`<p role="status">No project name contains <strong>${o.q}</strong>.</p>`;
  const items = o.hits.map((h) => html`<li><a href="${o.root}${seg(h.repos[0]!)}/${seg(h.name)}/">${h.displayName}</a>
${h.match === 'exact' ? html`<span class="badge">exact</span>` : ''}
<span class="muted">in ${h.repos.map((r, i) => html`${i > 0 ? ', ' : ''}<a href="${o.root}${seg(r)}/${seg(h.name)}/">${r}</a>`)}</span></li>`);
  return html`<section aria-labelledby="results"><h2 id="results">Projects matching “${o.q}”</h2>
<p class="note" role="status">${o.hits.length === o.limit ? `The first ${o.limit} matches` : `${o.hits.length} match${o.hits.length === 1 ? '' : 'es'}`}: the exact name, then names starting with it, then names containing it.</p>
<ul class="results">${items}</ul></section>`;
}

export interface RepoPageView {
  row: RepoRow;
  indexUrl: string;
  isPublic: boolean;
  q: string;
  results: Html | null;
  names: ProjectSummary[];
  /** The last name shown, when there are more. */
  next: string | null;
  remote: { url: string; offline: boolean } | null;
}

export function repoPage(v: RepoPageView): Html {
  const r = v.row;
  const list = v.names.map((p) => html`<li><a href="${seg(p.name)}/">${p.displayName}</a></li>`);
  return html`<h1>${r.name} <span class="badge">${r.kind}</span></h1>
<dl class="meta">
<dt>Kind</dt><dd>${kindOf(r)}</dd>
${v.remote ? html`<dt>Upstream</dt><dd><code>${v.remote.url}</code>${v.remote.offline ? ' (offline: never asked)' : ''}</dd>` : ''}
${r.usage ? html`<dt>Projects</dt><dd>${formatCount(r.usage.projects)}</dd><dt>Files</dt><dd>${formatCount(r.usage.files)}</dd>
<dt>Size on disk</dt><dd>${formatBytes(r.usage.bytes)}</dd>` : ''}
${r.note ? html`<dt>Cache</dt><dd>${r.note}</dd>` : ''}
</dl>
<h2>Use it</h2>
<p>pip (<code>pip.conf</code>, or <code>PIP_INDEX_URL</code>):</p>
<div class="copy"><code data-copy>index-url = ${v.indexUrl}</code></div>
${v.isPublic ? '' : html`<p class="note">This repository needs credentials: put a user name and password, or <code>__token__</code> and an API token, in the URL (<code>https://__token__:pydepot-…@host/…</code>), in <code>.netrc</code> or in keyring.</p>`}
<h2>Projects</h2>
${searchForm('./', v.q, `Search ${r.name}`)}
${v.results ?? html`<ul class="results">${list.length > 0 ? list : html`<li class="muted">No projects${r.kind === 'remote' ? ' cached yet: a remote lists the projects someone has asked it for' : ''}.</li>`}</ul>
${v.next ? html`<p><a href="./?after=${seg(v.next)}" rel="next">More projects</a></p>` : ''}`}`;
}
