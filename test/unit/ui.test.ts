import test from 'ava';
import { safeNext } from '../../src/http/ui/account.ts';
import { renderDescription } from '../../src/http/ui/description.ts';
import { formatBytes, html, safeHttpUrl, trusted } from '../../src/http/ui/html.ts';
import { NameIndex, type NameSource } from '../../src/http/ui/names.ts';
import { buildProjectData, fileVersion } from '../../src/http/ui/project-data.ts';
import { SessionSigner } from '../../src/http/ui/session.ts';
import type { IndexFile, ProjectPage } from '../../src/pypi/pages.ts';

test('html escapes every interpolated value, joins arrays, drops null and false, and keeps Html as it is', (t) => {
  const name = '<b onmouseover="x">&\'';
  t.is(html`<p title="${name}">${name}</p>`.text, '<p title="&lt;b onmouseover=&quot;x&quot;&gt;&amp;&#39;">&lt;b onmouseover=&quot;x&quot;&gt;&amp;&#39;</p>');
  t.is(html`<ul>${['a<', html`<li>b</li>`, null, false, undefined, 3]}</ul>`.text, '<ul>a&lt;<li>b</li>3</ul>');
  t.is(html`${trusted('<em>x</em>')}`.text, '<em>x</em>');
  t.is(safeHttpUrl(' https://example.org/a?b=1 '), 'https://example.org/a?b=1');
  for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,x', 'vbscript:x', '//evil.example', 'not a url']) t.is(safeHttpUrl(bad), null, bad);
  t.is(formatBytes(512), '512 B');
  t.is(formatBytes(1536), '1.50 KiB');
  t.is(formatBytes(300 * 1024 * 1024), '300 MiB');
});

function source(lists: Record<string, string[]>, tokens: Record<string, string | null> = {}): NameSource & { loads: string[]; changed: Map<string, { name: string; present: boolean }[]> } {
  const loads: string[] = [];
  const changed = new Map<string, { name: string; present: boolean }[]>();
  const norm = (n: string) => n.toLowerCase().replace(/[-_.]+/g, '-');
  return {
    loads,
    changed,
    token: async (repo) => tokens[repo] ?? null,
    page: async (repo, after, limit) => {
      if (after === '') loads.push(repo);
      return (lists[repo] ?? []).map((n) => ({ name: norm(n), displayName: n })).sort((a, b) => (a.name < b.name ? -1 : 1)).filter((p) => p.name > after).slice(0, limit);
    },
    changes: async (repo) => (changed.get(repo) ?? []).map((c) => ({ ...c, displayName: c.name })),
  };
}

test('name search: the exact name, then prefixes, then substrings, each in name order, merged across repositories', async (t) => {
  const index = new NameIndex(source({ a: ['requests', 'requests-oauthlib', 'types-requests', 'Flask', 'xrequests-requests'], b: ['requests', 'grequests', 'requests-toolbelt'] }));
  await index.refresh(['a', 'b']);
  const hits = index.search(['a', 'b'], 'requests', 50);
  t.deepEqual(hits.map((h) => [h.name, h.match, h.repos]), [
    ['requests', 'exact', ['a', 'b']],
    ['requests-oauthlib', 'prefix', ['a']],
    ['requests-toolbelt', 'prefix', ['b']],
    ['grequests', 'substring', ['b']],
    ['types-requests', 'substring', ['a']],
    ['xrequests-requests', 'substring', ['a']],
  ]);
  t.is(index.search(['a'], 'flask', 50)[0]!.displayName, 'Flask');
  t.deepEqual(index.search(['a', 'b'], 'req', 2).map((h) => h.name), ['requests', 'requests-oauthlib']);
  t.deepEqual(index.search(['a', 'b'], 'quests', 3).map((h) => h.name), ['grequests', 'requests', 'requests-oauthlib']);
  t.deepEqual(index.search(['a'], 'zzz', 50), []);
  t.deepEqual(index.search(['a'], 's\nx', 50), []);
  t.throws(() => index.search(['c'], 'x', 5), { message: /not loaded/ });
});

