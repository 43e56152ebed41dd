/**
 * The index read over HTTP (src/upstream/index-reader.ts), the resolver
 * source over it (src/wheelhouse/index-source.ts) and the twine-style upload
 * client (src/upstream/legacy-upload.ts), against a real pydepot on loopback
 * and, where bytes must go wrong on purpose, the fake upstream.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { parseCoreMetadata } from '../../src/pypi/core-metadata.ts';
import { parseDistFilename } from '../../src/pypi/filenames.ts';
import { parseRequirementsFile } from '../../src/resolve/requirements.ts';
import { parseTargetShorthand } from '../../src/resolve/tags.ts';
import { UpstreamClient } from '../../src/upstream/client.ts';
import { IndexReader, IndexReadError } from '../../src/upstream/index-reader.ts';
import { uploadFile } from '../../src/upstream/legacy-upload.ts';
import { indexSource } from '../../src/wheelhouse/index-source.ts';
import { planFrom } from '../../src/wheelhouse/plan.ts';
import { addToken } from '../helpers/accounts.ts';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { upload } from '../helpers/upload.ts';
import { CI, startTestServer, tempDir } from '../helpers/server.ts';
import { ARM, buildWheelhouseGraph, CHOSEN, uploadGraph, X86 } from '../helpers/wheelhouse.ts';

function reader(t: ExecutionContext, url: string, creds: { username?: string; password?: string } = {}): IndexReader {
  const r = new IndexReader(new UpstreamClient({ url, timeoutSeconds: 5, username: creds.username ?? null, password: creds.password ?? null }));
  t.teardown(() => r.close());
  return r;
}

function client(t: ExecutionContext, url: string, token: string | null = CI.token): UpstreamClient {
  const c = new UpstreamClient({ url, timeoutSeconds: 5, username: token === null ? null : '__token__', password: token });
  t.teardown(() => c.close());
  return c;
}

const reqs = (text: string) => parseRequirementsFile({ name: 'requirements.txt', text });

test('over HTTP, the graph resolves to the files the in-process wheelhouse picks; wheels by their PEP 658 file, never downloaded', async (t) => {
  const s = await startTestServer(t);
  await uploadGraph(s.url, await buildWheelhouseGraph());
  const dir = await tempDir(t);
  const source = indexSource(reader(t, `${s.url}/internal/simple/`), dir);
  const plan = await planFrom(source, source.url, reqs('acme-app\n'), [parseTargetShorthand(X86), parseTargetShorthand(ARM)]);
  t.deepEqual(plan.failures, []);
  t.is(plan.repo, `${s.url}/internal/simple/`);
  for (const { target, pins } of plan.targets) t.deepEqual(pins.map((p) => p.file.filename).sort(), CHOSEN[target.name], target.name);
  t.deepEqual(await readdir(dir).catch(() => []), [], 'no file was downloaded');
  const pin = plan.targets[0]!.pins[0]!;
  t.is(source.fileUrl(pin.name, pin.file), `${s.url}/internal/${pin.file.path}`);
});

test("an sdist's dependencies come from its PKG-INFO: downloaded once, verified, kept for the build", async (t) => {
  const s = await startTestServer(t);
  const sdist = await buildSdist({ name: 'acme-lib', version: '1.0', requiresDist: ['acme-dep'] });
  const dep = await buildWheel({ name: 'acme-dep', version: '2.0' });
  t.is((await upload(`${s.url}/internal/`, sdist, 'acme-lib', '1.0')).status, 200);
  t.is((await upload(`${s.url}/internal/`, dep, 'acme-dep', '2.0')).status, 200);
  const dir = await tempDir(t);
  const source = indexSource(reader(t, `${s.url}/internal/simple/`), dir);
  const target = parseTargetShorthand(X86);

  const without = await planFrom(source, source.url, reqs('acme-lib\n'), [target]);
  t.regex(without.failures[0]!.reasons[0]!, /acme-lib 1\.0 has no wheel for cp311-manylinux_2_17_x86_64 \(sdist only/);

  const plan = await planFrom(source, source.url, reqs('acme-lib\n'), [target], { allowSdist: true });
  t.deepEqual(plan.targets[0]!.pins.map((p) => p.file.filename), [sdist.filename, dep.filename].sort());
  t.deepEqual(await readdir(dir), [sdist.sha256], 'only the sdist was downloaded');
  const lib = plan.targets[0]!.pins.find((p) => p.name === 'acme-lib')!;
  const path = await source.download('acme-lib', lib.file);
  t.is(path, join(dir, sdist.sha256, sdist.filename), 'the same download, not a second one');
});

test('a project the index does not have is null; a 401 says how to give credentials; a token reads', async (t) => {
  const s = await startTestServer(t, { repositories: { internal: { type: 'local', upload: [CI.user], read: 'authenticated' } } });
  await upload(`${s.url}/internal/`, await buildWheel({ name: 'acme-x', version: '1.0' }), 'acme-x', '1.0');
  const anonymous = reader(t, `${s.url}/internal/simple/`);
  const err = await t.throwsAsync(anonymous.projectPage('acme-x'), { instanceOf: IndexReadError });
  t.regex(err!.message, /internal\/simple\/acme-x\/ answered 401 .*give credentials \(--token, PYDEPOT_TOKEN, or user:password in the URL\)/);
  const authed = reader(t, `${s.url}/internal/simple/`, { username: '__token__', password: CI.token });
  const page = await authed.projectPage('Acme_X');
  t.deepEqual(page!.files.map((f) => f.filename), ['acme_x-1.0-py3-none-any.whl']);
  t.is(await authed.projectPage('acme-nothing'), null);
});

test('bytes that do not match the page are refused: corrupt metadata, a corrupt file, nothing left behind', async (t) => {
  const up = await FakeUpstream.start(t);
  const wheel = await buildWheel({ name: 'acme-w', version: '1.0' });
  const sdist = await buildSdist({ name: 'acme-w', version: '1.0' });
  up.addProject('acme-w', [{ dist: wheel }, { dist: sdist }]);
  up.fileFaults(`${wheel.filename}.metadata`, { corrupt: true });
  up.fileFaults(sdist.filename, { corrupt: true });
  const dir = await tempDir(t);
  const source = indexSource(reader(t, up.url), dir);
  const page = (await source.page('acme-w'))!;
  const [w, sd] = [page.files.find((f) => f.filename === wheel.filename)!, page.files.find((f) => f.filename === sdist.filename)!];
  t.is(w.metadataSha256, createSha(wheel.metadata));
  const metaErr = await t.throwsAsync(source.metadata('acme-w', w), { instanceOf: IndexReadError });
  t.regex(metaErr!.message, /\.whl\.metadata has sha256 [0-9a-f]{64}, but the index page says [0-9a-f]{64}: refused/);
  const fileErr = await t.throwsAsync(source.download('acme-w', sd), { instanceOf: IndexReadError });
  t.regex(fileErr!.message, /acme_w-1\.0\.tar\.gz has sha256 [0-9a-f]{64}, but the index page says [0-9a-f]{64}; refused/);
  t.deepEqual(await readdir(join(dir, sdist.sha256)), [], 'no partial file is left');

  // Once the upstream sends the right bytes, the same source reads them (a failed download is not remembered).
  up.clearFaults();
  t.is(await source.download('acme-w', sd), join(dir, sdist.sha256, sdist.filename));
  t.deepEqual((await source.metadata('acme-w', w)).requiresDist, []);
});

test('a download cut short is refused, and nothing is left', async (t) => {
  const up = await FakeUpstream.start(t);
  const sdist = await buildSdist({ name: 'acme-t', version: '1.0', padBytes: 50_000 });
  up.addProject('acme-t', [{ dist: sdist }]);
  up.fileFaults(sdist.filename, { truncateAt: 1000 });
  const dir = await tempDir(t);
  const source = indexSource(reader(t, up.url), dir);
  const file = (await source.page('acme-t'))!.files[0]!;
  const err = await t.throwsAsync(source.download('acme-t', file), { instanceOf: IndexReadError });
  t.regex(err!.message, /acme_t-1\.0\.tar\.gz/);
  t.deepEqual(await readdir(join(dir, sdist.sha256)), []);
});

// --- The upload client ---------------------------------------------------------------

async function wheelOnDisk(t: ExecutionContext, dist: BuiltDist): Promise<string> {
  const dir = await tempDir(t);
  const path = join(dir, dist.filename);
  await writeFile(path, dist.bytes);
  return path;
}

function send(c: UpstreamClient, url: string, path: string, dist: BuiltDist) {
  return uploadFile(c, url, path, parseDistFilename(dist.filename), parseCoreMetadata(dist.metadata.toString('utf8')), dist.sha256);
}

test('uploadFile: stored, then the same bytes again (identical), then other bytes under the same name (exists)', async (t) => {
  const s = await startTestServer(t);
  const spec = { name: 'Acme.Up', version: '1.0', requiresDist: ['acme-core>=1', 'acme-extra ; extra == "x"'], providesExtra: ['x'], requiresPython: '>=3.8' };
  const first = await buildWheel(spec);
  const other = await buildWheel({ ...spec, summary: 'other bytes' });
  t.is(first.filename, other.filename);
  const c = client(t, `${s.url}/internal/`);
  t.like(await send(c, `${s.url}/internal/`, await wheelOnDisk(t, first), first), { outcome: 'uploaded', status: 200 });
  t.like(await send(c, `${s.url}/internal/`, await wheelOnDisk(t, first), first), { outcome: 'identical', status: 200 });
  const exists = await send(c, `${s.url}/internal/`, await wheelOnDisk(t, other), other);
  t.like(exists, { outcome: 'exists', status: 400 });
  t.regex(exists.reason, /File already exists/);
  // What the form said reached the index: the page carries Requires-Python, the JSON API the metadata.
  const info = await (await fetch(`${s.url}/internal/pypi/acme-up/json`)).json() as { info: { requires_dist: string[]; requires_python: string; name: string } };
  t.deepEqual(info.info.requires_dist, ['acme-core>=1', 'acme-extra ; extra == "x"']);
  t.is(info.info.requires_python, '>=3.8');
});

test('uploadFile: a refusal carries the server\'s reason; no credentials, a redirect and a dead port too', async (t) => {
  const s = await startTestServer(t, {
    repositories: { internal: { type: 'local', upload: [CI.user] }, other: { type: 'local', upload: ['nobody'] } },
    defaultRepository: 'internal',
  });
  const dist = await buildWheel({ name: 'acme-r', version: '1.0' });
  const path = await wheelOnDisk(t, dist);

  const forbidden = await send(client(t, `${s.url}/other/`), `${s.url}/other/`, path, dist);
  t.is(forbidden.outcome, 'refused');
  t.is(forbidden.status, 403);
  t.is(forbidden.reason, "User 'ci' may not upload to repository 'other'.");

  const anonymous = await send(client(t, `${s.url}/internal/`, null), `${s.url}/internal/`, path, dist);
  t.like(anonymous, { outcome: 'refused', status: 401 });
  t.regex(anonymous.reason, /^Repository 'internal' needs credentials to upload/);

  const limited = await addToken(s.storage, CI.user, { scope: 'read' });
  const readOnly = await send(client(t, `${s.url}/internal/`, limited.text), `${s.url}/internal/`, path, dist);
  t.like(readOnly, { outcome: 'refused', status: 403 });

  const redirecting = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(308, { location: `${s.url}/internal/` }).end());
  });
  await new Promise<void>((ok) => redirecting.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => redirecting.close(() => ok())));
  const redirectUrl = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/internal`;
  const redirected = await send(client(t, redirectUrl), redirectUrl, path, dist);
  t.like(redirected, { outcome: 'refused', status: 308 });
  t.regex(redirected.reason, /^redirected to .*\/internal\/: give the repository's upload URL itself/);

  const dead = await send(client(t, 'http://127.0.0.1:1/x/'), 'http://127.0.0.1:1/x/', path, dist);
  t.like(dead, { outcome: 'refused', status: 0 });
  t.regex(dead.reason, /refused the connection/);
  t.is((await fetch(`${s.url}/internal/simple/acme-r/`)).status, 404, 'nothing was stored');
});

function createSha(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
