/**
 * pip 23.2 through a filtered view (issue 13): a virtual repository with a
 * `files` filter over a local and a remote member. The upstream's newest
 * acme-native wheel is tagged for a platform the filter drops (a bare
 * `linux_x86_64`, which pip on this Linux would take first) and its newest
 * release for a Python the filter drops: pip still resolves, and installs the
 * release the filter keeps; the local acme-app, a wheel for any platform, is
 * never filtered. pydepot never fetches a filtered file from the upstream.
 */
import test from 'ava';
import { describe, requireClient, venv } from '../helpers/clients.ts';
import { buildWheel } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

test('pip resolves and installs through a filtered view; filtered upstream files are never fetched', async (t) => {
  if (!(await requireClient(t, 'python3'))) return;
  const up = await FakeUpstream.start(t, { separateFilesHost: true });
  const kept = await buildWheel({ name: 'acme-native', version: '1.0' });
  const otherPlatform = await buildWheel({ name: 'acme-native', version: '2.0', pythonTag: 'py3', abiTag: 'none', platformTag: 'linux_x86_64' });
  const oldPython = await buildWheel({ name: 'acme-native', version: '3.0', pythonTag: 'py3', abiTag: 'none', platformTag: 'any' });
  up.addProject('acme-native', [{ dist: kept }, { dist: otherPlatform }, { dist: oldPython, requiresPython: '<3.10' }]);

  const s = await startTestServer(t, {
    defaultRepository: 'view',
    repositories: {
      internal: { type: 'local', upload: ['ci'] },
      pypi: { type: 'remote', url: up.url, timeout: 5 },
      view: {
        type: 'virtual', members: ['internal', 'pypi'],
        files: { platforms: ['manylinux*_x86_64', 'manylinux*_aarch64', 'any'], python: '>=3.10', sdists: false },
      },
    },
  });
  const app = await buildWheel({ name: 'acme-app', version: '1.0', requiresDist: ['acme-native'], pythonTag: 'py3', abiTag: 'none', platformTag: 'any' });
  t.is((await upload(`${s.url}/internal/`, app, 'acme-app', '1.0')).status, 200);

  const v = await venv(t);
  const target = await tempDir(t, 'pydepot-target-');
  const r = await v.pip(['install', '--index-url', `${s.url}/simple/`, '--target', target, 'acme-app']);
  t.is(r.code, 0, describe(r));
  const check = await v.run(['-c', 'import acme_app, acme_native; print(acme_native.__version__)'], { env: { PYTHONPATH: target } });
  t.is(check.stdout.trim(), '1.0', describe(check));
  const fetched = up.requests.filter((x) => x.server === 'files' && x.path.endsWith('.whl')).map((x) => x.path.split('/').pop());
  t.deepEqual(fetched, [kept.filename]);

  // The same pip against the unfiltered remote takes the newest wheel it can install here.
  const other = await tempDir(t, 'pydepot-target-');
  const r2 = await v.pip(['install', '--index-url', `${s.url}/pypi/simple/`, '--target', other, 'acme-native']);
  t.is(r2.code, 0, describe(r2));
  t.is((await v.run(['-c', 'import acme_native; print(acme_native.__version__)'], { env: { PYTHONPATH: other } })).stdout.trim(), '2.0');
});
