/**
 * Archive material for the fuzz suite: byte-level mutations, and zips and
 * tars written byte by byte (so that names, types, flags, sizes and CRCs can
 * be anything, including what yazl or tar-stream would refuse to write).
 *
 * Not a test file itself (ava only picks `*.test.ts`).
 */
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { anyText } from './_fuzz.ts';

// ---------------------------------------------------------------------------
// Byte-level mutations

export type Mutation =
  | { op: 'flip'; at: number; fromEnd: boolean; xor: number }
  | { op: 'truncate'; at: number; fromEnd: boolean }
  | { op: 'insert'; at: number; fromEnd: boolean; bytes: Uint8Array }
  | { op: 'delete'; at: number; fromEnd: boolean; n: number };

export const position = { at: fc.nat(), fromEnd: fc.boolean() };
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('flip' as const), ...position, xor: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), ...position }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), ...position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), ...position, n: fc.integer({ min: 1, max: 32 }) }) },
);

/** Applies the mutations; positions near the end matter as much (a zip's central directory, a gzip trailer). */
export function mutate(original: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(original);
  for (const m of mutations) {
    const span = b.length + 1;
    const at = m.fromEnd ? Math.max(0, b.length - 1 - (m.at % Math.min(span, 200))) : m.at % span;
    switch (m.op) {
      case 'flip': if (at < b.length) b[at] = b[at]! ^ m.xor; break;
      case 'truncate': b = b.subarray(0, at); break;
      case 'insert': b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]); break;
      case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]); break;
    }
  }
  return b;
}

export const mutations = fc.array(mutation, { minLength: 1, maxLength: 6 });



// ---------------------------------------------------------------------------
// Zips written byte by byte

export interface ZipEntrySpec {
  name: string;
  data: Uint8Array;
  method: number;
  flags: number;
  /** Unix mode in the external attributes (0o120777: a symlink). */
  mode: number;
  /** Declared values that disagree with the data. */
  lieCrc: boolean;
  lieSize: number | null;
}

export function u16(n: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16LE(n & 0xffff); return b; }
export function u32(n: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; }

export function writeZip(entries: ZipEntrySpec[], opts: { countLie: number | null; comment: string; junkBefore: Uint8Array }): Buffer {
  const locals: Buffer[] = [Buffer.from(opts.junkBefore)];
  const centrals: Buffer[] = [];
  let offset = opts.junkBefore.length;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const data = Buffer.from(e.data);
    const stored = e.method === 8 ? deflateRawSync(data) : data;
    const crc = e.lieCrc ? crc32(data) ^ 0x5a5a : crc32(data);
    const usize = e.lieSize ?? data.length;
    const common = [u16(e.flags), u16(e.method), u16(0), u16(0x21), u32(crc), u32(stored.length), u32(usize), u16(name.length), u16(0)];
    const local = Buffer.concat([u32(0x04034b50), u16(20), ...common, name, stored]);
    centrals.push(Buffer.concat([u32(0x02014b50), u16(0x031e), u16(20), ...common, u16(0), u16(0), u16(0), u32(e.mode * 0x10000), u32(offset), name]));
    locals.push(local);
    offset += local.length;
  }
  const cd = Buffer.concat(centrals);
  const count = opts.countLie ?? entries.length;
  const comment = Buffer.from(opts.comment, 'utf8');
  const eocd = Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(count), u16(count), u32(cd.length), u32(offset), u16(comment.length), comment]);
  return Buffer.concat([...locals, cd, eocd]);
}

