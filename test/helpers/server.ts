/**
 * Starts a real pydepot on a random loopback port with its own temporary
 * storage, stopped and removed when the test ends.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { ExecutionContext } from 'ava';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../src/config/schema.ts';
import { hashPassword } from '../../src/auth/passwords.ts';
import { tokenHash } from '../../src/auth/tokens.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import type { Clock } from '../../src/time.ts';
import { CI } from './ci-user.ts';
import { openTestStorage, pinEmbedded, pinFsBlobs, withBackend } from './test-backend.ts';

export { CI };

export interface TestServer extends RunningServer {
  storage: string;
  config: Config;
  /** Every log line the server wrote, parsed. */
  logs: Record<string, unknown>[];
}

export async function tempDir(t: ExecutionContext, prefix = 'pydepot-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export const LOCAL_ONLY = { repositories: { internal: { type: 'local', upload: [CI.user] } }, defaultRepository: 'internal' };

// scrypt is slow on purpose: hash the ci password once per process.
let ciHash: Promise<string> | null = null;

/** Adds the `ci` user and token to a storage folder (again is a no-op). */
export async function seedCi(storage: string): Promise<void> {
  ciHash ??= hashPassword(CI.password);
  const hash = await ciHash;
  const s = await openTestStorage(storage);
  try {
    await s.users.addUser(CI.user, hash, new Date().toISOString());
    if (!await s.users.tokenByHash(tokenHash(CI.token))) {
      await s.users.addToken({
        id: 'c1c1c1c1c1c1', hash: tokenHash(CI.token), user: CI.user, repos: null, scope: 'upload', description: 'tests',
        createdAt: new Date().toISOString(), expiresAt: null, revokedAt: null, lastUsedAt: null,
      });
    }
  } finally {
    await s.store.close();
  }
}

/** `opts.clock`: the server's clock (a TestClock's `now`), for what changes with time alone. */
export async function startTestServer(t: ExecutionContext, raw: Record<string, unknown> = LOCAL_ONLY, storage?: string, opts: { clock?: Clock } = {}): Promise<TestServer> {
  storage ??= await tempDir(t);
  // The folder's back end (PYDEPOT_TEST_BACKEND) unless the test names its own
  // (EMBEDDED: seedCi and the other helpers then use the folder's SQLite too).
  if (raw.database === 'sqlite') pinEmbedded(storage);
  else if ((raw.blobs as { type?: string } | undefined)?.type === 'fs') pinFsBlobs(storage);
  const config = parseConfig({ ...await withBackend(raw, storage), listen: '127.0.0.1:0', storage });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  await seedCi(storage);
  const running = await startServer(config, { logger, ...(opts.clock ? { clock: opts.clock } : {}) });
  t.teardown(() => running.stop(1000));
  return { ...running, storage, config, logs };
}
