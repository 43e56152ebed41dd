/**
 * Real pip proves a wheelhouse: `pydepot wheelhouse export` (in-process) for
 * this machine's target and the other Linux arch, unzipped with Python's own
 * zipfile, then, for both pips on this machine (pyenv python3's 23.2 and
 * Debian's 23.0):
 * - `pip install --no-index --find-links wheelhouse -r requirements.txt` in a
 *   fresh venv installs exactly this machine's pins, in hash-checking mode
 *   (the combined file, with its markers: what every node of the cluster runs);
 * - `pip download --no-index --find-links wheelhouse --platform … -r
 *   requirements-<other target>.txt` finds every file the other target needs.
 * And pip refuses a wheelhouse file that was altered after the export.
 *
 * One export for the file (memoised); tests only read the unzipped folder.
 * Each interpreter gets one fresh venv, installed into by its install test.
 */
import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import { pydepot } from '../helpers/cli.ts';
import { describe, requireClient, run } from '../helpers/clients.ts';
import { buildWheel } from '../helpers/dists.ts';
import { LOCAL_ONLY, startTestServer, tempDir } from '../helpers/server.ts';
import { ARM, buildWheelhouseGraph, CHOSEN, uploadGraph, X86 } from '../helpers/wheelhouse.ts';
import { fileScope, mustSucceed, normalize, once, venvPerInterpreter } from './_support.ts';

const PYTHONS = [
  { label: 'pip 23.2 (pyenv python3)', python: 'python3' },
  { label: 'pip 23.0 (Debian /usr/bin/python3)', python: '/usr/bin/python3' },
];

const scope = fileScope();
test.after.always(() => scope.close());
const sharedVenv = venvPerInterpreter(scope.t);

/** This machine's target and the other one, from the machine's own arch. */
const targets = once(async () => {
  const r = await mustSucceed('python3 platform.machine()', run('python3', ['-c', 'import platform; print(platform.machine())']));
  const machine = r.stdout.trim();
  if (machine !== 'x86_64' && machine !== 'aarch64') throw new Error(`this test needs an x86_64 or aarch64 Linux, not ${machine}`);
  return machine === 'x86_64' ? { host: X86, other: ARM, otherPlatform: 'manylinux_2_17_aarch64' } : { host: ARM, other: X86, otherPlatform: 'manylinux_2_17_x86_64' };
});

/** The graph in a server, exported for both targets, unzipped. */
const wheelhouse = once(async () => {
  const { host, other } = await targets();
  const dists = await buildWheelhouseGraph();
  const server = await startTestServer(scope.t);
  await uploadGraph(server.url, dists);
  const dir = await tempDir(scope.t, 'pydepot-wh-e2e-');
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml(LOCAL_ONLY));
  const reqs = join(dir, 'requirements.in');
  await writeFile(reqs, 'acme-app\n');
  const zip = join(dir, 'wheelhouse.zip');
  const r = await pydepot(['wheelhouse', 'export', '-r', reqs, '--repo', 'internal', '--target', host, '--target', other, '-o', zip, '--config', config, '--storage', server.storage]);
  if (r.code !== 0) throw new Error(`pydepot wheelhouse export: ${describe(r)}`);
  // What a node does with it, without unzip(1): Python's zipfile.
  const unzipped = join(dir, 'unzipped');
  await mustSucceed('python3 -m zipfile -e', run('python3', ['-m', 'zipfile', '-e', zip, unzipped]));
  return { dir: unzipped, dists, table: r.stdout, config, storage: server.storage };
});

/** `pip install`ed project → version in a venv, for acme-* only. */
function acmeOf(listJson: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of JSON.parse(listJson) as Array<{ name: string; version: string }>) {
    if (normalize(p.name).startsWith('acme-')) out[normalize(p.name)] = p.version;
  }
  return out;
}

/** name==version of a wheel filename. */
function pinOf(filename: string): [string, string] {
  const [name, version] = filename.split('-') as [string, string];
  return [normalize(name), version];
}

