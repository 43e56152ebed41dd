/**
 * pip itself (issue 14's last row): `pip install` of a 30-package dependency
 * graph from pydepot against the same wheels as a static PEP 503 index that
 * nginx serves (the "static index" of the issue's table), in one run:
 * - 30 small wheels, two versions each (pip picks the newer), a root that
 *   requires 5 packages, each of which requires 4 or 5 more; uploaded to
 *   pydepot's local repository, and written as `simple/<name>/index.html` plus
 *   the files and their METADATA (PEP 658, as pydepot advertises it) for nginx;
 * - each side warmed by one install, then BENCH_PIP_RUNS installs alternating
 *   (`python3 -m pip install --isolated --no-cache-dir --target <fresh dir>`,
 *   no inherited PIP_* variables), wall seconds, median.
 * Report only: pip's own work (resolving, unpacking, writing 30 packages) is
 * most of each second, so the ratio says how much the index adds to it.
 * Without nginx or python3 with pip the group prints one line and returns.
 *   BENCH_PIP_RUNS     installs per side (default 9: one install is about 2 s, and varies by 0.5 s)
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv } from '../test/helpers/clients.ts';
import { buildWheel, type BuiltDist } from '../test/helpers/dists.ts';
import { nginxBinary, NGINX_INSTALL, startNginx } from '../test/helpers/nginx.ts';
import { startChild, stopChild } from './children.ts';
import { check, median, pool, pythonWithPip, settle } from './helpers.ts';
import { uploadFields } from './page-project.ts';
import type { ScenarioContext } from './report.ts';
import { multipart, upload } from './transfer.ts';

const RUNS = Number(process.env.BENCH_PIP_RUNS ?? 9);
const PACKAGES = 30;
const VERSIONS = ['1.0', '1.1'];

/** graph-00 requires graph-01..05; graph-01..05 share out graph-06..29 among them. */
function requirements(i: number): string[] {
  if (i === 0) return [1, 2, 3, 4, 5].map((j) => `graph-${String(j).padStart(2, '0')}>=1.0`);
  if (i <= 5) {
    const deps: string[] = [];
    for (let j = 6; j < PACKAGES; j++) if ((j - 6) % 5 === i - 1) deps.push(`graph-${String(j).padStart(2, '0')}>=1.0`);
    return deps;
  }
  return [];
}

async function buildGraph(): Promise<Array<BuiltDist & { name: string; version: string }>> {
  const out: Array<BuiltDist & { name: string; version: string }> = [];
  for (let i = 0; i < PACKAGES; i++) {
    const name = `graph-${String(i).padStart(2, '0')}`;
    for (const version of VERSIONS) {
      // About the size of a small pure-Python wheel.
      out.push({ name, version, ...(await buildWheel({ name, version, requiresDist: requirements(i), padBytes: 20_000 })) });
    }
  }
  return out;
}

/** The PEP 503 static index: one page per project, relative links with the sha256 fragment. */
async function writeStaticIndex(www: string, dists: Array<BuiltDist & { name: string }>): Promise<void> {
  await mkdir(join(www, 'files'), { recursive: true });
  const byName = new Map<string, Array<BuiltDist & { name: string }>>();
  for (const d of dists) byName.set(d.name, [...(byName.get(d.name) ?? []), d]);
  for (const [name, files] of byName) {
    await mkdir(join(www, 'simple', name), { recursive: true });
    // With the wheels' METADATA beside them (PEP 658), as pydepot serves them: pip then makes the same requests of both.
    const links = files.map((f) => {
      const m = `sha256=${createHash('sha256').update(f.metadata).digest('hex')}`;
      return `<a href="../../files/${f.filename}#sha256=${f.sha256}" data-core-metadata="${m}" data-dist-info-metadata="${m}">${f.filename}</a><br/>`;
    }).join('\n');
    await writeFile(join(www, 'simple', name, 'index.html'), `<!DOCTYPE html>\n<html><body>\n${links}\n</body></html>\n`);
    for (const f of files) {
      await writeFile(join(www, 'files', f.filename), f.bytes);
      await writeFile(join(www, 'files', `${f.filename}.metadata`), f.metadata);
    }
  }
}

function pipInstall(python: string, indexUrl: string, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const proc = spawn(python, ['-m', 'pip', 'install', '--isolated', '--no-cache-dir', '--disable-pip-version-check', '--no-input', '--quiet',
      '--target', target, '--index-url', indexUrl, 'graph-00'], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    proc.on('error', reject);
    proc.on('exit', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`pip install from ${indexUrl}: exit ${code}: ${stderr.trim().slice(-500)}`))));
  });
}

export async function pipGraphScenarios({ work, row, details }: ScenarioContext): Promise<void> {
  const found = pythonWithPip();
  if (!nginxBinary() || 'missing' in found) {
    console.log(`pip: skipped (needs nginx, ${NGINX_INSTALL}, and python3 with pip)`);
    return;
  }
  const { python, pipVersion } = found;
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-bench-pip-'));
  const pydepot = await startChild('bench/server-child.mjs', [join(work, 'pip-storage')]);
  let nginx: Awaited<ReturnType<typeof startNginx>> | null = null;
  try {
    const dists = await buildGraph();
    await pool(dists, 4, async (d) => {
      const t = await upload(`${pydepot.url}/bench/`, multipart(uploadFields(d.name, d.version, d.sha256), d.filename), d.bytes);
      check(t.status === 200, `upload of ${d.filename} answered ${t.status}: ${t.body.trim()}`);
    });
    const www = join(dir, 'www');
    await writeStaticIndex(www, dists);
    nginx = await startNginx({ http: (listen) => `server { listen ${listen}; root ${www}; location / { index index.html; } }` });
    const sides = [
      { name: 'pydepot', url: `${pydepot.url}/bench/simple/` },
      { name: 'nginx', url: `${nginx.url}/simple/` },
    ];
    const seconds: Record<string, number[]> = { pydepot: [], nginx: [] };
    let n = 0;
    const install = async (side: (typeof sides)[number]): Promise<number> => {
      const target = join(dir, `target-${n++}`);
      const s = await pipInstall(python, side.url, target);
      await rm(target, { recursive: true, force: true });
      return s;
    };
    // Warm: pydepot's pages rendered and cached, nginx's files in the page cache.
    for (const side of sides) await install(side);
    for (let run = 0; run < RUNS; run++) {
      for (const side of run % 2 === 0 ? sides : [...sides].reverse()) {
        settle();
        const s = await install(side);
        seconds[side.name]!.push(s);
        console.log(`pip: install of ${PACKAGES} packages from ${side.name.padEnd(7)} ${s.toFixed(2)} s`);
      }
    }
    const p = median(seconds.pydepot!);
    const x = median(seconds.nginx!);
    row(`pip ${pipVersion} install, ${PACKAGES}-package graph, warm, s (median of ${RUNS}; baseline: nginx serving a static PEP 503 index)`, p, x, '(report only)', null);
    details.pipGraph = { pip: pipVersion, packages: PACKAGES, runs: RUNS, seconds };
  } finally {
    await nginx?.stop();
    await stopChild(pydepot.proc);
    await rm(dir, { recursive: true, force: true });
    await rm(join(work, 'pip-storage'), { recursive: true, force: true });
  }
}
