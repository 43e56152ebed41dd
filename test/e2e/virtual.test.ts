/**
 * Virtual repositories end to end, through the real clients: twine (Debian's
 * /usr/bin/twine) uploads, pip (pyenv python3, pip 23.2) installs, and the
 * `pydepot confusion report` CLI runs in-process (test/helpers/cli.ts). The
 * upstream is the fake pypi.org on loopback (test/helpers/fake-upstream.ts).
 *
 * The setup of most tests is the issue's:
 *
 *   defaultRepository: all
 *   repositories:
 *     internal: { type: local }
 *     pypi: { type: remote, url: <fake upstream> }
 *     all: { type: virtual, members: [internal, pypi] }
 *
 * Each test has its own server and fake upstream. The two attack scenarios
 * are memoised so that the `confusion report` tests can run after them on
 * the same storage; what the attack tests assert about the upstream is
 * captured right after pip ran, before any report asked the upstream.
 *
 * pip: one venv for the whole file (creating one costs ~3 s on this machine),
 * and every install goes into its own empty `--target` folder, read back with
 * `pip list --path`. Every pip run is isolated (clients.ts: `--isolated`,
 * PIP_CONFIG_FILE=/dev/null, no PIP_* variables).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { describe, requireClient, twine, venv, type RunResult } from '../helpers/clients.ts';
import { buildSdist, buildWheel, writeDists, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { CI, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';
import { confusionReportWithCli, fileScope, mustSucceed, normalize, once } from './_support.ts';

const JSON_V1 = 'application/vnd.pypi.simple.v1+json';
const PROJECT = 'acme-internal-utils';

const scope = fileScope();
test.after.always(() => scope.close());

// --- distributions ---------------------------------------------------------------

const dists = once(async () => ({
  /** The team's own release, uploaded with twine. */
  internal: [await buildWheel({ name: PROJECT, version: '1.0.0' }), await buildSdist({ name: PROJECT, version: '1.0.0' })],
  /** The attacker's release on the public index. */
  attacker: [
    await buildWheel({ name: PROJECT, version: '99.0.0', summary: 'attacker' }),
    await buildSdist({ name: PROJECT, version: '99.0.0', summary: 'attacker' }),
  ],
  /** Same filename as the internal 1.0.0 wheel, other bytes: a collision. */
  upstreamCopy: await buildWheel({ name: PROJECT, version: '1.0.0', summary: 'upstream copy' }),
  /** PEP 440 puts it before 1.0.0; a string sort after. */
  upstreamRc: await buildWheel({ name: PROJECT, version: '1.0.0rc1' }),
  secret: await buildWheel({ name: 'acme-secret', version: '5.0' }),
  shared: await buildWheel({ name: 'acme-shared', version: '1.0' }),
  requests: await buildWheel({ name: 'requests', version: '2.32.0', requiresDist: ['idna>=2.5'] }),
  requestsOld: await buildWheel({ name: 'requests', version: '2.31.0', requiresDist: ['idna>=2.5'] }),
  idna: await buildWheel({ name: 'idna', version: '3.7' }),
  acmeRequests: await buildWheel({ name: 'acme-requests', version: '1.0', requiresDist: ['requests>=2.31'] }),
  deploy: await buildWheel({ name: 'acme-deploy', version: '0.1' }),
}));

function wheelOf(ds: BuiltDist[]): BuiltDist {
  const w = ds.find((d) => d.filename.endsWith('.whl'));
  if (!w) throw new Error('no wheel');
  return w;
}

// --- config, clients -------------------------------------------------------------

type Raw = Record<string, unknown>;

/** The config; `virtual`: more keys for `all` (internal, mergeUpstream, uploadTo). */
function mergedConfig(up: FakeUpstream, virtual: Raw = {}): Raw {
  return {
    defaultRepository: 'all',
    repositories: {
      internal: { type: 'local', upload: ['ci'] },
      pypi: { type: 'remote', url: up.url, timeout: 5 },
      all: { type: 'virtual', members: ['internal', 'pypi'], ...virtual },
    },
  };
}

async function clients(t: ExecutionContext): Promise<boolean> {
  return (await requireClient(t, 'python3')) && (await requireClient(t, 'twine'));
}

