/**
 * Tiny but real Python distributions, built in memory for tests.
 *
 * The wheels and sdists are accepted by pip (23.x) and `twine check`, so the
 * same fixtures serve unit tests, HTTP tests and end-to-end installs. Output is
 * byte-for-byte deterministic for a given spec: re-upload tests compare hashes.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer as readAll } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import tar from 'tar-stream';
import yazl from 'yazl';
import { blake2b } from 'hash-wasm';

export interface DistSpec {
  /** Project name as the user writes it, e.g. 'Acme.Utils'. */
  name: string;
  version: string;
  /** e.g. ['acme-core>=1.0'] */
  requiresDist?: string[];
  /** e.g. '>=3.8' */
  requiresPython?: string;
  /** Extras the metadata declares (`Provides-Extra:` lines); pip 23 ignores an extra not listed, with a warning. */
  providesExtra?: string[];
  summary?: string;
  /** Default '2.1'. */
  metadataVersion?: string;
  /** Overrides `Name:` inside METADATA/PKG-INFO (for mismatch tests). */
  metadataName?: string;
  /** Overrides `Version:` inside METADATA/PKG-INFO (for mismatch tests). */
  metadataVersionField?: string;
  /** Wheel tags; default py3-none-any, no build tag. */
  pythonTag?: string;
  abiTag?: string;
  platformTag?: string;
  buildTag?: string;
  /** Build a wheel without METADATA (bad-upload tests). */
  omitMetadata?: boolean;
  /** Adds a data file of this many pseudo-random (seeded, hence reproducible) bytes. */
  padBytes?: number;
}

export interface BuiltDist {
  filename: string;
  bytes: Buffer;
  /** The exact METADATA (wheel) or PKG-INFO (sdist) bytes: what PEP 658 serves. */
  metadata: Buffer;
  /** Hex digests of `bytes`. */
  sha256: string;
  md5: string;
  blake2b256: string;
}

// Local-time constructor on purpose: zip stores DOS local time, so this gives
// the same bytes whatever the machine's TZ (tar stores UTC seconds, hence its own).
const ZIP_MTIME = new Date(2020, 0, 1, 0, 0, 0);
const TAR_MTIME = new Date(Date.UTC(2020, 0, 1, 0, 0, 0));
const gzipAsync = promisify(gzip);

/** Runs of `-_.` → `_`, lowercased: the wheel/sdist filename form of a name. */
function escapedName(name: string): string {
  return name.replace(/[-_.]+/g, '_').toLowerCase();
}

function escapedVersion(version: string): string {
  return version.replace(/-/g, '_');
}

export function wheelFilename(spec: DistSpec): string {
  const build = spec.buildTag === undefined ? '' : `-${spec.buildTag}`;
  return `${escapedName(spec.name)}-${escapedVersion(spec.version)}${build}-${tags(spec).join('-')}.whl`;
}

/** PEP 625: `{normalized_name with _}-{version}.tar.gz`. */
export function sdistFilename(spec: DistSpec): string {
  return `${escapedName(spec.name)}-${escapedVersion(spec.version)}.tar.gz`;
}

function tags(spec: DistSpec): [string, string, string] {
  return [spec.pythonTag ?? 'py3', spec.abiTag ?? 'none', spec.platformTag ?? 'any'];
}

function coreMetadata(spec: DistSpec): Buffer {
  const metadataVersion = spec.metadataVersion ?? '2.1';
  const lines = [
    `Metadata-Version: ${metadataVersion}`,
    `Name: ${spec.metadataName ?? spec.name}`,
    `Version: ${spec.metadataVersionField ?? spec.version}`,
    `Summary: ${spec.summary ?? `Test package ${spec.name}`}`,
  ];
  if (spec.requiresPython !== undefined) lines.push(`Requires-Python: ${spec.requiresPython}`);
  for (const extra of spec.providesExtra ?? []) lines.push(`Provides-Extra: ${extra}`);
  for (const requirement of spec.requiresDist ?? []) lines.push(`Requires-Dist: ${requirement}`);
  // Without a content type twine check warns and renders the body as reST.
  if (Number.parseFloat(metadataVersion) >= 2.1) lines.push('Description-Content-Type: text/markdown');
  const body = `# ${spec.name}\n\nA tiny package built by pydepot's tests.\n`;
  return Buffer.from(`${lines.join('\n')}\n\n${body}`, 'utf8');
}

function moduleName(spec: DistSpec): string {
  return escapedName(spec.name);
}

function initPy(spec: DistSpec): Buffer {
  return Buffer.from(`__version__ = ${JSON.stringify(spec.version)}\n`, 'utf8');
}

