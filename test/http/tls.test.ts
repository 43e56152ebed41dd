import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Agent, fetch as undiciFetch } from 'undici';
import { pydepot } from '../helpers/cli.ts';
import { LOCAL_ONLY, startTestServer, tempDir } from '../helpers/server.ts';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls.ts';

async function trusting(t: ExecutionContext, caCert: string): Promise<Agent> {
  const agent = new Agent({ connect: { ca: await readFile(caCert) } });
  t.teardown(() => agent.close());
  return agent;
}

test('with tls, pydepot serves HTTPS that a client trusting the CA accepts', async (t) => {
  const certs = await makeTestCertificates(t);
  const s = await startTestServer(t, { ...LOCAL_ONLY, tls: { cert: certs.cert, key: certs.key } });
  t.regex(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const dispatcher = await trusting(t, certs.caCert);

  const health = await undiciFetch(`${s.url}/-/health`, { dispatcher });
  t.deepEqual(await health.json(), { status: 'ok' });
  const page = await undiciFetch(`${s.url}/simple/`, { dispatcher, headers: { Accept: 'text/html' } });
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /^text\/html/);
  t.regex(await page.text(), /<!DOCTYPE html>/i);
  // The name pydepot listens under is only one of the certificate's names.
  const byName = await undiciFetch(`${s.url.replace('127.0.0.1', 'localhost')}/-/health`, { dispatcher });
  t.is(byName.status, 200);
});

test('a client that does not trust the CA is refused at the handshake', async (t) => {
  const certs = await makeTestCertificates(t);
  const s = await startTestServer(t, { ...LOCAL_ONLY, tls: { cert: certs.cert, key: certs.key } });
  const err = await t.throwsAsync(undiciFetch(`${s.url}/-/health`));
  t.regex(String((err?.cause as { code?: string } | undefined)?.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
});

test('plain HTTP to the TLS port gets no index page', async (t) => {
  const certs = await makeTestCertificates(t);
  const s = await startTestServer(t, { ...LOCAL_ONLY, tls: { cert: certs.cert, key: certs.key } });
  const outcome = await fetch(`${s.url.replace('https:', 'http:')}/simple/`).then(
    async (res) => ({ status: res.status, body: await res.text() }),
    (err: Error) => ({ status: 0, body: err.message }),
  );
  t.not(outcome.status, 200, outcome.body);
  t.notRegex(outcome.body, /<!DOCTYPE html>|<a /i);
});

type TlsFiles = (certs: TestCertificates, dir: string) => Promise<{ cert: string; key: string }>;

const BAD_FILES: Array<[string, TlsFiles, RegExp]> = [
  ['a missing certificate file', async (c, dir) => ({ cert: join(dir, 'missing.pem'), key: c.key }),
    /^config key 'tls\.cert': cannot load \/.*\/missing\.pem: ENOENT/],
  ['a missing key file', async (c, dir) => ({ cert: c.cert, key: join(dir, 'missing.key') }),
    /^config key 'tls\.key': cannot load \/.*\/missing\.key: ENOENT/],
  ['a certificate that is not PEM', async (c, dir) => {
    await writeFile(join(dir, 'garbage.pem'), 'not a certificate\n');
    return { cert: join(dir, 'garbage.pem'), key: c.key };
  }, /^config key 'tls\.cert': cannot load \/.*\/garbage\.pem: not a PEM certificate/],
  ['a key that is not PEM', async (c, dir) => {
    await writeFile(join(dir, 'garbage.key'), '-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n');
    return { cert: c.cert, key: join(dir, 'garbage.key') };
  }, /^config key 'tls\.key': cannot load \/.*\/garbage\.key: not an unencrypted PEM private key/],
  ['the certificate file given as the key', async (c) => ({ cert: c.cert, key: c.cert }),
    /^config key 'tls\.key': cannot load \/.*\/server\.pem: not an unencrypted PEM private key/],
  ['a key that does not match the certificate', async (c) => ({ cert: c.cert, key: c.caKey }),
    /^config key 'tls\.key': cannot load \/.*\/ca\.key: the key does not match the certificate in \/.*\/server\.pem/],
];

for (const [title, files, message] of BAD_FILES) {
  test(`start-up fails with a ConfigError naming the key: ${title}`, async (t) => {
    const certs = await makeTestCertificates(t);
    const dir = await tempDir(t);
    const tls = await files(certs, dir);
    await t.throwsAsync(startTestServer(t, { ...LOCAL_ONLY, tls }), { name: 'ConfigError', message });
  });
}

test('pydepot serve exits 78 on a bad certificate and names the key', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'c.yaml');
  await writeFile(config, 'tls:\n  cert: missing.pem\n  key: missing.key\n');
  // In-process: relative paths resolve against the working directory (like
  // storage), which is this process's, not the config file's folder.
  const r = await pydepot(['serve', '--config', config, '--storage', dir, '--listen', '127.0.0.1:0']);
  t.is(r.code, 78, r.stderr);
  t.true(r.stderr.includes(`config key 'tls.cert': cannot load ${resolve('missing.pem')}: ENOENT`), r.stderr);
});

test('under TLS the web UI\'s cookies are Secure and __Host- prefixed, and a login over HTTPS works', async (t) => {
  const certs = await makeTestCertificates(t);
  const s = await startTestServer(t, { ...LOCAL_ONLY, tls: { cert: certs.cert, key: certs.key } });
  const dispatcher = await trusting(t, certs.caCert);
  const form = await undiciFetch(`${s.url}/-/ui/login`, { dispatcher });
  const browser = form.headers.getSetCookie().find((c) => c.startsWith('__Host-pydepot_csrf='))!;
  t.regex(browser, /; path=\/; samesite=strict; secure; httponly$/);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const login = await undiciFetch(`${s.url}/-/ui/login`, {
    dispatcher, method: 'POST', redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: s.url, Cookie: browser.split(';')[0]! },
    body: new URLSearchParams({ csrf, username: 'ci', password: 'ci-password', next: '' }).toString(),
  });
  t.is(login.status, 303);
  const session = login.headers.getSetCookie().find((c) => c.startsWith('__Host-pydepot_session='))!;
  t.regex(session, /; path=\/; expires=[^;]+; samesite=strict; secure; httponly$/);
  const page = await undiciFetch(`${s.url}/-/ui/`, { dispatcher, headers: { Cookie: session.split(';')[0]! } });
  t.regex(await page.text(), /Signed in as <strong>ci<\/strong>/);
  // The plain-HTTP name of the cookie means nothing here.
  const plainName = await undiciFetch(`${s.url}/-/ui/`, { dispatcher, headers: { Cookie: session.split(';')[0]!.replace('__Host-', '') } });
  t.regex(await plainName.text(), /<a href="login">Log in<\/a>/);
});
