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

export interface DistSpec {
  /** Project name as the user writes it, e.g. 'Acme.Utils'. */
  name: string;
  version: string;
  /** e.g. ['acme-core>=1.0'] */
  requiresDist?: string[];
  /** e.g. '>=3.8' */
  requiresPython?: string;
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

function finish(filename: string, bytes: Buffer, metadata: Buffer): BuiltDist {
  return {
    filename,
    bytes,
    metadata,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
    blake2b256: blake2b256(bytes),
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

  const pack = tar.pack();
  const packed = readAll(pack);
  for (const [name, data] of entries) {
    const common = { name, mtime: TAR_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
    if (data === null) pack.entry({ ...common, type: 'directory', mode: 0o755 });
    else pack.entry({ ...common, type: 'file', mode: 0o644, size: data.length }, data);
  }
  pack.finalize();
  const bytes = await gzipAsync(await packed, { level: 9 });
  return finish(sdistFilename(spec), bytes, pkgInfo);
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
// Node 20's OpenSSL only exposes blake2b512, and BLAKE2b-256 is NOT its
// truncation: the digest length is mixed into the initial state. PyPI's
// `blake2_256_digest` is hashlib.blake2b(digest_size=32), so we need the real thing.
// 64-bit words are kept as (lo, hi) uint32 pairs (always >>> 0 so carries
// are right); BigInt would be far slower.

const BLAKE2B_IV = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a,
  0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);

const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];
// Word indices doubled once here so the hot loop indexes the (lo, hi) arrays directly.
const SIGMA2 = Array.from({ length: 12 }, (_, round) => Int32Array.from(SIGMA[round % 10]!, (i) => i * 2));

/** Incremental unkeyed BLAKE2b with a chosen digest length (1..64 bytes). */
export class Blake2b {
  private readonly h = new Uint32Array(16);
  private readonly v = new Uint32Array(32);
  private readonly m = new Uint32Array(32);
  private readonly block = new Uint8Array(128);
  private blockLength = 0;
  private total = 0;
  private readonly outLength: number;

  constructor(outLength = 32) {
    if (!Number.isInteger(outLength) || outLength < 1 || outLength > 64) throw new RangeError('BLAKE2b digest length must be 1..64 bytes');
    this.outLength = outLength;
    this.h.set(BLAKE2B_IV);
    this.h[0] = this.h[0]! ^ 0x01010000 ^ outLength;
  }

  update(data: Uint8Array): this {
    let offset = 0;
    while (offset < data.length) {
      // The final block must be compressed with the last-block flag, so a full
      // buffer is only flushed once we know more input follows.
      if (this.blockLength === 128) {
        this.total += 128;
        this.compress(false);
        this.blockLength = 0;
      }
      const take = Math.min(128 - this.blockLength, data.length - offset);
      this.block.set(data.subarray(offset, offset + take), this.blockLength);
      this.blockLength += take;
      offset += take;
    }
    return this;
  }

  digest(): Buffer {
    this.total += this.blockLength;
    this.block.fill(0, this.blockLength);
    this.compress(true);
    const out = Buffer.alloc(64);
    for (let i = 0; i < 16; i++) out.writeUInt32LE(this.h[i]!, i * 4);
    return out.subarray(0, this.outLength);
  }

  private compress(last: boolean): void {
    const { v, m, h } = this;
    for (let i = 0; i < 16; i++) {
      v[i] = h[i]!;
      v[i + 16] = BLAKE2B_IV[i]!;
    }
    // Byte counter t (< 2^53 here) goes into v[12]; v[13] is its high 64 bits, always 0.
    v[24] = v[24]! ^ (this.total >>> 0);
    v[25] = v[25]! ^ Math.floor(this.total / 0x100000000);
    if (last) {
      v[28] = ~v[28]!;
      v[29] = ~v[29]!;
    }
    const b = this.block;
    for (let i = 0, j = 0; i < 32; i++, j += 4) m[i] = b[j]! | (b[j + 1]! << 8) | (b[j + 2]! << 16) | (b[j + 3]! << 24);
    for (const s of SIGMA2) {
      mix(v, m, 0, 8, 16, 24, s[0]!, s[1]!);
      mix(v, m, 2, 10, 18, 26, s[2]!, s[3]!);
      mix(v, m, 4, 12, 20, 28, s[4]!, s[5]!);
      mix(v, m, 6, 14, 22, 30, s[6]!, s[7]!);
      mix(v, m, 0, 10, 20, 30, s[8]!, s[9]!);
      mix(v, m, 2, 12, 22, 24, s[10]!, s[11]!);
      mix(v, m, 4, 14, 16, 26, s[12]!, s[13]!);
      mix(v, m, 6, 8, 18, 28, s[14]!, s[15]!);
    }
    for (let i = 0; i < 16; i++) h[i] = h[i]! ^ v[i]! ^ v[i + 16]!;
  }
}

/** The BLAKE2b G function on (lo, hi) pairs; rotations 32, 24, 16 and 63 are spelled out. */
function mix(v: Uint32Array, m: Uint32Array, a: number, b: number, c: number, d: number, x: number, y: number): void {
  let alo = v[a]!, ahi = v[a + 1]!, blo = v[b]!, bhi = v[b + 1]!;
  let clo = v[c]!, chi = v[c + 1]!, dlo = v[d]!, dhi = v[d + 1]!;
  let t: number, tlo: number, thi: number;

  // a = a + b + m[x]; each `t` step carries the low word's overflow into the high word.
  t = alo + blo; ahi = (ahi + bhi + (t > 0xffffffff ? 1 : 0)) >>> 0; alo = t >>> 0;
  t = alo + m[x]!; ahi = (ahi + m[x + 1]! + (t > 0xffffffff ? 1 : 0)) >>> 0; alo = t >>> 0;
  // d = rotr64(d ^ a, 32)
  tlo = dlo ^ alo; thi = dhi ^ ahi; dlo = thi >>> 0; dhi = tlo >>> 0;
  // c = c + d
  t = clo + dlo; chi = (chi + dhi + (t > 0xffffffff ? 1 : 0)) >>> 0; clo = t >>> 0;
  // b = rotr64(b ^ c, 24)
  tlo = blo ^ clo; thi = bhi ^ chi;
  blo = ((tlo >>> 24) | (thi << 8)) >>> 0; bhi = ((thi >>> 24) | (tlo << 8)) >>> 0;
  // a = a + b + m[y]
  t = alo + blo; ahi = (ahi + bhi + (t > 0xffffffff ? 1 : 0)) >>> 0; alo = t >>> 0;
  t = alo + m[y]!; ahi = (ahi + m[y + 1]! + (t > 0xffffffff ? 1 : 0)) >>> 0; alo = t >>> 0;
  // d = rotr64(d ^ a, 16)
  tlo = dlo ^ alo; thi = dhi ^ ahi;
  dlo = ((tlo >>> 16) | (thi << 16)) >>> 0; dhi = ((thi >>> 16) | (tlo << 16)) >>> 0;
  // c = c + d
  t = clo + dlo; chi = (chi + dhi + (t > 0xffffffff ? 1 : 0)) >>> 0; clo = t >>> 0;
  // b = rotr64(b ^ c, 63), i.e. rotl by 1
  tlo = blo ^ clo; thi = bhi ^ chi;
  blo = ((tlo << 1) | (thi >>> 31)) >>> 0; bhi = ((thi << 1) | (tlo >>> 31)) >>> 0;

  v[a] = alo; v[a + 1] = ahi; v[b] = blo; v[b + 1] = bhi;
  v[c] = clo; v[c + 1] = chi; v[d] = dlo; v[d + 1] = dhi;
}

/** Hex BLAKE2b-256, equal to Python's `hashlib.blake2b(data, digest_size=32).hexdigest()`. */
export function blake2b256(data: Uint8Array): string {
  return new Blake2b(32).update(data).digest().toString('hex');
}