async function twineUpload(t: ExecutionContext, url: string, files: BuiltDist[]): Promise<RunResult> {
  const dir = await tempDir(t, 'pydepot-dist-');
  const paths = await writeDists(dir, files);
  return twine(['upload', '--repository-url', url, ...CI.twineArgs, '--disable-progress-bar', ...paths]);
}

const sharedVenv = once(() => venv(scope.t));

interface Install {
  pip: RunResult;
  /** Normalised project name → version, of what landed in the target folder. */
  installed: Record<string, string>;
  target: string;
}

/** `pip install --index-url <index> --target <fresh dir> <args>`, then what it installed. */
async function pipInstall(t: ExecutionContext, index: string, args: string[]): Promise<Install> {
  const v = await sharedVenv();
  const target = await tempDir(t, 'pydepot-target-');
  const pip = await v.pip(['install', '--index-url', index, '--no-input', '--progress-bar', 'off', '--target', target, ...args]);
  const list = await v.pip(['list', '--path', target, '--format', 'json']);
  if (list.code !== 0) throw new Error(`pip list --path: ${describe(list)}`);
  const installed: Record<string, string> = {};
  for (const p of JSON.parse(list.stdout) as Array<{ name: string; version: string }>) installed[normalize(p.name)] = p.version;
  return { pip, installed, target };
}

function assertIsolated(t: ExecutionContext, r: RunResult): void {
  t.notRegex(r.stdout + r.stderr, /\/opt\/(pypi|wheels)|find-links|Looking in indexes: (?!http:\/\/127\.0\.0\.1)/, "pip is isolated from this machine's pip.conf");
}

// --- HTTP --------------------------------------------------------------------------

interface JsonPage {
  name: string;
  versions: string[];
  files: Array<{ filename: string; hashes: { sha256: string } }>;
}

async function jsonPage(url: string): Promise<{ status: number; etag: string | null; page: JsonPage | null; contentType: string | null }> {
  const res = await fetch(url, { headers: { Accept: JSON_V1 } });
  const body = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), contentType: res.headers.get('content-type'), page: res.status === 200 ? (JSON.parse(body) as JsonPage) : null };
}

async function htmlPage(url: string): Promise<{ status: number; html: string; contentType: string | null }> {
  const res = await fetch(url, { headers: { Accept: 'text/html' } });
  return { status: res.status, html: await res.text(), contentType: res.headers.get('content-type') };
}

async function rootNames(url: string): Promise<string[]> {
  const res = await fetch(url, { headers: { Accept: JSON_V1 } });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { projects: Array<{ name: string }> }).projects.map((p) => normalize(p.name));
}

/** What the fake upstream was asked about a project: its page (any spelling) and its files. */
function upstreamHits(up: FakeUpstream, project: string): { pages: number; files: number } {
  const norm = normalize(project);
  const prefix = `${norm.replace(/-/g, '_')}-`;
  const name = (path: string, i: number) => decodeURIComponent(path.split('/')[i] ?? '');
  return {
    pages: up.count((r) => r.path.startsWith('/simple/') && normalize(name(r.path, 2)) === norm),
    files: up.count((r) => r.path.startsWith('/packages/') && (r.path.split('/').pop() ?? '').toLowerCase().startsWith(prefix)),
  };
}

/** Downloads of the file itself (its `.metadata` not counted). */
function fileRequests(up: FakeUpstream, d: BuiltDist): number {
  return up.count((r) => r.path.startsWith('/packages/') && decodeURIComponent(r.path).endsWith(`/${d.filename}`));
}

// --- the attack, two orders ------------------------------------------------------------

interface Scenario {
  up: FakeUpstream;
  server: TestServer;
  config: Raw;
  upload: RunResult;
  install: Install;
  /** Upstream hits for the project right after pip ran (before any report). */
  hits: { pages: number; files: number };
  attackerFileRequests: number;
  /** Merged JSON page through /simple/ before the upload (scenario 2 only) and after the install. */
  before: Awaited<ReturnType<typeof jsonPage>> | null;
  after: Awaited<ReturnType<typeof jsonPage>>;
}

