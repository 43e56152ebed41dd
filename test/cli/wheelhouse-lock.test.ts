/**
 * `pydepot wheelhouse export` and `prefetch` from a PEP 751 lock
 * (`--lock`, or `-r pylock.toml`), in-process (test/helpers/cli.ts), on the
 * graph of test/helpers/wheelhouse.ts: the lock a wheelhouse holds gives the
 * same wheelhouse back; a third party's lock (URLs on files.pythonhosted.org)
 * is matched in the repository by file name and sha256; a changed hash, a
 * file the repository lacks and a target the lock does not cover are refused
 * with nothing written.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { parse as parseToml } from 'smol-toml';
import { stringify as stringifyYaml } from 'yaml';
import { pydepot, type CliOptions } from '../helpers/cli.ts';
import type { RunResult } from '../helpers/clients.ts';
import { FakeUpstream, type UpstreamFile } from '../helpers/fake-upstream.ts';
import { LOCAL_ONLY, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { ARM, buildWheelhouseGraph, CHOSEN, readZip, uploadGraph, X86, X86_228, type ZipEntry } from '../helpers/wheelhouse.ts';

// --- One server for the file ---------------------------------------------------------

const teardowns: Array<() => unknown> = [];
const scope = { teardown: (fn: () => unknown) => void teardowns.push(fn) } as unknown as ExecutionContext;
test.after.always(async () => {
  for (const fn of teardowns.reverse()) await fn();
});

type Dists = Awaited<ReturnType<typeof buildWheelhouseGraph>>;

interface Fixture {
  s: TestServer;
  config: string;
  dists: Dists;
}

let shared: Promise<Fixture> | null = null;
const fixture = (): Promise<Fixture> => (shared ??= (async () => {
  const dists = await buildWheelhouseGraph();
  const s = await startTestServer(scope);
  await uploadGraph(s.url, dists);
  const config = join(await tempDir(scope), 'pydepot.yaml');
  await writeFile(config, stringifyYaml(LOCAL_ONLY));
  return { s, config, dists };
})());

function exportCli(f: Fixture, args: string[], opts: CliOptions = {}): Promise<RunResult> {
  return pydepot(['wheelhouse', 'export', ...args, '--config', f.config, '--storage', f.s.storage], opts);
}

const sha = (dists: Dists, filename: string): string => {
  const d = dists.get(filename);
  if (!d) throw new Error(`no dist ${filename}`);
  return d.sha256;
};

const wheelhouse = (entries: ZipEntry[]): string[] => entries.filter((e) => e.name.startsWith('wheelhouse/')).map((e) => `${e.name} ${e.sha256}`);
const text = (entries: ZipEntry[], name: string): string => {
  const e = entries.find((x) => x.name === name);
  if (!e) throw new Error(`no ${name} in the zip`);
  return e.data.toString('utf8');
};

/**
 * A lock as a third party writes one, modelled on PEP 751's example: files
 * by URL on PyPI's file host, `index`, `dependencies`, attestation
 * identities, a `[tool]` table, a Windows-only VCS package, and markers of
 * its own. `hashes` may replace a file's sha256.
 */
function thirdPartyLock(dists: Dists, hashes: Record<string, string> = {}): string {
  const wheel = (filename: string): string => {
    const d = dists.get(filename)!;
    return [
      '    [[packages.wheels]]',
      `    name = '${filename}'`,
      '    upload-time = 2025-01-25T11:30:10.164985+00:00',
      `    url = 'https://files.pythonhosted.org/packages/fc/30/${d.sha256.slice(0, 12)}/${filename}'`,
      `    size = ${d.bytes.length}`,
      `    hashes = {sha256 = '${hashes[filename] ?? d.sha256}'}`,
      '',
    ].join('\n');
  };
  const pkg = (name: string, version: string, files: string[], extra = ''): string =>
    `[[packages]]\nname = '${name}'\nversion = '${version}'\nrequires-python = '>= 3.8'\nindex = 'https://pypi.org/simple/'\n${extra}\n${files.map(wheel).join('\n')}\n`;
  return [
    "lock-version = '1.0'",
    "environments = [\"sys_platform == 'linux' and python_version == '3.11'\"]",
    "requires-python = '== 3.11.*'",
    "created-by = 'mousebender'",
    '',
    pkg('acme-app', '1.0', ['acme_app-1.0-py3-none-any.whl'], "dependencies = [{name = 'acme-native'}, {name = 'acme-fast'}]\n\n    [[packages.attestation-identities]]\n    kind = 'GitHub'\n    repository = 'acme/app'\n    workflow = 'release.yml'\n"),
    pkg('acme-armext', '1.0', ['acme_armext-1.0-py3-none-any.whl'], "marker = \"platform_machine == 'aarch64'\""),
    pkg('acme-fast', '1.0', ['acme_fast-1.0-cp311-cp311-manylinux_2_17_aarch64.whl', 'acme_fast-1.0-cp311-cp311-manylinux_2_17_x86_64.whl'], "marker = \"platform_machine == 'aarch64'\""),
    pkg('acme-fast', '2.0', ['acme_fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl'], "marker = \"platform_machine == 'x86_64'\""),
    pkg('acme-native', '1.0', ['acme_native-1.0-cp311-cp311-manylinux_2_17_aarch64.whl', 'acme_native-1.0-cp311-cp311-manylinux_2_17_x86_64.whl']),
    pkg('acme-pure', '1.1', ['acme_pure-1.1-py3-none-any.whl']),
    "[[packages]]\nname = 'acme-winhelper'\nmarker = \"sys_platform == 'win32'\"\nvcs = {type = 'git', url = 'https://example.com/winhelper.git', commit-id = '0123abc'}\n",
    "[tool.mousebender]\ncommand = ['.', 'lock', '--platform', 'cpython3.11-manylinux2014-x64', 'acme-app']\nrun-on = 2025-03-06T12:28:57.760769\n",
  ].join('\n');
}

