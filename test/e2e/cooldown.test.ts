/**
 * pip through a remote repository with a cooldown: a release uploaded upstream
 * an hour ago is not installed while an older one is; with an exemption made
 * by the CLI while the server runs, it is.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import { pydepot } from '../helpers/cli.ts';
import { describe, requireClient, venv, type Venv } from '../helpers/clients.ts';
import { buildSdist, buildWheel } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { startTestServer, tempDir } from '../helpers/server.ts';

const DAY = 86_400_000;

async function installedVersion(v: Venv, index: string, target: string): Promise<string> {
  const r = await v.pip(['install', '--index-url', index, '--target', target, 'acme-tool']);
  if (r.code !== 0) throw new Error(describe(r));
  const check = await v.run(['-c', 'import acme_tool; print(acme_tool.__version__)'], { env: { PYTHONPATH: target } });
  return check.stdout.trim();
}

test('pip installs the release that has aged past the cooldown, not the fresh one; with an exemption, the fresh one', async (t) => {
  if (!(await requireClient(t, 'python3'))) return;
  const up = await FakeUpstream.start(t, { separateFilesHost: true });
  const now = Date.now();
  up.addProject('acme-tool', [
    { dist: await buildWheel({ name: 'acme-tool', version: '1.0' }), uploadTime: new Date(now - 30 * DAY).toISOString() },
    { dist: await buildSdist({ name: 'acme-tool', version: '1.0' }), uploadTime: new Date(now - 30 * DAY).toISOString() },
    // Uploaded an hour ago: inside the 7-day cooldown.
    { dist: await buildWheel({ name: 'acme-tool', version: '1.1' }), uploadTime: new Date(now - 3_600_000).toISOString() },
  ]);
  const raw = { repositories: { pypi: { type: 'remote', url: up.url, timeout: 5, cooldown: '7d' } } };
  const s = await startTestServer(t, raw);
  const index = `${s.url}/pypi/simple/`;
  const v = await venv(t);

  t.is(await installedVersion(v, index, await tempDir(t, 'pydepot-target-')), '1.0');

  const config = join(await tempDir(t, 'pydepot-cli-'), 'pydepot.yaml');
  await writeFile(config, stringifyYaml(raw));
  const allowed = await pydepot(['cooldown', 'allow', 'acme-tool==1.1', '--until', '1d', '--reason', 'the fix we are waiting for', '--config', config, '--storage', s.storage]);
  t.is(allowed.code, 0, allowed.stderr);
  t.is(await installedVersion(v, index, await tempDir(t, 'pydepot-target-')), '1.1');
});