async function attack(cacheFirst: boolean): Promise<Scenario> {
  const d = await dists();
  const up = await FakeUpstream.start(scope.t);
  up.addProject(PROJECT, d.attacker.map((dist) => ({ dist })));
  const config = mergedConfig(up);
  const server = await startTestServer(scope.t, config);
  // Scenario 2: a client (or pydepot's own traffic) had the public page cached first.
  const before = cacheFirst ? await jsonPage(`${server.url}/simple/${PROJECT}/`) : null;
  const upload = await twineUpload(scope.t, `${server.url}/internal/`, d.internal);
  const install = await pipInstall(scope.t, `${server.url}/simple/`, [PROJECT]);
  const hits = upstreamHits(up, PROJECT);
  const attackerFileRequests = d.attacker.reduce((n, a) => n + fileRequests(up, a), 0);
  const after = await jsonPage(`${server.url}/simple/${PROJECT}/`);
  return { up, server, config, upload, install, hits, attackerFileRequests, before, after };
}

const uploadFirst = once(() => attack(false));
const cacheFirst = once(() => attack(true));

function assertAttackFoiled(t: ExecutionContext, s: Scenario, d: Awaited<ReturnType<typeof dists>>): void {
  t.is(s.upload.code, 0, `twine upload to /internal/: ${describe(s.upload)}`);
  t.is(s.install.pip.code, 0, describe(s.install.pip));
  assertIsolated(t, s.install.pip);
  t.deepEqual(s.install.installed, { [PROJECT]: '1.0.0' }, `pip installed the internal 1.0.0, not the public 99.0.0: ${describe(s.install.pip)}`);
  t.is(s.attackerFileRequests, 0, 'the 99.0.0 files were never fetched from the upstream');
  t.is(s.after.status, 200);
  t.deepEqual(s.after.page?.versions, ['1.0.0'], 'the merged page lists the internal release only');
  t.deepEqual(s.after.page?.files.map((f) => f.hashes.sha256).sort(), d.internal.map((x) => x.sha256).sort());
}

test('dependency confusion, upload first: twine puts acme-internal-utils 1.0.0 in internal, upstream has 99.0.0; pip install through /simple/ gets 1.0.0 and the upstream is never asked', async (t) => {
  if (!(await clients(t))) return;
  const d = await dists();
  const s = await uploadFirst();
  assertAttackFoiled(t, s, d);
  t.deepEqual(s.hits, { pages: 0, files: 0 }, 'the upstream was asked neither for the page nor for any file of acme-internal-utils');
  const installedVersion = await readFile(join(s.install.target, 'acme_internal_utils', '__init__.py'), 'utf8');
  t.is(installedVersion.trim(), '__version__ = "1.0.0"', 'the installed code is the internal one');
  t.true(s.server.logs.some((l) => l.msg === 'internal project: remote members not asked (dependency-confusion rule)' && l.project === PROJECT && l.reason === 'hosted'));
  const names = await rootNames(`${s.server.url}/simple/`);
  t.deepEqual(names.filter((n) => n === PROJECT), [PROJECT], 'the root page lists the name once (internal and upstream both hold it)');
});

test('dependency confusion, upstream page cached first: after the twine upload pip still gets 1.0.0, and the cached 99.0.0 is neither listed nor downloadable', async (t) => {
  if (!(await clients(t))) return;
  const d = await dists();
  const s = await cacheFirst();
  // Before the upload the name was public: the page was fetched, cached, merged.
  t.is(s.before?.status, 200);
  t.deepEqual(s.before?.page?.versions, ['99.0.0'], 'before the upload, the public project was served (as any public name)');
  t.is(s.hits.pages, 1, 'the upstream page was fetched once, before the upload');
  assertAttackFoiled(t, s, d);
  t.not(s.after.etag, s.before?.etag, 'the merged page changed (ETag) when the project became internal');

  // The remote still holds the cached page and its file rows; a file URL must not reach around the rule.
  const attackerWheel = wheelOf(d.attacker);
  for (const base of [`${s.server.url}`, `${s.server.url}/all`]) {
    const res = await fetch(`${base}/files/${attackerWheel.sha256}/${attackerWheel.filename}`);
    t.is(res.status, 404, `${base}/files/… of the 99.0.0 wheel is not served through the virtual repository`);
    await res.arrayBuffer();
  }
  t.is(fileRequests(s.up, attackerWheel), 0);
  // Through the remote itself (not merged) it is still there: the rule belongs to the virtual repository.
  t.deepEqual((await jsonPage(`${s.server.url}/pypi/simple/${PROJECT}/`)).page?.versions, ['99.0.0']);
});

