/**
 * `pydepot wheelhouse export`, in-process (test/helpers/cli.ts), on the
 * storage of a running server filled with the graph of
 * test/helpers/wheelhouse.ts; and exportWheelhouse itself, for failures the
 * command cannot provoke (a read that breaks midway).
 *
 * One server for the file, filled once; it is only read afterwards, except
 * by the corrupt-blob test, which uses a server of its own.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { parse as parseToml } from 'smol-toml';
import { stringify as stringifyYaml } from 'yaml';
import { parseRequirementsFile } from '../../src/resolve/requirements.ts';
import { parseTargetShorthand } from '../../src/resolve/tags.ts';
import { parseConfig } from '../../src/config/schema.ts';
import { Registry } from '../../src/repos/registry.ts';
import type { Repository } from '../../src/repos/types.ts';
import { createMetrics } from '../../src/metrics.ts';
import { openTestStorage } from '../helpers/test-backend.ts';
import { exportWheelhouse } from '../../src/wheelhouse/export.ts';
import { planWheelhouse } from '../../src/wheelhouse/plan.ts';
import { pydepot, type CliOptions } from '../helpers/cli.ts';
import type { RunResult } from '../helpers/clients.ts';
import { LOCAL_ONLY, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { ARM, buildWheelhouseGraph, CHOSEN, readZip, uploadGraph, X86, X86_228 } from '../helpers/wheelhouse.ts';
import { pino } from 'pino';

// --- One server for the file ---------------------------------------------------------

const teardowns: Array<() => unknown> = [];
const scope = { teardown: (fn: () => unknown) => void teardowns.push(fn) } as unknown as ExecutionContext;
test.after.always(async () => {
  for (const fn of teardowns.reverse()) await fn();
});

interface Fixture {
  s: TestServer;
  config: string;
  dists: Awaited<ReturnType<typeof buildWheelhouseGraph>>;
}

async function makeFixture(t: ExecutionContext): Promise<Fixture> {
  const dists = await buildWheelhouseGraph();
  const s = await startTestServer(t);
  await uploadGraph(s.url, dists);
  const dir = await tempDir(t);
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml(LOCAL_ONLY));
  return { s, config, dists };
}

let shared: Promise<Fixture> | null = null;
const fixture = (): Promise<Fixture> => (shared ??= makeFixture(scope));

/** `pydepot wheelhouse export ARGS --config … --storage …` against `f`'s server. */
function exportCli(f: Fixture, args: string[], opts: CliOptions = {}): Promise<RunResult> {
  return pydepot(['wheelhouse', 'export', ...args, '--config', f.config, '--storage', f.s.storage], opts);
}

/** A folder with `requirements.txt` (`text`) and nothing else yet. */
async function workDir(t: ExecutionContext, text = 'acme-app\n'): Promise<{ dir: string; reqs: string; out: string }> {
  const dir = await tempDir(t, 'pydepot-wh-');
  const reqs = join(dir, 'requirements.txt');
  await writeFile(reqs, text);
  return { dir, reqs, out: join(dir, 'wheelhouse.zip') };
}

