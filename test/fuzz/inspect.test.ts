/**
 * Fuzzing src/upload/inspect.ts (`readWheelMetadata`, `readSdistMetadata`)
 * through a real FsBlobStore temp blob, as an upload reaches it: mutated real
 * wheels and sdists, and zips and tars written byte by byte with arbitrary
 * names, types, link targets, flags and (lying) sizes. Each call returns the
 * metadata bytes or throws InvalidDistribution, within a time bound, and no
 * file descriptor outlives the property.
 *
 * Serial tests: the descriptor count of the process is compared before and after.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { buffer as readAll } from 'node:stream/consumers';
import { gunzipSync, gzipSync } from 'node:zlib';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import yazl from 'yazl';
import { InvalidDistribution } from '../../src/errors.ts';
import { FsBlobStore } from '../../src/storage/blob-fs.ts';
import { readSdistMetadata, readWheelMetadata, type InspectLimits } from '../../src/upload/inspect.ts';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import {
  GOOD_METADATA, LINK_TARGETS, TOP, mutate, mutations, plainMember, tarArchive, writeTar, zipArchive, type TarMember,
} from './_archives.ts';
import { check, outcomeAsync } from './_fuzz.ts';

const HANG_MS = 4000;
const ARCHIVE = { numRuns: 250, timeLimitMs: 6000, runTimeoutMs: HANG_MS + 1000 };

// Small limits, so that bombs, entry counts and the METADATA cap are reachable with small inputs.
const LIMITS: InspectLimits = { maxMetadataBytes: 4096, maxUncompressedBytes: 64 * 1024, maxRatio: 50, maxEntries: 40 };

let blobs: FsBlobStore;
let root: string;
let wheel: BuiltDist;
let sdist: BuiltDist;
let sdistTar: Buffer;
let zipSdist: Buffer;

test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'pydepot-fuzz-inspect-'));
  blobs = new FsBlobStore(root);
  await blobs.init();
  wheel = await buildWheel({ name: 'acme-utils', version: '1.0', requiresDist: ['x>=1'] });
  sdist = await buildSdist({ name: 'acme-utils', version: '1.0' });
  sdistTar = gunzipSync(sdist.bytes);
  const zip = new yazl.ZipFile();
  zip.addEmptyDirectory('acme_utils-1.0/', { mtime: new Date(0) });
  zip.addBuffer(sdist.metadata, 'acme_utils-1.0/PKG-INFO', { mtime: new Date(0) });
  zip.addBuffer(Buffer.from('print(1)\n'), 'acme_utils-1.0/setup.py', { mtime: new Date(0), compress: false });
  zip.end();
  zipSdist = await readAll(zip.outputStream);
});

test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

const HAS_PROC = existsSync('/proc/self/fd');
const openFds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;

/** Runs a property and checks that it leaves no descriptor open (fs.close is asynchronous: give it a moment). */
async function withoutFdLeak(t: ExecutionContext, run: () => Promise<void>): Promise<void> {
  const hasProc = existsSync('/proc/self/fd');
  const before = hasProc ? await openFds() : 0;
  await run();
  // A run cut short by the time budget goes on in the background: let it finish.
  await Promise.allSettled([...inflight]);
  if (hangs.length > 0) t.fail(`inspection never answered for: ${hangs.splice(0).join('\n')}`);
  if (!hasProc) return;
  let after = await openFds();
  for (let tries = 0; tries < 100 && after > before; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await openFds();
  }
  t.true(after <= before, `file descriptors before ${before}, after ${after}`);
  const left = await readdir(join(root, 'tmp'));
  t.deepEqual(left, [], 'temp blobs left behind');
}

type Inspect = 'wheel' | 'sdist-tar.gz' | 'sdist-zip';

/** Stores the bytes as a temp blob, inspects them, discards the blob; the answer is bytes or InvalidDistribution. */
/** Runs still going when a property's time budget cut them off, and inputs that never got an answer. */
const inflight = new Set<Promise<unknown>>();

/** A predicate whose runs are waited for by withoutFdLeak, even one the time budget abandoned between two inspections. */
function tracked<A extends unknown[]>(predicate: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return (...args) => {
    const run = predicate(...args);
    inflight.add(run);
    return run.finally(() => inflight.delete(run));
  };
}
const hangs: string[] = [];

