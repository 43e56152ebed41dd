/**
 * A wheel cache end to end, with the real clients: twine (Debian's
 * /usr/bin/twine) uploads a wheel built for this machine to the cache, for
 * a release the (fake, loopback) upstream publishes as an sdist only; then a
 * fresh venv's pip installs through the virtual `/simple/` and takes that
 * wheel: it downloads the `.whl` and builds nothing. Both pips (pyenv
 * python3's 23.2, Debian's 23.0).
 *
 *   pypi: remote (fake upstream) · cache: wheelcache augmenting pypi
 *   all: virtual [internal, pypi, cache], the default
 */
import { arch } from 'node:os';
import test from 'ava';
import { describe, requireClient, twine, venv } from '../helpers/clients.ts';
import { buildSdist, buildWheel, writeDists } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { CI, startTestServer, tempDir } from '../helpers/server.ts';

// A manylinux wheel for this machine: what `pydepot wheels build` uploads after auditwheel.
const PLATFORM = `manylinux_2_17_${arch() === 'arm64' ? 'aarch64' : 'x86_64'}`;

for (const python of ['python3', '/usr/bin/python3']) {
  test(`pip (${python}) installs an sdist-only release through /simple/ from the cache wheel twine uploaded, building nothing`, async (t) => {
    if (!(await requireClient(t, 'twine')) || !(await requireClient(t, python))) return;
    const up = await FakeUpstream.start(t);
    const spec = { name: 'slow-build', version: '1.0', requiresDist: ['tinydep>=1'] };
    const sdist = await buildSdist(spec);
    const older = await buildWheel({ ...spec, version: '0.9' });
    up.addProject('slow-build', [{ dist: await buildSdist({ ...spec, version: '0.9' }) }, { dist: older }, { dist: sdist }]);
    up.addProject('tinydep', [{ dist: await buildWheel({ name: 'tinydep', version: '1.2' }) }]);
    const s = await startTestServer(t, {
      defaultRepository: 'all',
      repositories: {
        internal: { type: 'local', upload: [CI.user] },
        pypi: { type: 'remote', url: up.url, timeout: 5 },
        cache: { type: 'wheelcache', augments: 'pypi', upload: [CI.user] },
        all: { type: 'virtual', members: ['internal', 'pypi', 'cache'] },
      },
    });
    const v = await venv(t, python);
    const pip = (command: 'install' | 'download', args: string[]) => v.pip([command, '--no-input', '--progress-bar', 'off', '--index-url', `${s.url}/simple/`, ...args]);

    // Before: no wheel of 1.0 for this machine anywhere, so pip would have to build the sdist.
    const none = await pip('download', ['--no-deps', '--only-binary', ':all:', '--dest', await tempDir(t), 'slow-build==1.0']);
    t.not(none.code, 0, describe(none));

    const wheel = await buildWheel({ ...spec, pythonTag: 'py3', abiTag: 'none', platformTag: PLATFORM });
    const dir = await tempDir(t, 'pydepot-dist-');
    const uploaded = await twine(['upload', '--repository-url', `${s.url}/cache/`, ...CI.twineArgs, '--disable-progress-bar', ...(await writeDists(dir, [wheel]))]);
    t.is(uploaded.code, 0, describe(uploaded));

    const target = await tempDir(t, 'pydepot-target-');
    const installed = await pip('install', ['--target', target, 'slow-build==1.0']);
    t.is(installed.code, 0, describe(installed));
    const log = installed.stdout + installed.stderr;
    t.regex(log, new RegExp(`Downloading [^\\n]*${wheel.filename.replace(/\./g, '\\.')}`), 'the cache wheel is downloaded');
    t.false(log.includes(sdist.filename), 'the sdist is never fetched');
    t.notRegex(log, /Building wheel|setup\.py|Preparing metadata/i, 'nothing is built');
    t.regex(log, /Successfully installed slow-build-1\.0 tinydep-1\.2/);

    // The upstream's other releases are still there: pip can still pick 0.9's wheel.
    const old = await pip('download', ['--no-deps', '--dest', await tempDir(t), 'slow-build==0.9']);
    t.is(old.code, 0, describe(old));
    t.true((old.stdout + old.stderr).includes(older.filename));
  });
}
