/**
 * `pydepot wheels build -r requirements.txt --index URL --upload-to URL`,
 * run on a node of the platform that lacks wheels: src/wheelhouse/build.ts
 * resolves for this node's own Python and builds, checks and uploads every
 * pin that has only an sdist. This command talks to pydepot over HTTP only
 * (no config, no storage): it reads the options and credentials, shows
 * progress, and closes with a table (or JSON). Exit 1 when anything failed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPylockFilename } from '../resolve/pylock.ts';
import { UpstreamClient } from '../upstream/client.ts';
import { IndexReader } from '../upstream/index-reader.ts';
import { buildWheels, type BuildEvent, type PinReport, type UploadTarget } from '../wheelhouse/build.ts';
import { indexSource } from '../wheelhouse/index-source.ts';
import { auditwheelVersion, pipEnvironment, pipVersion, probePython } from '../wheelhouse/node-python.ts';
import { printErr, printOut, terminalBar, UsageError, type Io } from './context.ts';
import { formatBytes, readRequirements, seconds } from './wheelhouse.ts';

export interface WheelsBuildOptions {
  requirement: string[];
  constraint?: string[];
  index: string;
  uploadTo?: string;
  token?: string;
  python: string;
  platform?: string;
  pre?: boolean;
  dryRun?: boolean;
  /** commander's `--no-build-isolation`: false when given. */
  buildIsolation: boolean;
  auditwheel?: boolean;
  timeout: string;
  buildTimeout: string;
  verbose?: boolean;
  json?: boolean;
}

// --- Options ------------------------------------------------------------------------

function positiveSeconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} ${value}: expected a number of seconds above 0`);
  return n;
}

/** An http(s) URL that ends in `/`, as index and upload URLs are joined onto. */
function baseUrl(text: string, flag: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${flag} ${text}: not a URL (e.g. https://depot.example/pypi/simple/)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag} ${text}: only http and https URLs`);
  if (url.search || url.hash) throw new UsageError(`${flag} ${text}: a URL without ?query or #fragment`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/**
 * The URL with its credentials: its own user:password if it has them, else
 * the token as pip and twine send one (user `__token__`), else none.
 */
function withCredentials(url: URL, token: string | undefined): URL {
  const u = new URL(url.href);
  if (u.username === '' && token) {
    u.username = '__token__';
    u.password = encodeURIComponent(token);
  }
  return u;
}

/** A URL for messages: no credentials. */
function shown(url: URL): string {
  const u = new URL(url.href);
  u.username = '';
  u.password = '';
  return u.href;
}

function client(url: URL, timeoutSeconds: number): UpstreamClient {
  return new UpstreamClient({ url: url.href, timeoutSeconds, username: null, password: null });
}

// --- Output -------------------------------------------------------------------------

function outcomeText(r: PinReport): string {
  switch (r.outcome) {
    case 'built': return `built+uploaded ${r.wheel} (${formatBytes(r.size ?? 0)}, built in ${seconds((r.buildSeconds ?? 0) * 1000)})`;
    case 'has-wheel': return 'skipped: has a wheel';
    case 'in-cache': return `skipped: already in cache (${r.wheel})`;
    case 'would-build': return 'would build';
    case 'failed': return `failed (${r.stage})`;
  }
}

function printTable(io: Io, pins: PinReport[]): void {
  const rows = [['project', 'version', 'file', 'outcome'], ...pins.map((p) => [p.displayName, p.version, p.filename, outcomeText(p)])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) printOut(io, r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

function counts(pins: PinReport[]) {
  const n = (o: PinReport['outcome']) => pins.filter((p) => p.outcome === o).length;
  return { built: n('built'), hasWheel: n('has-wheel'), inCache: n('in-cache'), wouldBuild: n('would-build'), failed: n('failed') };
}

function summaryLine(pins: PinReport[], dryRun: boolean): string {
  const c = counts(pins);
  const skipped = `skipped ${c.hasWheel + c.inCache} (${c.hasWheel} ha${c.hasWheel === 1 ? 's' : 've'} a wheel, ${c.inCache} already in cache)`;
  if (dryRun) return `would build ${c.wouldBuild}; ${skipped}`;
  return `built and uploaded ${c.built}, ${skipped}, failed ${c.failed}`;
}

const STAGE_WORDS = { download: 'downloading', build: 'building', repair: 'repairing (auditwheel)', check: 'checking', upload: 'uploading' } as const;

/** A bar on a terminal (builds done, the pin and its stage, time); plain lines otherwise, or with --verbose. */
function progressReporter(io: Io, verbose: boolean): { onEvent: (e: BuildEvent) => void; stop: () => void } {
  const started = Date.now();
  if (io.isTTY && !verbose) {
    const bar = terminalBar(io, { format: 'building [{bar}] {value}/{total} | {pin}: {stage} | {elapsed}', fps: 5 });
    const elapsed = () => seconds(Date.now() - started);
    return {
      onEvent(e) {
        if (e.event === 'stage') {
          bar.show(e.index, e.total, { pin: `${e.pin.displayName} ${e.pin.version}`, stage: STAGE_WORDS[e.stage], elapsed: elapsed() });
        } else if (e.event === 'done') {
          bar.update(e.index + 1, { stage: e.report.outcome === 'failed' ? 'failed' : 'done', elapsed: elapsed() });
        }
      },
      stop: () => bar.stop(),
    };
  }
  return {
    onEvent(e) {
      const at = (i: number, total: number) => `[${i + 1}/${total}]`;
      if (e.event === 'stage') printErr(io, `${at(e.index, e.total)} ${e.pin.displayName} ${e.pin.version}: ${STAGE_WORDS[e.stage]}${e.stage === 'download' ? ` ${e.pin.file.filename}` : ''}`);
      if (e.event === 'done') printErr(io, `${at(e.index, e.total)} ${e.report.displayName} ${e.report.version}: ${outcomeText(e.report)}`);
      if (e.event === 'output') io.stderr.write(e.chunk);
    },
    stop() {},
  };
}

// --- The command --------------------------------------------------------------------

export async function wheelsBuild(opts: WheelsBuildOptions, io: Io): Promise<void> {
  // Everything that can be checked before running anything is checked first.
  const lock = opts.requirement.find((p) => isPylockFilename(p));
  if (lock !== undefined) throw new UsageError(`${lock} is a lock (PEP 751): wheels build resolves requirements files; give the requirements it was locked from`);
  const reqs = readRequirements(opts.requirement, opts.constraint ?? [], io);
  const dryRun = opts.dryRun === true;
  const token = opts.token ?? (io.env.PYDEPOT_TOKEN || undefined);
  const timeout = positiveSeconds(opts.timeout, '--timeout');
  const buildTimeoutMs = positiveSeconds(opts.buildTimeout, '--build-timeout') * 1000;
  const index = withCredentials(baseUrl(opts.index, '--index'), token);
  if (opts.uploadTo === undefined && !dryRun) throw new UsageError('give --upload-to (the wheel cache\'s upload URL, e.g. https://depot.example/cache/), or --dry-run');
  const uploadTo = opts.uploadTo === undefined ? null : withCredentials(baseUrl(opts.uploadTo, '--upload-to'), token);

  const node = await probePython(opts.python, io.env, opts.platform);
  printErr(io, `${opts.python}: ${node.description} (target ${node.target.name}, ${node.target.tags.length} tags)`);
  if (!dryRun) printErr(io, `${opts.python}: ${await pipVersion(opts.python, io.env)}`);
  if (!dryRun && opts.auditwheel) printErr(io, `${opts.python}: ${await auditwheelVersion(opts.python, io.env)}`);

  const work = await mkdtemp(join(tmpdir(), 'pydepot-wheels-'));
  const indexReader = new IndexReader(client(index, timeout));
  const upload: UploadTarget | null = uploadTo === null ? null : {
    client: client(uploadTo, timeout),
    url: shown(uploadTo),
    index: new IndexReader(client(new URL('simple/', uploadTo), timeout)),
  };
  const source = indexSource(indexReader, join(work, 'downloads'));
  const progress = progressReporter(io, opts.verbose === true);
  try {
    printErr(io, `resolving ${reqs.requirements.length} requirement${reqs.requirements.length === 1 ? '' : 's'} from ${shown(index)} for ${node.target.name} (sdists allowed)`);
    const resolveStart = Date.now();
    const result = await buildWheels({
      reqs,
      pre: opts.pre === true || reqs.options.pre,
      python: opts.python,
      target: node.target,
      source,
      upload,
      dryRun,
      pipEnv: pipEnvironment(io.env, { indexUrl: index.href, cacheDir: join(work, 'pip-cache'), tmpDir: work }),
      workDir: work,
      buildIsolation: opts.buildIsolation,
      buildTimeoutMs,
      auditwheel: opts.auditwheel === true,
      streamOutput: opts.verbose === true,
      onEvent(e) {
        if (e.event === 'resolved' && e.plan.failures.length === 0) {
          printErr(io, `resolved ${e.plan.targets[0]!.pins.length} pins in ${seconds(Date.now() - resolveStart)}; ${dryRun ? 'would build' : 'to build'}: ${e.toBuild}`);
        }
        progress.onEvent(e);
      },
    });
    progress.stop();

    const base = { dryRun, python: { executable: opts.python, description: node.description }, target: node.target.name, index: shown(index), uploadTo: uploadTo && shown(uploadTo) };
    if (result.plan.failures.length > 0) {
      const reasons = result.plan.failures.flatMap((f) => f.reasons);
      if (opts.json) printOut(io, JSON.stringify({ ok: false, ...base, resolutionFailures: reasons, counts: counts([]), pins: [] }, null, 2));
      for (const r of reasons) printErr(io, `${node.target.name}: ${r}`);
      throw new UsageError(`cannot resolve for ${node.target.name} (${reasons[0] ?? 'no reason given'}); nothing was built`);
    }

    const failed = result.pins.filter((p) => p.outcome === 'failed');
    if (opts.json) {
      printOut(io, JSON.stringify({ ok: failed.length === 0, ...base, counts: counts(result.pins), pins: result.pins }, null, 2));
    } else {
      printTable(io, result.pins);
      printOut(io, summaryLine(result.pins, dryRun));
    }
    for (const [project, n] of source.unverifiable) printErr(io, `warning: ${n} file${n === 1 ? '' : 's'} of ${project} left out: the index gives no sha256 to verify ${n === 1 ? 'it' : 'them'} by`);
    for (const f of failed) {
      printErr(io, `failed: ${f.displayName} ${f.version} (${f.stage}): ${f.reason}`);
      if (f.log.length > 0) {
        printErr(io, `  last lines of the build log:`);
        for (const line of f.log) printErr(io, `  | ${line}`);
      }
    }
    if (failed.length > 0) {
      throw new UsageError(`${failed.length} wheel${failed.length === 1 ? '' : 's'} could not be built or uploaded: ${failed.map((f) => `${f.displayName} ${f.version}`).join(', ')}`);
    }
  } finally {
    progress.stop();
    await Promise.all([indexReader.close(), upload?.client.close(), upload?.index?.close()]);
    await rm(work, { recursive: true, force: true });
  }
}