/** CRC-32 (ISO-HDLC, zip's) bit by bit: a reference independent of zlib and of buffer-crc32. */
function referenceCrc32(data: Buffer): number {
  let c = ~0;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

const sha = (f: Fixture, filename: string): string => {
  const d = f.dists.get(filename);
  if (!d) throw new Error(`no dist ${filename}`);
  return d.sha256;
};

// --- The zip --------------------------------------------------------------------------

test('export for two targets: every chosen file once, verified and stored; requirements with hashes and markers; per-target files; pylock.toml; manifest', async (t) => {
  const f = await fixture();
  const { dir, reqs, out } = await workDir(t);
  const r = await exportCli(f, ['-r', reqs, '--repo', 'internal', '--target', X86, '--target', ARM, '-o', out]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual((await readdir(dir)).sort(), ['requirements.txt', 'wheelhouse.zip'], 'no partial file left beside it');

  const entries = await readZip(out);
  const union = [...new Set([...CHOSEN[X86]!, ...CHOSEN[ARM]!])].sort();
  t.deepEqual(entries.map((e) => e.name), [
    'manifest.json',
    'pylock.toml',
    'requirements-cp311-manylinux_2_17_aarch64.txt',
    'requirements-cp311-manylinux_2_17_x86_64.txt',
    'requirements.txt',
    ...union.map((n) => `wheelhouse/${n}`),
  ]);
  for (const e of entries) {
    // export.ts has yazl use zlib's CRC-32: checked against a bit-by-bit one.
    t.is(e.crc32, referenceCrc32(e.data), `${e.name}: CRC-32`);
    // 1980-02-01 00:00:00 as DOS fields: date (0 << 9) | (2 << 5) | 1, time 0.
    t.is(e.dosDate, 0x41, e.name);
    t.is(e.dosTime, 0, e.name);
    if (e.name.startsWith('wheelhouse/')) {
      t.is(e.method, 0, `${e.name} is stored, not recompressed`);
      t.is(e.sha256, sha(f, e.name.slice('wheelhouse/'.length)), `${e.name} holds the uploaded bytes`);
    } else {
      t.is(e.method, 8, `${e.name} is deflated`);
    }
  }
  const text = (name: string): string => entries.find((e) => e.name === name)!.data.toString('utf8');

  // requirements.txt: all targets, one line per pin, markers where they differ.
  const combined = text('requirements.txt');
  t.regex(combined, /^# Written by pydepot \S+ from repository 'internal'/);
  t.true(combined.includes(`# Targets: ${X86} (platform_machine == "x86_64"), ${ARM} (platform_machine == "aarch64").`), combined);
  const body = combined.split('\n').filter((l) => !l.startsWith('#')).join('\n');
  const x = (n: string): string => sha(f, n);
  t.is(body, [
    'acme-app==1.0 \\',
    `    --hash=sha256:${x('acme_app-1.0-py3-none-any.whl')}`,
    'acme-armext==1.0 ; platform_machine == "aarch64" \\',
    `    --hash=sha256:${x('acme_armext-1.0-py3-none-any.whl')}`,
    'acme-fast==1.0 ; platform_machine == "aarch64" \\',
    `    --hash=sha256:${x('acme_fast-1.0-cp311-cp311-manylinux_2_17_aarch64.whl')}`,
    'acme-fast==2.0 ; platform_machine == "x86_64" \\',
    `    --hash=sha256:${x('acme_fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl')}`,
    'acme-native==1.0 \\',
    ...[x('acme_native-1.0-cp311-cp311-manylinux_2_17_aarch64.whl'), x('acme_native-1.0-cp311-cp311-manylinux_2_17_x86_64.whl')].sort()
      .map((h, i) => `    --hash=sha256:${h}${i === 0 ? ' \\' : ''}`),
    'acme-pure==1.1 \\',
    `    --hash=sha256:${x('acme_pure-1.1-py3-none-any.whl')}`,
    '',
  ].join('\n'));
  // pip's own file format: pydepot's parser (pip 23.2's rules) reads it back with every hash.
  const parsed = parseRequirementsFile({ name: 'requirements.txt', text: combined });
  t.is(parsed.requirements.length, 6);
  t.deepEqual(parsed.requirements.find((q) => q.normalizedName === 'acme-native')!.hashes.length, 2);

  // Per target: that target's pins and files only, no markers.
  const arm = text(`requirements-${ARM}.txt`);
  t.false(arm.split('\n').some((l) => !l.startsWith('#') && l.includes(';')), 'no markers');
  t.deepEqual(parseRequirementsFile({ name: 'r.txt', text: arm }).requirements.map((q) => `${q.text.trim()} ${q.hashes.join(',')}`), CHOSEN[ARM]!.map((n) => {
    const [name, version] = n.split('-') as [string, string];
    return `${name.replace(/_/g, '-')}==${version} sha256:${x(n)}`;
  }));

  // pylock.toml (PEP 751).
  const lock = parseToml(text('pylock.toml')) as Record<string, unknown> & { packages: Array<Record<string, unknown>> };
  t.is(lock['lock-version'], '1.0');
  t.is(lock['created-by'], 'pydepot');
  t.is(lock['requires-python'], '>=3.11');
  t.deepEqual(lock.environments, [
    'implementation_name == "cpython" and python_version == "3.11" and sys_platform == "linux" and platform_machine == "x86_64"',
    'implementation_name == "cpython" and python_version == "3.11" and sys_platform == "linux" and platform_machine == "aarch64"',
  ]);
  t.deepEqual(lock.packages.map((p) => `${p.name as string} ${p.version as string} ${(p.marker as string | undefined) ?? '*'}`), [
    'acme-app 1.0 *',
    'acme-armext 1.0 platform_machine == "aarch64"',
    'acme-fast 1.0 platform_machine == "aarch64"',
    'acme-fast 2.0 platform_machine == "x86_64"',
    'acme-native 1.0 *',
    'acme-pure 1.1 *',
  ]);
  const nativeWheels = lock.packages.find((p) => p.name === 'acme-native')!.wheels as Array<Record<string, unknown>>;
  t.deepEqual(nativeWheels.map((w) => w.path), [
    'wheelhouse/acme_native-1.0-cp311-cp311-manylinux_2_17_aarch64.whl',
    'wheelhouse/acme_native-1.0-cp311-cp311-manylinux_2_17_x86_64.whl',
  ]);
  for (const w of nativeWheels) {
    const name = (w.path as string).slice('wheelhouse/'.length);
    t.is(w.name, name);
    t.is(w.size, f.dists.get(name)!.bytes.length);
    t.deepEqual(w.hashes, { sha256: x(name) });
    t.true(w['upload-time'] instanceof Date, 'upload-time is a TOML datetime');
  }

  // manifest.json
  const manifest = JSON.parse(text('manifest.json')) as Record<string, unknown> & { targets: Array<Record<string, unknown>>; files: Array<Record<string, unknown>> };
  t.is(manifest.repository, 'internal');
  t.is(manifest.resolvedAt, null, 'no clock in the zip unless asked for');
  t.regex(manifest.pydepotVersion as string, /^\d+\.\d+\.\d+/);
  t.is(manifest.requirements, 'requirements.txt');
  t.deepEqual(manifest.targets.map((tt) => [tt.name, tt.tagCount, tt.marker, tt.requirements]), [
    [X86, parseTargetShorthand(X86).tags.length, 'platform_machine == "x86_64"', `requirements-${X86}.txt`],
    [ARM, parseTargetShorthand(ARM).tags.length, 'platform_machine == "aarch64"', `requirements-${ARM}.txt`],
  ]);
  t.is((manifest.targets[1]!.env as Record<string, string>).platform_machine, 'aarch64');
  t.deepEqual((manifest.targets[0]!.pins as Array<{ file: string }>).map((p) => p.file), CHOSEN[X86]!.map((n) => `wheelhouse/${n}`));
  t.deepEqual(manifest.files.find((ff) => ff.path === 'wheelhouse/acme_pure-1.1-py3-none-any.whl')!.targets, [X86, ARM]);

  // The closing table.
  t.regex(r.stdout, new RegExp(`^target +pins +files +bytes +failures$`, 'm'));
  t.regex(r.stdout, new RegExp(`^${X86} +4 +4 +\\d[\\d.]* [k]?B +none$`, 'm'));
  t.regex(r.stdout, new RegExp(`^${ARM} +5 +5 +\\d[\\d.]* [k]?B +none$`, 'm'));
  t.regex(r.stdout, /^wheelhouse\/ \(all targets\) +7 +/m);
  t.regex(r.stdout, /^wrote .*wheelhouse\.zip: .*, sha256 [0-9a-f]{64}$/m);
  t.log(r.stdout);
});

test.serial('the same inputs give a byte-identical zip, in any time zone', async (t) => {
  const f = await fixture();
  const { dir, reqs } = await workDir(t);
  const one = join(dir, 'one.zip');
  const two = join(dir, 'two.zip');
  const tz = process.env.TZ;
  t.teardown(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });
  process.env.TZ = 'UTC';
  t.is((await exportCli(f, ['-r', reqs, '--repo', 'internal', '--target', X86, '--target', ARM, '-o', one])).code, 0);
  process.env.TZ = 'Pacific/Chatham'; // +12:45 / +13:45
  const r = await exportCli(f, ['-r', reqs, '--repo', 'internal', '--target', X86, '--target', ARM, '-o', two, '--json']);
  t.is(r.code, 0, r.stderr);
  if (!(await readFile(one)).equals(await readFile(two))) {
    const [a, b] = [await readZip(one), await readZip(two)];
    for (const [i, e] of a.entries()) {
      const o = b[i]!;
      if (e.name !== o.name || e.dosDate !== o.dosDate || e.dosTime !== o.dosTime || e.sha256 !== o.sha256) t.log(e.name, e.dosDate, e.dosTime, o.name, o.dosDate, o.dosTime, e.sha256 === o.sha256 ? '' : `${e.data.toString()}\n---\n${o.data.toString()}`.slice(0, 3000));
    }
  }
  t.true((await readFile(one)).equals(await readFile(two)));
  // The time, when asked for, is in the manifest, and only there.
  const three = join(dir, 'three.zip');
  t.is((await exportCli(f, ['-r', reqs, '--repo', 'internal', '--target', X86, '--target', ARM, '-o', three], { env: { SOURCE_DATE_EPOCH: '1700000000' } })).code, 0);
  const manifest = JSON.parse((await readZip(three)).find((e) => e.name === 'manifest.json')!.data.toString('utf8')) as { resolvedAt: string };
  t.is(manifest.resolvedAt, '2023-11-14T22:13:20.000Z');
  t.false((await readFile(one)).equals(await readFile(three)));
});

test('--json prints a machine-readable summary', async (t) => {
  const f = await fixture();
  const { reqs, out } = await workDir(t);
  const r = await exportCli(f, ['-r', reqs, '--repo', 'internal', '--target', X86, '--target', ARM, '-o', out, '--json']);
  t.is(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as Record<string, unknown> & { targets: Array<Record<string, unknown>> };
  t.is(s.ok, true);
  t.is(s.output, out);
  t.is(s.files, 7);
  t.is(s.bytes, (await readFile(out)).length);
  t.regex(s.sha256 as string, /^[0-9a-f]{64}$/);
  t.is(s.requirements, 'requirements.txt');
  t.deepEqual(s.targets.map((x) => [x.name, x.pins, x.files, x.failures]), [[X86, 4, 4, []], [ARM, 5, 5, []]]);
  t.is(typeof s.resolvedAt, 'string');
});

// --- Inputs ------------------------------------------------------------------------------

test('-r includes relative to their file, --constraint, --target-file and --allow-sdist', async (t) => {
  const f = await fixture();
  const { dir, out } = await workDir(t);
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'base.txt'), '-r more.txt\nacme-sdistonly\n');
  await writeFile(join(dir, 'sub', 'more.txt'), 'acme-pure\n');
  await writeFile(join(dir, 'top.txt'), '-r sub/base.txt\n');
  await writeFile(join(dir, 'c.txt'), 'acme-pure<1.1\n');
  const node = join(dir, 'node-a.json');
  await writeFile(node, JSON.stringify({ env: parseTargetShorthand(X86).env, platform: 'manylinux_2_17_x86_64' }));
  const r = await exportCli(f, ['-r', join(dir, 'top.txt'), '--constraint', join(dir, 'c.txt'), '--repo', 'internal', '--target-file', node, '--allow-sdist', '-o', out, '--json']);
  t.is(r.code, 0, r.stderr);
  const entries = await readZip(out);
  t.deepEqual(entries.filter((e) => e.name.startsWith('wheelhouse/')).map((e) => e.name), [
    'wheelhouse/acme_pure-1.0-py3-none-any.whl',
    'wheelhouse/acme_sdistonly-1.0.tar.gz',
  ]);
  t.truthy(entries.find((e) => e.name === 'requirements-node-a.txt'), 'a target file is named after its file');
  const lock = parseToml(entries.find((e) => e.name === 'pylock.toml')!.data.toString('utf8')) as { packages: Array<Record<string, unknown>> };
  t.deepEqual((lock.packages.find((p) => p.name === 'acme-sdistonly')!.sdist as Record<string, unknown>).path, 'wheelhouse/acme_sdistonly-1.0.tar.gz');
  const manifest = JSON.parse(entries.find((e) => e.name === 'manifest.json')!.data.toString('utf8')) as { targets: Array<{ pins: Array<{ name: string; requiredBy: string[] }> }> };
  t.deepEqual(manifest.targets[0]!.pins.find((p) => p.name === 'acme-pure')!.requiredBy, [`${join(dir, 'sub', 'more.txt')}:1`]);
});

test('targets that no marker tells apart and resolve differently get per-target files only', async (t) => {
  const f = await fixture();
  const { reqs, out } = await workDir(t, 'acme-fast\n');
  const r = await exportCli(f, ['-r', reqs, '--repo', 'internal', '--target', X86, '--target', X86_228, '-o', out]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual((await readZip(out)).map((e) => e.name), [
    'manifest.json',
    `pylock.${X86}.toml`,
    `pylock.${X86_228}.toml`,
    `requirements-${X86}.txt`,
    `requirements-${X86_228}.txt`,
    'wheelhouse/acme_fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl',
    'wheelhouse/acme_fast-3.0-cp311-cp311-manylinux_2_28_x86_64.whl',
  ]);
  t.regex(r.stdout, /no combined requirements\.txt: .* differ in no environment marker .*acme-fast: 2\.0 vs 3\.0/);
});

test('bad input is a clear error with exit 1, and nothing is written', async (t) => {
  const f = await fixture();
  const { dir, reqs, out } = await workDir(t);
  const before = (await readdir(dir)).sort();

  const unknown = await exportCli(f, ['-r', reqs, '--repo', 'internal', '--target', 'cp311-manylinux_x86_64', '-o', out]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /^pydepot: Unknown target 'cp311-manylinux_x86_64'.*manylinux_2_/m, 'names the target and the accepted forms');

  const badLine = join(dir, 'bad.txt');
  await writeFile(badLine, 'acme-app\nacme-pure >=< 1\n-e ./lib\n');
  const malformed = await exportCli(f, ['-r', badLine, '--repo', 'internal', '--target', X86, '-o', out]);
  t.is(malformed.code, 1);
  t.regex(malformed.stderr, /bad\.txt:2: /, 'the line number');
  t.regex(malformed.stderr, /bad\.txt:3: '-e \.\/lib' is an editable install/, 'every problem');

  const sdist = join(dir, 'sdist.txt');
  await writeFile(sdist, 'acme-sdistonly\n');
  const impossible = await exportCli(f, ['-r', sdist, '--repo', 'internal', '--target', X86, '--target', ARM, '-o', out]);
  t.is(impossible.code, 1);
  t.regex(impossible.stderr, /acme-sdistonly 1\.0 has no wheel for cp311-manylinux_2_17_x86_64 \(sdist only; --allow-sdist/);
  t.regex(impossible.stderr, /^pydepot: cannot resolve for cp311-manylinux_2_17_x86_64, cp311-manylinux_2_17_aarch64 .*nothing was written$/m);
  t.regex(impossible.stdout, /^cp311-manylinux_2_17_aarch64 +- +- +- +1: acme-sdistonly 1\.0 has no wheel/m, 'the table names what failed');

  const hashed = join(dir, 'hashed.txt');
  await writeFile(hashed, `acme-pure==1.1 --hash=sha256:${'0'.repeat(64)}\n`);
  const wrongHash = await exportCli(f, ['-r', hashed, '--repo', 'internal', '--target', X86, '-o', out]);
  t.is(wrongHash.code, 1);
  t.regex(wrongHash.stderr, new RegExp(`hashed\\.txt:1: the --hash given for acme-pure matches no file chosen for ${X86} \\(acme_pure-1\\.1-py3-none-any\\.whl has sha256:${sha(f, 'acme_pure-1.1-py3-none-any.whl')}\\)`));
  await writeFile(hashed, `acme-pure==1.1 --hash=sha256:${sha(f, 'acme_pure-1.1-py3-none-any.whl')}\n`);
  t.is((await exportCli(f, ['-r', hashed, '--repo', 'internal', '--target', X86, '-o', join(dir, 'hashed.zip')])).code, 0, 'the right hash passes');

  const missing = await exportCli(f, ['-r', join(dir, 'nope.txt'), '--repo', 'internal', '--target', X86, '-o', out]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /cannot read requirements file .*nope\.txt: ENOENT/);

  const noTarget = await exportCli(f, ['-r', reqs, '--repo', 'internal', '-o', out]);
  t.is(noTarget.code, 1);
  t.regex(noTarget.stderr, /give at least one --target/);

  const noRepo = await exportCli(f, ['-r', reqs, '--repo', 'nosuch', '--target', X86, '-o', out]);
  t.is(noRepo.code, 1);
  t.regex(noRepo.stderr, /No repository named 'nosuch'/);

  const noDir = await exportCli(f, ['-r', reqs, '--repo', 'internal', '--target', X86, '-o', join(dir, 'no', 'w.zip')]);
  t.is(noDir.code, 1);
  t.regex(noDir.stderr, /does not exist/);

  t.deepEqual((await readdir(dir)).sort(), [...before, 'bad.txt', 'hashed.txt', 'hashed.zip', 'sdist.txt'].sort(), 'no other zip, no partial file');
});

// --- Verification --------------------------------------------------------------------------

test('a corrupt stored file stops the export: exit 1 naming the file, nothing left', async (t) => {
  const dists = await buildWheelhouseGraph();
  // Blobs in the folder whatever the test back end: one is corrupted on disk (the database follows PYDEPOT_TEST_BACKEND).
  const s = await startTestServer(t, { ...LOCAL_ONLY, blobs: { type: 'fs' } });
  await uploadGraph(s.url, dists);
  const dir = await tempDir(t);
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml(LOCAL_ONLY));
  const victim = [...dists.values()].find((d) => d.filename === 'acme_pure-1.1-py3-none-any.whl')!;
  const blob = join(s.storage, 'blobs', 'sha256', victim.sha256.slice(0, 2), victim.sha256.slice(2, 4), victim.sha256);
  const bytes = await readFile(blob);
  const middle = bytes.length >> 1;
  bytes[middle] = (bytes[middle] ?? 0) ^ 0xff; // same size, one byte flipped
  await writeFile(blob, bytes);

  const { dir: work, reqs, out } = await workDir(t);
  const r = await pydepot(['wheelhouse', 'export', '-r', reqs, '--repo', 'internal', '--target', X86, '-o', out, '--config', config, '--storage', s.storage]);
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`pydepot: acme_pure-1\\.1-py3-none-any\\.whl: sha256 [0-9a-f]{64}, but the index lists ${victim.sha256}; the stored copy is corrupt; nothing was written`));
  t.deepEqual(await readdir(work), ['requirements.txt'], 'no zip, no partial file');

  const json = await pydepot(['wheelhouse', 'export', '-r', reqs, '--repo', 'internal', '--target', X86, '-o', out, '--json', '--config', config, '--storage', s.storage]);
  t.is(json.code, 1);
  const summary = JSON.parse(json.stdout) as { ok: boolean; output: null; error: string };
  t.false(summary.ok);
  t.regex(summary.error, /acme_pure-1\.1-py3-none-any\.whl: sha256 .* the stored copy is corrupt; nothing was written$/);
  t.deepEqual(await readdir(work), ['requirements.txt']);
});