/**
 * The answer within HANG_MS, or a failure. A run abandoned by the time budget
 * is still waited for (withoutFdLeak), and a hang found then fails the test
 * with the input, as the property itself would.
 */
async function inspect(bytes: Buffer, how: Inspect): Promise<Buffer | InvalidDistribution> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      hangs.push(`${how}, ${bytes.length} bytes, base64 ${bytes.toString('base64')}`);
      reject(new Error(`no answer after ${HANG_MS} ms (a hang)`));
    }, HANG_MS);
  });
  const run = Promise.race([inspectChecked(bytes, how), hang]).finally(() => clearTimeout(timer));
  inflight.add(run);
  try {
    return await run;
  } finally {
    inflight.delete(run);
  }
}

async function inspectChecked(bytes: Buffer, how: Inspect): Promise<Buffer | InvalidDistribution> {
  const before = HAS_PROC ? await openFds() : 0;
  const result = await inspectOnce(bytes, how);
  if (HAS_PROC) {
    let after = await openFds();
    // fs.close completes on the thread pool: on a loaded machine (CI on 2 cores) it can take seconds, so
    // wait up to 5 s before calling it a leak (a real leak never closes; no leak returns at once).
    for (let tries = 0; tries < 250 && after > before; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await openFds();
    }
    if (after > before) throw new Error(`file descriptor leak: ${before} open before, ${after} after`);
  }
  return result;
}

async function inspectOnce(bytes: Buffer, how: Inspect): Promise<Buffer | InvalidDistribution> {
  const writer = blobs.createTemp();
  writer.stream.end(bytes);
  const temp = await writer.finished();
  try {
    const archive = { size: temp.size, open: () => blobs.openTemp(temp) };
    const r = await outcomeAsync(() => (how === 'wheel'
      ? readWheelMetadata(archive, 'acme_utils-1.0-py3-none-any.whl', 'acme-utils', LIMITS)
      : readSdistMetadata(archive, 'acme_utils-1.0.tar.gz', how === 'sdist-zip' ? 'zip' : 'tar.gz', LIMITS)), [InvalidDistribution]);
    // (Whether the reason is one line is a property of its own, below.)
    if (!r.ok) return r.error as InvalidDistribution;
    if (!Buffer.isBuffer(r.value)) throw new Error('not a Buffer');
    if (r.value.length > LIMITS.maxMetadataBytes) throw new Error(`metadata of ${r.value.length} bytes passed a ${LIMITS.maxMetadataBytes}-byte limit`);
    return r.value;
  } finally {
    await blobs.discard(temp);
  }
}

// ---------------------------------------------------------------------------
// Byte-level mutations, generated zips and tars (test/fuzz/_archives.ts)

test.serial('mutated wheels: METADATA bytes or InvalidDistribution, no descriptor left open', async (t) => {
  await withoutFdLeak(t, () => check(t, fc.asyncProperty(mutations, tracked(async (ms) => {
    await inspect(mutate(wheel.bytes, ms), 'wheel');
  })), ARCHIVE));
});

test.serial('mutated sdists (the gzip stream, or the tar inside it): PKG-INFO bytes or InvalidDistribution', async (t) => {
  await withoutFdLeak(t, () => check(t, fc.asyncProperty(mutations, fc.constantFrom('gz', 'tar', 'zip'), tracked(async (ms, layer) => {
    if (layer === 'gz') await inspect(mutate(sdist.bytes, ms), 'sdist-tar.gz');
    else if (layer === 'tar') await inspect(gzipSync(mutate(sdistTar, ms)), 'sdist-tar.gz');
    else await inspect(mutate(zipSdist, ms), 'sdist-zip');
  })), ARCHIVE));
});

