/**
 * pip 23.2 resolves from core metadata that pydepot read out of wheels by
 * HTTP Range: the upstream is HTML-only and gives no metadata (PyTorch
 * style), and before pip downloads the wheels it installs, the upstream has
 * served nothing but small ranges of them.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import { describe, requireClient, venv } from '../helpers/clients.ts';
import { buildWheel } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { eventually } from '../helpers/storage.ts';

const PAD = 1024 * 1024;

test('pip 23.2 obtains dependency information from .metadata files pydepot read by Range', async (t) => {
  if (!(await requireClient(t, 'python3'))) return;
  const app = await buildWheel({ name: 'Acme.App', version: '1.0', requiresDist: ['acme-core>=1.0'], padBytes: PAD });
  const core = await buildWheel({ name: 'acme-core', version: '1.0', padBytes: PAD });
  const up = await FakeUpstream.start(t, { format: 'html', ranges: 'support', separateFilesHost: true });
  up.addProject('Acme.App', [{ dist: app, withMetadata: false }]);
  up.addProject('acme-core', [{ dist: core, withMetadata: false }]);
  const s = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url, timeout: 5 } } });
  const index = `${s.url}/pypi/simple/`;

  // The first look at each page sets the reads going; pages advertise the metadata once read.
  for (const project of ['acme-app', 'acme-core']) t.is((await fetch(`${index}${project}/`)).status, 200);
  await eventually(async () => s.logs.filter((l) => l.msg === 'core metadata read out of an upstream wheel' && l.method === 'range').length === 2, 'both wheels read by Range');
  for (const [project, dist] of [['acme-app', app], ['acme-core', core]] as const) {
    const sha = createHash('sha256').update(dist.metadata).digest('hex');
    t.true((await (await fetch(`${index}${project}/`)).text()).includes(`data-core-metadata="sha256=${sha}"`), project);
  }
  const beforePip = up.requests.filter((r) => r.server === 'files');
  t.true(beforePip.length > 0 && beforePip.every((r) => r.status === 206), 'only Range requests before pip');
  const rangeBytes = beforePip.reduce((n, r) => n + r.bytesSent, 0);
  t.true(rangeBytes < 2 * 80 * 1024, `${rangeBytes} bytes of two ${PAD}-byte wheels`);

  const v = await venv(t);
  const target = await tempDir(t, 'pydepot-target-');
  const r = await v.pip(['install', '-v', '--index-url', index, '--target', target, 'acme-app']);
  t.is(r.code, 0, describe(r));
  for (const dist of [app, core]) {
    const line = new RegExp(`Obtaining dependency information for acme[-_.]\\w+\\S* from \\S+/pypi/files/${dist.sha256}/${dist.filename.replace(/\./g, '\\.')}\\.metadata`, 'i');
    t.regex(r.stdout, line, describe(r));
  }
  // pip then downloads each wheel it installs, once.
  const after = up.requests.filter((x) => x.server === 'files').slice(beforePip.length);
  t.deepEqual(after.map((x) => [x.status, x.headers.range]).sort(), [[200, undefined], [200, undefined]]);
  const check = await v.run(['-c', 'import acme_app, acme_core; print(acme_core.__version__)'], { env: { PYTHONPATH: target } });
  t.is(check.stdout.trim(), '1.0');
});
