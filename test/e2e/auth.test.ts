/**
 * Users, tokens and permissions through the real clients: twine (Debian's
 * /usr/bin/twine 4.0.2) uploads with `__token__` and a `.pypirc`, pip
 * (pyenv python3) installs with credentials in `--index-url`. Every pip run
 * is isolated (clients.ts: `--isolated`, PIP_CONFIG_FILE=/dev/null, no PIP_*
 * variables, a null keyring), so credentials come only from the URL.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { addToken, addUser, auditOf } from '../helpers/accounts.ts';
import { describe, requireClient, twine, venv, type RunResult } from '../helpers/clients.ts';
import { buildWheel, writeDists, type BuiltDist } from '../helpers/dists.ts';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';
import { fileScope, once } from './_support.ts';

const scope = fileScope();
test.after.always(() => scope.close());

const CONFIG = {
  defaultRepository: 'internal',
  repositories: {
    internal: { type: 'local', read: 'authenticated', upload: ['alice', 'ci'] },
    other: { type: 'local', upload: ['alice'] },
  },
};
const ALICE_PW = 'wonderland-42';

const sharedVenv = once(() => venv(scope.t));

async function clients(t: ExecutionContext): Promise<boolean> {
  return (await requireClient(t, 'python3')) && (await requireClient(t, 'twine'));
}

async function distDir(t: ExecutionContext, dists: BuiltDist[]): Promise<string[]> {
  return writeDists(await tempDir(t, 'pydepot-dist-'), dists);
}

function output(r: RunResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

async function server(t: ExecutionContext): Promise<TestServer> {
  const s = await startTestServer(t, CONFIG);
  await addUser(s.storage, 'alice', ALICE_PW);
  return s;
}

test('twine upload -u __token__ -p <token> succeeds to the repository the token names, and fails with a clear message on another', async (t) => {
  if (!(await clients(t))) return;
  const s = await server(t);
  const token = await addToken(s.storage, 'alice', { repos: ['internal'], scope: 'upload' });
  const wheel = await buildWheel({ name: 'acme-tokened', version: '1.0' });
  const paths = await distDir(t, [wheel]);

  const ok = await twine(['upload', '--repository-url', `${s.url}/internal/`, '-u', '__token__', '-p', token.text, '--disable-progress-bar', ...paths]);
  t.is(ok.code, 0, describe(ok));
  const entry = (await auditOf(s.storage)).find((e) => e.filename === wheel.filename);
  t.like(entry, { actor: 'alice', tokenId: token.id, action: 'upload', repo: 'internal', sha256: wheel.sha256 });

  const refused = await twine(['upload', '--repository-url', `${s.url}/other/`, '-u', '__token__', '-p', token.text, '--disable-progress-bar', ...paths]);
  t.not(refused.code, 0, describe(refused));
  t.regex(output(refused), /403/, describe(refused));
  t.regex(output(refused), /This API token is limited to 'internal'; it may not upload to repository 'other'/, `twine shows pydepot's reason: ${describe(refused)}`);
  t.is((await fetch(`${s.url}/other/simple/acme-tokened/`)).status, 404, 'nothing was stored in other');

  const wrong = await twine(['upload', '--repository-url', `${s.url}/internal/`, '-u', '__token__', '-p', 'pydepot-not-a-real-token', '--disable-progress-bar', ...paths]);
  t.not(wrong.code, 0, describe(wrong));
  t.regex(output(wrong), /401|Invalid username, password or API token/, describe(wrong));
  t.false(output(wrong).includes(token.text), 'the token is not echoed');
});

test('twine reads a custom repository section of .pypirc (repository, username __token__, password)', async (t) => {
  if (!(await clients(t))) return;
  const s = await server(t);
  const token = await addToken(s.storage, 'alice', { scope: 'upload' });
  const dir = await tempDir(t, 'pydepot-pypirc-');
  const pypirc = join(dir, '.pypirc');
  await writeFile(pypirc, `[distutils]\nindex-servers =\n    depot\n\n[depot]\nrepository = ${s.url}/internal/\nusername = __token__\npassword = ${token.text}\n`);
  const wheel = await buildWheel({ name: 'acme-pypirc', version: '0.3' });
  const r = await twine(['upload', '--config-file', pypirc, '-r', 'depot', '--disable-progress-bar', ...(await distDir(t, [wheel]))], { env: { HOME: dir } });
  t.is(r.code, 0, describe(r));
  const page = await fetch(`${s.url}/internal/simple/acme-pypirc/`, { headers: { Authorization: `Basic ${Buffer.from(`alice:${ALICE_PW}`).toString('base64')}` } });
  t.is(page.status, 200);
  t.true((await page.text()).includes(`#sha256=${wheel.sha256}`));
});

test('pip install against a read: authenticated repository: credentials in --index-url (password or token) install; without them pip fails on the 401', async (t) => {
  if (!(await clients(t))) return;
  const s = await server(t);
  const core = await buildWheel({ name: 'acme-core', version: '1.2' });
  const app = await buildWheel({ name: 'acme-app', version: '3.0', requiresDist: ['acme-core>=1.0'] });
  for (const [d, n, v] of [[core, 'acme-core', '1.2'], [app, 'acme-app', '3.0']] as const) {
    const res = await upload(`${s.url}/internal/`, d, n, v);
    t.is(res.status, 200, res.statusText);
  }
  const token = await addToken(s.storage, 'alice', { repos: ['internal'], scope: 'read' });
  const v = await sharedVenv();
  const host = s.url.replace(/^http:\/\//, '');
  const install = async (index: string) => {
    const target = await tempDir(t, 'pydepot-target-');
    return v.pip(['install', '--index-url', index, '--no-input', '--progress-bar', 'off', '--target', target, 'acme-app']);
  };

  const withPassword = await install(`http://alice:${ALICE_PW}@${host}/internal/simple/`);
  t.is(withPassword.code, 0, describe(withPassword));
  t.regex(withPassword.stdout, /Successfully installed acme-app-3\.0 acme-core-1\.2/, describe(withPassword));

  const withToken = await install(`http://__token__:${token.text}@${host}/simple/`);
  t.is(withToken.code, 0, describe(withToken));
  t.regex(withToken.stdout, /Successfully installed acme-app-3\.0 acme-core-1\.2/);

  const without = await install(`${s.url}/internal/simple/`);
  t.not(without.code, 0, describe(without));
  t.regex(output(without), /401|No matching distribution found for acme-app/, describe(without));
  t.true(s.logs.some((l) => l.path === '/internal/simple/acme-app/' && l.status === 401), 'pydepot answered pip with 401');
  t.false(JSON.stringify(s.logs).includes(ALICE_PW) || JSON.stringify(s.logs).includes(token.text), 'no credentials in the logs');

  const wrong = await install(`http://alice:not-her-password@${host}/internal/simple/`);
  t.not(wrong.code, 0, describe(wrong));
});
