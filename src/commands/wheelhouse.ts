/**
 * `pydepot wheelhouse export`: resolve requirements files for each target,
 * as pip on that target would (or take a PEP 751 lock's files as they are),
 * and write one verified, reproducible zip (src/wheelhouse/export.ts) that
 * every node of a cluster installs from offline. Nothing is written unless
 * every target resolves and every file verifies.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { InvalidRequirement } from '../errors.ts';
import { isPylockFilename, parsePylock, type Pylock } from '../resolve/pylock.ts';
import { parseRequirementsFile, type ParsedRequirements, type ReadRequirementsFile } from '../resolve/requirements.ts';
import { parseTargetShorthand, targetFromJson, type Target } from '../resolve/tags.ts';
import { formatBytes as formatByteCount } from '../format.ts';
import { parseDate } from '../time.ts';
import { exportWheelhouse, type ExportProgress, type ExportResult } from '../wheelhouse/export.ts';
import { planFromLock, planWheelhouse, type Plan } from '../wheelhouse/plan.ts';
import type { Repository } from '../repos/types.ts';
import { printErr, printOut, terminalBar, UsageError, withRegistry, type CommonOptions, type Io } from './context.ts';

/** What `wheelhouse export` and `prefetch` share: the requirements (or a lock), the targets, the repository. */
export interface WheelhouseResolveOptions extends CommonOptions {
  requirement?: string[];
  constraint?: string[];
  /** A PEP 751 lock, whatever its file name (`-r pylock.toml` is one too). */
  lock?: string;
  repo?: string;
  target?: string[];
  targetFile?: string[];
  allowSdist?: boolean;
  pre?: boolean;
  json?: boolean;
}

export interface WheelhouseExportOptions extends WheelhouseResolveOptions {
  output: string;
  resolvedAt?: string;
}

/** package.json of this installation (src/commands/ and dist/commands/ are both two levels down). */
function pydepotVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

// --- Inputs ---------------------------------------------------------------------

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** `-r`/`-c` lines inside a file name a path relative to that file, as pip reads them. */
const readIncluded: ReadRequirementsFile = (path, relativeTo) => {
  const full = normalize(isAbsolute(path) ? path : join(dirname(relativeTo), path));
  try {
    return { name: full, text: readFileSync(full, 'utf8') };
  } catch (err) {
    throw new Error((err as NodeJS.ErrnoException).code === 'ENOENT' ? `no such file ${full}` : (err as Error).message);
  }
};

/** Every `-r` and `--constraint` file, parsed and merged; every problem printed before the error. */
export function readRequirements(requirements: readonly string[], constraints: readonly string[], io: Io): ParsedRequirements {
  const merged: ParsedRequirements = { requirements: [], constraints: [], warnings: [], options: { pre: false, preferBinary: false, requireHashes: false } };
  const problems: string[] = [];
  const files = [...requirements.map((p) => ({ p, constraint: false })), ...constraints.map((p) => ({ p, constraint: true }))];
  for (const { p, constraint } of files) {
    const text = readText(p, constraint ? 'constraints file' : 'requirements file');
    try {
      const parsed = parseRequirementsFile({ name: normalize(p), text }, { readFile: readIncluded, constraints: constraint });
      merged.requirements.push(...parsed.requirements);
      merged.constraints.push(...parsed.constraints);
      merged.warnings.push(...parsed.warnings);
      merged.options.pre ||= parsed.options.pre;
      merged.options.preferBinary ||= parsed.options.preferBinary;
      merged.options.requireHashes ||= parsed.options.requireHashes;
    } catch (err) {
      if (!(err instanceof InvalidRequirement)) throw err;
      problems.push(...err.problems);
    }
  }
  for (const w of merged.warnings) printErr(io, `warning: ${w}`);
  if (problems.length > 0) {
    if (problems.length > 1) for (const p of problems) printErr(io, `  ${p}`);
    throw new InvalidRequirement(problems);
  }
  if (merged.requirements.length === 0) throw new UsageError(`${requirements.join(', ')}: no requirement to resolve`);
  return merged;
}

/** What is resolved: requirements files, or one lock whose files are taken as they are. */
export type WheelhouseInput =
  | { kind: 'requirements'; reqs: ParsedRequirements; files: string[]; constraints: string[] }
  | { kind: 'lock'; lock: Pylock; file: string };

