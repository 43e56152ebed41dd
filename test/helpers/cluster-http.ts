/** What the multi-process tests (workers, replicas) ask of each pydepot process, over HTTP. */
import { createHash } from 'node:crypto';
import type { BuiltDist } from './dists.ts';
import { JSON_TYPE, type FakeUpstream } from './fake-upstream.ts';

export type JsonPage = { name: string; files: { filename: string; url: string; hashes: { sha256: string } }[] };

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A project page in JSON; anything but 200 throws, with the body. */
export async function page(url: string): Promise<JsonPage> {
  const res = await fetch(url, { headers: { accept: JSON_TYPE } });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as JsonPage;
}

/** A whole download: its status and the sha256 of the bytes received. */
export async function download(url: string): Promise<{ status: number; sha256: string }> {
  const res = await fetch(url);
  return { status: res.status, sha256: sha256(Buffer.from(await res.arrayBuffer())) };
}

/** The upstream's GETs of one file (a herd must cost one). */
export const fileGets = (up: FakeUpstream, dist: BuiltDist): number => up.count((r) => r.method === 'GET' && r.path.endsWith(`/${dist.filename}`));
