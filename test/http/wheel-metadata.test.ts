/**
 * Core metadata for upstream wheels whose index gives none (an HTML-only
 * upstream, PyTorch style): read out of the wheel by HTTP Range, from the
 * cached blob, or from the whole wheel when the upstream has no Range
 * support; advertised only once read; never for a malformed wheel, which is
 * still served as a file. The fake upstream counts requests and body bytes.
 */
import { createHash } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { blake2b } from 'hash-wasm';
import { parseConfig } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { Registry } from '../../src/repos/registry.ts';
import { parseRequirementsFile } from '../../src/resolve/requirements.ts';
import { parseTargetShorthand } from '../../src/resolve/tags.ts';
import { openTestStorage } from '../helpers/test-backend.ts';
import { planWheelhouse } from '../../src/wheelhouse/plan.ts';
import { buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream, type FakeUpstreamOptions, type LoggedRequest } from '../helpers/fake-upstream.ts';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { eventually } from '../helpers/storage.ts';

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';
const PAD = 2 * 1024 * 1024;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Setup {
  s: TestServer;
  up: FakeUpstream;
  wheel: BuiltDist;
}

async function setup(t: ExecutionContext, upOpts: FakeUpstreamOptions, remote: Record<string, unknown> = {}, wheel?: BuiltDist): Promise<Setup> {
  const up = await FakeUpstream.start(t, { format: 'html', ...upOpts });
  wheel ??= await buildWheel({ name: 'Acme.Utils', version: '1.0', requiresDist: ['acme-core>=1.0'], padBytes: PAD });
  up.addProject('acme-utils', [{ dist: wheel, withMetadata: false }]);
  const s = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url, timeout: 5, ...remote } } });
  return { s, up, wheel };
}

const wheelRequests = (up: FakeUpstream, wheel: BuiltDist): LoggedRequest[] => up.requests.filter((r) => r.path.endsWith(encodeURIComponent(wheel.filename)));
const extracted = (s: TestServer, method: string): boolean => s.logs.some((l) => l.msg === 'core metadata read out of an upstream wheel' && l.method === method);

async function htmlPage(s: TestServer): Promise<string> {
  return (await fetch(`${s.url}/pypi/simple/acme-utils/`)).text();
}

async function jsonFile(s: TestServer): Promise<{ 'core-metadata': unknown; url: string }> {
  const page = (await (await fetch(`${s.url}/pypi/simple/acme-utils/`, { headers: { Accept: JSON_ACCEPT } })).json()) as { files: { 'core-metadata': unknown; url: string }[] };
  return page.files[0]!;
}

async function metadataFile(s: TestServer, wheel: BuiltDist): Promise<Response> {
  return fetch(`${s.url}/pypi/files/${wheel.sha256}/${wheel.filename}.metadata`);
}

