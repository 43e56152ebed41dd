/**
 * twine 4 (Debian's /usr/bin/twine) against a real pydepot: upload, idempotent
 * re-upload, conflicting re-upload with and without --skip-existing, and the
 * `pydepot yank` CLI on a running server. Each test has its own server.
 */
import test, { type ExecutionContext } from 'ava';
import { describe, requireClient, twine, type RunResult } from '../helpers/clients.ts';
import { buildSdist, buildWheel, writeDists, type BuiltDist } from '../helpers/dists.ts';
import { CI, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { buildGraph, once, release, yankWithCli, YANKED } from './_support.ts';

const graph = once(() => buildGraph());

async function twineUpload(t: ExecutionContext, s: TestServer, dists: BuiltDist[], extra: string[] = []): Promise<RunResult> {
  const dir = await tempDir(t, 'pydepot-dist-');
  const paths = await writeDists(dir, dists);
  return twine(['upload', '--repository-url', `${s.url}/internal/`, ...CI.twineArgs, '--disable-progress-bar', ...extra, ...paths]);
}

const output = (r: RunResult) => `${r.stdout}\n${r.stderr}`;

async function page(s: TestServer, project: string): Promise<Response> {
  return fetch(`${s.url}/internal/simple/${project}/`, { headers: { Accept: 'text/html' } });
}

test('twine uploads wheels and sdists of three projects; the index lists each file with its sha256 and serves its bytes', async (t) => {
  if (!(await requireClient(t, 'twine'))) return;
  const s = await startTestServer(t);
  const { all } = await graph();
  const r = await twineUpload(t, s, all);
  t.is(r.code, 0, describe(r));
  for (const d of all) t.true(output(r).includes(d.filename), `twine did not report uploading ${d.filename}:\n${describe(r)}`);

  for (const project of ['acme-core', 'acme-utils', 'acme-app']) {
    const res = await page(s, project);
    t.is(res.status, 200, `index page of ${project}`);
    const html = await res.text();
    for (const d of all.filter((x) => x.filename.startsWith(`${project.replace('-', '_')}-`))) {
      t.true(html.includes(`>${d.filename}<`), `${project} page lists ${d.filename}`);
      t.true(html.includes(`#sha256=${d.sha256}`), `${project} page carries the sha256 of ${d.filename}`);
    }
  }
  const [wheel] = release(await graph(), 'acme-app', '1.0');
  const got = await fetch(`${s.url}/internal/files/${wheel.sha256}/${wheel.filename}`);
  t.is(got.status, 200);
  t.true(Buffer.from(await got.arrayBuffer()).equals(wheel.bytes), 'downloaded wheel equals the uploaded one');
  t.regex(await (await page(s, 'acme-app')).text(), /Links for Acme\.App/, 'the display name keeps the spelling twine uploaded');
});

test('uploading the same files again succeeds without --skip-existing and changes nothing', async (t) => {
  if (!(await requireClient(t, 'twine'))) return;
  const s = await startTestServer(t);
  const { all } = await graph();
  const first = await twineUpload(t, s, all);
  t.is(first.code, 0, describe(first));
  const etags = await Promise.all(['acme-core', 'acme-utils', 'acme-app'].map(async (p) => (await page(s, p)).headers.get('etag')));

  const again = await twineUpload(t, s, all);
  t.is(again.code, 0, `identical re-upload must succeed: ${describe(again)}`);
  t.notRegex(output(again), /Skipping|already exist/i);
  const after = await Promise.all(['acme-core', 'acme-utils', 'acme-app'].map(async (p) => (await page(s, p)).headers.get('etag')));
  t.deepEqual(after, etags, 'index pages are unchanged');
});

test('a re-upload with different bytes fails with "File already exists" and the index keeps the original', async (t) => {
  if (!(await requireClient(t, 'twine'))) return;
  const s = await startTestServer(t);
  const [wheel] = release(await graph(), 'acme-core', '1.0');
  const changed = await buildWheel({ name: 'acme-core', version: '1.0', summary: 'changed' });
  t.is(changed.filename, wheel.filename);
  t.not(changed.sha256, wheel.sha256);

  const first = await twineUpload(t, s, [wheel]);
  t.is(first.code, 0, describe(first));
  const conflict = await twineUpload(t, s, [changed]);
  t.not(conflict.code, 0, `twine must fail on a conflicting re-upload: ${describe(conflict)}`);
  t.regex(output(conflict), /400 Bad Request/);
  t.regex(output(conflict), /File already exists \('acme_core-1\.0-py3-none-any\.whl'/, describe(conflict));

  const html = await (await page(s, 'acme-core')).text();
  t.true(html.includes(wheel.sha256), 'the original sha256 is still served');
  t.false(html.includes(changed.sha256), 'the conflicting sha256 is not served');
  const got = await fetch(`${s.url}/internal/files/${wheel.sha256}/${wheel.filename}`);
  t.true(Buffer.from(await got.arrayBuffer()).equals(wheel.bytes), 'the original bytes are still served');
});

test('with --skip-existing twine skips the conflicting file, uploads the rest and exits 0', async (t) => {
  if (!(await requireClient(t, 'twine'))) return;
  const s = await startTestServer(t);
  const [wheel, sdist] = release(await graph(), 'acme-core', '1.0');
  const changed = await buildWheel({ name: 'acme-core', version: '1.0', summary: 'changed' });

  const first = await twineUpload(t, s, [wheel]);
  t.is(first.code, 0, describe(first));
  const r = await twineUpload(t, s, [changed, sdist], ['--skip-existing']);
  t.is(r.code, 0, `twine --skip-existing must recognise pydepot's "400 File already exists": ${describe(r)}`);
  t.regex(output(r), /Skipping acme_core-1\.0-py3-none-any\.whl because it appears to already exist/, describe(r));

  const html = await (await page(s, 'acme-core')).text();
  t.true(html.includes(`#sha256=${wheel.sha256}`), 'the original wheel is still served');
  t.false(html.includes(changed.sha256), 'the conflicting wheel is not served');
  t.true(html.includes(`#sha256=${sdist.sha256}`), 'the sdist after the skipped file was uploaded');
});

test('a conflicting sdist is refused too (same filename, different bytes)', async (t) => {
  if (!(await requireClient(t, 'twine'))) return;
  const s = await startTestServer(t);
  const [, sdist] = release(await graph(), 'acme-utils', '2.0');
  const changed = await buildSdist({ name: 'acme-utils', version: '2.0', requiresDist: ['acme-core'], summary: 'changed' });
  t.is(changed.filename, sdist.filename);
  t.is((await twineUpload(t, s, [sdist])).code, 0);
  const conflict = await twineUpload(t, s, [changed]);
  t.not(conflict.code, 0, describe(conflict));
  t.regex(output(conflict), /File already exists/, describe(conflict));
  const html = await (await page(s, 'acme-utils')).text();
  t.true(html.includes(sdist.sha256));
  t.false(html.includes(changed.sha256));
});

test('`pydepot yank` on a running server marks every file of the release yanked, with its reason, in HTML and JSON', async (t) => {
  if (!(await requireClient(t, 'twine'))) return;
  const s = await startTestServer(t);
  const g = await graph();
  const yanked = release(g, YANKED.project, YANKED.version);
  const kept = release(g, 'acme-core', '1.0');
  t.is((await twineUpload(t, s, [...yanked, ...kept])).code, 0);
  // Read the page once so a stale cached page would show.
  t.false((await (await page(s, 'acme-core')).text()).includes('data-yanked'));

  const r = await yankWithCli(s.storage, YANKED.project, YANKED.version, YANKED.reason);
  t.is(r.code, 0, describe(r));
  t.regex(r.stdout, /yanked acme-core 2\.0 in internal \(2 files\)/);

  const html = await (await page(s, 'acme-core')).text();
  for (const d of yanked) t.regex(html, new RegExp(`#sha256=${d.sha256}"[^>]* data-yanked="broken">${d.filename.replace(/\./g, '\\.')}<`), `${d.filename} is yanked with its reason`);
  for (const d of kept) t.regex(html, new RegExp(`#sha256=${d.sha256}"[^>]*>${d.filename.replace(/\./g, '\\.')}<`));
  t.notRegex(html, /data-yanked="[^"]*">acme_core-1\.0[-.]/, 'acme-core 1.0 is not yanked');

  const json = (await (await fetch(`${s.url}/internal/simple/acme-core/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).json()) as {
    files: Array<{ filename: string; yanked: boolean | string }>;
  };
  const byName = new Map(json.files.map((f) => [f.filename, f.yanked]));
  for (const d of yanked) t.is(byName.get(d.filename), 'broken', `JSON yanked of ${d.filename}`);
  for (const d of kept) t.is(byName.get(d.filename), false, `JSON yanked of ${d.filename}`);
});
