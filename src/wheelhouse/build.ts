/**
 * `pydepot wheels build`, the work: resolve requirements for this node as
 * its pip would (sdists allowed, since a pin with no wheel for the node is
 * the point), then, for every pin whose chosen file is an sdist, download it
 * through the index (verified), build it with the node's Python, repair it
 * with auditwheel when asked, check what came out (one wheel, the pin's
 * name and version outside and in METADATA, tags this node's pip accepts)
 * and upload it as twine would. A build that
 * fails is reported with the end of its log; the others go on.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseCoreMetadata, type CoreMetadata } from '../pypi/core-metadata.ts';
import { parseDistFilename, type DistFilename } from '../pypi/filenames.ts';
import { normalizeName } from '../pypi/names.ts';
import { versionsEqual } from '../pypi/versions.ts';
import type { ParsedRequirements } from '../resolve/requirements.ts';
import type { Pin } from '../resolve/resolver.ts';
import { bestWheel, type Target } from '../resolve/tags.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import type { IndexReader } from '../upstream/index-reader.ts';
import { uploadFile } from '../upstream/legacy-upload.ts';
import { metadataInFile, type IndexSource } from './index-source.ts';
import { buildLogTail, pipWheel, runProcess } from './node-python.ts';
import { planFrom, type Plan } from './plan.ts';

export type Stage = 'download' | 'build' | 'repair' | 'check' | 'upload';

export interface PinReport {
  name: string;
  displayName: string;
  version: string;
  /** The file resolution chose: a wheel (nothing to build) or the sdist. */
  filename: string;
  /**
   * built: built and uploaded; has-wheel: the index has a wheel for this node;
   * in-cache: the upload target has one already (found before building, or
   * the upload found it); would-build: --dry-run; failed: see stage/reason/log.
   */
  outcome: 'built' | 'has-wheel' | 'in-cache' | 'would-build' | 'failed';
  /** The wheel built, or found in the cache. */
  wheel: string | null;
  sha256: string | null;
  size: number | null;
  buildSeconds: number | null;
  stage: Stage | null;
  /** Why it failed, or how it was found in the cache. */
  reason: string | null;
  /** The last lines of the build's output (failed builds). */
  log: string[];
}

export type BuildEvent =
  | { event: 'resolved'; plan: Plan; toBuild: number }
  | { event: 'stage'; index: number; total: number; pin: Pin; stage: Stage }
  | { event: 'done'; index: number; total: number; report: PinReport }
  | { event: 'output'; chunk: string };

export interface UploadTarget {
  client: UpstreamClient;
  /** The repository's upload URL (`…/<repo>/`), without credentials. */
  url: string;
  /** Its index (`…/<repo>/simple/`), asked first whether a wheel is there already; null: do not ask. */
  index: IndexReader | null;
}

export interface WheelsBuildRequest {
  reqs: ParsedRequirements;
  pre: boolean;
  python: string;
  target: Target;
  source: IndexSource;
  /** null with dryRun. */
  upload: UploadTarget | null;
  dryRun: boolean;
  /** From pipEnvironment. */
  pipEnv: NodeJS.ProcessEnv;
  workDir: string;
  buildIsolation: boolean;
  buildTimeoutMs: number;
  /** Run `auditwheel repair` on a wheel tagged `linux_<arch>` (auditwheel installed in `python`). */
  auditwheel?: boolean;
  onEvent?: (e: BuildEvent) => void;
  /** Pass the build's output on as it comes (--verbose). */
  streamOutput?: boolean;
}

export interface WheelsBuildResult {
  plan: Plan;
  pins: PinReport[];
}