/** The `internal` repository of a storage, for calling exportWheelhouse directly. */
async function internalRepo(t: ExecutionContext, storage: string): Promise<Repository> {
  const st = await openTestStorage(storage);
  const dir = await tempDir(t);
  const registry = new Registry(parseConfig({ ...LOCAL_ONLY, storage: dir }), {
    ...st, logger: pino({ level: 'silent' }), metrics: createMetrics(),
  });
  t.teardown(async () => {
    await registry.close();
    await st.store.close();
  });
  return registry.get('internal');
}

test('exportWheelhouse: a read that breaks midway, or a file that vanished, leaves nothing', async (t) => {
  const f = await fixture();
  const repo = await internalRepo(t, f.s.storage);
  const reqs = parseRequirementsFile({ name: 'r.txt', text: 'acme-app\n' });
  const plan = await planWheelhouse(repo, reqs, [parseTargetShorthand(X86), parseTargetShorthand(ARM)]);
  t.deepEqual(plan.failures, []);
  const { dir, out } = await workDir(t);

  // The third file's stream fails after its first 100 bytes.
  let opened = 0;
  const breaking: Repository = Object.create(repo) as Repository;
  breaking.openFile = async (sha256, filename) => {
    const h = await repo.openFile(sha256, filename);
    if (!h || ++opened !== 3) return h;
    const broken = async function* (source: Readable): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        yield (chunk as Buffer).subarray(0, 100);
        throw new Error('disk went away');
      }
    };
    return { ...h, open: () => Readable.from(broken(h.open())) };
  };
  const progress: number[] = [];
  await t.throwsAsync(exportWheelhouse(plan, breaking, out, { onProgress: (p) => progress.push(p.filesDone) }), { message: /: reading it failed: disk went away$/ });
  t.is(Math.max(...progress), 2, 'two files were in when the third broke');
  t.deepEqual(await readdir(dir), ['requirements.txt']);

  const vanished: Repository = Object.create(repo) as Repository;
  vanished.openFile = async (sha256, filename) => (filename.startsWith('acme_native') ? null : repo.openFile(sha256, filename));
  await t.throwsAsync(exportWheelhouse(plan, vanished, out), { message: /^acme_native-1\.0-cp311-cp311-manylinux_2_17_aarch64\.whl \(acme-native 1\.0\) is listed in 'internal' but cannot be read from it$/ });
  t.deepEqual(await readdir(dir), ['requirements.txt']);

  // And with nothing wrong, the same plan exports.
  const ok = await exportWheelhouse(plan, repo, out);
  t.is(ok.files, 7);
  t.deepEqual(await readdir(dir), ['requirements.txt', 'wheelhouse.zip']);
});

