/**
 * The cooldown over HTTP, with a fake upstream that serves upload-times and a
 * clock the tests move: what pages list, when they change, how long they may
 * be cached, what still downloads, and exemptions made with the CLI while the
 * server runs.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import { pydepot } from '../helpers/cli.ts';
import type { RunResult } from '../helpers/clients.ts';
import { TestClock } from '../helpers/clock.ts';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream, type FakeUpstreamOptions } from '../helpers/fake-upstream.ts';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';
import { readZip, X86 } from '../helpers/wheelhouse.ts';

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const iso = (ms: number) => new Date(ms).toISOString();

type JsonPage = { files: { filename: string; 'upload-time': string | null }[]; versions: string[] };

interface Setup {
  s: TestServer;
  up: FakeUpstream;
  clock: TestClock;
  raw: Record<string, unknown>;
  old: BuiltDist[];
  fresh: BuiltDist;
  /** When the fresh wheel was uploaded upstream. */
  freshAt: number;
}

/**
 * Upstream `acme`: 1.0 (wheel and sdist) a month old; 2.0 (a wheel) uploaded
 * an hour before the clock's start. `pypi` has a 7-day cooldown unless
 * `repos` says otherwise.
 */
async function setup(t: ExecutionContext, repos?: (upUrl: string) => Record<string, unknown>, upOpts: FakeUpstreamOptions = {}): Promise<Setup> {
  const clock = new TestClock();
  const up = await FakeUpstream.start(t, upOpts);
  const old = [await buildWheel({ name: 'acme', version: '1.0' }), await buildSdist({ name: 'acme', version: '1.0' })];
  const fresh = await buildWheel({ name: 'acme', version: '2.0' });
  const freshAt = clock.now() - HOUR;
  up.addProject('acme', [
    ...old.map((dist) => ({ dist, uploadTime: iso(clock.now() - 30 * DAY) })),
    { dist: fresh, uploadTime: iso(freshAt) },
  ]);
  const raw = { repositories: repos?.(up.url) ?? { pypi: { type: 'remote', url: up.url, timeout: 2, cooldown: '7d', indexMaxAge: 3600 } } };
  const s = await startTestServer(t, raw, undefined, { clock: clock.now });
  return { s, up, clock, raw, old, fresh, freshAt };
}