/** AES-CTR keystream seeded from the spec: fast, and the same bytes every run. */
function padding(spec: DistSpec, size: number): Buffer {
  const seed = createHash('sha256').update(`${spec.name}\0${spec.version}\0${size}`).digest();
  const cipher = createCipheriv('aes-128-ctr', seed.subarray(0, 16), seed.subarray(16, 32));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

function recordHash(data: Buffer): string {
  return createHash('sha256').update(data).digest('base64url');
}

// blake2b-256 via hash-wasm, as the server computes it: Node's OpenSSL has only blake2b512.
async function finish(filename: string, bytes: Buffer, metadata: Buffer): Promise<BuiltDist> {
  return {
    filename,
    bytes,
    metadata,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
    blake2b256: await blake2b(bytes, 256),
  };
}

export async function buildWheel(spec: DistSpec): Promise<BuiltDist> {
  const mod = moduleName(spec);
  const distInfo = `${escapedName(spec.name)}-${escapedVersion(spec.version)}.dist-info`;
  const metadata = coreMetadata(spec);
  const [py, abi, platform] = tags(spec);
  const wheelLines = ['Wheel-Version: 1.0', 'Generator: pydepot-tests', 'Root-Is-Purelib: true'];
  // A compressed tag set (py2.py3-none-any) expands to one Tag line per combination.
  for (const p of py.split('.')) for (const a of abi.split('.')) for (const t of platform.split('.')) {
    wheelLines.push(`Tag: ${p}-${a}-${t}`);
  }
  if (spec.buildTag !== undefined) wheelLines.push(`Build: ${spec.buildTag}`);

  const files: Array<[string, Buffer]> = [[`${mod}/__init__.py`, initPy(spec)]];
  if (spec.padBytes !== undefined) files.push([`${mod}/_pad.bin`, padding(spec, spec.padBytes)]);
  if (spec.omitMetadata !== true) files.push([`${distInfo}/METADATA`, metadata]);
  files.push([`${distInfo}/WHEEL`, Buffer.from(`${wheelLines.join('\n')}\n`, 'utf8')]);
  const record = files.map(([path, data]) => `${path},sha256=${recordHash(data)},${data.length}`);
  record.push(`${distInfo}/RECORD,,`);
  files.push([`${distInfo}/RECORD`, Buffer.from(`${record.join('\n')}\n`, 'utf8')]);

  const zip = new yazl.ZipFile();
  for (const [path, data] of files) {
    zip.addBuffer(data, path, {
      mtime: ZIP_MTIME,
      mode: 0o100644,
      forceDosTimestamp: true,
      // Random padding does not shrink; storing it keeps big size-test wheels quick to build.
      compress: !path.endsWith('_pad.bin'),
    });
  }
  zip.end();
  const bytes = await readAll(zip.outputStream);
  return finish(wheelFilename(spec), bytes, metadata);
}

export async function buildSdist(spec: DistSpec): Promise<BuiltDist> {
  const mod = moduleName(spec);
  const root = `${escapedName(spec.name)}-${escapedVersion(spec.version)}`;
  const pkgInfo = coreMetadata(spec);
  const project: string[] = [
    `name = ${JSON.stringify(spec.name)}`,
    `version = ${JSON.stringify(spec.version)}`,
    `description = ${JSON.stringify(spec.summary ?? `Test package ${spec.name}`)}`,
  ];
  if (spec.requiresPython !== undefined) project.push(`requires-python = ${JSON.stringify(spec.requiresPython)}`);
  project.push(`dependencies = [${(spec.requiresDist ?? []).map((r) => JSON.stringify(r)).join(', ')}]`);
  const pyproject = [
    '[build-system]',
    'requires = ["setuptools>=61"]',
    'build-backend = "setuptools.build_meta"',
    '',
    '[project]',
    ...project,
    '',
  ].join('\n');

  const entries: Array<[string, Buffer | null]> = [
    [`${root}/`, null],
    [`${root}/PKG-INFO`, pkgInfo],
    [`${root}/pyproject.toml`, Buffer.from(pyproject, 'utf8')],
    [`${root}/${mod}/`, null],
    [`${root}/${mod}/__init__.py`, initPy(spec)],
  ];
  if (spec.padBytes !== undefined) entries.push([`${root}/${mod}/_pad.bin`, padding(spec, spec.padBytes)]);
  return finish(sdistFilename(spec), await tarGz(entries), pkgInfo);
}

export interface InTreeBackendOptions {
  /** build_wheel prints these lines (one per line, on stderr), then raises RuntimeError with the last: a build that fails. */
  failWith?: string[];
  /** The built wheel's tag; default py3-none-any. */
  tag?: string;
}

/**
 * The in-tree build backend of buildInTreeSdist: PEP 517's hooks with the
 * standard library alone (zipfile, tarfile), so pip builds the sdist
 * offline, its build isolation installing nothing (`requires = []`). The
 * wheel's METADATA is the sdist's PKG-INFO; its files, the package folder.
 */
function inTreeBackend(opts: InTreeBackendOptions): string {
  const fail = opts.failWith && opts.failWith.length > 0
    ? [
      ...opts.failWith.slice(0, -1).map((line) => `    sys.stderr.write(${JSON.stringify(`${line}\n`)})`),
      '    sys.stderr.flush()',
      `    raise RuntimeError(${JSON.stringify(opts.failWith.at(-1))})`,
    ]
    : [];
  return [
    '"""A PEP 517 backend for the tests of pydepot: standard library only."""',
    'import base64, hashlib, io, os, re, sys, tarfile, zipfile',
    '',
    `TAG = ${JSON.stringify(opts.tag ?? 'py3-none-any')}`,
    '',
    'def _pkg_info():',
    "    with open('PKG-INFO', encoding='utf-8') as f:",
    '        text = f.read()',
    '    fields = {}',
    "    for line in text.split('\\n'):",
    "        if not line:",
    '            break',
    "        key, _, value = line.partition(': ')",
    '        fields.setdefault(key, value)',
    "    return text, fields['Name'], fields['Version']",
    '',
    'def _escape(name):',
    "    return re.sub(r'[-_.]+', '_', name).lower()",
    '',
    'def get_requires_for_build_wheel(config_settings=None):',
    '    return []',
    '',
    'def get_requires_for_build_sdist(config_settings=None):',
    '    return []',
    '',
    'def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):',
    ...fail,
    '    text, name, version = _pkg_info()',
    "    dist_info = '%s-%s.dist-info' % (_escape(name), version)",
    "    files = []",
    '    for root, _, names in os.walk(_escape(name)):',
    '        for n in sorted(names):',
    '            path = os.path.join(root, n)',
    "            with open(path, 'rb') as f:",
    "                files.append((path.replace(os.sep, '/'), f.read()))",
    "    files.append((dist_info + '/METADATA', text.encode('utf-8')))",
    "    wheel = 'Wheel-Version: 1.0\\nGenerator: pydepot-tests-backend\\nRoot-Is-Purelib: true\\nTag: %s\\n' % TAG",
    "    files.append((dist_info + '/WHEEL', wheel.encode('utf-8')))",
    "    record = ''.join('%s,sha256=%s,%d\\n' % (p, base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode(), len(d)) for p, d in files)",
    "    record += dist_info + '/RECORD,,\\n'",
    "    filename = '%s-%s-%s.whl' % (_escape(name), version, TAG)",
    "    with zipfile.ZipFile(os.path.join(wheel_directory, filename), 'w', zipfile.ZIP_DEFLATED) as z:",
    '        for p, d in files:',
    '            z.writestr(p, d)',
    "        z.writestr(dist_info + '/RECORD', record)",
    '    return filename',
    '',
    'def build_sdist(sdist_directory, config_settings=None):',
    '    _, name, version = _pkg_info()',
    "    base = '%s-%s' % (_escape(name), version)",
    "    with tarfile.open(os.path.join(sdist_directory, base + '.tar.gz'), 'w:gz') as t:",
    "        for n in ['PKG-INFO', 'pyproject.toml', 'backend.py', _escape(name)]:",
    "            t.add(n, arcname=base + '/' + n)",
    "    return base + '.tar.gz'",
    '',
  ].join('\n');
}

/**
 * An sdist that pip builds offline: `build-backend = "backend"` with
 * `backend-path = ["."]`, the backend above in the sdist itself. PKG-INFO
 * is the spec's core metadata, as in buildSdist.
 */
export async function buildInTreeSdist(spec: DistSpec, opts: InTreeBackendOptions = {}): Promise<BuiltDist> {
  const mod = moduleName(spec);
  const root = `${escapedName(spec.name)}-${escapedVersion(spec.version)}`;
  const pkgInfo = coreMetadata(spec);
  const pyproject = [
    '[build-system]',
    'requires = []',
    'build-backend = "backend"',
    'backend-path = ["."]',
    '',
  ].join('\n');
  const entries: Array<[string, Buffer | null]> = [
    [`${root}/`, null],
    [`${root}/PKG-INFO`, pkgInfo],
    [`${root}/pyproject.toml`, Buffer.from(pyproject, 'utf8')],
    [`${root}/backend.py`, Buffer.from(inTreeBackend(opts), 'utf8')],
    [`${root}/${mod}/`, null],
    [`${root}/${mod}/__init__.py`, initPy(spec)],
  ];
  return finish(sdistFilename(spec), await tarGz(entries), pkgInfo);
}

async function tarGz(entries: Array<[string, Buffer | null]>): Promise<Buffer> {
  const pack = tar.pack();
  const packed = readAll(pack);
  for (const [name, data] of entries) {
    const common = { name, mtime: TAR_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
    if (data === null) pack.entry({ ...common, type: 'directory', mode: 0o755 });
    else pack.entry({ ...common, type: 'file', mode: 0o644, size: data.length }, data);
  }
  pack.finalize();
  return gzipAsync(await packed, { level: 9 });
}

export async function writeDists(dir: string, dists: BuiltDist[]): Promise<string[]> {
  const paths: string[] = [];
  for (const dist of dists) {
    const path = join(dir, dist.filename);
    await writeFile(path, dist.bytes);
    paths.push(path);
  }
  return paths;
}

// --- BLAKE2b (RFC 7693) -----------------------------------------------------