/**
 * The input of `export` and `prefetch`. A lock is `--lock FILE`, or a `-r`
 * file named as PEP 751 names locks (`pylock.toml`, `pylock.<name>.toml`),
 * as pip 26.1 and uv read `-r pylock.toml`. A lock is exact, so it stands
 * alone: one lock, and no requirements files, constraints or --pre with it.
 */
export function readInput(opts: WheelhouseResolveOptions, io: Io): WheelhouseInput {
  const requirements = opts.requirement ?? [];
  const constraints = opts.constraint ?? [];
  const locks = [...(opts.lock === undefined ? [] : [opts.lock]), ...requirements.filter((p) => isPylockFilename(p))];
  const files = requirements.filter((p) => !isPylockFilename(p));
  if (locks.length === 0) {
    if (files.length === 0) throw new UsageError('give -r requirements.txt, or a lock: --lock pylock.toml (or -r pylock.toml)');
    return { kind: 'requirements', reqs: readRequirements(files, constraints, io), files, constraints };
  }
  if (locks.length > 1) throw new UsageError(`one lock at a time (${locks.join(', ')}): export each, or lock them together`);
  const file = locks[0]!;
  if (files.length > 0 || constraints.length > 0) {
    throw new UsageError(`${file} is a lock, which is exact: it cannot be combined with requirements files or --constraint (${[...files, ...constraints].join(', ')})`);
  }
  if (opts.pre) throw new UsageError(`--pre does not apply to a lock (${file} pins every file already)`);
  const text = readText(file, 'lock file');
  let lock: Pylock;
  try {
    lock = parsePylock(text, normalize(file));
  } catch (err) {
    if (err instanceof InvalidRequirement && err.problems.length > 1) for (const p of err.problems) printErr(io, `  ${p}`);
    throw err;
  }
  for (const w of lock.warnings) printErr(io, `warning: ${w}`);
  if (lock.packages.length === 0) throw new UsageError(`${file}: no package to export`);
  return { kind: 'lock', lock, file: normalize(file) };
}

export function readTargets(shorthands: readonly string[], files: readonly string[]): Target[] {
  const targets = shorthands.map((s) => parseTargetShorthand(s));
  for (const f of files) {
    let json: unknown;
    try {
      json = JSON.parse(readText(f, 'target file'));
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`--target-file ${f} is not JSON (${(err as Error).message}); print it on the node with the one-liner in the README`);
    }
    // The file's own "name" labels it; else the file's name without .json.
    const named = typeof json === 'object' && json !== null && 'name' in json;
    targets.push(targetFromJson(json, named ? {} : { name: basename(f).replace(/\.json$/i, '') }));
  }
  if (targets.length === 0) throw new UsageError('give at least one --target (e.g. cp311-manylinux_2_17_x86_64) or --target-file');
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.name)) throw new UsageError(`target ${t.name} is given twice`);
    seen.add(t.name);
  }
  return targets;
}

/** `--resolved-at`, else SOURCE_DATE_EPOCH, else null (the manifest then holds no time, and the zip depends on its inputs alone). */
function resolvedAtOf(text: string | undefined, env: NodeJS.ProcessEnv): Date | null {
  const epoch = (value: string, what: string): Date => {
    if (!/^\d+$/.test(value)) throw new UsageError(`${what} ${value}: expected whole seconds since 1970`);
    return new Date(Number(value) * 1000);
  };
  if (text === undefined) {
    const sde = env.SOURCE_DATE_EPOCH;
    return sde === undefined || sde === '' ? null : epoch(sde, 'SOURCE_DATE_EPOCH');
  }
  if (text === 'now') return new Date();
  if (/^\d+$/.test(text)) return epoch(text, '--resolved-at');
  const d = parseDate(text);
  if (!d) throw new UsageError(`--resolved-at ${text}: expected now, a date (2026-11-30T12:00Z) or seconds since 1970`);
  return d;
}

