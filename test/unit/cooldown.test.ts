import test from 'ava';
import type { IndexFile, ProjectPage } from '../../src/pypi/pages.ts';
import { buildSchedule, compileExemption, fileClock, judge, visiblePage, type Exemption } from '../../src/repos/cooldown.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-10T12:00:00Z');
const WEEK = 7 * DAY;
const iso = (ms: number) => new Date(ms).toISOString();

function file(filename: string, uploadTime: string | null): IndexFile {
  return { filename, path: `files/x/${filename}`, sha256: 'a'.repeat(64), size: 1, requiresPython: null, uploadTime, yanked: false, metadataSha256: null };
}

/**
 * acme 1.0: two files a year old; acme 2.0: a wheel 10 days old and a wheel
 * added to the same release 2 days ago (the per-file case); acme 3.0: one hour old.
 */
function page(): ProjectPage {
  return {
    name: 'acme', displayName: 'acme',
    files: [
      file('acme-1.0.tar.gz', iso(NOW - 365 * DAY)),
      file('acme-1.0-py3-none-any.whl', iso(NOW - 365 * DAY)),
      file('acme-2.0-cp311-cp311-manylinux_2_17_x86_64.whl', iso(NOW - 10 * DAY)),
      file('acme-2.0-cp312-cp312-manylinux_2_17_x86_64.whl', iso(NOW - 2 * DAY)),
      file('acme-3.0-py3-none-any.whl', iso(NOW - 3_600_000)),
    ],
    versions: ['0.9', '1.0', '2.0', '3.0'],
  };
}

const schedule = () => buildSchedule(page().files, new Map(), NOW);
const allow = (project: string, opts: { version?: string; until?: number; repo?: string } = {}): Exemption =>
  compileExemption({ id: `x-${project}-${opts.version ?? ''}`, project, version: opts.version ?? null, repo: opts.repo ?? null, until: iso(opts.until ?? NOW + DAY) });

test('files are judged one by one by their upload-time: a fresh file of an old release is hidden, its older sibling listed', (t) => {
  const v = visiblePage(page(), schedule(), WEEK, [], NOW);
  t.deepEqual(v.page!.files.map((f) => f.filename), [
    'acme-1.0.tar.gz', 'acme-1.0-py3-none-any.whl', 'acme-2.0-cp311-cp311-manylinux_2_17_x86_64.whl',
  ]);
  t.is(v.hidden, 2);
  t.deepEqual(v.page!.versions, ['0.9', '1.0', '2.0'], '3.0 goes with its last file; 2.0 keeps one; 0.9 lists no files and stays');
});

test('judge agrees with the filtered page and says when the next file leaves its cooldown', (t) => {
  const v = judge(schedule(), WEEK, [], NOW);
  t.is(v.visible, 3);
  t.is(v.hidden, 2);
  t.is(v.changesAt, NOW - 2 * DAY + WEEK, 'the 2.0 wheel uploaded 2 days ago is listed 5 days from now');
});

test('the key changes exactly when a file crosses the line, and a file is listed at the very moment its cooldown ends', (t) => {
  const s = schedule();
  const crossing = NOW - 2 * DAY + WEEK;
  t.is(judge(s, WEEK, [], crossing - 1).key, judge(s, WEEK, [], NOW).key);
  t.not(judge(s, WEEK, [], crossing).key, judge(s, WEEK, [], crossing - 1).key);
  t.is(visiblePage(page(), s, WEEK, [], crossing).page!.files.length, 4);
  t.is(judge(s, WEEK, [], crossing).changesAt, NOW - 3_600_000 + WEEK);
  t.is(judge(s, WEEK, [], NOW + 30 * DAY).changesAt, null, 'once every file is old, nothing changes by the clock');
});

test('a project whose every file is in its cooldown has no page', (t) => {
  const young: ProjectPage = { name: 'new', displayName: 'new', files: [file('new-0.1.tar.gz', iso(NOW - DAY))], versions: ['0.1'] };
  const s = buildSchedule(young.files, new Map(), NOW);
  t.is(visiblePage(young, s, WEEK, [], NOW).page, null);
  t.like(judge(s, WEEK, [], NOW), { visible: 0, hidden: 1 });
});

test('without an upload-time the first-seen time is the clock; an unreadable upload-time counts as none', (t) => {
  t.is(fileClock('2026-01-01T00:00:00.123456Z', 5), Date.parse('2026-01-01T00:00:00.123Z'));
  t.is(fileClock(null, 5), 5);
  t.is(fileClock('yesterday', 5), 5);
  const html = [file('a-1.0.tar.gz', null), file('a-2.0.tar.gz', null), file('a-3.0.tar.gz', null)];
  const s = buildSchedule(html, new Map([['a-1.0.tar.gz', NOW - 30 * DAY], ['a-2.0.tar.gz', NOW - DAY]]), NOW);
  const v = judge(s, WEEK, [], NOW);
  t.is(v.visible, 1);
  t.is(v.hidden, 2, 'a file with no record of being seen counts as seen now');
});

test('an exemption by name lists every young file; by name==version only that version (PEP 440 equality)', (t) => {
  const all = visiblePage(page(), schedule(), WEEK, [allow('acme')], NOW);
  t.is(all.page!.files.length, 5);
  t.is(all.admitted, 2);
  t.deepEqual(all.exemptionsUsed, ['x-acme-']);
  const one = visiblePage(page(), schedule(), WEEK, [allow('acme', { version: '3' })], NOW);
  t.deepEqual(one.page!.files.map((f) => f.filename).filter((f) => f.startsWith('acme-3')), ['acme-3.0-py3-none-any.whl']);
  t.is(one.hidden, 1);
  t.deepEqual(one.page!.versions, ['0.9', '1.0', '2.0', '3.0']);
});

test('an exemption that ends before the file ages makes the page change at its end', (t) => {
  const ends = NOW + 3_600_000;
  const v = judge(schedule(), WEEK, [allow('acme', { until: ends })], NOW);
  t.is(v.hidden, 0);
  t.is(v.changesAt, ends);
  t.not(v.key, judge(schedule(), WEEK, [], NOW).key, 'an exemption in force changes the page token');
  const long = judge(schedule(), WEEK, [allow('acme', { until: NOW + 30 * DAY })], NOW);
  t.is(long.changesAt, null, 'outlasting every cooldown, it changes nothing more');
});

test('exemption patterns: names and globs match normalized names, as the internal patterns do', (t) => {
  t.true(compileExemption({ id: '1', project: 'Acme_Core', version: null, repo: null, until: iso(NOW) }).covers('acme-core'));
  const glob = compileExemption({ id: '2', project: 'acme-*', version: null, repo: null, until: iso(NOW) });
  t.true(glob.covers('acme-core'));
  t.false(glob.covers('acme'));
  t.false(compileExemption({ id: '3', project: 'acme', version: null, repo: null, until: iso(NOW) }).covers('acme-core'));
});