test('name lists page through the union of repositories, and a noted name is found at once', async (t) => {
  const index = new NameIndex(source({ a: ['a1', 'c3', 'e5'], b: ['b2', 'c3', 'd4'] }));
  await index.refresh(['a', 'b']);
  const first = index.list(['a', 'b'], '', 3);
  t.deepEqual(first.names.map((n) => n.name), ['a1', 'b2', 'c3']);
  t.true(first.more);
  const rest = index.list(['a', 'b'], 'c3', 3);
  t.deepEqual(rest.names.map((n) => n.name), ['d4', 'e5']);
  t.false(rest.more);
  t.is(index.count(['a', 'b']), 5);
  index.note('a', 'bb-new');
  t.is(index.count(['a', 'b']), 6);
  t.deepEqual(index.search(['a'], 'b-n', 10).map((h) => h.name), ['bb-new']);
  t.deepEqual(index.list(['a'], '', 10).names.map((n) => n.name), ['a1', 'bb-new', 'c3', 'e5']);
});

test('a hosted list follows the projects changed since its token; an untokened one is reloaded by age', async (t) => {
  let now = 1_000_000;
  const tokens: Record<string, string | null> = { local: '1', remote: null };
  const lists = { local: ['one', 'gone'], remote: ['up'] };
  const src = source(lists, tokens);
  const index = new NameIndex(src, () => now);
  await index.refresh(['local', 'remote']);
  t.deepEqual(src.loads, ['local', 'remote']);
  src.changed.set('local', [{ name: 'two', present: true }, { name: 'gone', present: false }]);
  tokens.local = '2';
  await index.refresh(['local']);
  // Seen at once: a fresh upload is searchable the moment it is accepted.
  t.deepEqual(index.list(['local'], '', 10).names.map((n) => n.name), ['one', 'two']);
  t.deepEqual(src.loads, ['local', 'remote'], 'no reload: only the changes were read');
  lists.remote = ['up', 'down'];
  now += 60_000;
  await index.refresh(['remote']);
  t.deepEqual(index.search(['remote'], 'down', 10), []);
  now += 5 * 60_000;
  await index.refresh(['remote']);
  // The reload runs in the background and swaps the list in when done.
  await new Promise((resolve) => setImmediate(resolve));
  await index.refresh(['remote']);
  t.is(index.search(['remote'], 'down', 10)[0]!.name, 'down');
});

test('a session cookie is accepted until it expires, and never once forged, altered, or its user\'s password changed or user removed', async (t) => {
  let now = 1_700_000_000_000;
  const hashes = new Map([['alice', 'scrypt$hash-1']]);
  const lookup = async (u: string) => hashes.get(u) ?? null;
  const signer = new SessionSigner(Buffer.alloc(32, 7), 3600_000, () => now);
  const { value, maxAgeSeconds } = signer.issue('alice', 'scrypt$hash-1');
  t.is(maxAgeSeconds, 3600);
  t.is((await signer.read(value, lookup))?.user, 'alice');
  const other = new SessionSigner(Buffer.alloc(32, 8), 3600_000, () => now);
  t.is(await other.read(value, lookup), null);
  const [payload, sig] = value.split('.') as [string, string];
  const forged = Buffer.from(JSON.stringify({ u: 'admin', e: now + 1e9, p: 'x' })).toString('base64url');
  for (const bad of [`${forged}.${sig}`, `${payload}x.${sig}`, `${payload}.`, payload, '', 'a'.repeat(5000), `${payload}.${sig}.x`]) {
    t.is(await signer.read(bad, lookup), null, bad.slice(0, 40));
  }
  now += 3600_000;
  t.is(await signer.read(value, lookup), null);
  now -= 1000;
  hashes.set('alice', 'scrypt$hash-2');
  t.is(await signer.read(value, lookup), null);
  hashes.delete('alice');
  t.is(await signer.read(signer.issue('alice', 'scrypt$hash-2').value, lookup), null);
});

test('a CSRF token is bound to the browser cookie and to who is signed in', (t) => {
  const signer = new SessionSigner(Buffer.alloc(32, 1), 60_000);
  const browser = SessionSigner.newBrowserId();
  const token = signer.csrfToken(browser, 'alice');
  t.true(signer.checkCsrf(browser, 'alice', token));
  t.false(signer.checkCsrf(browser, null, token));
  t.false(signer.checkCsrf(SessionSigner.newBrowserId(), 'alice', token));
  t.false(signer.checkCsrf(undefined, 'alice', token));
  t.false(signer.checkCsrf(browser, 'alice', undefined));
  t.false(signer.checkCsrf(browser, 'alice', `${token}x`));
});