test('`pydepot confusion report` after the upload-first attack: --no-check shows nothing yet; the check asks the upstream and lists acme-internal-utils 99.0.0; --json has the documented shape', async (t) => {
  if (!(await clients(t))) return;
  const d = await dists();
  const s = await uploadFirst();
  const report = (args: string[]) => confusionReportWithCli(s.server.storage, s.config, args);

  const unchecked = await report(['--no-check']);
  t.is(unchecked.code, 0, describe(unchecked));
  t.is(unchecked.stdout.trim(), 'No upstream project uses an internal name.', 'nothing was recorded: the server never asked the upstream');
  t.is(upstreamHits(s.up, PROJECT).pages, 0, '--no-check does not ask the upstream');

  const checked = await report([]);
  t.is(checked.code, 0, describe(checked));
  t.regex(checked.stderr, /^all: checked 1 internal name upstream$/m, describe(checked));
  t.regex(checked.stdout, /^acme-internal-utils {2}on pypi {2}\(hosted internally; never merged\) {2}first seen \S+, last seen \S+$/m, describe(checked));
  t.regex(checked.stdout, /^ {2}99\.0\.0 {2}first seen \S+$/m, describe(checked));
  t.is(upstreamHits(s.up, PROJECT).pages, 1, 'the check asked the upstream for the page once');
  t.is(upstreamHits(s.up, PROJECT).files, 0, 'and never for a file');

  const json = await report(['--no-check', '--json']);
  t.is(json.code, 0, describe(json));
  const records = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
  t.is(records.length, 1, json.stdout);
  const [r] = records as [{ remote: string; project: string; reason: string; firstSeen: string; lastSeen: string; versions: Array<{ version: string; firstSeen: string }> }];
  t.deepEqual(Object.keys(r).sort(), ['firstSeen', 'lastSeen', 'project', 'reason', 'remote', 'versions']);
  t.like(r, { remote: 'pypi', project: PROJECT, reason: 'hosted' });
  t.false(Number.isNaN(Date.parse(r.firstSeen)), `firstSeen is a date: ${r.firstSeen}`);
  t.false(Number.isNaN(Date.parse(r.lastSeen)), `lastSeen is a date: ${r.lastSeen}`);
  t.deepEqual(r.versions.map((v) => v.version), ['99.0.0']);
  t.deepEqual(Object.keys(r.versions[0]!).sort(), ['firstSeen', 'version']);
  t.false(Number.isNaN(Date.parse(r.versions[0]!.firstSeen)));

  // What the CLI cached in the shared storage changes nothing for clients.
  const after = await jsonPage(`${s.server.url}/simple/${PROJECT}/`);
  t.deepEqual(after.page?.versions, ['1.0.0']);
  const attackerWheel = wheelOf(d.attacker);
  const file = await fetch(`${s.server.url}/files/${attackerWheel.sha256}/${attackerWheel.filename}`);
  t.is(file.status, 404, 'the 99.0.0 wheel cannot be fetched through /files/ either');
  await file.arrayBuffer();
});