async function workDir(t: ExecutionContext): Promise<string> {
  return tempDir(t, 'pydepot-lock-');
}

// --- Round trip --------------------------------------------------------------------------

test('the pylock.toml of an exported wheelhouse, given back with -r or --lock, exports the same files, requirements and lock', async (t) => {
  const f = await fixture();
  const dir = await workDir(t);
  await writeFile(join(dir, 'requirements.txt'), 'acme-app\n');
  const first = join(dir, 'first.zip');
  const r1 = await exportCli(f, ['-r', join(dir, 'requirements.txt'), '--repo', 'internal', '--target', X86, '--target', ARM, '-o', first]);
  t.is(r1.code, 0, r1.stderr);
  const a = await readZip(first);
  const lockPath = join(dir, 'pylock.toml');
  await writeFile(lockPath, text(a, 'pylock.toml'));

  const second = join(dir, 'second.zip');
  const r2 = await exportCli(f, ['-r', lockPath, '--repo', 'internal', '--target', X86, '--target', ARM, '-o', second]);
  t.is(r2.code, 0, r2.stderr);
  t.regex(r2.stderr, /^selecting from .*pylock\.toml \(6 packages, no resolution: a lock is exact\) in 'internal' for /m);
  const b = await readZip(second);
  t.deepEqual(wheelhouse(b), wheelhouse(a), 'the same files, byte for byte');
  t.deepEqual(b.map((e) => e.name), a.map((e) => e.name));
  for (const name of ['pylock.toml', 'requirements.txt', `requirements-${X86}.txt`, `requirements-${ARM}.txt`]) t.is(text(b, name), text(a, name), name);
  const manifest = JSON.parse(text(b, 'manifest.json')) as { request: { lock: string; requirements: string[] }; targets: Array<{ pins: Array<{ requiredBy: string[] }> }> };
  t.is(manifest.request.lock, lockPath);
  t.deepEqual(manifest.request.requirements, []);
  t.deepEqual(manifest.targets[0]!.pins[0]!.requiredBy, [`${lockPath}:packages[0]`]);
  t.regex(r2.stdout, new RegExp(`^${X86} +4 +4 +\\S+ k?B +none$`, 'm'));

  // --lock takes any file name; one target of the two gives that target's files.
  const renamed = join(dir, 'cluster.lock');
  await writeFile(renamed, text(a, 'pylock.toml'));
  const third = join(dir, 'third.zip');
  const r3 = await exportCli(f, ['--lock', renamed, '--repo', 'internal', '--target', ARM, '-o', third, '--json']);
  t.is(r3.code, 0, r3.stderr);
  t.deepEqual(wheelhouse(await readZip(third)).map((l) => l.split(' ')[0]), CHOSEN[ARM]!.map((n) => `wheelhouse/${n}`));
});

