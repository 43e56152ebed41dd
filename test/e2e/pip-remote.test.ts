/**
 * pip installs through a remote repository that proxies a fake upstream:
 * once with the upstream up, then again into another empty `--target` folder
 * of the same venv with the upstream stopped, from pydepot's cache alone.
 */
import test from 'ava';
import { describe, requireClient, venv } from '../helpers/clients.ts';
import { FakeUpstream, type UpstreamFile } from '../helpers/fake-upstream.ts';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { buildGraph, GRAPH } from './_support.ts';

test('pip installs a dependency graph through the proxy, and again with the upstream down', async (t) => {
  if (!(await requireClient(t, 'python3'))) return;
  const graph = await buildGraph(GRAPH);
  const up = await FakeUpstream.start(t, { separateFilesHost: true });
  const byProject = new Map<string, UpstreamFile[]>();
  for (const d of graph.all) {
    const name = d.filename.split('-')[0]!.replace(/_/g, '-');
    byProject.set(name, [...(byProject.get(name) ?? []), { dist: d }]);
  }
  for (const [name, files] of byProject) up.addProject(name, files);

  // indexTtl 0: the second install must revalidate every page, and so meets the outage.
  const s = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url, indexTtl: 0, timeout: 5 } } });
  const index = `${s.url}/pypi/simple/`;

  // One venv, two empty install folders: the second install finds nothing installed.
  const v = await venv(t);
  const first = await tempDir(t, 'pydepot-target-');
  const r1 = await v.pip(['install', '--index-url', index, '--target', first, 'acme-app']);
  t.is(r1.code, 0, describe(r1));
  const list1 = await v.pip(['list', '--path', first, '--format', 'json']);
  const installed = Object.fromEntries((JSON.parse(list1.stdout) as { name: string; version: string }[]).map((p) => [p.name.toLowerCase().replace(/[-_.]+/g, '-'), p.version]));
  t.like(installed, { 'acme-app': '1.0', 'acme-core': '2.0', 'acme-utils': '2.0' });
  const downloads = up.requests.filter((r) => r.server === 'files' && r.path.endsWith('.whl')).length;
  t.is(downloads, 3, 'each wheel was fetched from the upstream once');

  await up.stop();
  const second = await tempDir(t, 'pydepot-target-');
  const r2 = await v.pip(['install', '--index-url', index, '--target', second, 'acme-app']);
  t.is(r2.code, 0, describe(r2));
  const check = await v.run(['-c', 'import acme_app, acme_core, acme_utils; print(acme_core.__version__)'], { env: { PYTHONPATH: second } });
  t.is(check.stdout.trim(), '2.0');
  t.true(s.logs.some((l) => l.msg === 'upstream failed; serving the cached page'));
});
