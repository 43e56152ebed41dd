/**
 * Wheelhouses (issue 11), three measurements side by side:
 * 1. `pydepot wheelhouse export` of a 30-project graph for two targets, from
 *    a remote repository's warm cache, against the same job done the way
 *    people do it today: one `pip download --platform …` per target through
 *    the same pydepot index, with no pip cache and with a warm one
 *    (target: pydepot <= 0.3x pip);
 * 2. planWheelhouse alone, in this process, for 200 pinned requirements and
 *    four targets, warm (target: under 1 s);
 * 3. the export of a BENCH_WHEELHOUSE_GB (default 2) GB wheelhouse: the
 *    export process's peak RSS (target < 200 MB) and its throughput against a
 *    bare yazl script copying the same blobs into a zip (target >= 0.8x), and,
 *    report only, against the same script with zlib's CRC-32 as the export
 *    has it (what verification, documents and start-up cost).
 * The CLI runs as a user runs it: `node dist/main.js` (built by `tsc -p
 * tsconfig.build.json` at the start of the group), timed from spawn to exit,
 * start-up and resolution included.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import yauzl from 'yauzl';
import { parseConfig } from '../src/config/schema.ts';
import { createLogger } from '../src/log.ts';
import { createMetrics } from '../src/metrics.ts';
import { parseCoreMetadata } from '../src/pypi/core-metadata.ts';
import { LocalRepository } from '../src/repos/local.ts';
import { Registry } from '../src/repos/registry.ts';
import { parseRequirementsFile } from '../src/resolve/requirements.ts';
import { parseTargetShorthand } from '../src/resolve/tags.ts';
import { openStorage, type Storage } from '../src/storage/open.ts';
import { validateUpload } from '../src/upload/pipeline.ts';
import { planWheelhouse } from '../src/wheelhouse/plan.ts';
import { buildWheel } from '../test/helpers/dists.ts';
import { cleanEnv } from '../test/helpers/clients.ts';
import { ROOT, startPydepot, startUpstream, stopChild } from './children.ts';
import { check, MB, median, pythonWithPip, settle } from './helpers.ts';
import { writeBigWheel } from './make-wheel.ts';
import { uploadFields } from './page-project.ts';
import type { ScenarioContext } from './report.ts';
import type { UpstreamEntry, UpstreamManifest } from './upstream-child.ts';

const RUNS = 3; // export vs pip, and the big export: median of 3, alternating
const RESOLVE_RUNS = 5;
const BIG_GB = Number(process.env.BENCH_WHEELHOUSE_GB ?? 2);
const BIG_WHEELS = 20;
const EXPORT_RATIO = 0.3;
const RESOLVE_LIMIT_S = 1;
const BIG_RSS_LIMIT = 200e6;
const BIG_THROUGHPUT_RATIO = 0.8;
const CHILD_TIMEOUT_MS = 300_000;
const UPLOAD_TIME = '2025-01-01T00:00:00.000Z';
const ACTOR = { user: 'bench', tokenId: null, address: null };

const PIP_TARGETS = [
  { name: 'cp311-manylinux_2_17_x86_64', platform: 'manylinux_2_17_x86_64' },
  { name: 'cp311-manylinux_2_17_aarch64', platform: 'manylinux_2_17_aarch64' },
];
const RESOLVE_TARGETS = ['cp311-manylinux_2_17_x86_64', 'cp311-manylinux_2_17_aarch64', 'cp312-manylinux_2_28_x86_64', 'cp310-macosx_11_0_arm64'];

// --- Running things -------------------------------------------------------------

interface Timed {
  seconds: number;
  code: number | null;
  stdout: string;
  stderr: string;
  /** From bench/peak-rss.mjs, when the command was node with it preloaded. */
  peakRss: number | null;
}

