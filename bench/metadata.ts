/**
 * Core metadata read out of upstream wheels by HTTP Range (issue 13): a remote
 * repository over an upstream (bench/upstream-child.ts, answering Range) whose
 * pages give no core metadata. For each wheel the bench asks pydepot for the
 * project page, waits until the page advertises `core-metadata`, checks the
 * `.metadata` bytes against the wheel's METADATA (read here with yauzl, an
 * independent zip reader), and counts what the upstream sent for it: body
 * bytes of the Range requests, and whole downloads (there must be none).
 *
 * Wheels: synthetic shapes (a small pure-Python wheel; a medium one; a native
 * one with 40 MiB of binaries; one of 12,000 files, whose central directory
 * alone is over a MiB, as PyTorch's), and the real wheels bundled with this
 * machine's Python (pip, setuptools), when found.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { startPydepot, startUpstream, stopChild } from './children.ts';
import { ACCEPT, check, fetchPage, median } from './helpers.ts';
import type { ScenarioContext } from './report.ts';
import type { UpstreamManifest } from './upstream-child.ts';

const KiB = 1024;
const MEDIAN_LIMIT_KIB = 128;
const WAIT_MS = 60_000;

interface Shape {
  project: string;
  files: number;
  fileBytes: number;
  binaryBytes: number;
}

const SHAPES: Shape[] = [
  { project: 'meta-small', files: 12, fileBytes: 2_000, binaryBytes: 0 },
  { project: 'meta-medium', files: 400, fileBytes: 4_000, binaryBytes: 0 },
  { project: 'meta-native', files: 150, fileBytes: 3_000, binaryBytes: 40 * 1024 * 1024 },
  { project: 'meta-manyfiles', files: 12_000, fileBytes: 300, binaryBytes: 20 * 1024 * 1024 },
];

interface Wheel {
  project: string;
  filename: string;
  path: string;
  size: number;
  sha256: string;
  metadataSha256: string;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function metadataOf(project: string): Buffer {
  const description = Array.from({ length: 120 }, (_, i) => `Line ${i} of a long description, as real READMEs are.`).join('\n');
  return Buffer.from(`Metadata-Version: 2.1\nName: ${project}\nVersion: 1.0\nSummary: ${project}\nRequires-Dist: numpy>=1.20\nRequires-Python: >=3.9\nDescription-Content-Type: text/markdown\n\n${description}\n`);
}

async function buildShape(dir: string, s: Shape): Promise<Wheel> {
  const mod = s.project.replace(/-/g, '_');
  const filename = `${mod}-1.0-py3-none-any.whl`;
  const path = join(dir, filename);
  const zip = new yazl.ZipFile();
  const names: string[] = [];
  for (let i = 0; i < s.files; i++) {
    const name = `${mod}/sub_${Math.floor(i / 100)}/module_${String(i).padStart(5, '0')}.py`;
    const line = `def function_${i}(x):\n    return x + ${i}\n`;
    zip.addBuffer(Buffer.from(line.repeat(Math.ceil(s.fileBytes / line.length)).slice(0, s.fileBytes)), name);
    names.push(name);
  }
  if (s.binaryBytes > 0) {
    const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16, 2));
    zip.addBuffer(cipher.update(Buffer.alloc(s.binaryBytes)), `${mod}/_native.so`, { compress: false });
    names.push(`${mod}/_native.so`);
  }
  const info = `${mod}-1.0.dist-info`;
  const metadata = metadataOf(s.project);
  zip.addBuffer(metadata, `${info}/METADATA`);
  zip.addBuffer(Buffer.from('Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n'), `${info}/WHEEL`);
  zip.addBuffer(Buffer.from([...names, `${info}/METADATA`, `${info}/WHEEL`, `${info}/RECORD`].map((n) => `${n},,\n`).join('')), `${info}/RECORD`);
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(path));
  const bytes = await readFile(path);
  return { project: s.project, filename, path, size: bytes.length, sha256: sha256(bytes), metadataSha256: sha256(metadata) };
}

/** The wheels bundled with this machine's Python (ensurepip), if any. */
async function bundledWheels(dir: string): Promise<Wheel[]> {
  const found = spawnSync('python3', ['-c', 'import ensurepip, glob, os; print("\\n".join(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "*.whl"))))'], { encoding: 'utf8' });
  if (found.status !== 0) return [];
  const wheels: Wheel[] = [];
  for (const src of found.stdout.split('\n').filter(Boolean)) {
    const filename = basename(src);
    const path = join(dir, filename);
    await copyFile(src, path);
    const bytes = await readFile(path);
    wheels.push({ project: filename.split('-')[0]!.toLowerCase(), filename, path, size: bytes.length, sha256: sha256(bytes), metadataSha256: sha256(await zipMember(bytes, /^[^/]+\.dist-info\/METADATA$/)) });
  }
  return wheels;
}

