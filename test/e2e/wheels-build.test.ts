/**
 * `pydepot wheels build` with real pip and real builds, for both pips on
 * this machine (pyenv python3's 23.2, Debian's 23.0): the upstream (a fake
 * pypi.org behind a pydepot remote) has acme-fast and acme-broken as sdists
 * only, each with an in-tree build backend that needs nothing from an index
 * (test/helpers/dists.ts buildInTreeSdist), and acme-core as a wheel. The
 * command, run in-process with the interpreter as --python:
 * - builds acme-fast with that Python's pip, checks it and uploads it;
 * - skips acme-core (it has a wheel);
 * - reports acme-broken (its backend raises) as failed with its log's end,
 *   and exits 1, acme-fast built all the same.
 * Then a fresh venv of the same interpreter installs acme-fast from pydepot
 * without building anything, and a second run finds the wheel in the cache
 * and builds nothing.
 *
 * The upload target is `cache`, a wheel cache that augments the remote (one
 * line of config(): any repository that takes twine uploads would do); the
 * merged view then lists the cache's wheel beside the upstream's sdist.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { pydepot } from '../helpers/cli.ts';
import { describe, requireClient, venv } from '../helpers/clients.ts';
import { buildInTreeSdist, buildWheel } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { CI, startTestServer, tempDir } from '../helpers/server.ts';

const PYTHONS = [
  { label: 'pip 23.2 (pyenv python3)', python: 'python3' },
  { label: 'pip 23.0 (Debian /usr/bin/python3)', python: '/usr/bin/python3' },
];

const BROKEN_LOG = ['compiling acme_broken/_speedups.c', 'acme_broken/_speedups.c:1:10: fatal error: Python.h: No such file or directory', 'acme-broken: the C extension did not compile'];

function config(upstream: string): Record<string, unknown> {
  return {
    repositories: {
      pypi: { type: 'remote', url: upstream, indexTtl: 0, timeout: 10 },
      // The upload target: a wheel cache completing pypi's releases (any repository that takes twine uploads would do).
      cache: { type: 'wheelcache', augments: 'pypi', upload: [CI.user] },
      all: { type: 'virtual', members: ['pypi', 'cache'] },
    },
    defaultRepository: 'all',
  };
}

for (const { label, python } of PYTHONS) {
  test(`${label}: wheels build builds the sdist-only pin, uploads it, reports the broken one; pip then installs the wheel without building`, async (t) => {
    if (!(await requireClient(t, python))) return;
    const up = await FakeUpstream.start(t);
    up.addProject('acme-fast', [{ dist: await buildInTreeSdist({ name: 'acme-fast', version: '1.0', requiresDist: ['acme-core>=1.0'] }) }]);
    up.addProject('acme-broken', [{ dist: await buildInTreeSdist({ name: 'acme-broken', version: '1.0' }, { failWith: BROKEN_LOG }) }]);
    up.addProject('acme-core', [{ dist: await buildWheel({ name: 'acme-core', version: '1.0' }) }]);
    const s = await startTestServer(t, config(up.url));
    const dir = await tempDir(t, 'pydepot-wheels-e2e-');
    const reqs = join(dir, 'requirements.txt');
    await writeFile(reqs, 'acme-fast\nacme-broken\n');

    // The machine's own environment, PIP_* variables and all (they must not reach the build), plus the token.
    const env = { ...process.env, PYDEPOT_TOKEN: CI.token };
    const args = ['wheels', 'build', '-r', reqs, '--index', `${s.url}/pypi/simple/`, '--upload-to', `${s.url}/cache/`, '--python', python];
    const r = await pydepot(args, { env });
    t.is(r.code, 1, describe(r));
    t.regex(r.stdout, /acme-fast\s+1\.0\s+acme_fast-1\.0\.tar\.gz\s+built\+uploaded acme_fast-1\.0-py3-none-any\.whl/);
    t.regex(r.stdout, /acme-core\s+1\.0\s+acme_core-1\.0-py3-none-any\.whl\s+skipped: has a wheel/);
    t.regex(r.stdout, /acme-broken\s+1\.0\s+acme_broken-1\.0\.tar\.gz\s+failed \(build\)/);
    t.regex(r.stdout, /built and uploaded 1, skipped 1 \(1 has a wheel, 0 already in cache\), failed 1/);
    t.regex(r.stderr, /failed: acme-broken 1\.0 \(build\): pip wheel exited with code 1/);
    t.regex(r.stderr, /\| .*RuntimeError: acme-broken: the C extension did not compile/, 'the log tail has the backend\'s error');
    t.regex(r.stderr, /pydepot: 1 wheel could not be built or uploaded: acme-broken 1\.0/);

    // The cache holds the wheel; its METADATA is the sdist's PKG-INFO.
    const page = await fetch(`${s.url}/cache/simple/acme-fast/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } });
    const files = ((await page.json()) as { files: { filename: string }[] }).files.map((f) => f.filename);
    t.deepEqual(files, ['acme_fast-1.0-py3-none-any.whl']);
    const metadata = await fetch(`${s.url}/cache/simple/acme-fast/`).then(async (res) => {
      const href = /href="([^"#]+)/.exec(await res.text())![1]!;
      return (await fetch(new URL(`${href}.metadata`, `${s.url}/cache/simple/acme-fast/`))).text();
    });
    t.regex(metadata, /^Requires-Dist: acme-core>=1\.0$/m);
    // The merged page adds the cache's wheel to the upstream's release, whose sdist is still listed.
    const merged = await fetch(`${s.url}/all/simple/acme-fast/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } });
    const mergedFiles = ((await merged.json()) as { files: { filename: string; _pydepot?: { source: string } }[] }).files;
    t.deepEqual(mergedFiles.map((f) => [f.filename, f._pydepot?.source ?? 'upstream']), [['acme_fast-1.0.tar.gz', 'upstream'], ['acme_fast-1.0-py3-none-any.whl', 'wheelcache']]);

    // A fresh venv installs it through /simple/ without building: pip downloads the cache's wheel.
    const v = await venv(t, python);
    const target = await tempDir(t, 'pydepot-target-');
    const install = await v.pip(['install', '--index-url', `${s.url}/all/simple/`, '--target', target, 'acme-fast']);
    t.is(install.code, 0, describe(install));
    t.notRegex(install.stdout + install.stderr, /Building wheel|setup\.py|pyproject\.toml/, describe(install));
    t.regex(install.stdout, /acme_fast-1\.0-py3-none-any\.whl/);
    const imported = await v.run(['-c', 'import acme_fast, acme_core; print(acme_fast.__version__)'], { env: { PYTHONPATH: target } });
    t.is(imported.stdout.trim(), '1.0', describe(imported));

    // Again, for acme-fast alone: found in the cache before any build, so no pip runs at all.
    const onlyFast = join(dir, 'requirements-fast.txt');
    await writeFile(onlyFast, 'acme-fast\n');
    const again = await pydepot([...args.map((a) => (a === reqs ? onlyFast : a)), '--json'], { env });
    t.is(again.code, 0, describe(again));
    const summary = JSON.parse(again.stdout) as { counts: Record<string, number>; pins: { name: string; outcome: string; wheel: string | null }[] };
    t.deepEqual(summary.counts, { built: 0, hasWheel: 1, inCache: 1, wouldBuild: 0, failed: 0 });
    t.like(summary.pins.find((p) => p.name === 'acme-fast'), { outcome: 'in-cache', wheel: 'acme_fast-1.0-py3-none-any.whl' });
  });
}