async function jsonPage(s: TestServer, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${s.url}${path}`, { headers: { Accept: JSON_ACCEPT, ...headers } });
  const text = await res.text();
  return {
    status: res.status,
    etag: res.headers.get('etag'),
    cacheControl: res.headers.get('cache-control'),
    page: res.status === 200 ? (JSON.parse(text) as JsonPage) : null,
  };
}

const names = (p: JsonPage | null) => (p?.files ?? []).map((f) => f.filename).sort();

/** `pydepot cooldown ARGS` on the running server's storage, with its config. */
async function cooldownCli(t: ExecutionContext, x: Setup, args: string[]): Promise<RunResult> {
  const file = join(await tempDir(t, 'pydepot-cli-'), 'pydepot.yaml');
  await writeFile(file, stringifyYaml(x.raw));
  return pydepot(['cooldown', ...args, '--config', file, '--storage', x.s.storage]);
}

async function allow(t: ExecutionContext, x: Setup, args: string[]): Promise<string> {
  const r = await cooldownCli(t, x, ['allow', ...args]);
  t.is(r.code, 0, r.stderr);
  const id = /^exemption ([0-9a-f]+):/.exec(r.stdout)?.[1];
  if (!id) throw new Error(`no exemption id in: ${r.stdout}`);
  return id;
}

test('a fresh release is absent from JSON and HTML pages while the older one is listed, and appears when the clock passes the cooldown; the ETag changes at the crossing', async (t) => {
  const x = await setup(t);
  const { s, clock, old, fresh, freshAt } = x;
  const before = await jsonPage(s, '/pypi/simple/acme/');
  t.is(before.status, 200);
  t.deepEqual(names(before.page), old.map((d) => d.filename).sort());
  t.deepEqual(before.page!.versions, ['1.0'], 'a version goes from versions with its last file');
  const html = await (await fetch(`${s.url}/pypi/simple/acme/`)).text();
  t.true(html.includes(old[0]!.filename));
  t.false(html.includes(fresh.filename));

  clock.set(freshAt + WEEK - 1000);
  const justBefore = await jsonPage(s, '/pypi/simple/acme/', { 'If-None-Match': before.etag! });
  t.is(justBefore.status, 304, 'a second before the crossing, nothing has changed');

  clock.set(freshAt + WEEK);
  const after = await jsonPage(s, '/pypi/simple/acme/', { 'If-None-Match': before.etag! });
  t.is(after.status, 200);
  t.not(after.etag, before.etag);
  t.deepEqual(names(after.page), [...old.map((d) => d.filename), fresh.filename].sort());
  t.deepEqual(after.page!.versions, ['1.0', '2.0']);
  t.is(after.page!.files.find((f) => f.filename === fresh.filename)!['upload-time'], iso(freshAt), "the upstream's own upload-time is served");
  t.true((await (await fetch(`${s.url}/pypi/simple/acme/`)).text()).includes(fresh.filename));
});

test('max-age never reaches past the moment the next file leaves its cooldown', async (t) => {
  const { s, clock, freshAt } = await setup(t);
  const first = await jsonPage(s, '/pypi/simple/acme/');
  t.is(first.cacheControl, 'max-age=3600, public', 'a week away: indexMaxAge applies');
  clock.set(freshAt + WEEK - 100_500);
  t.is((await jsonPage(s, '/pypi/simple/acme/')).cacheControl, 'max-age=100, public');
  clock.set(freshAt + WEEK - 400);
  t.is((await jsonPage(s, '/pypi/simple/acme/')).cacheControl, 'max-age=0, must-revalidate');
  clock.set(freshAt + WEEK);
  t.is((await jsonPage(s, '/pypi/simple/acme/')).cacheControl, 'max-age=3600, public', 'nothing left to cross');
});

test("a hidden file's own URL still downloads (lock files keep installing), with the upstream's upload-time as Last-Modified", async (t) => {
  const { s, fresh, freshAt } = await setup(t);
  await jsonPage(s, '/pypi/simple/acme/');
  const res = await fetch(`${s.url}/pypi/files/${fresh.sha256}/${fresh.filename}`);
  t.is(res.status, 200);
  t.deepEqual(Buffer.from(await res.arrayBuffer()), fresh.bytes);
  t.is(res.headers.get('last-modified'), new Date(Math.floor(freshAt / 1000) * 1000).toUTCString());
});

test('a project whose every file is in its cooldown answers 404', async (t) => {
  const x = await setup(t);
  x.up.addProject('brand-new', [{ dist: await buildWheel({ name: 'brand-new', version: '0.1' }), uploadTime: iso(x.clock.now() - HOUR) }]);
  t.is((await jsonPage(x.s, '/pypi/simple/brand-new/')).status, 404);
  x.clock.advance(WEEK);
  t.is((await jsonPage(x.s, '/pypi/simple/brand-new/')).status, 200);
});

test('an exemption by name made with the CLI lists the files at once; revoked, they are hidden again at once; both are audited', async (t) => {
  const x = await setup(t);
  const { s, fresh } = x;
  t.false(names((await jsonPage(s, '/pypi/simple/acme/')).page).includes(fresh.filename));
  const id = await allow(t, x, ['Acme', '--until', '2d', '--reason', 'security fix we need now']);
  const exempted = await jsonPage(s, '/pypi/simple/acme/');
  t.true(names(exempted.page).includes(fresh.filename));
  t.is(exempted.cacheControl, 'max-age=3600, public');
  const listed = await cooldownCli(t, x, ['list']);
  t.regex(listed.stdout, new RegExp(`^${id}  active  acme  \\*  until .*security fix we need now`, 'm'));

  const revoked = await cooldownCli(t, x, ['revoke', id]);
  t.is(revoked.code, 0, revoked.stderr);
  t.false(names((await jsonPage(s, '/pypi/simple/acme/')).page).includes(fresh.filename));
  t.is((await cooldownCli(t, x, ['revoke', id])).code, 1, 'revoked already');
  t.regex((await cooldownCli(t, x, ['list', '--all'])).stdout, new RegExp(`^${id}  revoked  acme`, 'm'));

  const audit = await pydepot(['audit', '--storage', s.storage, '--json']);
  const entries = JSON.parse(audit.stdout) as { action: string; project: string; detail: string }[];
  t.deepEqual(entries.map((e) => [e.action, e.project]), [['cooldown-allow', 'acme'], ['cooldown-revoke', 'acme']]);
  t.regex(entries[0]!.detail, /security fix we need now/);
});

test('an exemption ends by itself when the clock passes its end; its end caps max-age', async (t) => {
  const x = await setup(t);
  await allow(t, x, ['acme', '--until', '30m', '--reason', 'hotfix']);
  const during = await jsonPage(x.s, '/pypi/simple/acme/');
  t.true(names(during.page).includes(x.fresh.filename));
  const [exemption] = JSON.parse((await cooldownCli(t, x, ['list', '--json'])).stdout) as { until: string }[];
  // The CLI counts 30m from the real clock; the server's started a little earlier.
  t.is(during.cacheControl, `max-age=${Math.floor((Date.parse(exemption!.until) - x.clock.now()) / 1000)}, public`);
  x.clock.advance(31 * 60_000);
  const afterwards = await jsonPage(x.s, '/pypi/simple/acme/', { 'If-None-Match': during.etag! });
  t.is(afterwards.status, 200);
  t.false(names(afterwards.page).includes(x.fresh.filename), 'no write was needed: the clock alone ended it');
});

test('an exemption by glob covers the projects it matches; by name==version only that version', async (t) => {
  const x = await setup(t);
  const other = await buildWheel({ name: 'acme-extra', version: '0.5' });
  const older = await buildWheel({ name: 'acme-extra', version: '0.4' });
  x.up.addProject('acme-extra', [{ dist: older, uploadTime: iso(x.clock.now() - 30 * DAY) }, { dist: other, uploadTime: iso(x.clock.now() - HOUR) }]);
  const id = await allow(t, x, ['acme-*', '--until', '1d', '--reason', 'our own fork on pypi']);
  t.true(names((await jsonPage(x.s, '/pypi/simple/acme-extra/')).page).includes(other.filename));
  t.false(names((await jsonPage(x.s, '/pypi/simple/acme/')).page).includes(x.fresh.filename), "'acme-*' does not name acme");
  await cooldownCli(t, x, ['revoke', id]);

  const third = await buildWheel({ name: 'acme', version: '3.0' });
  x.up.addProject('acme', [
    ...x.old.map((dist) => ({ dist, uploadTime: iso(x.clock.now() - 30 * DAY) })),
    { dist: x.fresh, uploadTime: iso(x.freshAt) },
    { dist: third, uploadTime: iso(x.clock.now() - 60_000) },
  ]);
  x.clock.advance(601_000); // past indexTtl: pydepot sees the new upstream page
  await allow(t, x, ['acme==2', '--until', '1d', '--reason', 'pinned by the release']);
  const p = await jsonPage(x.s, '/pypi/simple/acme/');
  t.true(names(p.page).includes(x.fresh.filename));
  t.false(names(p.page).includes(third.filename));
  t.deepEqual(p.page!.versions, ['1.0', '2.0']);
});

test('cooldown allow refuses what it cannot read, and warns about a glob that matches no known project', async (t) => {
  const x = await setup(t);
  await jsonPage(x.s, '/pypi/simple/acme/');
  const unknown = await cooldownCli(t, x, ['allow', 'zzz-*', '--until', '1d', '--reason', 'r']);
  t.is(unknown.code, 0);
  t.regex(unknown.stderr, /warning: no project pydepot knows .* matches 'zzz-\*'/);
  const known = await cooldownCli(t, x, ['allow', 'ac*', '--until', '1d', '--reason', 'r']);
  t.notRegex(known.stderr, /warning/);
  for (const [args, message] of [
    [['acme', '--until', 'soon', '--reason', 'r'], /--until soon: expected a duration/],
    [['acme', '--until', '2020-01-01', '--reason', 'r'], /not in the future/],
    [['acme==not a version', '--until', '1d', '--reason', 'r'], /not a PEP 440 version/],
    [['acme-*==1.0', '--until', '1d', '--reason', 'r'], /a version goes with one project name/],
    [['acme', '--until', '1d', '--reason', 'r', '--repo', 'nope'], /no repository named 'nope'/],
    [['acme', '--until', '1d', '--reason', ' '], /--reason: say why/],
  ] as [string[], RegExp][]) {
    const r = await cooldownCli(t, x, ['allow', ...args]);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, message);
  }
});

test('HTML-only upstreams: the cooldown counts from when pydepot first listed each file, and that time is never served as an upload-time', async (t) => {
  const x = await setup(t, undefined, { format: 'html' });
  const { s, up, clock } = x;
  t.is((await jsonPage(s, '/pypi/simple/acme/')).status, 404, 'every file was first seen just now');
  clock.advance(3 * DAY);
  const later = await buildWheel({ name: 'acme', version: '3.0' });
  up.addProject('acme', [...x.old.map((dist) => ({ dist })), { dist: x.fresh }, { dist: later }]);
  t.is((await jsonPage(s, '/pypi/simple/acme/')).status, 404);
  clock.advance(4 * DAY);
  const week = await jsonPage(s, '/pypi/simple/acme/');
  t.deepEqual(names(week.page), [...x.old.map((d) => d.filename), x.fresh.filename].sort(), 'seen a week ago: listed; 3.0, seen 4 days ago, is not');
  t.true(week.page!.files.every((f) => f['upload-time'] === null));
  clock.advance(3 * DAY);
  t.true(names((await jsonPage(s, '/pypi/simple/acme/')).page).includes(later.filename));
});

test('through a virtual repository with a cooldown: its remote members are delayed, its local files never; the remote alone is not', async (t) => {
  const x = await setup(t, (url) => ({
    internal: { type: 'local', upload: ['ci'] },
    pypi: { type: 'remote', url, timeout: 2 },
    all: { type: 'virtual', members: ['internal', 'pypi'], cooldown: '7d', mergeUpstream: ['acme'] },
  }));
  const mine = await buildWheel({ name: 'acme', version: '2.1+internal' });
  t.is((await upload(`${x.s.url}/internal/`, mine, 'acme', '2.1+internal')).status, 200);
  const merged = await jsonPage(x.s, '/all/simple/acme/');
  t.deepEqual(names(merged.page), [...x.old.map((d) => d.filename), mine.filename].sort(), 'the fresh local upload is listed, the fresh upstream file is not');
  t.true(names((await jsonPage(x.s, '/pypi/simple/acme/')).page).includes(x.fresh.filename), 'the remote has no cooldown of its own');
  // An exemption scoped to the virtual repository applies through it.
  await allow(t, x, ['acme', '--until', '1d', '--reason', 'r', '--repo', 'all']);
  t.true(names((await jsonPage(x.s, '/all/simple/acme/')).page).includes(x.fresh.filename));
  const metrics = await (await fetch(`${x.s.url}/-/metrics`)).text();
  t.regex(metrics, /pydepot_cooldown_exemption_uses_total\{repo="all"\} [1-9]/);
});

test("a virtual repository's cooldown applies through an enclosing one, and its hidden files' URLs still download there", async (t) => {
  const x = await setup(t, (url) => ({
    pypi: { type: 'remote', url, timeout: 2 },
    cooled: { type: 'virtual', members: ['pypi'], cooldown: '7d' },
    outer: { type: 'virtual', members: ['cooled'] },
  }));
  t.false(names((await jsonPage(x.s, '/outer/simple/acme/')).page).includes(x.fresh.filename));
  const res = await fetch(`${x.s.url}/outer/files/${x.fresh.sha256}/${x.fresh.filename}`);
  t.is(res.status, 200);
  t.deepEqual(Buffer.from(await res.arrayBuffer()), x.fresh.bytes);
  x.clock.advance(WEEK);
  t.true(names((await jsonPage(x.s, '/outer/simple/acme/')).page).includes(x.fresh.filename));
});

test('resolution and the wheelhouse export see what pages list: the older release is chosen; the gauge counts the hidden file', async (t) => {
  const x = await setup(t);
  const res = await fetch(`${x.s.url}/pypi/-/wheelhouse`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ requirements: 'acme\n', targets: [X86] }),
  });
  t.is(res.status, 200, await res.clone().text());
  const path = join(await tempDir(t), 'wh.zip');
  await writeFile(path, Buffer.from(await res.arrayBuffer()));
  const entries = await readZip(path);
  t.deepEqual(entries.filter((e) => e.name.startsWith('wheelhouse/')).map((e) => e.name), [`wheelhouse/${x.old[0]!.filename}`]);
  const metrics = await (await fetch(`${x.s.url}/-/metrics`)).text();
  t.regex(metrics, /pydepot_cooldown_hidden_files\{repo="pypi"\} 1/);
});
