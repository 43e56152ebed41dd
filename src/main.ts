#!/usr/bin/env node
/** Process entry: the only place that decides the exit code. */
import { buildCli } from './cli.ts';
import { ConfigError } from './errors.ts';

buildCli()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    const message = err instanceof ConfigError ? err.message : err instanceof Error ? err.message : String(err);
    console.error(`pydepot: ${message}`);
    process.exit(err instanceof ConfigError ? 78 : 1);
  });
