/**
 * Fuzzing the HTTP front (a real server per property, on loopback): upload
 * forms with arbitrary fields, parts and framing POSTed with valid upload
 * credentials, and arbitrary names and paths under /internal/simple/ and
 * /simple/. Never a 5xx; a refused upload leaves storage as it was (no new
 * blob, no temp file once answered); an accepted one is served byte for byte
 * at its index URL.
 *
 * Bodies are written by hand and sent with node:http, so that quotes, CR/LF
 * and control characters reach the server as sent (fetch's FormData would
 * escape them).
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { CI, LOCAL_ONLY, startTestServer, type TestServer } from '../helpers/server.ts';
import { storageCounts } from '../helpers/storage.ts';
import { twineFields } from '../helpers/upload.ts';
import { mutate, mutations } from './_archives.ts';
import { anyText, check, nameish, versionish } from './_fuzz.ts';

const HTTP = { numRuns: 80, timeLimitMs: 9000, runTimeoutMs: 8000 };

interface Answer { status: number; reason: string; body: Buffer }

/** One request on its own connection; the answer as soon as it is complete (a refusal may close the socket while we still write). */
function send(base: string, method: string, path: string, headers: Record<string, string | number>, body?: Buffer, chunked = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new Error(`${method} ${path}: no answer (${err.message})`)));
    if (body === undefined) req.end();
    else if (chunked) {
      // A few uneven chunks, as a streaming client would send.
      for (let i = 0; i < body.length; i += 777) req.write(body.subarray(i, i + 777));
      req.end();
    } else req.end(body);
  });
}

// ---------------------------------------------------------------------------
// Multipart, by hand

interface Part {
  name: string;
  filename?: string;
  contentType?: string;
  body: Buffer;
}

interface Framing {
  boundary: string;
  lineEnd: string;
  preamble: string;
  epilogue: string;
  closing: boolean;
}

