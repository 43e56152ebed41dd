/**
 * Runs pydepot alone in this process so its memory can be measured by pid:
 *   node --import tsx bench/server-child.ts <storage dir> [--remote NAME=UPSTREAM_SIMPLE_URL]... [--repos JSON] [--workers N|auto] [--offload]
 * Repositories: `bench` (local), one remote per --remote (indexTtl 600 s,
 * timeout 30 s), and those of --repos, a JSON object in the config file's
 * `repositories` shape (e.g. more locals and a virtual one over them).
 * With --workers above 1, this process is the primary of a node:cluster
 * (src/cluster.ts) and its workers run this script again as servers.
 * --offload: `sendfileOffload: nginx` (file bytes are nginx's to send: bench/nginx.ts).
 * --database URL: `database: postgres://…` (the metadata in PostgreSQL: bench/replicas.ts).
 * --blobs JSON: the config file's `blobs` (e.g. {"type": "s3", ...}: bench/replicas.ts).
 * Prints {"url": ...} on stdout once listening; stops on SIGTERM/SIGINT.
 */
import cluster from 'node:cluster';
import { isAbsolute } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/schema.ts';
import { startPrimary, workerNumber } from '../src/cluster.ts';
import { createLogger } from '../src/log.ts';
import { startServer } from '../src/server.ts';
import { stopWithParent } from './child-lifetime.ts';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { remote: { type: 'string', multiple: true, default: [] }, repos: { type: 'string' }, workers: { type: 'string', default: '1' }, offload: { type: 'boolean', default: false }, database: { type: 'string' }, blobs: { type: 'string' } },
});
const storage = positionals[0];
if (!storage || !isAbsolute(storage)) {
  console.error('usage: server-child.ts <absolute storage dir> [--remote NAME=URL]... [--repos JSON]');
  process.exit(2);
}

// The bench measures transfers, not logins: anyone on loopback may upload.
const repositories: Record<string, unknown> = { bench: { type: 'local', upload: 'anonymous' } };
for (const spec of args.remote) {
  const eq = spec.indexOf('=');
  repositories[spec.slice(0, eq)] = { type: 'remote', url: spec.slice(eq + 1), indexTtl: 600, timeout: 30 };
}
if (args.repos) Object.assign(repositories, JSON.parse(args.repos) as Record<string, unknown>);

const config = parseConfig({
  listen: '127.0.0.1:0',
  storage,
  log: { level: 'silent' },
  workers: args.workers === 'auto' ? 'auto' : Number(args.workers),
  ...(args.offload ? { sendfileOffload: 'nginx', auth: { trustProxy: true } } : {}),
  ...(args.database ? { database: args.database } : {}),
  ...(args.blobs ? { blobs: JSON.parse(args.blobs) as unknown } : {}),
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