test('`pydepot confusion report` after the cache-first attack: the server recorded the squat itself (--no-check lists it), warned once, and counts it in /-/metrics', async (t) => {
  if (!(await clients(t))) return;
  const s = await cacheFirst();
  const report = (args: string[]) => confusionReportWithCli(s.server.storage, s.config, args);

  const unchecked = await report(['--no-check']);
  t.is(unchecked.code, 0, describe(unchecked));
  t.regex(unchecked.stdout, /^acme-internal-utils {2}on pypi {2}\(hosted internally; never merged\)/m, describe(unchecked));
  t.regex(unchecked.stdout, /^ {2}99\.0\.0 {2}first seen \S+$/m, describe(unchecked));

  const json = JSON.parse((await mustSucceed('confusion report --json', report(['--no-check', '--json']))).stdout) as Array<{ remote: string; project: string; reason: string; versions: Array<{ version: string }> }>;
  t.deepEqual(json.map((r) => [r.remote, r.project, r.reason, r.versions.map((v) => v.version)]), [['pypi', PROJECT, 'hosted', ['99.0.0']]]);

  const pagesBefore = upstreamHits(s.up, PROJECT).pages;
  const checked = await report([]);
  t.is(checked.code, 0, describe(checked));
  t.regex(checked.stdout, /^acme-internal-utils {2}on pypi/m);
  t.is(upstreamHits(s.up, PROJECT).pages, pagesBefore, 'the check honours the remote cache TTL (600 s): the upstream was not asked again');

  const warnings = s.server.logs.filter((l) => l.level === 40 && l.project === PROJECT && /holds a project whose name is internal/.test(String(l.msg)));
  t.is(warnings.length, 1, 'one warning for the squatted name');
  t.like(warnings[0], { remote: 'pypi', versions: ['99.0.0'], reason: 'hosted' });

  const metrics = await (await fetch(`${s.server.url}/-/metrics`)).text();
  t.regex(metrics, /^pydepot_confusion_squatted_projects 1$/m);
  const skipped = /^pydepot_confusion_upstream_skipped_total\{repo="all",reason="hosted"\} (\d+)$/m.exec(metrics);
  t.truthy(skipped, metrics);
  t.true(Number(skipped?.[1]) >= 1);
});

// --- internal patterns, mergeUpstream, collisions ---------------------------------------

test('with internal: ["acme-*"] and no local upload, the upstream acme-secret is not served at all (404, pip fails) and the upstream is never asked for it', async (t) => {
  if (!(await clients(t))) return;
  const d = await dists();
  const up = await FakeUpstream.start(t);
  up.addProject('acme-secret', [{ dist: d.secret }]);
  up.addProject('idna', [{ dist: d.idna }]);
  const config = mergedConfig(up, { internal: ['acme-*'] });
  const s = await startTestServer(t, config);

  for (const base of [`${s.url}/simple`, `${s.url}/all/simple`]) {
    t.is((await jsonPage(`${base}/acme-secret/`)).status, 404, `${base}/acme-secret/ (JSON)`);
  }
  const html = await htmlPage(`${s.url}/simple/acme-secret/`);
  t.is(html.status, 404);
  t.regex(html.html, /Project 'acme-secret' is not in repository 'all'/);

  const r = await pipInstall(t, `${s.url}/simple/`, ['acme-secret']);
  t.not(r.pip.code, 0, describe(r.pip));
  t.regex(r.pip.stderr, /No matching distribution found for acme-secret/, describe(r.pip));
  t.deepEqual(r.installed, {});
  t.deepEqual(upstreamHits(up, 'acme-secret'), { pages: 0, files: 0 }, 'the upstream was not asked for acme-secret');

  // The pattern keeps nothing else out: a public name is served, and the root lists it without acme-secret.
  t.deepEqual((await jsonPage(`${s.url}/simple/idna/`)).page?.versions, ['3.7']);
  const names = await rootNames(`${s.url}/simple/`);
  t.true(names.includes('idna'), names.join(' '));
  t.false(names.includes('acme-secret'), `the root page does not list the upstream acme-secret: ${names.join(' ')}`);

  // Read through the remote itself, the page is fetched, and recorded as a squat of the pattern.
  t.deepEqual((await jsonPage(`${s.url}/pypi/simple/acme-secret/`)).page?.versions, ['5.0']);
  const report = await confusionReportWithCli(s.storage, config, ['--no-check', '--json']);
  t.is(report.code, 0, describe(report));
  const records = JSON.parse(report.stdout) as Array<{ remote: string; project: string; reason: string; versions: Array<{ version: string }> }>;
  t.deepEqual(records.map((r) => [r.remote, r.project, r.reason, r.versions.map((v) => v.version)]), [['pypi', 'acme-secret', 'internal-pattern', ['5.0']]]);
});

