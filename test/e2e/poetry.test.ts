/**
 * poetry (Debian's python3-poetry, 1.3.2) locks a project against a pydepot
 * whose only repository needs credentials to read:
 *
 *   defaultRepository: internal
 *   repositories:
 *     internal: { type: local, read: authenticated, upload: [ci] }
 *
 * holding acme-utils 1.0 and 1.1 and acme-app 2.0 (→ acme-utils>=1.0).
 *
 * Each test has its own server, project folder and poetry home: config,
 * cache and data folders and HOME are fresh temp dirs (POETRY_* variables of
 * the caller are dropped by cleanEnv), the keyring is the null backend, and
 * no virtualenv is created (`poetry lock` needs none). pydepot is the
 * project's default source, which makes poetry 1.3 drop PyPI; on top of that
 * every proxy variable points at a closed loopback port with only 127.0.0.1
 * exempt, so a request to anywhere but pydepot fails at once instead of
 * reaching the internet.
 *
 * What poetry 1.3 does with a 401 (or 403): it logs "Authorization error
 * accessing <url>" and treats the page as missing, so the lock fails as
 * "acme-app (*) which doesn't match any versions", exit 1. With credentials
 * configured it sends them with the first request (no 401 round trip). It has
 * no PEP 658 support: it downloads each candidate wheel to read its metadata.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { describe, requireClient, run, type RunResult } from '../helpers/clients.ts';
import { buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { CI, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

const CONFIG = { defaultRepository: 'internal', repositories: { internal: { type: 'local', read: 'authenticated', upload: [CI.user] } } };
const JSON_V1 = 'application/vnd.pypi.simple.v1+json';
const SOURCE = 'pydepot';

interface Fixture {
  server: TestServer;
  /** The /simple/ URL poetry is given. */
  index: string;
  wheels: { utils10: BuiltDist; utils11: BuiltDist; app: BuiltDist };
}

async function fixture(t: ExecutionContext): Promise<Fixture> {
  const server = await startTestServer(t, CONFIG);
  const wheels = {
    utils10: await buildWheel({ name: 'acme-utils', version: '1.0' }),
    utils11: await buildWheel({ name: 'acme-utils', version: '1.1' }),
    app: await buildWheel({ name: 'acme-app', version: '2.0', requiresDist: ['acme-utils>=1.0'] }),
  };
  for (const [dist, name, version] of [[wheels.utils10, 'acme-utils', '1.0'], [wheels.utils11, 'acme-utils', '1.1'], [wheels.app, 'acme-app', '2.0']] as const) {
    const res = await upload(`${server.url}/internal/`, dist, name, version);
    if (res.status !== 200) throw new Error(`upload of ${dist.filename}: ${res.status} ${await res.text()}`);
  }
  return { server, index: `${server.url}/simple/`, wheels };
}

// --- poetry, isolated ------------------------------------------------------------

interface Poetry {
  /** The project folder (pyproject.toml, poetry.lock). */
  project: string;
  /** `poetry --no-interaction <args>` in the project folder. */
  run: (args: string[]) => Promise<RunResult>;
}

const NOWHERE = 'http://127.0.0.1:9';

/** A fresh project and poetry home; `source`: a `[[tool.poetry.source]]` table for this URL, else none. */
async function poetryProject(t: ExecutionContext, source: string | null): Promise<Poetry> {
  const root = await tempDir(t, 'pydepot-poetry-');
  const project = join(root, 'project');
  const home = join(root, 'home');
  for (const d of [project, home]) await mkdir(d);
  const table = source === null ? '' : `\n[[tool.poetry.source]]\nname = "${SOURCE}"\nurl = "${source}"\ndefault = true\n`;
  await writeFile(join(project, 'pyproject.toml'), `[tool.poetry]
name = "consumer"
version = "0.1.0"
description = "uses acme-app from pydepot"
authors = ["CI <ci@example.com>"]

[tool.poetry.dependencies]
python = "^3.8"
acme-app = "*"
${table}
[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
`);
  const env = {
    HOME: home,
    POETRY_CONFIG_DIR: join(root, 'config'),
    POETRY_CACHE_DIR: join(root, 'cache'),
    POETRY_DATA_DIR: join(root, 'data'),
    POETRY_VIRTUALENVS_CREATE: 'false',
    // Anything but loopback goes to a closed port.
    HTTP_PROXY: NOWHERE, HTTPS_PROXY: NOWHERE, ALL_PROXY: NOWHERE,
    http_proxy: NOWHERE, https_proxy: NOWHERE, all_proxy: NOWHERE,
    NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1',
  };
  return { project, run: (args) => run('poetry', ['--no-interaction', ...args], { cwd: project, env }) };
}

