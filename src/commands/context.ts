/** What every admin command starts from: the config, its storage, and a way to close both. */
import { userInfo } from 'node:os';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../log.ts';
import { createMetrics } from '../metrics.ts';
import { Registry } from '../repos/registry.ts';
import { openStorage, type Storage } from '../storage/open.ts';
import type { Actor } from '../storage/types.ts';

/** A command used wrongly (unknown user, bad flag value): printed as it is, exit 1. */
export class UsageError extends Error {}

export interface CommonOptions {
  config?: string;
  storage?: string;
}

export function configFrom(opts: CommonOptions & { listen?: string }): Config {
  return loadConfig(opts.config ?? DEFAULT_CONFIG_FILE, { listen: opts.listen, storage: opts.storage });
}

/** Opens the storage for `f`, closes it after, whatever happens. */
export async function withStorage<T>(opts: CommonOptions, f: (storage: Storage, config: Config) => Promise<T> | T): Promise<T> {
  const config = configFrom(opts);
  const storage = await openStorage(config.storage);
  try {
    return await f(storage, config);
  } finally {
    storage.store.close();
  }
}

/** Like withStorage, with the repositories built too. Logs go to stderr: stdout is the command's output. */
export async function withRegistry<T>(opts: CommonOptions, f: (registry: Registry, storage: Storage, config: Config) => Promise<T> | T): Promise<T> {
  return withStorage(opts, async (storage, config) => {
    const registry = new Registry(config, { ...storage, logger: createLogger('warn', 'stderr'), metrics: createMetrics() });
    try {
      return await f(registry, storage, config);
    } finally {
      await registry.close();
    }
  });
}

/** Who ran an admin command, for the audit trail. */
export function cliActor(): Actor {
  return { user: cliUser(), tokenId: null, address: null };
}

function cliUser(): string {
  let name = process.env.SUDO_USER || process.env.USER || '';
  try {
    name ||= userInfo().username;
  } catch {
    // No passwd entry (some containers): the uid still says something.
    name ||= String(process.getuid?.() ?? 'unknown');
  }
  return `cli:${name}`;
}
