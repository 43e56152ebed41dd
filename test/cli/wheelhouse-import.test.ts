/**
 * `pydepot wheelhouse import`, in-process (test/helpers/cli.ts): a wheelhouse
 * exported (by `pydepot wheelhouse export`) from a server holding the graph of
 * test/helpers/wheelhouse.ts, imported into fresh storages, as a zip, as the
 * unzipped folder and as a flat --find-links folder; then what must not get
 * in (a conflict, an invalid wheel, a member altered after the export, one
 * missing) and the report of names that a remote serves too.
 *
 * One source server and one export for the file; every import has a storage
 * of its own.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import yazl from 'yazl';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/schema.ts';
import { InsufficientStorage } from '../../src/errors.ts';
import { createMetrics } from '../../src/metrics.ts';
import { Registry } from '../../src/repos/registry.ts';
import { openTestStorage } from '../helpers/test-backend.ts';
import type { BlobStore } from '../../src/storage/types.ts';
import { importWheelhouse, openWheelhouse } from '../../src/wheelhouse/import.ts';
import { pydepot, type CliOptions } from '../helpers/cli.ts';
import type { RunResult } from '../helpers/clients.ts';
import { buildWheel } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { getPage } from '../helpers/pip-like.ts';
import { LOCAL_ONLY, startTestServer, tempDir } from '../helpers/server.ts';
import { storageCounts } from '../helpers/storage.ts';
import { ARM, buildWheelhouseGraph, readZip, uploadGraph, X86, type ZipEntry } from '../helpers/wheelhouse.ts';

// --- One export for the file ---------------------------------------------------------

const teardowns: Array<() => unknown> = [];
const scope = { teardown: (fn: () => unknown) => void teardowns.push(fn) } as unknown as ExecutionContext;
test.after.always(async () => {
  for (const fn of teardowns.reverse()) await fn();
});

interface Fixture {
  dists: Awaited<ReturnType<typeof buildWheelhouseGraph>>;
  /** The exported zip, and its entries. */
  zip: string;
  entries: ZipEntry[];
  /** Files under wheelhouse/, by filename → sha256. */
  files: Map<string, string>;
}

async function makeFixture(t: ExecutionContext): Promise<Fixture> {
  const dists = await buildWheelhouseGraph();
  const s = await startTestServer(t);
  await uploadGraph(s.url, dists);
  const dir = await tempDir(t, 'pydepot-whi-src-');
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml(LOCAL_ONLY));
  const reqs = join(dir, 'requirements.txt');
  await writeFile(reqs, 'acme-app\nacme-sdistonly\n');
  const zip = join(dir, 'wheelhouse.zip');
  const r = await pydepot(['wheelhouse', 'export', '-r', reqs, '--repo', 'internal', '--target', X86, '--target', ARM, '--allow-sdist', '-o', zip, '--config', config, '--storage', s.storage]);
  if (r.code !== 0) throw new Error(`export: ${r.stderr}`);
  const entries = await readZip(zip);
  const files = new Map(entries.filter((e) => e.name.startsWith('wheelhouse/')).map((e) => [e.name.slice('wheelhouse/'.length), e.sha256]));
  return { dists, zip, entries, files };
}

let shared: Promise<Fixture> | null = null;
const fixture = (): Promise<Fixture> => (shared ??= makeFixture(scope));

/** A fresh storage and a config file for it (`raw`: its repositories). */
async function depot(t: ExecutionContext, raw: Record<string, unknown> = LOCAL_ONLY): Promise<{ storage: string; config: string; raw: Record<string, unknown> }> {
  const storage = await tempDir(t, 'pydepot-whi-');
  const dir = await tempDir(t, 'pydepot-whi-cfg-');
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml(raw));
  return { storage, config, raw };
}

function importCli(d: { storage: string; config: string }, args: string[], opts: CliOptions = {}): Promise<RunResult> {
  return pydepot(['wheelhouse', 'import', ...args, '--config', d.config, '--storage', d.storage], opts);
}

