import { request } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer as readAll } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import tar from 'tar-stream';
import { buildSdist, buildWheel, type BuiltDist, type DistSpec } from '../helpers/dists.ts';
import { CI, startTestServer } from '../helpers/server.ts';
import { eventually, storageCounts } from '../helpers/storage.ts';
import { upload } from '../helpers/upload.ts';

const SPEC: DistSpec = { name: 'acme-utils', version: '1.0.0', requiresPython: '>=3.8' };

test('a wheel and an sdist upload, then appear on the index with their hashes and download byte for byte', async (t) => {
  const s = await startTestServer(t);
  const wheel = await buildWheel(SPEC);
  const sdist = await buildSdist(SPEC);
  for (const d of [wheel, sdist]) {
    const res = await upload(`${s.url}/internal/`, d, 'acme-utils', '1.0.0');
    t.is(res.status, 200, await res.text());
  }
  const page = await (await fetch(`${s.url}/internal/simple/acme-utils/`)).text();
  t.regex(page, new RegExp(`href="../../files/${wheel.sha256}/${wheel.filename}#sha256=${wheel.sha256}"`));
  t.regex(page, new RegExp(`#sha256=${sdist.sha256}" data-requires-python="&gt;=3.8">${sdist.filename}<`));
  const got = Buffer.from(await (await fetch(`${s.url}/internal/files/${wheel.sha256}/${wheel.filename}`)).arrayBuffer());
  t.true(got.equals(wheel.bytes));
});

test('form fields may follow the file part (uv sends attestations last)', async (t) => {
  const s = await startTestServer(t);
  const res = await upload(`${s.url}/internal`, await buildWheel(SPEC), 'acme-utils', '1.0.0', { fieldsAfterFile: true, fields: { attestations: '[]' } });
  t.is(res.status, 200, await res.text());
});

test('re-uploading identical bytes answers 200 and changes nothing', async (t) => {
  const s = await startTestServer(t);
  const wheel = await buildWheel(SPEC);
  t.is((await upload(`${s.url}/internal/`, wheel, 'acme-utils', '1.0.0')).status, 200);
  const before = await fetch(`${s.url}/internal/simple/acme-utils/`);
  const again = await upload(`${s.url}/internal/`, wheel, 'acme_utils', '1.0');
  t.is(again.status, 200);
  const after = await fetch(`${s.url}/internal/simple/acme-utils/`);
  t.is(after.headers.get('etag'), before.headers.get('etag'));
  t.is((await storageCounts(s.storage)).blobs, 1);
});