/** Resolution failed for the node: the plan holds the reasons, and nothing was built. */
export async function buildWheels(req: WheelsBuildRequest): Promise<WheelsBuildResult> {
  const plan = await planFrom(req.source, req.source.url, req.reqs, [req.target], { allowSdist: true, pre: req.pre });
  const pins = plan.targets[0]?.pins ?? [];
  const reports: PinReport[] = [];
  const toBuild: Pin[] = [];
  for (const pin of pins) {
    if (pin.file.filename.endsWith('.whl')) {
      reports.push(report(pin, 'has-wheel'));
      continue;
    }
    const cached = await inCache(req, pin);
    if (cached !== null) reports.push({ ...report(pin, 'in-cache'), wheel: cached, reason: 'found in the upload target before building' });
    else if (req.dryRun) reports.push(report(pin, 'would-build'));
    else toBuild.push(pin);
  }
  const planned = req.dryRun ? reports.filter((r) => r.outcome === 'would-build').length : toBuild.length;
  req.onEvent?.({ event: 'resolved', plan, toBuild: plan.failures.length > 0 ? 0 : planned });
  if (plan.failures.length > 0) return { plan, pins: [] };

  for (const [i, pin] of toBuild.entries()) {
    const r = await buildOne(req, pin, i, toBuild.length);
    reports.push(r);
    req.onEvent?.({ event: 'done', index: i, total: toBuild.length, report: r });
  }
  reports.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { plan, pins: reports };
}

function report(pin: Pin, outcome: PinReport['outcome']): PinReport {
  return {
    name: pin.name, displayName: pin.displayName, version: pin.version, filename: pin.file.filename, outcome,
    wheel: outcome === 'has-wheel' ? pin.file.filename : null, sha256: null, size: null, buildSeconds: null, stage: null, reason: null, log: [],
  };
}

/**
 * A wheel of this very release that this node accepts, on the upload
 * target's own index: building again would only produce other bytes under a
 * filename already taken. Any failure to ask means "not known to be there".
 */
async function inCache(req: WheelsBuildRequest, pin: Pin): Promise<string | null> {
  if (!req.upload?.index) return null;
  let page;
  try {
    page = await req.upload.index.projectPage(pin.name);
  } catch {
    return null;
  }
  if (!page) return null;
  const wheels = page.files.map((f) => f.filename).filter((filename) => {
    try {
      const d = parseDistFilename(filename);
      return d.kind === 'wheel' && d.normalizedName === pin.name && versionsEqual(d.version, pin.version);
    } catch {
      return false;
    }
  });
  return bestWheel(wheels, req.target);
}