test('with mergeUpstream: [acme-internal-utils] (spelled Acme_Internal.Utils) both 1.0.0 and 99.0.0 are listed (JSON and HTML, PEP 440 order, upstream attributes kept), the internal file wins a filename collision, and pip installs 99.0.0', async (t) => {
  if (!(await clients(t))) return;
  const d = await dists();
  const up = await FakeUpstream.start(t);
  const [attackerWheel, attackerSdist] = d.attacker as [BuiltDist, BuiltDist];
  up.addProject(PROJECT, [
    { dist: attackerWheel, requiresPython: '>=3.8' },
    { dist: attackerSdist, requiresPython: '>=3.8' },
    // 1.0.0's wheel also exists upstream with other bytes: the first member (internal) wins.
    { dist: d.upstreamCopy },
    { dist: d.upstreamRc, yanked: 'bad rc' },
  ]);
  const s = await startTestServer(t, mergedConfig(up, { mergeUpstream: ['Acme_Internal.Utils'] }));
  const upload = await twineUpload(t, `${s.url}/internal/`, d.internal);
  t.is(upload.code, 0, describe(upload));

  const internalWheel = wheelOf(d.internal);
  const listed = [...d.internal, ...d.attacker, d.upstreamRc];
  const json = await jsonPage(`${s.url}/simple/${PROJECT}/`);
  t.is(json.status, 200);
  t.regex(json.contentType ?? '', /^application\/vnd\.pypi\.simple\.v1\+json/);
  t.deepEqual(json.page?.versions, ['1.0.0rc1', '1.0.0', '99.0.0'], 'PEP 700 versions of both members, in PEP 440 order');
  const files = new Map(json.page?.files.map((f) => [f.filename, f]));
  t.deepEqual([...files.keys()].sort(), listed.map((x) => x.filename).sort(), 'each filename once');
  t.is(files.get(internalWheel.filename)?.hashes.sha256, internalWheel.sha256, 'on the same filename the earlier member (internal) wins');
  t.like(files.get(attackerWheel.filename), { hashes: { sha256: attackerWheel.sha256 }, 'requires-python': '>=3.8' });
  t.like(files.get(d.upstreamRc.filename), { yanked: 'bad rc' });

  const html = await htmlPage(`${s.url}/simple/${PROJECT}/`);
  t.is(html.status, 200);
  t.regex(html.contentType ?? '', /^text\/html/);
  for (const x of listed) t.true(html.html.includes(`#sha256=${x.sha256}"`) && html.html.includes(`>${x.filename}<`), `HTML lists ${x.filename}`);
  t.false(html.html.includes(d.upstreamCopy.sha256), 'the upstream copy of the colliding filename is not listed');
  t.regex(html.html, new RegExp(`#sha256=${attackerWheel.sha256}"[^>]* data-requires-python="&gt;=3\\.8"`));
  t.regex(html.html, new RegExp(`#sha256=${d.upstreamRc.sha256}"[^>]* data-yanked="bad rc"`));

  const r = await pipInstall(t, `${s.url}/simple/`, [PROJECT]);
  t.is(r.pip.code, 0, describe(r.pip));
  t.deepEqual(r.installed, { [PROJECT]: '99.0.0' }, 'merged on purpose: pip takes the highest version');
  t.is(fileRequests(up, attackerWheel), 1, 'the 99.0.0 wheel came from the upstream, once');
  t.is(fileRequests(up, d.upstreamCopy), 0);
  t.is(fileRequests(up, d.upstreamRc), 0);
});

