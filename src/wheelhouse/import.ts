/**
 * Seeding a hosted repository from a wheelhouse: the other air-gapped
 * pattern, a depot inside the network fed by a wheelhouse exported outside.
 *
 * The input is a wheelhouse zip (`pydepot wheelhouse export`'s, or any zip of
 * wheels and sdists) or a folder (the unzipped wheelhouse, or a flat
 * `--find-links` folder). Distributions are taken at its top level and
 * directly under `wheelhouse/`; anything elsewhere is listed as ignored, not
 * searched for, so a folder given by mistake is not walked. A zip is read
 * through its central directory (yauzl), one member at a time: nothing holds
 * a 2 GB wheelhouse in memory.
 *
 * Each member is copied into a temp blob (hashed as it streams), checked
 * against the sha256 and size that the wheelhouse's own `pylock.toml` /
 * `pylock.<target>.toml` and `manifest.json` list for it (a corrupt or altered
 * wheelhouse must not seed the depot), then goes through exactly what a twine
 * upload goes through: `validateUpload`, then `LocalRepository.add`, which
 * records the audit entry. Identical bytes already stored are skipped (a
 * twine re-upload's 200); a file of the same name with other bytes is a
 * conflict, reported and never replaced, whatever the repository's
 * `overwrite`. One file's refusal does not stop the others; a storage failure
 * (a full disk) stops the import, each file added before it being complete.
 *
 * Hosting a name locally hides the upstream files of that name in every
 * virtual repository that merges the two (the dependency-confusion rule,
 * repos/confusion.ts): `shadowedNames` lists the imported names that a remote
 * also serves.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { text } from 'node:stream/consumers';
import { parse as parseToml } from 'smol-toml';
import yauzl from 'yauzl';
import type { Entry as ZipEntry, ZipFile } from 'yauzl';
import { FileExists, NotFound, PydepotError } from '../errors.ts';
import { parseDistFilename } from '../pypi/filenames.ts';
import type { LocalRepository } from '../repos/local.ts';
import { RemoteRepository } from '../repos/remote.ts';
import type { Registry } from '../repos/registry.ts';
import { VirtualRepository } from '../repos/virtual.ts';
import type { Actor, BlobStore, TempBlob } from '../storage/types.ts';
import type { UploadForm } from '../upload/form.ts';
import { validateUpload } from '../upload/pipeline.ts';
import type { ExportProgress } from './export.ts';

/** Why an import cannot start (an unreadable input, a lock file that does not parse). Nothing was imported. */
export class WheelhouseImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WheelhouseImportError';
  }
}

// --- The input ------------------------------------------------------------------

/** A file of the wheelhouse that looks like a distribution, to be imported. */
export interface WheelhouseMember {
  /** Its path inside the wheelhouse, `/`-separated: `wheelhouse/x.whl`, or `x.whl` at the top. */
  path: string;
  /** The last part of `path`: what it is uploaded as. */
  filename: string;
  /** Its size as the zip's central directory or the folder lists it. */
  size: number;
  open(): Promise<Readable>;
}

/** What a file of the wheelhouse must be, by one of its lock files. */
export interface Expectation {
  sha256: string;
  size: number | null;
  /** The document that says so: `pylock.toml`, `manifest.json`. */
  from: string;
}

export interface WheelhouseInput {
  kind: 'zip' | 'directory';
  path: string;
  /** Distributions to import, by path. */
  members: WheelhouseMember[];
  /** Files not imported, and why (not a distribution; not at the top level or under `wheelhouse/`). */
  ignored: Array<{ path: string; reason: string }>;
  /** The lock files whose hashes every member is checked against (`pylock.toml`, `manifest.json`). */
  locks: string[];
  /** By member path: what each lock file says the file is. */
  expected: Map<string, Expectation[]>;
  close(): Promise<void>;
}

/** What a distribution's name may end with: the accepted forms, and the legacy ones the upload checks refuse with their reason. */
const DIST_LIKE = /\.(whl|tar\.gz|zip|tgz|tar\.bz2|tar\.xz|tar|egg|exe|msi)$/i;
/** The wheelhouse's own documents: read (the lock files) or passed over in silence (the requirements). */
const LOCK = /^(pylock(\.[^/]+)?\.toml|manifest\.json)$/;
const REQUIREMENTS = /^requirements(-[^/]*)?\.txt$/;
/** Lock files are small; one bigger than this is not a wheelhouse's. */
const MAX_LOCK_BYTES = 32 * 1024 * 1024;

