/**
 * Runs pydepot alone in this process so its memory can be measured by pid:
 *   node --import tsx bench/server-child.ts <storage dir> [--remote NAME=UPSTREAM_SIMPLE_URL]... [--repos JSON]
 * Repositories: `bench` (local), one remote per --remote (indexTtl 600 s,
 * timeout 30 s), and those of --repos, a JSON object in the config file's
 * `repositories` shape (e.g. more locals and a virtual one over them).
 * Prints {"url": ...} on stdout once listening; stops on SIGTERM/SIGINT.
 */
import { isAbsolute } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/schema.ts';
import { startServer } from '../src/server.ts';
import { stopWithParent } from './child-lifetime.ts';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { remote: { type: 'string', multiple: true, default: [] }, repos: { type: 'string' } },
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
  repositories,
});
const server = await startServer(config);
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);

stopWithParent(() => server.stop(1000));