export const GOOD_METADATA = Buffer.from('Metadata-Version: 2.1\nName: acme-utils\nVersion: 1.0\n');
export const ZIP_NAMES = [
  'acme_utils-1.0.dist-info/METADATA', 'acme_utils-1.0.dist-info/WHEEL', 'acme_utils-1.0.dist-info/RECORD', 'acme_utils-1.0.dist-info/',
  'other-1.0.dist-info/METADATA', 'acme_utils-2.0.dist-info/METADATA', 'Acme.Utils-1.0.dist-info/METADATA', 'acme_utils/__init__.py',
  'acme_utils-1.0/PKG-INFO', 'acme_utils-1.0/', 'acme_utils-1.0/setup.py', 'x/PKG-INFO', 'PKG-INFO', '../evil', '/abs', 'C:\\x', 'a\\b',
  'acme_utils-1.0/../x', '', '.dist-info/METADATA', '-1.0.dist-info/METADATA', 'acme_utils-1.0.dist-info//METADATA',
];
export const zipEntry: fc.Arbitrary<ZipEntrySpec> = fc.record({
  name: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...ZIP_NAMES) }, { weight: 1, arbitrary: anyText(20) }),
  data: fc.oneof(fc.constant(new Uint8Array(GOOD_METADATA)), fc.uint8Array({ maxLength: 64 }),
    fc.integer({ min: 4000, max: 9000 }).map((n) => new Uint8Array(n).fill(0x41))),
  method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 8) }, { weight: 1, arbitrary: fc.constantFrom(1, 9, 12, 14, 99, 0xffff) }),
  flags: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 0x800) }, { weight: 1, arbitrary: fc.constantFrom(1, 8, 0x41, 0xffff) }),
  mode: fc.constantFrom(0o100644, 0o040755, 0o120777, 0),
  lieCrc: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  lieSize: fc.option(fc.constantFrom(0, 1, 4097, 0xffffffff, 2 ** 31), { nil: null, freq: 8 }),
});

export const zipArchive = fc.record({
  // A valid wheel's three files first, half the time: then the generated entries decide.
  base: fc.boolean(),
  entries: fc.array(zipEntry, { maxLength: 8 }),
  countLie: fc.option(fc.constantFrom(0, 1, 41, 0xffff), { nil: null, freq: 6 }),
  comment: fc.oneof({ weight: 5, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('PK\u0005\u0006', 'comment') }),
  junkBefore: fc.oneof({ weight: 5, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) }),
}).map(({ base, entries, ...opts }) => {
  const plain = (name: string, data: Uint8Array): ZipEntrySpec => ({ name, data, method: 8, flags: 0, mode: 0o100644, lieCrc: false, lieSize: null });
  const all = base
    ? [plain('acme_utils-1.0.dist-info/METADATA', GOOD_METADATA), plain('acme_utils-1.0.dist-info/WHEEL', Buffer.from('Wheel-Version: 1.0\n')),
      plain('acme_utils-1.0.dist-info/RECORD', new Uint8Array(0)), ...entries]
    : entries;
  return { entries: all, bytes: writeZip(all, opts) };
});


// ---------------------------------------------------------------------------
// Tars written byte by byte

export interface TarMember {
  name: string;
  /** A ustar typeflag byte ('0' file, '5' directory, '2' symlink, '1' hard link, ...). */
  type: string;
  linkname: string;
  data: Uint8Array;
  /** A size field that disagrees with the data (octal text, possibly junk). */
  sizeField: string | null;
  pax: Record<string, string> | null;
  badChecksum: boolean;
}

export function field(value: string, length: number): Buffer {
  const b = Buffer.alloc(length);
  Buffer.from(value, 'utf8').copy(b, 0, 0, length);
  return b;
}

export function tarHeader(m: { name: string; type: string; linkname: string; size: number; sizeField: string | null; badChecksum: boolean }): Buffer {
  const h = Buffer.alloc(512);
  field(m.name, 100).copy(h, 0);
  field('0000644\0', 8).copy(h, 100);
  field('0000000\0', 8).copy(h, 108);
  field('0000000\0', 8).copy(h, 116);
  field(m.sizeField ?? `${m.size.toString(8).padStart(11, '0')}\0`, 12).copy(h, 124);
  field('14000000000\0', 12).copy(h, 136);
  h.fill(0x20, 148, 156);
  h[156] = m.type.charCodeAt(0) & 0xff;
  field(m.linkname, 100).copy(h, 157);
  field('ustar\0', 6).copy(h, 257);
  field('00', 2).copy(h, 263);
  let sum = 0;
  for (const byte of h) sum += byte;
  if (m.badChecksum) sum += 1;
  field(`${sum.toString(8).padStart(6, '0')}\0 `, 8).copy(h, 148);
  return h;
}

export function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

export function paxData(records: Record<string, string>): Buffer {
  return Buffer.concat(Object.entries(records).map(([k, v]) => {
    const body = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(body) + 1;
    while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
    return Buffer.from(`${len}${body}`, 'utf8');
  }));
}

