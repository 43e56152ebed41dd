/** Cache statistics and the dependency-confusion squat report. */
import type { FileSource } from '../../../repos/types.ts';
import type { SquatRecord } from '../../../storage/types.ts';
import type { ProjectServed, Served } from '../../serve-stats.ts';
import { formatBytes, formatCount, formatTime, html, seg, type Html } from '../html.ts';

export interface StatsView {
  since: Date;
  bySource: Record<FileSource, Served>;
  byRepo: (Served & { repo: string; source: FileSource })[];
  top: ProjectServed[];
  caches: { repo: string; pages: number; listed: number; held: number; bytes: number }[];
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '—' : `${((100 * part) / whole).toFixed(1)} %`;
}

export function statsPage(v: StatsView): Html {
  const { cache, upstream, hosted } = v.bySource;
  const remoteFiles = cache.files + upstream.files;
  return html`<h1>Cache statistics</h1>
<p class="note">Since this server started (${formatTime(v.since.toISOString())}), over the repositories you may read. Prometheus has the totals at <code>/-/metrics</code> (<code>pydepot_files_served_total</code>, <code>pydepot_files_served_bytes_total</code>).</p>
<dl class="meta">
<dt>Hit ratio</dt><dd><strong>${percent(cache.files, remoteFiles)}</strong> of ${formatCount(remoteFiles)} upstream files served from the cache</dd>
<dt>Served from the cache</dt><dd>${formatBytes(cache.bytes)} in ${formatCount(cache.files)} files: what the upstream was not asked for</dd>
<dt>Fetched upstream</dt><dd>${formatBytes(upstream.bytes)} in ${formatCount(upstream.files)} files (sent while first fetched)</dd>
<dt>Hosted uploads served</dt><dd>${formatBytes(hosted.bytes)} in ${formatCount(hosted.files)} files</dd>
</dl>
<h2>Remote caches</h2>
<div class="scroll"><table>
<thead><tr><th scope="col">Repository</th><th scope="col" class="num">Pages cached</th><th scope="col" class="num">Files listed</th><th scope="col" class="num">Files held</th><th scope="col" class="num">Size on disk</th></tr></thead>
<tbody>${v.caches.length > 0 ? v.caches.map((c) => html`<tr><th scope="row"><a href="${seg(c.repo)}/">${c.repo}</a></th><td class="num">${formatCount(c.pages)}</td><td class="num">${formatCount(c.listed)}</td><td class="num">${formatCount(c.held)}</td><td class="num">${formatBytes(c.bytes)}</td></tr>`) : html`<tr><td colspan="5" class="muted">No remote repository you may read.</td></tr>`}</tbody>
</table></div>
<h2>By repository</h2>
<div class="scroll"><table>
<thead><tr><th scope="col">Repository</th><th scope="col">Source</th><th scope="col" class="num">Files</th><th scope="col" class="num">Bytes</th></tr></thead>
<tbody>${v.byRepo.length > 0 ? v.byRepo.map((r) => html`<tr><th scope="row">${r.repo}</th><td>${r.source}</td><td class="num">${formatCount(r.files)}</td><td class="num">${formatBytes(r.bytes)}</td></tr>`) : html`<tr><td colspan="4" class="muted">No files served yet.</td></tr>`}</tbody>
</table></div>
<h2>Top projects</h2>
<div class="scroll"><table>
<thead><tr><th scope="col">Project</th><th scope="col">Repository</th><th scope="col" class="num">Downloads</th><th scope="col" class="num">Bytes</th></tr></thead>
<tbody>${v.top.length > 0 ? v.top.map((p) => html`<tr><th scope="row"><a href="${seg(p.repo)}/${seg(p.project)}/">${p.project}</a></th><td>${p.repo}</td><td class="num">${formatCount(p.files)}</td><td class="num">${formatBytes(p.bytes)}</td></tr>`) : html`<tr><td colspan="4" class="muted">No downloads yet.</td></tr>`}</tbody>
</table></div>`;
}

export function squatsPage(o: { records: SquatRecord[]; visible: boolean }): Html {
  if (!o.visible) {
    return html`<h1>Squatted names</h1><p>The report names internal projects: it is shown to those who may read every local repository. <a href="login?next=squats">Log in</a> with such an account.</p>`;
  }
  const rows = o.records.map((r) => html`<tr>
<th scope="row">${r.project}</th><td>${r.remote}</td><td>${r.reason}</td><td>${formatTime(r.firstSeen)}</td><td>${formatTime(r.lastSeen)}</td>
<td>${r.versions.map((x, i) => html`${i > 0 ? ', ' : ''}<code>${x.version}</code>`)}</td>
</tr>`);
  return html`<h1>Squatted names</h1>
<p>Internal project names (hosted here, or matching a virtual repository's <code>internal</code> patterns) that an upstream also holds. Virtual repositories never serve those upstream files (the dependency-confusion rule); anyone installing from the upstream directly would get them. <code>pydepot confusion report</code> prints the same.</p>
<div class="scroll"><table>
<thead><tr><th scope="col">Project</th><th scope="col">Upstream</th><th scope="col">Why internal</th><th scope="col">First seen</th><th scope="col">Last seen</th><th scope="col">Upstream versions</th></tr></thead>
<tbody>${rows.length > 0 ? rows : html`<tr><td colspan="6" class="muted">None seen.</td></tr>`}</tbody>
</table></div>`;
}
