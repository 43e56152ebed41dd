import { request as httpRequest } from 'node:http';
import test from 'ava';
import { setPassword, revokeToken } from '../helpers/accounts.ts';
import { ALICE, BOB, basic, CI, sharedUiDepot, XSS_SUMMARY, type UiDepot } from '../helpers/ui-fixture.ts';
import { startTestServer } from '../helpers/server.ts';

const depot = sharedUiDepot();
test.after.always(() => depot.stop());

interface Page {
  status: number;
  headers: Headers;
  text: string;
}

/** fetch with a cookie jar, as a browser would send it (same-origin). */
class Browser {
  readonly cookies = new Map<string, string>();
  constructor(private readonly base: string, private readonly auth: string | null = null) {}

  private headers(extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    if (this.cookies.size > 0) h.Cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.auth) h.Authorization = this.auth;
    return h;
  }

  private keep(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async get(path: string, extra: Record<string, string> = {}): Promise<Page> {
    const res = await fetch(`${this.base}${path}`, { headers: this.headers(extra), redirect: 'manual' });
    this.keep(res);
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  async post(path: string, fields: Record<string, string | string[]>, extra: Record<string, string> = {}): Promise<Page> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(fields)) for (const x of [v].flat()) body.append(k, x);
    const res = await fetch(`${this.base}${path}`, {
      method: 'POST', body, redirect: 'manual',
      headers: this.headers({ 'Content-Type': 'application/x-www-form-urlencoded', Origin: this.base, ...extra }),
    });
    this.keep(res);
    return { status: res.status, headers: res.headers, text: await res.text() };
  }
}

function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token on the page');
  return m[1]!;
}

async function loggedIn(d: UiDepot, who: { user: string; password: string }): Promise<Browser> {
  const b = new Browser(d.s.url);
  const form = await b.get('/-/ui/login');
  const res = await b.post('/-/ui/login', { csrf: csrfOf(form.text), username: who.user, password: who.password, next: '' });
  if (res.status !== 303) throw new Error(`login of ${who.user}: ${res.status}`);
  return b;
}

/** A request whose path goes out exactly as written (fetch would resolve `..`). */
function rawGet(base: string, path: string): Promise<number> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

test('the start page lists every repository with its kind, members and counts, and asks for credentials where reading needs them', async (t) => {
  const d = await depot.get();
  const page = await new Browser(d.s.url).get('/-/ui/');
  t.is(page.status, 200);
  t.is(page.headers.get('content-type'), 'text/html; charset=utf-8');
  t.regex(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/);
  t.is(page.headers.get('x-frame-options'), 'DENY');
  t.regex(page.headers.get('cache-control')!, /private/);
  t.regex(page.text, /<a href="all\/">all<\/a> <span class="badge"[^>]*>default<\/span>/);
  t.regex(page.text, /virtual <span class="muted">of internal, pypi<\/span>/);
  // internal: acme-utils (4 versions, 5 files) and evil-pkg.
  t.regex(page.text, /<a href="internal\/">internal<\/a><\/th>\n<td>local<\/td>\n<td class="num">2<\/td><td class="num">6<\/td><td class="num">[\d.]+ KiB<\/td>/);
  t.regex(page.text, /<a href="private\/">private<\/a><\/th>\n<td>local<\/td>\n<td colspan="3" class="muted">needs credentials: <a href="login\?next=private\/">log in<\/a>/);
  t.notRegex(page.text, /secret-pkg/);

  const asBob = await new Browser(d.s.url, basic(BOB.user, BOB.password)).get('/-/ui/');
  t.regex(asBob.text, /<a href="private\/">private<\/a><\/th>\n<td>local<\/td>\n<td colspan="3" class="muted">you may not read it<\/td>/);
  const asCi = await new Browser(d.s.url, basic(CI.user, CI.password)).get('/-/ui/');
  t.regex(asCi.text, /<a href="private\/">private<\/a><\/th>\n<td>local<\/td>\n<td class="num">1<\/td><td class="num">1<\/td>/);
  t.regex(asCi.text, /Signed in as <strong>ci<\/strong>/);
});

