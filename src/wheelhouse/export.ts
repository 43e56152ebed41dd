/**
 * A wheelhouse zip from a plan: every chosen file, streamed from the
 * repository and verified against its sha256 as it goes in, plus what a node
 * installs by.
 *
 * The zip holds, in this order (names sorted, so the order is fixed):
 * - `manifest.json`: the repository, the targets (environment, tag count,
 *   pins), every file with the targets that use it, pydepot's version;
 * - `pylock.toml` (PEP 751) for all targets, or `pylock.<target>.toml` per
 *   target when two targets that no marker tells apart resolve differently;
 * - `requirements.txt`: every pin with one `--hash=sha256:` per file chosen
 *   for it, for every target at once: a project whose pin differs between
 *   targets (or that only some targets need) gets one line per pin, with an
 *   environment marker selecting the targets that take it. Left out, with
 *   the reason in the manifest, when two targets that no marker tells apart
 *   resolve differently;
 * - `requirements-<target>.txt` per target: that target's pins and files
 *   only, without markers (for `pip download --platform …`, which evaluates
 *   markers for the machine it runs on, not the target);
 * - `wheelhouse/<file>`: the union of the files chosen for every target,
 *   flat, each once.
 *
 * Deterministic: the same plan gives the same bytes. Entries are in a fixed
 * order with a fixed time (1980-02-01 00:00:00, written as DOS fields only,
 * so no time zone enters), wheels are STORED and text is
 * deflated (by Node's zlib: the same Node version gives the same bytes), and
 * nothing in the text depends on the clock: the manifest's `resolvedAt` is
 * what the caller passes (null by default).
 *
 * Verified and atomic: each file's bytes are hashed as they are streamed in;
 * a size or sha256 that differs from the index, a file that cannot be
 * opened, or a read that fails aborts the export before the zip's central
 * directory is written. The zip is written to `<out>.partial-<random>` in
 * the same folder, fsync'd, and renamed to `<out>` only once complete; on
 * any failure the partial file is removed, so nothing is left.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { stringify as tomlStringify } from 'smol-toml';
import yazl from 'yazl';
import type { IndexFile } from '../pypi/pages.ts';
import { compareVersions } from '../pypi/versions.ts';
import type { Repository } from '../repos/types.ts';
import type { Target } from '../resolve/tags.ts';
import type { Plan, TargetPlan } from './plan.ts';

/**
 * yazl takes each entry's CRC-32 from buffer-crc32, a byte-at-a-time loop in
 * JavaScript: the export's largest cost, more than both of its sha256 passes
 * (a 1 GB export here: 9-10 s of CPU with it, 5 s without). zlib's crc32
 * (Node >= 20.15; see engines) gives the same value several times faster.
 * yazl looks `unsigned` up on that module at every call, so replacing it on
 * the instance yazl itself resolves is enough; every user of that instance
 * gets the same numbers as before, sooner.
 */
export function nativeCrc32ForYazl(): void {
  const fromYazl = createRequire(createRequire(import.meta.url).resolve('yazl'));
  const bufferCrc32 = fromYazl('buffer-crc32') as { unsigned: (buf: Buffer | string, previous?: number) => number };
  bufferCrc32.unsigned = (buf, previous) => crc32(buf, previous ?? 0);
}
nativeCrc32ForYazl();

/** Why an export stopped. Nothing was written. */
export class WheelhouseExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WheelhouseExportError';
  }
}