test('a local and a remote project that do not collide: pip installs the internal acme-requests and its public dependencies requests and idna in one command', async (t) => {
  if (!(await clients(t))) return;
  const d = await dists();
  const up = await FakeUpstream.start(t);
  up.addProject('requests', [{ dist: d.requestsOld }, { dist: d.requests }]);
  up.addProject('idna', [{ dist: d.idna }]);
  const s = await startTestServer(t, mergedConfig(up));
  const upload = await twineUpload(t, `${s.url}/internal/`, [d.acmeRequests]);
  t.is(upload.code, 0, describe(upload));

  const r = await pipInstall(t, `${s.url}/simple/`, ['acme-requests']);
  t.is(r.pip.code, 0, describe(r.pip));
  assertIsolated(t, r.pip);
  t.deepEqual(r.installed, { 'acme-requests': '1.0', requests: '2.32.0', idna: '3.7' });
  t.is(upstreamHits(up, 'acme-requests').pages, 0, 'the internal name was not asked upstream');
  t.is(fileRequests(up, d.requests), 1);
  t.is(fileRequests(up, d.idna), 1);
  const names = await rootNames(`${s.url}/simple/`);
  for (const n of ['acme-requests', 'requests', 'idna']) t.true(names.includes(n), `the root page lists ${n}: ${names.join(' ')}`);
});

// --- uploadTo -------------------------------------------------------------------------

test('twine upload to /all/ with uploadTo: internal lands in internal and pip installs it from /simple/; without uploadTo twine fails with 405 "does not accept uploads"', async (t) => {
  if (!(await clients(t))) return;
  const d = await dists();
  const up = await FakeUpstream.start(t);

  const s = await startTestServer(t, mergedConfig(up, { uploadTo: 'internal' }));
  const ok = await twineUpload(t, `${s.url}/all/`, [d.deploy]);
  t.is(ok.code, 0, describe(ok));
  const internalPage = await htmlPage(`${s.url}/internal/simple/acme-deploy/`);
  t.is(internalPage.status, 200);
  t.true(internalPage.html.includes(`#sha256=${d.deploy.sha256}`) && internalPage.html.includes(`>${d.deploy.filename}<`), internalPage.html);
  const r = await pipInstall(t, `${s.url}/simple/`, ['acme-deploy']);
  t.is(r.pip.code, 0, describe(r.pip));
  t.deepEqual(r.installed, { 'acme-deploy': '0.1' });
  t.is(upstreamHits(up, 'acme-deploy').pages, 0, 'uploaded through all, the project is internal: the upstream is not asked');

  const plain = await startTestServer(t, mergedConfig(up));
  const refused = await twineUpload(t, `${plain.url}/all/`, [d.deploy]);
  t.not(refused.code, 0, describe(refused));
  const out = `${refused.stdout}\n${refused.stderr}`;
  t.regex(out, /405/, describe(refused));
  t.regex(out, /does not accept uploads/, describe(refused));
  t.regex(out, /uploadTo/, `the reason names the fix: ${describe(refused)}`);
  t.is((await htmlPage(`${plain.url}/internal/simple/acme-deploy/`)).status, 404, 'nothing was stored');
});

// --- nesting ---------------------------------------------------------------------------

test('nested virtual repositories: the internal 1.0.0 wins over the upstream 99.0.0 through an outer repository, whether the local member is nested or both are', async (t) => {
  if (!(await clients(t))) return;
  const d = await dists();
  const up = await FakeUpstream.start(t);
  up.addProject(PROJECT, d.attacker.map((dist) => ({ dist })));
  const config = {
    defaultRepository: 'outer',
    repositories: {
      internal: { type: 'local', upload: ['ci'] },
      // indexTtl 0: any read of the remote's page would revalidate it upstream, and show in the counts.
      pypi: { type: 'remote', url: up.url, indexTtl: 0, timeout: 5 },
      team: { type: 'virtual', members: ['internal'] },
      // The local member only inside a nested virtual repository, the remote a direct member.
      outer: { type: 'virtual', members: ['team', 'pypi'] },
      inner: { type: 'virtual', members: ['internal', 'pypi'] },
      // Both inside a nested one.
      deep: { type: 'virtual', members: ['inner'] },
    },
  };
  const s = await startTestServer(t, config);
  // The remote caches the attacker's page first (read through the remote itself).
  t.deepEqual((await jsonPage(`${s.url}/pypi/simple/${PROJECT}/`)).page?.versions, ['99.0.0']);
  const upload = await twineUpload(t, `${s.url}/internal/`, d.internal);
  t.is(upload.code, 0, describe(upload));
  const before = upstreamHits(up, PROJECT);
  t.deepEqual(before, { pages: 1, files: 0 });

  for (const repo of ['outer', 'deep', 'inner']) {
    t.deepEqual((await jsonPage(`${s.url}/${repo}/simple/${PROJECT}/`)).page?.versions, ['1.0.0'], `/${repo}/simple/ lists the internal release only`);
  }
  const [viaDefault, viaDeep] = await Promise.all([
    pipInstall(t, `${s.url}/simple/`, [PROJECT]),
    pipInstall(t, `${s.url}/deep/simple/`, [PROJECT]),
  ]);
  t.is(viaDefault.pip.code, 0, describe(viaDefault.pip));
  t.deepEqual(viaDefault.installed, { [PROJECT]: '1.0.0' }, 'through /simple/ (outer = [team = [internal], pypi])');
  t.is(viaDeep.pip.code, 0, describe(viaDeep.pip));
  t.deepEqual(viaDeep.installed, { [PROJECT]: '1.0.0' }, 'through /deep/simple/ (deep = [inner = [internal, pypi]])');
  t.deepEqual(upstreamHits(up, PROJECT), before, 'no virtual repository asked the remote for the internal project');
});

