/** Login, logout, API tokens and the audit log: the views of a signed-in user. */
import type { AuditEntry, TokenRow } from '../../../storage/types.ts';
import { formatTime, html, type Html } from '../html.ts';

export function loginForm(o: { root: string; csrf: string; next: string; message: string | null; user?: string }): Html {
  return html`<h1>Log in</h1>
${o.message ? html`<p class="error" role="alert">${o.message}</p>` : ''}
<form class="stack" method="post" action="${o.root}login">
<input type="hidden" name="csrf" value="${o.csrf}">
<input type="hidden" name="next" value="${o.next}">
<label for="username">User name</label>
<input id="username" type="text" name="username" autocomplete="username" required maxlength="64" value="${o.user ?? ''}">
<label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password" required maxlength="1024">
<p><input type="submit" value="Log in"></p>
</form>
<p class="note">The account of <code>pydepot user add</code>: the same user name and password pip or twine use. API tokens cannot log in here.</p>`;
}

export function logoutForm(o: { root: string; csrf: string; user: string }): Html {
  return html`<h1>Log out</h1>
<form method="post" action="${o.root}logout">
<input type="hidden" name="csrf" value="${o.csrf}">
<p>Signed in as <strong>${o.user}</strong>.</p>
<p><input type="submit" value="Log out"></p>
</form>`;
}

export function errorBody(status: number, message: string): Html {
  const title = status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : status === 429 ? 'Too many attempts' : status >= 500 ? 'Something went wrong' : 'Cannot do that';
  return html`<h1>${title}</h1><p class="error" role="alert">${message}</p><p><a href="./">Back</a></p>`;
}

export type TokenStatus = 'active' | 'revoked' | 'expired';

export interface TokensView {
  root: string;
  csrf: string;
  user: string;
  tokens: (TokenRow & { status: TokenStatus })[];
  /** Repositories the user may choose to limit a new token to. */
  repos: string[];
  /** A token just created: shown once. */
  created: { id: string; text: string } | null;
  message: string | null;
}

const EXPIRIES: [string, string][] = [['30d', '30 days'], ['90d', '90 days'], ['1y', 'one year'], ['never', 'never']];

export function tokensPage(v: TokensView): Html {
  const rows = v.tokens.map((t) => html`<tr>
<td><code>${t.id}</code></td><td>${t.description ?? ''}</td><td>${t.scope}</td><td>${t.repos ? t.repos.join(', ') : 'all you may use'}</td>
<td>${formatTime(t.createdAt)}</td><td>${t.expiresAt ? formatTime(t.expiresAt) : 'never'}</td><td>${formatTime(t.lastUsedAt)}</td>
<td>${t.status === 'active'
    ? html`<form method="post" action="${v.root}tokens"><input type="hidden" name="csrf" value="${v.csrf}"><input type="hidden" name="action" value="revoke"><input type="hidden" name="id" value="${t.id}"><button type="submit" aria-label="Revoke token ${t.id}">Revoke</button></form>`
    : html`<span class="badge">${t.status} ${formatTime(t.status === 'revoked' ? t.revokedAt : t.expiresAt)}</span>`}</td>
</tr>`);
  return html`<h1>API tokens of ${v.user}</h1>
${v.message ? html`<p class="ok" role="status">${v.message}</p>` : ''}
${v.created ? html`<div class="ok" role="status"><p>Token <code>${v.created.id}</code> created. Copy it now: it is shown once, and pydepot keeps only its hash.</p>
<div class="copy"><code id="new-token" data-copy>${v.created.text}</code></div>
<p class="note">Use it as the password with the user name <code>__token__</code> (twine, pip, poetry, uv).</p></div>` : ''}
<div class="scroll"><table>
<thead><tr><th scope="col">ID</th><th scope="col">Description</th><th scope="col">Scope</th><th scope="col">Repositories</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">State</th></tr></thead>
<tbody>${rows.length > 0 ? rows : html`<tr><td colspan="8" class="muted">No tokens yet.</td></tr>`}</tbody>
</table></div>
<h2>New token</h2>
<form class="stack" method="post" action="${v.root}tokens">
<input type="hidden" name="csrf" value="${v.csrf}">
<input type="hidden" name="action" value="create">
<label for="description">Description</label>
<input id="description" type="text" name="description" maxlength="200" placeholder="e.g. CI of acme-utils">
<label for="scope">Scope</label>
<select id="scope" name="scope"><option value="read">read</option><option value="upload">upload (includes read)</option></select>
<fieldset><legend>Limit to repositories (none: every repository you may use)</legend>
${v.repos.map((r) => html`<label><input type="checkbox" name="repo" value="${r}"> ${r}</label> `)}
</fieldset>
<label for="expires">Expires after</label>
<select id="expires" name="expires">${EXPIRIES.map(([value, label]) => html`<option value="${value}"${value === '90d' ? html` selected` : ''}>${label}</option>`)}</select>
<p><input type="submit" value="Create token"></p>
</form>`;
}

export function auditPage(o: { repos: string[]; entries: AuditEntry[]; total: number }): Html {
  const rows = o.entries.map((e) => html`<tr>
<td>${formatTime(e.at)}</td><td>${e.actor}${e.tokenId ? html` <span class="muted">(token ${e.tokenId})</span>` : ''}</td><td>${e.action}</td>
<td>${e.repo}</td><td>${e.project} ${e.version}</td><td class="mono">${e.filename}</td><td>${e.detail ?? ''}</td><td>${e.address ?? ''}</td>
</tr>`);
  return html`<h1>Audit log</h1>
<p>Uploads, yanks, deletions and cooldown exemptions in the repositories you may upload to (${o.repos.join(', ')}), newest first${o.total > o.entries.length ? html`: the last ${o.entries.length} of ${o.total}; <code>pydepot audit</code> prints them all` : ''}.</p>
<div class="scroll"><table>
<thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Repository</th><th scope="col">Release</th><th scope="col">File</th><th scope="col">Detail</th><th scope="col">Address</th></tr></thead>
<tbody>${rows.length > 0 ? rows : html`<tr><td colspan="8" class="muted">Nothing recorded yet.</td></tr>`}</tbody>
</table></div>`;
}
