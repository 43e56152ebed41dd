/**
 * The web UI in a real browser: headless Chromium (Debian's `chromium`
 * package) driven by playwright-core. Each test writes screenshots to
 * test-artifacts/ui/ (ignored by git) for a person to look at.
 */
import { access, mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { missingClient } from '../helpers/clients.ts';
import { ALICE, basic, CI, sharedUiDepot } from '../helpers/ui-fixture.ts';

const CHROMIUM = process.env.PYDEPOT_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'ui');

const depot = sharedUiDepot();
let browser: Promise<Browser> | null = null;
test.after.always(async () => {
  if (browser) await (await browser).close();
  await depot.stop();
});

/** A fresh browser context (its own cookies), or false when Chromium is missing (the test has then failed or been skipped). */
async function open(t: ExecutionContext): Promise<BrowserContext | false> {
  try {
    await access(CHROMIUM);
  } catch {
    return missingClient(t, `Chromium is not installed at ${CHROMIUM}: apt-get install -y chromium (or set PYDEPOT_CHROMIUM)`);
  }
  browser ??= chromium.launch({ executablePath: CHROMIUM });
  const context = await (await browser).newContext({ viewport: { width: 1200, height: 900 } });
  t.teardown(() => context.close());
  return context;
}

/** Every dialog (alert, confirm) a page opens: a script from a package would show up here. */
function watchDialogs(page: Page): string[] {
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  return dialogs;
}

async function shot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

test('navigation: from the repositories to a repository, a project and the cache statistics', async (t) => {
  const context = await open(t);
  if (!context) return;
  const { s } = await depot.get();
  const page = await context.newPage();
  await page.goto(`${s.url}/-/ui/`);
  t.is(await page.title(), 'Repositories · pydepot');
  t.is(await page.getAttribute('nav a[aria-current="page"]', 'href'), './');
  await shot(page, 'home');
  await page.getByRole('link', { name: 'internal', exact: true }).click();
  await page.waitForURL(/\/-\/ui\/internal\/$/);
  t.regex((await page.textContent('h1'))!, /^internal/);
  await page.getByRole('link', { name: 'Acme.Utils' }).click();
  await page.waitForURL(/\/-\/ui\/internal\/acme-utils\/$/);
  t.is((await page.textContent('h1'))!.replace(/\s+/g, ' ').trim(), 'Acme.Utils 1.9');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Cache statistics' }).click();
  await page.waitForURL(/\/-\/ui\/stats$/);
  t.is(await page.textContent('h1'), 'Cache statistics');
  await shot(page, 'stats');
  // Back to the start through the brand link, from a page two levels down.
  await page.goto(`${s.url}/-/ui/internal/acme-utils/1.0/`);
  await page.getByRole('link', { name: 'pydepot', exact: true }).click();
  await page.waitForURL(/\/-\/ui\/$/);
});

test('search: typing a part of a name lists matching projects, and a result opens the project', async (t) => {
  const context = await open(t);
  if (!context) return;
  const { s } = await depot.get();
  const page = await context.newPage();
  await page.goto(`${s.url}/-/ui/`);
  await page.getByRole('searchbox', { name: 'Search project names' }).fill('utils');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\?q=utils$/);
  const results = page.locator('ul.results li');
  t.is(await results.count(), 1);
  t.regex((await results.first().textContent())!, /Acme\.Utils\s+in all, internal/);
  await shot(page, 'search');
  await results.first().getByRole('link', { name: 'Acme.Utils' }).click();
  await page.waitForURL(/\/-\/ui\/all\/acme-utils\/$/);
  t.regex((await page.textContent('h1'))!, /Acme\.Utils\s+1\.9/);
});

test('a project page: versions newest first with pre-release and yank marks, files, dependencies, and a copy button added by the script', async (t) => {
  const context = await open(t);
  if (!context) return;
  const { s } = await depot.get();
  const page = await context.newPage();
  const dialogs = watchDialogs(page);
  await page.goto(`${s.url}/-/ui/internal/acme-utils/`);
  t.deepEqual(await page.locator('ul.versions li a').allTextContents(), ['2.0rc1', '1.10', '1.9', '1.0']);
  t.is(await page.locator('ul.versions li', { hasText: '2.0rc1' }).locator('.badge.pre').count(), 1);
  t.is(await page.locator('ul.versions li', { hasText: '1.10' }).locator('.badge.yanked').count(), 1);
  t.is(await page.locator('table tbody tr').count(), 2);
  t.deepEqual(await page.locator('dl.meta dd ul li code').allTextContents(), ['requests>=2', 'click; extra == "cli"']);
  // ui.js ran: a copy button follows the pip line.
  await page.getByRole('button', { name: 'Copy to the clipboard' }).first().waitFor();
  t.regex((await page.locator('code[data-copy]').first().textContent())!, /^pip install --index-url http:\/\/127\.0\.0\.1:\d+\/internal\/simple\/ acme-utils==1\.9$/);
  await shot(page, 'project');
  await page.getByRole('link', { name: '1.10', exact: true }).click();
  await page.waitForURL(/acme-utils\/1\.10\/$/);
  t.regex((await page.locator('td .badge.yanked').first().textContent())!, /yanked: broken <b>build<\/b>/);
  await shot(page, 'project-yanked');
  t.deepEqual(dialogs, []);
});