test.serial('generated zips (names, methods, flags, modes, lying sizes and CRCs): bytes of the one METADATA/PKG-INFO, or InvalidDistribution', async (t) => {
  await withoutFdLeak(t, () => check(t, fc.asyncProperty(zipArchive, tracked(async ({ entries, bytes }) => {
    const asWheel = await inspect(bytes, 'wheel');
    if (Buffer.isBuffer(asWheel)) {
      // Accepted: the bytes are exactly the data of the wheel's METADATA entry, and nothing lied about it.
      const meta = entries.filter((e) => /^[^/]+\.dist-info\/METADATA$/.test(e.name));
      if (meta.length !== 1 || !Buffer.from(meta[0]!.data).equals(asWheel) || meta[0]!.lieCrc) {
        throw new Error(`accepted METADATA ${JSON.stringify(asWheel.toString('latin1').slice(0, 80))} from ${JSON.stringify(meta.map((m) => m.name))}`);
      }
      if (new Set(entries.map((e) => e.name)).size !== entries.length) throw new Error('accepted a zip with duplicate names');
    }
    const asSdist = await inspect(bytes, 'sdist-zip');
    if (Buffer.isBuffer(asSdist)) {
      const info = entries.filter((e) => /^[^/]+\/PKG-INFO$/.test(e.name));
      if (info.length !== 1 || !Buffer.from(info[0]!.data).equals(asSdist) || info[0]!.lieCrc) throw new Error('accepted PKG-INFO is not the entry\'s data');
    }
  })), ARCHIVE));
});

// FOUND BY THIS PROPERTY (default seed): a member whose size field is base-256
// with a first byte other than 0x80/0xff (here 0xc2: field() writes U+0080 as UTF-8) made tar-stream emit it
// with size null and then wait forever; the upload hung. Fixed in inspect.ts
// (a member without a byte count is refused); kept as an explicit example.
const NULL_SIZE_MEMBER = (() => {
  const members = [plainMember(`${TOP}/`, '5'), plainMember(`${TOP}/PKG-INFO`, '0', GOOD_METADATA),
    { ...plainMember(`${TOP}/x`, '0', new Uint8Array(10)), sizeField: '\x80\0\0\0\0\0\0\0\0\0\x10\0' }];
  return { members, bytes: gzipSync(writeTar(members, 'zeros')) };
})();

test.serial('generated tar.gz sdists (names, types, links, pax headers, lying sizes): PKG-INFO bytes or InvalidDistribution', async (t) => {
  await withoutFdLeak(t, () => check(t, fc.asyncProperty(tarArchive, tracked(async ({ bytes }) => {
    await inspect(bytes, 'sdist-tar.gz');
  })), ARCHIVE, [[NULL_SIZE_MEMBER]]));
});

// FOUND BY THE TAR PROPERTY ABOVE (FUZZ_SEED=11), FIXED in errors.ts: a member
// named "x\ny" gave a reason over two lines; PydepotError now escapes control
// characters in every message. The counterexample runs first.
const CONTROL_IN_NAME = (() => {
  const members = [plainMember('x\ny', '0')];
  return { members, bytes: gzipSync(writeTar(members, 'zeros')) };
})();

test.serial('refusal reasons are one printable line, whatever the member names', async (t) => {
  await withoutFdLeak(t, () => check(t, fc.asyncProperty(fc.oneof(
    tarArchive.map((a) => ({ bytes: a.bytes, how: 'sdist-tar.gz' as const })),
    zipArchive.map((a) => ({ bytes: a.bytes, how: 'wheel' as const })),
  ), tracked(async ({ bytes, how }) => {
    const r = await inspect(bytes, how);
    if (!Buffer.isBuffer(r) && /[\x00-\x1f\x7f]/.test(r.message)) throw new Error(`reason with control characters: ${JSON.stringify(r.message)}`);
  })), { numRuns: 150, timeLimitMs: 3000, runTimeoutMs: HANG_MS + 1000 }, [[{ bytes: CONTROL_IN_NAME.bytes, how: 'sdist-tar.gz' as const }]]));
});

// ---------------------------------------------------------------------------
// What an accepted sdist may do when it is unpacked

/**
 * Unpacks the members' paths into a virtual tree, following symlinks as the
 * kernel would (in any order of creation, which is the conservative reading),
 * and returns where a path lands: its components below the extraction
 * directory, or 'escape' if it leaves the extraction directory on the way.
 */
function landing(symlinks: Map<string, string>, path: string, followLast: boolean): string[] | 'escape' | 'loop' {
  const out: string[] = [];
  let queue = path.split('/');
  let hops = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) return 'escape';
      out.pop();
      continue;
    }
    out.push(c);
    const target = symlinks.get(out.join('/'));
    if (target !== undefined && (queue.length > 0 || followLast)) {
      if (++hops > 40) return 'loop';
      if (target.startsWith('/')) return 'escape';
      out.pop();
      queue = [...target.split('/'), ...queue];
    }
  }
  return out;
}