/** filename → sha256 of every file stored in `repo`. */
async function stored(storage: string, repo = 'internal'): Promise<Map<string, string>> {
  const s = await openTestStorage(storage);
  try {
    const out = new Map<string, string>();
    for (const p of await s.store.listProjects(repo)) for (const f of await s.store.listFiles(repo, p.name)) out.set(f.filename, f.sha256);
    return out;
  } finally {
    await s.store.close();
  }
}

async function writeZip(path: string, entries: Array<[string, Buffer]>): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of entries) zip.addBuffer(data, name, { compress: !name.endsWith('.whl') });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  await writeFile(path, Buffer.concat(chunks));
}

/** The export's entries, with `change` applied (null drops an entry). */
function edited(f: Fixture, change: Record<string, Buffer | null>): Array<[string, Buffer]> {
  return f.entries.filter((e) => change[e.name] !== null).map((e) => [e.name, change[e.name] ?? e.data]);
}

interface Summary {
  ok: boolean;
  source: { path: string; kind: string; locks: string[]; ignored: Array<{ path: string; reason: string }> };
  repository: string;
  counts: Record<string, number>;
  bytes: Record<string, number>;
  files: Array<{ path: string; filename: string; outcome: string; reason: string | null; project: string | null; version: string | null; size: number; sha256: string | null }>;
  projects: string[];
  remotes: { asked: boolean; checked: string[]; unchecked: Array<{ remote: string; reason: string }> };
  shadowed: Array<{ project: string; remotes: string[]; virtuals: Array<{ name: string; hidden: boolean }> }>;
  importSeconds: number;
}

const PURE = 'acme_pure-1.1-py3-none-any.whl';

// --- Seeding ------------------------------------------------------------------------------

