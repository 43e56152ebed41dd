/**
 * `pydepot wheels build`, in-process (test/helpers/cli.ts), against a
 * running pydepot: `src` holds the releases (sdists and a wheel), `cache`
 * takes the uploads. The node's Python is test/helpers/fake-python.ts:
 * the real environment probe, and a `pip wheel` whose outcome each test
 * chooses, so every path (built, skipped, failed at each stage) is quick.
 * Real pip and real builds are test/e2e/wheels-build.test.ts.
 */
import { writeFile } from 'node:fs/promises';
import { arch } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { pydepot } from '../helpers/cli.ts';
import { describe } from '../helpers/clients.ts';
import { buildSdist, buildWheel, type DistSpec } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { fakePython, type FakePython } from '../helpers/fake-python.ts';
import { CI, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

const FAST: DistSpec = { name: 'acme-fast', version: '1.0', requiresDist: ['acme-core>=1.0'] };
const BROKEN: DistSpec = { name: 'acme-broken', version: '1.0' };
const TAGGED: DistSpec = { name: 'acme-tagged', version: '1.0' };
const LIAR: DistSpec = { name: 'acme-liar', version: '1.0' };
const CORE: DistSpec = { name: 'acme-core', version: '1.0' };
/** 15 lines: the report keeps the last 10. */
const BROKEN_LOG = Array.from({ length: 15 }, (_, i) => `build line ${i + 1}`);

interface Setup {
  s: TestServer;
  /** The upstream of the `pypi` remote, which the `wheels` cache augments. */
  up: FakeUpstream;
  py: FakePython;
  dir: string;
  /** A requirements file with these lines. */
  reqs(...lines: string[]): Promise<string>;
  /** `wheels build` against `src`, uploading to `cache`, with the fake Python and the ci token in the environment. */
  run(reqs: string, args?: string[], opts?: { tty?: boolean; env?: NodeJS.ProcessEnv }): ReturnType<typeof pydepot>;
  /** Filenames a repository (default `cache`) lists for a project. */
  cached(project: string, repo?: string): Promise<string[]>;
}

async function setup(t: ExecutionContext, opts: { platform?: string | null } = {}): Promise<Setup> {
  // A wheel cache over an upstream: it refuses wheels for names hosted here (src).
  const up = await FakeUpstream.start(t);
  const s = await startTestServer(t, {
    repositories: {
      src: { type: 'local', upload: [CI.user] },
      cache: { type: 'local', upload: [CI.user] },
      closed: { type: 'local', upload: ['nobody'] },
      pypi: { type: 'remote', url: up.url, timeout: 5 },
      wheels: { type: 'wheelcache', augments: 'pypi', upload: [CI.user] },
    },
    defaultRepository: 'src',
  });
  for (const d of [await buildSdist(FAST), await buildSdist(BROKEN), await buildSdist(TAGGED), await buildSdist(LIAR), await buildWheel(CORE)]) {
    const spec = [FAST, BROKEN, TAGGED, LIAR, CORE].find((x) => d.filename.startsWith(x.name.replace(/-/g, '_')))!;
    const res = await upload(`${s.url}/src/`, d, spec.name, spec.version);
    if (res.status !== 200) throw new Error(`${d.filename}: ${res.status} ${await res.text()}`);
  }
  const py = await fakePython(t, opts);
  await py.builds('acme_fast-1.0.tar.gz', [await buildWheel(FAST)]);
  await py.fails('acme_broken-1.0.tar.gz', BROKEN_LOG);
  await py.builds('acme_tagged-1.0.tar.gz', [await buildWheel({ ...TAGGED, pythonTag: 'cp27', abiTag: 'cp27m', platformTag: 'win32' })]);
  await py.builds('acme_liar-1.0.tar.gz', [await buildWheel({ ...LIAR, metadataVersionField: '2.0' })]);
  const dir = await tempDir(t, 'pydepot-wheels-cli-');
  let n = 0;
  return {
    s, up, py, dir,
    async reqs(...lines) {
      const path = join(dir, `requirements-${++n}.txt`);
      await writeFile(path, lines.map((l) => `${l}\n`).join(''));
      return path;
    },
    run(reqs, args = [], o = {}) {
      const env = o.env ?? { PATH: process.env.PATH, PYDEPOT_TOKEN: CI.token };
      return pydepot(['wheels', 'build', '-r', reqs, '--index', `${s.url}/src/simple`, '--upload-to', `${s.url}/cache/`, '--python', py.path, ...args], { env, tty: o.tty });
    },
    async cached(project, repo = 'cache') {
      const res = await fetch(`${s.url}/${repo}/simple/${project}/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } });
      if (res.status === 404) return [];
      return ((await res.json()) as { files: { filename: string }[] }).files.map((f) => f.filename);
    },
  };
}

test('--dry-run lists what it would build and what it skips, and builds nothing (no --upload-to needed)', async (t) => {
  const f = await setup(t);
  const reqs = await f.reqs('acme-fast', 'acme-broken');
  const r = await pydepot(['wheels', 'build', '-r', reqs, '--index', `${f.s.url}/src/simple/`, '--python', f.py.path, '--dry-run'], { env: { PATH: process.env.PATH } });
  t.is(r.code, 0, describe(r));
  t.regex(r.stdout, /^project\s+version\s+file\s+outcome$/m);
  t.regex(r.stdout, /^acme-broken\s+1\.0\s+acme_broken-1\.0\.tar\.gz\s+would build$/m);
  t.regex(r.stdout, /^acme-core\s+1\.0\s+acme_core-1\.0-py3-none-any\.whl\s+skipped: has a wheel$/m);
  t.regex(r.stdout, /^acme-fast\s+1\.0\s+acme_fast-1\.0\.tar\.gz\s+would build$/m);
  t.regex(r.stdout, /^would build 2; skipped 1 \(1 has a wheel, 0 already in cache\)$/m);
  t.regex(r.stderr, /: CPython 3\.\d+\.\d+ on \w+ \(target cp3\d+-\w+, \d+ tags\)/);
  t.regex(r.stderr, /resolved 3 pins in .*; would build: 2/);
  t.deepEqual(await f.py.calls(), []);
});

test('builds and uploads the sdist-only pin, reports the failed build with the last 10 lines of its log, exits 1; pip runs in an environment of pydepot\'s making', async (t) => {
  const f = await setup(t);
  const reqs = await f.reqs('acme-fast', 'acme-broken');
  const env = { PATH: process.env.PATH, PYDEPOT_TOKEN: CI.token, PIP_FIND_LINKS: '/nowhere', PIP_INDEX_URL: 'http://elsewhere.invalid/simple/', PIP_NO_BUILD_ISOLATION: '0' };
  const r = await f.run(reqs, [], { env });
  t.is(r.code, 1, describe(r));
  t.regex(r.stdout, /^acme-fast\s+1\.0\s+acme_fast-1\.0\.tar\.gz\s+built\+uploaded acme_fast-1\.0-py3-none-any\.whl \([\d.]+ kB, built in [\d.]+ s\)$/m);
  t.regex(r.stdout, /^acme-broken\s+1\.0\s+acme_broken-1\.0\.tar\.gz\s+failed \(build\)$/m);
  t.regex(r.stdout, /^built and uploaded 1, skipped 1 \(1 has a wheel, 0 already in cache\), failed 1$/m);
  t.regex(r.stderr, /\[1\/2\] acme-broken 1\.0: downloading acme_broken-1\.0\.tar\.gz/);
  t.regex(r.stderr, /\[2\/2\] acme-fast 1\.0: uploading/);
  const tail = r.stderr.split('\n').filter((l) => l.startsWith('  | ')).map((l) => l.slice(4));
  t.deepEqual(tail, BROKEN_LOG.slice(-10));
  t.regex(r.stderr, /failed: acme-broken 1\.0 \(build\): pip wheel exited with code 1/);
  t.regex(r.stderr, /pydepot: 1 wheel could not be built or uploaded: acme-broken 1\.0\n$/);
  t.deepEqual(await f.cached('acme-fast'), ['acme_fast-1.0-py3-none-any.whl']);
  t.deepEqual(await f.cached('acme-broken'), []);

  const calls = await f.py.calls();
  t.is(calls.length, 2);
  const port = new URL(f.s.url).port;
  for (const c of calls) {
    t.deepEqual(c.args.slice(0, 6), ['-m', 'pip', 'wheel', '--no-deps', '--wheel-dir', c.args[5]!]);
    t.false(c.args.includes('--no-build-isolation'));
    t.false(c.args.some((a) => a.includes(CI.token)), 'the token never shows in the process list');
    t.like(c.pip, {
      PIP_CONFIG_FILE: '/dev/null',
      PIP_INDEX_URL: `http://__token__:${encodeURIComponent(CI.token)}@127.0.0.1:${port}/src/simple/`,
      PIP_TRUSTED_HOST: `127.0.0.1:${port}`,
      PIP_NO_INPUT: '1',
    });
    t.false('PIP_FIND_LINKS' in c.pip, 'inherited PIP_* variables are dropped');
    t.false('PIP_NO_BUILD_ISOLATION' in c.pip);
  }

  // Again: acme-fast is in the cache, found before building; acme-broken is tried (and fails) again.
  const again = await f.run(reqs, ['--json']);
  t.is(again.code, 1, describe(again));
  const summary = JSON.parse(again.stdout) as { ok: boolean; counts: Record<string, number>; target: string; pins: Array<Record<string, unknown>> };
  t.false(summary.ok);
  t.deepEqual(summary.counts, { built: 0, hasWheel: 1, inCache: 1, wouldBuild: 0, failed: 1 });
  t.like(summary.pins.find((p) => p.name === 'acme-fast'), { outcome: 'in-cache', wheel: 'acme_fast-1.0-py3-none-any.whl', filename: 'acme_fast-1.0.tar.gz' });
  t.like(summary.pins.find((p) => p.name === 'acme-broken'), { outcome: 'failed', stage: 'build', log: BROKEN_LOG.slice(-10) });
  t.is((await f.py.calls()).length, 3, 'only acme-broken was built again');
});