const NOT_IN_SCOPE = 'not at the top level or directly under wheelhouse/';
const NOT_A_DIST = 'not a wheel or sdist (.whl, .tar.gz, .zip)';

/** Code-unit order: the same everywhere, unlike localeCompare. */
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

type Scoped = { kind: 'member' } | { kind: 'lock' } | { kind: 'skip' } | { kind: 'ignore'; reason: string };

/** What becomes of a file at `path` (a `/`-separated path inside the wheelhouse). */
function classify(path: string): Scoped {
  const parts = path.split('/');
  const inScope = parts.length === 1 || (parts.length === 2 && parts[0] === 'wheelhouse');
  const name = parts.at(-1)!;
  if (!inScope) return { kind: 'ignore', reason: NOT_IN_SCOPE };
  if (DIST_LIKE.test(name)) return { kind: 'member' };
  if (parts.length === 1 && LOCK.test(name)) return { kind: 'lock' };
  if (parts.length === 1 && REQUIREMENTS.test(name)) return { kind: 'skip' };
  return { kind: 'ignore', reason: NOT_A_DIST };
}

/** Reads `path` (a zip, or a folder) and the lock files in it; its members are opened one at a time later. */
export async function openWheelhouse(path: string): Promise<WheelhouseInput> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new WheelhouseImportError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return info.isDirectory() ? openDirectory(path) : openZip(path);
}

interface Collected {
  members: WheelhouseMember[];
  ignored: Array<{ path: string; reason: string }>;
  locks: Array<{ path: string; read: () => Promise<string> }>;
}