function outputPath(output: string): string {
  const path = resolve(output);
  let isDir = false;
  try {
    isDir = statSync(dirname(path)).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new UsageError(`-o ${output}: the folder ${dirname(path)} does not exist`);
  return path;
}

// --- Output -----------------------------------------------------------------------

/** Bytes as pip shows them (kB, MB: decimal units), in every CLI table and progress line. */
export const formatBytes = (n: number): string => formatByteCount(n, 'decimal');

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Rows as aligned columns, two spaces apart; `rightAligned`: the indexes of numeric columns. */
export function table(rows: string[][], rightAligned: ReadonlySet<number>): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

export interface TargetRow {
  name: string;
  pins: number | null;
  files: number | null;
  bytes: number | null;
  failures: string[];
}

function targetRows(plan: Plan, result: ExportResult | null): TargetRow[] {
  return [
    ...plan.targets.map(({ target, pins }) => {
      const s = result?.targets.find((t) => t.name === target.name);
      return { name: target.name, pins: pins.length, files: s?.files ?? pins.length, bytes: s?.bytes ?? pins.reduce((n, p) => n + p.file.size, 0), failures: [] };
    }),
    ...plan.failures.map((f) => ({ name: f.target, pins: null, files: null, bytes: null, failures: f.reasons })),
  ];
}

/** The closing table: one row per target, then an optional total row (label, files, bytes). */
export function printTable(io: Io, rows: TargetRow[], total: { label: string; files: number; bytes: number } | null): void {
  const cells = [
    ['target', 'pins', 'files', 'bytes', 'failures'],
    ...rows.map((r) => [
      r.name,
      r.pins === null ? '-' : String(r.pins),
      r.files === null ? '-' : String(r.files),
      r.bytes === null ? '-' : formatBytes(r.bytes),
      r.failures.length === 0 ? 'none' : `${r.failures.length}: ${r.failures[0]}${r.failures.length > 1 ? ' …' : ''}`,
    ]),
  ];
  if (total) cells.push([total.label, '', String(total.files), formatBytes(total.bytes), '']);
  for (const line of table(cells, new Set([1, 2, 3]))) printOut(io, line);
}

/**
 * A progress bar on a terminal (files, bytes, rate, ETA); plain lines, one per
 * file, otherwise, ending with the file's `outcome` when the event has one.
 */
export function progressReporter(io: Io, verb = 'exporting'): { onProgress: (p: ExportProgress & { outcome?: string }) => void; stop: () => void } {
  const started = Date.now();
  const rate = (bytes: number): string => `${formatBytes(Math.round(bytes / Math.max((Date.now() - started) / 1000, 0.001)))}/s`;
  if (io.isTTY) {
    const bar = terminalBar(io, {
      format: `${verb} [{bar}] {percentage}% | {filesDone}/{filesTotal} files | {bytes} | {rate} | ETA {eta_formatted}`,
      etaBuffer: 100,
      fps: 10,
    });
    return {
      onProgress(p) {
        bar.show(p.bytesDone, Math.max(p.bytesTotal, 1), { filesDone: p.filesDone, filesTotal: p.filesTotal, bytes: `${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}`, rate: rate(p.bytesDone) });
      },
      stop: () => bar.stop(),
    };
  }
  return {
    onProgress(p) {
      if (p.event === 'start') printErr(io, `${verb} ${p.filesTotal} file${p.filesTotal === 1 ? '' : 's'} (${formatBytes(p.bytesTotal)})`);
      if (p.event === 'file') printErr(io, `  [${p.filesDone}/${p.filesTotal}] ${p.filename}  ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}  ${rate(p.bytesDone)}${p.outcome ? `  ${p.outcome}` : ''}`);
    },
    stop() {},
  };
}

// --- Resolution, shared by export and prefetch ------------------------------------------

export interface Resolved {
  plan: Plan;
  resolveMs: number;
  /** When resolution started, for the summary. */
  resolvedWallClock: Date;
}

/**
 * Resolves for every target and prints what it does; when a target cannot
 * be resolved, prints the table (or the `--json` summary) and the reasons,
 * and throws (exit 1), the message ending with `consequence`.
 */
export async function resolveForTargets(repo: Repository, input: WheelhouseInput, targets: Target[], opts: WheelhouseResolveOptions, io: Io, consequence: string): Promise<Resolved> {
  const resolveStart = Date.now();
  const resolvedWallClock = new Date();
  const forTargets = `in '${repo.name}' for ${targets.map((t) => t.name).join(', ')}`;
  let plan: Plan;
  if (input.kind === 'lock') {
    const n = input.lock.packages.length;
    printErr(io, `selecting from ${input.file} (${n} package${n === 1 ? '' : 's'}, no resolution: a lock is exact) ${forTargets}`);
    plan = await planFromLock(repo, input.lock, targets, { allowSdist: opts.allowSdist === true });
  } else {
    const n = input.reqs.requirements.length;
    printErr(io, `resolving ${n} requirement${n === 1 ? '' : 's'} ${forTargets}`);
    plan = await planWheelhouse(repo, input.reqs, targets, { allowSdist: opts.allowSdist === true, pre: opts.pre === true });
  }
  const resolveMs = Date.now() - resolveStart;
  if (plan.failures.length > 0) {
    const rows = targetRows(plan, null);
    if (opts.json) {
      printOut(io, JSON.stringify({ ok: false, output: null, repository: repo.name, resolvedAt: resolvedWallClock.toISOString(), resolveSeconds: resolveMs / 1000, targets: rows }, null, 2));
    } else {
      printTable(io, rows, null);
    }
    for (const f of plan.failures) for (const r of f.reasons) printErr(io, `${f.target}: ${r}`);
    const first = plan.failures[0]!;
    throw new UsageError(`cannot resolve for ${plan.failures.map((f) => f.target).join(', ')} (${first.reasons[0] ?? 'no reason given'}); ${consequence}`);
  }
  return { plan, resolveMs, resolvedWallClock };
}

// --- The command --------------------------------------------------------------------

export async function wheelhouseExport(opts: WheelhouseExportOptions, io: Io): Promise<void> {
  // Everything that can be checked without the storage is checked first.
  const input = readInput(opts, io);
  const targets = readTargets(opts.target ?? [], opts.targetFile ?? []);
  const resolvedAt = resolvedAtOf(opts.resolvedAt, io.env);
  const out = outputPath(opts.output);
  const version = pydepotVersion();

  await withRegistry(opts, io, async (registry) => {
    const repo = registry.get(opts.repo ?? registry.defaultName);
    const { plan, resolveMs, resolvedWallClock } = await resolveForTargets(repo, input, targets, opts, io, 'nothing was written');

    const exportStart = Date.now();
    const progress = progressReporter(io);
    let result: ExportResult;
    try {
      result = await exportWheelhouse(plan, repo, out, {
        onProgress: progress.onProgress,
        pydepotVersion: version,
        resolvedAt,
        request: input.kind === 'lock'
          ? { requirements: [], constraints: [], lock: input.file, allowSdist: opts.allowSdist === true, pre: false }
          : { requirements: input.files.map((p) => normalize(p)), constraints: input.constraints.map((p) => normalize(p)), allowSdist: opts.allowSdist === true, pre: opts.pre === true || input.reqs.options.pre },
      });
    } catch (err) {
      progress.stop();
      const message = `${(err as Error).message}; nothing was written`;
      if (opts.json) {
        printOut(io, JSON.stringify({ ok: false, output: null, error: message, repository: repo.name, resolvedAt: resolvedWallClock.toISOString(), resolveSeconds: resolveMs / 1000, targets: targetRows(plan, null) }, null, 2));
      }
      throw new UsageError(message);
    }
    progress.stop();
    const exportMs = Date.now() - exportStart;

    if (opts.json) {
      printOut(io, JSON.stringify({
        ok: true,
        output: result.path,
        bytes: result.bytes,
        sha256: result.sha256,
        files: result.files,
        fileBytes: result.fileBytes,
        documents: result.documents,
        requirements: result.requirements,
        requirementsNote: result.requirementsNote,
        repository: repo.name,
        resolvedAt: resolvedWallClock.toISOString(),
        resolveSeconds: resolveMs / 1000,
        exportSeconds: exportMs / 1000,
        targets: targetRows(plan, result),
      }, null, 2));
      return;
    }
    printTable(io, targetRows(plan, result), { label: 'wheelhouse/ (all targets)', files: result.files, bytes: result.fileBytes });
    printOut(io, `wrote ${result.path}: ${formatBytes(result.bytes)}, sha256 ${result.sha256}`);
    printOut(io, `resolved in ${seconds(resolveMs)}, exported in ${seconds(exportMs)}; every file verified against its sha256`);
    if (result.requirementsNote) printOut(io, `no combined requirements.txt: ${result.requirementsNote}`);
    printOut(io, `on a node: unzip it, then pip install --no-index --find-links wheelhouse -r ${result.requirements ?? 'requirements-<target>.txt'}`);
  });
}