/** Runs a command to its end, timed from spawn to exit; killed after CHILD_TIMEOUT_MS. */
async function timed(command: string, args: string[], env: NodeJS.ProcessEnv = process.env, rssFile?: string): Promise<Timed> {
  if (rssFile) await rm(rssFile, { force: true });
  const t0 = performance.now();
  const result = await new Promise<Omit<Timed, 'peakRss'>>((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: rssFile ? { ...env, BENCH_PEAK_RSS_FILE: rssFile } : env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ seconds: (performance.now() - t0) / 1000, code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
  const peakRss = rssFile ? Number(await readFile(rssFile, 'utf8').catch(() => 'NaN')) : null;
  return { ...result, peakRss };
}

const describe = (what: string, r: Timed): string => `${what} exited ${r.code}\n${r.stderr.slice(-2000)}${r.stdout.slice(-2000)}`;

/** `pydepot …` as installed: the built dist, no TypeScript loader. */
const PYDEPOT = join(ROOT, 'dist', 'main.js');
const PEAK_RSS_HOOK = join(ROOT, 'bench', 'peak-rss.mjs');
const pydepot = (args: string[], rssFile?: string): Promise<Timed> =>
  timed(process.execPath, [...(rssFile ? ['--import', PEAK_RSS_HOOK] : []), PYDEPOT, ...args], process.env, rssFile);

function buildDist(): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  check(r.status === 0, `tsc -p tsconfig.build.json: ${r.stdout}${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

/** The entry names of a zip (its central directory only). */
function zipNames(path: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const names: string[] = [];
      zip.on('entry', (e: yauzl.Entry) => { names.push(e.fileName); zip.readEntry(); });
      zip.on('end', () => resolve(names));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

async function writeConfig(path: string, storage: string, repositories: Record<string, unknown>, defaultRepository: string): Promise<void> {
  await writeFile(path, stringifyYaml({ storage, defaultRepository, log: { level: 'warn' }, repositories }));
}

/** The storage folder in this process, with its repositories, as the CLI opens it. */
async function openRegistry(storageDir: string, repositories: Record<string, unknown>): Promise<{ storage: Storage; registry: Registry; close: () => Promise<void> }> {
  const config = parseConfig({ storage: storageDir, log: { level: 'silent' }, repositories });
  const storage = await openStorage(storageDir);
  const registry = new Registry(config, { ...storage, logger: createLogger('silent', 'stderr'), metrics: createMetrics() });
  return {
    storage,
    registry,
    close: async () => {
      await registry.close();
      await storage.store.close();
    },
  };
}

const pad = (i: number, width: number): string => String(i).padStart(width, '0');

// --- 1. Export against a pip download loop ----------------------------------------

interface GraphProject {
  name: string;
  native: boolean;
  deps: string[];
}

const GRAPH_VERSIONS = ['1.0.0', '1.1.0', '2.0.0'];

/**
 * 30 projects, a third pure and two thirds with one wheel per arch, three
 * versions each (the newest, which everything resolves to, 0.2 to 3 MB;
 * the older ones small). whgraph-00 reaches every other project (a binary
 * tree, plus an edge to i+7 so some are needed twice).
 */
function graph(n: number): GraphProject[] {
  const name = (i: number): string => `whgraph-${pad(i, 2)}`;
  return Array.from({ length: n }, (_, i) => ({
    name: name(i),
    native: i % 3 !== 0,
    deps: [...new Set([2 * i + 1, 2 * i + 2, i + 7])].filter((j) => j < n).map(name),
  }));
}

/** Deterministic sizes between 200 kB and 3 MB. */
const graphBytes = (i: number): number => 200_000 + ((i * 7_919_003) % 2_800_000);

async function buildGraph(dir: string): Promise<{ manifest: UpstreamManifest; files: number; bytes: number }> {
  await mkdir(dir, { recursive: true });
  const projects: UpstreamManifest['projects'] = {};
  let files = 0;
  let bytes = 0;
  for (const [i, p] of graph(30).entries()) {
    const entries: UpstreamEntry[] = [];
    for (const version of GRAPH_VERSIONS) {
      const newest = version === GRAPH_VERSIONS.at(-1);
      const platforms = p.native ? ['manylinux_2_17_x86_64', 'manylinux_2_17_aarch64'] : ['any'];
      for (const platform of platforms) {
        const dist = await buildWheel({
          name: p.name,
          version,
          requiresPython: '>=3.8',
          requiresDist: p.deps.map((d, k) => (k === 2 ? `${d}>=1.0 ; python_version >= "3.8"` : `${d}>=1.0`)),
          padBytes: newest ? graphBytes(i) : 20_000,
          ...(p.native ? { pythonTag: 'cp311', abiTag: 'cp311', platformTag: platform } : {}),
        });
        const path = join(dir, dist.filename);
        await writeFile(path, dist.bytes);
        await writeFile(`${path}.metadata`, dist.metadata);
        files++;
        bytes += dist.bytes.length;
        entries.push({
          filename: dist.filename, version, sha256: dist.sha256, size: dist.bytes.length,
          requiresPython: '>=3.8', uploadTime: UPLOAD_TIME,
          coreMetadataSha256: createHash('sha256').update(dist.metadata).digest('hex'),
          path, metadataPath: `${path}.metadata`,
        });
      }
    }
    projects[p.name] = entries;
  }
  return { manifest: { projects }, files, bytes };
}

async function exportVsPip(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'wh-graph');
  const t0 = performance.now();
  const built = await buildGraph(join(dir, 'upstream'));
  console.log(`wheelhouse: built the 30-project graph: ${built.files} wheels, ${(built.bytes / MB).toFixed(0)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const requirements = join(dir, 'requirements.txt');
  // The roots a team would list; whgraph-00 alone would reach everything.
  await writeFile(requirements, ['# what the Spark job imports', 'whgraph-00', 'whgraph-01>=1.0', 'whgraph-04==2.0.0', 'whgraph-09~=2.0', ''].join('\n'));

  const found = pythonWithPip();
  if ('missing' in found) throw new Error(`check failed: ${found.missing}`);
  const { python, pipVersion } = found;

  const upstream = await startUpstream(join(dir, 'upstream.json'), built.manifest, 1000);
  const { events } = upstream;
  const storage = join(dir, 'storage');
  const server = await startPydepot(storage, { remotes: { upstream } });
  const config = join(dir, 'pydepot.yaml');
  // The server's repositories (bench/server-child.mjs), for the CLI on the same storage.
  await writeConfig(config, storage, {
    bench: { type: 'local', upload: 'anonymous' },
    upstream: { type: 'remote', url: `${upstream.url}/simple/`, indexTtl: 600, timeout: 30 },
  }, 'upstream');
  const index = `${server.url}/upstream/simple/`;
  const targetArgs = PIP_TARGETS.flatMap((t) => ['--target', t.name]);
  const pipCache = join(dir, 'pip-cache');

  /** What the export's --json says it spent resolving and writing; the rest of its time is start-up. */
  const phases = { resolve: [] as number[], write: [] as number[] };
  const exportOnce = async (keep: boolean): Promise<{ t: Timed; names: string[] }> => {
    const out = join(dir, 'wheelhouse.zip');
    settle();
    const t = await pydepot(['wheelhouse', 'export', '--config', config, '-r', requirements, '--repo', 'upstream', ...targetArgs, '-o', out, '--json']);
    check(t.code === 0, describe('wheelhouse export', t));
    const summary = JSON.parse(t.stdout) as { resolveSeconds: number; exportSeconds: number };
    if (!keep) {
      phases.resolve.push(summary.resolveSeconds);
      phases.write.push(summary.exportSeconds);
    }
    const names = keep ? (await zipNames(out)).filter((n) => n.startsWith('wheelhouse/')).map((n) => n.slice('wheelhouse/'.length)) : [];
    await rm(out, { force: true });
    return { t, names };
  };
  /** One `pip download` per target, as a loop would run them; the seconds add up. */
  const pipLoop = async (cache: boolean): Promise<{ seconds: number; names: Set<string> }> => {
    let seconds = 0;
    const names = new Set<string>();
    for (const target of PIP_TARGETS) {
      const dest = join(dir, 'pip-dest');
      await rm(dest, { recursive: true, force: true });
      await mkdir(dest);
      settle();
      const t = await timed(python, [
        '-m', 'pip', 'download', '--isolated', '--disable-pip-version-check', '--progress-bar', 'off',
        ...(cache ? ['--cache-dir', pipCache] : ['--no-cache-dir']),
        '--only-binary=:all:', '--platform', target.platform, '--python-version', '3.11', '--implementation', 'cp', '--abi', 'cp311',
        '--index-url', index, '-d', dest, '-r', requirements,
      ], cleanEnv());
      check(t.code === 0, describe(`pip download for ${target.name}`, t));
      seconds += t.seconds;
      for (const n of await readdir(dest)) names.add(n);
    }
    await rm(join(dir, 'pip-dest'), { recursive: true, force: true });
    return { seconds, names };
  };

  const times = { pydepot: [] as number[], pipNoCache: [] as number[], pipWarmCache: [] as number[] };
  try {
    // Warm pydepot's cache (pages, files, PEP 658 metadata) the way an operator would: prefetch.
    const pre = await pydepot(['prefetch', '--config', config, '-r', requirements, '--repo', 'upstream', ...targetArgs]);
    check(pre.code === 0, describe('prefetch', pre));
    // Unmeasured: an export, and a pip loop that fills pip's cache for the warm-cache loop (and the OS caches for both).
    const warm = await exportOnce(true);
    const pipNames = (await pipLoop(true)).names;
    const zipped = new Set(warm.names);
    check(zipped.size === pipNames.size && [...pipNames].every((n) => zipped.has(n)),
      `pip and pydepot chose the same files (pip only: ${[...pipNames].filter((n) => !zipped.has(n)).join(', ') || '-'}; pydepot only: ${[...zipped].filter((n) => !pipNames.has(n)).join(', ') || '-'})`);
    const fileEventsBefore = events.filter((e) => e.event === 'file-start').length;

    const steps = [
      async (): Promise<void> => { times.pydepot.push((await exportOnce(false)).t.seconds); },
      async (): Promise<void> => { times.pipNoCache.push((await pipLoop(false)).seconds); },
      async (): Promise<void> => { times.pipWarmCache.push((await pipLoop(true)).seconds); },
    ];
    for (let i = 0; i < RUNS; i++) {
      // Alternating, each first in turn.
      for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]!();
      console.log(`wheelhouse export vs pip #${i + 1}: pydepot ${times.pydepot.at(-1)!.toFixed(2)} s (resolving ${phases.resolve.at(-1)!.toFixed(2)}, writing ${phases.write.at(-1)!.toFixed(2)}), pip loop ${times.pipNoCache.at(-1)!.toFixed(2)} s (no cache), ${times.pipWarmCache.at(-1)!.toFixed(2)} s (warm pip cache)`);
    }
    check(events.filter((e) => e.event === 'file-start').length === fileEventsBefore, 'the measured runs read every file from pydepot\'s cache (no upstream download)');
    const pd = median(times.pydepot);
    const noCache = median(times.pipNoCache);
    const warmCache = median(times.pipWarmCache);
    row(`wheelhouse: export ${zipped.size} files of a 30-project graph, 2 targets, s (median of ${RUNS}; baseline: pip download per target, --no-cache-dir)`,
      pd, noCache, `ratio <= ${EXPORT_RATIO}`, pd / noCache <= EXPORT_RATIO);
    row('  same export; baseline: the pip download loop with a warm pip cache', pd, warmCache, `ratio <= ${EXPORT_RATIO}`, pd / warmCache <= EXPORT_RATIO);
    details.wheelhouseExportVsPip = {
      graph: { projects: 30, uploadedFiles: built.files, uploadedBytes: built.bytes, chosenFiles: zipped.size },
      pip: { python, version: pipVersion }, command: `node ${PYDEPOT}`, seconds: times, pydepotPhases: phases,
    };
  } finally {
    await stopChild(server.proc);
    await stopChild(upstream.proc);
    await rm(dir, { recursive: true, force: true });
  }
}

// --- 2. Resolution of 200 pins for 4 targets ----------------------------------------

const RESOLVE_PROJECTS = 200;
const RESOLVE_VERSIONS = ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0', '2.2.0', '3.0.0', '3.1.0'];
const RESOLVE_PLATFORMS = ['manylinux_2_17_x86_64', 'manylinux_2_17_aarch64', 'macosx_11_0_arm64', 'win_amd64'];
const RESOLVE_PYTHONS = ['cp310', 'cp311', 'cp312'];

/**
 * 200 projects of 8 versions; three in four native (12 wheels a version:
 * 3 Pythons x 4 platforms), one in four pure; an sdist in every version.
 * Project i needs i+1, i+5 (on Python >= 3.11) and i+23 (on x86_64), and
 * every tenth has an extra `fast` that needs i+2. Rows and PEP 658 metadata
 * only (planWheelhouse reads no wheel when the metadata is served): 16,400
 * files, inserted through the metadata store in seconds.
 */
async function seedResolveProjects(storage: Storage): Promise<number> {
  const name = (i: number): string => `whres-${pad(i, 3)}`;
  let files = 0;
  for (let i = 0; i < RESOLVE_PROJECTS; i++) {
    const project = name(i);
    const deps = [
      ...(i + 1 < RESOLVE_PROJECTS ? [`${name(i + 1)}>=1.0`] : []),
      ...(i + 5 < RESOLVE_PROJECTS ? [`${name(i + 5)}>=1.0 ; python_version >= "3.11"`] : []),
      ...(i + 23 < RESOLVE_PROJECTS ? [`${name(i + 23)}!=0.9,>=1.0 ; platform_machine == "x86_64"`] : []),
    ];
    const extra = i % 10 === 0 && i + 2 < RESOLVE_PROJECTS;
    if (extra) deps.push(`${name(i + 2)}>=1.0 ; extra == "fast"`);
    for (const version of RESOLVE_VERSIONS) {
      const text = [
        'Metadata-Version: 2.1', `Name: ${project}`, `Version: ${version}`, 'Summary: pydepot resolution benchmark', 'Requires-Python: >=3.8',
        ...(extra ? ['Provides-Extra: fast'] : []), ...deps.map((d) => `Requires-Dist: ${d}`), '',
      ].join('\n');
      const coreMetadata = Buffer.from(text);
      const metadataJson = JSON.stringify(parseCoreMetadata(text));
      const stem = `${project.replace(/-/g, '_')}-${version}`;
      const wheels = i % 4 === 0 ? [`${stem}-py3-none-any.whl`] : RESOLVE_PYTHONS.flatMap((py) => RESOLVE_PLATFORMS.map((pl) => `${stem}-${py}-${py}-${pl}.whl`));
      for (const filename of [...wheels, `${stem}.tar.gz`]) {
        const wheel = filename.endsWith('.whl');
        const digest = (salt: string): string => createHash('sha256').update(`${salt}${filename}`).digest('hex');
        const added = await storage.store.addFile({
          repo: 'bench', project, displayName: project, filename, version, kind: wheel ? 'wheel' : 'sdist', size: 50_000 + filename.length,
          sha256: digest(''), md5: digest('md5').slice(0, 32), blake2b256: digest('b2'), requiresPython: '>=3.8',
          coreMetadata: wheel ? coreMetadata : null, metadataSha256: wheel ? createHash('sha256').update(coreMetadata).digest('hex') : null,
          metadataJson, uploadTime: UPLOAD_TIME, uploader: 'bench',
        }, { overwrite: false, actor: ACTOR });
        check(added.outcome === 'added', `row for ${filename}`);
        files++;
      }
    }
  }
  return files;
}

async function resolution(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'wh-resolve');
  const { storage, registry, close } = await openRegistry(join(dir, 'storage'), { bench: { type: 'local', upload: 'anonymous' } });
  try {
    const t0 = performance.now();
    const files = await seedResolveProjects(storage);
    console.log(`wheelhouse: ${RESOLVE_PROJECTS} projects, ${files} files stored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // Every project pinned, some below their newest; every tenth with its extra.
    const text = Array.from({ length: RESOLVE_PROJECTS }, (_, i) =>
      `whres-${pad(i, 3)}${i % 10 === 0 ? '[fast]' : ''}==${RESOLVE_VERSIONS[(i * 3) % RESOLVE_VERSIONS.length]}`).join('\n');
    const reqs = parseRequirementsFile({ name: 'requirements.txt', text: `${text}\n` });
    const targets = RESOLVE_TARGETS.map((t) => parseTargetShorthand(t));
    const repo = registry.get('bench');
    const seconds: number[] = [];
    // CPU time too: on a shared machine the wall time says more about the neighbours.
    const cpuSeconds: number[] = [];
    for (let i = 0; i <= RESOLVE_RUNS; i++) {
      const t1 = performance.now();
      const cpu = process.cpuUsage();
      const plan = await planWheelhouse(repo, reqs, targets);
      seconds.push((performance.now() - t1) / 1000);
      const used = process.cpuUsage(cpu);
      cpuSeconds.push((used.user + used.system) / 1e6);
      check(plan.failures.length === 0, `the 200 pins resolve for every target: ${JSON.stringify(plan.failures).slice(0, 500)}`);
      check(plan.targets.every((tp) => tp.pins.length === RESOLVE_PROJECTS), 'every target has 200 pins');
    }
    const [cold, ...warm] = seconds as [number, ...number[]];
    const [coldCpu, ...warmCpu] = cpuSeconds as [number, ...number[]];
    const s = median(warm);
    console.log(`wheelhouse: resolve ${RESOLVE_PROJECTS} pins x ${targets.length} targets: first ${cold.toFixed(3)} s (CPU ${coldCpu.toFixed(3)}), `
      + `then ${warm.map((x, i) => `${x.toFixed(3)} (${warmCpu[i]!.toFixed(3)})`).join(', ')} s`);
    row(`wheelhouse: resolve ${RESOLVE_PROJECTS} pins for ${targets.length} targets in process, warm, s (median of ${RESOLVE_RUNS}; baseline: the first run)`,
      s, cold, `pydepot < ${RESOLVE_LIMIT_S}`, s < RESOLVE_LIMIT_S, false);
    row('  resolve: CPU time of those runs, s', median(warmCpu), coldCpu, '(report only)', null, false);
    details.wheelhouseResolve = { projects: RESOLVE_PROJECTS, files, targets: RESOLVE_TARGETS, seconds: { first: cold, warm }, cpuSeconds: { first: coldCpu, warm: warmCpu } };
  } finally {
    await close();
    await rm(dir, { recursive: true, force: true });
  }
}

// --- 3. A 2 GB export: memory and throughput ----------------------------------------

async function bigExport(ctx: ScenarioContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'wh-big');
  const storageDir = join(dir, 'storage');
  const repositories = { bench: { type: 'local', upload: 'anonymous' } };
  const perWheel = Math.round((BIG_GB * 1e9) / BIG_WHEELS);
  const wheels: Array<{ filename: string; sha256: string; size: number }> = [];
  try {
    // The wheels go through the upload path (hashes, validation, commit), streamed: never on disk twice.
    const t0 = performance.now();
    const { storage, registry, close } = await openRegistry(storageDir, repositories);
    try {
      const repo = registry.get('bench');
      check(repo instanceof LocalRepository, 'bench is a local repository');
      for (let i = 0; i < BIG_WHEELS; i++) {
        const writer = storage.blobs.createTemp();
        const w = await writeBigWheel(writer.stream, perWheel, `whbig${pad(i, 2)}`, '1.0');
        const temp = await writer.finished();
        const fields = new Map(Object.entries(uploadFields(w.name, w.version, w.sha256)).map(([k, v]) => [k, [v]]));
        await (repo as LocalRepository).add(await validateUpload({ fields, content: { filename: w.filename, temp } }, storage.blobs), ACTOR);
        wheels.push({ filename: w.filename, sha256: w.sha256, size: w.size });
      }
    } finally {
      await close();
    }
    const total = wheels.reduce((n, w) => n + w.size, 0);
    console.log(`wheelhouse: stored ${BIG_WHEELS} wheels, ${(total / MB).toFixed(0)} MB, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const config = join(dir, 'pydepot.yaml');
    await writeConfig(config, storageDir, repositories, 'bench');
    const requirements = join(dir, 'requirements.txt');
    await writeFile(requirements, `${wheels.map((w) => `${w.filename.split('-')[0]}==1.0`).join('\n')}\n`);
    const entries = join(dir, 'entries.json');
    const blobPath = (sha: string): string => join(storageDir, 'blobs', 'sha256', sha.slice(0, 2), sha.slice(2, 4), sha);
    await writeFile(entries, JSON.stringify([...wheels].sort((a, b) => (a.filename < b.filename ? -1 : 1)).map((w) => [blobPath(w.sha256), `wheelhouse/${w.filename}`])));
    const out = join(dir, 'out.zip');
    const rssFile = join(dir, 'peak-rss');

    const runs = { pydepot: [] as Timed[], bare: [] as Timed[], bareZlibCrc: [] as Timed[] };
    const bareCopy = (side: 'bare' | 'bareZlibCrc') => async (): Promise<void> => {
      settle();
      const flag = side === 'bareZlibCrc' ? ['--zlib-crc'] : [];
      const t = await timed(process.execPath, ['--import', PEAK_RSS_HOOK, join(ROOT, 'bench', 'bare-zip.mjs'), ...flag, out, entries], process.env, rssFile);
      check(t.code === 0, describe('bare-zip.mjs', t));
      runs[side].push(t);
      await rm(out, { force: true });
    };
    const steps = [
      async (): Promise<void> => {
        settle();
        const t = await pydepot(['wheelhouse', 'export', '--config', config, '-r', requirements, '--repo', 'bench', '--target', 'cp311-manylinux_2_17_x86_64', '-o', out, '--json'], rssFile);
        check(t.code === 0, describe('wheelhouse export', t));
        const summary = JSON.parse(t.stdout) as { files: number; fileBytes: number };
        check(summary.files === BIG_WHEELS && summary.fileBytes === total, `the export holds every wheel (${summary.files} files, ${summary.fileBytes} bytes)`);
        runs.pydepot.push(t);
        await rm(out, { force: true });
      },
      bareCopy('bare'),
      bareCopy('bareZlibCrc'),
    ];
    const show = (t: Timed): string => `${(total / MB / t.seconds).toFixed(0)} MB/s (${t.seconds.toFixed(1)} s, peak RSS ${(t.peakRss! / MB).toFixed(0)} MB)`;
    for (let i = 0; i < RUNS; i++) {
      for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]!();
      console.log(`wheelhouse ${BIG_GB} GB #${i + 1}: export ${show(runs.pydepot.at(-1)!)}, bare zip copy ${show(runs.bare.at(-1)!)}, with zlib's CRC-32 ${show(runs.bareZlibCrc.at(-1)!)}`);
    }
    const speed = (ts: Timed[]): number => median(ts.map((t) => total / MB / t.seconds));
    const peak = (ts: Timed[]): number => Math.max(...ts.map((t) => t.peakRss ?? NaN));
    const [ps, bs, zs] = [speed(runs.pydepot), speed(runs.bare), speed(runs.bareZlibCrc)];
    const gb = (total / 1e9).toFixed(1);
    row(`wheelhouse: export ${gb} GB (${BIG_WHEELS} wheels), MB/s (median of ${RUNS}; baseline: bare yazl copy of the blobs)`,
      ps, bs, `ratio >= ${BIG_THROUGHPUT_RATIO}`, ps / bs >= BIG_THROUGHPUT_RATIO);
    // The export has yazl use zlib's CRC-32; a bare copy that does too shows what the export adds.
    row(`  ${gb} GB export, MB/s; baseline: the bare copy with zlib's CRC-32, as the export has it`, ps, zs, '(report only)', null);
    row(`  ${gb} GB export: peak RSS of the export process, MB (baseline: the bare copy)`,
      peak(runs.pydepot) / MB, peak(runs.bare) / MB, `pydepot < ${BIG_RSS_LIMIT / MB}`, peak(runs.pydepot) < BIG_RSS_LIMIT, false);
    const secondsOf = (ts: Timed[]): number[] => ts.map((t) => t.seconds);
    const rssOf = (ts: Timed[]): Array<number | null> => ts.map((t) => t.peakRss);
    details.wheelhouseBigExport = {
      wheels: BIG_WHEELS, bytes: total,
      seconds: { pydepot: secondsOf(runs.pydepot), bare: secondsOf(runs.bare), bareZlibCrc: secondsOf(runs.bareZlibCrc) },
      peakRssBytes: { pydepot: rssOf(runs.pydepot), bare: rssOf(runs.bare), bareZlibCrc: rssOf(runs.bareZlibCrc) },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function wheelhouseScenarios(ctx: ScenarioContext): Promise<void> {
  const buildSeconds = buildDist();
  console.log(`wheelhouse: built dist/ in ${buildSeconds.toFixed(1)} s; the CLI runs as node dist/main.js`);
  ctx.details.wheelhouseDistBuildSeconds = buildSeconds;
  await exportVsPip(ctx);
  await resolution(ctx);
  await bigExport(ctx);
}