for (const { label, python } of PYTHONS) {
  test(`${label}: pip install --no-index --find-links wheelhouse -r requirements.txt in a fresh venv installs this machine's pins, hash-checked`, async (t) => {
    if (!(await requireClient(t, python))) return;
    const [{ host }, wh, v] = await Promise.all([targets(), wheelhouse(), sharedVenv(python)]);
    const r = await v.pip(['install', '--no-index', '--find-links', join(wh.dir, 'wheelhouse'), '-r', join(wh.dir, 'requirements.txt')], { cwd: wh.dir });
    t.is(r.code, 0, describe(r));
    const list = await v.pip(['list', '--format', 'json']);
    t.is(list.code, 0, describe(list));
    t.deepEqual(acmeOf(list.stdout), Object.fromEntries(CHOSEN[host]!.map(pinOf)), 'exactly the pins of this machine: no acme-armext on x86_64');
    const imported = await v.run(['-c', 'import acme_app, acme_fast, acme_native, acme_pure; print(acme_fast.__version__)']);
    t.is(imported.code, 0, describe(imported));
    t.is(imported.stdout.trim(), host === X86 ? '2.0' : '1.0');
  });

  test(`${label}: pip download --platform for the other target finds every file in the wheelhouse`, async (t) => {
    if (!(await requireClient(t, python))) return;
    const [{ other, otherPlatform }, wh, v] = await Promise.all([targets(), wheelhouse(), sharedVenv(python)]);
    const dest = await tempDir(t, 'pydepot-wh-dl-');
    const r = await v.pip([
      'download', '--no-index', '--find-links', join(wh.dir, 'wheelhouse'),
      '--platform', otherPlatform, '--python-version', '3.11', '--implementation', 'cp', '--abi', 'cp311', '--only-binary=:all:',
      '-d', dest, '-r', join(wh.dir, `requirements-${other}.txt`),
    ]);
    t.is(r.code, 0, describe(r));
    t.deepEqual((await readdir(dest)).sort(), [...CHOSEN[other]!].sort());
    for (const name of await readdir(dest)) {
      t.true((await readFile(join(dest, name))).equals(wh.dists.get(name)!.bytes), `${name}: the uploaded bytes`);
    }
  });
}

test('pip refuses a wheelhouse file altered after the export (hash-checking mode is on)', async (t) => {
  if (!(await requireClient(t, 'python3'))) return;
  const [wh, v] = await Promise.all([wheelhouse(), sharedVenv('python3')]);
  // A copy of the wheelhouse whose acme-pure wheel is another (valid) build under the same name.
  const copy = await tempDir(t, 'pydepot-wh-tampered-');
  for (const name of await readdir(join(wh.dir, 'wheelhouse'))) await copyFile(join(wh.dir, 'wheelhouse', name), join(copy, name));
  const pure = 'acme_pure-1.1-py3-none-any.whl';
  const evil = await buildWheel({ name: 'acme-pure', version: '1.1', summary: 'not what was exported' });
  t.is(evil.filename, pure);
  await writeFile(join(copy, pure), evil.bytes);
  const target = await tempDir(t, 'pydepot-wh-target-');
  const r = await v.pip(['install', '--no-index', '--find-links', copy, '--target', target, '-r', join(wh.dir, 'requirements.txt')]);
  t.not(r.code, 0, describe(r));
  t.regex(r.stderr, /THESE PACKAGES DO NOT MATCH THE HASHES/);
  t.regex(r.stderr, /acme-pure==1\.1/);
});

test('pip 23.2 installs, hash-checked, from the wheelhouse exported from the pylock.toml of the first', async (t) => {
  if (!(await requireClient(t, 'python3'))) return;
  const [{ host }, wh, v] = await Promise.all([targets(), wheelhouse(), sharedVenv('python3')]);
  // The lock as a node's pylock.toml would be: given back for this machine's target alone.
  const dir = await tempDir(t, 'pydepot-wh-lock-');
  const zip = join(dir, 'from-lock.zip');
  const r = await pydepot(['wheelhouse', 'export', '-r', join(wh.dir, 'pylock.toml'), '--repo', 'internal', '--target', host, '-o', zip, '--config', wh.config, '--storage', wh.storage]);
  t.is(r.code, 0, describe(r));
  const unzipped = join(dir, 'unzipped');
  await mustSucceed('python3 -m zipfile -e', run('python3', ['-m', 'zipfile', '-e', zip, unzipped]));
  const target = join(dir, 'site');
  const install = await v.pip(['install', '--no-index', '--find-links', join(unzipped, 'wheelhouse'), '--target', target, '-r', join(unzipped, 'requirements.txt')]);
  t.is(install.code, 0, describe(install));
  const installed = (await readdir(target)).filter((n) => n.endsWith('.dist-info')).map((n) => n.replace(/\.dist-info$/, '')).sort();
  t.deepEqual(installed, CHOSEN[host]!.map((n) => n.split('-').slice(0, 2).join('-')).sort());
});

test('the export summary names both targets', async (t) => {
  const [{ host, other }, wh] = await Promise.all([targets(), wheelhouse()]);
  t.regex(wh.table, new RegExp(`^${host} +${CHOSEN[host]!.length} +${CHOSEN[host]!.length} `, 'm'));
  t.regex(wh.table, new RegExp(`^${other} +${CHOSEN[other]!.length} +${CHOSEN[other]!.length} `, 'm'));
  t.log(wh.table);
});