async function finish(kind: WheelhouseInput['kind'], path: string, c: Collected, close: () => Promise<void>): Promise<WheelhouseInput> {
  try {
    const expected = new Map<string, Expectation[]>();
    const locks: string[] = [];
    for (const lock of c.locks.sort((a, b) => byString(a.path, b.path))) {
      const found = parseLock(lock.path, await lock.read());
      if (found === null) continue;
      locks.push(lock.path);
      for (const [p, e] of found) expected.set(p, [...(expected.get(p) ?? []), e]);
    }
    return {
      kind, path, locks, expected,
      members: c.members.sort((a, b) => byString(a.path, b.path)),
      ignored: c.ignored.sort((a, b) => byString(a.path, b.path)),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function openDirectory(dir: string): Promise<WheelhouseInput> {
  const c: Collected = { members: [], ignored: [], locks: [] };
  const list = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(rel === '' ? dir : join(dir, rel));
    } catch (err) {
      throw new WheelhouseImportError(`cannot read the folder ${join(dir, rel)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const name of names) {
      const p = rel === '' ? name : `${rel}/${name}`;
      const full = join(dir, p);
      // stat, not the dirent: a find-links folder may hold symlinks to the files.
      const s = await stat(full).catch(() => null);
      if (s === null) {
        c.ignored.push({ path: p, reason: 'cannot be read (a broken link?)' });
      } else if (s.isDirectory()) {
        if (p === 'wheelhouse') await list(p);
        else c.ignored.push({ path: `${p}/`, reason: 'a folder other than wheelhouse/' });
      } else if (!s.isFile()) {
        c.ignored.push({ path: p, reason: 'not a regular file' });
      } else {
        const what = classify(p);
        if (what.kind === 'member') c.members.push({ path: p, filename: name, size: s.size, open: async () => createReadStream(full, { highWaterMark: 256 * 1024 }) });
        else if (what.kind === 'lock') c.locks.push({ path: p, read: () => readSmall(p, s.size, async () => createReadStream(full)) });
        else if (what.kind === 'ignore') c.ignored.push({ path: p, reason: what.reason });
      }
    }
  };
  await list('');
  return finish('directory', dir, c, async () => undefined);
}

async function openZip(path: string): Promise<WheelhouseInput> {
  let zip: ZipFile;
  try {
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true });
  } catch (err) {
    throw new WheelhouseImportError(`${path} is neither a folder nor a readable zip: ${(err as Error).message}`);
  }
  // A late failure is reported as 'error' after the iteration; without a listener it would end the process.
  zip.on('error', () => {});
  const close = async (): Promise<void> => zip.close();
  const c: Collected = { members: [], ignored: [], locks: [] };
  const open = async (entry: ZipEntry): Promise<Readable> => zip.openReadStreamPromise(entry);
  try {
    const seen = new Set<string>();
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (name.endsWith('/')) continue;
      // Two entries under one name: which bytes would be meant?
      if (seen.has(name)) throw new WheelhouseImportError(`${path}: the zip has two entries named '${name}'; it was not made by a zip tool that can be trusted`);
      seen.add(name);
      const what = classify(name);
      const filename = name.split('/').at(-1)!;
      if (what.kind === 'member') c.members.push({ path: name, filename, size: entry.uncompressedSize, open: () => open(entry) });
      else if (what.kind === 'lock') c.locks.push({ path: name, read: () => readSmall(name, entry.uncompressedSize, () => open(entry)) });
      else if (what.kind === 'ignore') c.ignored.push({ path: name, reason: what.reason });
    }
  } catch (err) {
    await close();
    if (err instanceof WheelhouseImportError) throw err;
    throw new WheelhouseImportError(`${path} is not a readable zip: ${(err as Error).message}`);
  }
  return finish('zip', path, c, close);
}

async function readSmall(path: string, size: number, open: () => Promise<Readable>): Promise<string> {
  if (size > MAX_LOCK_BYTES) throw new WheelhouseImportError(`${path} has ${size} bytes; a wheelhouse's lock file has far fewer`);
  try {
    return await text(await open());
  } catch (err) {
    throw new WheelhouseImportError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

// --- Lock files -----------------------------------------------------------------

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The files a lock file lists by path, with their sha256 and size; null for a
 * `manifest.json` that is not pydepot's (it says nothing we can check). Paths
 * are relative to the lock file, which sits at the top of the wheelhouse.
 * A lock file that does not parse stops the import: the wheelhouse cannot be
 * verified.
 */
function parseLock(path: string, content: string): Map<string, Expectation> | null {
  const found = new Map<string, Expectation>();
  const add = (filePath: unknown, sha256: unknown, size: unknown, where: string): void => {
    if (typeof filePath !== 'string') return;
    const p = posix.normalize(filePath.replace(/\\/g, '/')).replace(/^\.\//, '');
    if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256.toLowerCase())) {
      throw new WheelhouseImportError(`${path}: ${where} (${filePath}) has no sha256 that can be checked`);
    }
    found.set(p, { sha256: sha256.toLowerCase(), size: typeof size === 'number' && Number.isSafeInteger(size) ? size : null, from: path });
  };
  if (path === 'manifest.json') {
    let doc: unknown;
    try {
      doc = JSON.parse(content);
    } catch (err) {
      throw new WheelhouseImportError(`manifest.json is not JSON (${(err as Error).message}); the wheelhouse cannot be verified`);
    }
    const m = doc as { createdBy?: unknown; files?: unknown };
    if (typeof m !== 'object' || m === null || m.createdBy !== 'pydepot' || !Array.isArray(m.files)) return null;
    m.files.forEach((f: { path?: unknown; sha256?: unknown; size?: unknown }, i) => add(f?.path, f?.sha256, f?.size, `files[${i}]`));
    return found;
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(content) as Record<string, unknown>;
  } catch (err) {
    throw new WheelhouseImportError(`${path} is not TOML (${(err as Error).message.split('\n')[0]}); the wheelhouse cannot be verified`);
  }
  const packages = Array.isArray(doc.packages) ? (doc.packages as Array<Record<string, unknown>>) : [];
  packages.forEach((pkg, i) => {
    const files: Array<[unknown, string]> = [];
    if (pkg.sdist) files.push([pkg.sdist, `packages[${i}].sdist`]);
    if (Array.isArray(pkg.wheels)) pkg.wheels.forEach((w, j) => files.push([w, `packages[${i}].wheels[${j}]`]));
    for (const [f, where] of files) {
      const file = f as { path?: unknown; hashes?: { sha256?: unknown }; size?: unknown };
      // A file locked by URL only is not in the wheelhouse: nothing to check here.
      if (typeof file?.path === 'string') add(file.path, file.hashes?.sha256, file.size, where);
    }
  });
  return found;
}

// --- The import ---------------------------------------------------------------------

/**
 * - `added`: stored (a new file);
 * - `skipped`: the same bytes were already there under that name;
 * - `conflict`: a file of that name with other bytes is there (kept);
 * - `refused`: the upload checks, or the wheelhouse's own lock files, refuse it;
 * - `failed`: it could not be read, or a lock file lists it but it is not in the wheelhouse.
 */
export type ImportOutcome = 'added' | 'skipped' | 'conflict' | 'refused' | 'failed';
export const OUTCOMES: readonly ImportOutcome[] = ['added', 'skipped', 'conflict', 'refused', 'failed'];

export interface ImportedFile {
  path: string;
  filename: string;
  outcome: ImportOutcome;
  /** One line: why it was not added (null when it was). */
  reason: string | null;
  /** The normalized project name, when the filename gives one. */
  project: string | null;
  version: string | null;
  size: number;
  /** Of the bytes read (null when they were not read). */
  sha256: string | null;
}

export type ImportProgress = ExportProgress & {
  /** With `file` events: what became of it. */
  outcome?: ImportOutcome;
};

export interface ImportOptions {
  onProgress?: (p: ImportProgress) => void;
}

export interface ImportResult {
  files: ImportedFile[];
  counts: Record<ImportOutcome, number>;
  bytes: Record<ImportOutcome, number>;
  /** Normalized names the repository now hosts because of this wheelhouse (added or already there), sorted. */
  projects: string[];
}

/**
 * The form twine would send for this file: name and version are taken from
 * its filename rather than its METADATA, which saves reading every archive
 * twice, and accepts exactly the same files: the pipeline holds the METADATA
 * to the filename as it holds the form to it (and says which one disagrees).
 * The digest is the one computed while copying, as twine computes it from
 * the file on disk.
 */
function uploadForm(filename: string, dist: { name: string; version: string; kind: 'wheel' | 'sdist' }, temp: TempBlob): UploadForm {
  return {
    fields: new Map([
      [':action', ['file_upload']],
      ['protocol_version', ['1']],
      ['name', [dist.name]],
      ['version', [dist.version]],
      ['filetype', [dist.kind === 'wheel' ? 'bdist_wheel' : 'sdist']],
      ['sha256_digest', [temp.sha256]],
    ]),
    content: { filename, temp },
  };
}

/** Why the bytes read are not what the wheelhouse's lock files list, or null. */
function mismatch(temp: TempBlob, expected: readonly Expectation[]): string | null {
  for (const e of expected) {
    if (e.size !== null && e.size !== temp.size) return `${temp.size} bytes, but ${e.from} lists ${e.size}; the wheelhouse is corrupt or was altered`;
    if (e.sha256 !== temp.sha256) return `sha256 ${temp.sha256}, but ${e.from} lists ${e.sha256}; the wheelhouse is corrupt or was altered`;
  }
  return null;
}

const isRefusal = (err: unknown): err is PydepotError => err instanceof PydepotError && err.status < 500;

/**
 * Imports every member of `input` into `repo`, one at a time, as `actor`.
 * Throws only when the storage fails (the files added until then stay, each
 * one whole); every other problem is one file's outcome.
 */
export async function importWheelhouse(input: WheelhouseInput, repo: LocalRepository, blobs: BlobStore, actor: Actor, opts: ImportOptions = {}): Promise<ImportResult> {
  const bytesTotal = input.members.reduce((n, m) => n + m.size, 0);
  const progress = { filesDone: 0, filesTotal: input.members.length, bytesDone: 0, bytesTotal };
  const report = (event: ExportProgress['event'], filename: string | null, outcome?: ImportOutcome): void =>
    opts.onProgress?.({ event, filename, ...progress, ...(outcome ? { outcome } : {}) });
  const files: ImportedFile[] = [];

  report('start', null);
  for (const member of input.members) {
    let counted = 0;
    let done: ImportedFile;
    try {
      done = await importOne(member, input.expected.get(member.path) ?? [], repo, blobs, actor, (n) => {
        counted += n;
        progress.bytesDone += n;
        report('bytes', member.filename);
      });
    } catch (err) {
      const before = files.filter((f) => f.outcome === 'added').length;
      throw new WheelhouseImportError(`${member.path}: ${(err as Error).message.replace(/\.$/, '')}. The import stopped there; the ${before} file${before === 1 ? '' : 's'} added before it are stored whole, and are skipped when the import is run again`);
    }
    // The bar counts each file's whole size once, however much of it was read.
    progress.bytesDone += member.size - counted;
    progress.filesDone += 1;
    files.push(done);
    report('file', member.filename, done.outcome);
  }

  // A file a lock lists by path that is not in the wheelhouse: it is incomplete.
  const present = new Set(input.members.map((m) => m.path));
  const missing = new Map<string, Expectation>();
  for (const [path, es] of input.expected) if (!present.has(path) && !missing.has(path)) missing.set(path, es[0]!);
  for (const [path, e] of [...missing].sort((a, b) => byString(a[0], b[0]))) {
    const filename = path.split('/').at(-1)!;
    let named: { project: string; version: string } | null = null;
    try {
      const d = parseDistFilename(filename);
      named = { project: d.normalizedName, version: d.version };
    } catch {
      named = null;
    }
    files.push({
      path, filename, outcome: 'failed', reason: `${e.from} lists it (sha256 ${e.sha256}), but it is not in the wheelhouse`,
      project: named?.project ?? null, version: named?.version ?? null, size: e.size ?? 0, sha256: null,
    });
  }

  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<ImportOutcome, number>;
  const bytes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<ImportOutcome, number>;
  for (const f of files) {
    counts[f.outcome] += 1;
    bytes[f.outcome] += f.size;
  }
  const projects = [...new Set(files.filter((f) => (f.outcome === 'added' || f.outcome === 'skipped') && f.project !== null).map((f) => f.project!))].sort(byString);
  return { files, counts, bytes, projects };
}

async function importOne(member: WheelhouseMember, expected: readonly Expectation[], repo: LocalRepository, blobs: BlobStore, actor: Actor, onBytes: (n: number) => void): Promise<ImportedFile> {
  const base = { path: member.path, filename: member.filename, project: null as string | null, version: null as string | null, size: member.size, sha256: null as string | null };
  const outcome = (o: ImportOutcome, reason: string | null): ImportedFile => ({ ...base, outcome: o, reason });

  // What can be refused without reading a byte is.
  let dist;
  try {
    dist = parseDistFilename(member.filename);
  } catch (err) {
    if (isRefusal(err)) return outcome('refused', err.message);
    throw err;
  }
  base.project = dist.normalizedName;
  base.version = dist.version;
  if (member.size > repo.maxFileSize) return outcome('refused', tooLarge(repo));

  // Copied into temporary storage, hashed on the way.
  const writer = blobs.createTemp({ maxBytes: repo.maxFileSize, tooLargeMessage: tooLarge(repo) });
  let readError: Error | null = null;
  let temp: TempBlob | null = null;
  try {
    let source: Readable;
    try {
      source = await member.open();
    } catch (err) {
      await writer.abort();
      return outcome('failed', `cannot be read: ${(err as Error).message}`);
    }
    source.on('error', (err: Error) => { readError ??= err; });
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        onBytes(chunk.length);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(source, counter, writer.stream);
      temp = await writer.finished();
    } catch (err) {
      await writer.abort();
      if (readError !== null) return outcome('failed', `cannot be read: ${(readError as Error).message}`);
      if (isRefusal(err)) return outcome('refused', err.message);
      throw err;
    }
    base.sha256 = temp.sha256;
    base.size = temp.size;

    const wrong = mismatch(temp, expected);
    if (wrong !== null) return outcome('refused', wrong);

    // Never replaced, even where `overwrite` would let an upload replace it: an import adds.
    const existing = await repo.storedFile(dist.filename);
    if (existing && existing.sha256 !== temp.sha256) {
      return outcome('conflict', `'${repo.name}' already has ${dist.filename} with other bytes (sha256 ${existing.sha256}); kept`);
    }

    // From here the temp blob is the pipeline's, then the repository's: each discards it whatever happens.
    const form = uploadForm(dist.filename, dist, temp);
    temp = null;
    let validated;
    try {
      validated = await validateUpload(form, blobs);
    } catch (err) {
      if (isRefusal(err)) return outcome('refused', err.message);
      throw err;
    }
    try {
      const result = await repo.add(validated, actor);
      if (result.outcome === 'unchanged') return outcome('skipped', `already in '${repo.name}' with the same sha256`);
      return outcome('added', null);
    } catch (err) {
      // A concurrent upload of the same name won the race.
      if (err instanceof FileExists) return outcome('conflict', `'${repo.name}' already has ${dist.filename} with other bytes; kept`);
      if (isRefusal(err)) return outcome('refused', err.message);
      throw err;
    }
  } finally {
    if (temp) await blobs.discard(temp);
  }
}

function tooLarge(repo: LocalRepository): string {
  return `File too large. Limit for repository '${repo.name}' is ${repo.maxFileSize} bytes (maxFileSize).`;
}

// --- Names that a remote serves too -----------------------------------------------------

export interface ShadowedName {
  project: string;
  /** Remotes whose page lists files for the name. */
  remotes: string[];
  /**
   * Virtual repositories that reach both the local repository and one of
   * those remotes: `hidden` when the rule keeps the remotes' files out of the
   * merged page (the name is not in their `mergeUpstream`).
   */
  virtuals: Array<{ name: string; hidden: boolean }>;
}

export interface ShadowReport {
  /** Remotes asked (or whose caches were read), by name. */
  remotes: string[];
  shadowed: ShadowedName[];
  /** Remotes that could not be asked, and why; the names left were not checked against them. */
  unchecked: Array<{ remote: string; reason: string }>;
}

/**
 * Which of `projects` (normalized names now hosted in `local`) the
 * configured remotes serve too. `ask`: ask each remote as a page request
 * would (honouring its indexTtl; an offline remote reads its cache only);
 * otherwise only what the remotes' caches already hold. A remote that fails
 * is reported as unchecked, and not asked again.
 */
export async function shadowedNames(projects: readonly string[], local: LocalRepository, registry: Registry, opts: { ask: boolean; concurrency?: number }): Promise<ShadowReport> {
  const remotes = registry.all().filter((r): r is RemoteRepository => r instanceof RemoteRepository);
  const virtuals = registry.all().filter((r): r is VirtualRepository => r instanceof VirtualRepository);
  const unchecked = new Map<string, string>();
  const servedBy = new Map<string, string[]>();

  const serves = async (remote: RemoteRepository, project: string): Promise<boolean> => {
    if (!opts.ask) return ((await remote.cachedPage(project))?.files.length ?? 0) > 0;
    try {
      if ((await remote.projectVersion(project)) === null) return false;
      return ((await remote.projectPage(project))?.files.length ?? 0) > 0;
    } catch (err) {
      // An offline remote that never cached the name knows nothing of it.
      if (err instanceof NotFound) return false;
      throw err;
    }
  };

  const tasks = remotes.flatMap((remote) => projects.map((project) => ({ remote, project })));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const { remote, project } = tasks[next++]!;
      if (unchecked.has(remote.name)) continue;
      try {
        if (await serves(remote, project)) servedBy.set(project, [...(servedBy.get(project) ?? []), remote.name]);
      } catch (err) {
        unchecked.set(remote.name, `${project}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, tasks.length) }, worker));

  const shadowed: ShadowedName[] = await Promise.all([...servedBy].sort((a, b) => byString(a[0], b[0])).map(async ([project, names]) => {
    const sorted = remotes.map((r) => r.name).filter((n) => names.includes(n));
    return {
      project,
      remotes: sorted,
      virtuals: await Promise.all(virtuals
        .filter((v) => v.localNames().includes(local.name) && v.remoteNames().some((n) => sorted.includes(n)))
        .map(async (v) => ({ name: v.name, hidden: (await v.skippedRemotes(project)).some((s) => sorted.includes(s.remote)) }))),
    };
  }));
  return {
    remotes: remotes.map((r) => r.name),
    shadowed,
    unchecked: [...unchecked].map(([remote, reason]) => ({ remote, reason })),
  };
}