test('per-target locks (pylock.<target>.toml) round-trip too', async (t) => {
  const f = await fixture();
  const dir = await workDir(t);
  await writeFile(join(dir, 'requirements.txt'), 'acme-fast\n');
  const first = join(dir, 'first.zip');
  t.is((await exportCli(f, ['-r', join(dir, 'requirements.txt'), '--repo', 'internal', '--target', X86, '--target', X86_228, '-o', first])).code, 0);
  const a = await readZip(first);
  for (const target of [X86, X86_228]) {
    const lock = join(dir, `pylock.${target}.toml`);
    await writeFile(lock, text(a, `pylock.${target}.toml`));
    const out = join(dir, `${target}.zip`);
    const r = await exportCli(f, ['-r', lock, '--repo', 'internal', '--target', target, '-o', out]);
    t.is(r.code, 0, r.stderr);
    const b = await readZip(out);
    t.deepEqual(wheelhouse(b), wheelhouse(a).filter((l) => (target === X86 ? l.includes('2.0') : l.includes('3.0'))));
    t.is(text(b, 'pylock.toml'), text(a, `pylock.${target}.toml`), 'one target: one lock, the same');
  }
});

// --- A third party's lock -------------------------------------------------------------------

test('a lock written elsewhere (files on pypi.org): each file found in the repository by name and sha256', async (t) => {
  const f = await fixture();
  const dir = await workDir(t);
  const lock = join(dir, 'pylock.toml');
  await writeFile(lock, thirdPartyLock(f.dists));
  const out = join(dir, 'wheelhouse.zip');
  const r = await exportCli(f, ['-r', lock, '--repo', 'internal', '--target', X86, '--target', ARM, '-o', out, '--json']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr.includes('warning'), false, r.stderr);
  const entries = await readZip(out);
  t.deepEqual(wheelhouse(entries), [...new Set([...CHOSEN[X86]!, ...CHOSEN[ARM]!])].sort().map((n) => `wheelhouse/${n} ${sha(f.dists, n)}`));
  const summary = JSON.parse(r.stdout) as { targets: Array<{ name: string; pins: number }> };
  t.deepEqual(summary.targets.map((x) => [x.name, x.pins]), [[X86, 4], [ARM, 5]]);
  // The wheelhouse's own lock points into the zip, not at pypi.org.
  const own = parseToml(text(entries, 'pylock.toml')) as { packages: Array<{ wheels?: Array<{ path: string; url?: string }> }> };
  t.true(own.packages.every((p) => (p.wheels ?? []).every((w) => w.path.startsWith('wheelhouse/') && w.url === undefined)));
});

test('refused, nothing written: a changed hash (tampering), a file the repository lacks, a target the lock does not cover', async (t) => {
  const f = await fixture();
  const dir = await workDir(t);
  const out = join(dir, 'wheelhouse.zip');
  const pure = 'acme_pure-1.1-py3-none-any.whl';
  const real = sha(f.dists, pure);

  const tampered = join(dir, 'pylock.tampered.toml');
  await writeFile(tampered, thirdPartyLock(f.dists, { [pure]: 'f'.repeat(64) }));
  const r1 = await exportCli(f, ['-r', tampered, '--repo', 'internal', '--target', X86, '-o', out]);
  t.is(r1.code, 1);
  t.true(r1.stderr.includes(`${X86}: acme-pure 1.1 (${tampered} packages[5].wheels[0]): refused: ${pure} in 'internal' has sha256 ${real}, but the lock says ${'f'.repeat(64)}; the file was replaced or the lock altered`), r1.stderr);
  t.regex(r1.stderr, /^pydepot: cannot resolve for cp311-manylinux_2_17_x86_64 \(.*refused: .*\); nothing was written$/m);
  t.regex(r1.stdout, new RegExp(`^${X86} +- +- +- +1: acme-pure 1\\.1 .*refused`, 'm'), 'the table names what failed');

  const absent = join(dir, 'pylock.absent.toml');
  await writeFile(absent, thirdPartyLock(f.dists).replaceAll("'acme_pure-1.1-py3-none-any.whl'", "'acme_pure-1.1-1-py3-none-any.whl'"));
  const r2 = await exportCli(f, ['-r', absent, '--repo', 'internal', '--target', X86, '-o', out]);
  t.is(r2.code, 1);
  t.true(r2.stderr.includes(`acme-pure 1.1 (${absent} packages[5].wheels[0]): acme_pure-1.1-1-py3-none-any.whl (sha256 ${real}) is not in 'internal'; a file with that sha256 is there as ${pure}`), r2.stderr);

  const lock = join(dir, 'pylock.toml');
  await writeFile(lock, thirdPartyLock(f.dists));
  const r3 = await exportCli(f, ['-r', lock, '--repo', 'internal', '--target', X86, '--target', 'cp311-win_amd64', '--target', 'cp312-manylinux_2_17_x86_64', '-o', out]);
  t.is(r3.code, 1);
  t.true(r3.stderr.includes(`cp311-win_amd64: ${lock} does not cover cp311-win_amd64: none of its environments holds there ('sys_platform == "linux" and python_version == "3.11"'); lock for this target too`), r3.stderr);
  t.true(r3.stderr.includes(`cp312-manylinux_2_17_x86_64: ${lock} requires Python == 3.11.*, and cp312-manylinux_2_17_x86_64 has 3.12.0`), r3.stderr);
  t.regex(r3.stderr, /^pydepot: cannot resolve for cp311-win_amd64, cp312-manylinux_2_17_x86_64 /m);

  t.deepEqual((await readdir(dir)).sort(), ['pylock.absent.toml', 'pylock.tampered.toml', 'pylock.toml'], 'no zip, no partial file');
});

