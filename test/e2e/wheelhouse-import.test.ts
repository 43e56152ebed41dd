/**
 * The air-gapped depot, end to end with real pip (pyenv python3's 23.2):
 * outside, `pydepot wheelhouse export` for this machine's target and the
 * other Linux arch; inside, `pydepot wheelhouse import` of that zip into an
 * empty depot, then a server on it, and `pip install --index-url
 * <depot>/internal/simple/ -r requirements.txt` (the wheelhouse's own, with
 * its hashes: pip checks every file the seeded depot serves) in a fresh venv.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import { pydepot } from '../helpers/cli.ts';
import { describe, requireClient, run, venv } from '../helpers/clients.ts';
import { LOCAL_ONLY, startTestServer, tempDir } from '../helpers/server.ts';
import { ARM, buildWheelhouseGraph, CHOSEN, readZip, uploadGraph, X86 } from '../helpers/wheelhouse.ts';
import { mustSucceed, normalize } from './_support.ts';

test('pip installs from a depot seeded by wheelhouse import, every file hash-checked', async (t) => {
  if (!(await requireClient(t, 'python3'))) return;
  const machine = (await mustSucceed('platform.machine()', run('python3', ['-c', 'import platform; print(platform.machine())']))).stdout.trim();
  if (machine !== 'x86_64' && machine !== 'aarch64') return t.fail(`this test needs an x86_64 or aarch64 Linux, not ${machine}`);
  const [host, other] = machine === 'x86_64' ? [X86, ARM] : [ARM, X86];

  // Outside: a depot with the graph, and the export.
  const outside = await startTestServer(t);
  await uploadGraph(outside.url, await buildWheelhouseGraph());
  const dir = await tempDir(t, 'pydepot-whi-e2e-');
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml(LOCAL_ONLY));
  await writeFile(join(dir, 'requirements.in'), 'acme-app\n');
  const zip = join(dir, 'wheelhouse.zip');
  await mustSucceed('pydepot wheelhouse export', pydepot(['wheelhouse', 'export', '-r', join(dir, 'requirements.in'), '--repo', 'internal',
    '--target', host, '--target', other, '-o', zip, '--config', config, '--storage', outside.storage]));

  // Inside: an empty depot, seeded from the zip alone.
  const storage = await tempDir(t, 'pydepot-whi-e2e-inside-');
  const imported = await pydepot(['wheelhouse', 'import', zip, '--repo', 'internal', '--json', '--config', config, '--storage', storage]);
  t.is(imported.code, 0, describe(imported));
  const union = new Set([...CHOSEN[host]!, ...CHOSEN[other]!]);
  t.is((JSON.parse(imported.stdout) as { counts: { added: number } }).counts.added, union.size);
  const inside = await startTestServer(t, LOCAL_ONLY, storage);

  const requirements = join(dir, 'requirements.txt');
  await writeFile(requirements, (await readZip(zip)).find((e) => e.name === 'requirements.txt')!.data);
  const v = await venv(t, 'python3');
  const r = await v.pip(['install', '--index-url', `${inside.url}/internal/simple/`, '--no-input', '--progress-bar', 'off', '-r', requirements]);
  t.is(r.code, 0, describe(r));
  const list = await v.pip(['list', '--format', 'json']);
  const acme = Object.fromEntries((JSON.parse(list.stdout) as Array<{ name: string; version: string }>)
    .filter((p) => normalize(p.name).startsWith('acme-')).map((p) => [normalize(p.name), p.version]));
  t.deepEqual(acme, Object.fromEntries(CHOSEN[host]!.map((f) => {
    const [name, version] = f.split('-') as [string, string];
    return [normalize(name), version];
  })));
});
