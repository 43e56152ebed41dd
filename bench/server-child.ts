/**
 * Runs pydepot alone in this process so its memory can be measured by pid:
 *   node --import tsx bench/server-child.ts <storage dir>
 * Prints {"url": ...} on stdout once listening; stops on SIGTERM/SIGINT.
 */
import { isAbsolute } from 'node:path';
import { parseConfig } from '../src/config/schema.ts';
import { startServer } from '../src/server.ts';

const storage = process.argv[2];
if (!storage || !isAbsolute(storage)) {
  console.error('usage: server-child.ts <absolute storage dir>');
  process.exit(2);
}

const config = parseConfig({
  listen: '127.0.0.1:0',
  storage,
  log: { level: 'silent' },
  repositories: { bench: { type: 'local' } },
});
const server = await startServer(config);
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);

const shutdown = (): void => {
  server.stop(1000).then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
// If the benchmark dies without killing us, don't linger.
process.stdin.on('end', shutdown);
process.stdin.resume();