test('exportWheelhouse: files read in many small chunks give the same bytes (each CRC-32 carried across chunks)', async (t) => {
  const f = await fixture();
  const repo = await internalRepo(t, f.s.storage);
  const reqs = parseRequirementsFile({ name: 'r.txt', text: 'acme-app\n' });
  const plan = await planWheelhouse(repo, reqs, [parseTargetShorthand(X86), parseTargetShorthand(ARM)]);
  const { dir } = await workDir(t);
  const chunked: Repository = Object.create(repo) as Repository;
  chunked.openFile = async (sha256, filename) => {
    const h = await repo.openFile(sha256, filename);
    if (!h) return h;
    const small = async function* (source: Readable): AsyncGenerator<Buffer> {
      for await (const chunk of source) for (let i = 0; i < (chunk as Buffer).length; i += 97) yield (chunk as Buffer).subarray(i, i + 97);
    };
    return { ...h, open: () => Readable.from(small(h.open())) };
  };
  const whole = await exportWheelhouse(plan, repo, join(dir, 'whole.zip'));
  const pieces = await exportWheelhouse(plan, chunked, join(dir, 'pieces.zip'));
  t.is(pieces.sha256, whole.sha256);
  for (const e of await readZip(join(dir, 'pieces.zip'))) t.is(e.crc32, referenceCrc32(e.data), e.name);
});