test('a private repository asks for credentials with a login form; logging in opens it with an HttpOnly, SameSite=Strict session', async (t) => {
  const context = await open(t);
  if (!context) return;
  const { s } = await depot.get();
  const page = await context.newPage();
  const response = await page.goto(`${s.url}/-/ui/private/`);
  t.is(response!.status(), 401);
  t.is(await page.textContent('h1'), 'Log in');
  t.regex((await page.textContent('[role=alert]'))!, /needs credentials to read/);
  await shot(page, 'private-login');
  await page.getByLabel('User name').fill(ALICE.user);
  await page.getByLabel('Password').fill('not-her-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  t.regex((await page.textContent('[role=alert]'))!, /Invalid username or password/);
  await page.getByLabel('Password').fill(ALICE.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/\/-\/ui\/private\/$/);
  t.regex((await page.textContent('h1'))!, /^private/);
  t.is(await page.getByRole('link', { name: 'secret-pkg' }).count(), 1);
  t.regex((await page.textContent('.who'))!, /Signed in as alice/);
  const session = (await context.cookies()).find((c) => c.name === 'pydepot_session')!;
  t.true(session.httpOnly);
  t.is(session.sameSite, 'Strict');
  // HttpOnly: the page's scripts cannot read it.
  t.false(await page.evaluate('document.cookie.includes("pydepot_session")'));
  await shot(page, 'private-signed-in');
  await page.getByRole('link', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(/\/-\/ui\/$/);
  t.is((await page.goto(`${s.url}/-/ui/private/`))!.status(), 401);
});

test('script in a package\'s summary and description renders inert: no dialog, no script or image element from it, no javascript: link', async (t) => {
  const context = await open(t);
  if (!context) return;
  const { s } = await depot.get();
  const page = await context.newPage();
  const dialogs = watchDialogs(page);
  const violations: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') violations.push(m.text());
  });
  await page.goto(`${s.url}/-/ui/internal/evil-pkg/`, { waitUntil: 'load' });
  // The only script is the UI's own.
  t.deepEqual(await page.$$eval('script', (els) => els.map((e) => (e.getAttribute('src') ?? 'inline').replace(/^.*\//, ''))), ['ui.js']);
  t.is(await page.locator('main img').count(), 0);
  t.is(await page.locator('main [onerror], main [onload], main [onclick]').count(), 0);
  const hrefs = await page.$$eval('main a[href]', (els) => els.map((e) => e.getAttribute('href')!));
  t.false(hrefs.some((h) => /^\s*javascript:/i.test(h)), hrefs.join(' '));
  t.true(hrefs.includes('https://docs.example.invalid/evil'));
  // What the package wrote is there, as text.
  t.is(await page.locator('p.summary').textContent(), '<script>alert("summary")</script><img src=x onerror=alert("summary-img")>');
  t.regex((await page.locator('section.description').textContent())!, /<script>alert\("description"\)<\/script>/);
  t.is(await page.locator('section.description h1').textContent(), 'Evil package');
  await shot(page, 'xss-inert');
  // Clicking what looks like the links does nothing either.
  await page.getByText('[click me](javascript:alert("link"))').click();
  await page.getByText('raw link').click();
  t.deepEqual(dialogs, []);
  t.deepEqual(violations, []);
});

test('API tokens: created and revoked through the forms; the same form posted from another origin is refused', async (t) => {
  const context = await open(t);
  if (!context) return;
  const { s } = await depot.get();
  const page = await context.newPage();
  await page.goto(`${s.url}/-/ui/login?next=tokens`);
  await page.getByLabel('User name').fill(CI.user);
  await page.getByLabel('Password').fill(CI.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/\/-\/ui\/tokens$/);
  await page.getByLabel('Description').fill('browser test');
  await page.getByLabel('Scope').selectOption('read');
  await page.getByRole('checkbox', { name: 'private' }).check();
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = (await page.locator('#new-token').textContent())!;
  t.regex(token, /^pydepot-[\w-]{43}$/);
  await shot(page, 'token-created');
  const index = `${s.url}/private/simple/secret-pkg/`;
  t.is((await fetch(index, { headers: { Authorization: basic('__token__', token) } })).status, 200);
  const row = page.locator('tr', { hasText: 'browser test' });
  const id = (await row.locator('td code').first().textContent())!;
  await row.getByRole('button', { name: `Revoke token ${id}` }).click();
  t.regex((await page.textContent('[role=status]'))!, new RegExp(`Token ${id} revoked`));
  t.is((await fetch(index, { headers: { Authorization: basic('__token__', token) } })).status, 401);
  await shot(page, 'token-revoked');

  // Another origin's page (same site: 127.0.0.1, another port) posts the create form with the victim's cookies.
  const evil = createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<form id="f" method="post" action="${s.url}/-/ui/tokens"><input name="action" value="create"><input name="scope" value="upload"><input name="expires" value="never"><input name="csrf" value="guess"></form><script>document.getElementById('f').submit()</script>`);
  });
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => evil.close(() => resolve())));
  const before = (await page.goto(`${s.url}/-/ui/tokens`), await page.locator('tbody tr').count());
  const attack = await context.newPage();
  const refused = attack.waitForResponse((r) => r.url() === `${s.url}/-/ui/tokens` && r.request().method() === 'POST');
  await attack.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
  t.is((await refused).status(), 403);
  await attack.waitForLoadState();
  t.regex((await attack.textContent('[role=alert]'))!, /A form posted from another site is refused/);
  await shot(attack, 'cross-site-post-refused');
  await page.reload();
  t.is(await page.locator('tbody tr').count(), before);
});