async function must(what: string, p: Promise<RunResult>): Promise<RunResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed: ${describe(r)}`);
  return r;
}

// --- poetry.lock -------------------------------------------------------------------

interface Locked {
  version: string;
  /** `sha256:` hashes of its files. */
  hashes: string[];
  /** [package.source] url. */
  sourceUrl: string | undefined;
}

/** Normalised name → what poetry.lock (lock-version 2.0) says about it. */
async function readLock(project: string): Promise<Record<string, Locked>> {
  const text = await readFile(join(project, 'poetry.lock'), 'utf8');
  const out: Record<string, Locked> = {};
  for (const block of text.split(/^\[\[package\]\]$/m).slice(1)) {
    const name = /^name = "([^"]+)"$/m.exec(block)?.[1];
    const version = /^version = "([^"]+)"$/m.exec(block)?.[1];
    if (!name || !version) throw new Error(`unexpected poetry.lock block:\n${block}`);
    const source = block.split(/^\[package\.source\]$/m)[1];
    out[name] = {
      version,
      hashes: [...block.matchAll(/hash = "sha256:([0-9a-f]{64})"/g)].map((m) => m[1] as string),
      sourceUrl: source === undefined ? undefined : /^url = "([^"]+)"$/m.exec(source)?.[1],
    };
  }
  return out;
}

/** sha256 of every file pydepot lists for a project (JSON page, with the ci token). */
async function servedHashes(f: Fixture, project: string): Promise<string[]> {
  const res = await fetch(`${f.index}${project}/`, { headers: { Accept: JSON_V1, Authorization: CI.basic } });
  if (res.status !== 200) throw new Error(`${project}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { files: Array<{ hashes: { sha256: string } }> }).files.map((x) => x.hashes.sha256);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

type LogLine = Record<string, unknown>;
const requests = (s: TestServer): LogLine[] => s.logs.filter((l) => l.msg === 'request' || l.msg === 'request failed');
const brief = (lines: LogLine[]) => lines.map((l) => `${String(l.method)} ${String(l.path)} ${String(l.status)} ${String(l.user ?? '-')}`).join('\n');

async function assertLocked(t: ExecutionContext, f: Fixture, p: Poetry, lock: RunResult): Promise<void> {
  t.is(lock.code, 0, describe(lock));
  t.regex(lock.stdout, /Writing lock file/, describe(lock));
  const locked = await readLock(p.project);
  t.deepEqual(Object.keys(locked).sort(), ['acme-app', 'acme-utils'], 'exactly the two projects are locked');
  t.is(locked['acme-app']?.version, '2.0');
  t.is(locked['acme-utils']?.version, '1.1', 'the newest acme-utils that satisfies >=1.0');
  t.deepEqual(locked['acme-app']?.hashes, [f.wheels.app.sha256], 'the lock pins the uploaded wheel');
  t.deepEqual(locked['acme-utils']?.hashes, [f.wheels.utils11.sha256]);
  t.deepEqual(locked['acme-app']?.hashes, await servedHashes(f, 'acme-app'), 'the sha256 pydepot serves for acme-app');
  t.true((await servedHashes(f, 'acme-utils')).includes(f.wheels.utils11.sha256));
  for (const name of ['acme-app', 'acme-utils']) {
    t.is(locked[name]?.sourceUrl?.replace(/\/?$/, '/'), f.index, `${name} was locked from pydepot`);
  }

  // Everything came from pydepot, with the credentials on the first request.
  const lines = requests(f.server);
  const page = lines.find((l) => l.method === 'GET' && l.path === '/simple/acme-app/');
  t.is(page?.status, 200, `pydepot served /simple/acme-app/:\n${brief(lines)}`);
  t.is(page?.user, CI.user);
  t.true(lines.some((l) => l.path === '/simple/acme-utils/' && l.status === 200), brief(lines));
  // 499 excepted: poetry closes the connection as soon as it has a wheel's last byte, which now and then
  // beats the end of pydepot's file stream, and the request log then says 499 for a complete download.
  t.deepEqual(lines.filter((l) => l.method === 'GET' && l.status !== 200 && l.status !== 499), [], `no request failed (no 401 first either):\n${brief(lines)}`);
}