test('a zip from wheelhouse export: every file added with its sha256, served on the pages; a second import skips them all', async (t) => {
  const f = await fixture();
  const d = await depot(t);
  const r = await importCli(d, [f.zip, '--repo', 'internal']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(await stored(d.storage), f.files, 'the exported bytes, each under its name');
  t.is(f.files.size, 8);
  t.true([...f.files.keys()].includes('acme_sdistonly-1.0.tar.gz'), 'an sdist too');

  // The closing table, on stdout.
  t.regex(r.stdout, /^outcome +files +bytes$/m);
  t.regex(r.stdout, /^added +8 +\d[\d.]* kB$/m);
  for (const o of ['skipped', 'conflict', 'refused', 'failed']) t.regex(r.stdout, new RegExp(`^${o} +0 +0 B$`, 'm'));
  t.regex(r.stdout, /every file checked against manifest\.json, pylock\.toml and through the upload checks/);
  // Plain progress lines on stderr (not a terminal), one per file, with its outcome.
  t.regex(r.stderr, /^\/.*wheelhouse\.zip \(a zip\) into 'internal': each file checked against manifest\.json, pylock\.toml, then through the upload checks$/m);
  t.regex(r.stderr, /^importing 8 files \(\d[\d.]* kB\)$/m);
  t.regex(r.stderr, /^ {2}\[1\/8\] acme_app-1\.0-py3-none-any\.whl .* added$/m);
  t.notRegex(r.stderr, /ignored/, 'requirements files are the wheelhouse\'s own: not listed as ignored');

  // What pip would read: the pages list them, with their hashes, and the files verify.
  const s = await startTestServer(t, LOCAL_ONLY, d.storage);
  const page = await getPage(`${s.url}/internal/simple/acme-native/`, 'json');
  t.is(page.status, 200);
  t.deepEqual(page.files.map((x) => [x.filename, x.sha256]).sort(), [...f.files].filter(([n]) => n.startsWith('acme_native-')).sort());
  t.truthy(page.files[0]!.metadataSha256, 'PEP 658 metadata read out of the wheel, as for an upload');
  const file = await fetch(page.files[0]!.url);
  t.is(file.status, 200);
  t.true(Buffer.from(await file.arrayBuffer()).equals(f.dists.get(page.files[0]!.filename)!.bytes));

  // The audit names who ran it.
  const audit = await pydepot(['audit', '--json', '--config', d.config, '--storage', d.storage]);
  const entries = JSON.parse(audit.stdout) as Array<{ actor: string; action: string; detail: string }>;
  t.is(entries.length, 8);
  t.true(entries.every((e) => e.actor.startsWith('cli:') && e.action === 'upload' && e.detail === 'created'));

  // Again: nothing new, nothing wrong.
  const again = await importCli(d, [f.zip, '--repo', 'internal', '--json']);
  t.is(again.code, 0, again.stderr);
  const sum = JSON.parse(again.stdout) as Summary;
  t.true(sum.ok);
  t.deepEqual(sum.counts, { added: 0, skipped: 8, conflict: 0, refused: 0, failed: 0 });
  t.true(sum.files.every((x) => x.outcome === 'skipped' && /same sha256/.test(x.reason!)));
});

test('the unzipped wheelhouse and a flat --find-links folder import alike', async (t) => {
  const f = await fixture();
  const unzipped = await tempDir(t, 'pydepot-whi-dir-');
  await mkdir(join(unzipped, 'wheelhouse'));
  for (const e of f.entries) await writeFile(join(unzipped, e.name), e.data);
  await writeFile(join(unzipped, 'NOTES.md'), 'not a distribution\n');
  await mkdir(join(unzipped, 'other'));
  const d = await depot(t);
  const r = await importCli(d, [unzipped, '--repo', 'internal', '--json']);
  t.is(r.code, 0, r.stderr);
  const sum = JSON.parse(r.stdout) as Summary;
  t.is(sum.source.kind, 'directory');
  t.deepEqual(sum.source.locks, ['manifest.json', 'pylock.toml']);
  t.deepEqual(sum.source.ignored, [
    { path: 'NOTES.md', reason: 'not a wheel or sdist (.whl, .tar.gz, .zip)' },
    { path: 'other/', reason: 'a folder other than wheelhouse/' },
  ]);
  t.is(sum.counts.added, 8);
  t.deepEqual(await stored(d.storage), f.files);

  // pip download -d style: the files and nothing else.
  const flat = await tempDir(t, 'pydepot-whi-flat-');
  for (const [name] of f.files) await writeFile(join(flat, name), f.dists.get(name)!.bytes);
  const d2 = await depot(t);
  const r2 = await importCli(d2, [flat, '--repo', 'internal', '--json']);
  t.is(r2.code, 0, r2.stderr);
  const sum2 = JSON.parse(r2.stdout) as Summary;
  t.deepEqual(sum2.source.locks, [], 'no lock file: only the upload checks');
  t.is(sum2.counts.added, 8);
  t.deepEqual(await stored(d2.storage), f.files);
});

// --- What must not get in ---------------------------------------------------------------

test('a file of the same name with other bytes is a conflict: reported, the stored one kept, the others added; exit 1', async (t) => {
  const f = await fixture();
  const d = await depot(t, { ...LOCAL_ONLY, repositories: { internal: { type: 'local', overwrite: true } } });
  // Another build of acme-pure 1.1, imported first.
  const other = await buildWheel({ name: 'acme-pure', version: '1.1', summary: 'another build' });
  t.is(other.filename, PURE);
  const flat = await tempDir(t, 'pydepot-whi-other-');
  await writeFile(join(flat, PURE), other.bytes);
  t.is((await importCli(d, [flat, '--repo', 'internal'])).code, 0);

  const r = await importCli(d, [f.zip, '--repo', 'internal']);
  t.is(r.code, 1, 'not even overwrite: true lets an import replace a file');
  t.regex(r.stdout, /^conflict +1 +/m);
  t.regex(r.stdout, /^added +7 +/m);
  t.regex(r.stdout, new RegExp(`^ {2}conflict +wheelhouse/${PURE} +'internal' already has ${PURE} with other bytes \\(sha256 ${other.sha256}\\); kept$`, 'm'));
  t.regex(r.stderr, /pydepot: 1 file not imported \(1 conflict\): acme_pure-1\.1-py3-none-any\.whl/);
  const now = await stored(d.storage);
  t.is(now.get(PURE), other.sha256, 'the stored file is kept');
  t.is(now.size, 8);
});

test('an invalid wheel is refused with the reason an upload gets; a legacy format too; the valid one is added', async (t) => {
  const d = await depot(t);
  const bad = await buildWheel({ name: 'acme-liar', version: '1.0', metadataName: 'acme-other' });
  const good = await buildWheel({ name: 'acme-honest', version: '1.0' });
  const zip = join(await tempDir(t), 'mixed.zip');
  await writeZip(zip, [[bad.filename, bad.bytes], [good.filename, good.bytes], ['acme_old-1.0-py3.11.egg', Buffer.from('egg')], ['deep/down/acme_x-1.0-py3-none-any.whl', good.bytes]]);
  const r = await importCli(d, [zip, '--repo', 'internal', '--json']);
  t.is(r.code, 1);
  const sum = JSON.parse(r.stdout) as Summary;
  t.false(sum.ok);
  t.deepEqual(sum.counts, { added: 1, skipped: 0, conflict: 0, refused: 2, failed: 0 });
  const by = new Map(sum.files.map((x) => [x.filename, x]));
  t.is(by.get(bad.filename)!.reason, `The METADATA inside '${bad.filename}' names the project 'acme-other', not 'acme_liar'.`);
  t.is(by.get('acme_old-1.0-py3.11.egg')!.reason, 'Invalid file extension: use .whl for wheels or .tar.gz/.zip for sdists (PEP 527, PEP 715).');
  t.is(by.get(good.filename)!.outcome, 'added');
  t.deepEqual(sum.source.ignored, [{ path: 'deep/down/acme_x-1.0-py3-none-any.whl', reason: 'not at the top level or directly under wheelhouse/' }]);
  t.deepEqual([...(await stored(d.storage)).keys()], [good.filename]);
  t.deepEqual(await storageCounts(d.storage), { blobs: 1, tmp: 0 });
  t.regex(r.stderr, /^ignored 1 entry: deep\/down\/acme_x-1\.0-py3-none-any\.whl \(not at the top level or directly under wheelhouse\/\)$/m);
});

test('a member altered after the export is refused against the lock files; one removed is reported missing', async (t) => {
  const f = await fixture();
  const d = await depot(t);
  // A valid wheel under the same name, other bytes: only the lock files can tell.
  const evil = await buildWheel({ name: 'acme-pure', version: '1.1', summary: 'not what was exported' });
  const missing = 'acme_armext-1.0-py3-none-any.whl';
  const zip = join(await tempDir(t), 'tampered.zip');
  await writeZip(zip, edited(f, { [`wheelhouse/${PURE}`]: evil.bytes, [`wheelhouse/${missing}`]: null }));
  const r = await importCli(d, [zip, '--repo', 'internal', '--json']);
  t.is(r.code, 1);
  const sum = JSON.parse(r.stdout) as Summary;
  t.deepEqual(sum.counts, { added: 6, skipped: 0, conflict: 0, refused: 1, failed: 1 });
  const tampered = sum.files.find((x) => x.filename === PURE)!;
  t.is(tampered.outcome, 'refused');
  const listed = f.files.get(PURE)!;
  t.regex(tampered.reason!, new RegExp(`^(${evil.bytes.length} bytes, but manifest\\.json lists \\d+|sha256 ${evil.sha256}, but manifest\\.json lists ${listed}); the wheelhouse is corrupt or was altered$`));
  const gone = sum.files.find((x) => x.filename === missing)!;
  t.is(gone.outcome, 'failed');
  t.is(gone.reason, `manifest.json lists it (sha256 ${f.files.get(missing)}), but it is not in the wheelhouse`);
  const now = await stored(d.storage);
  t.false(now.has(PURE), 'an altered file never seeds the depot');
  t.is(now.size, 6);
  t.deepEqual(await storageCounts(d.storage), { blobs: 6, tmp: 0 }, 'nothing left in temporary storage, no blob for the refused file');
});

test('a lock file that does not parse stops the import before anything is stored', async (t) => {
  const f = await fixture();
  const d = await depot(t);
  const zip = join(await tempDir(t), 'broken-lock.zip');
  await writeZip(zip, edited(f, { 'pylock.toml': Buffer.from('lock-version = "1.0"\n[[packages]\nname = ') }));
  const r = await importCli(d, [zip, '--repo', 'internal']);
  t.is(r.code, 1);
  t.regex(r.stderr, /pydepot: pylock\.toml is not TOML \(.*\); the wheelhouse cannot be verified/);
  t.is((await stored(d.storage)).size, 0);
});

test('bad input: not a zip, no distributions, a repository that is not local', async (t) => {
  const d = await depot(t, {
    repositories: { internal: { type: 'local' }, team: { type: 'local' }, all: { type: 'virtual', members: ['internal', 'team'] } },
    defaultRepository: 'all',
  });
  const dir = await tempDir(t);
  const notZip = join(dir, 'x.zip');
  await writeFile(notZip, 'hello');
  let r = await importCli(d, [notZip, '--repo', 'internal']);
  t.is(r.code, 1);
  t.regex(r.stderr, /pydepot: .*x\.zip is neither a folder nor a readable zip: /);

  r = await importCli(d, [join(dir, 'nope.zip'), '--repo', 'internal']);
  t.regex(r.stderr, /pydepot: cannot read .*nope\.zip: ENOENT/);

  const nested = join(dir, 'nested.zip');
  const w = await buildWheel({ name: 'acme-x', version: '1.0' });
  await writeZip(nested, [[`wh/wheelhouse/${w.filename}`, w.bytes]]);
  r = await importCli(d, [nested, '--repo', 'internal']);
  t.is(r.code, 1);
  t.regex(r.stderr, /no wheel or sdist at the top level or directly under wheelhouse\/ \(found elsewhere: wh\/wheelhouse\/acme_x-1\.0-py3-none-any\.whl; .*\); nothing imported/);

  const flat = join(dir, 'flat.zip');
  await writeZip(flat, [[w.filename, w.bytes]]);
  r = await importCli(d, [flat, '--repo', 'all']);
  t.is(r.code, 1);
  t.regex(r.stderr, /pydepot: --repo all is a virtual repository; a wheelhouse is imported into a local one \(local ones: internal, team\)/);
  r = await importCli(d, [flat, '--repo', 'nosuch']);
  t.regex(r.stderr, /pydepot: --repo nosuch: no repository of that name; local ones: internal, team/);
  r = await pydepot(['wheelhouse', 'import', flat, '--config', d.config, '--storage', d.storage]);
  t.regex(r.stderr, /required option '--repo <name>' not specified/);
  t.is((await stored(d.storage)).size, 0);
});

// --- Names a remote serves too -------------------------------------------------------------

test('names that a remote serves too are reported: hidden in the virtual repository unless in mergeUpstream; a remote that fails is "could not check"', async (t) => {
  const up = await FakeUpstream.start(t);
  up.addProject('acme-pure', [{ dist: await buildWheel({ name: 'acme-pure', version: '0.9' }) }]);
  up.addProject('acme-fast', [{ dist: await buildWheel({ name: 'acme-fast', version: '0.1' }) }]);
  const f = await fixture();
  const d = await depot(t, {
    repositories: {
      internal: { type: 'local' },
      pypi: { type: 'remote', url: up.url },
      all: { type: 'virtual', members: ['internal', 'pypi'], mergeUpstream: ['acme-fast'] },
    },
    defaultRepository: 'all',
  });
  const r = await importCli(d, [f.zip, '--repo', 'internal', '--json']);
  t.is(r.code, 0, r.stderr);
  const sum = JSON.parse(r.stdout) as Summary;
  t.deepEqual(sum.projects, ['acme-app', 'acme-armext', 'acme-fast', 'acme-native', 'acme-pure', 'acme-sdistonly']);
  t.deepEqual(sum.remotes, { asked: true, checked: ['pypi'], unchecked: [] });
  t.deepEqual(sum.shadowed, [
    { project: 'acme-fast', remotes: ['pypi'], virtuals: [{ name: 'all', hidden: false }] },
    { project: 'acme-pure', remotes: ['pypi'], virtuals: [{ name: 'all', hidden: true }] },
  ]);

  // The table says the same; the remote is asked again only past its indexTtl.
  const d2 = await depot(t, d.raw);
  const text = await importCli(d2, [f.zip, '--repo', 'internal']);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /^warning: 2 imported names are also served by a remote\. In a virtual repository that merges both, the local name hides the upstream files \(dependency-confusion rule\) unless the name is listed in its mergeUpstream:$/m);
  t.regex(text.stdout, /^ {2}acme-fast +on pypi +merged in all \(mergeUpstream\)$/m);
  t.regex(text.stdout, /^ {2}acme-pure +on pypi +upstream files hidden in all$/m);

  // --no-check on a storage whose remote cache is empty: nothing known, nobody asked.
  const d3 = await depot(t, d.raw);
  const asked = up.requests.length;
  const quiet = await importCli(d3, [f.zip, '--repo', 'internal', '--no-check', '--json']);
  t.is(quiet.code, 0, quiet.stderr);
  t.deepEqual((JSON.parse(quiet.stdout) as Summary).shadowed, []);
  t.is(up.requests.length, asked, '--no-check asks no remote');

  // An upstream that cannot be reached: reported, not an error, asked once.
  await up.stop();
  const d4 = await depot(t, d.raw);
  const down = await importCli(d4, [f.zip, '--repo', 'internal']);
  t.is(down.code, 0, down.stderr);
  t.regex(down.stdout, /^could not check remote 'pypi' for the imported names: acme-[a-z]+: /m);
  t.is((await stored(d4.storage)).size, 8);
});