/** A member of a zip, read with yauzl: a reader that shares no code with pydepot's. */
function zipMember(bytes: Buffer, name: RegExp): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('no zip'));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (!name.test(entry.fileName)) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => resolve(Buffer.concat(chunks)));
        });
      });
      zip.on('end', () => reject(new Error(`no member matching ${name}`)));
      zip.readEntry();
    });
  });
}

interface WheelResult {
  filename: string;
  wheelBytes: number;
  upstreamBytes: number;
  rangeRequests: number;
  wholeDownloads: number;
  seconds: number;
  metadataMatches: boolean;
}

export async function metadataScenarios({ work, row, details }: ScenarioContext): Promise<void> {
  const dir = join(work, 'metadata');
  await mkdir(dir, { recursive: true });
  const wheels = [...(await Promise.all(SHAPES.map((s) => buildShape(dir, s)))), ...(await bundledWheels(dir))];
  const manifest: UpstreamManifest = { projects: {} };
  for (const w of wheels) {
    manifest.projects[w.project] = [{
      filename: w.filename, version: w.filename.split('-')[1]!, sha256: w.sha256, size: w.size,
      requiresPython: null, uploadTime: null, coreMetadataSha256: null, path: w.path,
    }];
  }
  const upstream = await startUpstream(join(dir, 'manifest.json'), manifest, 100);
  const { events } = upstream;
  const storage = join(dir, 'storage');
  const pydepot = await startPydepot(storage, { remotes: { meta: upstream } });
  const results: WheelResult[] = [];
  try {
    for (const w of wheels) {
      const pageUrl = `${pydepot.url}/meta/simple/${w.project}/`;
      const t0 = performance.now();
      let advertised: unknown = false;
      while (performance.now() - t0 < WAIT_MS) {
        const page = await fetchPage(pageUrl, ACCEPT.json);
        check(page.status === 200, `${pageUrl} answered ${page.status}`);
        advertised = (JSON.parse(page.body.toString('utf8')) as { files: { 'core-metadata': unknown }[] }).files[0]!['core-metadata'];
        if (advertised) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const seconds = (performance.now() - t0) / 1000;
      check(typeof advertised === 'object' && advertised !== null, `${w.filename}: core-metadata never advertised`);
      const meta = await fetch(`${pydepot.url}/meta/files/${w.sha256}/${w.filename}.metadata`);
      const body = Buffer.from(await meta.arrayBuffer());
      const mine = events.filter((e) => 'filename' in e && e.filename === w.filename);
      results.push({
        filename: w.filename,
        wheelBytes: w.size,
        upstreamBytes: mine.reduce((n, e) => n + (e.event === 'file-range' ? e.bytes : 0), 0),
        rangeRequests: mine.filter((e) => e.event === 'file-range').length,
        wholeDownloads: mine.filter((e) => e.event === 'file-start').length,
        seconds,
        metadataMatches: meta.status === 200 && sha256(body) === w.metadataSha256 && (advertised as { sha256: string }).sha256 === w.metadataSha256,
      });
    }
  } finally {
    await stopChild(pydepot.proc);
    await stopChild(upstream.proc);
    await rm(dir, { recursive: true, force: true });
  }
  for (const r of results) {
    console.log(`${r.filename}: ${(r.wheelBytes / KiB).toFixed(0)} KiB wheel, ${(r.upstreamBytes / KiB).toFixed(1)} KiB in ${r.rangeRequests} Range requests, ${r.wholeDownloads} whole downloads, advertised after ${r.seconds.toFixed(2)} s, .metadata ${r.metadataMatches ? 'matches' : 'DIFFERS'}`);
  }
  const perWheel = median(results.map((r) => r.upstreamBytes)) / KiB;
  const ok = results.every((r) => r.metadataMatches && r.wholeDownloads === 0);
  row('metadata by Range: upstream KiB per wheel (median; baseline: median wheel KiB)', perWheel, median(results.map((r) => r.wheelBytes)) / KiB,
    `<= ${MEDIAN_LIMIT_KIB} KiB, no whole wheel, bytes exact`, ok && perWheel <= MEDIAN_LIMIT_KIB);
  row('metadata by Range: upstream KiB for the largest central directory', Math.max(...results.map((r) => r.upstreamBytes)) / KiB,
    (results.reduce((a, r) => (r.upstreamBytes > a.upstreamBytes ? r : a)).wheelBytes) / KiB, 'info', null);
  details.metadata = { wheels: results, medianUpstreamKiB: perWheel };
}