export interface ExportProgress {
  /** `start`: before the first file; `bytes`: more of `filename` was read and verified so far; `file`: `filename` is in, whole and verified. */
  event: 'start' | 'bytes' | 'file';
  filename: string | null;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface ExportOptions {
  onProgress?: (p: ExportProgress) => void;
  /** Written in the manifest and the file headers. */
  pydepotVersion?: string;
  /** The manifest's `resolvedAt`. null (default) keeps the zip a function of the plan alone. */
  resolvedAt?: Date | null;
  /** What was asked, for the manifest: the requirement and constraint files (or the lock) as named, and the options. */
  request?: { requirements: string[]; constraints: string[]; lock?: string; allowSdist: boolean; pre: boolean };
}

export interface TargetSummary {
  name: string;
  pins: number;
  files: number;
  bytes: number;
}

export interface ExportResult {
  path: string;
  /** Size and sha256 of the zip itself. */
  bytes: number;
  sha256: string;
  /** Distinct files under `wheelhouse/`, and their bytes. */
  files: number;
  fileBytes: number;
  /** The other entries (manifest, lock files, requirements files), in zip order. */
  documents: string[];
  /** `requirements.txt`, or null when the targets could not share one (`requirementsNote` says why). */
  requirements: string | null;
  requirementsNote: string | null;
  targets: TargetSummary[];
}

/**
 * Every entry's time: 1980-02-01 00:00:00, built from local fields (yazl
 * writes DOS fields from local time), so the bytes are the same in every
 * time zone. A month past the zip epoch, as Gradle's reproducible archives
 * do: yazl clamps dates before its own `new Date(1980, 0, 1)`, which another
 * time zone could put on the other side. Made at each export, since a Date
 * made once is another wall time after a change of TZ.
 */
function entryOptions(): { mtime: Date; forceDosTimestamp: true; mode: number } {
  return { mtime: new Date(1980, 1, 1, 0, 0, 0), forceDosTimestamp: true, mode: 0o100644 };
}

// --- What goes in ---------------------------------------------------------------

/** One file of the wheelhouse and who takes it. */
interface Chosen {
  file: IndexFile;
  project: string;
  version: string;
  targets: string[];
}

/** Code-unit order: the same everywhere, unlike localeCompare. */
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The union of every target's files, each once (filename and sha256), sorted by filename. */
function chooseFiles(plan: Plan): Chosen[] {
  const byName = new Map<string, Chosen>();
  for (const { target, pins } of plan.targets) {
    for (const pin of pins) {
      const seen = byName.get(pin.file.filename);
      if (!seen) {
        byName.set(pin.file.filename, { file: pin.file, project: pin.name, version: pin.version, targets: [target.name] });
      } else if (seen.file.sha256 !== pin.file.sha256) {
        throw new WheelhouseExportError(`${pin.file.filename} was chosen with two different contents (sha256 ${seen.file.sha256} for ${seen.targets.join(', ')}, ${pin.file.sha256} for ${target.name}); a flat wheelhouse can hold only one`);
      } else if (!seen.targets.includes(target.name)) {
        seen.targets.push(target.name);
      }
    }
  }
  return [...byName.values()].sort((a, b) => byString(a.file.filename, b.file.filename));
}

/** A file name part for a target: its name with anything but `[A-Za-z0-9_-]` (dots too: PEP 751's `pylock.<name>.toml`) as `_`. */
export function targetFileStem(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

// --- Markers that select targets ------------------------------------------------

/**
 * The marker variables that tell targets apart on a real node, most telling
 * first. Left out: `python_full_version`, `implementation_version`,
 * `platform_release` and `platform_version`, which a shorthand target cannot
 * know (`3.11.0`, empty), so a marker on them would not hold on the node.
 */
const SELECTOR_KEYS = ['platform_machine', 'python_version', 'sys_platform', 'implementation_name', 'platform_python_implementation', 'platform_system', 'os_name'] as const;
type SelectorKey = (typeof SELECTOR_KEYS)[number];
/** What PEP 751's `environments` says of every target, plus any selector key on which targets differ. */
const ENVIRONMENT_KEYS: readonly SelectorKey[] = ['implementation_name', 'python_version', 'sys_platform', 'platform_machine'];

interface Selectors {
  /** The fewest selector keys (greedy, in SELECTOR_KEYS order) that tell apart every pair of targets that can be. */
  keys: SelectorKey[];
  /** Pairs of targets no selector key tells apart. */
  alike: Array<[string, string]>;
}

function selectors(targets: readonly Target[]): Selectors {
  let pairs: Array<[Target, Target]> = [];
  targets.forEach((a, i) => targets.slice(i + 1).forEach((b) => pairs.push([a, b])));
  const keys: SelectorKey[] = [];
  for (const key of SELECTOR_KEYS) {
    if (pairs.some(([a, b]) => a.env[key] !== b.env[key])) {
      keys.push(key);
      pairs = pairs.filter(([a, b]) => a.env[key] === b.env[key]);
    }
  }
  return { keys, alike: pairs.map(([a, b]) => [a.name, b.name]) };
}

function quoteMarkerValue(value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

function conjunction(env: Target['env'], keys: readonly SelectorKey[]): string {
  return keys.map((k) => `${k} == ${quoteMarkerValue(env[k])}`).join(' and ');
}

/** The marker that holds on the nodes of `some` of `all` targets; null when it is all of them. */
function markerFor(some: readonly Target[], all: readonly Target[], keys: readonly SelectorKey[]): string | null {
  if (some.length === all.length || keys.length === 0) return null;
  const parts = [...new Set(some.map((t) => conjunction(t.env, keys)))];
  if (parts.length === 1) return parts[0] as string;
  return parts.map((p) => (keys.length > 1 ? `(${p})` : p)).join(' or ');
}

/** The PEP 751 `environments` entry of a target. */
function environmentMarker(t: Target, selectorKeys: readonly SelectorKey[]): string {
  const keys = [...ENVIRONMENT_KEYS, ...selectorKeys.filter((k) => !ENVIRONMENT_KEYS.includes(k))];
  return conjunction(t.env, keys);
}

// --- requirements.txt -----------------------------------------------------------

interface Line {
  name: string;
  extras: string[];
  version: string;
  marker: string | null;
  hashes: string[];
}

/** `name[extras]==version ; marker \` + one `--hash=sha256:` line per file, as pip-compile writes them. */
function formatLine(l: Line): string {
  const extras = l.extras.length > 0 ? `[${l.extras.join(',')}]` : '';
  const head = `${l.name}${extras}==${l.version}${l.marker ? ` ; ${l.marker}` : ''}`;
  return [head, ...l.hashes.map((h) => `    --hash=sha256:${h}`)].join(' \\\n');
}

function sortLines(lines: Line[]): Line[] {
  return lines.sort((a, b) => byString(a.name, b.name) || compareVersions(a.version, b.version) || byString(a.marker ?? '', b.marker ?? ''));
}

const lineKey = (version: string, extras: readonly string[]): string => `${version}[${extras.join(',')}]`;

/** One target's pins as requirement lines: its own files' hashes, no markers. */
function targetLines(tp: TargetPlan): Line[] {
  return sortLines(tp.pins.map((p) => ({ name: p.name, extras: [...p.extras], version: p.version, marker: null, hashes: [p.file.sha256] })));
}

/** Every target's pins in one file: same pin, one line with every target's file; different pins, a line each with its marker. */
function combinedLines(plan: Plan, keys: readonly SelectorKey[]): Line[] {
  const all = plan.targets.map((tp) => tp.target);
  const groups = new Map<string, { name: string; version: string; extras: string[]; targets: Target[]; hashes: Set<string> }>();
  for (const { target, pins } of plan.targets) {
    for (const p of pins) {
      const key = `${p.name}\u0000${lineKey(p.version, p.extras)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { name: p.name, version: p.version, extras: [...p.extras], targets: [], hashes: new Set() }));
      g.targets.push(target);
      g.hashes.add(p.file.sha256);
    }
  }
  return sortLines([...groups.values()].map((g) => ({
    name: g.name, extras: g.extras, version: g.version, marker: markerFor(g.targets, all, keys), hashes: [...g.hashes].sort(byString),
  })));
}

/**
 * Why one requirements.txt (and one pylock.toml) cannot serve every target,
 * or null when it can: two targets that no marker tells apart resolved to
 * different pins.
 */
function conflict(plan: Plan, alike: ReadonlyArray<[string, string]>): string | null {
  const pinsOf = new Map(plan.targets.map((tp) => [tp.target.name, new Map(tp.pins.map((p) => [p.name, lineKey(p.version, p.extras)]))]));
  for (const [a, b] of alike) {
    const pa = pinsOf.get(a) as Map<string, string>;
    const pb = pinsOf.get(b) as Map<string, string>;
    const names = [...new Set([...pa.keys(), ...pb.keys()])].sort(byString);
    const differs = names.find((n) => pa.get(n) !== pb.get(n));
    if (differs !== undefined) {
      const show = (v: string | undefined): string => (v === undefined ? 'nothing' : v.replace(/\[\]$/, ''));
      return `${a} and ${b} differ in no environment marker a node can test, but resolve differently (${differs}: ${show(pa.get(differs))} vs ${show(pb.get(differs))}): use the requirements-<target>.txt of each node`;
    }
  }
  return null;
}

function header(lines: string[]): string {
  return lines.map((l) => `# ${l}`.trimEnd()).join('\n');
}

// --- pylock.toml (PEP 751) ------------------------------------------------------

function minPython(targets: readonly Target[]): string {
  const versions = targets.map((t) => t.env.python_version.split('.').map(Number) as [number, number]);
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const [major, minor] = versions[0] as [number, number];
  return `>=${major}.${minor}`;
}

function pylockFile(f: IndexFile): Record<string, unknown> {
  const entry: Record<string, unknown> = { name: f.filename };
  if (f.uploadTime) {
    const at = new Date(f.uploadTime);
    if (!Number.isNaN(at.getTime())) entry['upload-time'] = at;
  }
  entry.path = `wheelhouse/${f.filename}`;
  entry.size = f.size;
  entry.hashes = { sha256: f.sha256 };
  return entry;
}

/** A PEP 751 lock of `tps` (a subset of the plan's targets), whose file paths point into the zip. */
function pylockText(plan: Plan, tps: readonly TargetPlan[], keys: readonly SelectorKey[], version: string): string {
  const targets = tps.map((tp) => tp.target);
  const packages = new Map<string, { name: string; version: string; targets: Target[]; files: Map<string, IndexFile> }>();
  for (const { target, pins } of tps) {
    for (const p of pins) {
      const key = `${p.name}\u0000${p.version}`;
      let pkg = packages.get(key);
      if (!pkg) packages.set(key, (pkg = { name: p.name, version: p.version, targets: [], files: new Map() }));
      if (!pkg.targets.includes(target)) pkg.targets.push(target);
      pkg.files.set(p.file.filename, p.file);
    }
  }
  const sorted = [...packages.values()].sort((a, b) => byString(a.name, b.name) || compareVersions(a.version, b.version));
  const doc: Record<string, unknown> = {
    'lock-version': '1.0',
    environments: [...new Set(targets.map((t) => environmentMarker(t, keys)))],
    'requires-python': minPython(targets),
    'created-by': 'pydepot',
    packages: sorted.map((pkg) => {
      const files = [...pkg.files.values()].sort((a, b) => byString(a.filename, b.filename));
      const entry: Record<string, unknown> = { name: pkg.name, version: pkg.version };
      const marker = markerFor(pkg.targets, targets, keys);
      if (marker !== null) entry.marker = marker;
      const requiresPython = files.find((f) => f.requiresPython)?.requiresPython;
      if (requiresPython) entry['requires-python'] = requiresPython;
      const wheels = files.filter((f) => f.filename.endsWith('.whl'));
      const sdist = files.find((f) => !f.filename.endsWith('.whl'));
      if (sdist) entry.sdist = pylockFile(sdist);
      if (wheels.length > 0) entry.wheels = wheels.map(pylockFile);
      return entry;
    }),
    tool: { pydepot: { version, repository: plan.repo, targets: targets.map((t) => t.name) } },
  };
  const head = header([
    `PEP 751 lock of a pydepot wheelhouse (repository '${plan.repo}'), for ${targets.map((t) => t.name).join(', ')}.`,
    'Every path is relative to this file: wheelhouse/<file>.',
  ]);
  return `${head}\n${tomlStringify(doc)}\n`;
}

// --- manifest.json --------------------------------------------------------------

function manifestText(plan: Plan, chosen: readonly Chosen[], docs: { requirements: string | null; note: string | null; perTarget: Map<string, string>; pylock: string[] }, keys: readonly SelectorKey[], opts: ExportOptions): string {
  const all = plan.targets.map((tp) => tp.target);
  const uploadTimes = chosen.map((c) => c.file.uploadTime).filter((t): t is string => t !== null).sort(byString);
  const manifest = {
    manifestVersion: 1,
    createdBy: 'pydepot',
    pydepotVersion: opts.pydepotVersion ?? 'unknown',
    repository: plan.repo,
    resolvedAt: opts.resolvedAt ? opts.resolvedAt.toISOString() : null,
    newestUploadTime: uploadTimes.at(-1) ?? null,
    request: opts.request ?? null,
    requirements: docs.requirements,
    requirementsNote: docs.note,
    pylock: docs.pylock,
    targets: plan.targets.map(({ target, pins }) => ({
      name: target.name,
      marker: markerFor([target], all, keys),
      env: target.env,
      tagCount: target.tags.length,
      bestTag: target.tags[0] ?? null,
      requirements: docs.perTarget.get(target.name),
      files: pins.length,
      bytes: pins.reduce((n, p) => n + p.file.size, 0),
      pins: pins.map((p) => ({
        name: p.name,
        displayName: p.displayName,
        version: p.version,
        extras: p.extras,
        file: `wheelhouse/${p.file.filename}`,
        sha256: p.file.sha256,
        size: p.file.size,
        requiredBy: p.requiredBy,
      })),
    })),
    files: chosen.map((c) => ({
      path: `wheelhouse/${c.file.filename}`,
      project: c.project,
      version: c.version,
      sha256: c.file.sha256,
      size: c.file.size,
      uploadTime: c.file.uploadTime,
      targets: c.targets,
    })),
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

// --- The documents together -----------------------------------------------------

interface Documents {
  /** Entry name → text, in zip order. */
  entries: Array<[string, string]>;
  requirements: string | null;
  note: string | null;
}

function documents(plan: Plan, chosen: readonly Chosen[], opts: ExportOptions): Documents {
  const version = opts.pydepotVersion ?? 'unknown';
  const all = plan.targets.map((tp) => tp.target);
  const { keys, alike } = selectors(all);
  const note = conflict(plan, alike);
  const stems = new Map<string, string>();
  for (const t of all) {
    const stem = targetFileStem(t.name);
    const clash = [...stems].find(([, s]) => s === stem);
    if (clash) throw new WheelhouseExportError(`targets '${clash[0]}' and '${t.name}' would share the file name requirements-${stem}.txt: name them apart`);
    stems.set(t.name, stem);
  }
  const targetList = all.map((t) => {
    const marker = markerFor([t], all, keys);
    return marker ? `${t.name} (${marker})` : t.name;
  });
  const entries: Array<[string, string]> = [];
  const perTarget = new Map<string, string>();
  const pylock: string[] = [];

  if (note === null) {
    pylock.push('pylock.toml');
    entries.push(['pylock.toml', pylockText(plan, plan.targets, keys, version)]);
  } else {
    for (const tp of plan.targets) {
      const name = `pylock.${stems.get(tp.target.name)}.toml`;
      pylock.push(name);
      entries.push([name, pylockText(plan, [tp], keys, version)]);
    }
  }

  let requirements: string | null = null;
  if (note === null) {
    requirements = 'requirements.txt';
    const text = [
      header([
        `Written by pydepot ${version} from repository '${plan.repo}': exact pins, every file by its sha256 (pip's hash-checking mode).`,
        `Targets: ${targetList.join(', ')}.`,
        'On each node, from the unzipped wheelhouse:',
        '  pip install --no-index --find-links wheelhouse -r requirements.txt',
      ]),
      ...combinedLines(plan, keys).map(formatLine),
    ].join('\n');
    entries.push([requirements, `${text}\n`]);
  }
  for (const tp of plan.targets) {
    const name = `requirements-${stems.get(tp.target.name)}.txt`;
    perTarget.set(tp.target.name, name);
    const text = [
      header([
        `Written by pydepot ${version} from repository '${plan.repo}': exact pins, every file by its sha256 (pip's hash-checking mode).`,
        `Target: ${tp.target.name} only (no markers: it holds what that target needs, whatever machine reads it).`,
        `  pip install --no-index --find-links wheelhouse -r ${name}`,
      ]),
      ...targetLines(tp).map(formatLine),
    ].join('\n');
    entries.push([name, `${text}\n`]);
  }
  entries.unshift(['manifest.json', manifestText(plan, chosen, { requirements, note, perTarget, pylock }, keys, opts)]);
  entries.sort((a, b) => byString(a[0], b[0]));
  return { entries, requirements, note };
}

// --- Writing ----------------------------------------------------------------------

/** Passes bytes on while hashing them; fails before its end when the size or sha256 is not the index's. */
function verifier(file: IndexFile, onBytes: (n: number) => void): Transform {
  const hash = createHash('sha256');
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > file.size) {
        callback(new WheelhouseExportError(`${file.filename}: more than the ${file.size} bytes the index lists; the stored copy is not the indexed file`));
        return;
      }
      hash.update(chunk);
      onBytes(chunk.length);
      callback(null, chunk);
    },
    flush(callback) {
      if (seen !== file.size) {
        callback(new WheelhouseExportError(`${file.filename}: ${seen} bytes, but the index lists ${file.size}; the stored copy is not the indexed file`));
        return;
      }
      const got = hash.digest('hex');
      if (got !== file.sha256) {
        callback(new WheelhouseExportError(`${file.filename}: sha256 ${got}, but the index lists ${file.sha256}; the stored copy is corrupt`));
        return;
      }
      callback();
    },
  });
}

/** Counts and hashes what is written. */
function tap(): Transform & { bytes: number; digest: () => string } {
  const hash = createHash('sha256');
  const t = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      t.bytes += chunk.length;
      callback(null, chunk);
    },
  }) as Transform & { bytes: number; digest: () => string };
  t.bytes = 0;
  t.digest = () => hash.digest('hex');
  return t;
}

