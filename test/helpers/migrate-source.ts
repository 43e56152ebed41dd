/**
 * The embedded depot that the `storage migrate` tests (test/cli and test/e2e)
 * populate and then copy to PostgreSQL + S3: a local repository, a remote on
 * a fake upstream and a virtual one over both.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { stringify as stringifyYaml } from 'yaml';
import { CI, tempDir } from './server.ts';

/** internal (local, CI uploads), pypi (remote on `upstreamUrl`), all (virtual, the default); SQLite and blobs in the folder. */
export function embeddedDepotConfig(upstreamUrl: string): Record<string, unknown> {
  return {
    repositories: {
      internal: { type: 'local', upload: [CI.user] },
      pypi: { type: 'remote', url: upstreamUrl, timeout: 5, indexTtl: 86_400 },
      all: { type: 'virtual', members: ['internal', 'pypi'] },
    },
    defaultRepository: 'all',
    // The embedded default, whatever back end the test run picks for other tests.
    blobs: { type: 'fs' },
    database: 'sqlite',
  };
}

/** A config file for CLI runs (`--config`) on the depot's storage folder. */
export async function cliConfigFile(t: ExecutionContext, raw: Record<string, unknown>, storage: string): Promise<string> {
  const config = join(await tempDir(t, 'pydepot-cli-'), 'pydepot.yaml');
  await writeFile(config, stringifyYaml({ ...raw, storage }));
  return config;
}