// --- tests -------------------------------------------------------------------------

test('`poetry source add --default` + `poetry config http-basic.pydepot ci <password>`: `poetry lock` pins acme-app 2.0 and acme-utils 1.1 with the sha256 pydepot serves', async (t) => {
  if (!(await requireClient(t, 'poetry'))) return;
  const f = await fixture(t);
  const p = await poetryProject(t, null);
  await must('poetry source add', p.run(['source', 'add', '--default', SOURCE, f.index]));
  t.regex(await readFile(join(p.project, 'pyproject.toml'), 'utf8'), /\[\[tool\.poetry\.source\]\]\s+name = "pydepot"\s+url = "[^"]+"\s+default = true/);
  await must('poetry config http-basic', p.run(['config', `http-basic.${SOURCE}`, CI.user, CI.password]));
  const lock = await p.run(['lock']);
  await assertLocked(t, f, p, lock);
});

test('`poetry config http-basic.pydepot __token__ <token>` with a [[tool.poetry.source]] table: `poetry lock` succeeds, pydepot sees the token', async (t) => {
  if (!(await requireClient(t, 'poetry'))) return;
  const f = await fixture(t);
  const p = await poetryProject(t, f.index);
  await must('poetry config http-basic', p.run(['config', `http-basic.${SOURCE}`, '__token__', CI.token]));
  const lock = await p.run(['lock', '--no-update']);
  await assertLocked(t, f, p, lock);
  const page = requests(f.server).find((l) => l.path === '/simple/acme-app/');
  t.is(page?.token, 'c1c1c1c1c1c1', 'pydepot authenticated the request with the ci token');
});

test('without credentials `poetry lock` fails: poetry reports an authorisation error for /simple/acme-app/, pydepot logs the 401 and serves no file', async (t) => {
  if (!(await requireClient(t, 'poetry'))) return;
  const f = await fixture(t);
  const p = await poetryProject(t, f.index);
  const lock = await p.run(['lock']);
  const output = lock.stdout + lock.stderr;
  t.not(lock.code, 0, describe(lock));
  t.true(output.includes(`Authorization error accessing ${f.index}acme-app/`), describe(lock));
  t.regex(output, /acme-app \(\*\) which doesn't match any versions/, describe(lock));
  t.false(await exists(join(p.project, 'poetry.lock')), 'no lock file was written');

  const lines = requests(f.server);
  t.true(lines.some((l) => l.path === '/simple/acme-app/' && l.status === 401), brief(lines));
  t.deepEqual(lines.filter((l) => String(l.path).startsWith('/simple/') && l.status !== 401), [], `every /simple/ page answered 401:\n${brief(lines)}`);
  t.false(lines.some((l) => String(l.path).startsWith('/files/')), 'no file was served');
});

test('a wrong password fails the same way: 401, not a lock from anywhere else', async (t) => {
  if (!(await requireClient(t, 'poetry'))) return;
  const f = await fixture(t);
  const p = await poetryProject(t, f.index);
  await must('poetry config http-basic', p.run(['config', `http-basic.${SOURCE}`, CI.user, 'not-the-password']));
  const lock = await p.run(['lock']);
  t.not(lock.code, 0, describe(lock));
  t.true((lock.stdout + lock.stderr).includes(`Authorization error accessing ${f.index}acme-app/`), describe(lock));
  t.false(await exists(join(p.project, 'poetry.lock')));
  const lines = requests(f.server);
  t.true(lines.some((l) => l.path === '/simple/acme-app/' && l.status === 401), brief(lines));
  t.false(lines.some((l) => l.status === 200 && String(l.path).startsWith('/simple/')), brief(lines));
});