test('search finds the exact name, then prefixes, then substrings, in every repository the reader may read', async (t) => {
  const d = await depot.get();
  const anon = new Browser(d.s.url);
  const found = await anon.get('/-/ui/?q=Acme_Utils');
  t.is(found.status, 200);
  t.regex(found.text, /<a href="all\/acme-utils\/">Acme\.Utils<\/a>\n<span class="badge">exact<\/span>/);
  t.regex(found.text, /in <a href="all\/acme-utils\/">all<\/a>, <a href="internal\/acme-utils\/">internal<\/a>/);

  const partial = await anon.get('/-/ui/?q=pkg');
  t.regex(partial.text, /evil-pkg/);
  // secret-pkg is in a repository the anonymous reader may not read.
  t.notRegex(partial.text, /secret-pkg/);
  const asAlice = await new Browser(d.s.url, basic(ALICE.user, ALICE.password)).get('/-/ui/?q=pkg');
  t.regex(asAlice.text, /<a href="private\/secret-pkg\/">secret-pkg<\/a>/);

  const none = await anon.get('/-/ui/?q=zzz-nothing');
  t.regex(none.text, /No project name contains <strong>zzz-nothing<\/strong>/);
});

test('a remote repository is searched by the pages it has cached, not its upstream list', async (t) => {
  const d = await depot.get();
  const b = new Browser(d.s.url);
  t.regex((await b.get('/-/ui/pypi/?q=requests')).text, /No project name contains/);
  t.is((await fetch(`${d.s.url}/pypi/simple/requests/`)).status, 200);
  t.regex((await b.get('/-/ui/pypi/?q=reque')).text, /<a href="\.\.\/pypi\/requests\/">requests<\/a>/);
});

