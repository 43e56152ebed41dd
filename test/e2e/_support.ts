/**
 * Shared pieces of the end-to-end suites (not a test file: ava only runs
 * `*.test.ts`): the project graph, the `pydepot yank` CLI (in-process), a
 * server that lives as long as a test file, one venv per interpreter, and an
 * Accept-rewriting proxy.
 */
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import { pydepot } from '../helpers/cli.ts';
import { describe, venv, type RunResult, type Venv } from '../helpers/clients.ts';
import { buildSdist, buildWheel, type BuiltDist, type DistSpec } from '../helpers/dists.ts';

/**
 * acme-app → acme-core>=1.0, acme-utils; acme-utils → acme-core.
 * What pip must pick on Python 3.11 without --pre:
 *   acme-core 1.0.post1 (post-release above 1.0; 1.1rc1 is a pre-release; 2.0 gets yanked),
 *   acme-utils 2.0 (3.0 requires Python >= 4).
 * acme-app's display name is dotted and capitalised: the index must normalise it.
 */
export const GRAPH: DistSpec[] = [
  { name: 'acme-core', version: '1.0' },
  { name: 'acme-core', version: '1.0.post1' },
  { name: 'acme-core', version: '1.1rc1' },
  { name: 'acme-core', version: '2.0' },
  { name: 'acme-utils', version: '2.0', requiresDist: ['acme-core'] },
  { name: 'acme-utils', version: '3.0', requiresDist: ['acme-core'], requiresPython: '>=4' },
  { name: 'Acme.App', version: '1.0', requiresDist: ['acme-core>=1.0', 'acme-utils'] },
];

export const YANKED = { project: 'acme-core', version: '2.0', reason: 'broken' };

export interface GraphDists {
  /** Wheels and sdists, in GRAPH order (wheel, then sdist). */
  all: BuiltDist[];
  /** `${normalized name}==${version}` → [wheel, sdist]. */
  byRelease: Map<string, [BuiltDist, BuiltDist]>;
}

export function normalize(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

export async function buildGraph(specs: DistSpec[] = GRAPH): Promise<GraphDists> {
  const all: BuiltDist[] = [];
  const byRelease = new Map<string, [BuiltDist, BuiltDist]>();
  for (const spec of specs) {
    const pair: [BuiltDist, BuiltDist] = [await buildWheel(spec), await buildSdist(spec)];
    all.push(...pair);
    byRelease.set(`${normalize(spec.name)}==${spec.version}`, pair);
  }
  return { all, byRelease };
}

export function release(dists: GraphDists, project: string, version: string): [BuiltDist, BuiltDist] {
  const pair = dists.byRelease.get(`${normalize(project)}==${version}`);
  if (!pair) throw new Error(`no dists for ${project}==${version}`);
  return pair;
}

/** `pydepot yank <repo> <project> <version> --reason R` (in-process) against a (running) server's storage. */
export async function yankWithCli(storage: string, project: string, version: string, reason: string, repo = 'internal'): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-cli-'));
  try {
    const config = join(dir, 'pydepot.yaml');
    await writeFile(config, `repositories:\n  ${repo}:\n    type: local\ndefaultRepository: ${repo}\n`);
    return await pydepot(['yank', repo, project, version, '--reason', reason, '--config', config, '--storage', storage]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function mustSucceed(what: string, p: Promise<RunResult>): Promise<RunResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed: ${describe(r)}`);
  return r;
}

/**
 * An ExecutionContext stand-in whose teardowns run when `close()` is called:
 * ava forbids t.teardown() in hooks, and startTestServer wants one. Used for
 * a server shared by every test of a file, closed in test.after.always.
 */
export function fileScope(): { t: ExecutionContext; close: () => Promise<void> } {
  const teardowns: Array<() => unknown> = [];
  const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) } as unknown as ExecutionContext;
  return {
    t,
    async close() {
      for (const fn of teardowns.reverse()) await fn();
    },
  };
}

/** Memoises an async setup shared by the tests of one file. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/**
 * One venv per interpreter for the tests of a file: made when a test first
 * asks for it, removed with `scope` (a fileScope's t, closed in
 * test.after.always). Tests that share one install into their own empty
 * `pip install --target` folders, never into the venv itself.
 */
export function venvPerInterpreter(scope: ExecutionContext): (python: string) => Promise<Venv> {
  const made = new Map<string, Promise<Venv>>();
  return (python) => {
    let v = made.get(python);
    if (!v) made.set(python, v = venv(scope, python));
    return v;
  };
}

// --- Accept-rewriting proxy ----------------------------------------------------

export interface SeenRequest {
  method: string;
  path: string;
  /** Accept as the client sent it. */
  clientAccept: string | undefined;
  /** Accept as forwarded to pydepot. */
  forwardedAccept: string | undefined;
  status: number;
  contentType: string | undefined;
}

export interface AcceptProxy {
  url: string;
  seen: SeenRequest[];
  /** The index pages (`…/simple/…`) among `seen`. */
  indexPages: () => SeenRequest[];
}

/**
 * A loopback reverse proxy in front of `target`. pip 23 always asks for JSON
 * first and ignores `?format=`, so to make it read one format the proxy
 * replaces the Accept header of index pages with `accept` (null: pass it
 * through untouched). Every request is recorded. Closed when the test ends.
 */
export async function acceptProxy(t: ExecutionContext, target: string, accept: string | null): Promise<AcceptProxy> {
  const upstream = new URL(target);
  const seen: SeenRequest[] = [];
  const isIndex = (path: string) => /\/simple\//.test(path.split('?')[0] ?? '');
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
    if (accept !== null && isIndex(path)) headers.accept = accept;
    const forward = request(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path, headers },
      (up) => {
        seen.push({
          method: req.method ?? 'GET',
          path,
          clientAccept: req.headers.accept,
          forwardedAccept: headers.accept as string | undefined,
          status: up.statusCode ?? 0,
          contentType: up.headers['content-type'],
        });
        res.writeHead(up.statusCode ?? 502, up.statusMessage, up.headers);
        up.pipe(res);
      },
    );
    forward.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy error: ${err.message}\n`);
    });
    req.pipe(forward);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => {
    server.closeAllConnections();
    server.close(() => ok());
  }));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, indexPages: () => seen.filter((s) => isIndex(s.path)) };
}

// --- pydepot confusion report ---------------------------------------------------

/**
 * `pydepot confusion report <args>` against a (running) server's storage,
 * in-process (test/helpers/cli.ts). `config`: the server's raw config (its
 * repositories), written to a temp YAML file; `--storage` points at the
 * server's own folder.
 */
export async function confusionReportWithCli(storage: string, config: Record<string, unknown>, args: string[] = []): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-cli-'));
  try {
    const file = join(dir, 'pydepot.yaml');
    await writeFile(file, stringifyYaml(config));
    return await pydepot(['confusion', 'report', ...args, '--config', file, '--storage', storage]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