// --- a member failing -------------------------------------------------------------------

test('with the upstream down and nothing cached, pip still installs internal packages through /simple/, even one whose name merges upstream files', async (t) => {
  if (!(await clients(t))) return;
  const d = await dists();
  const up = await FakeUpstream.start(t);
  const s = await startTestServer(t, mergedConfig(up, { mergeUpstream: ['acme-shared'] }));
  const upload = await twineUpload(t, `${s.url}/internal/`, [wheelOf(d.internal), d.shared]);
  t.is(upload.code, 0, describe(upload));
  await up.stop();

  // acme-internal-utils: the remote is not even asked; acme-shared: it is asked, fails, and is left out.
  const r = await pipInstall(t, `${s.url}/simple/`, [PROJECT, 'acme-shared']);
  t.is(r.pip.code, 0, describe(r.pip));
  t.deepEqual(r.installed, { [PROJECT]: '1.0.0', 'acme-shared': '1.0' });

  const shared = await jsonPage(`${s.url}/simple/acme-shared/`);
  t.is(shared.status, 200);
  t.deepEqual(shared.page?.versions, ['1.0']);
  const names = await rootNames(`${s.url}/simple/`);
  t.deepEqual(names.filter((n) => n.startsWith('acme-')).sort(), ['acme-internal-utils', 'acme-shared'], 'the root page lists the internal names');
  t.true(s.logs.some((l) => l.msg === 'member left out of the project list' && l.member === 'pypi'));

  // A public-only name has no member left that can answer: the upstream's failure is the answer.
  const pub = await fetch(`${s.url}/simple/requests/`);
  t.true(pub.status === 502 || pub.status === 504, `a public name answers the upstream failure: ${pub.status}`);
  await pub.arrayBuffer();
});

// --- the report's machine-readable output -------------------------------------------

/** Logs of a command whose stdout is machine-readable go to stderr. */
test('`pydepot confusion report --json` with its check prints one JSON document on stdout, its warnings on stderr', async (t) => {
  const d = await dists();
  const up = await FakeUpstream.start(t);
  up.addProject(PROJECT, d.attacker.map((dist) => ({ dist })));
  const config = mergedConfig(up);
  const s = await startTestServer(t, config);
  const [wheel] = d.internal as [BuiltDist];
  const res = await upload(`${s.url}/internal/`, wheel, PROJECT, '1.0.0');
  t.is(res.status, 200, await res.text());

  const r = await confusionReportWithCli(s.storage, config, ['--json']);
  t.is(r.code, 0, describe(r));
  t.notRegex(r.stdout, /"level":\d+/, `no log lines on stdout: ${describe(r)}`);
  let parsed: unknown = null;
  t.notThrows(() => {
    parsed = JSON.parse(r.stdout);
  }, `stdout is one JSON document: ${describe(r)}`);
  t.like((parsed as unknown[] | null)?.[0], { project: PROJECT, versions: [{ version: '99.0.0' }] });
  t.regex(r.stderr, /holds a project whose name is internal/, 'the squat warning went to stderr');
});