test('search text with markup is shown escaped, and text past 100 characters or given twice is refused', async (t) => {
  const d = await depot.get();
  const b = new Browser(d.s.url);
  const markup = await b.get(`/-/ui/?q=${encodeURIComponent('<script>alert(1)</script>')}`);
  t.is(markup.status, 200);
  t.notRegex(markup.text, /<script>alert/);
  t.regex(markup.text, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  const huge = await b.get(`/-/ui/?q=${'a'.repeat(10_000)}`);
  t.is(huge.status, 400);
  t.regex(huge.text, /Search text is at most 100 characters; this one has 10000/);
  // Past Node's header limit the request never reaches the UI.
  t.is((await b.get(`/-/ui/?q=${'a'.repeat(100_000)}`)).status, 431);
  t.is((await b.get('/-/ui/?q=a&q=b')).status, 400);
});

test('a project page shows versions in PEP 440 order with pre-releases and yanks marked, the files of the newest installable one, and its metadata', async (t) => {
  const d = await depot.get();
  const b = new Browser(d.s.url);
  const moved = await b.get('/-/ui/internal/Acme.Utils/');
  t.is(moved.status, 301);
  t.is(moved.headers.get('location'), '../acme-utils/');
  const page = await b.get('/-/ui/internal/acme-utils/');
  t.is(page.status, 200);
  const versions = [...page.text.matchAll(/<li><a href="[^"]*acme-utils\/([^/"]+)\/"/g)].map((m) => m[1]);
  t.deepEqual(versions, ['2.0rc1', '1.10', '1.9', '1.0']);
  t.regex(page.text, /2\.0rc1<\/a> <span class="badge pre">pre<\/span>/);
  t.regex(page.text, /1\.10<\/a> <span class="badge yanked">yanked<\/span>/);
  // 1.10 is yanked and 2.0rc1 a pre-release: 1.9 is shown.
  t.regex(page.text, /<h1>Acme\.Utils 1\.9\n/);
  t.regex(page.text, /<p class="summary">Acme utilities<\/p>/);
  t.regex(page.text, /<code data-copy>pip install --index-url http:\/\/127\.0\.0\.1:\d+\/internal\/simple\/ acme-utils==1\.9<\/code>/);
  t.regex(page.text, /<dt>Requires-Python<\/dt><dd>&gt;=3\.9<\/dd>/);
  t.regex(page.text, /<li><code>requests&gt;=2<\/code><\/li><li><code>click; extra == &quot;cli&quot;<\/code><\/li>/);
  const wheel = d.dists['acme_utils-1.9-py3-none-any.whl']!;
  t.regex(page.text, new RegExp(`<a href="\\.\\./\\.\\./\\.\\./\\.\\./internal/files/${wheel.sha256}/acme_utils-1\\.9-py3-none-any\\.whl">`));
  t.true(page.text.includes(`<code class="sha">${wheel.sha256}</code>`));
  t.regex(page.text, /acme_utils-1\.9\.tar\.gz/);
  t.regex(page.text, /<td>internal <span class="muted">\(uploaded\)<\/span><\/td>/);
  // The file link works from where the page is.
  const link = new URL(`../../../../internal/files/${wheel.sha256}/acme_utils-1.9-py3-none-any.whl`, `${d.s.url}/-/ui/internal/acme-utils/`);
  t.is((await fetch(link)).status, 200);

  const yanked = await b.get('/-/ui/internal/acme-utils/1.10/');
  t.regex(yanked.text, /<span class="badge yanked">yanked<\/span><\/h1>/);
  t.regex(yanked.text, /yanked: broken &lt;b&gt;build&lt;\/b&gt;/);
  t.is((await b.get('/-/ui/internal/acme-utils/9.9/')).status, 404);
  t.is((await b.get('/-/ui/internal/no-such-project/')).status, 404);
});

test('through a virtual repository, each file names the member that served it', async (t) => {
  const d = await depot.get();
  const b = new Browser(d.s.url);
  const upstream = await b.get('/-/ui/all/requests/');
  t.is(upstream.status, 200);
  t.regex(upstream.text, /<td>pypi <span class="muted">\(upstream cache\)<\/span><\/td>/);
  // Core metadata from the upstream's .metadata file.
  t.regex(upstream.text, /<p class="summary">Python HTTP for Humans\.<\/p>/);
  t.regex(upstream.text, /pip install --index-url http:\/\/127\.0\.0\.1:\d+\/simple\/ requests==2\.31\.0/);
  const local = await b.get('/-/ui/all/acme-utils/');
  t.regex(local.text, /<td>internal <span class="muted">\(uploaded\)<\/span><\/td>/);
});

test('markup in a package\'s metadata arrives escaped or sanitised: no script, no event handler, no javascript: link', async (t) => {
  const d = await depot.get();
  const page = await new Browser(d.s.url).get('/-/ui/internal/evil-pkg/');
  t.is(page.status, 200);
  const main = page.text.slice(page.text.indexOf('<main'));
  t.notRegex(main, /<script/i);
  t.notRegex(main, /<img/i);
  // Markup in the source stays visible text; no element carries a handler or a script link.
  t.notRegex(main, /<[a-z][^>]*\son[a-z]+=/i);
  t.notRegex(main, /<a [^>]*href="\s*javascript:/i);
  t.regex(main, /<p>&lt;img src="x" onerror="alert\('img'\)"&gt;<\/p>/);
  t.true(main.includes('&lt;script&gt;alert(&quot;summary&quot;)&lt;/script&gt;'));
  t.true(XSS_SUMMARY.includes('<script>'));
  // The Markdown still renders: a heading, a safe link with rel, code escaped.
  t.regex(main, /<h1>Evil package<\/h1>/);
  t.regex(main, /<a href="https:\/\/docs\.example\.invalid\/evil" rel="nofollow noopener noreferrer">docs<\/a>/);
  t.regex(main, /print\("&lt;b&gt;not bold&lt;\/b&gt;"\)/);
});

test('a private repository answers 401 with a login form (no Basic prompt) without credentials, 403 to a user without the right, and its pages with them', async (t) => {
  const d = await depot.get();
  const anon = await new Browser(d.s.url).get('/-/ui/private/secret-pkg/');
  t.is(anon.status, 401);
  t.is(anon.headers.get('www-authenticate'), null);
  t.regex(anon.text, /<form class="stack" method="post" action="\.\.\/\.\.\/login">/);
  t.regex(anon.text, /name="next" value="private\/secret-pkg\/"/);
  t.regex(anon.text, /Repository &#39;private&#39; needs credentials to read/);
  t.notRegex(anon.text, /Only for the team/);

  const bob = await new Browser(d.s.url, basic(BOB.user, BOB.password)).get('/-/ui/private/secret-pkg/');
  t.is(bob.status, 403);
  t.regex(bob.text, /User &#39;bob&#39; may not read repository &#39;private&#39;/);

  const wrong = await new Browser(d.s.url, basic(ALICE.user, 'wrong-password')).get('/-/ui/private/');
  t.is(wrong.status, 401);
  const alice = await new Browser(d.s.url, basic(ALICE.user, ALICE.password)).get('/-/ui/private/secret-pkg/');
  t.is(alice.status, 200);
  t.regex(alice.text, /Only for the team/);
  t.regex(alice.text, /The index needs credentials/);
});

test('logging in sets an HttpOnly, SameSite=Strict session cookie that reads the private repository; logging out ends it', async (t) => {
  const d = await depot.get();
  const b = new Browser(d.s.url);
  const form = await b.get('/-/ui/login?next=private/secret-pkg/');
  t.regex(form.headers.getSetCookie().join('\n'), /^pydepot_csrf=[\w-]{24}; path=\/; samesite=strict; httponly$/m);
  t.regex(form.text, /name="next" value="private\/secret-pkg\/"/);
  const wrong = await b.post('/-/ui/login', { csrf: csrfOf(form.text), username: ALICE.user, password: 'nope-nope', next: 'private/secret-pkg/' });
  t.is(wrong.status, 401);
  t.regex(wrong.text, /Invalid username or password/);
  const ok = await b.post('/-/ui/login', { csrf: csrfOf(form.text), username: ALICE.user, password: ALICE.password, next: 'private/secret-pkg/' });
  t.is(ok.status, 303);
  t.is(ok.headers.get('location'), './private/secret-pkg/');
  const cookie = ok.headers.getSetCookie().find((c) => c.startsWith('pydepot_session='))!;
  t.regex(cookie, /; path=\/; expires=[^;]+; samesite=strict; httponly$/);
  t.notRegex(cookie, /secure/);
  const page = await b.get('/-/ui/private/secret-pkg/');
  t.is(page.status, 200);
  t.regex(page.text, /Signed in as <strong>alice<\/strong> · <a href="\.\.\/\.\.\/logout">Log out<\/a>/);

  const logout = await b.get('/-/ui/logout');
  const out = await b.post('/-/ui/logout', { csrf: csrfOf(logout.text) });
  t.is(out.status, 303);
  t.false(b.cookies.has('pydepot_session'));
  t.is((await b.get('/-/ui/private/secret-pkg/')).status, 401);
});

test('a forged or altered session cookie is no session, and changing the password ends the sessions of that user', async (t) => {
  const d = await depot.get();
  const carol = { user: 'carol', password: 'carol-password-1' };
  const { addUser } = await import('../helpers/accounts.ts');
  await addUser(d.s.storage, carol.user, carol.password);
  // carol may not read private: a session of hers is seen on the start page.
  const b = await loggedIn(d, carol);
  t.regex((await b.get('/-/ui/')).text, /Signed in as <strong>carol<\/strong>/);
  const real = b.cookies.get('pydepot_session')!;
  const [payload, sig] = real.split('.');
  const forged = Buffer.from(JSON.stringify({ u: 'alice', e: Date.now() + 3_600_000, p: 'x' })).toString('base64url');
  for (const value of [`${forged}.${sig}`, `${payload}.${sig!.slice(0, -2)}AA`, 'garbage', `${payload}`]) {
    const other = new Browser(d.s.url);
    other.cookies.set('pydepot_session', value);
    const page = await other.get('/-/ui/');
    t.is(page.status, 200);
    t.regex(page.text, /<a href="login">Log in<\/a>/, value);
    t.is((await other.get('/-/ui/private/')).status, 401);
  }
  await setPassword(d.s.storage, carol.user, 'carol-password-2');
  t.regex((await b.get('/-/ui/')).text, /<a href="login">Log in<\/a>/);
});

test('a form post without the CSRF cookie and token, or from another site, is refused', async (t) => {
  const d = await depot.get();
  const b = new Browser(d.s.url);
  const form = await b.get('/-/ui/login');
  const fields = { csrf: csrfOf(form.text), username: ALICE.user, password: ALICE.password };
  // Another site's page posting: its Origin, no SameSite=Strict cookie.
  const stranger = new Browser(d.s.url);
  const cross = await stranger.post('/-/ui/login', fields, { Origin: 'https://evil.example' });
  t.is(cross.status, 403);
  t.regex(cross.text, /A form posted from another site is refused/);
  t.is((await b.post('/-/ui/login', fields, { Origin: 'https://evil.example' })).status, 403);
  t.is((await b.post('/-/ui/login', fields, { 'Sec-Fetch-Site': 'cross-site' })).status, 403);
  t.is((await b.post('/-/ui/login', { ...fields, csrf: 'forged' })).status, 403);
  t.is((await stranger.post('/-/ui/login', fields)).status, 403);
  t.false(b.cookies.has('pydepot_session'));
  t.is((await b.post('/-/ui/login', fields)).status, 303);
  // A session's forms are bound to the user: a token from an anonymous page no longer passes.
  t.is((await b.post('/-/ui/logout', { csrf: fields.csrf })).status, 403);
  t.is((await b.post('/-/ui/login', { csrf: fields.csrf, username: 'x', password: 'y' }, { 'Content-Type': 'text/plain' })).status, 415);
});

test('paths with dot segments or encoded separators under /-/ui/ are refused, and never reach a file', async (t) => {
  const d = await depot.get();
  for (const path of ['/-/ui/../../etc/passwd', '/-/ui/internal/%2e%2e/%2e%2e/', '/-/ui/internal/a%2Fb/', '/-/ui/..%2F..%2Fpydepot.db', '/-/ui/internal/acme-utils/%5c..%5c/', '/-/ui/./ui.css']) {
    const status = await rawGet(d.s.url, path);
    t.true(status === 400 || status === 404, `${path}: ${status}`);
  }
  t.is(await rawGet(d.s.url, '/-/ui/internal/a%2Fb/'), 400);
  t.is(await rawGet(d.s.url, '/-/ui/nothing/here/at/all'), 404);
  t.is(await rawGet(d.s.url, '/-/ui/pydepot.db'), 404);
});

test('API tokens: a maintainer lists, creates (shown once) and revokes them; the new token works against the index until revoked', async (t) => {
  const d = await depot.get();
  const anon = await new Browser(d.s.url).get('/-/ui/tokens');
  t.is(anon.status, 401);
  t.is((await new Browser(d.s.url, basic(ALICE.user, ALICE.password)).get('/-/ui/tokens')).status, 403);
  t.is((await new Browser(d.s.url, CI.basic).get('/-/ui/tokens')).status, 403);

  const b = await loggedIn(d, { user: CI.user, password: CI.password });
  const list = await b.get('/-/ui/tokens');
  t.is(list.status, 200);
  t.regex(list.text, /<code>c1c1c1c1c1c1<\/code><\/td><td>tests<\/td><td>upload<\/td>/);
  const created = await b.post('/-/ui/tokens', { csrf: csrfOf(list.text), action: 'create', description: 'from the <b>UI</b>', scope: 'read', repo: ['private'], expires: '30d' });
  t.is(created.status, 200);
  t.is(created.headers.get('cache-control'), 'no-store');
  const text = /<code id="new-token" data-copy>(pydepot-[\w-]{43})<\/code>/.exec(created.text)![1]!;
  const id = /Token <code>([0-9a-f]{12})<\/code> created/.exec(created.text)![1]!;
  t.regex(created.text, /<td>from the &lt;b&gt;UI&lt;\/b&gt;<\/td><td>read<\/td><td>private<\/td>/);
  const index = `${d.s.url}/private/simple/secret-pkg/`;
  t.is((await fetch(index, { headers: { Authorization: basic('__token__', text) } })).status, 200);
  t.false((await b.get('/-/ui/tokens')).text.includes(text));

  const revoked = await b.post('/-/ui/tokens', { csrf: csrfOf(list.text), action: 'revoke', id });
  t.is(revoked.status, 200);
  t.regex(revoked.text, new RegExp(`Token ${id} revoked`));
  t.is((await fetch(index, { headers: { Authorization: basic('__token__', text) } })).status, 401);
  // Someone else's token is not theirs to revoke.
  t.is((await b.post('/-/ui/tokens', { csrf: csrfOf(list.text), action: 'revoke', id: 'ffffffffffff' })).status, 404);
  t.is((await b.post('/-/ui/tokens', { csrf: 'nope', action: 'create', scope: 'read', expires: '30d' })).status, 403);
  await revokeToken(d.s.storage, id);
});

test('the audit log shows the uploads of the repositories the maintainer may upload to, newest first', async (t) => {
  const d = await depot.get();
  const page = await new Browser(d.s.url, basic(CI.user, CI.password)).get('/-/ui/audit');
  t.is(page.status, 200);
  t.regex(page.text, /in the repositories you may upload to \(internal, private\)/);
  const files = [...page.text.matchAll(/<td class="mono">([^<]+)<\/td>/g)].map((m) => m[1]);
  t.is(files[0], 'secret_pkg-0.1-py3-none-any.whl');
  t.true(files.includes('acme_utils-1.0-py3-none-any.whl'));
  t.is((await new Browser(d.s.url, basic(ALICE.user, ALICE.password)).get('/-/ui/audit')).status, 403);
});

test('cache statistics count files served from the cache and from the upstream, and the most downloaded projects', async (t) => {
  const up = await (await import('../helpers/fake-upstream.ts')).FakeUpstream.start(t);
  const { buildWheel } = await import('../helpers/dists.ts');
  const wheel = await buildWheel({ name: 'numpy', version: '2.0.0' });
  up.addProject('numpy', [{ dist: wheel }]);
  const s = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url } }, defaultRepository: 'pypi' });
  t.is((await fetch(`${s.url}/simple/numpy/`)).status, 200);
  const url = `${s.url}/files/${wheel.sha256}/${wheel.filename}`;
  for (let i = 0; i < 3; i++) t.is((await (await fetch(url)).arrayBuffer()).byteLength, wheel.bytes.length);
  const page = await new Browser(s.url).get('/-/ui/stats');
  t.is(page.status, 200);
  t.regex(page.text, /<dt>Hit ratio<\/dt><dd><strong>66\.7 %<\/strong> of 3 upstream files served from the cache<\/dd>/);
  t.regex(page.text, /<dt>Served from the cache<\/dt><dd>[\d.]+ (B|KiB) in 2 files/);
  t.regex(page.text, /<th scope="row"><a href="pypi\/numpy\/">numpy<\/a><\/th><td>pypi<\/td><td class="num">3<\/td>/);
  // What the remote holds: one page, listing one file, which it keeps.
  t.regex(page.text, /<th scope="row"><a href="pypi\/">pypi<\/a><\/th><td class="num">1<\/td><td class="num">1<\/td><td class="num">1<\/td><td class="num">\d+ B<\/td><\/tr>/);
  const metrics = await (await fetch(`${s.url}/-/metrics`)).text();
  t.regex(metrics, /pydepot_files_served_total\{repo="pypi",source="cache"\} 2/);
  t.regex(metrics, /pydepot_files_served_total\{repo="pypi",source="upstream"\} 1/);
});

test('the squat report is shown to those who may read every local repository', async (t) => {
  const d = await depot.get();
  t.is((await new Browser(d.s.url).get('/-/ui/squats')).status, 401);
  const page = await new Browser(d.s.url, basic(CI.user, CI.password)).get('/-/ui/squats');
  t.is(page.status, 200);
  t.regex(page.text, /<h1>Squatted names<\/h1>/);
});

test('the stylesheet and script are served from memory with an ETag; ui.enabled: false turns the UI off', async (t) => {
  const d = await depot.get();
  const css = await fetch(`${d.s.url}/-/ui/ui.css`);
  t.is(css.status, 200);
  t.is(css.headers.get('content-type'), 'text/css; charset=utf-8');
  const again = await fetch(`${d.s.url}/-/ui/ui.css`, { headers: { 'If-None-Match': css.headers.get('etag')! } });
  t.is(again.status, 304);
  t.is((await fetch(`${d.s.url}/-/ui/ui.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
  t.is((await fetch(`${d.s.url}/-/ui`, { redirect: 'manual' })).headers.get('location'), 'ui/');

  const off = await startTestServer(t, { repositories: { internal: { type: 'local' } }, ui: { enabled: false } });
  t.is((await fetch(`${off.url}/-/ui/`)).status, 404);
});
