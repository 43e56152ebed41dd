/**
 * pip (two versions) installs from a real pydepot that twine filled.
 *
 * One server per file, filled once (twine upload of every wheel and sdist of
 * the acme graph, then `pydepot yank acme-core 2.0`) by a memoised setup the
 * tests await; it is read-only afterwards, so the tests run concurrently and
 * in any order. One venv per interpreter for the whole file (made when a
 * test first needs it, removed after the last); each test installs into its
 * own empty `--target` folder, reads it back with `pip list --path` and
 * imports from it with PYTHONPATH, so no test sees another's packages.
 *
 * Index formats: pip 23 always prefers JSON (PEP 691) and ignores `?format=`,
 * so the HTML and JSON runs put a proxy in front of pydepot that rewrites the
 * Accept header of index pages; the default run goes through a proxy that
 * passes pip's own header through, to record what pip got.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { clientAvailable, describe, requireClient, twine, type RunResult, type Venv } from '../helpers/clients.ts';
import { writeDists } from '../helpers/dists.ts';
import { CI, startTestServer, tempDir } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';
import { acceptProxy, buildGraph, fileScope, GRAPH, mustSucceed, normalize, once, release, venvPerInterpreter, yankWithCli, YANKED, type AcceptProxy } from './_support.ts';

const PYTHONS = [
  { label: 'pip 23.2 (pyenv python3)', python: 'python3' },
  { label: 'pip 23.0 (Debian /usr/bin/python3)', python: '/usr/bin/python3' },
];

const HTML = 'text/html';
const JSON_V1 = 'application/vnd.pypi.simple.v1+json';

const FORMATS = [
  { label: "pip's own Accept (JSON preferred)", accept: null, expectType: /^application\/vnd\.pypi\.simple\.v1\+json$/ },
  { label: 'HTML forced', accept: HTML, expectType: /^text\/html; charset=utf-8$/ },
  { label: 'JSON forced', accept: JSON_V1, expectType: /^application\/vnd\.pypi\.simple\.v1\+json$/ },
];

const scope = fileScope();
test.after.always(() => scope.close());

const fixture = once(async () => {
  const dists = await buildGraph();
  const server = await startTestServer(scope.t);
  if (await clientAvailable('twine')) {
    const dir = await tempDir(scope.t, 'pydepot-dist-');
    const paths = await writeDists(dir, dists.all);
    await mustSucceed('twine upload', twine(['upload', '--repository-url', `${server.url}/internal/`, ...CI.twineArgs, '--disable-progress-bar', ...paths]));
  } else {
    // twine-upload.test.ts reports the missing twine; pip is still worth testing.
    for (const spec of GRAPH) {
      for (const d of release(dists, spec.name, spec.version)) {
        const res = await upload(`${server.url}/internal/`, d, spec.name, spec.version);
        if (res.status !== 200) throw new Error(`upload of ${d.filename}: ${res.status} ${await res.text()}`);
      }
    }
  }
  await mustSucceed('pydepot yank', yankWithCli(server.storage, YANKED.project, YANKED.version, YANKED.reason));
  return { server, dists };
});

// One venv per interpreter for the whole file (creating one costs ~3 s here).
const sharedVenv = venvPerInterpreter(scope.t);

/** The shared venv of `python`, and an empty folder of this test's own to install into. */
async function venvAndTarget(t: ExecutionContext, python: string): Promise<{ v: Venv; target: string }> {
  return { v: await sharedVenv(python), target: await tempDir(t, 'pydepot-target-') };
}

/** Project → version of what is in `target`, from `pip list --path --format json` (names normalised). */
async function installed(v: Venv, target: string): Promise<Record<string, string>> {
  const r = await v.pip(['list', '--path', target, '--format', 'json']);
  if (r.code !== 0) throw new Error(`pip list: ${describe(r)}`);
  const out: Record<string, string> = {};
  for (const p of JSON.parse(r.stdout) as Array<{ name: string; version: string }>) {
    if (normalize(p.name).startsWith('acme-')) out[normalize(p.name)] = p.version;
  }
  return out;
}

