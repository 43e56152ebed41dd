/**
 * The big project page: 2,000 small wheels of one project, built in memory
 * and uploaded over HTTP as twine would.
 */
import http from 'node:http';
import { buildWheel, type BuiltDist } from '../test/helpers/dists.ts';
import { check, pool } from './helpers.ts';
import { multipart, upload } from './transfer.ts';

export const PAGE_PROJECT = 'benchpage';
const PLATFORMS = ['manylinux_2_17_x86_64', 'manylinux_2_17_aarch64', 'musllinux_1_2_x86_64', 'macosx_11_0_arm64', 'win_amd64'];
export const PAGE_REQUIRES_PYTHON = '>=3.8';

export interface PageDist {
  dist: BuiltDist;
  version: string;
}

export interface PageProject {
  dists: PageDist[];
  buildSeconds: number;
}

export async function buildPageProject(files: number): Promise<PageProject> {
  const t0 = performance.now();
  const dists: PageDist[] = [];
  for (let i = 0; i < files; i++) {
    const version = `1.${Math.floor(i / PLATFORMS.length)}.0`;
    const dist = await buildWheel({
      name: PAGE_PROJECT,
      version,
      pythonTag: 'cp312',
      abiTag: 'cp312',
      platformTag: PLATFORMS[i % PLATFORMS.length]!,
      requiresPython: PAGE_REQUIRES_PYTHON,
    });
    dists.push({ dist, version });
  }
  return { dists, buildSeconds: (performance.now() - t0) / 1000 };
}

/** The legacy upload form's fields for one file (`content` is added by multipart()). */
export function uploadFields(name: string, version: string, sha256: string): Record<string, string> {
  return {
    ':action': 'file_upload',
    protocol_version: '1',
    name,
    version,
    filetype: 'bdist_wheel',
    pyversion: 'py3',
    metadata_version: '2.1',
    sha256_digest: sha256,
  };
}

/** Uploads every file to `<url>/<repo>/`, 8 at a time; returns the seconds taken. */
export async function uploadPageProject(url: string, repo: string, project: PageProject): Promise<number> {
  const t0 = performance.now();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    await pool(project.dists, 8, async ({ dist, version }) => {
      const form = multipart(uploadFields(PAGE_PROJECT, version, dist.sha256), dist.filename);
      const t = await upload(`${url}/${repo}/`, form, dist.bytes, agent);
      check(t.status === 200, `upload of ${dist.filename} answered ${t.status}: ${t.body.trim()}`);
    });
  } finally {
    agent.destroy();
  }
  return (performance.now() - t0) / 1000;
}