test('after login, only a relative page under /-/ui/ is a place to go', (t) => {
  for (const ok of ['', 'private/', 'private/secret-pkg/', 'internal/acme-utils/1.0+local/', 'tokens']) t.is(safeNext(ok), ok);
  for (const bad of ['//evil.example/', 'https://evil.example/', '/etc/passwd', '../x', 'a/../../b', 'a/./b', 'a\\b', 'javascript:alert(1)', 'a?b', 'a#b', 'x'.repeat(400)]) {
    t.is(safeNext(bad), '', bad);
  }
});

test('a file\'s version is read from its name, legacy formats included', (t) => {
  t.is(fileVersion('acme_utils-1.9-py3-none-any.whl', 'acme-utils'), '1.9');
  t.is(fileVersion('acme_utils-2.0rc1.tar.gz', 'acme-utils'), '2.0rc1');
  t.is(fileVersion('Acme.Utils-1.0.tar.bz2', 'acme-utils'), '1.0');
  t.is(fileVersion('acme-utils-0.5-py2.7.egg', 'acme-utils'), '0.5');
  t.is(fileVersion('other-1.0.tar.bz2', 'acme-utils'), null);
  t.is(fileVersion('acme-utils.exe.txt', 'acme-utils'), null);
});

function file(filename: string, yanked: false | string = false): IndexFile {
  return { filename, path: `files/x/${filename}`, sha256: 'x', size: 1, requiresPython: null, uploadTime: null, yanked, metadataSha256: null };
}

test('the version a project page shows first is the newest neither yanked nor a pre-release; versions run newest first', (t) => {
  const page: ProjectPage = {
    name: 'p', displayName: 'p', versions: ['1.0', '1.9', '1.10', '2.0rc1', '3.0'],
    files: [file('p-1.0.tar.gz'), file('p-1.9.tar.gz'), file('p-1.10.tar.gz', 'bad'), file('p-2.0rc1.tar.gz'), file('p-0.1.exe')],
  };
  const data = buildProjectData(page, () => 'r', () => 'local');
  t.deepEqual(data.versions.map((v) => [v.version, v.files, v.yanked, v.pre]), [
    ['3.0', 0, false, false], ['2.0rc1', 1, false, true], ['1.10', 1, true, false], ['1.9', 1, false, false], ['1.0', 1, false, false],
  ]);
  t.is(data.latest, '1.9');
  t.deepEqual(data.otherFiles.map((f) => f.filename), ['p-0.1.exe']);
  const onlyPre = buildProjectData({ ...page, versions: ['2.0rc1'], files: [file('p-2.0rc1.tar.gz')] }, () => 'r', () => 'local');
  t.is(onlyPre.latest, '2.0rc1');
});

test('a Markdown description is rendered and sanitised; reST and plain text are preformatted text', (t) => {
  const md = renderDescription('# T\n\n<script>x()</script>\n\n[a](javascript:x()) [b](https://ok.example/) ![i](https://img.example/i.png)\n\n<div onclick="x()">d</div>', 'text/markdown; variant=GFM').text;
  t.regex(md, /<h1>T<\/h1>/);
  t.notRegex(md, /<script|<div|<img|href="javascript:/);
  t.regex(md, /<a href="https:\/\/ok\.example\/" rel="nofollow noopener noreferrer">b<\/a>/);
  t.regex(md, /<a href="https:\/\/img\.example\/i\.png" rel="nofollow noopener noreferrer">i<\/a>/);
  t.is(renderDescription('Title\n=====\n\n<b>x</b>', 'text/x-rst').text, '<pre>Title\n=====\n\n&lt;b&gt;x&lt;/b&gt;</pre>');
  t.is(renderDescription('<i>plain</i>', null).text, '<pre>&lt;i&gt;plain&lt;/i&gt;</pre>');
  t.regex(renderDescription('x'.repeat(300 * 1024), 'text/plain').text, /longer than 256 KiB/);
});
