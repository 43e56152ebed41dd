/** A benchmark child process ends with its parent: on a signal, or when its stdin closes. */
import type { Server } from 'node:http';

export function stopWithParent(stop: () => Promise<void>): void {
  const shutdown = (): void => {
    stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  // If the benchmark dies without killing us, don't linger.
  process.stdin.on('end', shutdown);
  process.stdin.resume();
}

/** stop() for a plain node:http server: close, and drop keep-alive sockets. */
export function closeServer(server: Server): () => Promise<void> {
  return () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