/** The pip of a (shared) venv, asked once per venv. */
const pipVersions = new Map<string, Promise<string>>();
function pipVersion(v: Venv): Promise<string> {
  let version = pipVersions.get(v.python);
  if (!version) pipVersions.set(v.python, version = v.pip(['--version']).then((r) => r.stdout.split(' ')[1] ?? '?'));
  return version;
}

function olderThan(version: string, than: [number, number]): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major < than[0] || (major === than[0] && minor < than[1]);
}

function install(v: Venv, target: string, indexUrl: string, args: string[]): Promise<RunResult> {
  return v.pip(['install', '--index-url', indexUrl, '--no-input', '--progress-bar', 'off', '--target', target, ...args]);
}

/** Checks that pip read index pages only, and only in the expected format. */
function assertFormat(t: ExecutionContext, proxy: AcceptProxy, expectType: RegExp): void {
  const pages = proxy.indexPages();
  const projects = new Set(pages.map((p) => p.path));
  for (const p of ['acme-app', 'acme-core', 'acme-utils']) t.true(projects.has(`/internal/simple/${p}/`), `pip fetched the ${p} page through the proxy (saw ${[...projects].join(', ')})`);
  for (const p of pages.filter((x) => x.status === 200)) t.regex(p.contentType ?? '', expectType, `Content-Type of ${p.path} (Accept sent: ${p.forwardedAccept})`);
  const files = proxy.seen.filter((s) => s.path.includes('/files/'));
  t.true(files.length > 0, 'pip downloaded files through the proxy');
  for (const f of files) t.is(f.status, 200, `download ${f.path}`);
}