export function writeTar(members: TarMember[], ending: 'zeros' | 'none' | 'one-block'): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    if (m.pax !== null) {
      const data = paxData(m.pax);
      parts.push(tarHeader({ name: 'PaxHeader', type: 'x', linkname: '', size: data.length, sizeField: null, badChecksum: false }), padded(data));
    }
    const data = Buffer.from(m.data);
    parts.push(tarHeader({ ...m, size: data.length }), padded(data));
  }
  if (ending === 'zeros') parts.push(Buffer.alloc(1024));
  if (ending === 'one-block') parts.push(Buffer.alloc(512));
  return Buffer.concat(parts);
}

export const TOP = 'acme_utils-1.0';
export const TAR_NAMES = [
  `${TOP}/`, TOP, `${TOP}/PKG-INFO`, `./${TOP}/PKG-INFO`, `${TOP}/setup.py`, `${TOP}/d`, `${TOP}/e`, `${TOP}/f`, `${TOP}/d/x`, `${TOP}/e/x`,
  `${TOP}/pkg/`, `${TOP}/pkg/__init__.py`, 'other-1.0/x', 'PKG-INFO', '/etc/passwd', `../${TOP}/x`, `${TOP}/../x`, `${TOP}/..`, 'C:x',
  `${TOP}\\..\\x`, '.', './', '', `${TOP}//PKG-INFO`, `${TOP}/${'n'.repeat(120)}`,
];
export const LINK_TARGETS = [
  '.', '..', 'd', 'e', 'f', 'x', 'd/..', 'e/..', 'f/..', 'd/x', 'pkg', '../x', `../${TOP}`, `../${TOP}/x`, `${TOP}`, `${TOP}/x`,
  `${TOP}/d/..`, `${TOP}/..`, '/etc/passwd', '/', '', 'PKG-INFO', `${TOP}/PKG-INFO`,
];
export const TYPES = ['0', '0', '0', '5', '5', '2', '2', '1', '\0', '7', '3', '4', '6', 'S', 'g', 'L', 'K', 'V', 'Z', 'x'];

export const tarMember: fc.Arbitrary<TarMember> = fc.record({
  name: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...TAR_NAMES) }, { weight: 1, arbitrary: anyText(16) }),
  type: fc.constantFrom(...TYPES),
  linkname: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...LINK_TARGETS) }, { weight: 1, arbitrary: anyText(12) }),
  data: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(new Uint8Array(GOOD_METADATA)),
    fc.integer({ min: 4000, max: 5000 }).map((n) => new Uint8Array(n).fill(0x20))),
  sizeField: fc.option(fc.constantFrom('77777777777\0', '-1', 'zzzz', '', '\x80\0\0\0\0\0\0\0\0\0\x10\0', '00000000001 ', '99999999999\0'), { nil: null, freq: 10 }),
  pax: fc.option(fc.dictionary(
    fc.constantFrom('path', 'linkpath', 'size', 'GNU.sparse.major', 'GNU.sparse.size', 'comment', 'mtime'),
    fc.oneof(fc.constantFrom(...TAR_NAMES, ...LINK_TARGETS, '-1', 'NaN', '1e9', '99999999999999999999'), anyText(8)),
    { maxKeys: 3 },
  ), { nil: null, freq: 8 }),
  badChecksum: fc.oneof({ weight: 20, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

export const plainMember = (name: string, type: string, data: Uint8Array = new Uint8Array(0)): TarMember =>
  ({ name, type, linkname: '', data, sizeField: null, pax: null, badChecksum: false });

export const tarArchive = fc.record({
  base: fc.boolean(),
  members: fc.array(tarMember, { maxLength: 8 }),
  ending: fc.constantFrom('zeros', 'zeros', 'none', 'one-block'),
  gzip: fc.constantFrom('plain', 'plain', 'plain', 'two-members', 'trailing-junk', 'level0'),
}).map(({ base, members, ending, gzip }) => {
  const all = base ? [plainMember(`${TOP}/`, '5'), plainMember(`${TOP}/PKG-INFO`, '0', GOOD_METADATA), ...members] : members;
  const raw = writeTar(all, ending as 'zeros' | 'none' | 'one-block');
  let bytes: Buffer;
  switch (gzip) {
    case 'two-members': { const half = raw.length >> 1; bytes = Buffer.concat([gzipSync(raw.subarray(0, half)), gzipSync(raw.subarray(half))]); break; }
    case 'trailing-junk': bytes = Buffer.concat([gzipSync(raw), Buffer.from('junk after the gzip stream')]); break;
    case 'level0': bytes = gzipSync(raw, { level: 0 }); break;
    default: bytes = gzipSync(raw);
  }
  return { members: all, bytes };
});