/** Why extracting these members would write or point outside `<top>/`, or null. Only plain ustar members (no pax, no GNU names). */
function escapeOf(members: TarMember[]): string | null {
  const clean = (name: string): string => name.replace(/^(?:\.\/)+/, '').replace(/\/+$/, '');
  const symlinks = new Map<string, string>();
  for (const m of members) if (m.type === '2') symlinks.set(clean(m.name), m.linkname);
  const top = clean(members[0]?.name ?? '').split('/')[0] ?? '';
  const inside = (where: string[] | 'escape' | 'loop'): boolean => where === 'loop' || (where !== 'escape' && where[0] === top);
  for (const m of members) {
    const name = clean(m.name);
    if (name === '') continue;
    const parent = posix.dirname(name);
    if (parent !== '.' && !inside(landing(symlinks, parent, true))) return `'${m.name}' is written through a symlink out of '${top}/'`;
    if (m.type === '2' && !inside(landing(symlinks, `${parent}/${m.linkname}`, true))) return `symlink '${m.name}' -> '${m.linkname}' resolves out of '${top}/'`;
    if (m.type === '1' && !inside(landing(symlinks, m.linkname, true))) return `hard link '${m.name}' -> '${m.linkname}' resolves out of '${top}/'`;
  }
  return null;
}

// Symlink-heavy sdists: a few names, many symlinks between them. (Hard links
// are left to the crash property above: a hard link to a directory, which the
// oracle cannot tell from one to a file, fails at extraction anyway.)
const linkMember: fc.Arbitrary<TarMember> = fc.record({
  name: fc.constantFrom(`${TOP}/d`, `${TOP}/e`, `${TOP}/f`, `${TOP}/d/x`, `${TOP}/e/x`, `${TOP}/f/x`, `${TOP}/pkg/`),
  type: fc.constantFrom('2', '2', '2', '0', '5'),
  linkname: fc.constantFrom(...LINK_TARGETS),
}).map(({ name, type, linkname }) => ({ ...plainMember(name, type), linkname: type === '2' ? linkname : '' }));

// FOUND BY THIS PROPERTY (default seed 1592591399, after about 150 runs;
// shrunk to `acme_utils-1.0/f -> .` plus `acme_utils-1.0/d -> f/..`), FIXED in
// inspect.ts: each link target used to be checked as text, so `f/..` counted as
// inside although `f` is itself a symlink; one more link (`e -> d/..`) left the
// extraction directory, and `acme_utils-1.0/e/pwned.txt` landed outside with
// Python's tarfile without a filter. Symlinks are now followed through one
// another after the last member. The chain below runs first, whatever FUZZ_SEED.
const SYMLINK_CHAIN: TarMember[] = [
  plainMember(`${TOP}/`, '5'), plainMember(`${TOP}/PKG-INFO`, '0', GOOD_METADATA),
  { ...plainMember(`${TOP}/f`, '2'), linkname: '.' },
  { ...plainMember(`${TOP}/d`, '2'), linkname: 'f/..' },
  { ...plainMember(`${TOP}/e`, '2'), linkname: 'd/..' },
  plainMember(`${TOP}/e/pwned.txt`, '0', new Uint8Array(Buffer.from('x'))),
];

test.serial('an accepted sdist never unpacks outside its top-level directory (symlink chains)', async (t) => {
  const archive = fc.array(linkMember, { minLength: 1, maxLength: 6 })
    .map((links) => [plainMember(`${TOP}/`, '5'), plainMember(`${TOP}/PKG-INFO`, '0', GOOD_METADATA), ...links]);
  await withoutFdLeak(t, async () => {
    const budget = { numRuns: 300, timeLimitMs: 5000, runTimeoutMs: HANG_MS + 1000 };
    const property = fc.asyncProperty(archive, tracked(async (members) => {
      const result = await inspect(gzipSync(writeTar(members, 'zeros')), 'sdist-tar.gz');
      if (!Buffer.isBuffer(result)) return;
      const escape = escapeOf(members);
      if (escape !== null) throw new Error(`accepted, yet ${escape}`);
    }));
    // The counterexample first, then the seeded search.
    await check(t, property, budget, [[SYMLINK_CHAIN]]);
  });
});
