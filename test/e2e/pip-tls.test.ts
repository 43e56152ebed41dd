/**
 * pip (two versions) and twine against a pydepot serving HTTPS with a
 * certificate from a private CA: trusted with `--cert`, refused without it.
 *
 * One server per file, filled once by a memoised setup; one venv per
 * interpreter, made once, and each test installs into its own empty
 * `--target` folder (imported from with PYTHONPATH). The wheel goes in over HTTPS without credentials
 * (the repository says `upload: anonymous`), so the pip tests depend neither
 * on twine nor on how pydepot checks credentials.
 */
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { Agent, FormData, fetch as undiciFetch } from 'undici';
import { describe, requireClient, twine, type RunOptions, type RunResult, type Venv } from '../helpers/clients.ts';
import { buildWheel, writeDists, type BuiltDist } from '../helpers/dists.ts';
import { CI, startTestServer, tempDir } from '../helpers/server.ts';
import { makeTestCertificates } from '../helpers/tls.ts';
import { twineFields } from '../helpers/upload.ts';
import { fileScope, once, venvPerInterpreter } from './_support.ts';

const PYTHONS = [
  { label: 'pip 23.2 (pyenv python3)', python: 'python3' },
  { label: 'pip 23.0 (Debian /usr/bin/python3)', python: '/usr/bin/python3' },
];

const PROJECT = { name: 'acme-tls', version: '1.0' };
const CERT_REFUSED = /CERTIFICATE_VERIFY_FAILED|certificate verify failed/;

// requests lets these override an explicit --cert (psf/requests#3829), and
// this machine sets them to the system bundle: '' is "unset" to requests.
const OPTS: RunOptions = { env: { REQUESTS_CA_BUNDLE: '', CURL_CA_BUNDLE: '' } };

const scope = fileScope();
test.after.always(() => scope.close());

const served = once(async () => {
  const certs = await makeTestCertificates(scope.t);
  const server = await startTestServer(scope.t, {
    repositories: { internal: { type: 'local', upload: 'anonymous' } },
    defaultRepository: 'internal',
    tls: { cert: certs.cert, key: certs.key },
  });
  return { certs, server };
});

/** The legacy upload form over HTTPS, trusting only `caCert`, with no credentials. */
async function uploadTrusting(caCert: string, url: string, dist: BuiltDist): Promise<void> {
  const dispatcher = new Agent({ connect: { ca: await readFile(caCert) } });
  try {
    const form = new FormData();
    for (const [k, v] of Object.entries(twineFields(dist, PROJECT.name, PROJECT.version))) form.append(k, v);
    form.append('content', new Blob([dist.bytes]), dist.filename);
    const res = await undiciFetch(url, { method: 'POST', body: form, dispatcher });
    if (res.status !== 200) throw new Error(`upload of ${dist.filename}: ${res.status} ${await res.text()}`);
  } finally {
    await dispatcher.close();
  }
}

const filled = once(async () => {
  const { certs, server } = await served();
  const wheel = await buildWheel(PROJECT);
  await uploadTrusting(certs.caCert, `${server.url}/internal/`, wheel);
  return { certs, server, wheel };
});

// One venv per interpreter for the whole file (creating one costs ~3 s here).
const sharedVenv = venvPerInterpreter(scope.t);

// --retries 0: pip retries a failed handshake five times with back-off.
function install(v: Venv, target: string, indexUrl: string, args: string[]): Promise<RunResult> {
  return v.pip(['install', '--index-url', indexUrl, '--no-input', '--progress-bar', 'off', '--retries', '0', '--target', target, ...args], OPTS);
}

test('twine trusts the index with --cert and refuses it without', async (t) => {
  if (!(await requireClient(t, 'twine'))) return;
  const { certs, server, wheel } = await filled();
  const dir = await tempDir(t, 'pydepot-dist-');
  const paths = await writeDists(dir, [wheel]);
  const upload = (extra: string[]) => twine(['upload', '--repository-url', `${server.url}/internal/`, ...extra,
    ...CI.twineArgs, '--disable-progress-bar', ...paths], OPTS);

  const refused = await upload([]);
  t.not(refused.code, 0, describe(refused));
  t.regex(refused.stdout + refused.stderr, CERT_REFUSED, describe(refused));

  // Identical bytes again: accepted, so the run proves the handshake and nothing else.
  const trusted = await upload(['--cert', certs.caCert]);
  t.is(trusted.code, 0, describe(trusted));
});

for (const py of PYTHONS) {
  test(`${py.label}: pip install --cert <CA> from the HTTPS index installs the wheel`, async (t) => {
    if (!(await requireClient(t, py.python))) return;
    const { certs, server } = await filled();
    t.regex(server.url, /^https:/);
    const v = await sharedVenv(py.python);
    const target = await tempDir(t, 'pydepot-target-');
    const r = await install(v, target, `${server.url}/simple/`, ['--cert', certs.caCert, PROJECT.name]);
    t.is(r.code, 0, describe(r));
    const imported = await v.run(['-c', 'import acme_tls; print(acme_tls.__version__)'], { env: { PYTHONPATH: target } });
    t.is(imported.stdout.trim(), PROJECT.version, describe(imported));
  });

  test(`${py.label}: pip without --cert fails certificate verification`, async (t) => {
    if (!(await requireClient(t, py.python))) return;
    const { server } = await served();
    const v = await sharedVenv(py.python);
    const r = await install(v, await tempDir(t, 'pydepot-target-'), `${server.url}/simple/`, [PROJECT.name]);
    t.not(r.code, 0, describe(r));
    t.regex(r.stdout + r.stderr, CERT_REFUSED, describe(r));
    t.notRegex(r.stdout, /Successfully installed/, describe(r));
  });
}
