/**
 * `sendfileOffload: nginx` with a real nginx in front (Debian's, started by
 * the test on a loopback port, running deploy/nginx.conf with this test's
 * addresses): pydepot authorises and answers X-Accel-Redirect, nginx sends
 * the bytes. What pip sees through nginx must be what it sees from pydepot
 * alone; a file the policy refuses never reaches the blob location.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CI } from '../helpers/ci-user.ts';
import { optionalClients } from '../helpers/clients.ts';
import { buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { deployConfig, NGINX_INSTALL, nginxBinary, startNginx, type Nginx } from '../helpers/nginx.ts';
import { getVerified } from '../helpers/pip-like.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

const BLOB_LOCATION = '/_pydepot_blobs/';
const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';

/** Like requireClient: fails with the install command, or with PYDEPOT_OPTIONAL_CLIENTS=1 logs SKIPPED and passes. */
function requireNginx(t: ExecutionContext): boolean {
  if (nginxBinary()) return true;
  const message = `nginx is not installed: ${NGINX_INSTALL}`;
  if (optionalClients()) {
    t.log(`SKIPPED: ${message} [PYDEPOT_OPTIONAL_CLIENTS=1]`);
    t.pass();
  } else {
    t.fail(`${message} (or set PYDEPOT_OPTIONAL_CLIENTS=1 to skip tests that need it)`);
  }
  return false;
}

interface Front {
  s: TestServer;
  nginx: Nginx;
  /** nginx's access log: `<status> <request uri> -> <final uri>` per request. */
  accessLog(): Promise<string[]>;
}