test('a built wheel that this node would not install, or whose METADATA names another release, is not uploaded', async (t) => {
  const f = await setup(t);
  const r = await f.run(await f.reqs('acme-tagged', 'acme-liar'), ['--no-build-isolation', '--json']);
  t.is(r.code, 1, describe(r));
  const summary = JSON.parse(r.stdout) as { pins: Array<{ name: string; outcome: string; stage: string; reason: string }> };
  const tagged = summary.pins.find((p) => p.name === 'acme-tagged')!;
  t.like(tagged, { outcome: 'failed', stage: 'check' });
  t.regex(tagged.reason, /^acme_tagged-1\.0-cp27-cp27m-win32\.whl is tagged cp27-cp27m-win32, which this node's pip does not install \(its best tag is cp3\d+-cp3\d+-\w+\)$/);
  const liar = summary.pins.find((p) => p.name === 'acme-liar')!;
  t.like(liar, { outcome: 'failed', stage: 'check' });
  t.is(liar.reason, 'the METADATA of acme_liar-1.0-py3-none-any.whl says acme-liar 2.0, not acme-liar 1.0');
  t.deepEqual(await f.cached('acme-tagged'), []);
  t.deepEqual(await f.cached('acme-liar'), []);
  for (const c of await f.py.calls()) t.true(c.args.includes('--no-build-isolation'), '--no-build-isolation is passed on');
});

test('an upload the target refuses is a failure with its reason', async (t) => {
  const f = await setup(t);
  const reqs = await f.reqs('acme-fast');
  const r = await pydepot(['wheels', 'build', '-r', reqs, '--index', `${f.s.url}/src/simple/`, '--upload-to', `${f.s.url}/closed/`, '--python', f.py.path, '--token', CI.token], { env: { PATH: process.env.PATH } });
  t.is(r.code, 1, describe(r));
  t.regex(r.stdout, /^acme-fast\s+1\.0\s+acme_fast-1\.0\.tar\.gz\s+failed \(upload\)$/m);
  t.regex(r.stderr, new RegExp(`failed: acme-fast 1\\.0 \\(upload\\): ${f.s.url}/closed/ refused acme_fast-1\\.0-py3-none-any\\.whl \\(403\\): User 'ci' may not upload to repository 'closed'\\.`));

  // A wheel cache never takes a wheel for an internal name (src hosts acme-fast).
  const cache = await f.run(reqs, ['--upload-to', `${f.s.url}/wheels/`, '--json']);
  t.is(cache.code, 1, describe(cache));
  const fast = (JSON.parse(cache.stdout) as { pins: Array<{ name: string; outcome: string; stage: string; reason: string }> }).pins.find((p) => p.name === 'acme-fast')!;
  t.like(fast, { outcome: 'failed', stage: 'upload' });
  t.regex(fast.reason, new RegExp(`^${f.s.url}/wheels/ refused acme_fast-1\\.0-py3-none-any\\.whl \\(400\\): 'acme-fast' is an internal name`));
});

test('requirements that cannot be resolved for this node: the reasons, exit 1, nothing built', async (t) => {
  const f = await setup(t);
  const r = await f.run(await f.reqs('acme-fast', 'acme-missing>=1'));
  t.is(r.code, 1, describe(r));
  t.regex(r.stderr, /acme-missing>=1 \(required by .*requirements-1\.txt:2\): no such project/);
  t.regex(r.stderr, /pydepot: cannot resolve for cp3\d+-\w+ \(.*\); nothing was built/);
  t.deepEqual(await f.py.calls(), []);
});

test('usage: --upload-to or --dry-run; a Python that cannot run; a probe without a platform asks for --platform', async (t) => {
  const f = await setup(t);
  const reqs = await f.reqs('acme-fast');
  const noTarget = await pydepot(['wheels', 'build', '-r', reqs, '--index', `${f.s.url}/src/simple/`, '--python', f.py.path], { env: { PATH: process.env.PATH } });
  t.is(noTarget.code, 1);
  t.regex(noTarget.stderr, /give --upload-to .* or --dry-run/);
  const badIndex = await f.run(reqs, ['--index', 'ftp://x/']);
  t.regex(badIndex.stderr, /--index ftp:\/\/x\/: only http and https URLs/);
  const noPython = await f.run(reqs, ['--python', join(f.dir, 'no-such-python')]);
  t.is(noPython.code, 1);
  t.regex(noPython.stderr, /--python .*no-such-python: cannot run it \(ENOENT\)/);

  const musl = await fakePython(t, { platform: null });
  const run = (args: string[]) => pydepot(['wheels', 'build', '-r', reqs, '--index', `${f.s.url}/src/simple/`, '--python', musl.path, '--dry-run', ...args], { env: { PATH: process.env.PATH } });
  const noPlatform = await run([]);
  t.is(noPlatform.code, 1);
  t.regex(noPlatform.stderr, /"platform" is null.*Give it with --platform \(e\.g\. musllinux_1_2_x86_64\)/);
  const given = await run(['--platform', 'musllinux_1_2_x86_64']);
  t.is(given.code, 0, describe(given));
  t.regex(given.stderr, /target cp3\d+-musllinux_1_2_x86_64/);
});

test('on a terminal, a progress bar instead of lines', async (t) => {
  const f = await setup(t);
  const r = await f.run(await f.reqs('acme-fast'), [], { tty: true });
  t.is(r.code, 0, describe(r));
  t.regex(r.stderr, /building \[.*\] [01]\/1 \| acme-fast 1\.0: /);
  t.notRegex(r.stderr, /\[1\/1\] acme-fast/);
  t.regex(r.stdout, /built and uploaded 1/);
});

test('--auditwheel repairs a linux_<arch> wheel into a manylinux one, which the wheel cache takes; without it the cache refuses, and says how', async (t) => {
  const f = await setup(t);
  const machine = arch() === 'arm64' ? 'aarch64' : 'x86_64';
  const NATIVE: DistSpec = { name: 'acme-native', version: '1.0' };
  f.up.addProject('acme-native', [{ dist: await buildSdist(NATIVE) }]);
  const linux = await buildWheel({ ...NATIVE, platformTag: `linux_${machine}` });
  const manylinux = await buildWheel({ ...NATIVE, platformTag: `manylinux_2_17_${machine}` });
  await f.py.builds('acme_native-1.0.tar.gz', [linux]);
  await f.py.repairs(linux.filename, [manylinux]);
  const reqs = await f.reqs('acme-native');
  const toCache = ['--index', `${f.s.url}/pypi/simple/`, '--upload-to', `${f.s.url}/wheels/`];

  const refused = await f.run(reqs, toCache);
  t.is(refused.code, 1, describe(refused));
  t.regex(refused.stderr, new RegExp(`failed: acme-native 1\\.0 \\(upload\\): .* refused ${linux.filename.replace(/\./g, '\\.')} \\(400\\): .*auditwheel.* \\(--auditwheel repairs it into a manylinux wheel before uploading\\)`));

  const repaired = await f.run(reqs, [...toCache, '--auditwheel']);
  t.is(repaired.code, 0, describe(repaired));
  t.regex(repaired.stderr, /: auditwheel 99\.0 \(fake\)/);
  t.regex(repaired.stderr, /\[1\/1\] acme-native 1\.0: repairing \(auditwheel\)/);
  t.regex(repaired.stdout, new RegExp(`built\\+uploaded ${manylinux.filename.replace(/\./g, '\\.')}`));
  t.deepEqual(await f.cached('acme-native', 'wheels'), [manylinux.filename]);
  const repairCall = (await f.py.calls()).find((c) => c.args[1] === 'auditwheel')!;
  t.deepEqual(repairCall.args.slice(0, 4), ['-m', 'auditwheel', 'repair', '--wheel-dir']);
  t.true(repairCall.args.at(-1)!.endsWith(linux.filename));

  // Asked for auditwheel where there is none: said before anything is built.
  const bare = await fakePython(t, { auditwheel: false });
  const missing = await pydepot(['wheels', 'build', '-r', reqs, ...toCache, '--python', bare.path, '--auditwheel'], { env: { PATH: process.env.PATH } });
  t.is(missing.code, 1);
  t.regex(missing.stderr, /--auditwheel: .* cannot run auditwheel \(.*No module named auditwheel\): .* -m pip install auditwheel \(it needs patchelf\)/);
  t.deepEqual(await bare.calls(), []);
});

test('a lock is refused: wheels build resolves requirements', async (t) => {
  const r = await pydepot(['wheels', 'build', '-r', 'pylock.toml', '--index', 'http://127.0.0.1:1/simple/', '--dry-run']);
  t.is(r.code, 1);
  t.regex(r.stderr, /pylock\.toml is a lock \(PEP 751\): wheels build resolves requirements files/);
});