// --- Progress ----------------------------------------------------------------------------

test('progress: a bar on a terminal (files, bytes, rate, ETA), plain lines otherwise', async (t) => {
  const f = await fixture();
  const { reqs, out } = await workDir(t);
  const plain = await exportCli(f, ['-r', reqs, '--repo', 'internal', '--target', X86, '-o', out]);
  t.is(plain.code, 0, plain.stderr);
  t.regex(plain.stderr, /^exporting 4 files \(\d[\d.]* k?B\)$/m);
  t.regex(plain.stderr, /^ {2}\[4\/4\] acme_pure-1\.1-py3-none-any\.whl {2}\S+ k?B\/\S+ k?B {2}\S+ [kMG]?B\/s$/m);
  t.false(plain.stderr.includes('\x1b['), 'no escape codes without a terminal');

  const tty = await exportCli(f, ['-r', reqs, '--repo', 'internal', '--target', X86, '-o', out], { tty: true });
  t.is(tty.code, 0, tty.stderr);
  t.regex(tty.stderr, /exporting \[[█░]+\] \d+% \| \d\/4 files \| .*B\/.*B \| .*B\/s \| ETA /);
  t.false(/\[\d\/4\] acme/.test(tty.stderr), 'no plain lines on a terminal');
  t.regex(tty.stdout, /^target +pins/m, 'the table still goes to stdout');
});
