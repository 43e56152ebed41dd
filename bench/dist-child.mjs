/**
 * bench/server-child.mjs's single-process server, from a checkout's built
 * `dist/` (npm run build) under plain node, as the Docker image runs it: no
 * TypeScript loader in the measured process's CPU or memory.
 *   node bench/dist-child.mjs <absolute storage dir>
 * Prints {"url": ...} once listening; stops on SIGTERM/SIGINT or when stdin ends.
 */
import { isAbsolute } from 'node:path';

const storage = process.argv[2];
if (!storage || !isAbsolute(storage)) {
  console.error('usage: dist-child.mjs <absolute storage dir>');
  process.exit(2);
}
const dist = new URL('../dist/', import.meta.url);
const { parseConfig } = await import(new URL('config/schema.js', dist).href);
const { startServer } = await import(new URL('server.js', dist).href);
const config = parseConfig({
  listen: '127.0.0.1:0', storage, log: { level: 'silent' },
  repositories: { bench: { type: 'local', upload: 'anonymous' } },
});
const server = await startServer(config);
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
const stop = () => server.stop(1000).then(() => process.exit(0), () => process.exit(1));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
