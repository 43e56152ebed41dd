/**
 * `pydepot prefetch`, in-process (test/helpers/cli.ts), against a REMOTE
 * repository over the fake upstream holding the graph of
 * test/helpers/wheelhouse.ts, on the storage of a running server: the
 * command warms that storage, and the server then serves from it.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import { pydepot } from '../helpers/cli.ts';
import type { RunResult } from '../helpers/clients.ts';
import { FakeUpstream, type UpstreamFile } from '../helpers/fake-upstream.ts';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { buildWheelhouseGraph, CHOSEN, X86 } from '../helpers/wheelhouse.ts';

interface Setup {
  s: TestServer;
  up: FakeUpstream;
  config: string;
  reqs: string;
  dists: Awaited<ReturnType<typeof buildWheelhouseGraph>>;
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const dists = await buildWheelhouseGraph();
  const up = await FakeUpstream.start(t);
  const byProject = new Map<string, UpstreamFile[]>();
  for (const d of dists.values()) byProject.set(d.spec.name, [...(byProject.get(d.spec.name) ?? []), { dist: d }]);
  for (const [name, files] of byProject) up.addProject(name, files);
  const raw = { repositories: { pypi: { type: 'remote', url: up.url, indexTtl: 600, timeout: 5 } }, defaultRepository: 'pypi' };
  const s = await startTestServer(t, raw);
  const dir = await tempDir(t, 'pydepot-prefetch-');
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringifyYaml(raw));
  const reqs = join(dir, 'requirements.txt');
  await writeFile(reqs, 'acme-app\n');
  return { s, up, config, reqs, dists };
}

function prefetchCli(f: Setup, args: string[]): Promise<RunResult> {
  return pydepot(['prefetch', '-r', f.reqs, '--repo', 'pypi', ...args, '--config', f.config, '--storage', f.s.storage]);
}

const isFile = (path: string): boolean => path.startsWith('/packages/') && !path.endsWith('.metadata');

test('prefetch warms every chosen file once; a second run fetches nothing; pip then downloads them without an upstream request', async (t) => {
  const f = await setup(t);
  const first = await prefetchCli(f, ['--target', X86]);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, new RegExp(`${X86}\\s+4\\s+4\\s+.*none`));
  t.regex(first.stdout, /4 files warmed/);
  t.regex(first.stderr, /prefetching 4 files/);
  for (const name of CHOSEN[X86]!) {
    t.is(f.up.count(f.up.fileUrl(name)), 1, name);
    t.is(f.up.count(f.up.fileUrl(`${name}.metadata`)), 1, `${name}.metadata`);
  }
  t.is(f.up.count((r) => isFile(r.path)), CHOSEN[X86]!.length, 'no file that was not chosen');

  f.up.resetCounts();
  const second = await prefetchCli(f, ['--target', X86, '--json']);
  t.is(second.code, 0, second.stderr);
  const summary = JSON.parse(second.stdout) as { ok: boolean; files: number; bytes: number; failures: unknown[]; targets: { name: string; pins: number; failures: string[] }[] };
  t.true(summary.ok);
  t.is(summary.files, 4);
  t.is(summary.bytes, CHOSEN[X86]!.reduce((n, name) => n + f.dists.get(name)!.bytes.length, 0));
  t.deepEqual(summary.failures, []);
  t.deepEqual(summary.targets.map((x) => [x.name, x.pins, x.failures.length]), [[X86, 4, 0]]);
  t.is(f.up.count((r) => r.path.startsWith('/packages/')), 0, 'the second run fetched nothing');

  f.up.resetCounts();
  for (const name of CHOSEN[X86]!) {
    const d = f.dists.get(name)!;
    const res = await fetch(`${f.s.url}/pypi/files/${d.sha256}/${name}`);
    t.is(res.status, 200, name);
    t.true(Buffer.from(await res.arrayBuffer()).equals(d.bytes), name);
  }
  t.is(f.up.requests.length, 0, `no upstream request: ${f.up.requests.map((r) => r.path).join(', ')}`);
});

test('a file whose upstream bytes are corrupt fails alone: exit 1 naming it, the others warmed', async (t) => {
  const f = await setup(t);
  const bad = 'acme_fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl';
  f.up.fileFaults(bad, { corrupt: true });
  const r = await prefetchCli(f, ['--target', X86]);
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`failed: ${bad.replace(/\./g, '\\.')}`));
  t.regex(r.stderr, new RegExp(`1 file could not be prefetched: ${bad.replace(/\./g, '\\.')}`));
  t.regex(r.stdout, new RegExp(`${X86}\\s+4\\s+4\\s+.*1: ${bad.replace(/\./g, '\\.')}`));
  t.regex(r.stdout, /3 files warmed/);

  f.up.resetCounts();
  for (const name of CHOSEN[X86]!.filter((n) => n !== bad)) {
    const d = f.dists.get(name)!;
    const res = await fetch(`${f.s.url}/pypi/files/${d.sha256}/${name}`);
    t.is(res.status, 200, name);
    t.true(Buffer.from(await res.arrayBuffer()).equals(d.bytes), name);
  }
  t.is(f.up.count((r) => r.path.startsWith('/packages/')), 0, 'the good files were cached');
});