function encodeMultipart(parts: Part[], f: Framing): Buffer {
  const out: Buffer[] = [Buffer.from(f.preamble, 'latin1')];
  for (const p of parts) {
    let head = `--${f.boundary}${f.lineEnd}Content-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += f.lineEnd;
    if (p.contentType !== undefined) head += `Content-Type: ${p.contentType}${f.lineEnd}`;
    out.push(Buffer.from(head + f.lineEnd, 'utf8'), p.body, Buffer.from(f.lineEnd, 'latin1'));
  }
  if (f.closing) out.push(Buffer.from(`--${f.boundary}--${f.lineEnd}${f.epilogue}`, 'latin1'));
  return Buffer.concat(out);
}

const TWINE_FRAMING: Framing = { boundary: 'fuzzboundary7MA4YWxkTrZu0gW', lineEnd: '\r\n', preamble: '', epilogue: '', closing: true };

const framing: fc.Arbitrary<Framing> = fc.record({
  boundary: fc.oneof(
    { weight: 4, arbitrary: fc.constant(TWINE_FRAMING.boundary) },
    { weight: 1, arbitrary: fc.constantFrom('a', 'x'.repeat(70), 'x'.repeat(200), 'with space', 'quote"d', '--', '\u00e9t\u00e9') },
  ),
  lineEnd: fc.constantFrom('\r\n', '\r\n', '\r\n', '\n', '\r'),
  preamble: fc.constantFrom('', '', 'preamble\r\n', '\r\n'),
  epilogue: fc.constantFrom('', '', 'epilogue'),
  closing: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

function contentTypeFor(boundary: string, variant: number): string {
  switch (variant % 8) {
    case 0: return `multipart/form-data; boundary="${boundary}"`;
    case 1: return 'multipart/form-data';
    case 2: return `multipart/form-data; boundary=${boundary}; boundary=other`;
    case 3: return `text/plain; boundary=${boundary}`;
    case 4: return `MULTIPART/FORM-DATA; BOUNDARY=${boundary}`;
    default: return `multipart/form-data; boundary=${boundary}`;
  }
}

// ---------------------------------------------------------------------------
// Uploads

const SPECS = [
  { name: 'fuzz-pkg', version: '1.0' },
  { name: 'fuzz-pkg', version: '1.1', requiresPython: '>=3.8' },
  { name: 'Fuzz.Other', version: '2.0rc1' },
];

interface Pool { dists: BuiltDist[]; /** Same filenames as dists[0..1], other bytes: "File already exists". */ twins: BuiltDist[] }

async function buildPool(): Promise<Pool> {
  const dists: BuiltDist[] = [];
  for (const spec of SPECS) dists.push(await buildWheel(spec), await buildSdist(spec));
  const twins = [await buildWheel({ ...SPECS[0]!, summary: 'changed' }), await buildSdist({ ...SPECS[0]!, summary: 'changed' })];
  return { dists, twins };
}

const FORM_FIELDS = [':action', 'protocol_version', 'metadata_version', 'name', 'version', 'filetype', 'pyversion',
  'sha256_digest', 'blake2_256_digest', 'md5_digest', 'requires_python', 'summary', 'description', 'attestations'];

type FieldEdit =
  | { kind: 'keep' } | { kind: 'drop' } | { kind: 'twice' } | { kind: 'twiceOther'; value: string } | { kind: 'replace'; value: string }
  | { kind: 'pad' } | { kind: 'upper' };

const fieldValue = fc.oneof(
  nameish, versionish, anyText(40),
  fc.constantFrom('', 'UNKNOWN', ' ', 'file_upload', 'submit', 'doc_upload', 'bdist_wheel', 'sdist', '1', '2', '0'.repeat(64), 'f'.repeat(32)),
  // Large values within the 16 MiB field limit.
  fc.integer({ min: 10_000, max: 1_500_000 }).map((n) => 'd'.repeat(n)),
);
const fieldEdit: fc.Arbitrary<FieldEdit> = fc.oneof(
  { weight: 40, arbitrary: fc.constant({ kind: 'keep' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'drop' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'twice' as const }) },
  { weight: 1, arbitrary: fieldValue.map((value) => ({ kind: 'twiceOther' as const, value })) },
  { weight: 2, arbitrary: fieldValue.map((value) => ({ kind: 'replace' as const, value })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'pad' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'upper' as const }) },
);

const oddFilename = fc.oneof(
  anyText(30),
  fc.constantFrom('../x-1.0.tar.gz', 'a/b-1.0.tar.gz', 'C:\\x-1.0.tar.gz', '.hidden-1.0.tar.gz', 'x-1.0.tar.gz\u0000.whl', 'x-1.0.tar.gz\r\nX: y',
    'fuzz_pkg-1.0-py3-none-any.WHL', 'FUZZ_PKG-1.0-py3-none-any.whl', 'fuzz-pkg-1.0.tar.gz', 'fuzz_pkg-1.00.tar.gz', 'fuzz_pkg-1.0.zip',
    'fuzz_pkg-1.0-py3-none-any.whl.metadata', `${'a'.repeat(300)}-1.0.tar.gz`, ''),
);

const uploadCase = fc.record({
  dist: fc.nat(),
  twin: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  edits: fc.array(fieldEdit, { minLength: FORM_FIELDS.length, maxLength: FORM_FIELDS.length }),
  filename: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: oddFilename }),
  content: fc.oneof(
    { weight: 12, arbitrary: fc.constant({ kind: 'same' as const }) },
    { weight: 2, arbitrary: mutations.map((ms) => ({ kind: 'mutated' as const, ms })) },
    { weight: 1, arbitrary: fc.nat().map((other) => ({ kind: 'other' as const, other })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
  ),
  contentPart: fc.oneof({ weight: 12, arbitrary: fc.constant('file') }, { weight: 1, arbitrary: fc.constantFrom('none', 'twice', 'as-field', 'no-filename') }),
  fieldsAfterFile: fc.boolean(),
  extra: fc.array(fc.tuple(fc.oneof(anyText(12), fc.constantFrom('gpg_signature', 'comment', 'content ', 'Content')), anyText(20), fc.boolean()), { maxLength: 3 }),
  contentType: fc.constantFrom(undefined, 'application/octet-stream', 'text/plain; charset=utf-8', '\u00e9'),
  chunked: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

type UploadCase = typeof uploadCase extends fc.Arbitrary<infer T> ? T : never;

function buildUpload(pool: Pool, c: UploadCase): { parts: Part[]; content: Buffer | null; filename: string } {
  const all = [...pool.dists, ...pool.twins];
  const dist = c.twin ? pool.twins[c.dist % pool.twins.length]! : pool.dists[c.dist % pool.dists.length]!;
  const spec = SPECS[Math.floor(pool.dists.indexOf(dist) / 2)] ?? SPECS[0]!;
  const base = twineFields(dist, spec.name, spec.version);
  const fieldParts: Part[] = [];
  FORM_FIELDS.forEach((key, i) => {
    const original = (base as Record<string, string>)[key];
    const edit = c.edits[i] ?? { kind: 'keep' };
    const add = (value: string) => fieldParts.push({ name: key, body: Buffer.from(value, 'utf8') });
    switch (edit.kind) {
      case 'keep': if (original !== undefined) add(original); break;
      case 'drop': break;
      case 'twice': if (original !== undefined) { add(original); add(original); } break;
      case 'twiceOther': add(original ?? ''); add(edit.value); break;
      case 'replace': add(edit.value); break;
      case 'pad': add(` ${original ?? ''}\t`); break;
      case 'upper': add((original ?? '').toUpperCase()); break;
    }
  });
  for (const [name, value, asFile] of c.extra) {
    fieldParts.push({ name, body: Buffer.from(value, 'utf8'), ...(asFile ? { filename: `${name}.asc` } : {}) });
  }
  let content: Buffer | null;
  switch (c.content.kind) {
    case 'same': content = dist.bytes; break;
    case 'mutated': content = mutate(dist.bytes, c.content.ms); break;
    case 'other': content = all[c.content.other % all.length]!.bytes; break;
    case 'empty': content = Buffer.alloc(0); break;
  }
  const filename = c.filename ?? dist.filename;
  const file: Part = { name: 'content', filename, body: content, ...(c.contentType === undefined ? {} : { contentType: c.contentType }) };
  let fileParts: Part[];
  switch (c.contentPart) {
    case 'none': fileParts = []; content = null; break;
    case 'twice': fileParts = [file, file]; break;
    case 'as-field': fileParts = [{ name: 'content', body: content }]; content = null; break;
    case 'no-filename': fileParts = [{ ...file, filename: '' }]; break;
    default: fileParts = [file];
  }
  return { parts: c.fieldsAfterFile ? [...fileParts, ...fieldParts] : [...fieldParts, ...fileParts], content, filename };
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Model {
  /** sha256 of every blob accepted so far (blobs are content-addressed and never deleted here). */
  blobs: Set<string>;
}

/** After an answer: a refusal stored nothing, an acceptance stored exactly the file, served at its index URL. */
async function checkStorage(s: TestServer, model: Model, answer: Answer, upload: { content: Buffer | null; filename: string | null } | null): Promise<void> {
  const what = `${answer.status} ${answer.reason}`;
  if (answer.status >= 500) throw new Error(`server error: ${what}\n${serverErrors(s)}`);
  if (answer.status === 200) {
    if (upload === null || upload.content === null) throw new Error(`200 for an upload that should not be accepted: ${what}`);
    model.blobs.add(sha256(upload.content));
    await checkServed(s, upload.content, upload.filename);
  }
  const counts = await storageCounts(s.storage);
  if (counts.tmp !== 0) throw new Error(`${counts.tmp} temp file(s) left after ${what}`);
  if (counts.blobs !== model.blobs.size) throw new Error(`${counts.blobs} blobs after ${what}, expected ${model.blobs.size}`);
}

function serverErrors(s: TestServer): string {
  return s.logs.filter((l) => Number(l.level) >= 50).map((l) => JSON.stringify(l)).join('\n');
}

/**
 * The file is on its project's page (JSON) with its sha256 (under `filename`
 * when we know what the server parsed), and the URL there serves its bytes.
 */
async function checkServed(s: TestServer, content: Buffer, filename: string | null): Promise<void> {
  const digest = sha256(content);
  const found: string[] = [];
  // Every project the pool's files can belong to.
  for (const project of new Set(SPECS.map((spec) => spec.name.replace(/[-_.]+/g, '-').toLowerCase()))) {
    const pageUrl = `${s.url}/internal/simple/${project}/`;
    const res = await fetch(pageUrl, { headers: { Accept: 'application/vnd.pypi.simple.v1+json', Authorization: CI.basic } });
    if (res.status === 404) continue;
    if (res.status !== 200) throw new Error(`${pageUrl} answers ${res.status}`);
    const page = await res.json() as { files: { filename: string; url: string; hashes: { sha256?: string } }[] };
    for (const entry of page.files.filter((f) => f.hashes.sha256 === digest && (filename === null || f.filename === filename))) {
      const file = await fetch(new URL(entry.url, pageUrl), { headers: { Authorization: CI.basic } });
      const got = Buffer.from(await file.arrayBuffer());
      if (file.status !== 200 || !got.equals(content)) throw new Error(`accepted ${entry.filename}, but ${entry.url} answers ${file.status} with ${got.length} bytes`);
      found.push(entry.filename);
    }
  }
  if (found.length === 0) throw new Error(`accepted ${filename ?? 'a file'} (sha256 ${digest}) is on no project page`);
}

async function server(t: ExecutionContext): Promise<{ s: TestServer; model: Model }> {
  const s = await startTestServer(t, LOCAL_ONLY);
  return { s, model: { blobs: new Set() } };
}

let pool: Promise<Pool> | undefined;
const getPool = (): Promise<Pool> => (pool ??= buildPool());

test('structured upload forms (missing, repeated, padded, huge or wrong fields; odd filenames; mutated files): never 5xx, nothing stored on refusal', async (t) => {
  const { s, model } = await server(t);
  const p = await getPool();
  let accepted = 0;
  await check(t, fc.asyncProperty(uploadCase, async (c) => {
    const upload = buildUpload(p, c);
    const body = encodeMultipart(upload.parts, TWINE_FRAMING);
    const headers: Record<string, string | number> = { 'Content-Type': contentTypeFor(TWINE_FRAMING.boundary, 5), Authorization: CI.basic };
    if (!c.chunked) headers['Content-Length'] = body.length;
    const answer = await send(s.url, 'POST', '/internal/', headers, body, c.chunked);
    if (answer.status === 200) accepted++;
    await checkStorage(s, model, answer, upload);
  }), HTTP);
  // A positive control: the generator must reach acceptance too, or the storage checks prove little.
  t.log(`${accepted} uploads accepted`);
  t.true(accepted > 0, 'no upload was ever accepted');
});

// FOUND BY THIS PROPERTY (default seed): a body that ends without its closing
// boundary while a file part is open made busboy destroy that part's stream
// with "Unexpected end of form"; nothing listened on it, so the error was
// uncaught and the server process exited. Fixed in src/http/multipart.ts; kept
// as explicit examples (the file part last: `content`, or a `gpg_signature` file).
const PLAIN_UPLOAD: UploadCase = {
  dist: 0, twin: false, edits: FORM_FIELDS.map(() => ({ kind: 'keep' as const })), filename: null, content: { kind: 'same' },
  contentPart: 'file', fieldsAfterFile: false, extra: [], contentType: undefined, chunked: false,
};
const UNCLOSED: Framing = { ...TWINE_FRAMING, closing: false };
const TRUNCATED_IN_CONTENT = { upload: PLAIN_UPLOAD, framing: UNCLOSED, typeVariant: 5, bodyMutations: undefined, nameInjection: undefined };
const TRUNCATED_IN_SIGNATURE = {
  ...TRUNCATED_IN_CONTENT,
  upload: { ...PLAIN_UPLOAD, fieldsAfterFile: true, extra: [['gpg_signature', '-----BEGIN PGP SIGNATURE-----', true] as [string, string, boolean]] },
};

test('malformed multipart (framing, boundaries, part headers, content types, truncation, stray bytes): never 5xx, nothing stored on refusal', async (t) => {
  const { s, model } = await server(t);
  const p = await getPool();
  const malformed = fc.record({
    upload: uploadCase,
    framing,
    typeVariant: fc.nat(),
    // Bytes of the whole body: flipped, cut, inserted (CR/LF and quotes included by chance).
    bodyMutations: fc.option(mutations, { nil: undefined, freq: 2 }),
    nameInjection: fc.option(fc.tuple(fc.nat(), fc.constantFrom('"', '\r\n', '\u0000', '"; filename="x.whl', '\r\nContent-Type: text/plain', '\u00e9\u{1F40D}', ';')),
      { nil: undefined, freq: 3 }),
  });
  await check(t, fc.asyncProperty(malformed, async (m) => {
    const upload = buildUpload(p, m.upload);
    if (m.nameInjection !== undefined && upload.parts.length > 0) {
      const [i, junk] = m.nameInjection;
      const part = upload.parts[i % upload.parts.length]!;
      part.name += junk;
    }
    let body = encodeMultipart(upload.parts, m.framing);
    if (m.bodyMutations !== undefined) body = mutate(body, m.bodyMutations);
    const headers: Record<string, string | number> = { 'Content-Type': contentTypeFor(m.framing.boundary, m.typeVariant), Authorization: CI.basic };
    if (!m.upload.chunked) headers['Content-Length'] = body.length;
    const answer = await send(s.url, 'POST', '/internal/', headers, body, m.upload.chunked);
    // What the server saw as the file is not ours to model once framing is broken: on a 200 the stored file must still be served.
    await checkStorage(s, model, answer, answer.status === 200 ? await acceptedUpload(s, model, upload) : null);
  }), HTTP, [[TRUNCATED_IN_CONTENT], [TRUNCATED_IN_SIGNATURE]]);
});

/** For a 200 on a malformed body: which of the bytes we sent was stored (the file part, or one of the candidates). */
async function acceptedUpload(s: TestServer, model: Model, upload: { content: Buffer | null; filename: string }): Promise<{ content: Buffer; filename: null }> {
  // The filename as the server parsed it may differ from ours (a mutated part header can still name a valid file).
  if (upload.content !== null) return { content: upload.content, filename: null };
  throw new Error(`200 for a form without a file part (${serverErrors(s) || 'no server error logged'}; ${model.blobs.size} blobs before)`);
}

// ---------------------------------------------------------------------------
// Reads

/** encodeURIComponent, with lone surrogates (which it refuses) sent as their WTF-8 bytes. */
const encodeAny = (s: string): string => [...s].map((c) => (/^[\uD800-\uDFFF]$/.test(c)
  ? [...Buffer.from([0xe0 | (c.charCodeAt(0) >> 12), 0x80 | ((c.charCodeAt(0) >> 6) & 0x3f), 0x80 | (c.charCodeAt(0) & 0x3f)])].map((b) => `%${b.toString(16).toUpperCase()}`).join('')
  : encodeURIComponent(c))).join('');

const pathSegment = fc.oneof(
  nameish.map(encodeAny),
  anyText(20).map(encodeAny),
  fc.constantFrom('%zz', '%', '%00', '%c0%af', '%ff', '%2e%2e', '..', '.', '', '%2F', '~', ';x=1', 'a%20b', 'fuzz-pkg', 'Fuzz_Pkg', 'FUZZ.PKG',
    'fuzz-pkg.json', 'x'.repeat(201), '%E2%80%AE', '__proto__', 'constructor', '-', 'simple', 'files', 'internal'),
  fc.stringMatching(/^[!$&'()*+,;=:@A-Za-z0-9._~-]{0,20}$/),
);
const readPath = fc.oneof(
  fc.tuple(fc.constantFrom('/internal/simple/', '/simple/', '/all/simple/', '/'), pathSegment, fc.constantFrom('', '/', '//', '/x'))
    .map(([prefix, seg, tail]) => prefix + seg + tail),
  fc.tuple(fc.constantFrom('/internal/files/', '/files/'), fc.oneof(fc.constantFrom('0'.repeat(64), 'A'.repeat(64), 'z', ''), pathSegment), pathSegment)
    .map(([prefix, sha, name]) => `${prefix}${sha}/${name}`),
  fc.tuple(fc.constantFrom('/internal/pypi/', '/all/pypi/'), pathSegment, fc.constantFrom('/json', '/1.0/json', `/${'9'.repeat(30)}/json`, '/%zz/json'))
    .map(([prefix, seg, tail]) => prefix + seg + tail),
  fc.array(pathSegment, { maxLength: 4 }).map((segs) => `/${segs.join('/')}`),
);
const formatValue = fc.oneof(
  fc.constantFrom('application/vnd.pypi.simple.v1+json', 'application/vnd.pypi.simple.latest+html', 'text/html', '', '%zz', 'TEXT/HTML%20', 'json'),
  pathSegment,
);
const query = fc.oneof(
  fc.constant(''),
  fc.constantFrom('?=', '?%', '?format', '?format[]=x', '?format[a]=x', '?__proto__=x', '?format=a;format=b'),
  // One `format`, or several (Koa then hands the route an array).
  fc.array(formatValue, { minLength: 1, maxLength: 3 }).map((vs) => `?${vs.map((v) => `format=${v}`).join('&')}`),
);
const headerText = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)).filter((c) => c !== '\x7f'), maxLength: 60 });
const accept = fc.oneof(
  fc.constantFrom(undefined, '*/*', 'application/vnd.pypi.simple.v1+json', 'application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01',
    'application/vnd.pypi.simple.v2+json', 'text/html;q=abc', 'application/json;q=1.5', ',,,', ';q=0', 'text/*;q=0, */*;q=0'),
  headerText,
);

test('arbitrary paths, project names, queries and Accept headers under /simple/, /<repo>/simple/ and /files/: never 5xx', async (t) => {
  const s = await startTestServer(t, {
    repositories: { internal: { type: 'local', upload: [CI.user] }, all: { type: 'virtual', members: ['internal'], internal: ['fuzz-*'] } },
    defaultRepository: 'all',
  });
  const dist = (await getPool()).dists[0]!;
  const seeded = await send(s.url, 'POST', '/internal/', { 'Content-Type': contentTypeFor(TWINE_FRAMING.boundary, 5), Authorization: CI.basic },
    encodeMultipart([...Object.entries(twineFields(dist, 'fuzz-pkg', '1.0')).map(([name, v]) => ({ name, body: Buffer.from(v) })),
      { name: 'content', filename: dist.filename, body: dist.bytes }], TWINE_FRAMING));
  t.is(seeded.status, 200, seeded.reason);
  await check(t, fc.asyncProperty(readPath, query, accept, fc.constantFrom('GET', 'HEAD'), fc.boolean(), async (path, q, acc, method, auth) => {
    const headers: Record<string, string> = {};
    if (acc !== undefined) headers.Accept = acc;
    if (auth) headers.Authorization = CI.basic;
    const answer = await send(s.url, method, path + q, headers);
    if (answer.status >= 500) throw new Error(`${method} ${path}${q}: ${answer.status} ${answer.reason}\n${serverErrors(s)}`);
  }), { numRuns: 200, timeLimitMs: 6000, runTimeoutMs: 5000 }, [
    // FOUND BY THIS PROPERTY (FUZZ_SEED=11): a repeated `format` reached negotiateFormat
    // as an array and `.trim()` threw: 500 on every simple page. Fixed in src/http/negotiate.ts.
    ['/', '?format=a&format=b', undefined, 'GET', false],
    ['/internal/simple/fuzz-pkg/', '?format=application/vnd.pypi.simple.v1+json&format=text/html', undefined, 'GET', true],
  ]);
});
