/**
 * Upstream removals win (issue 13): after a revalidation, a file the upstream
 * deleted, every file of a project it deleted or quarantined, stops being
 * served (absent from pages, 410 at its URL), and `pydepot removed report`
 * lists the ones pydepot served; `keepRemoved: true` keeps the cached ones;
 * upstream yanks reach cached files.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import { pydepot } from '../helpers/cli.ts';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream, type UpstreamFile } from '../helpers/fake-upstream.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';

interface JsonPage {
  files: { filename: string; url: string; yanked: unknown }[];
  versions: string[];
  'project-status'?: { status: string; reason?: string };
}

interface Setup {
  s: TestServer;
  up: FakeUpstream;
  old: BuiltDist;
  oldSdist: BuiltDist;
  current: BuiltDist;
  repos: Record<string, unknown>;
}

async function setup(t: ExecutionContext, remote: Record<string, unknown> = {}): Promise<Setup> {
  const up = await FakeUpstream.start(t);
  const old = await buildWheel({ name: 'acme-lib', version: '1.0' });
  const oldSdist = await buildSdist({ name: 'acme-lib', version: '1.0' });
  const current = await buildWheel({ name: 'acme-lib', version: '2.0' });
  up.addProject('acme-lib', [{ dist: old }, { dist: oldSdist }, { dist: current }], { status: 'active' });
  // indexTtl 0: every page request revalidates.
  const repos = {
    pypi: { type: 'remote', url: up.url, indexTtl: 0, timeout: 5, ...remote },
    all: { type: 'virtual', members: ['pypi'] },
  };
  const s = await startTestServer(t, { repositories: repos, defaultRepository: 'all' });
  return { s, up, old, oldSdist, current, repos };
}

async function jsonPage(s: TestServer, repo = 'pypi', project = 'acme-lib'): Promise<{ status: number; page: JsonPage; etag: string | null }> {
  const res = await fetch(`${s.url}/${repo}/simple/${project}/`, { headers: { Accept: JSON_ACCEPT } });
  return { status: res.status, page: res.status === 200 ? ((await res.json()) as JsonPage) : (null as unknown as JsonPage), etag: res.headers.get('etag') };
}

function fileUrl(s: TestServer, d: BuiltDist, repo = 'pypi'): string {
  return `${s.url}/${repo}/files/${d.sha256}/${d.filename}`;
}

async function download(url: string): Promise<Response> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res;
}

/** The CLI against the server's storage and repositories. */
async function report(t: ExecutionContext, s: TestServer, repos: Record<string, unknown>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const config = join(s.storage, `cli-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(config, stringifyYaml({ storage: s.storage, repositories: repos, defaultRepository: 'all' }));
  const r = await pydepot(['removed', 'report', '--config', config, ...args]);
  t.is(r.code, 0, r.stderr);
  return r;
}

interface ReportEntry { repo: string; project: string; filename: string; sha256: string; cause: string; removedAt: string; lastDownload: string | null; cached: boolean }

test('a file deleted upstream: after revalidation absent from both page formats, 410 at its URL and .metadata (cached or not), listed by removed report with its last download', async (t) => {
  const { s, up, old, oldSdist, current, repos } = await setup(t);
  t.is((await jsonPage(s)).page.files.length, 3);
  const before = Date.now();
  t.is((await download(fileUrl(s, old))).status, 200, 'cached through pydepot');
  t.is((await download(fileUrl(s, old) + '.metadata')).status, 200);

  // The upstream deletes release 1.0 (a malware takedown).
  up.addProject('acme-lib', [{ dist: current }], { status: 'active' });
  const { page, status } = await jsonPage(s);
  t.is(status, 200);
  t.deepEqual(page.files.map((f) => f.filename), [current.filename]);
  t.deepEqual(page.versions, ['2.0']);
  const html = await (await fetch(`${s.url}/pypi/simple/acme-lib/`)).text();
  t.false(html.includes(old.filename));
  t.false(html.includes(oldSdist.filename));
  t.false((await (await fetch(`${s.url}/all/simple/acme-lib/`, { headers: { Accept: JSON_ACCEPT } })).text()).includes(old.filename), 'nor through the virtual repository');

  for (const url of [fileUrl(s, old), fileUrl(s, old) + '.metadata', fileUrl(s, oldSdist), fileUrl(s, old, 'all')]) {
    const res = await download(url);
    t.is(res.status, 410, url);
    t.regex(res.statusText, /was removed by the upstream http:\/\/127\.0\.0\.1:\d+\/simple\/acme-lib\/ on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; pydepot no longer serves it/);
  }
  t.is((await download(fileUrl(s, current))).status, 200, 'the rest is served as before');
  const metrics = await (await fetch(`${s.url}/-/metrics`)).text();
  t.regex(metrics, /pydepot_upstream_removals_total\{repo="pypi",cause="deleted"\} 2/);
  t.true(s.logs.some((l) => l.msg === 'upstream removed files; they are no longer served' && l.project === 'acme-lib' && l.files === 2));

  // The report lists what pydepot served: the wheel, with its last download; not the never-fetched sdist.
  const { stdout } = await report(t, s, repos, ['--json']);
  const entries = JSON.parse(stdout) as ReportEntry[];
  t.deepEqual(entries.map((e) => e.filename), [old.filename]);
  const e = entries[0]!;
  t.like(e, { repo: 'pypi', project: 'acme-lib', sha256: old.sha256, cause: 'deleted', cached: true });
  t.true(Date.parse(e.lastDownload!) >= Math.floor(before / 1000) * 1000 && Date.parse(e.lastDownload!) <= Date.now());
  t.true(Date.parse(e.removedAt) >= Date.parse(e.lastDownload!));
  const all = JSON.parse((await report(t, s, repos, ['--json', '--all'])).stdout) as ReportEntry[];
  t.deepEqual(all.map((x) => x.filename).sort(), [old.filename, oldSdist.filename].sort());
  const text = (await report(t, s, repos, ['--repo', 'pypi', '--since', '1h'])).stdout;
  t.regex(text, new RegExp(`acme-lib  ${old.filename.replace(/\./g, '\\.')}  deleted upstream  last downloaded \\S+Z  cached`));
  t.is((await report(t, s, repos, ['--since', '2999-01-01'])).stdout.trim(), 'No file that pydepot served or holds has been removed upstream.');

  // Listed again upstream: served again, and no longer in the report.
  up.addProject('acme-lib', [{ dist: old }, { dist: current }], { status: 'active' });
  t.is((await jsonPage(s)).page.files.length, 2);
  t.is((await download(fileUrl(s, old))).status, 200);
  t.deepEqual(JSON.parse((await report(t, s, repos, ['--json'])).stdout), []);
});

test('keepRemoved: true keeps serving the cached files the upstream removed, on pages and at their URL; uncached ones go', async (t) => {
  const { s, up, old, oldSdist, current, repos } = await setup(t, { keepRemoved: true });
  await jsonPage(s);
  t.is((await download(fileUrl(s, old))).status, 200);
  up.addProject('acme-lib', [{ dist: current }], { status: 'active' });
  const { page } = await jsonPage(s);
  t.deepEqual(page.files.map((f) => f.filename).sort(), [current.filename, old.filename].sort());
  t.deepEqual(page.versions, ['1.0', '2.0']);
  const res = await fetch(fileUrl(s, old));
  t.is(res.status, 200);
  t.true(Buffer.from(await res.arrayBuffer()).equals(old.bytes));
  t.is((await download(fileUrl(s, oldSdist))).status, 410, 'never cached: nothing to keep');
  t.true(s.logs.some((l) => l.msg === 'upstream removed files; the cached ones are still served (keepRemoved)'));
  // Still in the report: the operator sees what is kept.
  const entries = JSON.parse((await report(t, s, repos, ['--json'])).stdout) as ReportEntry[];
  t.deepEqual(entries.map((e) => e.filename), [old.filename]);
});

test('a quarantined project (PEP 792) serves nothing: status passed through, no files listed, every file URL 410, even cached, even with keepRemoved', async (t) => {
  const { s, up, old, current, repos } = await setup(t, { keepRemoved: true });
  await jsonPage(s);
  t.is((await download(fileUrl(s, current))).status, 200);
  up.addProject('acme-lib', [{ dist: old }, { dist: current }], { status: 'quarantined', reason: 'malware' });

  const { page } = await jsonPage(s);
  t.deepEqual(page.files, []);
  t.deepEqual(page.versions, []);
  t.deepEqual(page['project-status'], { status: 'quarantined', reason: 'malware' });
  const html = await (await fetch(`${s.url}/pypi/simple/acme-lib/`)).text();
  t.true(html.includes('<meta name="pypi:project-status" content="quarantined">'));
  t.true(html.includes('<meta name="pypi:project-status-reason" content="malware">'));
  t.false(html.includes('<a '));
  const viaVirtual = (await jsonPage(s, 'all')).page;
  t.deepEqual(viaVirtual.files, []);
  t.deepEqual(viaVirtual['project-status'], { status: 'quarantined', reason: 'malware' });

  for (const d of [current, old]) {
    const res = await download(fileUrl(s, d));
    t.is(res.status, 410);
    t.regex(res.statusText, /project 'acme-lib' was quarantined by the upstream http:\S+ \(PEP 792\)/);
  }
  const entries = JSON.parse((await report(t, s, repos, ['--json'])).stdout) as ReportEntry[];
  t.deepEqual(entries.map((e) => [e.filename, e.cause]), [[current.filename, 'quarantined']]);
  t.regex(await (await fetch(`${s.url}/-/metrics`)).text(), /pydepot_upstream_removals_total\{repo="pypi",cause="quarantined"\} 3/);
});

test('a project the upstream deletes (404): its files answer 410 and are reported', async (t) => {
  const { s, up, current, repos } = await setup(t, { negativeTtl: 0 });
  await jsonPage(s);
  t.is((await download(fileUrl(s, current))).status, 200);
  up.removeProject('acme-lib');
  t.is((await jsonPage(s)).status, 404);
  const res = await download(fileUrl(s, current));
  t.is(res.status, 410);
  t.regex(res.statusText, /project 'acme-lib' was removed by the upstream/);
  const entries = JSON.parse((await report(t, s, repos, ['--json'])).stdout) as ReportEntry[];
  t.deepEqual(entries.map((e) => [e.filename, e.cause]), [[current.filename, 'project-deleted']]);
});

test('an upstream yank reaches a file pydepot has cached; an un-yank too', async (t) => {
  const { s, up, old, oldSdist, current } = await setup(t);
  await jsonPage(s);
  t.is((await download(fileUrl(s, current))).status, 200);
  const files = (yanked: UpstreamFile['yanked']): UpstreamFile[] => [{ dist: old }, { dist: oldSdist }, { dist: current, yanked }];
  up.addProject('acme-lib', files('broken build'), { status: 'active' });
  const yanked = (await jsonPage(s)).page.files.find((f) => f.filename === current.filename)!;
  t.is(yanked.yanked, 'broken build');
  t.true((await (await fetch(`${s.url}/all/simple/acme-lib/`)).text()).includes('data-yanked="broken build"'));
  t.is((await download(fileUrl(s, current))).status, 200, 'a yanked file stays downloadable (PEP 592)');
  up.addProject('acme-lib', files(false), { status: 'active' });
  t.is((await jsonPage(s)).page.files.find((f) => f.filename === current.filename)!.yanked, false);
});

test('removed report: --repo must name a remote repository', async (t) => {
  const { s, repos } = await setup(t);
  const config = join(s.storage, 'bad.yaml');
  await writeFile(config, stringifyYaml({ storage: s.storage, repositories: repos, defaultRepository: 'all' }));
  const r = await pydepot(['removed', 'report', '--config', config, '--repo', 'all']);
  t.is(r.code, 1);
  t.regex(r.stderr, /--repo all: not a remote repository \(remote repositories: pypi\)/);
});