async function buildOne(req: WheelsBuildRequest, pin: Pin, index: number, total: number): Promise<PinReport> {
  const stage = (s: Stage) => req.onEvent?.({ event: 'stage', index, total, pin, stage: s });
  const failed = (s: Stage, reason: string, log: string[] = []): PinReport => ({ ...report(pin, 'failed'), stage: s, reason, log });

  stage('download');
  let sdist: string;
  try {
    sdist = await req.source.download(pin.name, pin.file);
  } catch (err) {
    return failed('download', (err as Error).message);
  }

  stage('build');
  const dir = join(req.workDir, 'builds', `${index + 1}-${pin.file.sha256.slice(0, 12)}`);
  const wheelDir = join(dir, 'wheel');
  await mkdir(wheelDir, { recursive: true });
  const started = Date.now();
  const built = await pipWheel(req.python, sdist, wheelDir, {
    env: req.pipEnv,
    cwd: dir,
    timeoutMs: req.buildTimeoutMs,
    buildIsolation: req.buildIsolation,
    onOutput: req.streamOutput ? (chunk) => req.onEvent?.({ event: 'output', chunk }) : undefined,
  });
  const buildSeconds = (Date.now() - started) / 1000;
  if (built.spawnError !== null) return failed('build', `cannot run ${req.python} (${built.spawnError})`);
  if (built.timedOut) return failed('build', `pip wheel did not finish in ${Math.round(req.buildTimeoutMs / 1000)} s and was killed (--build-timeout)`, buildLogTail(built.output));
  if (built.code !== 0) return failed('build', `pip wheel exited with code ${built.code ?? 'none (killed)'}`, buildLogTail(built.output));

  let wheels = (await readdir(wheelDir)).filter((f) => f.endsWith('.whl'));
  if (wheels.length !== 1) {
    stage('check');
    return failed('check', wheels.length === 0 ? 'pip wheel succeeded but wrote no wheel' : `pip wheel wrote ${wheels.length} wheels (${wheels.join(', ')}); expected one`, buildLogTail(built.output));
  }
  let path = join(wheelDir, wheels[0]!);

  if (req.auditwheel && isLinuxNative(wheels[0]!)) {
    // A wheel linked against this node's libraries: auditwheel copies them in and retags it manylinux.
    stage('repair');
    const repairedDir = join(dir, 'repaired');
    await mkdir(repairedDir);
    const repaired = await runProcess(req.python, ['-m', 'auditwheel', 'repair', '--wheel-dir', repairedDir, path], {
      env: req.pipEnv, cwd: dir, timeoutMs: req.buildTimeoutMs,
      onOutput: req.streamOutput ? (chunk) => req.onEvent?.({ event: 'output', chunk }) : undefined,
    });
    if (repaired.code !== 0) return failed('repair', `auditwheel repair ${wheels[0]} ${repaired.spawnError ?? (repaired.timedOut ? 'timed out' : `exited with code ${repaired.code}`)}`, buildLogTail(repaired.output));
    wheels = (await readdir(repairedDir)).filter((f) => f.endsWith('.whl'));
    if (wheels.length !== 1) return failed('repair', `auditwheel repair wrote ${wheels.length} wheels (${wheels.join(', ') || 'none'}); expected one`, buildLogTail(repaired.output));
    path = join(repairedDir, wheels[0]!);
  }

  stage('check');
  let checked: { dist: DistFilename; metadata: CoreMetadata };
  try {
    checked = await checkWheel(path, wheels[0]!, pin, req.target);
  } catch (err) {
    return failed('check', (err as Error).message);
  }
  const { sha256, size } = await digest(path);
  const done: PinReport = { ...report(pin, 'built'), wheel: wheels[0]!, sha256, size, buildSeconds };

  stage('upload');
  const up = req.upload!;
  const r = await uploadFile(up.client, up.url, path, checked.dist, checked.metadata, sha256);
  switch (r.outcome) {
    case 'uploaded':
      return done;
    case 'identical':
      return { ...done, outcome: 'in-cache', reason: 'the upload target has these very bytes already' };
    case 'exists':
      // Another node built it first (the same filename, other bytes): it serves this node as well.
      return { ...done, outcome: 'in-cache', reason: `the upload target has another build of ${wheels[0]} (${r.reason})` };
    case 'refused': {
      // The wheel cache refuses non-portable tags, saying to repair: say how this command does it.
      const hint = !req.auditwheel && isLinuxNative(wheels[0]!) && /auditwheel|portable/i.test(r.reason) ? ' (--auditwheel repairs it into a manylinux wheel before uploading)' : '';
      return { ...failed('upload', `${up.url} refused ${wheels[0]}${r.status ? ` (${r.status})` : ''}: ${r.reason}${hint}`), wheel: wheels[0]!, sha256, size, buildSeconds };
    }
  }
}

/** Tagged for this kind of Linux machine only (`linux_x86_64`), not a portable manylinux/musllinux. */
function isLinuxNative(filename: string): boolean {
  const d = parseDistFilename(filename);
  return d.kind === 'wheel' && d.platformTags.some((p) => p.startsWith('linux_'));
}

/** The built wheel is this pin's, outside (filename) and in (METADATA), and this node's pip would install it. */
async function checkWheel(path: string, filename: string, pin: Pin, target: Target): Promise<{ dist: DistFilename; metadata: CoreMetadata }> {
  const dist = parseDistFilename(filename);
  if (dist.kind !== 'wheel') throw new Error(`${filename} is not a wheel`);
  if (dist.normalizedName !== pin.name || !versionsEqual(dist.version, pin.version)) {
    throw new Error(`the build produced ${filename}, which is not ${pin.displayName} ${pin.version}`);
  }
  const metadata = parseCoreMetadata((await metadataInFile(path, filename, pin.name)).toString('utf8'));
  if (normalizeName(metadata.name) !== pin.name || !versionsEqual(metadata.version, pin.version)) {
    throw new Error(`the METADATA of ${filename} says ${metadata.name} ${metadata.version}, not ${pin.displayName} ${pin.version}`);
  }
  if (bestWheel([filename], target) === null) {
    throw new Error(`${filename} is tagged ${dist.pythonTags.join('.')}-${dist.abiTags.join('.')}-${dist.platformTags.join('.')}, which this node's pip does not install (its best tag is ${target.tags[0]})`);
  }
  return { dist, metadata };
}

async function digest(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return { sha256: hash.digest('hex'), size: (await stat(path)).size };
}