for (const py of PYTHONS) {
  for (const format of FORMATS) {
    test(`${py.label}, ${format.label}: pip install acme-app resolves acme-core 1.0.post1 and acme-utils 2.0`, async (t) => {
      if (!(await requireClient(t, py.python))) return;
      const { server } = await fixture();
      const proxy = await acceptProxy(t, server.url, format.accept);
      const { v, target } = await venvAndTarget(t, py.python);
      const version = await pipVersion(v);
      t.log(`pip ${version}`);
      // pip 22.3–23.1 compare the Name in PEP 658 metadata (which they read only
      // from HTML's data-dist-info-metadata) with the requested name *literally*
      // (pypa/pip#12038, #12108, fixed in 23.2): `pip install acme-app` fails with
      // "inconsistent Name: expected 'acme-app', but metadata has 'Acme.App'".
      // pydepot serves them JSON unless forced, so only the forced-HTML run meets it.
      const literalNames = format.accept === HTML && olderThan(version, [23, 2]);
      const requested = literalNames ? 'Acme.App' : 'acme-app';
      if (literalNames) t.log(`pip ${version} < 23.2 with HTML: requesting ${requested} (pip bug #12038)`);

      const r = await install(v, target, `${proxy.url}/internal/simple/`, [requested]);
      t.is(r.code, 0, describe(r));
      t.notRegex(r.stdout + r.stderr, /\/opt\/(pypi|wheels)|find-links/, 'pip is isolated from this machine\'s pip.conf');
      t.deepEqual(await installed(v, target), { 'acme-app': '1.0', 'acme-core': '1.0.post1', 'acme-utils': '2.0' },
        'acme-core: the post-release beats 1.0, 1.1rc1 is a pre-release, 2.0 is yanked; acme-utils 3.0 needs Python >= 4');
      const imported = await v.run(['-c', 'import acme_app, acme_core, acme_utils; print(acme_app.__version__, acme_core.__version__, acme_utils.__version__)'], { env: { PYTHONPATH: target } });
      t.is(imported.stdout.trim(), '1.0 1.0.post1 2.0', describe(imported));
      t.notRegex(r.stdout + r.stderr, /yanked/i, 'a yanked file was not even considered');
      if (format.accept === null) {
        const accept = proxy.indexPages()[0]?.clientAccept ?? '';
        t.regex(accept, /^application\/vnd\.pypi\.simple\.v1\+json/, 'pip 23 prefers PEP 691 JSON');
      }
      assertFormat(t, proxy, format.expectType);
    });
  }

  test(`${py.label}: with --pre, acme-core resolves to the pre-release 1.1rc1 (never the yanked 2.0)`, async (t) => {
    if (!(await requireClient(t, py.python))) return;
    const { server } = await fixture();
    const { v, target } = await venvAndTarget(t, py.python);
    const r = await install(v, target, `${server.url}/internal/simple/`, ['--pre', 'acme-app']);
    t.is(r.code, 0, describe(r));
    t.deepEqual(await installed(v, target), { 'acme-app': '1.0', 'acme-core': '1.1rc1', 'acme-utils': '2.0' });
  });

  test(`${py.label}: pinning acme-core==2.0 installs the yanked release, and pip warns with the reason`, async (t) => {
    if (!(await requireClient(t, py.python))) return;
    const { server } = await fixture();
    const { v, target } = await venvAndTarget(t, py.python);
    // Not pinned with ==, the yanked release is never chosen, even when nothing else matches.
    const unpinned = await install(v, target, `${server.url}/internal/simple/`, ['acme-core>=2']);
    t.not(unpinned.code, 0, `acme-core>=2 must not match the yanked 2.0: ${describe(unpinned)}`);
    t.regex(unpinned.stderr, /No matching distribution found for acme-core>=2/, describe(unpinned));

    const r = await install(v, target, `${server.url}/internal/simple/`, ['acme-core==2.0']);
    t.is(r.code, 0, describe(r));
    t.deepEqual(await installed(v, target), { 'acme-core': '2.0' });
    t.regex(r.stderr, /yanked version/, `pip warns about the yanked file: ${describe(r)}`);
    t.regex(r.stderr, /Reason for being yanked: broken/, describe(r));
  });

  test(`${py.label}: --require-hashes with the served sha256 installs; a wrong hash is refused`, async (t) => {
    if (!(await requireClient(t, py.python))) return;
    const { server, dists } = await fixture();
    const dir = await tempDir(t, 'pydepot-req-');
    const pins: Array<[string, string]> = [['acme-app', '1.0'], ['acme-core', '1.0.post1'], ['acme-utils', '2.0']];
    const lines = (wrong: string | null) => pins.map(([name, version]) => {
      const hashes = release(dists, name, version).map((d) => (name === wrong ? 'f'.repeat(64) : d.sha256));
      return `${name}==${version} ${hashes.map((h) => `--hash=sha256:${h}`).join(' ')}\n`;
    }).join('');
    const good = join(dir, 'good.txt');
    const bad = join(dir, 'bad.txt');
    await writeFile(good, lines(null));
    await writeFile(bad, lines('acme-core'));
    const { v, target } = await venvAndTarget(t, py.python);

    const refused = await install(v, target, `${server.url}/internal/simple/`, ['--require-hashes', '-r', bad]);
    t.not(refused.code, 0, describe(refused));
    t.regex(refused.stderr, /THESE PACKAGES DO NOT MATCH THE HASHES/, describe(refused));
    t.regex(refused.stderr, /acme[-_]core/i);
    t.deepEqual(await installed(v, target), {}, 'nothing installed after a hash mismatch');

    const r = await install(v, target, `${server.url}/internal/simple/`, ['--require-hashes', '-r', good]);
    t.is(r.code, 0, describe(r));
    t.deepEqual(await installed(v, target), { 'acme-app': '1.0', 'acme-core': '1.0.post1', 'acme-utils': '2.0' });
  });
}
