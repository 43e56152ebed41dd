import test from 'ava';
import { compilePolicy, decideUpstream } from '../../src/repos/confusion.ts';
import { mergePages, mergeSortedLists } from '../../src/repos/merge.ts';
import type { IndexFile, ProjectPage, ProjectSummary } from '../../src/pypi/pages.ts';

const policy = compilePolicy(['acme-*', 'Corp_Secret', 'x?z', 'team-[ab]-*'], ['acme-requests']);

const CASES: [string, boolean, ReturnType<typeof decideUpstream>][] = [
  ['requests', false, { merge: true }],
  ['requests', true, { merge: false, reason: 'hosted' }],
  ['acme-utils', false, { merge: false, reason: 'internal-pattern' }],
  ['acme-utils', true, { merge: false, reason: 'hosted' }],
  ['acme-requests', true, { merge: true }],
  ['acme-requests', false, { merge: true }],
  ['corp-secret', false, { merge: false, reason: 'internal-pattern' }],
  ['xyz', false, { merge: false, reason: 'internal-pattern' }],
  ['xyyz', false, { merge: true }],
  ['team-a-tools', false, { merge: false, reason: 'internal-pattern' }],
  ['team-c-tools', false, { merge: true }],
  ['acme', false, { merge: true }],
];

for (const [name, hosted, expected] of CASES) {
  test(`decideUpstream(${name}, hosted=${hosted})`, (t) => {
    t.deepEqual(decideUpstream(name, hosted, policy), expected);
  });
}

function file(filename: string, sha256: string): IndexFile {
  return { filename, path: `files/${sha256}/${filename}`, sha256, size: 1, requiresPython: null, uploadTime: null, yanked: false, metadataSha256: null };
}

test('mergePages: first member wins a filename; versions merged in PEP 440 order; status dropped', (t) => {
  const a: ProjectPage = { name: 'p', displayName: 'P', files: [file('p-1.0-py3-none-any.whl', 'a1')], versions: ['1.0'] };
  const b: ProjectPage = {
    name: 'p', displayName: 'p', status: { status: 'archived', reason: null },
    files: [file('p-1.0-py3-none-any.whl', 'b1'), file('p-1.0rc1-py3-none-any.whl', 'b2')], versions: ['1.0rc1', '1.0'],
  };
  const m = mergePages([a, b])!;
  t.deepEqual(m.files.map((f) => f.sha256), ['a1', 'b2']);
  t.deepEqual(m.versions, ['1.0rc1', '1.0']);
  t.is(m.displayName, 'P');
  t.is(m.status, null);
  t.is(mergePages([b]), b, 'a single page is passed through untouched');
  t.is(mergePages([]), null);
});

async function* batches(names: string[], size: number): AsyncIterable<ProjectSummary[]> {
  for (let i = 0; i < names.length; i += size) yield names.slice(i, i + size).map((n) => ({ name: n, displayName: n }));
}

test('mergeSortedLists: sorted union without duplicates, whatever the batch boundaries', async (t) => {
  const a = ['a', 'c', 'd', 'x'];
  const b = ['b', 'c', 'x', 'y', 'z'];
  const c: string[] = [];
  const out: string[] = [];
  for await (const batch of mergeSortedLists([batches(a, 1), batches(b, 2), batches(c, 3)], 2)) {
    t.true(batch.length <= 2);
    out.push(...batch.map((p) => p.name));
  }
  t.deepEqual(out, ['a', 'b', 'c', 'd', 'x', 'y', 'z']);
});

test('mergeSortedLists handles 100,000 names in batches', async (t) => {
  const evens = Array.from({ length: 50_000 }, (_, i) => `p${String(i * 2).padStart(6, '0')}`);
  const odds = Array.from({ length: 50_000 }, (_, i) => `p${String(i * 2 + 1).padStart(6, '0')}`);
  let count = 0;
  let last = '';
  for await (const batch of mergeSortedLists([batches(evens, 5000), batches(odds, 5000)])) {
    for (const p of batch) {
      t.true(p.name > last);
      last = p.name;
      count++;
    }
  }
  t.is(count, 100_000);
});