/** pydepot with sendfileOffload on its own storage folder, and nginx running deploy/nginx.conf in front. */
async function front(t: ExecutionContext, raw: Record<string, unknown>): Promise<Front> {
  const s = await startTestServer(t, { ...raw, blobs: { type: 'fs' }, sendfileOffload: 'nginx', auth: { trustProxy: true } });
  const http = await deployConfig({ pydepot: new URL(s.url).host, storage: s.storage });
  const nginx = await startNginx({
    // $uri is the URI after the internal redirect: the blob location when nginx sent the file.
    http,
    accessLog: '$status $request_uri -> $uri',
  });
  t.teardown(() => nginx.stop());
  return {
    s,
    nginx,
    accessLog: async () => (await readFile(join(nginx.dir, 'access.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
  };
}

/**
 * nginx writes a request's access log line once the response is sent, a
 * moment after the client may have read it: wait for the first line of
 * `uri` past the first `from` lines.
 */
async function logLine(f: Front, uri: string, from = 0): Promise<string> {
  const until = Date.now() + 5000;
  for (;;) {
    const line = (await f.accessLog()).slice(from).find((l) => l.split(' ')[1] === uri);
    if (line) return line;
    if (Date.now() > until) throw new Error(`no access log line for ${uri}: ${(await f.accessLog()).join('\n')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function uploaded(f: Front, repo: string, dist: BuiltDist, name: string, version: string): Promise<void> {
  // Through nginx, as twine would: client_max_body_size and request streaming are the example's.
  const res = await upload(`${f.nginx.url}/${repo}/`, dist, name, version);
  if (res.status !== 200) throw new Error(`upload through nginx: ${res.status} ${await res.text()}`);
}

const path = (url: string): string => new URL(url).pathname;

test('local files through nginx: exact bytes and core metadata, pydepot headers, Range and If-Range, sent from the blob location', async (t) => {
  if (!requireNginx(t)) return;
  const f = await front(t, { repositories: { internal: { type: 'local', upload: [CI.user] } } });
  const wheel = await buildWheel({ name: 'acme-data', version: '1.0', padBytes: 300_000 });
  await uploaded(f, 'internal', wheel, 'acme-data', '1.0');

  // pip's way: the JSON page through nginx, then the file its URL names.
  const page = await fetch(`${f.nginx.url}/internal/simple/acme-data/`, { headers: { Accept: JSON_ACCEPT, 'Accept-Encoding': 'gzip, deflate' } });
  t.is(page.status, 200);
  const listed = ((await page.json()) as { files: { url: string; hashes: { sha256: string } }[] }).files[0]!;
  const fileUrl = new URL(listed.url, `${f.nginx.url}/internal/simple/acme-data/`).href;
  t.is(await getVerified(fileUrl, wheel.sha256), wheel.bytes.length);
  t.regex(await logLine(f, path(fileUrl)), new RegExp(`^200 \\S+ -> ${BLOB_LOCATION}sha256/${wheel.sha256.slice(0, 2)}/${wheel.sha256.slice(2, 4)}/${wheel.sha256}$`));

  const res = await fetch(fileUrl);
  const body = Buffer.from(await res.arrayBuffer());
  t.is(sha256(body), wheel.sha256);
  t.is(res.headers.get('etag'), `"${wheel.sha256}"`, "pydepot's ETag, not nginx's");
  t.is(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  t.is(res.headers.get('content-type'), 'application/octet-stream');
  t.is(res.headers.get('content-length'), String(wheel.bytes.length));
  t.is(res.headers.get('x-accel-redirect'), null);
  // pydepot's own answer, for the same URL: the same validators.
  const direct = await fetch(`${f.s.url}${path(fileUrl)}`);
  await direct.arrayBuffer();
  t.is(direct.headers.get('x-accel-redirect'), `${BLOB_LOCATION}sha256/${wheel.sha256.slice(0, 2)}/${wheel.sha256.slice(2, 4)}/${wheel.sha256}`);
  t.is(res.headers.get('last-modified'), direct.headers.get('last-modified'));

  // The core metadata file (PEP 658) is offloaded the same way.
  t.true((await getVerified(`${fileUrl}.metadata`, sha256(wheel.metadata))) > 0);

  // Ranges, as pip resumes (If-Range) and as uv reads a wheel's zip directory (a suffix).
  const part = await fetch(fileUrl, { headers: { Range: 'bytes=100-1099', 'If-Range': `"${wheel.sha256}"` } });
  t.is(part.status, 206);
  t.is(part.headers.get('content-range'), `bytes 100-1099/${wheel.bytes.length}`);
  t.true(Buffer.from(await part.arrayBuffer()).equals(wheel.bytes.subarray(100, 1100)));
  const tail = await fetch(fileUrl, { headers: { Range: 'bytes=-22' } });
  t.is(tail.status, 206);
  t.true(Buffer.from(await tail.arrayBuffer()).equals(wheel.bytes.subarray(-22)));
  const stale = await fetch(fileUrl, { headers: { Range: 'bytes=0-9', 'If-Range': '"not-this-file"' } });
  t.is(stale.status, 200, 'an If-Range that does not match gets the whole file');
  t.is(sha256(Buffer.from(await stale.arrayBuffer())), wheel.sha256);
  // A conditional GET is answered by pydepot itself.
  t.is((await fetch(fileUrl, { headers: { 'If-None-Match': `"${wheel.sha256}"` } })).status, 304);

  // The blob location itself is internal: nginx answers 404 to a client asking for it.
  const blobUrl = `${f.nginx.url}${BLOB_LOCATION}sha256/${wheel.sha256.slice(0, 2)}/${wheel.sha256.slice(2, 4)}/${wheel.sha256}`;
  const probe = await fetch(blobUrl);
  await probe.arrayBuffer();
  t.is(probe.status, 404);
  t.is((await fetch(`${f.nginx.url}${BLOB_LOCATION}`)).status, 404);
  // The log says the server offloaded, with the bytes nginx sends.
  const line = f.s.logs.find((l) => l.path === path(fileUrl) && l.offloadedBytes !== undefined);
  t.is(line?.offloadedBytes, wheel.bytes.length);
});

test('refused files never reach the blob location: a private repository without credentials (401), a file missing (404)', async (t) => {
  if (!requireNginx(t)) return;
  const f = await front(t, { repositories: { private: { type: 'local', read: [CI.user], upload: [CI.user] } } });
  const wheel = await buildWheel({ name: 'acme-secret', version: '1.0', padBytes: 50_000 });
  await uploaded(f, 'private', wheel, 'acme-secret', '1.0');
  const fileUrl = `${f.nginx.url}/private/files/${wheel.sha256}/${wheel.filename}`;

  const anonymous = await fetch(fileUrl);
  const body = Buffer.from(await anonymous.arrayBuffer());
  t.is(anonymous.status, 401);
  t.truthy(anonymous.headers.get('www-authenticate'));
  t.false(body.includes(wheel.bytes.subarray(0, 64)));
  t.regex(await logLine(f, path(fileUrl)), /^401 \S+ -> \/private\/files\//, 'answered by pydepot, not from the blob location');

  const other = await buildWheel({ name: 'acme-secret', version: '2.0' });
  const missing = `${f.nginx.url}/private/files/${other.sha256}/${other.filename}`;
  t.is((await fetch(missing, { headers: { Authorization: CI.basic } })).status, 404);
  t.regex(await logLine(f, path(missing)), /^404 \S+ -> \/private\/files\//);

  // With credentials: the bytes, from the blob location.
  const before = (await f.accessLog()).length;
  const res = await fetch(fileUrl, { headers: { Authorization: CI.basic } });
  t.is(res.status, 200);
  t.is(sha256(Buffer.from(await res.arrayBuffer())), wheel.sha256);
  t.regex(await logLine(f, path(fileUrl), before), new RegExp(`^200 \\S+ -> ${BLOB_LOCATION}`));
  const lines = await f.accessLog();
  t.is(lines.filter((l) => l.includes(BLOB_LOCATION)).length, 1, lines.join('\n'));
});

test('remote: a file not yet cached is fetched and verified, then offloaded; removed upstream, its cached blob is 410, never sent', async (t) => {
  if (!requireNginx(t)) return;
  const up = await FakeUpstream.start(t);
  const old = await buildWheel({ name: 'acme-lib', version: '1.0', padBytes: 200_000 });
  const current = await buildWheel({ name: 'acme-lib', version: '2.0' });
  const bad = await buildWheel({ name: 'acme-lib', version: '3.0' });
  up.addProject('acme-lib', [{ dist: old }, { dist: current }, { dist: bad }], { status: 'active' });
  up.fileFaults(bad.filename, { corrupt: true });
  // indexTtl 0: every page request revalidates.
  const f = await front(t, { repositories: { pypi: { type: 'remote', url: up.url, indexTtl: 0, timeout: 5 } } });

  t.is((await fetch(`${f.nginx.url}/pypi/simple/acme-lib/`, { headers: { Accept: JSON_ACCEPT } })).status, 200);
  const oldUrl = `${f.nginx.url}/pypi/files/${old.sha256}/${old.filename}`;
  t.is(await getVerified(oldUrl, old.sha256), old.bytes.length, 'the first request: fetched, verified, then sent by nginx');
  t.regex(await logLine(f, path(oldUrl)), new RegExp(`-> ${BLOB_LOCATION}sha256/`));
  t.is(up.count(up.fileUrl(old.filename)), 1);
  const blobPath = join(f.s.storage, 'blobs', 'sha256', old.sha256.slice(0, 2), old.sha256.slice(2, 4), old.sha256);
  t.is((await stat(blobPath)).size, old.bytes.length);
  t.is(await getVerified(oldUrl, old.sha256), old.bytes.length, 'the second: from the cache');
  t.is(up.count(up.fileUrl(old.filename)), 1);

  // A file whose bytes do not match the page's sha256 is never committed, so never offloaded.
  const badUrl = `${f.nginx.url}/pypi/files/${bad.sha256}/${bad.filename}`;
  const badRes = await fetch(badUrl);
  await badRes.arrayBuffer();
  t.is(badRes.status, 502);
  t.regex(await logLine(f, path(badUrl)), /^502 \S+ -> \/pypi\/files\//);

  // The upstream deletes 1.0: after revalidation its URL is 410 though the blob is still on disk.
  up.addProject('acme-lib', [{ dist: current }], { status: 'active' });
  t.is((await fetch(`${f.nginx.url}/pypi/simple/acme-lib/`, { headers: { Accept: JSON_ACCEPT } })).status, 200);
  const before = (await f.accessLog()).length;
  const gone = await fetch(oldUrl);
  const goneBody = Buffer.from(await gone.arrayBuffer());
  t.is(gone.status, 410);
  t.false(goneBody.includes(old.bytes.subarray(0, 64)));
  t.true((await stat(blobPath)).isFile(), 'the cached blob is still there: only pydepot keeps nginx from it');
  t.regex(await logLine(f, path(oldUrl), before), /^410 \S+ -> \/pypi\/files\//);
});

test("pydepot's own answer (no nginx needed): X-Accel-Redirect and an empty body for GET after the checks; HEAD and 304 answered whole; off by default", async (t) => {
  const repos = { repositories: { internal: { type: 'local', upload: [CI.user] } } };
  const s = await startTestServer(t, { ...repos, blobs: { type: 'fs' }, sendfileOffload: { type: 'nginx', prefix: '/x/blobs/' } });
  const wheel = await buildWheel({ name: 'acme-data', version: '1.0', padBytes: 10_000 });
  t.is((await upload(`${s.url}/internal/`, wheel, 'acme-data', '1.0')).status, 200);
  const url = `${s.url}/internal/files/${wheel.sha256}/${wheel.filename}`;
  const key = `sha256/${wheel.sha256.slice(0, 2)}/${wheel.sha256.slice(2, 4)}/${wheel.sha256}`;

  const res = await fetch(url);
  t.is(res.status, 200);
  t.is(res.headers.get('x-accel-redirect'), `/x/blobs/${key}`);
  t.is(res.headers.get('etag'), `"${wheel.sha256}"`);
  t.is(res.headers.get('content-type'), 'application/octet-stream');
  t.is((await res.arrayBuffer()).byteLength, 0);
  const range = await fetch(url, { headers: { Range: 'bytes=0-9' } });
  t.is(range.headers.get('x-accel-redirect'), `/x/blobs/${key}`);
  t.is(range.headers.get('content-range'), null, "nginx's to set");
  t.is((await range.arrayBuffer()).byteLength, 0);

  const head = await fetch(url, { method: 'HEAD' });
  t.is(head.headers.get('x-accel-redirect'), null);
  t.is(head.headers.get('content-length'), String(wheel.bytes.length));
  t.is((await fetch(url, { headers: { 'If-None-Match': `"${wheel.sha256}"` } })).status, 304);
  // A refused file gets pydepot's error, never a redirect.
  const missing = await fetch(`${s.url}/internal/files/${'0'.repeat(64)}/${wheel.filename}`);
  t.is(missing.status, 404);
  t.is(missing.headers.get('x-accel-redirect'), null);

  const plain = await startTestServer(t, { ...repos, blobs: { type: 'fs' } });
  t.is((await upload(`${plain.url}/internal/`, wheel, 'acme-data', '1.0')).status, 200);
  const streamed = await fetch(`${plain.url}/internal/files/${wheel.sha256}/${wheel.filename}`);
  t.is(streamed.headers.get('x-accel-redirect'), null);
  t.is(sha256(Buffer.from(await streamed.arrayBuffer())), wheel.sha256);
});