test('bad input: malformed TOML with its line, an unsupported lock-version, a lock combined with requirements, --constraint or --pre, two locks', async (t) => {
  const f = await fixture();
  const dir = await workDir(t);
  const out = join(dir, 'wheelhouse.zip');
  const lock = join(dir, 'pylock.toml');
  const run = (args: string[]): Promise<RunResult> => exportCli(f, [...args, '--repo', 'internal', '--target', X86, '-o', out]);

  await writeFile(lock, "lock-version = '1.0'\ncreated-by = 'x'\n[[packages]]\nname = 'acme-pure'\nversion = = '1.1'\n");
  const malformed = await run(['--lock', lock]);
  t.is(malformed.code, 1);
  t.regex(malformed.stderr, /^pydepot: .*pylock\.toml:5:\d+: not valid TOML \(.+\)$/m);

  await writeFile(lock, "lock-version = '2.0'\ncreated-by = 'x'\npackages = []\n");
  t.regex((await run(['-r', lock])).stderr, /^pydepot: .*pylock\.toml: lock-version 2\.0 is not supported \(pydepot reads PEP 751 lock-version 1\.x\)$/m);

  await writeFile(lock, "lock-version = '1.0'\ncreated-by = 'x'\n[[packages]]\nname = 'acme-pure'\n[[packages.wheels]]\npath = 'acme_pure-1.1-py3-none-any.whl'\nhashes = {}\n");
  const invalid = await run(['-r', lock]);
  t.is(invalid.code, 1);
  t.regex(invalid.stderr, /^ {2}.*pylock\.toml: packages\[0\] \(acme-pure\): version is missing: /m, 'every problem, one per line');
  t.regex(invalid.stderr, /^ {2}.*pylock\.toml: packages\[0\] \(acme-pure\): wheels\[0\]\.hashes is empty/m);

  await writeFile(lock, thirdPartyLock(f.dists));
  const reqs = join(dir, 'requirements.txt');
  await writeFile(reqs, 'acme-app\n');
  t.regex((await run(['-r', lock, '-r', reqs])).stderr, /is a lock, which is exact: it cannot be combined with requirements files or --constraint/);
  t.regex((await run(['--lock', lock, '--constraint', reqs])).stderr, /is a lock, which is exact/);
  t.regex((await run(['--lock', lock, '--pre'])).stderr, /--pre does not apply to a lock/);
  t.regex((await run(['--lock', lock, '-r', join(dir, 'pylock.other.toml')])).stderr, /one lock at a time/);
  t.regex((await run([])).stderr, /give -r requirements\.txt, or a lock: --lock pylock\.toml \(or -r pylock\.toml\)/);
  t.false((await readdir(dir)).includes('wheelhouse.zip'));
});

// --- prefetch --------------------------------------------------------------------------------

test('prefetch --lock warms exactly the lock\'s files for the target through a remote', async (t) => {
  const dists = await buildWheelhouseGraph();
  const up = await FakeUpstream.start(t);
  const byProject = new Map<string, UpstreamFile[]>();
  for (const d of dists.values()) byProject.set(d.spec.name, [...(byProject.get(d.spec.name) ?? []), { dist: d }]);
  for (const [name, files] of byProject) up.addProject(name, files);
  const raw = { repositories: { pypi: { type: 'remote', url: up.url, indexTtl: 600, timeout: 5 } }, defaultRepository: 'pypi' };
  const s = await startTestServer(t, raw);
  const dir = await workDir(t);
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml(raw));
  const lock = join(dir, 'pylock.toml');
  await writeFile(lock, thirdPartyLock(dists));

  const r = await pydepot(['prefetch', '--lock', lock, '--repo', 'pypi', '--target', ARM, '--config', config, '--storage', s.storage]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`${ARM}\\s+5\\s+5\\s+.*none`));
  for (const name of CHOSEN[ARM]!) t.is(up.count(up.fileUrl(name)), 1, name);
  t.is(up.count((q) => q.path.startsWith('/packages/') && !q.path.endsWith('.metadata')), CHOSEN[ARM]!.length, 'no other file');
});