async function metric(s: TestServer, line: string): Promise<number | null> {
  const text = await (await fetch(`${s.url}/-/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : null;
}

test('HTML-only upstream with Range: the page advertises core-metadata once read, from a few KiB of the wheel', async (t) => {
  const { s, up, wheel } = await setup(t, { ranges: 'support' });
  const metaSha = sha256(wheel.metadata);

  const first = await htmlPage(s);
  t.false(first.includes('data-core-metadata'), 'nothing is advertised before it is read');
  await eventually(async () => extracted(s, 'range'), 'the metadata read by Range');

  const html = await htmlPage(s);
  t.true(html.includes(`data-dist-info-metadata="sha256=${metaSha}" data-core-metadata="sha256=${metaSha}"`), html);
  t.deepEqual((await jsonFile(s))['core-metadata'], { sha256: metaSha });

  const res = await metadataFile(s, wheel);
  t.is(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  t.is(sha256(body), metaSha, '.metadata is the wheel\'s METADATA, byte for byte');

  const reqs = wheelRequests(up, wheel);
  t.true(reqs.length >= 1 && reqs.length <= 3, `${reqs.length} requests`);
  t.true(reqs.every((r) => typeof r.headers.range === 'string' && r.status === 206), 'every request for the wheel was a Range request');
  const bytes = reqs.reduce((n, r) => n + r.bytesSent, 0);
  t.true(bytes < 80 * 1024 && bytes < wheel.bytes.length / 20, `${bytes} bytes of a ${wheel.bytes.length}-byte wheel`);
  t.is(up.count((r) => r.path.endsWith('.metadata')), 0, 'the upstream has no .metadata to ask for');
  t.is(await metric(s, 'pydepot_metadata_extracted_total{repo="pypi",method="range"}'), 1);
  t.is(await metric(s, 'pydepot_metadata_upstream_bytes_total{repo="pypi"}'), bytes);

  // The file itself is then downloaded whole, once, and verified as always.
  const file = await fetch(`${s.url}/pypi/files/${wheel.sha256}/${wheel.filename}`);
  t.is(sha256(Buffer.from(await file.arrayBuffer())), wheel.sha256);
});

test('a JSON upstream without core-metadata gets it too; a page revalidated unchanged keeps its ETag', async (t) => {
  const { s, up, wheel } = await setup(t, { ranges: 'support', format: 'json' }, { indexTtl: 0 });
  await jsonFile(s);
  await eventually(async () => extracted(s, 'range'), 'the metadata read by Range');
  const a = await fetch(`${s.url}/pypi/simple/acme-utils/`, { headers: { Accept: JSON_ACCEPT } });
  const b = await fetch(`${s.url}/pypi/simple/acme-utils/`, { headers: { Accept: JSON_ACCEPT } });
  t.deepEqual(((await a.json()) as { files: { 'core-metadata': unknown }[] }).files[0]!['core-metadata'], { sha256: sha256(wheel.metadata) });
  t.is(a.headers.get('etag'), b.headers.get('etag'), 'the page saved again from upstream keeps the metadata it had');
  t.true(up.count('/simple/acme-utils/') >= 3);
  t.is(wheelRequests(up, wheel).filter((r) => !r.headers.range).length, 0);
});

for (const ranges of ['ignore', 'refuse'] as const) {
  test(`an upstream that ${ranges}s Range: no background download; a .metadata request reads the whole wheel, which is then cached`, async (t) => {
    const { s, up, wheel } = await setup(t, { ranges });
    await htmlPage(s);
    await eventually(async () => s.logs.some((l) => l.msg?.toString().startsWith('upstream does not serve byte ranges')), 'the Range failure');
    t.false((await htmlPage(s)).includes('data-core-metadata'));
    t.is(wheelRequests(up, wheel).filter((r) => !r.headers.range).length, 0, 'no whole wheel fetched in the background');

    // On demand (the wheelhouse resolver, or a client that asks anyway): the whole wheel.
    const res = await metadataFile(s, wheel);
    t.is(res.status, 200);
    t.is(sha256(Buffer.from(await res.arrayBuffer())), sha256(wheel.metadata));
    t.true(extracted(s, 'full'));
    t.true((await htmlPage(s)).includes(`data-core-metadata="sha256=${sha256(wheel.metadata)}"`));
    const before = up.requests.length;
    const file = await fetch(`${s.url}/pypi/files/${wheel.sha256}/${wheel.filename}`);
    t.is(sha256(Buffer.from(await file.arrayBuffer())), wheel.sha256);
    t.is(up.requests.length, before, 'the wheel was cached by the metadata read');
    t.is(await metric(s, 'pydepot_metadata_extraction_failures_total{repo="pypi",reason="no-range"}'), 1);
  });
}

test('a cached wheel: its metadata is read from the blob, with no upstream request', async (t) => {
  // No background reads after page fetches: only the download's.
  const { s, up, wheel } = await setup(t, { ranges: 'support' }, { metadataReleases: 0 });
  await htmlPage(s);
  const file = await fetch(`${s.url}/pypi/files/${wheel.sha256}/${wheel.filename}`);
  t.is(sha256(Buffer.from(await file.arrayBuffer())), wheel.sha256);
  await eventually(async () => extracted(s, 'blob'), 'the metadata read from the blob');
  const reqs = wheelRequests(up, wheel);
  t.is(reqs.length, 1);
  t.is(reqs[0]!.headers.range, undefined, 'only the download');
  t.true((await htmlPage(s)).includes(`data-core-metadata="sha256=${sha256(wheel.metadata)}"`));
  t.is(sha256(Buffer.from(await (await metadataFile(s, wheel)).arrayBuffer())), sha256(wheel.metadata));
});

test('a malformed wheel: no metadata, a logged reason, never retried; the file is still served', async (t) => {
  const bytes = Buffer.from('this is not a zip file, but its sha256 is what the page says\n'.repeat(100));
  const bogus: BuiltDist = {
    filename: 'acme_utils-1.0-py3-none-any.whl', bytes, metadata: Buffer.alloc(0),
    sha256: sha256(bytes), md5: createHash('md5').update(bytes).digest('hex'), blake2b256: await blake2b(bytes, 256),
  };
  const { s, up } = await setup(t, { ranges: 'support' }, { indexTtl: 0 }, bogus);
  await htmlPage(s);
  await eventually(async () => s.logs.some((l) => l.msg === 'upstream wheel has no readable METADATA: no core metadata is served for it'), 'the refusal');
  const warning = s.logs.find((l) => l.msg === 'upstream wheel has no readable METADATA: no core metadata is served for it')!;
  t.regex(String(warning.reason), /no end of central directory/);
  t.false((await htmlPage(s)).includes('data-core-metadata'));
  t.is((await metadataFile(s, bogus)).status, 404);
  const before = wheelRequests(up, bogus).length;
  await htmlPage(s); // revalidated (indexTtl 0): the wheel is not read again
  t.is(wheelRequests(up, bogus).length, before);
  const failures = 'pydepot_metadata_extraction_failures_total{repo="pypi",reason="malformed"}';
  t.is(await metric(s, failures), 1);
  const file = await fetch(`${s.url}/pypi/files/${bogus.sha256}/${bogus.filename}`);
  t.is(file.status, 200);
  t.deepEqual(Buffer.from(await file.arrayBuffer()), bytes);
  // Judged by Range reads alone, it is judged once more from its verified bytes
  // once cached (in the background, from the blob: no upstream request but the download)...
  await eventually(async () => (await metric(s, failures)) === 2, 'the second judgement, from the cached bytes');
  t.is(wheelRequests(up, bogus).length, before + 1);
  // ...and never again.
  await htmlPage(s);
  await fetch(`${s.url}/pypi/files/${bogus.sha256}/${bogus.filename}`).then((r) => r.arrayBuffer());
  t.false((await htmlPage(s)).includes('data-core-metadata'));
  t.is(await metric(s, failures), 2);
});

test('only the newest releases are read in the background', async (t) => {
  const up = await FakeUpstream.start(t, { format: 'html', ranges: 'support' });
  const versions = ['1.0', '2.0', '3.0', '4.0rc1'];
  const wheels = await Promise.all(versions.map((version) => buildWheel({ name: 'acme-utils', version })));
  up.addProject('acme-utils', wheels.map((dist) => ({ dist, withMetadata: false })));
  const s = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url, metadataReleases: 2 } } });
  await htmlPage(s);
  await eventually(async () => s.logs.filter((l) => l.msg === 'core metadata read out of an upstream wheel').length === 3, 'three reads');
  const html = await htmlPage(s);
  const advertised = wheels.filter((w) => html.includes(`data-core-metadata="sha256=${sha256(w.metadata)}"`)).map((w) => w.filename.split('-')[1]);
  t.deepEqual(advertised.sort(), ['2.0', '3.0', '4.0rc1']);
});

test('the wheelhouse resolver reads the metadata of an HTML-only upstream by Range, not by downloading wheels', async (t) => {
  const up = await FakeUpstream.start(t, { format: 'html', ranges: 'support' });
  const app = await buildWheel({ name: 'acme-app', version: '1.0', requiresDist: ['acme-core>=1.0'], padBytes: PAD });
  const core2 = await buildWheel({ name: 'acme-core', version: '2.0', requiresDist: ['acme-utils'], padBytes: PAD });
  const core1 = await buildWheel({ name: 'acme-core', version: '1.0', padBytes: PAD });
  const utils = await buildWheel({ name: 'acme-utils', version: '1.0', padBytes: PAD });
  up.addProject('acme-app', [{ dist: app, withMetadata: false }]);
  up.addProject('acme-core', [{ dist: core1, withMetadata: false }, { dist: core2, withMetadata: false }]);
  up.addProject('acme-utils', [{ dist: utils, withMetadata: false }]);
  const dir = await tempDir(t);
  // No background reads: every read is the resolver's.
  const config = parseConfig({ storage: dir, repositories: { pypi: { type: 'remote', url: up.url, metadataReleases: 0 } } });
  const storage = await openTestStorage(dir);
  const registry = new Registry(config, { ...storage, logger: createLogger('silent'), metrics: createMetrics() });
  t.teardown(async () => {
    await registry.close();
    await storage.store.close();
  });
  const reqs = parseRequirementsFile({ name: 'requirements.txt', text: 'acme-app\n' });
  const plan = await planWheelhouse(registry.get('pypi'), reqs, [parseTargetShorthand('cp311-manylinux_2_17_x86_64')]);
  t.deepEqual(plan.failures, []);
  t.deepEqual(plan.targets[0]!.pins.map((p) => `${p.name}==${p.version}`).sort(), ['acme-app==1.0', 'acme-core==2.0', 'acme-utils==1.0']);
  const wheelReqs = up.requests.filter((r) => r.path.endsWith('.whl'));
  t.true(wheelReqs.length > 0);
  t.true(wheelReqs.every((r) => r.status === 206), 'only Range requests');
  const bytes = wheelReqs.reduce((n, r) => n + r.bytesSent, 0);
  t.true(bytes < 3 * 80 * 1024, `${bytes} bytes for three wheels of ${PAD} bytes each`);
});