test('the same filename with different bytes is refused with "File already exists" and the original stays', async (t) => {
  const s = await startTestServer(t);
  const first = await buildWheel(SPEC);
  const second = await buildWheel({ ...SPEC, summary: 'changed' });
  t.is(first.filename, second.filename);
  t.is((await upload(`${s.url}/internal/`, first, 'acme-utils', '1.0.0')).status, 200);
  const res = await upload(`${s.url}/internal/`, second, 'acme-utils', '1.0.0');
  t.is(res.status, 400);
  t.regex(res.statusText, /^File already exists \('acme_utils-1\.0\.0-py3-none-any\.whl'/);
  t.regex(await res.text(), /File already exists/);
  const page = await (await fetch(`${s.url}/internal/simple/acme-utils/`)).text();
  t.true(page.includes(first.sha256));
  t.false(page.includes(second.sha256));
  t.deepEqual(await storageCounts(s.storage), { blobs: 1, tmp: 0 });
});

test('a repository with overwrite: true replaces the file and drops the old blob', async (t) => {
  const s = await startTestServer(t, { repositories: { internal: { type: 'local', overwrite: true, upload: [CI.user] } } });
  const first = await buildWheel(SPEC);
  const second = await buildWheel({ ...SPEC, summary: 'changed' });
  t.is((await upload(`${s.url}/internal/`, first, 'acme-utils', '1.0.0')).status, 200);
  t.is((await upload(`${s.url}/internal/`, second, 'acme-utils', '1.0.0')).status, 200);
  const page = await (await fetch(`${s.url}/internal/simple/acme-utils/`)).text();
  t.true(page.includes(second.sha256));
  t.false(page.includes(first.sha256));
  t.deepEqual(await storageCounts(s.storage), { blobs: 1, tmp: 0 });
});

interface BadCase {
  title: string;
  spec?: Partial<DistSpec>;
  sdist?: boolean;
  fields?: Record<string, string | null>;
  filename?: string;
  /** Bytes to send instead of the built dist's (under its filename), or made from it. */
  bytes?: Buffer | ((dist: BuiltDist) => Promise<Buffer>);
  status: number;
  reason: RegExp;
}

/** The built sdist's own PKG-INFO first, then a symlink out of the tree: only a full read sees it. */
async function sdistWithSymlinkAfterPkgInfo(dist: BuiltDist): Promise<Buffer> {
  const root = dist.filename.replace(/\.tar\.gz$/, '');
  const pack = tar.pack();
  const packed = readAll(pack);
  pack.entry({ name: `${root}/`, type: 'directory' });
  pack.entry({ name: `${root}/PKG-INFO`, type: 'file' }, dist.metadata);
  pack.entry({ name: `${root}/passwd`, type: 'symlink', linkname: '/etc/passwd' });
  pack.finalize();
  return gzipSync(await packed);
}

const BAD: BadCase[] = [
  { title: 'a wrong sha256', fields: { sha256_digest: '0'.repeat(64) }, status: 400, reason: /digest supplied does not match/ },
  { title: 'a wrong blake2_256', fields: { blake2_256_digest: 'f'.repeat(64) }, status: 400, reason: /digest supplied does not match/ },
  { title: 'a wrong md5', fields: { md5_digest: '0'.repeat(32) }, status: 400, reason: /digest supplied does not match/ },
  { title: 'no digest at all', fields: { sha256_digest: null, blake2_256_digest: null }, status: 400, reason: /at least one message digest/ },
  { title: "a form name that is not the file's project", fields: { name: 'other-project' }, status: 400, reason: /Start filename for project 'other-project'/ },
  { title: "a form version that is not the file's", fields: { version: '2.0' }, status: 400, reason: /Version in filename should be '2\.0'/ },
  { title: 'an invalid project name', fields: { name: '-bad-' }, status: 400, reason: /invalid value for Name/ },
  { title: 'METADATA naming another project', spec: { metadataName: 'evil' }, status: 400, reason: /names the project 'evil'/ },
  { title: 'METADATA with another version', spec: { metadataVersionField: '9.9' }, status: 400, reason: /has version '9\.9'/ },
  { title: 'PKG-INFO naming another project', sdist: true, spec: { metadataName: 'evil' }, status: 400, reason: /PKG-INFO .* names the project 'evil'/ },
  { title: 'a wheel without METADATA', spec: { omitMetadata: true }, status: 400, reason: /does not contain the required METADATA file/ },
  { title: 'a .whl that is not a zip', bytes: Buffer.from('not a zip at all'), status: 400, reason: /Invalid distribution file/ },
  { title: 'an sdist with a symlink to /etc/passwd after PKG-INFO', sdist: true, bytes: sdistWithSymlinkAfterPkgInfo, status: 400,
    reason: /Invalid distribution file\. sdist 'acme_utils-1\.0\.0\.tar\.gz' has a link 'acme_utils-1\.0\.0\/passwd' pointing outside its top-level directory: '\/etc\/passwd'\./ },
  { title: 'an .egg', filename: 'acme_utils-1.0.0-py3.11.egg', status: 400, reason: /Invalid file extension/ },
  { title: 'a path in the filename', filename: '../acme_utils-1.0.0-py3-none-any.whl', status: 400, reason: /'\/' or '\\' in the name/ },
  { title: 'a control character in the filename', filename: 'acme_utils-1.0.0-py3-none-any\u0001.whl', status: 400, reason: /non-printable characters|control characters in a file or field name/ },
  { title: 'filetype sdist for a wheel', fields: { filetype: 'sdist' }, status: 400, reason: /filetype 'sdist'/ },
  { title: 'an unknown :action', fields: { ':action': 'remove_pkg' }, status: 400, reason: /Unknown :action/ },
  { title: 'project pre-registration', fields: { ':action': 'submit' }, status: 410, reason: /pre-registration is no longer/ },
  { title: 'an unknown protocol version', fields: { protocol_version: '2' }, status: 400, reason: /Unknown protocol version/ },
];

for (const c of BAD) {
  test(`refuses ${c.title}, says why, and stores nothing`, async (t) => {
    const s = await startTestServer(t);
    const spec = { ...SPEC, ...c.spec };
    const dist = c.sdist ? await buildSdist(spec) : await buildWheel(spec);
    const bytes = typeof c.bytes === 'function' ? await c.bytes(dist) : c.bytes;
    const sent = bytes ? { ...dist, bytes, sha256: (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex'), blake2b256: '' } : dist;
    const fields = c.bytes ? { blake2_256_digest: null, ...c.fields } : c.fields;
    const res = await upload(`${s.url}/internal/`, sent, 'acme-utils', '1.0.0', { fields, filename: c.filename });
    const body = await res.text();
    t.is(res.status, c.status, body);
    t.regex(res.statusText, c.reason);
    t.regex(body, c.reason);
    t.deepEqual(await storageCounts(s.storage), { blobs: 0, tmp: 0 });
    t.is((await fetch(`${s.url}/internal/simple/acme-utils/`)).status, 404);
  });
}

test('a request without a file part is refused', async (t) => {
  const s = await startTestServer(t);
  const form = new FormData();
  form.append(':action', 'file_upload');
  form.append('name', 'acme-utils');
  const res = await fetch(`${s.url}/internal/`, { method: 'POST', body: form, headers: { Authorization: CI.basic } });
  t.is(res.status, 400);
  t.regex(res.statusText, /does not have a file/);
});

test('a file over maxFileSize is refused with 413 and leaves nothing behind', async (t) => {
  const s = await startTestServer(t, { repositories: { internal: { type: 'local', maxFileSize: '4KiB', upload: [CI.user] } } });
  const wheel = await buildWheel({ ...SPEC, padBytes: 64 * 1024 });
  const res = await upload(`${s.url}/internal/`, wheel, 'acme-utils', '1.0.0');
  t.is(res.status, 413);
  t.regex(res.statusText, /File too large\. Limit for this repository is 4 KiB/);
  t.deepEqual(await storageCounts(s.storage), { blobs: 0, tmp: 0 });
});

test('a big upload is hashed beside its disk write: all three digests checked, a wrong one refused with nothing left', async (t) => {
  const s = await startTestServer(t);
  // Several of the digest workers' 1 MiB batches, and not a whole number of them.
  const big = await buildWheel({ ...SPEC, padBytes: 5 * 1024 * 1024 + 4321 });
  for (const fields of [{ sha256_digest: '0'.repeat(64) }, { md5_digest: '0'.repeat(32) }, { blake2_256_digest: 'f'.repeat(64) }] as Record<string, string>[]) {
    const res = await upload(`${s.url}/internal/`, big, 'acme-utils', '1.0.0', { fields: { md5_digest: big.md5, ...fields } });
    t.is(res.status, 400, JSON.stringify(fields));
    t.regex(await res.text(), /digest supplied does not match/);
    t.deepEqual(await storageCounts(s.storage), { blobs: 0, tmp: 0 });
  }
  const res = await upload(`${s.url}/internal/`, big, 'acme-utils', '1.0.0', { fields: { md5_digest: big.md5 } });
  t.is(res.status, 200, await res.text());
  const page = (await (await fetch(`${s.url}/internal/simple/acme-utils/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).json()) as { files: { url: string; hashes: { sha256: string } }[] };
  t.is(page.files[0]!.hashes.sha256, big.sha256);
  const file = Buffer.from(await (await fetch(new URL(page.files[0]!.url, `${s.url}/internal/simple/acme-utils/`))).arrayBuffer());
  t.true(file.equals(big.bytes));
  t.deepEqual(await storageCounts(s.storage), { blobs: 1, tmp: 0 });
});

test('an upload killed halfway leaves nothing visible, and tmp/ leftovers are removed at the next start', async (t) => {
  const s = await startTestServer(t);
  const boundary = 'xxBOUNDARYxx';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="acme_utils-1.0.0-py3-none-any.whl"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  await new Promise<void>((resolve) => {
    const req = request(`${s.url}/internal/`, {
      method: 'POST',
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(head.length + 1_000_000), Authorization: CI.basic },
    });
    req.on('error', () => resolve());
    req.write(head);
    req.write(Buffer.alloc(200_000, 1), () => {
      // The server has seen part of the file: now the client dies.
      eventually(async () => (await storageCounts(s.storage)).tmp === 1, 'the partial file in tmp/').then(() => req.destroy(), () => req.destroy());
    });
  });
  await eventually(async () => (await storageCounts(s.storage)).tmp === 0, 'tmp/ to be cleaned after the abort');
  t.deepEqual(await storageCounts(s.storage), { blobs: 0, tmp: 0 });
  t.is((await fetch(`${s.url}/internal/simple/acme-utils/`)).status, 404);

  // A crash mid-upload leaves a file in tmp/; the next start removes it.
  await s.stop();
  await writeFile(join(s.storage, 'tmp', 'crashed.part'), 'half a wheel');
  const again = await startTestServer(t, undefined, s.storage);
  t.deepEqual(await storageCounts(again.storage), { blobs: 0, tmp: 0 });
});

test('an upload that stalls is dropped after limits.bodyIdleTimeout, and its temp file removed at once', async (t) => {
  const s = await startTestServer(t, { repositories: { internal: { type: 'local', upload: [CI.user] } }, limits: { bodyIdleTimeout: 0.5 } });
  const boundary = 'xxBOUNDARYxx';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="acme_utils-1.0.0-py3-none-any.whl"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const closed = new Promise<void>((resolve) => {
    const req = request(`${s.url}/internal/`, {
      method: 'POST',
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(head.length + 1_000_000), Authorization: CI.basic },
    });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.write(head);
    // Part of the file, then nothing: the client stalls without closing.
    req.write(Buffer.alloc(100_000, 1));
  });
  await closed;
  t.deepEqual(await storageCounts(s.storage), { blobs: 0, tmp: 0 }, 'the temp file went with the connection');
  t.is((await fetch(`${s.url}/-/health`)).status, 200);
});

test('a form field sent twice with different values is refused, not first-wins', async (t) => {
  const s = await startTestServer(t);
  const wheel = await buildWheel(SPEC);
  const form = new FormData();
  form.append(':action', 'file_upload');
  form.append('name', 'acme-utils');
  form.append('name', 'other-project');
  form.append('version', '1.0.0');
  form.append('sha256_digest', wheel.sha256);
  form.append('content', new Blob([wheel.bytes]), wheel.filename);
  const res = await fetch(`${s.url}/internal/`, { method: 'POST', body: form, headers: { Authorization: CI.basic } });
  t.is(res.status, 400);
  t.regex(res.statusText, /Form field 'name' was sent 2 times with different values/);
  t.deepEqual(await storageCounts(s.storage), { blobs: 0, tmp: 0 });
});

/** Sends a `bytes`-long multipart body without credentials; resolves with the status (0: no answer) and the bytes the server took. */
function refusedUpload(url: string, bytes: number): Promise<{ status: number; connection: string | undefined; sent: number }> {
  return new Promise((resolve) => {
    let sent = 0;
    let answer: { status: number; connection: string | undefined } = { status: 0, connection: undefined };
    const req = request(url, { method: 'POST', headers: { 'Content-Type': 'multipart/form-data; boundary=b', 'Content-Length': String(bytes) } });
    req.on('response', (res) => {
      answer = { status: res.statusCode ?? 0, connection: res.headers.connection };
      res.resume();
    });
    req.on('close', () => resolve({ ...answer, sent }));
    req.on('error', () => undefined);
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const pump = (): void => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

test('a refused upload answers with Connection: close, and a huge one is not read to its end', async (t) => {
  const s = await startTestServer(t);
  const small = await refusedUpload(`${s.url}/internal/`, 2 * 1024 * 1024);
  t.is(small.status, 401);
  t.is(small.connection, 'close');
  const huge = await refusedUpload(`${s.url}/internal/`, 512 * 1024 * 1024);
  t.true(huge.sent < 256 * 1024 * 1024, `the server took ${huge.sent} of 512 MiB before cutting the connection`);
  t.is((await fetch(`${s.url}/-/health`)).status, 200);
});

test('remote and virtual repositories refuse uploads with a reason', async (t) => {
  const s = await startTestServer(t, {
    repositories: { internal: { type: 'local' }, pypi: { type: 'remote' } },
  });
  const res = await upload(`${s.url}/pypi/`, await buildWheel(SPEC), 'acme-utils', '1.0.0');
  t.true(res.status === 405 || res.status === 501);
  t.regex(res.statusText, /pypi/);
});
