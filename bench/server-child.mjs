/**
 * Runs pydepot alone in this process so its memory can be measured by pid:
 *   node bench/server-child.mjs <storage dir> [--remote NAME=UPSTREAM_SIMPLE_URL]... [--repos JSON] [--workers N|auto] [--offload]
 * pydepot is the checkout's built `dist/` under plain node, as the Docker image
 * runs it (children.ts builds it first when src/ is newer); with
 * PYDEPOT_BENCH_FROM=src (BENCH_TSX=1) it is src/ under `node --import tsx`,
 * whose loader adds 30-60 MB of RSS and some CPU to what is measured.
 * Plain JavaScript, so that the deployed case loads no TypeScript loader at all.
 * Repositories: `bench` (local), one remote per --remote (indexTtl 600 s,
 * timeout 30 s), and those of --repos, a JSON object in the config file's
 * `repositories` shape (e.g. more locals and a virtual one over them).
 * With --workers above 1, this process is the primary of a node:cluster
 * (src/cluster.ts) and its workers run this script again as servers.
 * --offload: `sendfileOffload: nginx` (file bytes are nginx's to send: bench/nginx.ts).
 * --database URL: `database: postgres://…` (the metadata in PostgreSQL: bench/replicas.ts).
 * --blobs JSON: the config file's `blobs` (e.g. {"type": "s3", ...}: bench/replicas.ts).
 * Prints {"url": ...} on stdout once listening; stops on SIGTERM/SIGINT, or when stdin ends (the bench died).
 */
import cluster from 'node:cluster';
import { isAbsolute } from 'node:path';
import { parseArgs } from 'node:util';

const fromSrc = process.env.PYDEPOT_BENCH_FROM === 'src';
/** A module of pydepot: `config/schema` is dist/config/schema.js, or src/config/schema.ts under tsx. */
const load = (module) => import(new URL(fromSrc ? `../src/${module}.ts` : `../dist/${module}.js`, import.meta.url).href);
const [{ parseConfig }, { startPrimary, workerNumber }, { createLogger }, { startServer }] = await Promise.all(
  ['config/schema', 'cluster', 'log', 'server'].map(load),
);

/** bench/child-lifetime.ts's stopWithParent (this file is not TypeScript). */
function stopWithParent(stop) {
  const shutdown = () => {
    stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  process.stdin.on('end', shutdown);
  process.stdin.resume();
}

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { remote: { type: 'string', multiple: true, default: [] }, repos: { type: 'string' }, workers: { type: 'string', default: '1' }, offload: { type: 'boolean', default: false }, database: { type: 'string' }, blobs: { type: 'string' } },
});
const storage = positionals[0];
if (!storage || !isAbsolute(storage)) {
  console.error('usage: server-child.mjs <absolute storage dir> [--remote NAME=URL]... [--repos JSON]');
  process.exit(2);
}

// The bench measures transfers, not logins: anyone on loopback may upload.
const repositories = { bench: { type: 'local', upload: 'anonymous' } };
for (const spec of args.remote) {
  const eq = spec.indexOf('=');
  repositories[spec.slice(0, eq)] = { type: 'remote', url: spec.slice(eq + 1), indexTtl: 600, timeout: 30 };
}
if (args.repos) Object.assign(repositories, JSON.parse(args.repos));

const config = parseConfig({
  listen: '127.0.0.1:0',
  storage,
  log: { level: 'silent' },
  workers: args.workers === 'auto' ? 'auto' : Number(args.workers),
  ...(args.offload ? { sendfileOffload: 'nginx', auth: { trustProxy: true } } : {}),
  ...(args.database ? { database: args.database } : {}),
  ...(args.blobs ? { blobs: JSON.parse(args.blobs) } : {}),
  repositories,
});
const worker = workerNumber();
if (worker !== null) {
  // A worker: the primary says when everyone listens, and stops it with SIGTERM.
  const server = await startServer(config, { worker, cleanTemp: false });
  process.once('SIGTERM', () => void server.stop(1000).then(() => process.exit(0)));
} else if (config.workers > 1) {
  let port = 0;
  cluster.on('listening', (_w, address) => { port = address.port; });
  const primary = await startPrimary(config, createLogger('silent'));
  await primary.ready;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
  stopWithParent(() => primary.stop(1000));
} else {
  const server = await startServer(config);
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  stopWithParent(() => server.stop(1000));
}