/**
 * Writes the wheelhouse of `plan` to `outPath`, reading every file from
 * `repo` (the repository the plan was resolved against). Refuses a plan with
 * failures. Throws WheelhouseExportError (or the repository's error) and
 * leaves nothing at `outPath` or beside it when anything goes wrong.
 */
export async function exportWheelhouse(plan: Plan, repo: Repository, outPath: string, opts: ExportOptions = {}): Promise<ExportResult> {
  if (plan.failures.length > 0) {
    throw new WheelhouseExportError(`cannot export: ${plan.failures.map((f) => `${f.target}: ${f.reasons.join('; ')}`).join(' | ')}`);
  }
  if (plan.targets.length === 0) throw new WheelhouseExportError('cannot export: no target');
  const chosen = chooseFiles(plan);
  const docs = documents(plan, chosen, opts);
  const bytesTotal = chosen.reduce((n, c) => n + c.file.size, 0);
  const progress = { filesDone: 0, filesTotal: chosen.length, bytesDone: 0, bytesTotal };
  const report = (event: ExportProgress['event'], filename: string | null): void => opts.onProgress?.({ event, filename, ...progress });

  const partial = `${outPath}.partial-${randomBytes(6).toString('hex')}`;
  const zip = new yazl.ZipFile();
  const out = tap();
  const file = createWriteStream(partial, { flags: 'wx', flush: true });
  let failure: unknown = null;
  let reading: Readable | null = null;
  const fail = (err: unknown): void => {
    if (failure !== null) return;
    failure = err;
    reading?.destroy();
    // Ends the pipeline below with this error; what was written is removed after.
    (zip.outputStream as Readable).destroy(err instanceof Error ? err : new Error(String(err)));
  };
  zip.on('error', fail);
  const writing = pipeline(zip.outputStream as Readable, out, file);

  const entry = entryOptions();
  try {
    for (const [name, text] of docs.entries) zip.addBuffer(Buffer.from(text, 'utf8'), name, { ...entry, compress: true });
    report('start', null);
    for (const c of chosen) {
      const f = c.file;
      // STORED: a wheel is a zip already. Opened only when its turn comes (yazl writes one entry at a time).
      zip.addReadStreamLazy(`wheelhouse/${f.filename}`, { ...entry, compress: false, size: f.size }, (callback) => {
        repo.openFile(f.sha256, f.filename).then((handle) => {
          if (!handle) throw new WheelhouseExportError(`${f.filename} (${c.project} ${c.version}) is listed in '${plan.repo}' but cannot be read from it`);
          if (handle.size !== f.size) throw new WheelhouseExportError(`${f.filename}: the stored copy has ${handle.size} bytes, but the index lists ${f.size}`);
          const check = verifier(f, (n) => {
            progress.bytesDone += n;
            report('bytes', f.filename);
          });
          const source = handle.open();
          reading = source;
          source.on('error', (err) => fail(new WheelhouseExportError(`${f.filename}: reading it failed: ${err.message}`)));
          check.on('error', fail);
          check.on('end', () => {
            progress.filesDone += 1;
            report('file', f.filename);
          });
          callback(null, source.pipe(check));
        }).catch(fail);
      });
    }
    zip.end();
    await writing;
    if (failure !== null) throw failure;
    await rename(partial, outPath);
  } catch (err) {
    // Close the file before removing it; any error of the pipeline is already the one recorded.
    file.destroy();
    await writing.catch(() => {});
    await rm(partial, { force: true });
    throw failure ?? err;
  }
  return {
    path: outPath,
    bytes: out.bytes,
    sha256: out.digest(),
    files: chosen.length,
    fileBytes: bytesTotal,
    documents: docs.entries.map(([name]) => name),
    requirements: docs.requirements,
    requirementsNote: docs.note,
    targets: plan.targets.map(({ target, pins }) => ({
      name: target.name,
      pins: pins.length,
      files: new Set(pins.map((p) => p.file.filename)).size,
      bytes: pins.reduce((n, p) => n + p.file.size, 0),
    })),
  };
}