test('an offline remote is read from its cache only: in an air-gapped depot the check finds nothing', async (t) => {
  const f = await fixture();
  const d = await depot(t, {
    repositories: {
      internal: { type: 'local' },
      pypi: { type: 'remote', url: 'http://127.0.0.1:9/simple/', offline: true },
      all: { type: 'virtual', members: ['internal', 'pypi'] },
    },
    defaultRepository: 'all',
  });
  const r = await importCli(d, [f.zip, '--repo', 'internal']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^no imported name is served by pypi$/m);
});

test('on a terminal: a progress bar with files, bytes, rate and ETA', async (t) => {
  const f = await fixture();
  const d = await depot(t);
  const r = await importCli(d, [f.zip, '--repo', 'internal'], { tty: true });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /importing \[[^\]]*\] \d+% \| \d+\/8 files \| .*B\/.*B \| .*\/s \| ETA/);
  t.notRegex(r.stderr, /\[1\/8\]/, 'no plain lines');
});

test('importWheelhouse: a storage failure stops the import, naming the file; the files before it stay whole, and a second run completes it', async (t) => {
  const f = await fixture();
  const d = await depot(t);
  const st = await openTestStorage(d.storage);
  // The disk fills up at the third file's commit.
  let commits = 0;
  const full: BlobStore = Object.create(st.blobs) as BlobStore;
  full.commit = async (temp) => {
    if (++commits === 3) throw new InsufficientStorage();
    return st.blobs.commit(temp);
  };
  const registry = new Registry(parseConfig({ ...LOCAL_ONLY, storage: d.storage }), { ...st, blobs: full, logger: pino({ level: 'silent' }), metrics: createMetrics() });
  t.teardown(async () => {
    await registry.close();
    await st.store.close();
  });
  const input = await openWheelhouse(f.zip);
  t.teardown(() => input.close());
  const actor = { user: 'cli:test', tokenId: null, address: null };
  const err = await t.throwsAsync(importWheelhouse(input, registry.local('internal'), full, actor));
  t.is(err?.message, `wheelhouse/${input.members[2]!.filename}: The server is out of disk space; nothing was stored. Try again later or tell the operator. The import stopped there; the 2 files added before it are stored whole, and are skipped when the import is run again`);
  t.deepEqual(await storageCounts(d.storage), { blobs: 2, tmp: 0 }, 'the failed file left no temp file');

  const again = await importWheelhouse(input, registry.local('internal'), full, actor);
  t.deepEqual(again.counts, { added: 6, skipped: 2, conflict: 0, refused: 0, failed: 0 });
});
